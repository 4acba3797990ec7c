"""Appointment messages say how to prepare: the booking confirmation (which arrives days ahead, in time
to arrange a lift) and every reminder carry the escort rule, and the fasting rule for the nasal spray
(label: no food 2 h, no liquids 30 min before), by email and by SMS, in the clinic's language. They stay
discreet: the preparation is said without naming the drug, the treatment or a diagnosis.

The instructions are the product's (CLINICAL.md), the same for every clinic; a clinic cannot yet word
its own (there is no field for it).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from tests.messaging.helpers import dispatch
from tests.messaging.test_discreet import forbidden_in
from tests.scheduling.helpers import NOW, book, local

ESCORT = {
    "email": "Bring someone to take you home: you must not drive until the next day, after a night's sleep.",
    "sms": "Bring someone to drive you home; no driving until tomorrow.",
}
FASTING = {
    "email": "Please do not eat for 2 hours, or drink anything for 30 minutes, before your appointment.",
    "sms": "No food for 2 hours and no drinks for 30 minutes before.",
}
START = local(2027, 3, 5, 10)  # Friday; the 48-hour reminder goes on Wednesday 10:00


def _received(channel: str, patient, sms_outbox) -> list[str]:
    """Everything ``patient`` has been sent so far on ``channel``, as text, oldest first."""
    if channel == "email":
        return [f"{m.subject}\n{m.body}" for m in mail.outbox if m.to == [patient.email]]
    return [m.body for m in sms_outbox if m.to == str(patient.phone)]


def _confirmation_then_reminder(world, clock, sms_outbox, *, channel: str, treatment_type) -> tuple[str, str]:
    patient = world.new_patient(preferred_channel=channel)
    response = book(world.front_desk, patient, treatment_type, START)
    assert response.status_code == 201, response.content
    clock.move_to(NOW + dt.timedelta(minutes=3))
    assert len(dispatch().sent) == 1
    [confirmation] = _received(channel, patient, sms_outbox)
    clock.move_to(local(2027, 3, 3, 10))
    assert len(dispatch().sent) == 1
    [_, reminder] = _received(channel, patient, sms_outbox)
    return confirmation, reminder


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_the_confirmation_and_the_reminder_of_a_spray_session_say_fast_and_bring_an_escort(
    world, clock, sms_outbox, channel
):
    texts = _confirmation_then_reminder(world, clock, sms_outbox, channel=channel, treatment_type=world.esketamine)
    for text in texts:
        assert ESCORT[channel] in text
        assert FASTING[channel] in text
        assert forbidden_in(text) == [], text
    assert "Friday 5 March at 10:00" in texts[0] and "Friday 5 March at 10:00" in texts[1]


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_an_iv_session_needs_an_escort_but_no_fasting(world, clock, sms_outbox, channel):
    texts = _confirmation_then_reminder(world, clock, sms_outbox, channel=channel, treatment_type=world.iv)
    for text in texts:
        assert ESCORT[channel] in text
        assert FASTING[channel] not in text
        assert "2 hours" not in text
        assert forbidden_in(text) == [], text


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_a_course_confirmation_says_how_to_prepare(world, clock, sms_outbox, channel):
    patient = world.new_patient(preferred_channel=channel)
    response = world.front_desk.post(
        "/api/v1/series/",
        {
            "patient": patient.pk,
            "treatment_type": world.esketamine.pk,
            "protocol": "esketamine-trd-induction",
            "first_start": local(2027, 3, 8, 10).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    clock.move_to(NOW + dt.timedelta(minutes=3))
    assert len(dispatch().sent) == 1
    [confirmation] = _received(channel, patient, sms_outbox)
    assert "appointments" in confirmation  # the course's own wording, not a single session's
    assert ESCORT[channel] in confirmation
    assert FASTING[channel] in confirmation
    assert forbidden_in(confirmation) == [], confirmation


def test_a_spanish_clinics_confirmation_gives_the_preparation_in_spanish(world, clock, sms_outbox):
    world.clinic.language = "es"
    world.clinic.save(update_fields=["language"])
    patient = world.new_patient(preferred_channel="email")
    assert book(world.front_desk, patient, world.esketamine, START).status_code == 201
    clock.move_to(NOW + dt.timedelta(minutes=3))
    dispatch()
    [confirmation] = _received("email", patient, sms_outbox)
    assert "Venga con alguien que le lleve a casa: no debe conducir hasta el día siguiente" in confirmation
    assert "no coma nada en las 2 horas" in confirmation
    assert ESCORT["email"] not in confirmation and FASTING["email"] not in confirmation
