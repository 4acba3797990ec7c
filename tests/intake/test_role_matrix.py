"""The role matrix over the intake app's staff endpoints (DESIGN.md section 4).

For each endpoint: every role that may gets its success status; every role that may not gets
403; the same permitted role in another clinic gets 404 (a list answers 200 holding nothing of the
first clinic; a create naming the first clinic in its body answers 400 on ``clinic``); anonymous
gets 401. A path that names two records of the same clinic (a risk assessment tied to an
assessment) must keep them together. The patient-link ``forms/`` endpoints take no staff
credentials; their token is the whole of their access (tests/intake/test_forms_api.py).
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from clinic.models import AuditEvent
from intake.models import Questionnaire, RiskAssessment
from tests.factories.clinic import ClinicFactory, PatientFactory, StaffMemberFactory
from tests.factories.intake import (
    CUSTOM_DEFINITION,
    FormInvitationFactory,
    QuestionnaireFactory,
    RiskAssessmentFactory,
)
from tests.intake.flows import submit_intake
from tests.role_matrix import ADMIN, ALL_ROLES, FD, NURSE, PRESCRIBER, Endpoint, call, cases

ENDPOINTS = [
    Endpoint("questionnaire list", "get", "/api/v1/questionnaires/", ALL_ROLES, 200, cross_clinic_status=200),
    Endpoint(
        "questionnaire create",
        "post",
        "/api/v1/questionnaires/",
        [ADMIN],
        201,
        {"clinic": "{clinic}", "definition": {**CUSTOM_DEFINITION, "code": "clinic-mood-diary"}},
        cross_clinic_status=400,
    ),
    Endpoint("assessment list", "get", "/api/v1/assessments/", [NURSE, PRESCRIBER], 200, cross_clinic_status=200),
    Endpoint("outcomes", "get", "/api/v1/patients/{patient}/outcomes/", [NURSE, PRESCRIBER], 200),
    Endpoint("intake links list", "get", "/api/v1/patients/{patient}/intake-invitations/", [FD], 200),
    Endpoint("intake link issue", "post", "/api/v1/patients/{patient}/intake-invitations/", [FD], 201),
    Endpoint("intake link revoke", "post", "/api/v1/intake-invitations/{invitation}/revoke/", [FD], 200),
    Endpoint("risk assessments list", "get", "/api/v1/patients/{patient}/risk-assessments/", [NURSE, PRESCRIBER], 200),
    Endpoint(
        "risk assessment record",
        "post",
        "/api/v1/patients/{patient}/risk-assessments/",
        [NURSE, PRESCRIBER],
        201,
        {"level": "low", "method": "Clinical interview", "assessment": "{assessment}"},
    ),
    Endpoint("questionnaire detail", "get", "/api/v1/questionnaires/{questionnaire}/", ALL_ROLES, 200),
    Endpoint(
        "questionnaire flags", "patch", "/api/v1/questionnaires/{questionnaire}/", [ADMIN], 200, {"active": False}
    ),
    Endpoint("assessment detail", "get", "/api/v1/assessments/{assessment}/", [NURSE, PRESCRIBER], 200),
    Endpoint(
        "assessment decision",
        "post",
        "/api/v1/assessments/{assessment}/decision/",
        [PRESCRIBER],
        201,
        {"decision": "needs_info", "rationale": "Records of the second trial, please."},
    ),
]


@pytest.fixture
def world(db):
    clinic = ClinicFactory()
    patient = PatientFactory(clinic=clinic)
    assessment = submit_intake(patient)
    other = ClinicFactory()
    return {
        "clinic": clinic,
        "other": other,
        "patient": patient,
        "assessment": assessment,
        "invitation": FormInvitationFactory(clinic=clinic, patient=patient),
        "questionnaire": QuestionnaireFactory(clinic=clinic),
        # The other clinic's own records, so that its lists are not empty by accident.
        "other_assessment": submit_intake(PatientFactory(clinic=other)),
        "other_questionnaire": QuestionnaireFactory(clinic=other),
    }


CASES = cases(ENDPOINTS)


@pytest.mark.parametrize(("endpoint", "role"), CASES)
def test_role_in_own_clinic(endpoint, role, world, client_for):
    response = call(client_for(StaffMemberFactory(clinic=world["clinic"], roles=[role])), endpoint, world)
    expected = endpoint.success if role in endpoint.allowed else 403
    assert response.status_code == expected, response.content
    if expected == 403:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_permitted_role_of_another_clinic(endpoint, world, client_for):
    for role in endpoint.allowed:
        response = call(client_for(StaffMemberFactory(clinic=world["other"], roles=[role])), endpoint, world)
        assert response.status_code == endpoint.cross_clinic_status, (role, response.content)
        if endpoint.cross_clinic_status == 404:
            assert response.json()["code"] == "not_found"
        elif endpoint.cross_clinic_status == 400:
            assert "clinic" in response.json()["errors"]
        else:
            # A list answers with the other clinic's rows (and shipped definitions), none of the first's.
            clinics = {row["clinic"] for row in response.json()["results"]}
            assert world["other"].pk in clinics  # its own rows are there...
            assert world["clinic"].pk not in clinics  # ...and none of the first clinic's
    assert not Questionnaire.objects.filter(code="clinic-mood-diary").exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_anonymous_is_401(endpoint, world):
    response = call(APIClient(), endpoint, world)
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"


def test_risk_assessment_naming_another_patients_assessment_is_404(world, client_for):
    """The assessment id in the body must belong to the patient in the path (same clinic or not)."""
    nurse = client_for(StaffMemberFactory(clinic=world["clinic"], roles=[NURSE]))
    someone_else = submit_intake(PatientFactory(clinic=world["clinic"]))
    response = nurse.post(
        f"/api/v1/patients/{world['patient'].pk}/risk-assessments/",
        {"level": "high", "method": "Clinical interview", "assessment": someone_else.pk},
        format="json",
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert not RiskAssessment.objects.exists()
    assert not world["patient"].alerts.exists()


def test_risk_assessment_list_shows_only_that_patient_and_audits_each_row(world, client_for):
    nurse = client_for(StaffMemberFactory(clinic=world["clinic"], roles=[NURSE]))
    patient = world["patient"]
    mine = RiskAssessmentFactory.create_batch(3, clinic=world["clinic"], patient=patient)
    RiskAssessmentFactory(clinic=world["clinic"], patient=PatientFactory(clinic=world["clinic"]))
    response = nurse.get(f"/api/v1/patients/{patient.pk}/risk-assessments/")
    assert response.status_code == 200
    assert sorted(row["id"] for row in response.json()) == sorted(r.pk for r in mine)
    assert sorted(
        AuditEvent.objects.filter(action="read", object_type="risk_assessment", patient=patient).values_list(
            "object_id", flat=True
        )
    ) == sorted(str(r.pk) for r in mine)
