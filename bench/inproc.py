"""In-process measurements against a seeded database (bench settings, Django test client).

* Query counts per request with ``CaptureQueriesContext`` (every statement Django sends,
  SAVEPOINTs included), and for bookings the database round trips: statement strings + the
  BEGIN, COMMIT and ROLLBACK psycopg sends on their own + health checks (see ``counting``).
* Availability: query counts for 1, 7 and 28 days and with 4x the resources (added and rolled
  back), timings (median of N: the whole request, the selector alone, the reference R), the
  project's slots checked against R, and the clinician-only slots to compare with the peer.
* Week calendar: query counts for ~50 and 500 sessions (every page), timing of page 1.
* Vitals: query counts of a batch of 20 and a single reading, and the alert gate (a dangerous
  reading inside a batch raises its alert and every reading carries its evaluated findings).

Usage (run.py does this): ``python -m bench.inproc --mode base --tokens tokens.json --out out.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
import traceback
from contextlib import contextmanager

import django

from bench import common, reference

ACTIVE = ("booked", "checked_in", "in_progress")


def _median(values):
    return statistics.median(values) if values else None


@contextmanager
def counting():
    """Capture statements and count the round trips of the default connection.

    Before the request, Django's request_started handling is replayed (``close_old_connections``,
    which the test client skips): with CONN_HEALTH_CHECKS the first query of a request on a reused
    connection may be preceded by a health check (``SELECT 1``, not logged by Django), as under
    gunicorn. BEGIN, COMMIT and ROLLBACK are counted where psycopg sends them on their own
    (``Connection._exec_command``): Django logs a BEGIN and a COMMIT for every transaction, but
    a folded transaction (``clinic.db.folded``) sends them inside its statement strings.
    """
    import psycopg
    from django.db import close_old_connections, connection
    from django.test.utils import CaptureQueriesContext

    tx = {"commands": [], "health_checks": 0}
    original_exec, original_usable = psycopg.Connection._exec_command, None

    def exec_command(self, command, *args, **kwargs):
        if self is connection.connection:
            text = command.decode() if isinstance(command, bytes) else command.as_string(self)
            tx["commands"].append(text.split()[0])
        return original_exec(self, command, *args, **kwargs)

    def is_usable():
        tx["health_checks"] += 1
        return original_usable()

    if not connection.in_atomic_block:  # (inside the rolled-back 4x-resources block it would drop the connection)
        close_old_connections()
    original_usable = connection.is_usable
    psycopg.Connection._exec_command, connection.is_usable = exec_command, is_usable
    try:
        with CaptureQueriesContext(connection) as captured:
            result = {"captured": captured, "tx": tx}
            yield result
    finally:
        psycopg.Connection._exec_command = original_exec
        del connection.is_usable
    # Django's own BEGIN/COMMIT/ROLLBACK entries mark its transaction calls, not what was sent.
    logged = [q["sql"] for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT", "ROLLBACK")]
    commands = tx["commands"]
    result["statements"] = logged
    result["queries"] = sum(1 for q in logged if not q.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")))
    result["savepoints"] = len(logged) - result["queries"]
    result["begins"] = sum(1 for c in commands if c == "BEGIN")
    result["ends"] = sum(1 for c in commands if c in ("COMMIT", "ROLLBACK"))
    result["health_checks"] = tx["health_checks"]
    result["round_trips"] = len(logged) + len(commands) + tx["health_checks"]


def _expect(response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(f"expected {status}, got {response.status_code}: {response.content[:300]!r}")


def _short(sql: str, limit: int = 220) -> str:
    sql = " ".join(sql.split())
    return sql if len(sql) <= limit else sql[: limit - 3] + "..."


def _timed(fn, repeat: int) -> dict:
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    return {"median_ms": _median(wall), "min_ms": min(wall), "max_ms": max(wall), "cpu_ms": _median(cpu)}


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- booking ----------------------------------------------------------------------------------------


def measure_booking(client, meta: dict, repeat: int) -> dict:
    from bench.raw import booking_slots

    # Days in the gap between the seeded window and the HTTP write scenarios.
    slots = booking_slots(meta, 24, day_offset=-3)
    patients = meta["patients"]
    runs, cpu, first = [], [], None
    for i in range(repeat + 1):
        body = {
            "patient": patients[(i * 97) % len(patients)],
            "treatment_type": meta["treatment_type"],
            "start": slots[i].isoformat(),
            "room": meta["rooms"][0],
            "clinician": meta["clinicians"][0],
        }
        c0 = time.process_time()
        with counting() as counted:
            response = client.post("/api/v1/sessions/", body, content_type="application/json")
        cpu.append((time.process_time() - c0) * 1000)
        if response.status_code != 201:
            raise RuntimeError(f"booking answered {response.status_code}: {response.content[:300]!r}")
        if i == 0:
            continue  # warm-up (imports, caches)
        runs.append(counted)
        first = first or counted
    # The same booking with room and clinician left to the service (least loaded first).
    body = {
        "patient": patients[7 % len(patients)],
        "treatment_type": meta["treatment_type"],
        "start": slots[repeat + 2].isoformat(),
    }
    with counting() as auto:
        response = client.post("/api/v1/sessions/", body, content_type="application/json")
    return {
        "queries": _median([r["queries"] for r in runs]),
        "savepoints": _median([r["savepoints"] for r in runs]),
        "health_checks": _median([r["health_checks"] for r in runs]),
        "begins": _median([r["begins"] for r in runs]),
        "ends": _median([r["ends"] for r in runs]),
        "round_trips": _median([r["round_trips"] for r in runs]),
        "cpu_ms": _median(cpu[1:]),
        "statements": [_short(s) for s in first["statements"]],
        "auto_pick": {
            "status": response.status_code,
            "queries": auto["queries"],
            "round_trips": auto["round_trips"],
        },
    }


# --- availability -----------------------------------------------------------------------------------


def _availability_url(meta: dict, start: dt.datetime, end: dt.datetime, treatment_type: int | None = None) -> str:
    tt = treatment_type or meta["treatment_type"]
    return f"/api/v1/availability/?treatment_type={tt}&start={_iso(start)}&end={_iso(end)}"


def _add_resources(meta: dict, rooms: int, clinicians: int) -> None:
    from clinic.models import Room, StaffMember, User
    from scheduling.models import AvailabilityWindow

    Room.objects.bulk_create(
        Room(clinic_id=meta["clinic"], name=f"Extra chair {i}", modalities=["im_ketamine"]) for i in range(rooms)
    )
    users = User.objects.bulk_create(User(username=f"bench-extra-{i}") for i in range(clinicians))
    members = StaffMember.objects.bulk_create(
        StaffMember(clinic_id=meta["clinic"], user=u, roles=["nurse"]) for u in users
    )
    AvailabilityWindow.objects.bulk_create(
        AvailabilityWindow(staff_member=m, weekday=d, starts=dt.time(8), ends=dt.time(20))
        for m in members
        for d in range(7)
    )


def measure_availability(client, meta: dict, repeat: int) -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from scheduling import selectors
    from scheduling.models import TreatmentType

    anchor = common.local(dt.date.fromisoformat(meta["anchor"]), 0)
    start, end = anchor, anchor + dt.timedelta(days=28)
    out: dict = {"queries": {}}
    for label, days in (("1d", 1), ("7d", 7), ("28d", 28)):
        with counting() as counted:
            response = client.get(_availability_url(meta, start, start + dt.timedelta(days=days)))
        _expect(response, 200)
        out["queries"][label] = counted["queries"]
        if label == "28d":
            out["statements"] = [_short(s) for s in counted["statements"]]
            out["slots_28d"] = len(response.json()["slots"])
            out["response_bytes"] = len(response.content)
    with transaction.atomic():
        _add_resources(meta, rooms=3 * common.CHAIRS, clinicians=3 * common.CLINICIANS)
        with counting() as counted:
            response = client.get(_availability_url(meta, start, end))
        _expect(response, 200)
        out["queries"]["28d_4x_resources"] = counted["queries"]
        transaction.set_rollback(True)
    with counting() as counted:
        client.get(_availability_url(meta, start, end, meta["treatment_type_esketamine"]))
    out["queries"]["28d_esketamine_4_chairs"] = counted["queries"]

    url = _availability_url(meta, start, end)
    out["request"] = _timed(lambda: client.get(url), repeat)
    treatment_type = TreatmentType.objects.select_related("clinic").get(pk=meta["treatment_type"])
    now = timezone.now()
    out["selector"] = _timed(
        lambda: selectors.availability_search(treatment_type=treatment_type, start=start, end=end, now=now), repeat
    )

    def run_reference():
        with connection.cursor() as cursor:
            rows = reference.fetch(cursor, meta["clinic"], start, end)
        return reference.sweep(rows, start, end, meta["rooms"], meta["clinicians"])

    out["reference"] = _timed(run_reference, repeat)
    ours = selectors.availability_search(treatment_type=treatment_type, start=start, end=end, now=now).slots
    ours_set = [(s.start.astimezone(dt.UTC), tuple(s.room_ids), tuple(s.clinician_ids)) for s in ours]
    ref_set = run_reference()
    out["matches_reference"] = ours_set == ref_set
    out["slots"] = len(ours_set)
    out["reference_slots"] = len(ref_set)
    if ours_set != ref_set:
        a, b = set(ours_set), set(ref_set)
        out["mismatch_examples"] = {
            "only_project": [str(x) for x in sorted(a - b)[:5]],
            "only_reference": [str(x) for x in sorted(b - a)[:5]],
        }

    return out


def clinician_only_pairs(meta: dict) -> list[str]:
    """The comparable subset for the peer (clinicians only: django-appointment has no chairs): the
    project's own search (``scheduling.availability.find_slots``) on the same context, with one
    always-free room, as sorted "username local-start" pairs."""
    from django.utils import timezone

    from clinic.models import StaffMember
    from scheduling import availability, selectors
    from scheduling.models import TreatmentType

    anchor = common.local(dt.date.fromisoformat(meta["anchor"]), 0)
    start, end = anchor, anchor + dt.timedelta(days=28)
    treatment_type = TreatmentType.objects.select_related("clinic").get(pk=meta["treatment_type"])
    ctx = selectors.scheduling_context(
        clinic=treatment_type.clinic, treatment_type=treatment_type, start=start, end=end
    )
    clinician_only = availability.find_slots(
        availability.SearchRequest(
            window_start=start,
            window_end=end,
            tz=ctx.tz,
            duration=ctx.duration,
            turnover=ctx.turnover,
            step=dt.timedelta(minutes=common.SLOT_STEP_MIN),
            opening_hours=ctx.opening_hours,
            closures=ctx.closures,
            rooms=[availability.RoomInput(room_id=0, busy=[])],
            clinicians=list(ctx.clinician_inputs.values()),
            now=timezone.now(),
        )
    )
    username = dict(StaffMember.objects.filter(clinic_id=meta["clinic"]).values_list("id", "user__username"))
    return sorted(
        f"{username[c]} {s.start.astimezone(ctx.tz):%Y-%m-%dT%H:%M}" for s in clinician_only for c in s.clinician_ids
    )


# --- week calendar ----------------------------------------------------------------------------------


def measure_calendar(client, meta: dict, repeat: int) -> dict:
    from scheduling.models import Session

    anchor = common.local(dt.date.fromisoformat(meta["anchor"]), 0)
    week_end = anchor + dt.timedelta(days=7)
    week = Session.objects.filter(clinic_id=meta["clinic"], ends_at__gt=anchor, starts_at__lt=week_end)
    total = week.count()
    starts = list(week.order_by("starts_at").values_list("starts_at", flat=True))
    # ~50 sessions (a tenth of the week on the small smoke dataset): per-row queries would show.
    small_end = starts[min(50, max(1, len(starts) // 10))] if len(starts) > 1 else week_end
    small = week.filter(starts_at__lt=small_end).count()

    def url(end, page=1):
        return f"/api/v1/sessions/?start={_iso(anchor)}&end={_iso(end)}&page_size=200&page={page}"

    out = {"week_sessions": total, "small_sessions": small, "queries": {}}
    with counting() as counted:
        response = client.get(url(small_end))
    _expect(response, 200)
    out["queries"]["small"] = counted["queries"]
    out["statements_small"] = [_short(s) for s in counted["statements"]]
    pages = max(1, -(-total // 200))
    for page in range(1, pages + 1):
        with counting() as counted:
            response = client.get(url(week_end, page))
        _expect(response, 200)
        out["queries"][f"week_page{page}"] = counted["queries"]
        if page == 1:
            out["statements_week"] = [_short(s) for s in counted["statements"]]
            out["page1_rows"] = len(response.json()["results"])
            out["page1_bytes"] = len(response.content)
    out["page1"] = _timed(lambda: client.get(url(week_end)), repeat)
    return out


# --- vitals -----------------------------------------------------------------------------------------


def measure_vitals(clients: dict, meta: dict) -> dict:
    from clinic.models import Alert

    record, user = meta["open_records"][0], meta["open_record_users"][0]
    client = clients[str(user)]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def reading(i: int, **over) -> dict:
        values = {
            "taken_at": (now - dt.timedelta(seconds=20 - i)).isoformat(),
            "systolic": 120,
            "diastolic": 78,
            "heart_rate": 72,
            "spo2": 98,
            "respiratory_rate": 14,
        }
        values.update(over)
        return values

    path = f"/api/v1/monitoring/{record}/vitals/"
    out = {"queries": {}}
    client.post(path, [reading(i) for i in range(20)], content_type="application/json")  # warm-up
    with counting() as counted:
        response = client.post(path, [reading(i) for i in range(20)], content_type="application/json")
    _expect(response, 201)
    out["queries"]["batch20"] = counted["queries"]
    out["round_trips_batch20"] = counted["round_trips"]
    out["health_checks"] = counted["health_checks"]
    out["statements_batch20"] = [_short(s) for s in counted["statements"]]
    with counting() as counted:
        response = client.post(path, reading(19), content_type="application/json")
    out["queries"]["single"] = counted["queries"]
    alerts_before = Alert.objects.filter(scope_type="monitoring_record", scope_id=record).count()
    batch = [reading(i) for i in range(20)]
    batch[16] = reading(16, systolic=190, diastolic=115)  # dangerous: 190/115
    with counting() as counted:
        response = client.post(path, batch, content_type="application/json")
    body = response.json() if response.status_code == 201 else {}
    alerts_after = Alert.objects.filter(scope_type="monitoring_record", scope_id=record).count()
    findings = [bool(v.get("findings")) for v in body.get("vitals", [])]
    out["queries"]["batch20_with_alert"] = counted["queries"]
    out["alert_gate"] = {
        "status": response.status_code,
        "alerts_in_response": len(body.get("alerts", [])),
        "alerts_created": alerts_after - alerts_before,
        "readings_returned": len(findings),
        "readings_with_findings": sum(findings),
        "ok": response.status_code == 201
        and len(body.get("alerts", [])) == 1
        and alerts_after - alerts_before == 1
        and len(findings) == 20
        and sum(findings) == 1,
    }
    return out


# --- CPU profiles (cProfile with a CPU clock: waiting on PostgreSQL is not counted) ----------------


def cpu_profiles(desk, clinicians: dict, meta: dict, out_path: str, requests: int = 20) -> None:
    """Deterministic CPU-time profiles of the request paths, to say where the Python time goes."""
    import cProfile
    import pstats

    from bench.raw import booking_slots

    anchor = common.local(dt.date.fromisoformat(meta["anchor"]), 0)
    slots = booking_slots(meta, requests + 2, day_offset=-4)
    patients = meta["patients"]
    record, user = meta["open_records"][1], meta["open_record_users"][1]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    batch = [
        {"taken_at": (now - dt.timedelta(seconds=20 - i)).isoformat(), "systolic": 120, "diastolic": 78}
        for i in range(20)
    ]
    week = f"start={_iso(anchor)}&end={_iso(anchor + dt.timedelta(days=7))}&page_size=200"
    scenarios = {
        "booking": lambda i: desk.post(
            "/api/v1/sessions/",
            {
                "patient": patients[(i * 89) % len(patients)],
                "treatment_type": meta["treatment_type"],
                "start": slots[i].isoformat(),
                "room": meta["rooms"][1],
                "clinician": meta["clinicians"][1],
            },
            content_type="application/json",
        ),
        "calendar": lambda i: desk.get(f"/api/v1/sessions/?{week}"),
        "availability": lambda i: desk.get(_availability_url(meta, anchor, anchor + dt.timedelta(days=28))),
        "vitals": lambda i: clinicians[str(user)].post(
            f"/api/v1/monitoring/{record}/vitals/", batch, content_type="application/json"
        ),
    }
    lines = [
        "# CPU profiles of the request paths (cProfile, CPU clock, in-process test client)",
        "",
        f"Each scenario: {requests} requests after one warm-up; times are CPU ms per request. The profiler "
        "inflates absolute times (about 2-4x, most for code making many small calls): read the shares.",
        "",
    ]
    for name, call in scenarios.items():
        call(requests + 1)  # warm-up
        profiler = cProfile.Profile(time.process_time)
        c0 = time.process_time()
        profiler.enable()
        for i in range(requests):
            response = call(i)
        profiler.disable()
        per_request = (time.process_time() - c0) * 1000 / requests
        stats = pstats.Stats(profiler)
        rows = []
        for (filename, line, func), (_, calls, tottime, cumtime, _) in stats.stats.items():
            short = filename.split("site-packages/")[-1].replace(str(common.ROOT) + "/", "")
            rows.append((cumtime, tottime, calls, f"{func} ({short}:{line})", short))
        project = [r for r in rows if r[4].startswith(("clinic/", "scheduling/", "monitoring/", "intake/"))]
        lines += [
            f"## {name}: {per_request:.1f} ms CPU per request (status {response.status_code}, under the profiler)",
            "",
            "Project functions by cumulative CPU (ms per request, calls per request):",
            "",
        ]
        for cum, _, calls, label, _ in sorted(project, reverse=True)[:18]:
            lines.append(f"- {cum * 1000 / requests:6.2f} ms  {calls / requests:5.1f}x  {label}")
        lines += ["", "Any function by own CPU (tottime):", ""]
        for _, tot, calls, label, _ in sorted(rows, key=lambda r: r[1], reverse=True)[:15]:
            lines.append(f"- {tot * 1000 / requests:6.2f} ms  {calls / requests:7.1f}x  {label}")
        lines.append("")
    with open(out_path, "w") as f:
        f.write("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["base", "x10", "smoke"], default="base")
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--cpu-profile", metavar="MD", help="only write CPU profiles of the request paths")
    args = parser.parse_args()
    django.setup()
    from django.db import connection
    from django.test import Client

    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM bench_meta WHERE key = 'meta'")
        value = cursor.fetchone()[0]
    meta = value if isinstance(value, dict) else json.loads(value)
    with open(args.tokens) as f:
        tokens = json.load(f)
    desk = Client(HTTP_AUTHORIZATION=f"Bearer {tokens['desk']}")
    clinicians = {uid: Client(HTTP_AUTHORIZATION=f"Bearer {tok}") for uid, tok in tokens["clinicians"].items()}
    if args.cpu_profile:
        cpu_profiles(desk, clinicians, meta, args.cpu_profile)
        return
    result: dict = {"mode": args.mode, "errors": {}}
    plan = {
        "availability": lambda: measure_availability(desk, meta, args.repeat),
        "calendar": lambda: measure_calendar(desk, meta, args.repeat),
    }
    if args.mode != "x10":
        plan["clinician_only_pairs"] = lambda: clinician_only_pairs(meta)
    if args.mode != "x10":
        plan["booking"] = lambda: measure_booking(desk, meta, args.repeat)
        plan["vitals"] = lambda: measure_vitals(clinicians, meta)
    for name, measure in plan.items():
        try:
            result[name] = measure()
        except Exception:  # report and go on: one broken scenario must not hide the others
            result["errors"][name] = traceback.format_exc()[-3000:]
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, default=str)


if __name__ == "__main__":
    main()
