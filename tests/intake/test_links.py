"""Patient-link requirements end to end: hashed tokens, the clinic's link lifetime, crisis text,
version pinning, the alert a submit raises being acknowledged, and an all-or-nothing submit."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import time_machine
from django.apps import apps
from rest_framework.test import APIClient

from clinic.access import Actor, Role
from clinic.models import Alert, AuditEvent, Patient
from intake.models import Assessment, FormInvitation, InvitationToken, Questionnaire, QuestionnaireResponse
from intake.services.forms import form_draft_save, form_submit
from intake.services.invitations import intake_invitation_issue
from tests.factories.clinic import PatientFactory
from tests.factories.intake import (
    CUSTOM_DEFINITION,
    FormInvitationFactory,
    InvitationQuestionnaireFactory,
    InvitationTokenFactory,
    QuestionnaireFactory,
)
from tests.intake.answers import clean_intake, phq9

RISKY = clean_intake(phq9=phq9(1, 1, 1, 1, 0, 0, 0, 0, 2))


@pytest.fixture
def front_desk(clinic, make_staff, client_for):
    return client_for(make_staff(clinic, Role.FRONT_DESK))


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic)


def issue(front_desk, patient) -> str:
    response = front_desk.post(f"/api/v1/patients/{patient.pk}/intake-invitations/")
    assert response.status_code == 201, response.content
    return response.json()["url"].rstrip("/").rsplit("/", 1)[-1]


def form(token: str) -> str:
    return f"/api/v1/forms/{token}/"


def fill_all(client: APIClient, token: str, answers: dict[str, dict]) -> None:
    for code, values in answers.items():
        response = client.put(f"{form(token)}responses/{code}/", {"answers": values}, format="json")
        assert response.status_code == 200, (code, response.content)


# --- the token ---------------------------------------------------------------------------------------


def test_link_token_is_stored_only_as_its_hash(front_desk, patient, api_client):
    token = issue(front_desk, patient)
    assert len(token) >= 43  # 256 bits, URL-safe
    assert api_client.get(form(token)).status_code == 200
    fill_all(api_client, token, {"phq9": {"phq9-1": 1}})

    stored = InvitationToken.objects.get(invitation__patient=patient)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # No row of any table (invitations, tokens, the outbox, audit, sessions...) holds the token.
    found = []
    for model in apps.get_models(include_auto_created=True):
        for row in model._default_manager.values():
            if any(token in str(value) for value in row.values()):
                found.append(model._meta.label)
    assert found == []


# --- the clinic's link lifetime ----------------------------------------------------------------------


def test_link_lifetime_follows_the_clinic_setting(front_desk, patient, clinic, api_client):
    clinic.intake_link_valid_days = 3
    clinic.save()
    token = issue(front_desk, patient)
    invitation = FormInvitation.objects.get(patient=patient)
    assert invitation.expires_at == invitation.created_at + dt.timedelta(days=3)
    three_days = invitation.created_at + dt.timedelta(days=3)

    with time_machine.travel(three_days - dt.timedelta(minutes=1), tick=False):
        assert api_client.get(form(token)).status_code == 200
        fill_all(api_client, token, clean_intake())
    with time_machine.travel(three_days + dt.timedelta(minutes=1), tick=False):
        opened = api_client.get(form(token))
        assert opened.status_code == 410
        assert opened.json()["code"] == "link_expired"
        # Everything was filled in before the deadline, but the submit comes too late.
        submitted = api_client.post(f"{form(token)}submit/")
        assert submitted.status_code == 410
        assert submitted.json()["code"] == "link_expired"
    assert not Assessment.objects.exists()
    assert not QuestionnaireResponse.objects.filter(status="submitted").exists()
    assert FormInvitation.objects.get(pk=invitation.pk).submitted_at is None


# --- risk ----------------------------------------------------------------------------------------------


def test_submit_shows_the_clinics_own_crisis_resources(front_desk, patient, clinic, api_client):
    clinic.crisis_resources = "Call the Riverside crisis team on 202-555-0177, day or night, or go to the nearest ER."
    clinic.save()
    token = issue(front_desk, patient)
    fill_all(api_client, token, RISKY)
    body = api_client.post(f"{form(token)}submit/").json()
    assert body["risk_signalled"] is True
    assert body["crisis_resources"] == clinic.crisis_resources


def test_the_alert_a_submit_raises_is_acknowledged_by_a_clinician(
    front_desk, patient, clinic, api_client, make_staff, client_for
):
    token = issue(front_desk, patient)
    fill_all(api_client, token, RISKY)
    assert api_client.post(f"{form(token)}submit/").json()["risk_signalled"] is True
    alert = Alert.objects.get(patient=patient)
    response_id = QuestionnaireResponse.objects.get(patient=patient, questionnaire__code="phq9").pk
    assert (alert.source_type, alert.source_id) == ("questionnaire_response", str(response_id))

    nurse_member = make_staff(clinic, Role.NURSE)
    nurse = client_for(nurse_member)
    open_alerts = nurse.get("/api/v1/alerts/").json()["results"]
    assert [(a["id"], a["kind"], a["severity"], a["open"]) for a in open_alerts] == [
        (alert.pk, "suicide_risk", "critical", True)
    ]
    missing_note = nurse.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {}, format="json")
    assert missing_note.status_code == 400
    assert "note" in missing_note.json()["errors"]

    done = nurse.post(
        f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "Called the patient; safety plan agreed."}, format="json"
    )
    assert done.status_code == 200, done.content
    assert done.json()["open"] is False
    assert done.json()["acknowledged_by"] == nurse_member.user.username
    assert nurse.get("/api/v1/alerts/").json()["results"] == []
    alert.refresh_from_db()
    assert alert.acknowledged_by == nurse_member.user
    assert alert.acknowledgement_note == "Called the patient; safety plan agreed."


# --- a response keeps its definition version -------------------------------------------------------------


def test_response_stays_on_the_version_it_answered_after_a_new_one_is_published(
    clinic, patient, make_staff, client_for, api_client
):
    v1 = QuestionnaireFactory(clinic=clinic, code="clinic-sleep", version="1", in_intake=True)
    invitation = FormInvitationFactory(clinic=clinic, patient=patient, purpose=FormInvitation.Purpose.SURVEY)
    InvitationQuestionnaireFactory(invitation=invitation, questionnaire=v1, position=0)
    token = "a-known-link-token-for-this-test-0123456789abcdef"
    InvitationTokenFactory(invitation=invitation, token=token)
    fill_all(api_client, token, {"clinic-sleep": {"sleep-hours": 6}})

    admin = client_for(make_staff(clinic, Role.CLINIC_ADMIN))
    v2_definition = {
        **CUSTOM_DEFINITION,
        "version": "2",
        "item": [{**CUSTOM_DEFINITION["item"][0], "text": "Hours of sleep on an average night this week"}],
    }
    published = admin.post("/api/v1/questionnaires/", {"definition": v2_definition, "in_intake": True}, format="json")
    assert published.status_code == 201, published.content
    v2 = Questionnaire.objects.get(pk=published.json()["id"])

    # The open link still shows, and stores against, the version it was issued with.
    shown = api_client.get(form(token)).json()["questionnaires"]
    assert [(q["code"], q["version"], q["items"][0]["text"]) for q in shown] == [
        ("clinic-sleep", "1", "Hours of sleep last night")
    ]
    assert api_client.post(f"{form(token)}submit/").status_code == 200
    response = QuestionnaireResponse.objects.get(invitation=invitation)
    assert (response.questionnaire_id, response.status, response.answers) == (v1.pk, "submitted", {"sleep-hours": 6})
    v1.refresh_from_db()
    assert v1.definition["item"][0]["text"] == "Hours of sleep last night"

    # A link issued now asks the new version.
    front_desk = client_for(make_staff(clinic, Role.FRONT_DESK))
    other = PatientFactory(clinic=clinic)
    assert front_desk.post(f"/api/v1/patients/{other.pk}/intake-invitations/").status_code == 201
    asked = FormInvitation.objects.get(patient=other).questionnaires.filter(code="clinic-sleep")
    assert [q.pk for q in asked] == [v2.pk]


# --- all or nothing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["alert_raise", "candidacy_refresh", "_assess"])
def test_submit_rolls_back_everything_when_a_later_step_fails(step, clinic, patient, make_staff, monkeypatch):
    actor = Actor.for_user(make_staff(clinic, Role.FRONT_DESK).user)
    invitation = intake_invitation_issue(actor=actor, patient=patient).invitation
    for code, answers in RISKY.items():
        form_draft_save(invitation=invitation, code=code, answers=answers)
    patient.refresh_from_db()
    status_before = patient.candidacy_status
    audit_before = AuditEvent.objects.count()

    def fail(*args, **kwargs):
        raise RuntimeError(f"{step} failed")

    monkeypatch.setattr(f"intake.services.forms.{step}", fail)
    with pytest.raises(RuntimeError, match=step):
        form_submit(invitation=invitation)

    assert FormInvitation.objects.get(pk=invitation.pk).submitted_at is None
    assert not QuestionnaireResponse.objects.filter(invitation=invitation, status="submitted").exists()
    assert not QuestionnaireResponse.objects.filter(invitation=invitation, score__isnull=False).exists()
    assert not Assessment.objects.exists()
    assert not Alert.objects.exists()
    assert Patient.objects.get(pk=patient.pk).candidacy_status == status_before == "in_progress"
    assert AuditEvent.objects.count() == audit_before

    monkeypatch.undo()
    result = form_submit(invitation=invitation)  # nothing half-done blocks a retry
    assert result.risk_signalled is True
    assert Alert.objects.filter(patient=patient).count() == 1
