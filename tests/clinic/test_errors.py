"""Every error path answers RFC 9457 problem details; every response carries a request id."""

from __future__ import annotations

import pytest
from django.urls import path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny

from clinic.access import Role
from config import urls as project_urls

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


@pytest.fixture
def front_desk(clinic, make_staff, client_for):
    return client_for(make_staff(clinic, Role.FRONT_DESK))


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    return body


def test_malformed_json(front_desk):
    response = front_desk.post("/api/v1/patients/", data="{not json", content_type="application/json")
    assert_problem(response, 400, "malformed")


def test_wrong_type_names_the_field(front_desk, clinic):
    response = front_desk.post(
        "/api/v1/patients/",
        {
            "clinic": clinic.pk,
            "first_name": "Ann",
            "last_name": "Lee",
            "date_of_birth": "yesterday",
            "sex_at_birth": "female",
            "email": "a@mail.test",
        },
        format="json",
    )
    body = assert_problem(response, 400, "invalid")
    assert list(body["errors"]) == ["date_of_birth"]
    assert "format" in body["errors"]["date_of_birth"][0]


def test_missing_fields_are_each_named(front_desk, clinic):
    response = front_desk.post("/api/v1/patients/", {"clinic": clinic.pk}, format="json")
    body = assert_problem(response, 400, "invalid")
    assert set(body["errors"]) == {"first_name", "last_name", "date_of_birth", "sex_at_birth"}
    assert body["errors"]["first_name"] == ["This field is required."]


def test_unknown_fields_are_refused(clinic, make_staff, client_for):
    admin = client_for(make_staff(clinic, Role.CLINIC_ADMIN))
    response = admin.patch(f"/api/v1/clinics/{clinic.pk}/", {"nmae": "x", "name": "Kept?"}, format="json")
    body = assert_problem(response, 400, "invalid")
    assert body["errors"] == {"nmae": ["Unknown field."]}
    clinic.refresh_from_db()
    assert clinic.name != "Kept?"  # nothing of a refused request is applied


def test_role_check_comes_before_input_validation(front_desk, clinic):
    # Front desk may not change the clinic at all: 403, whatever the body holds.
    response = front_desk.patch(f"/api/v1/clinics/{clinic.pk}/", {"nmae": "x"}, format="json")
    assert_problem(response, 403, "permission_denied")


def test_conflict_is_a_complete_problem(front_desk, clinic):
    from django.utils import timezone

    from tests.factories.clinic import PatientFactory

    patient = PatientFactory(clinic=clinic, archived_at=timezone.now())
    response = front_desk.patch(
        f"/api/v1/patients/{patient.pk}/", {"last_name": "X"}, format="json", HTTP_X_REQUEST_ID="conflict-1"
    )
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:ketamine-clinic:problem:patient_archived",
        "title": "Conflict",
        "status": 409,
        "detail": "This patient is archived; restore the record first.",
        "code": "patient_archived",
        "request_id": "conflict-1",
    }


def test_rule_violation_is_a_complete_problem(clinic, make_staff, client_for):
    from tests.factories.intake import AssessmentFactory

    reason = {"code": "aneurysmal_vascular_disease", "severity": "absolute", "message": "Aneurysm."}
    assessment = AssessmentFactory(
        invitation__clinic=clinic,
        recommendation="not_eligible",
        modality_results={"esketamine_nasal": {"recommendation": "not_eligible", "reasons": [reason]}},
    )
    prescriber = client_for(make_staff(clinic, Role.PRESCRIBER))
    response = prescriber.post(
        f"/api/v1/assessments/{assessment.pk}/decision/",
        {"decision": "approved", "modalities": ["esketamine_nasal"], "rationale": "x"},
        format="json",
        HTTP_X_REQUEST_ID="rule-1",
    )
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:ketamine-clinic:problem:absolute_contraindication",
        "title": "Refused by a clinical rule",
        "status": 422,
        "detail": "An absolute contraindication rules out: esketamine_nasal.",
        "code": "absolute_contraindication",
        "contraindications": {"esketamine_nasal": ["aneurysmal_vascular_disease"]},
        "request_id": "rule-1",
    }


