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
    claim = outbox.claim()
    assert len(outbox.deliver(claim.ids, lease=claim.lease).sent) == 1
    assert outbox.deliver(claim.ids, lease=claim.lease).sent == []  # delivering the same claim again is a no-op
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
    claim = outbox.claim()
    [message_id] = outbox.deliver(claim.ids, lease=claim.lease).sent
    assert outbox.deliver(claim.ids, lease=claim.lease).sent == []
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


def test_opting_out_of_both_channels_after_scheduling_cancels_at_send_time(world, clock, sms_outbox):
    session_id = _book(world, local(2027, 3, 5, 10))
    world.patient.email_opt_out = True
    world.patient.sms_opt_out = True
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
        assert outbox.claim().ids == []  # not due yet
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
    first = outbox.claim()  # ...and the worker dies before delivering
    [stuck] = first.ids
    row = _confirmation(session_id)
    assert (row.pk, row.status, row.lease_expires_at) == (stuck, Status.SENDING, claimed_at + outbox.LEASE)
    assert first.lease == row.lease_expires_at

    assert outbox.claim().ids == []
    clock.move_to(claimed_at + outbox.LEASE)
    assert outbox.claim().ids == []  # the lease still holds at its last instant
    clock.move_to(claimed_at + outbox.LEASE + dt.timedelta(seconds=1))
    again = outbox.claim()
    assert again.ids == [stuck]
    assert again.lease > first.lease  # each claim of a row stamps a later lease
    assert outbox.deliver(again.ids, lease=again.lease).sent == [stuck]

    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.lease_expires_at) == (Status.SENT, 2, None)
    assert dispatch().sent == []


class SweepingSmsBackend(BaseSmsBackend):
    """Runs a dispatcher sweep at a given moment while "sending", as another worker would meanwhile."""

    sweep_at: dt.datetime | None = None
    taken: list = []

    def send(self, message: SmsMessage) -> str:
        SweepingSmsBackend.taken.append(outbox.claim(now=self.sweep_at))
        return "accepted"


@pytest.mark.parametrize("stale_first", [True, False], ids=["late-task-first", "fresh-task-first"])
def test_a_late_task_cannot_send_a_row_a_later_sweep_took_back(world, clock, stale_first):
    session_id = _book(world, local(2027, 3, 5, 10))
    claimed_at = NOW + dt.timedelta(minutes=3)
    clock.move_to(claimed_at)
    stale = outbox.claim()  # its send_messages task waits in a backlog...
    clock.move_to(claimed_at + outbox.LEASE + dt.timedelta(seconds=1))
    fresh = outbox.claim()  # ...the lease runs out and the next sweep takes the row back
    assert fresh.ids == stale.ids == [_confirmation(session_id).pk]
    assert fresh.lease != stale.lease

    deliveries = [(stale, []), (fresh, fresh.ids)] if stale_first else [(fresh, fresh.ids), (stale, [])]
    for claim, expected in deliveries:
        assert outbox.deliver(claim.ids, lease=claim.lease).sent == expected
    for claim in (stale, fresh):  # and neither sends it again
        assert outbox.deliver(claim.ids, lease=claim.lease).sent == []

    assert len(mail.outbox) == 1
    row = _confirmation(session_id)
    assert (row.status, row.attempts) == (Status.SENT, 2)


def test_a_late_task_whose_rows_nobody_took_back_still_sends_and_keeps_them_while_sending(world, clock, settings):
    """The delivery renews the lease as it starts, so a sweep during the send cannot take the row."""
    settings.SMS_BACKEND = "tests.messaging.test_dispatch.SweepingSmsBackend"
    SweepingSmsBackend.taken = []
    world.patient.preferred_channel = "sms"
    world.patient.save()
    session_id = _book(world, local(2027, 3, 5, 10))
    claimed_at = NOW + dt.timedelta(minutes=3)
    clock.move_to(claimed_at)
    claim = outbox.claim()
    late = claimed_at + outbox.LEASE + dt.timedelta(seconds=1)  # the task starts after its lease ended
    clock.move_to(late)
    SweepingSmsBackend.sweep_at = late + dt.timedelta(seconds=1)

    assert outbox.deliver(claim.ids, lease=claim.lease).sent == claim.ids
    [during] = SweepingSmsBackend.taken
    assert during.ids == []  # the sweep that ran during the send left the row alone
    row = _confirmation(session_id)
    assert (row.status, row.attempts) == (Status.SENT, 1)


