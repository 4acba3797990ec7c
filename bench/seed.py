"""The benchmark's deterministic dataset (``random.Random(42)``), written through the ORM and COPY.

One clinic (America/New_York, open 08:00-20:00 every day), 12 chairs, 8 clinicians (nurses,
limit one session at a time, weekly windows 08:00-20:00), a front desk user, 1,500 approved
patients, 2,000 booked 45-minute sessions (+15 min turnover) on whole hours over 4 weeks from
next Monday (74% clinician and 50% chair occupancy, patients at least 24 h apart), 480 completed
sessions of last week with closed monitoring records and 24 vitals each, 8 sessions in progress
now with open records (the vitals scenario), and 200,000 outbox rows: 10,000 reminders that the
sweep scenario makes due, 120,000 sent, 70,000 pending far in the future. ``--scale 10`` makes
the 10x variant (20,000 sessions over 280 days, 15,000 patients, 2,000,000 outbox rows, ...).

The services are far too slow for 200,000 rows, so rows are written directly, but every session
obeys what the services and the database enforce: no chair or patient overlap, clinicians within
their limit and their hours, patients approved for the modality.

Also creates the physical-limit tables ``bench_raw_session`` and ``bench_raw_vitals`` (copies of
the project's tables with every index, exclusion constraint and foreign key) and ``bench_meta``
(ids and the high-water marks the harness resets to between write slices).

Usage (run.py does this): ``python -m bench.seed --scale 1`` with DATABASE_URL and
DJANGO_SETTINGS_MODULE set; ``python -m bench.seed --tokens`` prints fresh API tokens as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from collections import defaultdict
from zoneinfo import ZoneInfo

import django

from bench import common

FIRST = ["Avery", "Jordan", "Sam", "Riley", "Casey", "Morgan", "Taylor", "Jamie", "Quinn", "Drew", "Rowan", "Sky"]
LAST = ["Nguyen", "Garcia", "Smith", "Okafor", "Kowalski", "Haddad", "Ito", "Silva", "Brown", "Novak", "Patel"]
MRN_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXY"
PARKED = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)  # due rows wait here until a sweep scenario wakes them

# Tables the harness trims back to the seed's high-water mark after each write slice.
WATERMARK_TABLES = [
    "scheduling_session",
    "scheduling_sessionevent",
    "clinic_outboundmessage",
    "clinic_auditevent",
    "clinic_alert",
    "clinic_idempotencykey",
    "monitoring_vitalsign",
]


def _mrn(rng: random.Random, taken: set[str]) -> str:
    from clinic.models import mrn_check_character

    while True:
        body = "".join(rng.choice(MRN_ALPHABET) for _ in range(7))
        mrn = body + mrn_check_character(body)
        if mrn not in taken:
            taken.add(mrn)
            return mrn


class Placer:
    """Places sessions on whole hours so no chair, clinician or patient is double-booked."""

    def __init__(self, rng: random.Random, patients: int):
        self.rng = rng
        self.patients = patients
        self.chairs_used: dict[tuple[dt.date, int], set[int]] = defaultdict(set)
        self.clinicians_used: dict[tuple[dt.date, int], set[int]] = defaultdict(set)
        self.patient_starts: dict[int, list[dt.datetime]] = defaultdict(list)

    def patient_free(self, p: int, start: dt.datetime, gap: dt.timedelta = dt.timedelta(hours=24)) -> bool:
        return all(abs(start - other) >= gap for other in self.patient_starts[p])

    def place(self, days: list[dt.date], count: int) -> list[tuple[dt.datetime, int, int, int]]:
        """``count`` sessions as (start, chair index, clinician index, patient index), sorted by start."""
        rng, placed = self.rng, []
        hours = list(range(common.OPEN_HOUR, common.CLOSE_HOUR))
        capacity = len(days) * len(hours) * min(common.CHAIRS, common.CLINICIANS)
        if count > capacity:
            raise ValueError(f"{count} sessions do not fit in {len(days)} days")
        while len(placed) < count:
            day, hour = rng.choice(days), rng.choice(hours)
            key = (day, hour)
            free_clinicians = [c for c in range(common.CLINICIANS) if c not in self.clinicians_used[key]]
            free_chairs = [r for r in range(common.CHAIRS) if r not in self.chairs_used[key]]
            if not free_clinicians or not free_chairs:
                continue
            start = common.local(day, hour)
            for _ in range(50):
                patient = rng.randrange(self.patients)
                if self.patient_free(patient, start):
                    break
            else:
                continue
            clinician, chair = rng.choice(free_clinicians), rng.choice(free_chairs)
            self.clinicians_used[key].add(clinician)
            self.chairs_used[key].add(chair)
            self.patient_starts[patient].append(start)
            placed.append((start, chair, clinician, patient))
        placed.sort()
        return placed


def _copy(cursor, table: str, columns: list[str], rows) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _create_raw_tables(cursor) -> None:
    """Copies of the session and vitals tables with the same indexes, exclusion constraints and FKs."""
    for raw, source in (("bench_raw_session", "scheduling_session"), ("bench_raw_vitals", "monitoring_vitalsign")):
        cursor.execute(f"DROP TABLE IF EXISTS {raw}")
        cursor.execute(f"CREATE TABLE {raw} (LIKE {source} INCLUDING ALL)")
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype = 'f'",
            [source],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f"ALTER TABLE {raw} ADD CONSTRAINT {raw}_{name[-40:]} {definition}")
        cursor.execute(f"INSERT INTO {raw} SELECT * FROM {source}")
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{raw}', 'id'), (SELECT max(id) FROM {raw}))")


def seed(scale: float, anchor: dt.date) -> dict:
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from clinic.models import Clinic, OpeningHours, Patient, Room, StaffMember, User
    from monitoring.models import Discharge, MonitoringRecord
    from scheduling.models import AvailabilityWindow, Session, TreatmentType

    rng = random.Random(common.SEED)
    tz = ZoneInfo(common.CLINIC_TZ)
    now = timezone.now().replace(microsecond=0)
    today = now.astimezone(tz).date()
    n_patients = common.scaled(common.PATIENTS, scale)
    n_sessions = common.scaled(common.SESSIONS, scale)
    n_history = common.scaled(common.HISTORY_SESSIONS, scale)
    days = common.window_days(scale)
    history_days = round(common.HISTORY_DAYS * max(1.0, scale))
    unusable = make_password(None)

    with transaction.atomic():
        clinic = Clinic.objects.create(
            name="Bench Clinic",
            timezone=common.CLINIC_TZ,
            address_line1="1 Main Street",
            city="Springfield",
            email="clinic@example.test",
            slot_step_minutes=common.SLOT_STEP_MIN,
        )
        OpeningHours.objects.bulk_create(
            OpeningHours(clinic=clinic, weekday=d, opens=dt.time(common.OPEN_HOUR), closes=dt.time(common.CLOSE_HOUR))
            for d in range(7)
        )
        rooms = Room.objects.bulk_create(
            Room(
                clinic=clinic,
                name=f"Chair {i + 1:02d}",
                kind=Room.Kind.CHAIR,
                modalities=["iv_ketamine", "im_ketamine"]
                + (["esketamine_nasal"] if i < common.ESKETAMINE_CHAIRS else []),
            )
            for i in range(common.CHAIRS)
        )
        desk_user = User.objects.create(
            username="bench-desk", first_name="Dana", last_name="Desk", email="desk@example.test", password=unusable
        )
        desk = StaffMember.objects.create(clinic=clinic, user=desk_user, roles=["front_desk"])
        clinician_users = User.objects.bulk_create(
            User(
                username=f"bench-clinician-{i + 1:02d}",
                first_name=rng.choice(FIRST),
                last_name=rng.choice(LAST),
                email=f"clinician{i + 1}@example.test",
                password=unusable,
            )
            for i in range(common.CLINICIANS)
        )
        clinicians = StaffMember.objects.bulk_create(
            StaffMember(
                clinic=clinic, user=u, roles=["nurse", "prescriber"] if i < 2 else ["nurse"], max_concurrent_sessions=1
            )
            for i, u in enumerate(clinician_users)
        )
        AvailabilityWindow.objects.bulk_create(
            AvailabilityWindow(
                staff_member=m, weekday=d, starts=dt.time(common.OPEN_HOUR), ends=dt.time(common.CLOSE_HOUR)
            )
            for m in clinicians
            for d in range(7)
        )
        im = TreatmentType.objects.create(
            clinic=clinic,
            name="IM ketamine (45 min)",
            modality="im_ketamine",
            duration_minutes=common.DURATION_MIN,
            turnover_minutes=common.TURNOVER_MIN,
            min_hours_between=24,
        )
        esketamine = TreatmentType.objects.create(
            clinic=clinic,
            name="Esketamine nasal spray 56/84 mg",
            modality="esketamine_nasal",
            duration_minutes=140,
            turnover_minutes=15,
            min_hours_between=48,
            requires_rems_enrollment=True,
        )
        mrns: set[str] = set()
        patients = Patient.objects.bulk_create(
            (
                Patient(
                    clinic=clinic,
                    mrn=_mrn(rng, mrns),
                    first_name=rng.choice(FIRST),
                    last_name=rng.choice(LAST),
                    date_of_birth=dt.date(1950 + rng.randrange(55), rng.randrange(1, 13), rng.randrange(1, 29)),
                    sex_at_birth=rng.choice(["female", "male"]),
                    email=f"patient{i + 1}@example.test",
                    preferred_channel="email",
                    rems_patient_id=f"REMS{i + 1:07d}",
                    candidacy_status="approved",
                    candidacy_modalities=["iv_ketamine", "im_ketamine", "esketamine_nasal"],
                    candidacy_expires_at=now + dt.timedelta(days=3 * 365),
                )
                for i in range(n_patients)
            ),
            batch_size=5000,
        )

        placer = Placer(rng, n_patients)
        window = [anchor + dt.timedelta(days=d) for d in range(days)]
        history_window = [today - dt.timedelta(days=d) for d in range(history_days, 0, -1)]
        booked = placer.place(window, n_sessions)
        history = placer.place(history_window, n_history)

        def session(start, chair, clinician, patient, **fields) -> Session:
            return Session(
                clinic=clinic,
                patient=patients[patient],
                treatment_type=im,
                room=rooms[chair],
                clinician=clinicians[clinician],
                starts_at=start,
                ends_at=start + dt.timedelta(minutes=common.DURATION_MIN),
                occupied_until=start + dt.timedelta(minutes=common.DURATION_MIN + common.TURNOVER_MIN),
                created_by=desk_user,
                created_at=now - dt.timedelta(days=30),
                **fields,
            )

        history_sessions = Session.objects.bulk_create(
            (
                session(
                    start,
                    chair,
                    clin,
                    pat,
                    status=Session.Status.COMPLETED,
                    checked_in_at=start - dt.timedelta(minutes=10),
                    started_at=start,
                    completed_at=start + dt.timedelta(minutes=common.DURATION_MIN),
                    escort_name="Escort",
                )
                for start, chair, clin, pat in history
            ),
            batch_size=5000,
        )
        # In progress now: one per clinician (their limit is one) in the first chairs, patients free.
        in_progress_start = now - dt.timedelta(minutes=20)
        free_patients = [p for p in range(n_patients) if placer.patient_free(p, in_progress_start)]
        in_progress = Session.objects.bulk_create(
            session(
                in_progress_start,
                i,
                i,
                free_patients[i],
                status=Session.Status.IN_PROGRESS,
                checked_in_at=in_progress_start - dt.timedelta(minutes=10),
                started_at=in_progress_start,
                escort_name="Escort",
            )
            for i in range(common.OPEN_RECORDS)
        )
        booked_sessions = Session.objects.bulk_create(
            (session(start, chair, clin, pat) for start, chair, clin, pat in booked), batch_size=5000
        )

        def record(s: Session, opened: dt.datetime) -> MonitoringRecord:
            return MonitoringRecord(
                session=s,
                clinic=clinic,
                patient=s.patient,
                modality="im_ketamine",
                opened_at=opened,
                opened_by=s.clinician.user,
                hours_since_food=4,
                hours_since_liquids=2,
                escort_confirmed=True,
                benzodiazepines=False,
                sedative_hypnotics=False,
                psychostimulants=False,
                maois=False,
                medications_confirmed=True,
                pregnancy_test="not_applicable",
                weight_kg=80,
                first_dose_at=opened + dt.timedelta(minutes=10),
            )

        history_records = MonitoringRecord.objects.bulk_create(
            (record(s, s.starts_at - dt.timedelta(minutes=5)) for s in history_sessions), batch_size=5000
        )
        Discharge.objects.bulk_create(
            (
                Discharge(
                    record=r,
                    discharged_at=r.opened_at + dt.timedelta(minutes=60),
                    discharged_by=r.opened_by,
                    alert_and_oriented=True,
                    able_to_walk=True,
                    escort_present=True,
                    vitals_within_limits=True,
                )
                for r in history_records
            ),
            batch_size=5000,
        )
        open_records = MonitoringRecord.objects.bulk_create(
            record(s, in_progress_start - dt.timedelta(minutes=5)) for s in in_progress
        )

    with connection.cursor() as cursor:
        vitals_columns = [
            "record_id",
            "taken_at",
            "systolic",
            "diastolic",
            "heart_rate",
            "spo2",
            "respiratory_rate",
            "temperature_c",
            "pre_dose",
            "findings",
            "source",
            "recorded_by_id",
            "recorded_at",
        ]

        def vitals_rows():
            for r in [*history_records, *open_records]:
                is_open = r in open_records
                count = 8 if is_open else common.VITALS_PER_RECORD
                for i in range(count):
                    taken = r.opened_at + dt.timedelta(minutes=1 + i * (2 if is_open else 2.5))
                    yield (
                        r.pk,
                        taken,
                        rng.randrange(110, 140),
                        rng.randrange(65, 90),
                        rng.randrange(60, 95),
                        rng.randrange(95, 100),
                        rng.randrange(12, 18),
                        None,
                        i == 0,
                        "[]",
                        "monitor",
                        r.opened_by_id,
                        taken,
                    )

        vitals = _copy(cursor, "monitoring_vitalsign", vitals_columns, vitals_rows())

        outbox_columns = [
            "clinic_id",
            "patient_id",
            "kind",
            "channel",
            "recipient",
            "subject_type",
            "subject_id",
            "about_time",
            "scheduled_for",
            "status",
            "attempts",
            "last_error",
            "lease_expires_at",
            "sent_at",
            "cancel_reason",
            "dedupe_key",
            "created_at",
        ]
        n_outbox = common.scaled(common.OUTBOX_ROWS, scale)
        n_due = common.scaled(common.OUTBOX_DUE, scale)
        n_sent = common.scaled(common.OUTBOX_SENT, scale)
        far = common.local(anchor + dt.timedelta(days=days + 60), 9)

        def outbox_rows():
            for i in range(n_outbox):
                if i < n_due:  # reminders for booked sessions, parked until a sweep scenario wakes them
                    s = booked_sessions[i % len(booked_sessions)]
                    kind, status, when, sent, key = "session_reminder", "pending", PARKED, None, f"bench:due:{i}"
                elif i < n_due + n_sent:
                    s = history_sessions[i % len(history_sessions)]
                    kind = "session_reminder" if i % 3 else "booking_confirmation"
                    when = now - dt.timedelta(days=rng.randrange(1, 60), seconds=i % 86400)
                    status, sent, key = "sent", when + dt.timedelta(seconds=2), f"bench:sent:{i}"
                else:  # reminders of bookings further out: pending, never due during a run
                    s = booked_sessions[i % len(booked_sessions)]
                    kind, status, sent, key = "session_reminder", "pending", None, f"bench:later:{i}"
                    when = far + dt.timedelta(seconds=i)
                yield (
                    clinic.pk,
                    s.patient_id,
                    kind,
                    "email",
                    s.patient.email,
                    "session",
                    s.pk,
                    s.starts_at,
                    when,
                    status,
                    1 if status == "sent" else 0,
                    "",
                    None,
                    sent,
                    "",
                    key,
                    now - dt.timedelta(days=30),
                )

        outbox = _copy(cursor, "clinic_outboundmessage", outbox_columns, outbox_rows())
        _create_raw_tables(cursor)
        watermarks = {}
        for table in WATERMARK_TABLES:
            cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
            watermarks[table] = cursor.fetchone()[0]
        meta = {
            "fingerprint": common.fingerprint(scale, anchor),
            "scale": scale,
            "anchor": anchor.isoformat(),
            "window_days": days,
            "seeded_at": now.isoformat(),
            "clinic": clinic.pk,
            "treatment_type": im.pk,
            "treatment_type_esketamine": esketamine.pk,
            "rooms": [r.pk for r in rooms],
            "clinicians": [m.pk for m in clinicians],
            "clinician_users": [u.pk for u in clinician_users],
            "clinician_usernames": [u.username for u in clinician_users],
            "desk_user": desk_user.pk,
            "desk_staff": desk.pk,
            "patients": [p.pk for p in patients],
            "open_records": [r.pk for r in open_records],
            "open_record_users": [r.opened_by_id for r in open_records],
            "counts": {
                "patients": n_patients,
                "sessions_booked": len(booked_sessions),
                "sessions_history": len(history_sessions),
                "sessions_in_progress": len(in_progress),
                "vitals": vitals,
                "outbox": outbox,
                "outbox_due": n_due,
            },
            "watermarks": watermarks,
        }
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value jsonb NOT NULL)")
        cursor.execute(
            "INSERT INTO bench_meta (key, value) VALUES ('meta', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [json.dumps(meta)],
        )
    for table in [*WATERMARK_TABLES, "bench_raw_session", "bench_raw_vitals", "clinic_patient"]:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {table}")
    return meta


def tokens(meta: dict) -> dict:
    """Fresh knox tokens (12 h) for the front desk and for each clinician with an open record."""
    from knox.models import AuthToken

    from clinic.models import User

    out = {"desk": AuthToken.objects.create(User.objects.get(pk=meta["desk_user"]))[1], "clinicians": {}}
    for user_id in sorted(set(meta["open_record_users"])):
        out["clinicians"][str(user_id)] = AuthToken.objects.create(User.objects.get(pk=user_id))[1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--anchor", type=dt.date.fromisoformat, default=None)
    parser.add_argument("--tokens", action="store_true", help="print fresh API tokens as JSON and exit")
    args = parser.parse_args()
    django.setup()
    from django.db import connection

    if args.tokens:
        with connection.cursor() as cursor:
            cursor.execute("SELECT value FROM bench_meta WHERE key = 'meta'")
            value = cursor.fetchone()[0]
        meta = value if isinstance(value, dict) else json.loads(value)
        print(json.dumps(tokens(meta)))
        return
    meta = seed(args.scale, args.anchor or common.anchor_date())
    print(json.dumps({"fingerprint": meta["fingerprint"], "counts": meta["counts"]}))


if __name__ == "__main__":
    main()
