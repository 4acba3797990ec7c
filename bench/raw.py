"""A0, the physical limit: raw psycopg inserts from 8 processes (research section 2.1 and 2.6).

Sessions: one prepared single-row INSERT per booking, autocommit, into ``bench_raw_session`` (the
project's session table copied with every exclusion constraint, index and foreign key), with the
same slot pattern as the HTTP load (8 bookings per hour, one per chair/clinician pair, unique).
Vitals: one prepared 20-row multi-row INSERT ... RETURNING id into ``bench_raw_vitals``.

Each client measures its own latency, its own CPU and its PostgreSQL backend's CPU (/proc).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import time

import psycopg

from bench import common

CLK_TCK = os.sysconf("SC_CLK_TCK")

SESSION_SQL = (
    "INSERT INTO bench_raw_session (clinic_id, patient_id, treatment_type_id, room_id, clinician_id, course_id, "
    "sequence, starts_at, ends_at, occupied_until, status, created_at, created_by_id, checked_in_at, escort_name, "
    "escort_phone, started_at, completed_at, cancelled_at, cancel_reason, late_cancellation, no_show_at) "
    "VALUES (%s, %s, %s, %s, %s, NULL, NULL, %s, %s, %s, 'booked', now(), %s, NULL, '', '', NULL, NULL, NULL, '', "
    "false, NULL) RETURNING id"
)
VITALS_BATCH = 20
VITALS_ROW = "(%s, %s, %s, %s, %s, %s, %s, NULL, false, '[]', 'monitor', %s, now())"
VITALS_SQL = (
    "INSERT INTO bench_raw_vitals (record_id, taken_at, systolic, diastolic, heart_rate, spo2, respiratory_rate, "
    "temperature_c, pre_dose, findings, source, recorded_by_id, recorded_at) VALUES "
    + ", ".join([VITALS_ROW] * VITALS_BATCH)
    + " RETURNING id"
)


def proc_cpu(pid: int) -> float:
    """utime + stime of a process in seconds (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def booking_slots(meta: dict, count: int, *, day_offset: int = 0) -> list[dt.datetime]:
    """The write scenarios' unique hours: 08:00-19:00 local on each day after the seeded window."""
    first = dt.date.fromisoformat(meta["anchor"]) + dt.timedelta(
        days=meta["window_days"] + common.BOOKING_GAP_DAYS + day_offset
    )
    hours = common.CLOSE_HOUR - common.OPEN_HOUR
    return [common.local(first + dt.timedelta(days=k // hours), common.OPEN_HOUR + k % hours) for k in range(count)]


def _session_params(meta: dict, slots: list[dt.datetime]):
    rooms, clinicians, patients = meta["rooms"], meta["clinicians"], meta["patients"]
    duration = dt.timedelta(minutes=common.DURATION_MIN)
    occupied = dt.timedelta(minutes=common.DURATION_MIN + common.TURNOVER_MIN)
    per_hour = common.CLINICIANS

    def params(n: int) -> tuple:
        start = slots[n // per_hour]
        sub = n % per_hour
        return (
            meta["clinic"],
            patients[n % len(patients)],
            meta["treatment_type"],
            rooms[sub],
            clinicians[sub],
            start,
            start + duration,
            start + occupied,
            meta["desk_user"],
        )

    return params


def _vitals_params(meta: dict):
    records, users = meta["open_records"], meta["open_record_users"]
    base = dt.datetime.now(dt.UTC)

    def params(n: int) -> tuple:
        r = n % len(records)
        values = []
        for i in range(VITALS_BATCH):
            values += [
                records[r],
                base + dt.timedelta(seconds=n * VITALS_BATCH + i),
                118 + (n + i) % 10,
                76 + (n + i) % 6,
                70 + (n + i) % 12,
                97 + (n + i) % 3,
                14 + (n + i) % 3,
                users[r],
            ]
        return tuple(values)

    return params


def _client(job: dict, barrier, queue) -> None:
    kind, db, meta, slots = job["kind"], job["db"], job["meta"], job["slots"]
    seconds, index, clients = job["seconds"], job["index"], job["clients"]
    params = _session_params(meta, slots) if kind == "session" else _vitals_params(meta)
    sql = SESSION_SQL if kind == "session" else VITALS_SQL
    latencies, errors, i = [], 0, 0
    with psycopg.connect(common.dsn(db), autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        cur = conn.cursor()
        barrier.wait()
        cpu0, backend0 = proc_cpu(os.getpid()), proc_cpu(backend)
        end = time.perf_counter() + seconds
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            try:
                cur.execute(sql, params(i * clients + index), prepare=True)
                cur.fetchall()
            except psycopg.Error:
                errors += 1
            latencies.append(time.perf_counter() - t0)
            i += 1
        queue.put(
            {
                "count": i,
                "errors": errors,
                "latencies": latencies,
                "cpu_client": proc_cpu(os.getpid()) - cpu0,
                "cpu_backend": proc_cpu(backend) - backend0,
            }
        )


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))]


def run(kind: str, db: str, meta: dict, seconds: float, *, clients: int = 8) -> dict:
    """Run one slice of raw inserts; ``kind`` is "session" or "vitals". Rows are rates per second."""
    ctx = mp.get_context("fork")
    slots = booking_slots(meta, 60_000) if kind == "session" else []
    barrier, queue = ctx.Barrier(clients + 1), ctx.Queue()
    procs = [
        ctx.Process(
            target=_client,
            args=(
                {
                    "kind": kind,
                    "db": db,
                    "meta": meta,
                    "slots": slots,
                    "seconds": seconds,
                    "index": i,
                    "clients": clients,
                },
                barrier,
                queue,
            ),
        )
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    barrier.wait(timeout=60)
    t0 = time.perf_counter()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join(timeout=30)
    count = sum(r["count"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    rows = count * (VITALS_BATCH if kind == "vitals" else 1)
    return {
        "requests": count,
        "rows": rows,
        "errors": sum(r["errors"] for r in results),
        "seconds": elapsed,
        "rps": count / elapsed,
        "rows_per_s": rows / elapsed,
        "p50_ms": _percentile(latencies, 50) * 1000,
        "p95_ms": _percentile(latencies, 95) * 1000,
        "p99_ms": _percentile(latencies, 99) * 1000,
        "cpu_app_ms": 1000 * sum(r["cpu_client"] for r in results) / max(count, 1),
        "cpu_db_ms": 1000 * sum(r["cpu_backend"] for r in results) / max(count, 1),
    }
