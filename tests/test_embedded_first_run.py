"""The README's first command on embedded defaults: SQLite, and a worker and beat with no Redis.

The worker does real work there: a booking's confirmation, due at once, is claimed from the outbox
by ``dispatch_due_messages``, handed to ``send_messages`` through the filesystem broker, sent with
the default (console) email backend, and recorded as sent in the SQLite database.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _env(run_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CI"}}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.local", "RUN_DIR": str(run_dir), "LOG_LEVEL": "WARNING"})
    return env


def _manage(run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(run_dir),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


# Book a session for a new demo patient, by email, with the confirmation due at once; then ask the
# worker to sweep the outbox now, as the booking's own nudge does (beat's first sweep comes only a
# minute after it starts). Prints the confirmation's id.
BOOK_AND_DISPATCH = """
import datetime as dt
from django.utils import timezone
from clinic.access import Actor
from clinic.models import Clinic, OutboundMessage, Patient, StaffMember
from clinic.tasks import dispatch_due_messages, purge_expired_auth_tokens
from scheduling.models import TreatmentType
from scheduling.services.booking import session_book

clinic = Clinic.objects.get()
clinic.booking_confirmation_delay_minutes = 0
clinic.save(update_fields=["booking_confirmation_delay_minutes"])
iv = TreatmentType.objects.get(clinic=clinic, modality="iv_ketamine")
desk = Actor.for_user(StaffMember.objects.get(clinic=clinic, user__username="demo-frontdesk").user)
patient = Patient.objects.create(
    clinic=clinic, first_name="First", last_name="Run", date_of_birth=dt.date(1980, 1, 1),
    sex_at_birth="female", email="first-run@example.test", preferred_channel="email",
    candidacy_status="approved", candidacy_modalities=["iv_ketamine"],
    candidacy_expires_at=timezone.now() + dt.timedelta(days=365),
)
day = timezone.localdate(timezone.now(), clinic.tz) + dt.timedelta(days=30)
while day.weekday() > 4:
    day += dt.timedelta(days=1)
session = session_book(
    actor=desk, patient=patient, treatment_type=iv, starts_at=dt.datetime.combine(day, dt.time(11), tzinfo=clinic.tz)
)
message = OutboundMessage.objects.get(subject_type="session", subject_id=session.pk, kind="booking_confirmation")
assert message.status == "pending" and message.scheduled_for <= timezone.now(), message.status
purge_expired_auth_tokens.delay()
dispatch_due_messages.delay()
print("MESSAGE", message.pk)
"""


# The week calendar on SQLite: its fixed page statement and the entries built from SQLite's rows
# (naive UTC datetimes, 0/1 booleans) equal the serializer's declared fields for every demo session.
CALENDAR_ON_SQLITE = """
from django.test import Client
from knox.models import AuthToken
from clinic.access import Actor
from clinic.models import StaffMember
from scheduling.api.serializers import SessionSerializer
from scheduling.selectors import session_list
user = StaffMember.objects.get(user__username="demo-frontdesk").user
_, token = AuthToken.objects.create(user)
desk = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {token}")
response = desk.get("/api/v1/sessions/", {"page_size": 200})
assert response.status_code == 200, response.content[:500]
body = response.json()
sessions = session_list(actor=Actor.for_user(user))[:200]
reference = [SessionSerializer().field_driven_representation(s) for s in sessions]
assert body["count"] > 0 and body["results"] == reference, (body["results"][:1], reference[:1])
print("CALENDAR", body["count"])
"""


def _message_state(database: Path, message_id: int) -> tuple[str, str | None]:
    with sqlite3.connect(database, timeout=10) as connection:
        row = connection.execute(
            "SELECT status, sent_at FROM clinic_outboundmessage WHERE id = ?", (message_id,)
        ).fetchone()
    assert row is not None, message_id
    return row


@pytest.mark.slow
def test_migrate_and_seed_on_sqlite_then_a_worker_sends_a_due_message_without_redis(tmp_path):
    migrate = _manage(tmp_path, "migrate", "--noinput")
    assert migrate.returncode == 0, migrate.stderr
    seed = _manage(tmp_path, "seed_demo")
    assert seed.returncode == 0, seed.stderr
    assert "demo-frontdesk" in seed.stdout
    assert (tmp_path / "clinic.sqlite3").exists()
    calendar = _manage(tmp_path, "shell", "-c", CALENDAR_ON_SQLITE)
    assert calendar.returncode == 0, calendar.stderr
    assert "CALENDAR" in calendar.stdout

    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--beat",
                "--pool=solo",
                "--loglevel=INFO",
                f"--schedule={tmp_path / 'beat-schedule'}",
            ],
            cwd=ROOT,
            env=_env(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()
            time.sleep(0.2)
        booked = _manage(tmp_path, "shell", "-c", BOOK_AND_DISPATCH)
        assert booked.returncode == 0, booked.stderr
        message_id = int(next(line for line in booked.stdout.splitlines() if line.startswith("MESSAGE")).split()[1])
        deadline = time.monotonic() + 30
        while _message_state(tmp_path / "clinic.sqlite3", message_id)[0] != "sent" and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    text = log.read_text()
    status, sent_at = _message_state(tmp_path / "clinic.sqlite3", message_id)
    assert (status, sent_at is not None) == ("sent", True), text[-3000:]
    assert "clinicfs://" in text  # the embedded broker (clinic.broker's filesystem transport), not Redis
    assert "beat: Starting" in text
    assert "clinic.tasks.purge_expired_auth_tokens" in text
    # Claimed by the sweep, delivered by its own task, both through the filesystem broker.
    assert "clinic.tasks.dispatch_due_messages" in text and "clinic.tasks.send_messages" in text
    assert "Subject: Your appointment at" in text  # the console email backend, in the worker


SQLITE_RACE = """
import datetime as dt, threading
from django.db import connections
from django.utils import timezone
from clinic.access import Actor, Role
from clinic.errors import ApplicationError
from clinic.models import Clinic, Patient, Room, StaffMember
from scheduling.models import Session, TreatmentType
from scheduling.services.booking import session_book