def test_nested_errors_have_dotted_paths(clinic, make_staff, client_for):
    admin = client_for(make_staff(clinic, Role.CLINIC_ADMIN))
    response = admin.patch(
        f"/api/v1/clinics/{clinic.pk}/",
        {"opening_hours": [{"weekday": 1, "opens": "09:00", "closes": "17:00"}, {"weekday": 9, "opens": "x"}]},
        format="json",
    )
    body = assert_problem(response, 400, "invalid")
    assert set(body["errors"]) == {"opening_hours.1.weekday", "opening_hours.1.opens", "opening_hours.1.closes"}


def test_unknown_patient_is_404(front_desk):
    assert_problem(front_desk.get("/api/v1/patients/999999/"), 404, "not_found")


def test_unknown_url_under_the_api_is_a_problem(front_desk, settings):
    settings.DEBUG = False
    assert_problem(front_desk.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_method_not_allowed(front_desk):
    assert_problem(front_desk.put("/api/v1/patients/", {}, format="json"), 405, "method_not_allowed")


def test_unsupported_media_type(front_desk):
    response = front_desk.post("/api/v1/patients/", data="a=b", content_type="application/x-www-form-urlencoded")
    assert_problem(response, 415, "unsupported_media_type")


def test_login_throttle_answers_429(api_client, monkeypatch, db):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "login": "2/min"})
    for _ in range(2):
        api_client.post("/api/v1/auth/token/", {"username": "a", "password": "b"}, format="json")
    response = api_client.post("/api/v1/auth/token/", {"username": "a", "password": "b"}, format="json")
    body = assert_problem(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert body["detail"]


@api_view(["GET"])
@permission_classes([AllowAny])
def _explode(request):
    raise RuntimeError("secret internals: patient Jane Roe, DB password hunter2")


urlpatterns = [path("api/v1/explode/", _explode), *project_urls.urlpatterns]
handler500 = project_urls.handler500
handler404 = project_urls.handler404


@pytest.mark.urls(__name__)
def test_server_error_says_nothing_about_internals(api_client, settings, db):
    settings.DEBUG = False
    api_client.raise_request_exception = False
    response = api_client.get("/api/v1/explode/")
    body = assert_problem(response, 500, "server_error")
    assert "secret" not in response.content.decode()
    assert "RuntimeError" not in response.content.decode()
    assert body["request_id"] == response["X-Request-ID"]


def test_request_id_is_echoed_or_made(api_client):
    response = api_client.get("/api/v1/me/", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    made = api_client.get("/api/v1/me/", HTTP_X_REQUEST_ID="bad id with spaces; drop table")["X-Request-ID"]
    assert len(made) == 32 and made.isalnum()


def test_request_id_reaches_the_audit_row(front_desk, clinic):
    from clinic.models import AuditEvent
    from tests.factories.clinic import PatientFactory

    patient = PatientFactory(clinic=clinic)
    response = front_desk.get(f"/api/v1/patients/{patient.pk}/", HTTP_X_REQUEST_ID="trace-42")
    assert response.status_code == 200
    event = AuditEvent.objects.get(patient=patient, action=AuditEvent.Action.READ)
    assert event.request_id == "trace-42"
    assert event.client_address == "127.0.0.1"


def test_page_size_is_capped(front_desk, clinic):
    import datetime as dt

    from clinic.models import Patient

    # 201 rows in one INSERT: just over the cap, without 201 factory round trips.
    Patient.objects.bulk_create(
        Patient(
            clinic=clinic,
            first_name="Row",
            last_name=f"Number{n:03d}",
            date_of_birth=dt.date(1980, 1, 1),
            sex_at_birth="female",
        )
        for n in range(201)
    )
    body = front_desk.get("/api/v1/patients/?page_size=500").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 201
    assert len(body["results"]) == 200
    assert "page=2" in body["next"] and "page_size=500" in body["next"]
    assert len(front_desk.get(body["next"]).json()["results"]) == 1


def test_invalid_filter_value_is_a_400_naming_it(front_desk):
    body = assert_problem(front_desk.get("/api/v1/patients/?candidacy_status=bogus"), 400, "invalid")
    assert "candidacy_status" in body["errors"]
