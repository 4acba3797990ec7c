"""Discreet messages: phones and inboxes are read by others, so nothing a patient receives names a drug,
a treatment or a diagnosis (DESIGN.md section 4).

Two scans: every template file of ``clinic/templates/messages/`` as written, and the real output of
every patient-facing kind, by email and by SMS, rendered by the dispatcher at send time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail

from clinic.messaging.discreet import treatment_words_in
from clinic.models import OutboundMessage
from intake.messages import survey_create
from tests.messaging.helpers import Kind, dispatch
from tests.scheduling.helpers import NOW, book, local

PATIENT_KINDS = {
    Kind.BOOKING_CONFIRMATION,
    Kind.SESSION_REMINDER,
    Kind.INTAKE_INVITATION,
    Kind.SURVEY_INVITATION,
    Kind.SURVEY_REMINDER,
}
TEMPLATES = Path(settings.BASE_DIR) / "clinic" / "templates" / "messages"


def forbidden_in(text: str) -> list[str]:
    return treatment_words_in(text)


def test_the_word_list_catches_what_it_should():
    assert forbidden_in("Your Ketamine infusion") == ["ketamine", "infusion"]
    assert forbidden_in("See you at http://x/forms/aDoSEb/ soon") == []


def test_no_template_file_names_a_drug_treatment_or_diagnosis():
    files = sorted(p for p in TEMPLATES.iterdir() if p.is_file())
    assert {p.name.split(".", 1)[0] for p in files} >= {k.value for k in PATIENT_KINDS} | {"alert_notice"}
    for kind in {p.name.split(".", 1)[0] for p in files}:
        for suffix in (".txt", ".subject.txt", ".sms.txt"):
            assert (TEMPLATES / f"{kind}{suffix}").is_file()
    leaks = {p.name: forbidden_in(p.read_text(encoding="utf-8")) for p in files}
    assert {name: words for name, words in leaks.items() if words} == {}


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_every_patient_message_as_sent_is_discreet(world, clock, sms_outbox, channel):
    patients = [world.new_patient(preferred_channel=channel, first_name="Robin") for _ in range(5)]
    on_iv, on_spray, on_course, invited, surveyed = patients
    assert book(world.front_desk, on_iv, world.iv, local(2027, 3, 4, 10)).status_code == 201
    assert book(world.front_desk, on_spray, world.esketamine, local(2027, 3, 4, 14)).status_code == 201
    course = world.front_desk.post(
        "/api/v1/series/",
        {
            "patient": on_course.pk,
            "treatment_type": world.iv.pk,
            "protocol": "iv-induction",
            "first_start": local(2027, 3, 8, 15).isoformat(),
        },
        format="json",
    )
    assert course.status_code == 201, course.content
    assert world.front_desk.post(f"/api/v1/patients/{invited.pk}/intake-invitations/").status_code == 201
    survey_create(patient=surveyed, codes=("phq9", "gad7"), send_at=NOW, reason="discreet-test")

    clock.move_to(local(2027, 3, 3, 12))
    outcome = dispatch()
    assert outcome.failed == {}
    assert outcome.deferred == {}
    sent = set(OutboundMessage.objects.filter(pk__in=outcome.sent).values_list("kind", flat=True))
    assert sent == PATIENT_KINDS

    if channel == "email":
        texts = [part for m in mail.outbox for part in (m.subject, m.body)]
        assert len(mail.outbox) == len(outcome.sent)
    else:
        texts = [m.body for m in sms_outbox]
        assert len(sms_outbox) == len(outcome.sent)
    joined = "\n".join(texts)
    # Both variants of the appointment texts were rendered: fasting (the spray) and a whole course.
    assert "2 hours" in joined
    assert "appointments" in joined
    assert joined.count("/forms/") >= 4  # intake, survey and two survey reminders carry a link
    assert {text[:40]: forbidden_in(text) for text in texts if forbidden_in(text)} == {}