clinic = Clinic.objects.get()
iv = TreatmentType.objects.get(clinic=clinic, modality="iv_ketamine")
room = Room.objects.filter(clinic=clinic, modalities__icontains="iv_ketamine").order_by("id").first()
StaffMember.objects.filter(clinic=clinic).update(max_concurrent_sessions=20)
desk = Actor.for_user(StaffMember.objects.get(clinic=clinic, user__username="demo-frontdesk").user)
patients = []
for i in range(8):
    p = Patient.objects.create(
        clinic=clinic, first_name=f"Race{i}", last_name="Test", date_of_birth=dt.date(1980, 1, 1),
        sex_at_birth="female", candidacy_status="approved", candidacy_modalities=["iv_ketamine"],
        candidacy_expires_at=timezone.now() + dt.timedelta(days=365),
    )
    patients.append(p)
day = timezone.localdate(timezone.now(), clinic.tz) + dt.timedelta(days=30)
while day.weekday() > 4:
    day += dt.timedelta(days=1)
start = dt.datetime.combine(day, dt.time(11), tzinfo=clinic.tz)
barrier = threading.Barrier(len(patients))
results = []
def run(p):
    try:
        barrier.wait()
        session_book(actor=desk, patient=p, treatment_type=iv, starts_at=start, room_id=room.pk)
        results.append("booked")
    except ApplicationError as exc:
        results.append(exc.code)
    finally:
        connections.close_all()
threads = [threading.Thread(target=run, args=(p,)) for p in patients]
[t.start() for t in threads]
[t.join() for t in threads]
print("RESULT", sorted(results), Session.objects.filter(room=room, starts_at=start, status="booked").count())
"""


@pytest.mark.slow
def test_sqlite_serialises_concurrent_bookings(tmp_path):
    assert _manage(tmp_path, "migrate", "--noinput").returncode == 0
    assert _manage(tmp_path, "seed_demo").returncode == 0
    race = _manage(tmp_path, "shell", "-c", SQLITE_RACE)
    assert race.returncode == 0, race.stderr
    line = next(line for line in race.stdout.splitlines() if line.startswith("RESULT"))
    assert (
        line == "RESULT ['booked', 'room_unavailable', 'room_unavailable', 'room_unavailable', "
        "'room_unavailable', 'room_unavailable', 'room_unavailable', 'room_unavailable'] 1"
    )
