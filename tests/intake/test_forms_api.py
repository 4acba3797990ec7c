"""The whole patient-link flow over HTTP: issue, open, autosave, resume, submit, resubmit, expiry."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from clinic.access import Role
from clinic.models import Alert, AuditEvent
from intake.models import Assessment, FormInvitation, QuestionnaireResponse
from tests.factories.clinic import PatientFactory
from tests.intake.answers import clean_intake, phq9

INTAKE_CODES = ["medical-history", "current-medications", "antidepressant-trials", "phq9", "gad7", "pcl5"]


@pytest.fixture
def front_desk(clinic, make_staff, client_for):
    return client_for(make_staff(clinic, Role.FRONT_DESK))


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic)


def issue(front_desk, patient) -> str:
    response = front_desk.post(f"/api/v1/patients/{patient.pk}/intake-invitations/")
    assert response.status_code == 201, response.content
    url = response.json()["url"]
    assert url.startswith("http") and "/forms/" in url
    return url.rstrip("/").rsplit("/", 1)[-1]


def form(token: str) -> str:
    return f"/api/v1/forms/{token}/"


def save(client: APIClient, token: str, code: str, answers: dict):
    return client.put(f"{form(token)}responses/{code}/", {"answers": answers}, format="json")


def fill_all(client: APIClient, token: str, answers: dict[str, dict]) -> None:
    for code, values in answers.items():
        response = save(client, token, code, values)
        assert response.status_code == 200, (code, response.content)


def test_issue_open_save_resume_submit(front_desk, patient, api_client):
    token = issue(front_desk, patient)
    patient.refresh_from_db()
    assert patient.candidacy_status == "invited"

    opened = api_client.get(form(token))
    assert opened.status_code == 200
    body = opened.json()
    assert body["clinic"]["name"] == patient.clinic.name
    assert [q["code"] for q in body["questionnaires"]] == INTAKE_CODES
    assert all(q["status"] == "not_started" for q in body["questionnaires"])
    assert opened["Cache-Control"] == "no-store"
    assert opened["Referrer-Policy"] == "no-referrer"

    # Autosave part of one questionnaire, then come back later and find it.
    assert save(api_client, token, "medical-history", {"mh-aneurysm": False}).status_code == 200
    patient.refresh_from_db()
    assert patient.candidacy_status == "in_progress"
    resumed = {q["code"]: q for q in api_client.get(form(token)).json()["questionnaires"]}
    assert resumed["medical-history"]["answers"] == {"mh-aneurysm": False}
    assert resumed["medical-history"]["status"] == "draft"

    fill_all(api_client, token, clean_intake())
    submitted = api_client.post(f"{form(token)}submit/")
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["risk_signalled"] is False
    assert submitted.json()["crisis_resources"] is None

    assessment = Assessment.objects.get(patient=patient)
    assert assessment.recommendation == "eligible"
    assert assessment.scores["phq9"]["total"] == 12
    assert assessment.scores["phq9"]["band"] == "moderate"
    assert set(assessment.modality_results) == {"iv_ketamine", "im_ketamine", "esketamine_nasal"}
    assert QuestionnaireResponse.objects.filter(patient=patient, status="submitted").count() == 6
    patient.refresh_from_db()
    assert patient.candidacy_status == "submitted"


def test_second_submit_is_409_and_changes_nothing(front_desk, patient, api_client):
    token = issue(front_desk, patient)
    fill_all(api_client, token, clean_intake())
    assert api_client.post(f"{form(token)}submit/").status_code == 200
    again = api_client.post(f"{form(token)}submit/")
    assert again.status_code == 409
    assert again.json()["code"] == "already_submitted"
    assert save(api_client, token, "phq9", phq9()).status_code == 409
    assert Assessment.objects.filter(patient=patient).count() == 1


def test_incomplete_submit_lists_every_missing_answer_and_stores_nothing(front_desk, patient, api_client):
    token = issue(front_desk, patient)
    answers = clean_intake()
    del answers["phq9"]["phq9-4"]
    answers["medical-history"].pop("mh-avm")
    fill_all(api_client, token, answers)
    response = api_client.post(f"{form(token)}submit/")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["phq9.phq9-4"] == ["This question is required."]
    assert "medical-history.mh-avm" in errors
    assert not Assessment.objects.exists()
    assert not QuestionnaireResponse.objects.filter(status="submitted").exists()
    assert FormInvitation.objects.get(patient=patient).submitted_at is None


def test_invalid_draft_is_refused_and_names_the_question(front_desk, patient, api_client):
    token = issue(front_desk, patient)
    response = save(api_client, token, "phq9", {"phq9-1": 7, "phq9-2": "often", "phq9-99": 1})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"answers.phq9-1", "answers.phq9-2", "answers.phq9-99"}
    assert not QuestionnaireResponse.objects.exclude(answers={}).exists()


def test_answers_hidden_by_enable_when_are_cleared(front_desk, patient, api_client):
    token = issue(front_desk, patient)
    response = save(api_client, token, "medical-history", {"mh-bipolar": True, "mh-mood-stabiliser": True})
    assert response.json()["answers"] == {"mh-bipolar": True, "mh-mood-stabiliser": True}
    changed = save(api_client, token, "medical-history", {"mh-bipolar": False, "mh-mood-stabiliser": True})
    assert changed.status_code == 200
    assert changed.json()["answers"] == {"mh-bipolar": False}
    assert changed.json()["cleared"] == ["mh-mood-stabiliser"]


def test_conditional_question_becomes_required_when_enabled(front_desk, patient, api_client):
    token = issue(front_desk, patient)
    fill_all(api_client, token, clean_intake(medical_history={"mh-bipolar": True}))
    response = api_client.post(f"{form(token)}submit/")
    assert response.status_code == 400
    assert response.json()["errors"] == {"medical-history.mh-mood-stabiliser": ["This question is required."]}


def test_item9_answer_raises_alert_and_shows_crisis_resources(front_desk, patient, api_client):
    token = issue(front_desk, patient)
    fill_all(api_client, token, clean_intake(phq9=phq9(1, 1, 1, 1, 0, 0, 0, 0, 1)))
    response = api_client.post(f"{form(token)}submit/")
    assert response.status_code == 200
    body = response.json()
    assert body["risk_signalled"] is True
    assert "988" in body["crisis_resources"]
    alert = Alert.objects.get(patient=patient)
    assert (alert.kind, alert.severity, alert.is_open) == ("suicide_risk", "critical", True)
    assert Assessment.objects.get(patient=patient).suicidal_ideation_reported is True


def test_expired_link_is_410(front_desk, patient, api_client):
    token = issue(front_desk, patient)
    with time_machine.travel(timezone.now() + dt.timedelta(days=patient.clinic.intake_link_valid_days, minutes=1)):
        response = api_client.get(form(token))
        assert response.status_code == 410
        assert response.json()["code"] == "link_expired"
        assert save(api_client, token, "phq9", phq9()).status_code == 410


def test_revoked_and_replaced_links_are_410(front_desk, patient, api_client):
    first = issue(front_desk, patient)
    second = issue(front_desk, patient)  # a new intake link replaces the open one
    assert api_client.get(form(first)).json()["code"] == "link_revoked"
    assert api_client.get(form(second)).status_code == 200
    invitation = FormInvitation.objects.get(revoked_at__isnull=True)
    assert front_desk.post(f"/api/v1/intake-invitations/{invitation.pk}/revoke/").status_code == 200
    assert api_client.get(form(second)).status_code == 410


def test_unknown_token_is_404(api_client, db):
    response = api_client.get(form("not-a-real-token"))
    assert response.status_code == 404
    assert response.json()["code"] == "link_invalid"


def test_link_token_opens_nothing_else(front_desk, patient, api_client, other_clinic):
    token = issue(front_desk, patient)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api_client.get("/api/v1/patients/").status_code == 401
    assert api_client.get("/api/v1/assessments/").status_code == 401
    api_client.credentials()
    # Questionnaires the link does not ask for cannot be answered through it.
    response = save(api_client, token, "clinic-sleep", {"sleep-hours": 7})
    assert response.status_code == 400
    assert response.json()["errors"] == {"code": ["This link does not ask for that questionnaire."]}


def test_patient_link_actions_are_audited_as_patient_link(front_desk, patient, api_client):
    token = issue(front_desk, patient)
    api_client.get(form(token))
    save(api_client, token, "gad7", {"gad7-1": 1})
    kinds = set(
        AuditEvent.objects.filter(patient=patient, actor__isnull=True).values_list(
            "actor_kind", "action", "object_type"
        )
    )
    assert ("patient_link", "read", "form_invitation") in kinds
    assert ("patient_link", "update", "questionnaire_response") in kinds


def test_returning_patient_gets_candidacy_answers_prefilled_to_confirm(front_desk, patient, api_client):
    first = issue(front_desk, patient)
    fill_all(api_client, first, clean_intake())
    assert api_client.post(f"{form(first)}submit/").status_code == 200

    second = issue(front_desk, patient)
    questionnaires = {q["code"]: q for q in api_client.get(form(second)).json()["questionnaires"]}
    assert questionnaires["medical-history"]["prefilled"] is True
    assert questionnaires["medical-history"]["answers"]["mh-aneurysm"] is False
    assert questionnaires["phq9"]["answers"] == {}  # symptoms are asked anew

    answers = clean_intake()
    fill_all(api_client, second, {code: answers[code] for code in ("phq9", "gad7", "pcl5")})
    refused = api_client.post(f"{form(second)}submit/")
    assert refused.status_code == 400
    assert set(refused.json()["errors"]) == {"medical-history", "current-medications", "antidepressant-trials"}
    fill_all(api_client, second, answers)  # the patient confirms (and may change) them
    assert api_client.post(f"{form(second)}submit/").status_code == 200
    assert Assessment.objects.filter(patient=patient).count() == 2


def test_archived_patient_gets_no_link(front_desk, patient):
    patient.archived_at = timezone.now()
    patient.save()
    response = front_desk.post(f"/api/v1/patients/{patient.pk}/intake-invitations/")
    assert response.status_code == 409


def test_invitation_list_shows_state_not_answers(front_desk, patient, api_client):
    token = issue(front_desk, patient)
    save(api_client, token, "phq9", {"phq9-1": 2})
    body = front_desk.get(f"/api/v1/patients/{patient.pk}/intake-invitations/").json()
    assert body[0]["state"] == "in_progress"
    assert "answers" not in str(body)
    assert "url" not in body[0]  # the token is shown only once


@pytest.mark.parametrize(("role", "expected"), [(Role.FRONT_DESK, 201), (Role.NURSE, 403), (Role.CLINIC_ADMIN, 403)])
def test_who_may_send_intake_links(role, expected, clinic, patient, make_staff, client_for):
    response = client_for(make_staff(clinic, role)).post(f"/api/v1/patients/{patient.pk}/intake-invitations/")
    assert response.status_code == expected


def test_other_clinic_cannot_send_a_link_for_my_patient(patient, other_clinic, make_staff, client_for):
    response = client_for(make_staff(other_clinic, Role.FRONT_DESK)).post(
        f"/api/v1/patients/{patient.pk}/intake-invitations/"
    )
    assert response.status_code == 404


def test_the_link_shows_the_clinics_discreet_message_name(clinic, front_desk, patient, api_client):
    type(clinic).objects.filter(pk=clinic.pk).update(name="Harbour Ketamine Clinic", message_name="Harbour Clinic")
    token = issue(front_desk, patient)
    assert api_client.get(form(token)).json()["clinic"]["name"] == "Harbour Clinic"
    page = api_client.get(f"/forms/{token}/")
    assert page.status_code == 200
    assert "Harbour Clinic" in page.content.decode()
    assert "ketamine" not in page.content.decode().lower()
