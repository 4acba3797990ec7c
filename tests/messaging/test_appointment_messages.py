"""Booking confirmations and reminders follow the session: booked, moved, cancelled, booked as a series.

Everything goes through the HTTP API and the real dispatcher (claim + deliver) on a frozen clock.
"""

from __future__ import annotations

import datetime as dt

from django.core import mail

from clinic.messaging import outbox
from clinic.models import OutboundMessage
from tests.messaging.helpers import (
    Kind,
    Status,
    desk,
    dispatch,
    emails_to,
    reminders,
    rows_about,
    session,
    session_rows,
)
from tests.scheduling.helpers import NOW, NY, book, local


def _book(world, start, treatment_type=None, patient=None) -> int:
    response = book(world.front_desk, patient or world.patient, treatment_type or world.iv, start)
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _cancel(world, session_id, **extra):
    response = desk(world).post(
        f"/api/v1/sessions/{session_id}/cancel/", {"reason": "Patient called", **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    return response


def _reschedule(world, session_id, start, **extra):
    response = desk(world).post(
        f"/api/v1/sessions/{session_id}/reschedule/", {"start": start.isoformat(), **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    return response


def test_booking_schedules_a_confirmation_and_reminders_48_and_2_hours_before(world):
    start = local(2027, 3, 5, 10)
    session_id = _book(world, start)

    [confirmation] = session_rows(session_id, Kind.BOOKING_CONFIRMATION)
    assert confirmation.scheduled_for == NOW + dt.timedelta(minutes=3)
    assert [(r.scheduled_for, r.about_time) for r in reminders(session_id)] == [
        (local(2027, 3, 3, 10), start),
        (local(2027, 3, 5, 8), start),
    ]
    for row in session_rows(session_id):
        assert (row.status, row.channel, row.recipient, row.patient_id) == (
            Status.PENDING,
            "email",
            world.patient.email,
            world.patient.pk,
        )


def test_messages_are_plain_text_names_and_addresses_arrive_as_written(world, clock):
    """Nothing in a message is HTML: an apostrophe or an ampersand is not turned into an entity."""
    world.patient.first_name = "Siobhán O'Brien"
    world.patient.save()
    world.clinic.name, world.clinic.address_line1 = "Hart & Co clinic", "1 Main St <rear door>"
    world.clinic.save()
    _book(world, local(2027, 3, 5, 10))
    clock.move_to(NOW + dt.timedelta(minutes=3))
    assert len(dispatch().sent) == 1
    [email] = mail.outbox
    assert email.subject == "Your appointment at Hart & Co clinic is booked"
    assert "Siobhán O'Brien" in email.body and "1 Main St <rear door>" in email.body
    assert "&amp;" not in email.body + email.subject and "&#x27;" not in email.body and "&lt;" not in email.body


def test_the_clinic_chooses_the_confirmation_delay_and_the_offsets(world):
    world.clinic.booking_confirmation_delay_minutes = 10
    world.clinic.reminder_hours_before = [72, 24]
    world.clinic.save()
    session_id = _book(world, local(2027, 3, 5, 10))

    [confirmation] = session_rows(session_id, Kind.BOOKING_CONFIRMATION)
    assert confirmation.scheduled_for == NOW + dt.timedelta(minutes=10)
    assert [r.scheduled_for for r in reminders(session_id)] == [local(2027, 3, 2, 10), local(2027, 3, 4, 10)]


def test_offsets_already_in_the_past_are_skipped(world):
    tomorrow = _book(world, local(2027, 3, 2, 9))  # 21 hours away: no 48-hour reminder
    assert [r.scheduled_for for r in reminders(tomorrow)] == [local(2027, 3, 2, 7)]
    today = _book(world, local(2027, 3, 1, 13, 30), patient=world.new_patient())  # 90 minutes away
    assert reminders(today) == []
    assert session_rows(today, Kind.BOOKING_CONFIRMATION).count() == 1


def test_the_confirmation_goes_after_the_delay_exactly_once(world, clock):
    session_id = _book(world, local(2027, 3, 5, 10))

    clock.move_to(NOW + dt.timedelta(minutes=2, seconds=59))
    assert dispatch().sent == []
    clock.move_to(NOW + dt.timedelta(minutes=3))
    [sent_id] = dispatch().sent
    assert dispatch().sent == []  # a second sweep finds nothing

    [email] = mail.outbox
    assert email.to == [world.patient.email]
    assert email.subject == "Your appointment at Riverside clinic is booked"
    assert "Friday 5 March at 10:00" in email.body
    assert email.extra_headers["X-Clinic-Message-Id"] == str(sent_id)
    confirmation = session_rows(session_id, Kind.BOOKING_CONFIRMATION).get()
    assert (confirmation.pk, confirmation.status, confirmation.attempts) == (sent_id, Status.SENT, 1)
    assert confirmation.sent_at == NOW + dt.timedelta(minutes=3)


def test_an_immediate_cancel_sends_nothing_at_all(world, clock):
    session_id = _book(world, local(2027, 3, 5, 10))
    clock.move_to(NOW + dt.timedelta(minutes=2))
    _cancel(world, session_id)

    assert set(session_rows(session_id).values_list("status", "cancel_reason")) == {
        (Status.CANCELLED, "session_cancelled")
    }
    for moment in (NOW + dt.timedelta(minutes=3), local(2027, 3, 3, 10), local(2027, 3, 5, 8)):
        clock.move_to(moment)
        assert dispatch().sent == []
    assert mail.outbox == []


def test_cancelling_later_cancels_the_pending_reminders(world, clock):
    session_id = _book(world, local(2027, 3, 5, 10))
    clock.move_to(NOW + dt.timedelta(minutes=5))
    assert len(dispatch().sent) == 1  # the confirmation
    _cancel(world, session_id)

    assert [r.status for r in reminders(session_id)] == [Status.CANCELLED, Status.CANCELLED]
    assert session_rows(session_id, Kind.BOOKING_CONFIRMATION).get().status == Status.SENT
    clock.move_to(local(2027, 3, 5, 9))
    assert dispatch().sent == []
    assert len(mail.outbox) == 1


def test_rescheduling_moves_the_pending_reminders(world, clock):
    session_id = _book(world, local(2027, 3, 5, 10))
    before = {r.pk for r in reminders(session_id)}
    new_start = local(2027, 3, 9, 14)
    _reschedule(world, session_id, new_start)

    moved = reminders(session_id)
    assert {r.pk for r in moved} == before  # the same rows, moved, not new ones
    assert [(r.scheduled_for, r.about_time, r.status) for r in moved] == [
        (local(2027, 3, 7, 14), new_start, Status.PENDING),
        (local(2027, 3, 9, 12), new_start, Status.PENDING),
    ]

    clock.move_to(local(2027, 3, 3, 10, 30))  # the old 48-hour time: only the confirmation is due
    assert [m.kind for m in OutboundMessage.objects.filter(pk__in=dispatch().sent)] == [Kind.BOOKING_CONFIRMATION]
    clock.move_to(local(2027, 3, 7, 14))
    assert len(dispatch().sent) == 1
    reminder = mail.outbox[-1]
    assert reminder.subject == "Reminder: your appointment at Riverside clinic on Tuesday 9 March at 14:00"


def test_moving_closer_drops_a_reminder_whose_time_has_passed(world):
    session_id = _book(world, local(2027, 3, 5, 10))
    _reschedule(world, session_id, local(2027, 3, 2, 15))

    rows = {r.dedupe_key.split(":")[2]: r for r in reminders(session_id)}
    first, second = rows["48h"], rows["2h"]
    assert (first.status, first.cancel_reason) == (Status.CANCELLED, "moved_too_close")
    assert (second.status, second.scheduled_for, second.about_time) == (
        Status.PENDING,
        local(2027, 3, 2, 13),
        local(2027, 3, 2, 15),
    )


def test_moving_further_adds_a_reminder_skipped_at_booking(world):
    session_id = _book(world, local(2027, 3, 2, 10))  # 22 hours away: only the 2-hour reminder
    assert len(reminders(session_id)) == 1
    _reschedule(world, session_id, local(2027, 3, 8, 10))

    assert [(r.scheduled_for, r.status) for r in reminders(session_id)] == [
        (local(2027, 3, 6, 10), Status.PENDING),
        (local(2027, 3, 8, 8), Status.PENDING),
    ]


def test_a_series_gets_one_confirmation_and_reminders_for_every_session(world, clock):
    response = world.front_desk.post(
        "/api/v1/series/",
        {
            "patient": world.patient.pk,
            "treatment_type": world.iv.pk,
            "protocol": "iv-induction",
            "first_start": local(2027, 3, 8, 10).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    sessions = body["sessions"]
    assert len(sessions) == 6

    for item in sessions:
        start = dt.datetime.fromisoformat(item["start"])
        day = start.astimezone(NY).date()
        assert session_rows(item["id"], Kind.BOOKING_CONFIRMATION).count() == 0
        assert [(r.scheduled_for, r.about_time) for r in reminders(item["id"])] == [
            (dt.datetime.combine(day - dt.timedelta(days=2), dt.time(10), tzinfo=NY), start),
            (dt.datetime.combine(day, dt.time(8), tzinfo=NY), start),
        ]
    [confirmation] = rows_about("course", body["course"], Kind.BOOKING_CONFIRMATION)
    assert confirmation.scheduled_for == NOW + dt.timedelta(minutes=3)

    clock.move_to(NOW + dt.timedelta(minutes=3))
    assert len(dispatch().sent) == 1
    [email] = mail.outbox
    assert "Your 6 appointments at Riverside clinic are booked." in email.body
    assert "The first one is on Monday 8 March at 10:00." in email.body


def test_a_reminder_is_sent_at_its_time_with_what_to_bring(world, clock):
    session_id = _book(world, local(2027, 3, 5, 10), world.esketamine)
    clock.move_to(NOW + dt.timedelta(minutes=3))
    dispatch()  # the confirmation
    clock.move_to(local(2027, 3, 3, 9, 59))
    assert dispatch().sent == []
    clock.move_to(local(2027, 3, 3, 10))
    [sent] = dispatch().sent
    assert session_rows(session_id).get(pk=sent).kind == Kind.SESSION_REMINDER
    [reminder] = [m for m in emails_to(world.patient.email) if m.subject.startswith("Reminder")]
    assert "Friday 5 March at 10:00" in reminder.body
    assert "do not eat for 2 hours" in reminder.body  # fasting before the nasal spray
    assert "Bring someone to take you home" in reminder.body
    assert session(session_id).status == "booked"


# --- the reason is checked again at send time ------------------------------------------------------


def test_a_claimed_reminder_of_a_session_cancelled_meanwhile_is_not_sent(world, clock):
    session_id = _book(world, local(2027, 3, 5, 10))
    clock.move_to(local(2027, 3, 3, 10))
    claimed = outbox.claim()
    assert len(claimed.ids) == 2  # the confirmation and the 48-hour reminder, now "sending"
    _cancel(world, session_id)  # cancelling touches only pending rows: these two are in flight

    outcome = outbox.deliver(claimed.ids, lease=claimed.lease)
    assert outcome.sent == []
    assert sorted(outcome.cancelled["no_longer_applies"]) == sorted(claimed.ids)
    assert mail.outbox == []
    assert set(session_rows(session_id).values_list("status", flat=True)) == {Status.CANCELLED}


def test_a_claimed_reminder_of_a_session_moved_meanwhile_is_not_sent(world, clock):
    session_id = _book(world, local(2027, 3, 5, 10))
    clock.move_to(NOW + dt.timedelta(minutes=3))
    dispatch()  # the confirmation
    clock.move_to(local(2027, 3, 3, 10))
    claim = outbox.claim()
    [claimed] = claim.ids
    _reschedule(world, session_id, local(2027, 3, 9, 14))

    outcome = outbox.deliver(claim.ids, lease=claim.lease)
    assert outcome.cancelled["no_longer_applies"] == [claimed]
    assert len(mail.outbox) == 1  # only the confirmation
    stale = OutboundMessage.objects.get(pk=claimed)
    assert (stale.status, stale.cancel_reason) == (Status.CANCELLED, "no_longer_applies")
    # The move scheduled both reminders for the new time, the 48-hour one included.
    pending = session_rows(session_id, Kind.SESSION_REMINDER).filter(status=Status.PENDING).order_by("scheduled_for")
    assert [r.about_time for r in pending] == [local(2027, 3, 9, 14)] * 2


def test_a_reminder_for_a_session_already_under_way_is_not_sent(world, clock):
    session_id = _book(world, local(2027, 3, 5, 10))
    clock.move_to(local(2027, 3, 5, 10, 1))  # e.g. every dispatcher was down for hours
    outcome = dispatch()
    kinds = dict(session_rows(session_id).values_list("pk", "kind"))
    assert [kinds[pk] for pk in outcome.sent] == [Kind.BOOKING_CONFIRMATION]
    assert sorted(kinds[pk] for pk in outcome.cancelled["no_longer_applies"]) == [Kind.SESSION_REMINDER] * 2
    assert [m.subject for m in mail.outbox] == ["Your appointment at Riverside clinic is booked"]


def test_cancelling_a_whole_series_at_once_sends_no_course_confirmation(world, clock):
    response = world.front_desk.post(
        "/api/v1/series/",
        {
            "patient": world.patient.pk,
            "treatment_type": world.iv.pk,
            "protocol": "iv-induction",
            "first_start": local(2027, 3, 8, 10).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    first = response.json()["sessions"][0]["id"]
    clock.move_to(NOW + dt.timedelta(minutes=1))
    _cancel(world, first, scope="all")

    clock.move_to(NOW + dt.timedelta(minutes=3))
    outcome = dispatch()
    assert outcome.sent == []
    [confirmation] = rows_about("course", response.json()["course"], Kind.BOOKING_CONFIRMATION)
    assert outcome.cancelled["no_longer_applies"] == [confirmation.pk]  # re-checked at send time
    assert mail.outbox == []


def test_moving_back_and_forth_keeps_a_reminder_for_the_final_time(world):
    """Book 3/5, move to 3/2 (the 48-hour reminder is dropped), then to 3/9: it comes back."""
    session_id = _book(world, local(2027, 3, 5, 10))
    _reschedule(world, session_id, local(2027, 3, 2, 15))
    _reschedule(world, session_id, local(2027, 3, 9, 10))
    pending = [(r.scheduled_for, r.about_time) for r in reminders(session_id) if r.status == Status.PENDING]
    assert pending == [(local(2027, 3, 7, 10), local(2027, 3, 9, 10)), (local(2027, 3, 9, 8), local(2027, 3, 9, 10))]


def test_a_session_moved_after_its_reminder_went_out_is_reminded_of_the_new_time(world, clock):
    session_id = _book(world, local(2027, 3, 5, 10))
    clock.move_to(local(2027, 3, 3, 10))
    dispatch()  # the 48-hour reminder (and the confirmation) go out
    assert [r.status for r in reminders(session_id)] == [Status.SENT, Status.PENDING]
    _reschedule(world, session_id, local(2027, 3, 11, 10))
    pending = [(r.scheduled_for, r.about_time) for r in reminders(session_id) if r.status == Status.PENDING]
    assert pending == [(local(2027, 3, 9, 10), local(2027, 3, 11, 10)), (local(2027, 3, 11, 8), local(2027, 3, 11, 10))]