def test_a_row_whose_worker_keeps_dying_fails_after_the_last_attempt_and_shows_in_notifications(world, clock):
    session_id = _book(world, local(2027, 3, 5, 10))
    row = _confirmation(session_id)
    moment = NOW + dt.timedelta(minutes=3)
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        clock.move_to(moment)
        assert outbox.claim().ids == [row.pk]  # ...and each time the worker dies or hangs
        row.refresh_from_db()
        assert (row.status, row.attempts) == (Status.SENDING, attempt)
        moment = row.lease_expires_at + dt.timedelta(seconds=1)

    clock.move_to(moment)
    last = outbox.claim()
    assert (last.ids, last.failed) == ([], [row.pk])
    row.refresh_from_db()
    assert (row.status, row.attempts, row.lease_expires_at) == (Status.FAILED, outbox.MAX_ATTEMPTS, None)
    assert row.last_error == outbox.LEASE_LOST

    clock.move_to(moment + dt.timedelta(days=1))
    assert outbox.claim() == outbox.Claim(ids=[], lease=None)  # never taken back again
    assert mail.outbox == []
    [item] = desk(world).get("/api/v1/notifications/", {"status": "failed"}).json()["results"]
    assert (item["id"], item["attempts"], item["last_error"]) == (row.pk, outbox.MAX_ATTEMPTS, outbox.LEASE_LOST)


def test_a_lease_recovered_once_still_retries_and_sends(world, clock):
    """A dead worker costs one attempt, not the message: the next claim sends it."""
    session_id = _book(world, local(2027, 3, 5, 10))
    clock.move_to(NOW + dt.timedelta(minutes=3))
    outbox.claim()
    clock.move_to(NOW + dt.timedelta(minutes=3) + outbox.LEASE + dt.timedelta(seconds=1))
    assert len(dispatch().sent) == 1
    row = _confirmation(session_id)
    assert (row.status, row.attempts) == (Status.SENT, 2)


# --- a hung mail server ------------------------------------------------------------------------


