"""The dispatcher: channels and opt-outs, quiet hours, wall-clock reminders across DST, retries with
backoff until ``failed`` (visible to staff), and rows whose worker died mid-send.

The dispatcher is run as the worker runs it (``outbox.claim`` then ``outbox.deliver``), on a frozen clock.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from clinic.messaging import outbox
from clinic.messaging.sms import BaseSmsBackend, SmsError, SmsMessage
from tests.messaging.helpers import (
    Kind,
    Status,
    desk,
    dispatch,
    emails_to,
    reminders,
    session_rows,
)
from tests.scheduling.helpers import NOW, book, local

FAILING_SMS = "tests.messaging.test_dispatch.RefusingSmsBackend"
CRASHING_SMS = "tests.messaging.test_dispatch.CrashingSmsBackend"


class RefusingSmsBackend(BaseSmsBackend):
    """A provider that refuses every message, then (if told) accepts from the n-th try on."""

    calls: list[SmsMessage] = []
    accept_from_call: int | None = None

    def send(self, message: SmsMessage) -> str:
        RefusingSmsBackend.calls.append(message)
        if self.accept_from_call is not None and len(self.calls) >= self.accept_from_call:
            return "accepted"
        raise SmsError("provider refused the message (HTTP 503)")


class CrashingSmsBackend(BaseSmsBackend):
    """A careless provider library whose exception carries the number and the text."""

    def send(self, message: SmsMessage) -> str:
        raise ConnectionError(f"could not deliver {message.body!r} to {message.to}")


@pytest.fixture
def refusing_sms(settings):
    settings.SMS_BACKEND = FAILING_SMS
    RefusingSmsBackend.calls = []
    RefusingSmsBackend.accept_from_call = None
    yield RefusingSmsBackend
    RefusingSmsBackend.calls = []


def _book(world, start, patient=None) -> int:
    response = book(world.front_desk, patient or world.patient, world.iv, start)
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _confirmation(session_id):
    return session_rows(session_id, Kind.BOOKING_CONFIRMATION).get()


# --- channels --------------------------------------------------------------------------------------


def test_email_goes_through_djangos_mail_framework_exactly_once(world, clock, sms_outbox):
    session_id = _book(world, local(2027, 3, 5, 10))
    clock.move_to(NOW + dt.timedelta(minutes=3))
    [message_id] = dispatch().sent
    assert outbox.deliver([message_id]).sent == []  # delivering the same ids again is a no-op
    assert dispatch().sent == []

    [email] = mail.outbox
    assert email.to == [world.patient.email]
    assert email.from_email == "clinic@localhost"
    assert sms_outbox == []
    row = _confirmation(session_id)
    assert (row.status, row.attempts, row.channel, row.last_error) == (Status.SENT, 1, "email", "")


def test_sms_goes_through_the_sms_backend_exactly_once(world, clock, sms_outbox):
    world.patient.preferred_channel = "sms"
    world.patient.save()
    session_id = _book(world, local(2027, 3, 5, 10))
    clock.move_to(NOW + dt.timedelta(minutes=3))
    [message_id] = dispatch().sent
    assert outbox.deliver([message_id]).sent == []
    assert dispatch().sent == []

    [text] = sms_outbox
    assert text.to == str(world.patient.phone)
    assert text.reference == str(message_id)
    assert text.body.startswith("Riverside clinic: your appointment is booked for Friday 5 March at 10:00.")
    assert mail.outbox == []
    assert (_confirmation(session_id).channel, _confirmation(session_id).status) == ("sms", Status.SENT)


def test_an_opted_out_preferred_channel_falls_back_to_the_other(world, clock, sms_outbox):
    world.patient.preferred_channel = "sms"
    world.patient.sms_opt_out = True
    world.patient.save()
    session_id = _book(world, local(2027, 3, 5, 10))
    assert set(session_rows(session_id).values_list("channel", "recipient")) == {("email", world.patient.email)}

    clock.move_to(local(2027, 3, 3, 10))
    assert len(dispatch().sent) == 2
    assert sms_outbox == []
    assert len(emails_to(world.patient.email)) == 2


def test_a_patient_opted_out_of_both_channels_gets_no_rows(world):
    world.patient.email_opt_out = True
    world.patient.sms_opt_out = True
    world.patient.save()
    session_id = _book(world, local(2027, 3, 5, 10))
    assert not session_rows(session_id).exists()


def test_opting_out_after_scheduling_cancels_at_send_time(world, clock, sms_outbox):
    session_id = _book(world, local(2027, 3, 5, 10))
    world.patient.email_opt_out = True
    world.patient.save()

    clock.move_to(local(2027, 3, 3, 10))
    outcome = dispatch()
    assert outcome.sent == []
    assert len(outcome.cancelled["opted_out"]) == 2
    assert mail.outbox == []
    assert sms_outbox == []
    assert {
        (r.status, r.cancel_reason) for r in session_rows(session_id) if r.scheduled_for <= local(2027, 3, 3, 10)
    } == {(Status.CANCELLED, "opted_out")}


# --- quiet hours -----------------------------------------------------------------------------------


def test_an_sms_due_in_quiet_hours_waits_until_eight_without_counting_an_attempt(world, clock, sms_outbox):
    world.clinic.reminder_hours_before = [12]
    world.clinic.save()
    world.patient.preferred_channel = "sms"
    world.patient.save()
    session_id = _book(world, local(2027, 3, 3, 10, 30))
    [reminder] = reminders(session_id)
    assert reminder.scheduled_for == local(2027, 3, 2, 22, 30)
    clock.move_to(NOW + dt.timedelta(minutes=3))
    dispatch()  # the confirmation
    sms_outbox.clear()

    clock.move_to(local(2027, 3, 2, 22, 30))
    outcome = dispatch()
    assert outcome.sent == []
    assert outcome.deferred == {local(2027, 3, 3, 8): [reminder.pk]}
    reminder.refresh_from_db()
    assert (reminder.status, reminder.scheduled_for, reminder.attempts) == (
        Status.PENDING,
        local(2027, 3, 3, 8),
        0,
    )
    clock.move_to(local(2027, 3, 3, 7, 59))
    assert dispatch().sent == []
    assert sms_outbox == []

    clock.move_to(local(2027, 3, 3, 8))
    assert dispatch().sent == [reminder.pk]
    [text] = sms_outbox
    assert "Wednesday 3 March at 10:30" in text.body
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (Status.SENT, 1)


def test_an_sms_due_before_dawn_waits_until_eight_the_same_day(world, clock, sms_outbox):
    world.clinic.reminder_hours_before = [5]
    world.clinic.save()
    world.patient.preferred_channel = "sms"
    world.patient.save()
    session_id = _book(world, local(2027, 3, 3, 10))
    [reminder] = reminders(session_id)
    clock.move_to(local(2027, 3, 3, 5))
    dispatch()
    reminder.refresh_from_db()
    assert (reminder.status, reminder.scheduled_for) == (Status.PENDING, local(2027, 3, 3, 8))


def test_email_is_not_held_by_quiet_hours(world, clock):
    world.clinic.reminder_hours_before = [12]
    world.clinic.save()
    session_id = _book(world, local(2027, 3, 3, 10, 30))
    [reminder] = reminders(session_id)
    clock.move_to(local(2027, 3, 2, 22, 30))
    outcome = dispatch()
    assert reminder.pk in outcome.sent
    assert outcome.deferred == {}
    assert any(m.subject.startswith("Reminder") for m in emails_to(world.patient.email))


def test_a_reminder_keeps_its_wall_clock_time_across_the_dst_change(world, clock):
    """Monday 2027-03-15 10:00 EDT: 48 hours before on the wall clock is Saturday 10:00 EST (47 real hours)."""
    start = local(2027, 3, 15, 10)
    session_id = _book(world, start)
    first, second = reminders(session_id)
    assert first.scheduled_for == local(2027, 3, 13, 10)
    assert first.scheduled_for.astimezone(dt.UTC) == dt.datetime(2027, 3, 13, 15, 0, tzinfo=dt.UTC)
    assert start - first.scheduled_for == dt.timedelta(hours=47)
    assert second.scheduled_for == local(2027, 3, 15, 8)
    clock.move_to(NOW + dt.timedelta(minutes=3))
    dispatch()  # the confirmation

    clock.move_to(local(2027, 3, 13, 9, 59))
    assert dispatch().sent == []
    clock.move_to(local(2027, 3, 13, 10))
    assert dispatch().sent == [first.pk]
    reminder = mail.outbox[-1]
    assert reminder.subject == "Reminder: your appointment at Riverside clinic on Monday 15 March at 10:00"
    first.refresh_from_db()
    assert first.sent_at == local(2027, 3, 13, 10)


# --- failures: backoff, a cap, then staff can see it -------------------------------------------------


def test_provider_failures_retry_with_backoff_then_fail_and_show_in_notifications(world, clock, refusing_sms):
    world.patient.preferred_channel = "sms"
    world.patient.save()
    session_id = _book(world, local(2027, 3, 5, 10))
    row = _confirmation(session_id)
    due = NOW + dt.timedelta(minutes=3)

    waits = []
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        clock.move_to(due - dt.timedelta(seconds=1))
        assert outbox.claim() == []  # not due yet
        clock.move_to(due)
        outcome = dispatch()
        assert list(outcome.failed) == [row.pk]
        row.refresh_from_db()
        assert row.attempts == attempt
        if attempt < outbox.MAX_ATTEMPTS:
            assert row.status == Status.PENDING
            waits.append(row.scheduled_for - due)
            due = row.scheduled_for
    assert waits == [dt.timedelta(minutes=m) for m in (1, 5, 25, 60)]
    assert row.status == Status.FAILED
    assert len(refusing_sms.calls) == outbox.MAX_ATTEMPTS

    clock.move_to(due + dt.timedelta(days=1))
    assert dispatch().failed == {}  # a failed row is never picked up again
    assert len(refusing_sms.calls) == outbox.MAX_ATTEMPTS

    text = refusing_sms.calls[0].body
    assert row.last_error == "SmsError: provider refused the message (HTTP 503)"
    for secret in (str(world.patient.phone), str(world.patient.phone.national_number), text, "Riverside"):
        assert secret not in row.last_error

    response = desk(world).get("/api/v1/notifications/", {"status": "failed"})
    assert response.status_code == 200
    [item] = response.json()["results"]
    assert (item["id"], item["status"], item["attempts"], item["kind"]) == (
        row.pk,
        "failed",
        outbox.MAX_ATTEMPTS,
        "booking_confirmation",
    )
    assert item["last_error"] == row.last_error
    assert str(world.patient.phone) not in response.content.decode()
    assert desk(world).get("/api/v1/notifications/", {"status": "sent"}).json()["results"] == []


def test_a_provider_that_recovers_sends_once_and_clears_the_error(world, clock, refusing_sms, sms_outbox):
    refusing_sms.accept_from_call = 3
    world.patient.preferred_channel = "sms"
    world.patient.save()
    session_id = _book(world, local(2027, 3, 5, 10))
    row = _confirmation(session_id)
    moment = NOW + dt.timedelta(minutes=3)
    for _ in range(3):
        clock.move_to(moment)
        dispatch()
        row.refresh_from_db()
        moment = row.scheduled_for
    assert (row.status, row.attempts, row.last_error) == (Status.SENT, 3, "")
    assert len(refusing_sms.calls) == 3
    clock.move_to(moment + dt.timedelta(hours=2))
    dispatch()
    assert len(refusing_sms.calls) == 3


def test_an_unexpected_provider_exception_keeps_only_its_type(world, clock, settings):
    settings.SMS_BACKEND = CRASHING_SMS
    world.patient.preferred_channel = "sms"
    world.patient.save()
    session_id = _book(world, local(2027, 3, 5, 10))
    clock.move_to(NOW + dt.timedelta(minutes=3))
    dispatch()
    row = _confirmation(session_id)
    assert (row.status, row.attempts, row.last_error) == (Status.PENDING, 1, "ConnectionError")


def test_an_unreachable_mail_server_is_retried(world, clock, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    session_id = _book(world, local(2027, 3, 5, 10))
    clock.move_to(NOW + dt.timedelta(minutes=3))
    dispatch()
    row = _confirmation(session_id)
    assert row.status == Status.PENDING
    assert row.last_error.startswith("mail server unavailable")
    assert world.patient.email not in row.last_error
    assert row.scheduled_for == NOW + dt.timedelta(minutes=4)


# --- a worker dies mid-send ------------------------------------------------------------------------


def test_a_row_stuck_in_sending_is_claimed_again_after_its_lease(world, clock):
    session_id = _book(world, local(2027, 3, 5, 10))
    claimed_at = NOW + dt.timedelta(minutes=3)
    clock.move_to(claimed_at)
    [stuck] = outbox.claim()  # ...and the worker dies before delivering
    row = _confirmation(session_id)
    assert (row.pk, row.status, row.lease_expires_at) == (stuck, Status.SENDING, claimed_at + outbox.LEASE)

    assert outbox.claim() == []
    clock.move_to(claimed_at + outbox.LEASE)
    assert outbox.claim() == []  # the lease still holds at its last instant
    clock.move_to(claimed_at + outbox.LEASE + dt.timedelta(seconds=1))
    assert outbox.claim() == [stuck]
    assert outbox.deliver([stuck]).sent == [stuck]

    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.lease_expires_at) == (Status.SENT, 2, None)
    assert dispatch().sent == []


# --- cost ------------------------------------------------------------------------------------------


def _deliver_confirmations(world, count: int, first_day: int) -> int:
    """Book `count` patients (half by SMS), then count the statements one delivery sweep costs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories.clinic import PatientFactory
    from tests.scheduling.helpers import approve

    for i in range(count):
        patient = approve(PatientFactory(clinic=world.clinic, preferred_channel="sms" if i % 2 else "email"))
        _book(world, local(2027, 3, first_day + i // 4, 9 + 2 * (i % 4)), patient=patient)
    ids = outbox.claim(now=NOW + dt.timedelta(minutes=3))
    assert len(ids) == count
    with CaptureQueriesContext(connection) as queries:
        assert len(outbox.deliver(ids).sent) == count
    return len(queries)


def test_a_sweep_costs_the_same_statements_for_two_messages_or_twelve(world, clock, sms_outbox):
    assert _deliver_confirmations(world, 2, first_day=8) == _deliver_confirmations(world, 12, first_day=15)
    assert len(sms_outbox) == 7 and len(mail.outbox) == 7
