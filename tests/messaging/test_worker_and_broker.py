"""The outbox with the real moving parts: a Celery worker consuming the real Redis broker, and Redis
going away. Scheduling never touches the broker, so bookings and links are issued while Redis is down;
once it is back the dispatcher sends each message once.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading

import pytest
import time_machine
from django.core import mail

from clinic.messaging import outbox
from clinic.tasks import dispatch_due_messages
from intake.services.questionnaires import questionnaires_sync
from tests.factories.clinic import PatientFactory
from tests.messaging.helpers import (
    Kind,
    Status,
    broker_unreachable,
    build_world,
    dispatch,
    emails_to,
    reminders,
    rows_about,
    running_worker,
    session_rows,
    wait_until,
)
from tests.scheduling.helpers import NOW, book, local

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def claims_in_step(monkeypatch):
    """The first claim of each of two dispatchers waits for the other, so they really overlap."""
    barrier = threading.Barrier(2, timeout=30)
    calls = itertools.count()
    real_claim = outbox.claim

    def claim(**kwargs):
        if next(calls) < 2:
            barrier.wait()
        return real_claim(**kwargs)

    monkeypatch.setattr(outbox, "claim", claim)
    return barrier


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_a_due_reminder_once_while_two_dispatches_run(make_staff, client_for, claims_in_step):
    with time_machine.travel(NOW, tick=False):
        world = build_world(make_staff, client_for)
        response = book(world.front_desk, world, world.iv, local(2027, 3, 5, 10))
        assert response.status_code == 201, response.content
        session_id = response.json()["id"]
    reminder = reminders(session_id)[0]
    confirmation = session_rows(session_id, Kind.BOOKING_CONFIRMATION).get()

    # The 48-hour reminder is due; the clock runs on from there so the worker's own timers work.
    with time_machine.travel(local(2027, 3, 3, 10) + dt.timedelta(seconds=5), tick=True), running_worker(concurrency=2):
        dispatch_due_messages.delay()
        dispatch_due_messages.delay()
        assert wait_until(
            lambda: (
                len(mail.outbox) >= 2 and not rows_about("session", session_id).filter(status=Status.SENDING).exists()
            )
        )
        assert not claims_in_step.broken  # both dispatches were inside claim() together

    reminder.refresh_from_db()
    confirmation.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (Status.SENT, 1)
    assert (confirmation.status, confirmation.attempts) == (Status.SENT, 1)
    subjects = sorted(m.subject for m in emails_to(world.patient.email))
    assert subjects == [
        "Reminder: your appointment at Riverside clinic on Friday 5 March at 10:00",
        "Your appointment at Riverside clinic is booked",
    ]
    assert len(mail.outbox) == 2


@pytest.mark.django_db(transaction=True)
def test_an_intake_link_is_issued_while_redis_is_down_and_sent_once_it_is_back(clinic, make_staff, client_for, caplog):
    questionnaires_sync()  # an earlier transactional test may have flushed the shipped definitions
    patient = PatientFactory(clinic=clinic)
    front_desk = client_for(make_staff(clinic))

    with broker_unreachable(), caplog.at_level(logging.WARNING, logger="clinic.messaging.outbox"):
        response = front_desk.post(f"/api/v1/patients/{patient.pk}/intake-invitations/")
        assert response.status_code == 201, response.content
        # The nudge publishes off the request thread: the broker really was tried, and it did not matter.
        assert wait_until(lambda: "outbox.nudge_failed" in caplog.messages)
    invitation_id = response.json()["id"]
    [message] = rows_about("form_invitation", invitation_id, Kind.INTAKE_INVITATION)
    assert message.status == Status.PENDING
    assert mail.outbox == []

    with running_worker(concurrency=1):  # Redis is back: the next beat sweep sends it
        dispatch_due_messages.delay()
        assert wait_until(lambda: rows_about("form_invitation", invitation_id).filter(status=Status.SENT).exists())
    assert dispatch().sent == []  # and a later sweep finds nothing left to send

    [email] = emails_to(patient.email)
    assert "/forms/" in email.body
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.SENT, 1)
    assert len(mail.outbox) == 1


def test_a_booking_succeeds_while_redis_is_down_and_is_confirmed_once(world, clock, django_capture_on_commit_callbacks):
    with broker_unreachable(), django_capture_on_commit_callbacks(execute=True):
        response = book(world.front_desk, world, world.iv, local(2027, 3, 5, 10))
    assert response.status_code == 201, response.content
    session_id = response.json()["id"]
    assert session_rows(session_id).count() == 3
    assert set(session_rows(session_id).values_list("status", flat=True)) == {Status.PENDING}

    clock.move_to(NOW + dt.timedelta(minutes=3))
    assert len(dispatch().sent) == 1
    assert dispatch().sent == []
    assert [m.subject for m in mail.outbox] == ["Your appointment at Riverside clinic is booked"]