def test_email_timeout_comes_from_the_environment_and_reaches_the_smtp_connection():
    """Base settings read EMAIL_TIMEOUT (default 10 s); Django's SMTP backend takes it as its socket timeout."""
    import os
    import subprocess
    import sys

    from django.conf import settings as django_settings
    from django.core.mail import get_connection

    assert "EMAIL_TIMEOUT" not in os.environ
    assert django_settings.EMAIL_TIMEOUT == 10
    assert get_connection("django.core.mail.backends.smtp.EmailBackend").timeout == 10
    probe = (
        "import django; django.setup(); from django.conf import settings; from django.core.mail import get_connection;"
        "print(settings.EMAIL_TIMEOUT, get_connection('django.core.mail.backends.smtp.EmailBackend').timeout)"
    )
    env = {**os.environ, "EMAIL_TIMEOUT": "3", "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run(  # noqa: S603 - our own interpreter, a fixed program
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["3.0", "3.0"]


@pytest.fixture
def hung_smtp_server(settings):
    """A mail server that accepts the connection and then never says a word."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = server.getsockname()
    settings.EMAIL_TIMEOUT = 1
    try:
        yield server
    finally:
        server.close()


def test_a_hung_mail_server_fails_the_send_within_the_timeout_and_is_retried(world, clock, hung_smtp_server):
    import time

    session_id = _book(world, local(2027, 3, 5, 10))
    clock.move_to(NOW + dt.timedelta(minutes=3))
    started = time.monotonic()
    outcome = dispatch()
    assert time.monotonic() - started < 5
    row = _confirmation(session_id)
    assert list(outcome.failed) == [row.pk]
    assert row.status == Status.PENDING
    assert row.last_error.startswith("mail server unavailable")  # smtplib reports the timeout as a disconnect


# --- DST day -----------------------------------------------------------------------------------


def test_a_reminder_due_on_the_dst_day_itself_goes_at_its_local_time(world, clock):
    """Sunday 2027-03-14, clocks jump from 02:00 to 03:00: a 10:00 appointment's 2-hour reminder is
    at 08:00 EDT (12:00 UTC, not 13:00), and the 48-hour one for Tuesday 09:00 is at 09:00 EDT."""
    sunday = _book(world, local(2027, 3, 14, 10))
    [day_before, same_day] = reminders(sunday)
    assert day_before.scheduled_for == local(2027, 3, 12, 10)
    assert same_day.scheduled_for == dt.datetime(2027, 3, 14, 12, 0, tzinfo=dt.UTC) == local(2027, 3, 14, 8)
    tuesday = _book(world, local(2027, 3, 16, 9), patient=world.new_patient())
    [dst_day, _] = reminders(tuesday)
    assert dst_day.scheduled_for == dt.datetime(2027, 3, 14, 13, 0, tzinfo=dt.UTC) == local(2027, 3, 14, 9)

    clock.move_to(local(2027, 3, 14, 7, 59))
    assert not set(dispatch().sent) & {same_day.pk, dst_day.pk}
    clock.move_to(local(2027, 3, 14, 8))
    assert dispatch().sent == [same_day.pk]
    clock.move_to(local(2027, 3, 14, 9))
    assert dispatch().sent == [dst_day.pk]
    assert mail.outbox[-2].subject.endswith("on Sunday 14 March at 10:00")
    assert mail.outbox[-1].subject.endswith("on Tuesday 16 March at 09:00")


def test_an_sms_held_overnight_into_the_dst_morning_wakes_at_eight_local(world, clock, sms_outbox):
    """Quiet hours across the spring-forward night end at 08:00 EDT (12:00 UTC), one real hour
    sooner than the same wall clock time the day before."""
    world.clinic.reminder_hours_before = [12]
    world.clinic.save()
    world.patient.preferred_channel = "sms"
    world.patient.save()
    session_id = _book(world, local(2027, 3, 14, 10, 30))
    [reminder] = reminders(session_id)
    assert reminder.scheduled_for == local(2027, 3, 13, 22, 30)  # Saturday night, EST
    clock.move_to(NOW + dt.timedelta(minutes=3))
    dispatch()  # the confirmation
    sms_outbox.clear()

    clock.move_to(local(2027, 3, 13, 22, 30))
    outcome = dispatch()
    wake = dt.datetime(2027, 3, 14, 12, 0, tzinfo=dt.UTC)
    assert outcome.deferred == {wake: [reminder.pk]}
    assert wake == local(2027, 3, 14, 8)
    assert wake - local(2027, 3, 13, 22, 30) == dt.timedelta(hours=8, minutes=30)  # 9.5 wall-clock hours
    clock.move_to(wake - dt.timedelta(seconds=1))
    assert dispatch().sent == []
    clock.move_to(wake)
    assert dispatch().sent == [reminder.pk]
    [text] = sms_outbox
    assert "Sunday 14 March at 10:30" in text.body


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
    claim = outbox.claim(now=NOW + dt.timedelta(minutes=3))
    assert len(claim.ids) == count
    with CaptureQueriesContext(connection) as queries:
        assert len(outbox.deliver(claim.ids, lease=claim.lease).sent) == count
    return len(queries)


def test_a_sweep_costs_the_same_statements_for_two_messages_or_twelve(world, clock, sms_outbox):
    assert _deliver_confirmations(world, 2, first_day=8) == _deliver_confirmations(world, 12, first_day=15)
    assert len(sms_outbox) == 7 and len(mail.outbox) == 7
