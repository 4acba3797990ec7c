"""A message goes where the recipient can be reached when it is sent, not where they could when it was
scheduled: a changed email or phone, a new preferred channel or an opt-out since booking all count, and
the row then records the address and channel actually used. Staff notices follow the member's contact."""

from __future__ import annotations

import datetime as dt

from django.core import mail

from clinic.models import Alert
from clinic.services.alerts import alert_raise
from tests.messaging.helpers import Kind, Status, dispatch, rows_about, session_rows
from tests.scheduling.helpers import NOW, book, local


def _book(world, start) -> int:
    response = book(world.front_desk, world.patient, world.iv, start)
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _confirmation(session_id):
    return session_rows(session_id, Kind.BOOKING_CONFIRMATION).get()


def test_a_changed_email_address_receives_the_message(world, clock, sms_outbox):
    old = world.patient.email
    session_id = _book(world, local(2027, 3, 5, 10))
    assert _confirmation(session_id).recipient == old
    world.patient.email = "moved-house@mail.test"
    world.patient.save()

    clock.move_to(NOW + dt.timedelta(minutes=3))
    [sent] = dispatch().sent
    [email] = mail.outbox
    assert email.to == ["moved-house@mail.test"]
    row = _confirmation(session_id)
    assert (row.pk, row.status, row.channel, row.recipient) == (sent, Status.SENT, "email", "moved-house@mail.test")
    assert sms_outbox == []


def test_a_new_preferred_channel_and_phone_are_used_and_recorded(world, clock, sms_outbox):
    session_id = _book(world, local(2027, 3, 5, 10))
    world.patient.preferred_channel = "sms"
    world.patient.phone = "+12025550177"
    world.patient.save()

    clock.move_to(local(2027, 3, 3, 10))
    assert len(dispatch().sent) == 2  # the confirmation and the 48-hour reminder
    assert mail.outbox == []
    assert [text.to for text in sms_outbox] == ["+12025550177"] * 2
    sent = session_rows(session_id).filter(status=Status.SENT)
    assert set(sent.values_list("channel", "recipient")) == {("sms", "+12025550177")}
    # The 2-hour reminder, not yet due, is re-addressed when it is sent, not before.
    [later] = session_rows(session_id).filter(status=Status.PENDING)
    assert (later.channel, later.recipient) == ("email", world.patient.email)


def test_opting_out_of_the_stored_channel_falls_back_to_the_other(world, clock, sms_outbox):
    session_id = _book(world, local(2027, 3, 5, 10))
    world.patient.email_opt_out = True
    world.patient.save()

    clock.move_to(NOW + dt.timedelta(minutes=3))
    [sent] = dispatch().sent
    assert mail.outbox == []
    [text] = sms_outbox
    assert text.to == str(world.patient.phone)
    row = _confirmation(session_id)
    assert (row.pk, row.channel, row.recipient) == (sent, "sms", str(world.patient.phone))


def test_a_message_re_addressed_to_sms_waits_out_quiet_hours(world, clock, sms_outbox):
    """The channel decided at send time is the one quiet hours apply to."""
    world.clinic.reminder_hours_before = [12]
    world.clinic.save()
    session_id = _book(world, local(2027, 3, 3, 10, 30))
    clock.move_to(NOW + dt.timedelta(minutes=3))
    dispatch()  # the confirmation, by email
    world.patient.preferred_channel = "sms"
    world.patient.save()

    clock.move_to(local(2027, 3, 2, 22, 30))
    outcome = dispatch()
    [reminder] = session_rows(session_id, Kind.SESSION_REMINDER)
    assert outcome.deferred == {local(2027, 3, 3, 8): [reminder.pk]}
    assert (reminder.status, reminder.channel) == (Status.PENDING, "sms")
    assert sms_outbox == []
    assert len(mail.outbox) == 1


def test_a_patient_with_no_address_left_gets_nothing(world, clock, sms_outbox):
    session_id = _book(world, local(2027, 3, 5, 10))
    world.patient.email = ""
    world.patient.phone = ""
    world.patient.save()

    clock.move_to(NOW + dt.timedelta(minutes=3))
    outcome = dispatch()
    assert outcome.cancelled["no_channel"] == [_confirmation(session_id).pk]
    assert mail.outbox == [] and sms_outbox == []


def _critical_alert_for_a_nurse_with_a_phone(world, *, source_id: int) -> Alert:
    """A critical alert, whose notice goes to the clinic's nurse by email and (she has a phone) SMS."""
    world.nurse.phone = "+12025550111"
    world.nurse.save()
    return alert_raise(
        clinic_id=world.clinic.pk,
        patient_id=world.patient.pk,
        kind=Alert.Kind.SUICIDE_RISK,
        severity=Alert.Severity.CRITICAL,
        message="PHQ-9 item 9 answered 2 of 3: same-day clinician follow-up.",
        source_type="questionnaire_response",
        source_id=source_id,
    )


def test_a_staff_notice_goes_to_the_members_current_email_and_phone(world, clock, sms_outbox):
    alert = _critical_alert_for_a_nurse_with_a_phone(world, source_id=1)
    notices = rows_about("alert", alert.pk, Kind.ALERT_NOTICE).filter(staff=world.nurse)
    assert set(notices.values_list("channel", "recipient")) == {
        ("email", world.nurse.user.email),
        ("sms", "+12025550111"),
    }
    world.nurse.user.email = "nurse-new@clinic.test"
    world.nurse.user.save()
    world.nurse.phone = "+12025550144"
    world.nurse.save()

    dispatch()
    assert [m.to for m in mail.outbox] == [["nurse-new@clinic.test"]]
    assert [t.to for t in sms_outbox] == ["+12025550144"]
    assert set(notices.values_list("status", "channel", "recipient")) == {
        (Status.SENT, "email", "nurse-new@clinic.test"),
        (Status.SENT, "sms", "+12025550144"),
    }


def test_a_staff_member_who_removed_their_phone_gets_the_notice_by_email_only(world, clock, sms_outbox):
    alert = _critical_alert_for_a_nurse_with_a_phone(world, source_id=2)
    world.nurse.phone = ""
    world.nurse.save()

    outcome = dispatch()
    sms_row = rows_about("alert", alert.pk, Kind.ALERT_NOTICE).get(staff=world.nurse, channel="sms")
    assert sms_row.pk in outcome.cancelled["no_channel"]
    assert [m.to for m in mail.outbox] == [[world.nurse.user.email]]
    assert sms_outbox == []
