"""Run django-appointment 3.12.0 (the peer) on the benchmark's seeded data and time its availability.

Runs in the peer's own virtual environment (``bench/.peer-venv``) with ``bench.peer.settings``.
Loads the same clinicians and sessions from the benchmark database (``SOURCE_DB``) into the peer's
tables via its models (8 StaffMembers working 08:00-20:00 every day, one 45-minute Service, a
Config of 15-minute slots, one AppointmentRequest + Appointment per active session, in the
clinic's local time), then times ``appointment.services.get_available_slots_for_staff`` for every
clinician and every day of the 4-week window (its API is per staff member per day, as its AJAX
``available_slots/`` endpoint), counting queries, and writes its free (clinician, start) pairs so
the harness can compare them with the project's clinician-only slots.

Usage (run.py does this): ``bench/.peer-venv/bin/python -m bench.peer.runner --out peer.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from zoneinfo import ZoneInfo

import django
import psycopg

from bench import common


def _source(source_db: str) -> tuple[dict, list[tuple], list[tuple]]:
    with psycopg.connect(common.dsn(source_db)) as conn:
        meta = common.read_meta(conn)
        clinicians = conn.execute(
            "SELECT m.id, u.username, u.first_name, u.last_name, u.email FROM clinic_staffmember m "
            "JOIN clinic_user u ON u.id = m.user_id WHERE m.id = ANY(%s) ORDER BY m.id",
            [meta["clinicians"]],
        ).fetchall()
        sessions = conn.execute(
            "SELECT clinician_id, starts_at, ends_at FROM scheduling_session WHERE clinic_id = %s "
            "AND status IN ('booked', 'checked_in', 'in_progress') AND id <= %s ORDER BY starts_at, id",
            [meta["clinic"], meta["watermarks"]["scheduling_session"]],
        ).fetchall()
    return meta, clinicians, sessions


def _load(meta: dict, clinicians: list[tuple], sessions: list[tuple]) -> None:
    from appointment.models import Appointment, AppointmentRequest, Config, Service, StaffMember, WorkingHours
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)  # auth and contenttypes first: syncdb runs before migrations
    call_command("migrate", run_syncdb=True, verbosity=0)
    tz = ZoneInfo(common.CLINIC_TZ)
    User = get_user_model()
    Config(slot_duration=common.SLOT_STEP_MIN, lead_time=dt.time(8), finish_time=dt.time(20)).save()
    service = Service.objects.create(
        name="IM ketamine (45 min)", duration=dt.timedelta(minutes=common.DURATION_MIN), price=0
    )
    users = User.objects.bulk_create(
        User(username=username, first_name=first, last_name=last, email=email)
        for _, username, first, last, email in clinicians
    )
    staff = StaffMember.objects.bulk_create(
        StaffMember(user=u, slot_duration=common.SLOT_STEP_MIN, work_on_saturday=True, work_on_sunday=True)
        for u in users
    )
    for member in staff:
        member.services_offered.add(service)
    WorkingHours.objects.bulk_create(
        WorkingHours(staff_member=m, day_of_week=d, start_time=dt.time(8), end_time=dt.time(20))
        for m in staff
        for d in range(7)
    )
    by_clinician = {row[0]: member for row, member in zip(clinicians, staff, strict=True)}
    requests = AppointmentRequest.objects.bulk_create(
        (
            AppointmentRequest(
                date=start.astimezone(tz).date(),
                start_time=start.astimezone(tz).time(),
                end_time=end.astimezone(tz).time(),
                service=service,
                staff_member=by_clinician[clinician_id],
                id_request=f"bench-{i}",
            )
            for i, (clinician_id, start, end) in enumerate(sessions)
        ),
        batch_size=5000,
    )
    Appointment.objects.bulk_create(
        (Appointment(appointment_request=r, id_request=f"bench-{r.pk}", paid=False) for r in requests),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_peer_meta (key text PRIMARY KEY, value text NOT NULL)")
        cursor.execute(
            "INSERT INTO bench_peer_meta VALUES ('fingerprint', %s) ON CONFLICT (key) DO UPDATE SET value = %s",
            [meta["fingerprint"], meta["fingerprint"]],
        )
        cursor.execute("VACUUM ANALYZE")


def _loaded_fingerprint() -> str | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_peer_meta') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT value FROM bench_peer_meta WHERE key = 'fingerprint'")
        row = cursor.fetchone()
        return row[0] if row else None


def _recreate(db: str) -> None:
    if db != common.DATABASES["peer"]:
        raise ValueError(f"refusing to drop {db}")
    with psycopg.connect(common.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", default=common.DATABASES["base"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer.settings")
    peer_db = os.environ.setdefault("PEER_DB", common.DATABASES["peer"])
    meta, clinicians, sessions = _source(args.source)

    with psycopg.connect(common.dsn("postgres"), autocommit=True) as conn:
        present = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [peer_db]).fetchone()
    if not present:
        _recreate(peer_db)
    django.setup()
    from django.db import connection

    loaded = _loaded_fingerprint()
    load_seconds = None
    if loaded != meta["fingerprint"]:
        connection.close()
        _recreate(peer_db)
        t0 = time.perf_counter()
        _load(meta, clinicians, sessions)
        load_seconds = time.perf_counter() - t0

    import appointment
    from appointment.models import Service, StaffMember
    from appointment.services import get_available_slots_for_staff
    from django.test.utils import CaptureQueriesContext

    service = Service.objects.get()
    staff = list(StaffMember.objects.select_related("user").order_by("id"))
    anchor = dt.date.fromisoformat(meta["anchor"])
    days = [anchor + dt.timedelta(days=d) for d in range(args.days)]

    def search() -> dict[str, list]:
        found = {}
        for member in staff:
            for day in days:
                # Its day_of_week is 0 = Sunday .. 6 = Saturday.
                found[(member.user.username, day)] = get_available_slots_for_staff(
                    day, member, day.isoweekday() % 7, service
                )
        return found

    wall, cpu, queries, found = [], [], None, None
    for i in range(args.rounds):
        w0, c0 = time.perf_counter(), time.process_time()
        if i == 0:
            with CaptureQueriesContext(connection) as captured:
                found = search()
            queries = len(captured.captured_queries)
            one_day = [q["sql"][:200] for q in captured.captured_queries[:40]]
        else:
            search()
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    with CaptureQueriesContext(connection) as captured:
        w0 = time.perf_counter()
        get_available_slots_for_staff(days[0], staff[0], days[0].isoweekday() % 7, service)
        one_staff_day_ms = (time.perf_counter() - w0) * 1000
    pairs = sorted(
        f"{username} {slot:%Y-%m-%dT%H:%M}" if isinstance(slot, dt.datetime) else f"{username} {day}T{slot}"
        for (username, day), slots in found.items()
        for slot in slots
    )
    result = {
        "package": f"django-appointment {getattr(appointment, '__version__', '3.12.0')}",
        "django": django.get_version(),
        "sessions_loaded": len(sessions),
        "load_seconds": load_seconds,
        "calls": len(staff) * len(days),
        "wall_ms": wall,
        "median_ms": statistics.median(wall),
        "cpu_ms": statistics.median(cpu),
        "queries": queries,
        "one_staff_day": {"ms": one_staff_day_ms, "queries": len(captured.captured_queries)},
        "first_queries": one_day,
        "slots": len(pairs),
        "pairs": pairs,
    }
    with open(args.out, "w") as f:
        json.dump(result, f, default=str)


if __name__ == "__main__":
    main()
