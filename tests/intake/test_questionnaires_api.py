"""Questionnaire definitions over HTTP: the shipped ones, and a clinic's own, validated."""

from __future__ import annotations

import copy

import pytest

from clinic.access import Role
from intake.models import FormInvitation, Questionnaire
from tests.factories.clinic import PatientFactory
from tests.factories.intake import CUSTOM_DEFINITION, QuestionnaireFactory


@pytest.fixture
def admin(clinic, make_staff, client_for):
    return client_for(make_staff(clinic, Role.CLINIC_ADMIN))


def test_staff_see_the_shipped_instruments(clinic, make_staff, client_for):
    body = client_for(make_staff(clinic, Role.FRONT_DESK)).get("/api/v1/questionnaires/?page_size=50").json()
    codes = {q["code"] for q in body["results"]}
    assert {"phq9", "gad7", "pcl5", "medical-history", "current-medications", "antidepressant-trials"} <= codes
    phq9 = next(q for q in body["results"] if q["code"] == "phq9")
    assert phq9["items"][0]["text"] == "Little interest or pleasure in doing things"
    assert phq9["clinic"] is None


def test_admin_adds_a_valid_definition(admin, clinic):
    response = admin.post(
        "/api/v1/questionnaires/", {"definition": CUSTOM_DEFINITION, "in_intake": True}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["clinic"] == clinic.pk
    assert response.json()["kind"] == "custom"
    duplicate = admin.post("/api/v1/questionnaires/", {"definition": CUSTOM_DEFINITION}, format="json")
    assert duplicate.status_code == 409


def test_invalid_definition_is_refused_with_paths(admin):
    broken = copy.deepcopy(CUSTOM_DEFINITION)
    broken["item"].append({"linkId": "sleep-hours", "type": "choice", "text": "dup"})
    response = admin.post("/api/v1/questionnaires/", {"definition": broken}, format="json")
    assert response.status_code == 400
    assert any(key.startswith("definition.item.1") for key in response.json()["errors"])
    assert not Questionnaire.objects.filter(clinic__isnull=False).exists()


def test_clinic_cannot_claim_a_scoring_rule(admin):
    response = admin.post(
        "/api/v1/questionnaires/", {"definition": {**CUSTOM_DEFINITION, "scoring": "phq9"}}, format="json"
    )
    assert response.status_code == 400


def test_clinic_definition_in_intake_is_asked_in_the_next_link(clinic, admin, make_staff, client_for):
    QuestionnaireFactory(clinic=clinic, code="clinic-sleep", in_intake=True)
    front_desk = client_for(make_staff(clinic, Role.FRONT_DESK))
    patient = PatientFactory(clinic=clinic)
    front_desk.post(f"/api/v1/patients/{patient.pk}/intake-invitations/")
    codes = set(FormInvitation.objects.get(patient=patient).questionnaires.values_list("code", flat=True))
    assert "clinic-sleep" in codes and "phq9" in codes


def test_definitions_are_never_edited_only_flags(admin, clinic):
    questionnaire = QuestionnaireFactory(clinic=clinic)
    response = admin.patch(f"/api/v1/questionnaires/{questionnaire.pk}/", {"definition": {"title": "x"}}, format="json")
    assert response.status_code == 400
    assert (
        admin.patch(f"/api/v1/questionnaires/{questionnaire.pk}/", {"active": False}, format="json").json()["active"]
        is False
    )


def test_shipped_definitions_cannot_be_deactivated_by_a_clinic(admin):
    phq9 = Questionnaire.objects.get(clinic__isnull=True, code="phq9")
    assert admin.patch(f"/api/v1/questionnaires/{phq9.pk}/", {"active": False}, format="json").status_code == 409


@pytest.mark.parametrize(("role", "status"), [(Role.FRONT_DESK, 403), (Role.NURSE, 403), (Role.PRESCRIBER, 403)])
def test_only_admins_add_definitions(role, status, clinic, make_staff, client_for):
    client = client_for(make_staff(clinic, role))
    assert (
        client.post("/api/v1/questionnaires/", {"definition": CUSTOM_DEFINITION}, format="json").status_code == status
    )


def test_other_clinics_definitions_are_invisible(clinic, other_clinic, make_staff, client_for):
    theirs = QuestionnaireFactory(clinic=other_clinic)
    client = client_for(make_staff(clinic, Role.NURSE))
    assert client.get(f"/api/v1/questionnaires/{theirs.pk}/").status_code == 404


def test_admin_site_adds_a_validated_definition(client, clinic, make_staff):
    member = make_staff(clinic, Role.CLINIC_ADMIN)
    member.user.is_staff = True
    member.user.save()
    client.force_login(member.user)
    import json

    ok = client.post(
        "/admin/intake/questionnaire/add/",
        {"clinic": clinic.pk, "definition": json.dumps(CUSTOM_DEFINITION), "in_intake": "on", "active": "on"},
    )
    assert ok.status_code == 302
    assert Questionnaire.objects.filter(clinic=clinic, code="clinic-sleep").exists()
    broken = {**CUSTOM_DEFINITION, "code": "other", "item": [{"linkId": "x", "type": "choice", "text": "No options"}]}
    refused = client.post(
        "/admin/intake/questionnaire/add/",
        {"clinic": clinic.pk, "definition": json.dumps(broken), "active": "on"},
        follow=True,
    )
    assert not Questionnaire.objects.filter(code="other").exists()
    assert "definition.item.0" in str([str(m) for m in refused.context["messages"]]), [
        str(m) for m in refused.context["messages"]
    ]
    shipped = Questionnaire.objects.get(clinic__isnull=True, code="phq9")
    assert client.get(f"/admin/intake/questionnaire/{shipped.pk}/change/").status_code == 200
    assert client.post(f"/admin/intake/questionnaire/{shipped.pk}/change/", {"active": ""}).status_code == 403


# --- a clinic never replaces a shipped definition ---------------------------------------------------


@pytest.mark.parametrize(
    "code", ["phq9", "gad7", "pcl5", "medical-history", "antidepressant-trials", "current-medications"]
)
def test_clinic_definition_may_not_reuse_a_shipped_code(admin, clinic, code):
    response = admin.post("/api/v1/questionnaires/", {"definition": {**CUSTOM_DEFINITION, "code": code}}, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert list(errors) == ["definition.code"]
    assert "shipped with the product" in errors["definition.code"][0]
    assert not Questionnaire.objects.filter(clinic=clinic).exists()


def test_a_stored_clinic_row_with_a_shipped_code_never_replaces_the_shipped_one(clinic, make_staff, client_for):
    """Rows saved before the refusal existed: the link still asks the product's scored PHQ-9."""
    impostor = QuestionnaireFactory(clinic=clinic, code="phq9", version="99", in_intake=True)
    front_desk = client_for(make_staff(clinic, Role.FRONT_DESK))
    patient = PatientFactory(clinic=clinic)
    assert front_desk.post(f"/api/v1/patients/{patient.pk}/intake-invitations/").status_code == 201
    asked = list(FormInvitation.objects.get(patient=patient).questionnaires.filter(code="phq9"))
    assert [q.pk for q in asked] == [Questionnaire.objects.get(clinic__isnull=True, code="phq9").pk]
    assert impostor.pk not in [q.pk for q in asked]
    assert asked[0].scoring == "phq9"


def test_admin_site_refuses_a_shipped_code(client, clinic, make_staff):
    import json

    member = make_staff(clinic, Role.CLINIC_ADMIN)
    member.user.is_staff = True
    member.user.save()
    client.force_login(member.user)
    refused = client.post(
        "/admin/intake/questionnaire/add/",
        {"clinic": clinic.pk, "definition": json.dumps({**CUSTOM_DEFINITION, "code": "phq9"}), "active": "on"},
        follow=True,
    )
    shown = [str(m) for m in refused.context["messages"]]
    assert any("definition.code" in m and "shipped with the product" in m for m in shown), shown
    assert not Questionnaire.objects.filter(clinic=clinic).exists()
    assert Questionnaire.objects.filter(code="phq9").count() == 1
