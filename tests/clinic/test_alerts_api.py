"""Safety alerts: open until a clinician acknowledges them with a note."""

from __future__ import annotations

import pytest

from clinic.access import Role
from clinic.models import AuditEvent
from clinic.services.alerts import alert_raise
from tests.factories.clinic import AlertFactory, PatientFactory


@pytest.fixture
def nurse(clinic, make_staff, client_for):
    member = make_staff(clinic, Role.NURSE)
    client = client_for(member)
    client.member = member
    return client


def test_open_alerts_are_listed_until_acknowledged(clinic, nurse):
    alert = AlertFactory(clinic=clinic)
    assert [a["id"] for a in nurse.get("/api/v1/alerts/").json()["results"]] == [alert.pk]
    refused = nurse.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "   "}, format="json")
    assert refused.status_code == 400
    assert "note" in refused.json()["errors"]
    done = nurse.post(
        f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "Called patient; safety plan reviewed."}, format="json"
    )
    assert done.status_code == 200
    assert done.json()["open"] is False
    assert done.json()["acknowledged_by"] == nurse.member.user.username
    assert nurse.get("/api/v1/alerts/").json()["count"] == 0
    assert nurse.get("/api/v1/alerts/?status=acknowledged").json()["count"] == 1
    again = nurse.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "again"}, format="json")
    assert again.status_code == 409
    assert AuditEvent.objects.filter(object_type="alert", action="update").count() == 1


def test_missing_note_is_a_field_error(clinic, nurse):
    alert = AlertFactory(clinic=clinic)
    response = nurse.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"note": ["This field is required."]}


@pytest.mark.parametrize(("role", "status"), [(Role.FRONT_DESK, 403), (Role.CLINIC_ADMIN, 403), (Role.PRESCRIBER, 200)])
def test_role_matrix(role, status, clinic, make_staff, client_for):
    alert = AlertFactory(clinic=clinic)
    client = client_for(make_staff(clinic, role))
    assert client.get("/api/v1/alerts/").status_code == status
    ack = client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "seen"}, format="json")
    assert ack.status_code == status


def test_other_clinic_sees_nothing(clinic, other_clinic, make_staff, client_for, api_client):
    alert = AlertFactory(clinic=clinic)
    outsider = client_for(make_staff(other_clinic, Role.NURSE))
    assert outsider.get("/api/v1/alerts/").json()["count"] == 0
    assert outsider.get(f"/api/v1/alerts/{alert.pk}/").status_code == 404
    assert outsider.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "x"}, format="json").status_code == 404
    assert api_client.get("/api/v1/alerts/").status_code == 401


def test_dedupe_key_raises_once(clinic):
    patient = PatientFactory(clinic=clinic)
    kwargs = dict(
        clinic_id=clinic.pk,
        patient_id=patient.pk,
        kind="vitals_overdue",
        severity="warning",
        message="Reading overdue",
        source_type="check",
        source_id=1,
        dedupe_key="overdue:1:40",
    )
    assert alert_raise(**kwargs) is not None
    assert alert_raise(**kwargs) is None
    assert patient.alerts.count() == 1
    # Raising is a write by the system: audited once, and the refused duplicate left no trace.
    [event] = AuditEvent.objects.filter(object_type="alert", patient=patient)
    assert (event.action, event.actor_kind, event.actor_id) == ("create", "system", None)


@pytest.mark.parametrize("count", [3, 30])
def test_alert_list_query_count_is_constant(count, clinic, nurse, django_assert_max_num_queries):
    AlertFactory.create_batch(count, clinic=clinic, patient=PatientFactory(clinic=clinic))
    with django_assert_max_num_queries(6):
        assert nurse.get("/api/v1/alerts/").json()["count"] == count
