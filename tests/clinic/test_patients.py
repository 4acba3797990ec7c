"""Patients over HTTP: register, read (audited), update, archive, restore, search, list cost."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from clinic.access import Role
from clinic.models import AuditEvent, CandidacyStatus, Patient, mrn_is_well_formed
from tests.factories.clinic import PatientFactory
from tests.phi import register_phi

NEW_PATIENT = {
    "first_name": "Quinn",
    "last_name": "Harrow",
    "date_of_birth": "1985-04-03",
    "sex_at_birth": "female",
    "email": "quinn@mail.test",
    "phone": "(202) 555-0142",
    "preferred_channel": "sms",
    "rems_patient_id": "REMS-77",
    "emergency_contact_name": "Robin Harrow",
    "emergency_contact_phone": "+1 202 555 0143",
}


@pytest.fixture(autouse=True)
def _register_new_patient_phi():
    register_phi(*NEW_PATIENT.values(), "+12025550142")


@pytest.fixture
def front_desk(clinic, make_staff, client_for):
    member = make_staff(clinic, Role.FRONT_DESK)
    return client_for(member), member


def test_register_patient(front_desk, clinic):
    client, member = front_desk
    response = client.post("/api/v1/patients/", {**NEW_PATIENT, "clinic": clinic.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["phone"] == "+12025550142"
    assert body["candidacy_status"] == "not_started"
    assert body["archived"] is False
    assert mrn_is_well_formed(body["mrn"])
    patient = Patient.objects.get(pk=body["id"])
    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE, object_type="patient")
    assert (event.actor, event.patient, event.clinic) == (member.user, patient, clinic)


def test_clinic_may_be_omitted_when_the_user_has_one(front_desk):
    client, member = front_desk
    response = client.post("/api/v1/patients/", NEW_PATIENT, format="json")
    assert response.status_code == 201
    assert response.json()["clinic"] == member.clinic_id


def test_clinic_is_required_when_the_user_has_several(front_desk, other_clinic, make_staff):
    client, member = front_desk
    make_staff(other_clinic, Role.FRONT_DESK, user=member.user)
    response = client.post("/api/v1/patients/", NEW_PATIENT, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["clinic"] == ["You work at several clinics: say which one."]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"date_of_birth": "2999-01-01"}, "date_of_birth", "Cannot be in the future."),
        ({"phone": "12"}, "phone", "Enter a valid phone number."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"sex_at_birth": "robot"}, "sex_at_birth", '"robot" is not a valid choice.'),
        ({"preferred_channel": "sms", "phone": ""}, "phone", "Needed when the preferred channel is SMS."),
        ({"preferred_channel": "email", "email": ""}, "email", "Needed when the preferred channel is email."),
        ({"favourite_colour": "blue"}, "favourite_colour", "Unknown field."),
    ],
)
def test_invalid_values_name_the_field(front_desk, change, field, message):
    client, _ = front_desk
    response = client.post("/api/v1/patients/", {**NEW_PATIENT, **change}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][field] == [message]
    assert not Patient.objects.exists()


def test_reading_a_patient_is_audited(front_desk, clinic):
    client, member = front_desk
    patient = PatientFactory(clinic=clinic)
    assert client.get(f"/api/v1/patients/{patient.pk}/").status_code == 200
    event = AuditEvent.objects.get(action=AuditEvent.Action.READ)
    assert (event.actor, event.patient_id, event.object_type, event.object_id) == (
        member.user,
        patient.pk,
        "patient",
        str(patient.pk),
    )


def test_listing_patients_audits_each_one_shown(front_desk, clinic):
    client, _ = front_desk
    patients = PatientFactory.create_batch(3, clinic=clinic)
    response = client.get("/api/v1/patients/?page_size=2")
    assert response.status_code == 200
    shown = {row["id"] for row in response.json()["results"]}
    assert len(shown) == 2
    audited = set(AuditEvent.objects.filter(action=AuditEvent.Action.READ).values_list("patient_id", flat=True))
    assert audited == shown
    assert len(patients) == 3


def test_a_list_page_audit_row_says_who_where_and_which_request(front_desk, clinic):
    client, member = front_desk
    PatientFactory.create_batch(2, clinic=clinic)
    response = client.get("/api/v1/patients/", HTTP_X_REQUEST_ID="page-7")
    assert response.status_code == 200
    events = list(AuditEvent.objects.filter(action=AuditEvent.Action.READ))
    assert len(events) == 2
    for event in events:
        assert (event.actor_id, event.actor_kind, event.clinic_id) == (member.user_id, "staff", clinic.pk)
        assert (event.request_id, event.client_address, event.object_type) == ("page-7", "127.0.0.1", "patient")
        assert event.object_id == str(event.patient_id) and event.changed_fields == []
        assert event.occurred_at is not None


def test_update_records_changed_field_names_not_values(front_desk, clinic):
    client, _ = front_desk
    patient = PatientFactory(clinic=clinic)
    response = client.patch(f"/api/v1/patients/{patient.pk}/", {"last_name": "Renamed"}, format="json")
    assert response.status_code == 200
    assert response.json()["last_name"] == "Renamed"
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE)
    assert event.changed_fields == ["last_name"]
    assert "Renamed" not in str(event.__dict__)


def test_mrn_cannot_be_changed(front_desk, clinic):
    client, _ = front_desk
    patient = PatientFactory(clinic=clinic)
    response = client.patch(f"/api/v1/patients/{patient.pk}/", {"mrn": "X"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"mrn": ["Unknown field."]}


def test_archive_hides_keeps_and_restores(front_desk, clinic):
    client, member = front_desk
    patient = PatientFactory(clinic=clinic)
    assert client.delete(f"/api/v1/patients/{patient.pk}/").status_code == 204
    patient.refresh_from_db()
    assert patient.is_archived
    assert client.get("/api/v1/patients/").json()["count"] == 0
    archived = client.get("/api/v1/patients/?archived=true").json()
    assert [row["id"] for row in archived["results"]] == [patient.pk]
    response = client.patch(f"/api/v1/patients/{patient.pk}/", {"last_name": "X"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "patient_archived"
    restored = client.post(f"/api/v1/patients/{patient.pk}/restore/", HTTP_X_REQUEST_ID="restore-1")
    assert restored.json()["archived"] is False
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ARCHIVE, patient=patient).count() == 1
    restore_event = AuditEvent.objects.get(request_id="restore-1")
    assert (
        restore_event.actor,
        restore_event.action,
        restore_event.object_type,
        restore_event.object_id,
        restore_event.patient_id,
        restore_event.clinic_id,
        restore_event.changed_fields,
    ) == (member.user, "update", "patient", str(patient.pk), patient.pk, clinic.pk, ["archived_at"])


def test_search_by_name_and_birth_date_in_the_body(front_desk, clinic):
    client, _ = front_desk
    wanted = PatientFactory(clinic=clinic, first_name="Ingrid", last_name="Solberg")
    PatientFactory(clinic=clinic, first_name="Ingrid", last_name="Other")
    response = client.post("/api/v1/patients/search/", {"query": "ingrid solb"}, format="json")
    assert [row["id"] for row in response.json()["results"]] == [wanted.pk]
    by_dob = client.post(
        "/api/v1/patients/search/", {"date_of_birth": wanted.date_of_birth.isoformat()}, format="json"
    ).json()
    assert wanted.pk in [row["id"] for row in by_dob["results"]]
    by_mrn = client.post("/api/v1/patients/search/", {"query": wanted.mrn.lower()}, format="json").json()
    assert [row["id"] for row in by_mrn["results"]] == [wanted.pk]
    assert client.post("/api/v1/patients/search/", {}, format="json").status_code == 400


def test_search_never_crosses_clinics(front_desk, other_clinic):
    client, _ = front_desk
    PatientFactory(clinic=other_clinic, first_name="Hidden")
    assert client.post("/api/v1/patients/search/", {"query": "Hidden"}, format="json").json()["count"] == 0


@pytest.mark.parametrize("rows", [5, 60])
def test_patient_list_query_count_is_constant(front_desk, clinic, rows, django_assert_max_num_queries):
    client, _ = front_desk
    PatientFactory.create_batch(rows, clinic=clinic)
    # token + memberships + count + page + one audit INSERT (+ savepoints at most)
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/patients/?page_size=100")
    assert response.json()["count"] == rows


def test_clinicians_read_but_do_not_write(clinic, make_staff, client_for):
    nurse = client_for(make_staff(clinic, Role.NURSE))
    patient = PatientFactory(clinic=clinic)
    assert nurse.get(f"/api/v1/patients/{patient.pk}/").status_code == 200
    assert nurse.patch(f"/api/v1/patients/{patient.pk}/", {"last_name": "X"}, format="json").status_code == 403


def test_candidacy_status_filter_uses_the_status_as_shown(front_desk, clinic, client_for):
    """Expiry is computed on read, so the filter must compute it too: a lapsed approval is "expired"."""
    client, member = front_desk
    now = timezone.now()
    stored = {status: PatientFactory(clinic=clinic, candidacy_status=status) for status in CandidacyStatus.values}
    approved_later = PatientFactory(
        clinic=clinic, candidacy_status="approved", candidacy_expires_at=now + dt.timedelta(days=30)
    )
    lapsed = PatientFactory(
        clinic=clinic, candidacy_status="approved", candidacy_expires_at=now - dt.timedelta(minutes=1)
    )
    expected = {status: {patient.pk} for status, patient in stored.items()}
    expected["approved"] |= {approved_later.pk}  # stored["approved"] has no expiry: it stays approved
    expected["expired"] |= {lapsed.pk}

    def shown(api, status: str) -> set[int]:
        response = api.get(f"/api/v1/patients/?candidacy_status={status}&page_size=200")
        assert response.status_code == 200, response.content
        rows = response.json()["results"]
        assert {row["candidacy_status"] for row in rows} <= {status}
        return {row["id"] for row in rows}

    for status in CandidacyStatus.values:
        assert shown(client, status) == expected[status], status

    # A month on, the 30-day approval has lapsed too (a fresh token: the first one expired meanwhile).
    with time_machine.travel(now + dt.timedelta(days=31)):
        later = client_for(member)
        assert shown(later, "approved") == {stored["approved"].pk}
        assert shown(later, "expired") == {stored["expired"].pk, lapsed.pk, approved_later.pk}
