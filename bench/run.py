"""The benchmark, in one command: ``make bench`` (or ``.venv/bin/python bench/run.py``).

On PostgreSQL and Redis on loopback it seeds (or reuses) the deterministic dataset and its 10x
variant, starts the project under gunicorn (2 sync workers, ``config.settings.production``), the
baselines under a second gunicorn (``bench.settings``) and a Celery worker, then runs interleaved
rounds of the project and its baselines with wrk (one thread, from a second process), sampling
the server's CPU (gunicorn workers, our PostgreSQL backends and background processes, Redis) from
/proc around every slice. Ratios are taken within a round and reported as median and range,
because absolute rates drift on a shared machine. In-process measurements (query counts, round
trips, availability timings, the reference R, the peer django-appointment) run in subprocesses.
Prints a markdown table and writes it to ``bench/results/latest.md`` (JSON next to it, ignored).

Modes: default (full, ~10 min), ``--quick`` (shorter slices, 2 rounds), ``--smoke`` (< 60 s, tiny
dataset and slices, correctness gates and query-count ceilings only; exits non-zero on failure).
``--profile`` adds py-spy profiles of the gunicorn workers and the Celery worker per scenario.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import http.client
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench import common, db, raw

LUA = common.BENCH_DIR / "lua" / "load.lua"
PY = str(common.PROJECT_PYTHON)

MODES = {
    "full": {"rounds": 3, "write_s": 10, "read_s": 8, "contention_s": 8, "peer_rounds": 3, "repeat": 7, "x10": True},
    "quick": {"rounds": 2, "write_s": 4, "read_s": 4, "contention_s": 4, "peer_rounds": 1, "repeat": 5, "x10": True},
    "smoke": {"rounds": 1, "write_s": 1, "read_s": 1, "contention_s": 2, "peer_rounds": 0, "repeat": 3, "x10": False},
}

# Query-count ceilings of the smoke run (CI): about 1.5x what the project does today, so a change
# that doubles a count fails the build while a small refactor does not. Measured today: booking 3
# round trips (token; BEGIN with the locks and reads as one statement string; the inserts as one
# statement with COMMIT; the health check is skipped for a connection that answered within the
# last second; 5 and 10 at the last stops, 15 before), availability 3 queries, week calendar 4 (per page,
# whatever its size), vitals batch of 20: 6 queries (the record's lock, then the record with its
# policy layers, the baseline readings, the rows, the audit row).
CEILINGS = {
    "booking_round_trips": 5,
    "availability_queries": 5,
    "calendar_queries": 6,
    "vitals_batch_queries": 9,
}
# The targets (2 cores).
TARGETS = {
    "booking_ratio_raw": 0.07,
    "booking_p95_ms": 25.0,
    "booking_round_trips": 5,
    "availability_queries": 3,
    "availability_vs_peer": 100.0,
    "availability_10x_cost": 10.0,
    "calendar_rps": 150.0,
    "vitals_ratio_raw": 0.07,
    "sweep_seconds": 3.0,
    "sweep_messages": 50,
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- processes --------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry))
    return found


class Server:
    """A process this run started (gunicorn or celery); stopped by its own pid, never by name."""

    def __init__(self, name: str, argv: list[str], env: dict, workdir: Path, port: int | None = None):
        self.name, self.argv, self.env, self.port = name, argv, env, port
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log(f"starting {self.name}")
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=common.ROOT, stdout=self.log_file, stderr=subprocess.STDOUT
        )

    def wait_http(self, path: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", path)
                if conn.getresponse().status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not answer on :{self.port} (see {self.log_path})")

    def wait_log(self, text: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.log_path}")
            if text in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready (see {self.log_path})")

    def workers(self) -> list[int]:
        return children(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        kids = self.workers()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            for pid in [self.proc.pid, *kids]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log_file.close()


# --- load -------------------------------------------------------------------------------------------


class Slice:
    """Runs one timed load slice and charges the server's CPU to it."""

    def __init__(self, run: Run):
        self.run = run

    def _cpu(self, pids: list[int]) -> dict[int, float]:
        return {pid: raw.proc_cpu(pid) for pid in pids}

    def _drain(self, app_pids: list[int], dbname: str, timeout: float = 5.0) -> None:
        """Wait for the requests still in flight when wrk stopped. They commit after it exits; a
        booking committed after the next reset survived it and answered the next slice's request
        for the same slot with 409 (a CI smoke run saw 4). Idle means: the workers' CPU did not
        move in 50 ms and no session of the database is in a statement or a transaction, twice."""
        deadline = time.monotonic() + timeout
        quiet = 0
        before = self._cpu(app_pids)
        while quiet < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            after = self._cpu(app_pids)
            quiet = quiet + 1 if after == before and db.busy_backends(dbname) == 0 else 0
            before = after

    def http(
        self, server: Server, mode: str, path: str, conns: int, seconds: float, *, auth: bool = False, dbname: str
    ) -> dict:
        load_before = os.getloadavg()[0]
        app_pids = server.workers()
        db_pids = db.server_pids([dbname])
        redis = db.redis_pid()
        before_app, before_db = self._cpu(app_pids), self._cpu(db_pids)
        before_redis = raw.proc_cpu(redis) if redis else 0.0
        env = dict(os.environ, BENCH_DATA=str(self.run.lua_data), BENCH_MODE=mode, BENCH_PATH=path)
        env["BENCH_AUTH"] = "1" if auth else "0"
        argv = [
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            f"http://127.0.0.1:{server.port}{path if mode == 'get' else '/'}",
        ]
        busy_before = _machine_busy()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=seconds + 60)
        busy_after = _machine_busy()
        usage = _child_usage()
        app_after = self._cpu(app_pids)
        db_after = self._cpu(sorted(set(db_pids) | set(db.server_pids([dbname]))))
        self._drain(app_pids, dbname)
        line = next((x for x in out.splitlines() if x.startswith("BENCHJSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no result: {out[-500:]} {err[-500:]}")
        result = json.loads(line[len("BENCHJSON ") :])
        requests = max(result["requests"], 1)
        seconds_run = result["duration_us"] / 1e6
        result.update(
            rps=result["requests"] / seconds_run,
            ok=result["requests"] - result["non2xx"],
            cpu_app_ms=1000 * sum(app_after[p] - before_app.get(p, 0.0) for p in app_after) / requests,
            cpu_db_ms=1000 * sum(db_after[p] - before_db.get(p, 0.0) for p in db_after) / requests,
            cpu_redis_ms=1000 * ((raw.proc_cpu(redis) - before_redis) if redis else 0.0) / requests,
            wrk_cpu_s=usage,
            wrk_cpu_ms=1000 * usage / requests,
            machine_busy=(busy_after[0] - busy_before[0]) / max(busy_after[1] - busy_before[1], 1),
            loadavg_before=load_before,
            conns=conns,
            seconds=seconds_run,
        )
        return result


_last_usage = [0.0]


def _machine_busy() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far (/proc/stat): idle and iowait are not busy."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def _child_usage() -> float:
    """CPU seconds of waited-for children since the last call (wrk's own cost)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    delta, _last_usage[0] = total - _last_usage[0], total
    return delta


def python_load(port: int, bodies, conns: int, seconds: float, token: str) -> dict:
    """A small threaded HTTP client, used only when wrk is missing (the smoke run's contention gate)."""
    statuses: Counter = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(10**9))
    end = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < end:
            with lock:
                n = next(counter)
            body = json.dumps(bodies(n))
            t0 = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request(
                    "POST",
                    "/api/v1/sessions/",
                    body,
                    {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                )
                status = conn.getresponse().status
            except OSError:
                status = 0
            with lock:
                statuses[status] += 1
                latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    total = sum(statuses.values())
    return {
        "requests": total,
        "n201": statuses[201],
        "n409": statuses[409],
        "n_other": total - statuses[201] - statuses[409],
        "non2xx": total - statuses[201],
        "connect_errors": statuses[0],
        "read_errors": 0,
        "write_errors": 0,
        "timeouts": 0,
        "rps": total / seconds,
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0,
        "client": "python",
    }


# --- the run ----------------------------------------------------------------------------------------


def _migrations_hash() -> str:
    names = sorted(
        str(p.relative_to(common.ROOT))
        for app in ("clinic", "intake", "scheduling", "monitoring")
        for p in (common.ROOT / app / "migrations").glob("0*.py")
    )
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:10]


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _range(values):
    values = [v for v in values if v is not None]
    return (min(values), max(values)) if values else (None, None)


class Run:
    def __init__(self, args):
        self.args = args
        self.mode = "smoke" if args.smoke else "quick" if args.quick else "full"
        self.cfg = dict(MODES[self.mode])
        if args.rounds:
            self.cfg["rounds"] = args.rounds
        if args.seconds:
            self.cfg["write_s"] = self.cfg["read_s"] = args.seconds
        self.peer = self.mode != "smoke" and not args.no_peer
        self.x10 = self.cfg["x10"] and not args.no_10x
        self.base_key = "smoke" if self.mode == "smoke" else "base"
        self.db = common.DATABASES[self.base_key]
        self.work = Path(tempfile.mkdtemp(prefix="bench-"))
        self.servers: list[Server] = []
        self.result: dict = {"mode": self.mode, "config": self.cfg, "started": dt.datetime.now(dt.UTC).isoformat()}
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.have_wrk = shutil.which("wrk") is not None and not os.environ.get("BENCH_NO_WRK")

    # ---- setup
    def preflight(self) -> None:
        if subprocess.run(
            ["pg_isready", "-h", common.PG_HOST, "-p", str(common.PG_PORT), "-q"], check=False
        ).returncode:
            raise SystemExit("PostgreSQL is not answering on loopback (start it: see .ci/run)")
        if subprocess.run(["redis-cli", "-u", common.REDIS_URL, "ping"], check=False, capture_output=True).returncode:
            raise SystemExit("Redis is not answering on loopback (start it: see .ci/run)")
        if not common.PROJECT_PYTHON.exists():
            raise SystemExit("No .venv: run `make test` or `scripts/_venv.sh` first")
        if not self.have_wrk and os.geteuid() == 0 and not self.args.no_install and not os.environ.get("BENCH_NO_WRK"):
            log("wrk missing: apt-get install -y wrk")
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
            if not shutil.which("wrk"):
                subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
                subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
            self.have_wrk = shutil.which("wrk") is not None
        if not self.have_wrk:
            if self.mode != "smoke":
                raise SystemExit("wrk is needed (apt-get install -y wrk)")
            self.notes.append("wrk missing: throughput slices skipped, contention driven by a Python client")
        if self.peer and not common.PEER_PYTHON.exists() and not self.args.no_install:
            log("creating bench/.peer-venv for django-appointment (once)")
            subprocess.run([sys.executable, "-m", "venv", str(common.PEER_VENV)], check=True)
            pip = subprocess.run(
                [
                    str(common.PEER_VENV / "bin" / "pip"),
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "-r",
                    str(common.BENCH_DIR / "peer" / "requirements.txt"),
                ],
                check=False,
                capture_output=True,
                text=True,
            )
            if pip.returncode:
                self.notes.append(f"peer not installed: pip said {pip.stderr.strip()[-300:]}")
        if self.peer and not common.PEER_PYTHON.exists():
            self.peer = False
            self.notes.append("peer skipped: bench/.peer-venv missing")

    def ensure_db(self, key: str) -> dict:
        name, scale = common.DATABASES[key], common.SCALES[key]
        anchor = common.anchor_date()
        expected = f"{common.fingerprint(scale, anchor)}-m{_migrations_hash()}"
        current = db.meta(name)
        env = common.django_env(name)
        if current is None or current.get("fingerprint") != expected or self.args.reseed:
            log(f"seeding {name} (scale {scale:g}): a new database, migrations, dataset")
            t0 = time.perf_counter()
            db.recreate(name)
            subprocess.run([PY, "manage.py", "migrate", "--noinput"], env=env, check=True, capture_output=True)
            subprocess.run(
                [PY, "-m", "bench.seed", "--scale", str(scale), "--anchor", anchor.isoformat()],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            with psycopg.connect(common.dsn(name), autocommit=True) as conn:
                conn.execute(
                    "UPDATE bench_meta SET value = jsonb_set(value, '{fingerprint}', to_jsonb(%s::text)) "
                    "WHERE key = 'meta'",
                    [expected],
                )
            self.result.setdefault("seed_seconds", {})[key] = time.perf_counter() - t0
        else:
            subprocess.run([PY, "manage.py", "migrate", "--noinput"], env=env, check=True, capture_output=True)
            db.reset(name, current, vacuum=False)
        meta = db.meta(name)
        tokens = subprocess.run(
            [PY, "-m", "bench.seed", "--tokens"], env=env, check=True, capture_output=True, text=True
        ).stdout
        (self.work / f"tokens-{key}.json").write_text(tokens)
        meta["tokens"] = json.loads(tokens)
        return meta

    def write_lua_data(self, meta: dict) -> None:
        slots = raw.booking_slots(meta, 12_000)
        contention_day = raw.booking_slots(meta, 24, day_offset=-5)
        tokens = meta["tokens"]

        def lua_list(values, quote=False):
            return "{" + ", ".join(f'"{v}"' if quote else str(v) for v in values) + "}"

        text = "return {\n"
        text += f'  desk_token = "{tokens["desk"]}",\n'
        text += f"  treatment_type = {meta['treatment_type']},\n"
        text += f"  patients = {lua_list(meta['patients'])},\n"
        text += f"  rooms = {lua_list(meta['rooms'][: common.CLINICIANS])},\n"
        text += f"  all_rooms = {lua_list(meta['rooms'])},\n"
        text += f"  clinicians = {lua_list(meta['clinicians'])},\n"
        text += f"  slots = {lua_list([s.isoformat() for s in slots], quote=True)},\n"
        text += f"  contention_slots = {lua_list([s.isoformat() for s in contention_day[2:4]], quote=True)},\n"
        text += f"  records = {lua_list(meta['open_records'])},\n"
        record_tokens = [tokens["clinicians"][str(u)] for u in meta["open_record_users"]]
        text += f"  record_tokens = {lua_list(record_tokens, quote=True)},\n"
        text += "}\n"
        self.lua_data = self.work / "data.lua"
        self.lua_data.write_text(text)
        self.contention_slots = contention_day[2:4]

    def start_servers(self) -> None:
        gunicorn = str(common.ROOT / ".venv" / "bin" / "gunicorn")
        common_args = ["--workers", "2", "--worker-class", "sync", "--log-level", "warning", "--timeout", "60"]
        self.project = Server(
            "project",
            [gunicorn, "config.wsgi", "--bind", f"127.0.0.1:{common.PROJECT_PORT}", *common_args],
            common.django_env(self.db, "config.settings.production"),
            self.work,
            common.PROJECT_PORT,
        )
        self.baselines = Server(
            "baselines",
            [gunicorn, "config.wsgi", "--bind", f"127.0.0.1:{common.BASELINE_PORT}", *common_args],
            common.django_env(self.db, "bench.settings"),
            self.work,
            common.BASELINE_PORT,
        )
        self.worker = Server(
            "worker",
            [
                str(common.ROOT / ".venv" / "bin" / "celery"),
                "-A",
                "bench.celery_app",
                "worker",
                "-P",
                "prefork",
                "-c",
                "2",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
                "-n",
                f"bench{os.getpid()}@%h",
            ],
            common.django_env(self.db, "config.settings.production"),
            self.work,
        )
        subprocess.run(["redis-cli", "-u", common.REDIS_URL, "flushdb"], capture_output=True, check=True)
        self.servers = [self.project, self.baselines, self.worker]
        for server in self.servers:
            server.start()
        self.project.wait_http("/api/v1/me/")
        self.baselines.wait_http("/bench/ping/")
        self.worker.wait_log("ready.")

    def stop_servers(self) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()

    # ---- helpers
    def sub(self, argv: list[str], *, env: dict | None = None, python: str = PY, timeout: float = 900) -> None:
        proc = subprocess.run([python, *argv], check=False, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(argv[:3])} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")

    def reset(self, meta: dict) -> None:
        db.reset(self.db, meta)

    def gate(self, ok: bool, message: str) -> bool:
        if not ok:
            self.failures.append(message)
            log(f"GATE FAILED: {message}")
        return ok

    # ---- scenarios
    def inproc(self, key: str, meta: dict) -> dict:
        out = self.work / f"inproc-{key}.json"
        log(f"in-process measurements on {common.DATABASES[key]}")
        mode = {"base": "base", "smoke": "smoke", "x10": "x10"}[key]
        self.sub(
            [
                "-m",
                "bench.inproc",
                "--mode",
                mode,
                "--tokens",
                str(self.work / f"tokens-{key}.json"),
                "--out",
                str(out),
                "--repeat",
                str(self.cfg["repeat"]),
            ],
            env=common.django_env(common.DATABASES[key]),
        )
        db.reset(common.DATABASES[key], meta)
        return json.loads(out.read_text())

    def run_peer(self) -> dict | None:
        out = self.work / "peer.json"
        log("peer: django-appointment on the same data (its own venv and database)")
        env = dict(os.environ, PYTHONPATH=str(common.ROOT), DJANGO_SETTINGS_MODULE="bench.peer.settings")
        try:
            self.sub(
                [
                    "-m",
                    "bench.peer.runner",
                    "--source",
                    self.db,
                    "--rounds",
                    str(self.cfg["peer_rounds"]),
                    "--out",
                    str(out),
                ],
                env=env,
                python=str(common.PEER_PYTHON),
            )
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            self.notes.append(f"peer failed: {str(exc)[-500:]}")
            return None
        return json.loads(out.read_text())

    def warm(self, meta: dict) -> None:
        """One short slice per endpoint before the first round (imports, connections, plans)."""
        if not self.have_wrk or self.mode == "smoke":
            return
        log("warming up the servers")
        s = Slice(self)
        for server, path in ((self.baselines, "/bench/orm/"), (self.baselines, "/bench/drf/"), (self.project, "/")):
            s.http(
                server,
                "book",
                path if server is self.baselines else "/api/v1/sessions/",
                2,
                1,
                auth=True,
                dbname=self.db,
            )
        s.http(self.project, "vitals", "/", 2, 1, dbname=self.db)
        self.reset(meta)

    def rounds(self, meta: dict) -> list[dict]:
        s = Slice(self)
        w, r = self.cfg["write_s"], self.cfg["read_s"]
        anchor = common.local(dt.date.fromisoformat(meta["anchor"]), 0)
        iso = lambda t: t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        week = f"start={iso(anchor)}&end={iso(anchor + dt.timedelta(days=7))}&page_size=200"
        avail = (
            f"/api/v1/availability/?treatment_type={meta['treatment_type']}&start={iso(anchor)}"
            f"&end={iso(anchor + dt.timedelta(days=28))}"
        )
        out = []
        for number in range(self.cfg["rounds"]):
            log(f"round {number + 1}/{self.cfg['rounds']}")
            row: dict = {"loadavg": os.getloadavg()[0]}
            self.reset(meta)
            row["A0"] = raw.run("session", self.db, meta, w)
            self.reset(meta)
            row["A1"] = s.http(self.baselines, "book", "/bench/orm/", 8, w, dbname=self.db)
            self.reset(meta)
            row["A2"] = s.http(self.baselines, "book", "/bench/drf/", 8, w, dbname=self.db)
            self.reset(meta)
            row["P"] = s.http(self.project, "book", "/api/v1/sessions/", 8, w, auth=True, dbname=self.db)
            row["P_integrity"] = db.integrity(self.db, meta["watermarks"]["scheduling_session"])
            self.reset(meta)
            row["A0_vitals"] = raw.run("vitals", self.db, meta, w)
            self.reset(meta)
            row["P_vitals"] = s.http(self.project, "vitals", "/", 8, w, dbname=self.db)
            self.reset(meta)
            row["A1_calendar"] = s.http(self.baselines, "get", f"/bench/calendar/?{week}", 4, r, dbname=self.db)
            row["P_calendar"] = s.http(
                self.project, "get", f"/api/v1/sessions/?{week}", 4, r, auth=True, dbname=self.db
            )
            row["P_availability"] = s.http(self.project, "get", avail, 4, r, auth=True, dbname=self.db)
            self.reset(meta)
            out.append(row)
            for name in ("A1", "A2", "P", "P_vitals", "A1_calendar", "P_calendar", "P_availability"):
                res = row[name]
                self.gate(
                    res["non2xx"] == 0 and res["connect_errors"] + res["read_errors"] + res["timeouts"] == 0,
                    f"round {number + 1} {name}: {res['non2xx']} non-2xx answers, "
                    f"{res['connect_errors'] + res['read_errors'] + res['timeouts']} socket errors",
                )
            integrity = row["P_integrity"]
            self.gate(
                all(integrity[k] == 0 for k in integrity if k != "new_sessions"),
                f"round {number + 1}: double bookings after the booking slice: {integrity}",
            )
        return out

    def contention(self, meta: dict) -> dict:
        log("contention: few slots, c=8")
        self.reset(meta)
        seconds = self.cfg["contention_s"]
        if self.have_wrk:
            result = Slice(self).http(
                self.project, "contention", "/api/v1/sessions/", 8, seconds, auth=True, dbname=self.db
            )
        else:
            rooms, patients = meta["rooms"], meta["patients"]

            def body(n):
                return {
                    "patient": patients[(n * 7) % len(patients)],
                    "treatment_type": meta["treatment_type"],
                    "start": self.contention_slots[(n // len(rooms)) % 2].isoformat(),
                    "room": rooms[n % len(rooms)],
                }

            result = python_load(common.PROJECT_PORT, body, 8, seconds, meta["tokens"]["desk"])
        result["integrity"] = db.integrity(self.db, meta["watermarks"]["scheduling_session"])
        result["slots"] = len(meta["rooms"]) * 2
        result["max_possible_201"] = 2 * common.CLINICIANS
        self.reset(meta)
        integrity = result["integrity"]
        self.gate(
            result["n_other"] == 0 and result.get("n2xx_other", 0) == 0 and result["connect_errors"] == 0,
            f"contention: answers other than 201/409: {result['n_other']} (+{result.get('n2xx_other', 0)} other 2xx)",
        )
        self.gate(result["n201"] == integrity["new_sessions"], "contention: 201 count differs from rows created")
        self.gate(
            all(integrity[k] == 0 for k in integrity if k != "new_sessions"),
            f"contention: double bookings: {integrity}",
        )
        self.gate(result["n201"] <= result["max_possible_201"], "contention: more bookings than clinicians allow")
        return result

    def sweeps(self, meta: dict) -> list[dict]:
        out = []
        plan = [2] if self.mode == "smoke" else [1, 2, 2]
        for racers in plan:
            log(f"reminder sweep: {racers} sweep(s) racing")
            self.reset(meta)
            woken = db.wake_due(self.db, meta)
            path = self.work / f"sweep-{len(out)}.json"
            try:
                self.sub(
                    ["-m", "bench.sweep", "--racers", str(racers), "--out", str(path), "--timeout", "60"],
                    env=common.django_env(self.db, "config.settings.production"),
                )
                result = json.loads(path.read_text())
            finally:
                db.park_due(self.db)
            result["woken"] = woken
            out.append(result)
            expected_messages = math.ceil(result["due"] / common.IDS_PER_TASK) + racers + 6
            self.gate(result["woken"] == result["due"], f"sweep: {woken} due rows, expected {result['due']}")
            self.gate(result["exactly_once"], f"sweep ({racers} racing): not exactly once: {result}")
            self.gate(result["rerun_sent"] == 0, f"sweep: a re-run after completion sent {result['rerun_sent']}")
            limit = TARGETS["sweep_messages"] if self.mode != "smoke" else expected_messages
            self.gate(result["broker_messages"] <= limit, f"sweep: {result['broker_messages']} broker messages")
        self.reset(meta)
        return out

    def profile(self, meta: dict) -> dict:
        """py-spy on the gunicorn workers (and the Celery worker) while one scenario runs."""
        from bench import profiling

        log("CPU profiles of the request paths (cProfile, in-process)")
        self.reset(meta)
        cpu_md = common.RESULTS_DIR / ("cpu-profile.md" if self.mode == "full" else f"cpu-profile-{self.mode}.md")
        self.sub(
            [
                "-m",
                "bench.inproc",
                "--tokens",
                str(self.work / f"tokens-{self.base_key}.json"),
                "--out",
                os.devnull,
                "--cpu-profile",
                str(cpu_md),
            ],
            env=common.django_env(self.db),
        )
        self.reset(meta)
        spy = common.PEER_VENV / "bin" / "py-spy"
        if not spy.exists():
            self.notes.append("py-spy profiles skipped: py-spy not installed in bench/.peer-venv")
            return {}
        out = {}
        seconds = max(6, self.cfg["write_s"])
        anchor = common.local(dt.date.fromisoformat(meta["anchor"]), 0)
        iso = lambda t: t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        week = f"start={iso(anchor)}&end={iso(anchor + dt.timedelta(days=7))}&page_size=200"
        avail = (
            f"/api/v1/availability/?treatment_type={meta['treatment_type']}&start={iso(anchor)}"
            f"&end={iso(anchor + dt.timedelta(days=28))}"
        )
        s = Slice(self)
        scenarios = {
            "booking": ("book", "/api/v1/sessions/", 8, True),
            "vitals": ("vitals", "/", 8, False),
            "calendar": ("get", f"/api/v1/sessions/?{week}", 4, True),
            "availability": ("get", avail, 4, True),
        }
        for name, (mode, path, conns, auth) in scenarios.items():
            log(f"profiling {name} (py-spy, {seconds} s)")
            self.reset(meta)
            with profiling.Recorder(spy, self.project.workers(), seconds, self.work / f"spy-{name}") as rec:
                s.http(self.project, mode, path, conns, seconds, auth=auth, dbname=self.db)
            out[name] = rec.summary()
        log("profiling the reminder sweep (py-spy on the Celery pool)")
        self.reset(meta)
        db.wake_due(self.db, meta)
        try:
            with profiling.Recorder(spy, self.worker.workers(), 25, self.work / "spy-sweep") as rec:
                self.sub(
                    ["-m", "bench.sweep", "--racers", "1", "--out", str(self.work / "sweep-prof.json")],
                    env=common.django_env(self.db, "config.settings.production"),
                )
            out["sweep"] = rec.summary()
        finally:
            db.park_due(self.db)
            self.reset(meta)
        return out

    def main(self) -> int:
        t0 = time.perf_counter()
        self.preflight()
        meta = self.ensure_db(self.base_key)
        meta10 = self.ensure_db("x10") if self.x10 else None
        self.write_lua_data(meta)
        self.result["dataset"] = meta["counts"] | {"fingerprint": meta["fingerprint"], "anchor": meta["anchor"]}
        if meta10:
            self.result["dataset_10x"] = meta10["counts"]
        try:
            self._scenarios(meta, meta10)
        except BaseException:
            # Keep what was measured: a broken scenario should still leave evidence behind.
            common.RESULTS_DIR.mkdir(exist_ok=True)
            failed = common.RESULTS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.mode}-failed.json"
            failed.write_text(json.dumps(self.result, indent=1, default=str))
            log(f"run aborted; partial results in {failed}")
            raise
        finally:
            self.stop_servers()
        return self._finish(t0)

    def _scenarios(self, meta: dict, meta10: dict | None) -> None:
        self.result["inproc"] = self.inproc(self.base_key, meta)
        if meta10:
            self.result["inproc_10x"] = self.inproc("x10", meta10)
        if self.peer:
            self.result["peer"] = self.run_peer()
        self.start_servers()
        if self.have_wrk:
            self.warm(meta)
            self.result["rounds"] = self.rounds(meta)
        self.result["contention"] = self.contention(meta)
        self.result["sweeps"] = self.sweeps(meta)
        if self.args.profile:
            self.result["profiles"] = self.profile(meta)

    def _finish(self, t0: float) -> int:
        self.result["elapsed_s"] = time.perf_counter() - t0
        self.result["machine"] = machine_facts()
        self.check_inproc()
        self.result["failures"], self.result["notes"] = self.failures, self.notes
        from bench import report

        markdown = report.render(self.result, TARGETS, CEILINGS)
        common.RESULTS_DIR.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = "latest.md" if self.mode == "full" else f"latest-{self.mode}.md"
        (common.RESULTS_DIR / name).write_text(markdown)
        (common.RESULTS_DIR / f"{stamp}-{self.mode}.json").write_text(json.dumps(self.result, indent=1, default=str))
        if self.args.profile and self.result.get("profiles"):
            profile_md = "profile.md" if self.mode == "full" else f"profile-{self.mode}.md"
            (common.RESULTS_DIR / profile_md).write_text(report.render_profiles(self.result["profiles"]))
        print(markdown)
        log(f"done in {self.result['elapsed_s']:.0f} s; wrote bench/results/{name}")
        if self.failures:
            log(f"{len(self.failures)} gate(s) failed:\n  " + "\n  ".join(self.failures))
            return 1
        return 0

    def check_inproc(self) -> None:
        """Correctness gates and (smoke) query-count ceilings from the in-process measurements."""
        inproc = self.result["inproc"]
        for key in ("inproc", "inproc_10x"):
            for name, error in (self.result.get(key) or {}).get("errors", {}).items():
                self.gate(False, f"{key} {name} raised: {error.strip().splitlines()[-1]}")
        a, cal = inproc.get("availability"), inproc.get("calendar")
        book, vit = inproc.get("booking"), inproc.get("vitals")
        if a:
            self.gate(a["matches_reference"], "availability: the project's slots differ from the reference R")
            self.gate(
                len(set(a["queries"].values())) == 1,
                f"availability: query count depends on window or resources: {a['queries']}",
            )
        if cal:
            self.gate(
                cal["queries"]["small"] == cal["queries"]["week_page1"],
                f"calendar: query count grows with sessions: {cal['queries']}",
            )
        if vit:
            self.gate(vit["alert_gate"]["ok"], f"vitals: alert gate failed: {vit['alert_gate']}")
        peer, pairs = self.result.get("peer"), inproc.pop("clinician_only_pairs", None)
        if peer and pairs is not None:
            ours, theirs = set(pairs), set(peer["pairs"])
            self.result["peer_comparison"] = {
                "ours": len(ours),
                "peer": len(theirs),
                "only_ours": sorted(ours - theirs)[:10],
                "only_peer": sorted(theirs - ours)[:10],
                "equal": ours == theirs,
            }
            self.gate(ours == theirs, "peer: clinician-only slots differ from django-appointment's")
        if peer:
            peer.pop("pairs", None)
        x10 = (self.result.get("inproc_10x") or {}).get("availability")
        if x10:
            self.gate(x10["matches_reference"], "availability (10x): the project's slots differ from the reference R")
        if self.mode == "smoke":
            checks = {
                "booking_round_trips": book and book["round_trips"],
                "availability_queries": a and max(a["queries"].values()),
                "calendar_queries": cal and max(cal["queries"].values()),
                "vitals_batch_queries": vit and vit["queries"]["batch20"],
            }
            for name, value in checks.items():
                if value is not None:
                    self.gate(value <= CEILINGS[name], f"{name} = {value} is above the ceiling {CEILINGS[name]}")


def machine_facts() -> dict:
    def run(argv):
        try:
            return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    versions = run(
        [
            PY,
            "-c",
            "import django, rest_framework, psycopg, gunicorn, celery, redis, kombu; "
            "print(f'Django {django.get_version()}, DRF {rest_framework.VERSION}, psycopg {psycopg.__version__}, "
            "gunicorn {gunicorn.__version__}, Celery {celery.__version__}, kombu {kombu.__version__}, "
            "redis-py {redis.__version__}')",
        ]
    )
    pg = run(["psql", "-h", common.PG_HOST, "-U", common.PG_USER, "-tAc", "SHOW server_version", "postgres"])
    redis_version = next(
        (
            line.split(":")[1]
            for line in run(["redis-cli", "-u", common.REDIS_URL, "info", "server"]).splitlines()
            if line.startswith("redis_version")
        ),
        "?",
    )
    meminfo = run(["grep", "MemTotal", "/proc/meminfo"])
    return {
        "nproc": run(["nproc"]),
        "lscpu": "\n".join(run(["lscpu"]).splitlines()[:14]),
        "memory": meminfo,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
        "postgresql": pg,
        "redis": redis_version,
        "wrk": run(["sh", "-c", "wrk --version 2>&1 | head -1"]),
        "loadavg_at_end": run(["cat", "/proc/loadavg"]),
        "commit": run(["git", "-C", str(common.ROOT), "describe", "--always", "--dirty"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="shorter slices, 2 rounds")
    group.add_argument("--smoke", action="store_true", help="CI: < 60 s, correctness and query-count gates only")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3, quick 2, smoke 1)")
    parser.add_argument("--seconds", type=float, help="length of every load slice")
    parser.add_argument("--no-peer", action="store_true", help="skip django-appointment")
    parser.add_argument("--no-10x", action="store_true", help="skip the 10x dataset")
    parser.add_argument("--reseed", action="store_true", help="rebuild the databases even if cached")
    parser.add_argument("--profile", action="store_true", help="also profile each scenario with py-spy")
    parser.add_argument("--no-install", action="store_true", help="never apt-get wrk or create the peer venv")
    parser.add_argument("--render", metavar="JSON", help="only print the markdown of an earlier run's results")
    args = parser.parse_args()
    if args.render:
        from bench import report

        print(report.render(json.loads(Path(args.render).read_text()), TARGETS, CEILINGS), end="")
        return 0
    run = Run(args)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        run.stop_servers()
        raise SystemExit(130)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return run.main()
    finally:
        run.stop_servers()
        shutil.rmtree(run.work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
