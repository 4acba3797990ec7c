"""The audit log: append-only everywhere, readable by clinic admins, filterable."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from clinic.access import Role
from clinic.models import AuditEvent
from tests.factories.clinic import AuditEventFactory, PatientFactory


def test_orm_refuses_to_change_or_delete_audit_rows(clinic):
    event = AuditEventFactory(clinic=clinic)
    event.object_id = "tampered"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).update(object_id="tampered")
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()


@pytest.mark.postgres
def test_database_refuses_raw_sql_updates_and_deletes(clinic):
    event = AuditEventFactory(clinic=clinic)
    for statement in (
        "UPDATE clinic_auditevent SET object_id = 'x' WHERE id = %s",
        "DELETE FROM clinic_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [event.pk])
    event.refresh_from_db()
    assert event.object_id == "1"


def test_audit_api_filters_by_patient_actor_and_date(clinic, make_staff, client_for):
    admin = client_for(make_staff(clinic, Role.CLINIC_ADMIN))
    patient = PatientFactory(clinic=clinic)
    nurse = make_staff(clinic, Role.NURSE)
    now = timezone.now()
    target = AuditEventFactory(clinic=clinic, patient=patient, actor=nurse.user, occurred_at=now)
    AuditEventFactory(clinic=clinic, patient=patient, occurred_at=now - dt.timedelta(days=3))
    AuditEventFactory(clinic=clinic, actor=nurse.user, occurred_at=now)

    def ids(query: str) -> list[int]:
        response = admin.get(f"/api/v1/audit-events/?{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    since = (now - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"patient={patient.pk}&actor={nurse.user.pk}&since={since}") == [target.pk]
    assert len(ids(f"patient={patient.pk}")) == 2
    assert ids("action=login") == []
    assert admin.get("/api/v1/audit-events/?since=not-a-date").status_code == 400


def test_audit_api_has_no_write_routes(clinic, make_staff, client_for):
    admin = client_for(make_staff(clinic, Role.CLINIC_ADMIN))
    event = AuditEventFactory(clinic=clinic)
    assert admin.post("/api/v1/audit-events/", {}, format="json").status_code == 405
    assert admin.delete(f"/api/v1/audit-events/{event.pk}/").status_code == 404
    assert admin.patch(f"/api/v1/audit-events/{event.pk}/", {}, format="json").status_code == 404


def test_audit_list_never_shows_another_clinics_events(clinic, other_clinic, make_staff, client_for):
    admin = client_for(make_staff(clinic, Role.CLINIC_ADMIN))
    AuditEventFactory(clinic=other_clinic)
    assert admin.get("/api/v1/audit-events/").json()["count"] == 0


def test_staff_writes_are_audited(clinic, make_staff, client_for):
    admin_member = make_staff(clinic, Role.CLINIC_ADMIN)
    admin = client_for(admin_member)

    def event(request_id: str) -> tuple:
        row = AuditEvent.objects.get(request_id=request_id)
        return (
            row.actor,
            row.actor_kind,
            row.action,
            row.object_type,
            row.clinic_id,
            row.object_id,
            row.changed_fields,
        )

    created = admin.post(
        "/api/v1/staff/",
        {"clinic": clinic.pk, "username": "new.nurse", "password": "a-long-enough-secret", "roles": ["nurse"]},
        format="json",
        HTTP_X_REQUEST_ID="staff-create",
    )
    assert created.status_code == 201, created.content
    member_id = created.json()["id"]
    assert event("staff-create") == (
        admin_member.user,
        "staff",
        "create",
        "staff_member",
        clinic.pk,
        str(member_id),
        [],
    )

    updated = admin.patch(
        f"/api/v1/staff/{member_id}/",
        {"max_concurrent_sessions": 3, "roles": ["nurse", "prescriber"]},
        format="json",
        HTTP_X_REQUEST_ID="staff-update",
    )
    assert updated.status_code == 200, updated.content
    action = event("staff-update")
    assert action[:6] == (admin_member.user, "staff", "update", "staff_member", clinic.pk, str(member_id))
    assert sorted(action[6]) == ["max_concurrent_sessions", "roles"]

    assert admin.delete(f"/api/v1/staff/{member_id}/", HTTP_X_REQUEST_ID="staff-deactivate").status_code == 204
    assert event("staff-deactivate") == (
        admin_member.user,
        "staff",
        "update",
        "staff_member",
        clinic.pk,
        str(member_id),
        ["active"],
    )


@pytest.mark.postgres
def test_each_audit_key_has_one_index_and_no_database_constraint(db):
    """A calendar page writes an event per patient shown: every index costs an insertion per event,
    and a foreign-key check would lock the row it names (FOR KEY SHARE) for every read. Each key
    (clinic, patient, actor) is indexed once, with the time, and carries no constraint."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, AuditEvent._meta.db_table)
    indexes = sorted(tuple(c["columns"]) for c in constraints.values() if c["index"] and not c["primary_key"])
    assert indexes == [("actor_id", "occurred_at"), ("clinic_id", "occurred_at"), ("patient_id", "occurred_at")]
    assert [c for c in constraints.values() if c["foreign_key"]] == []


def test_a_clinic_patient_or_user_with_audit_events_still_cannot_be_deleted(db):
    """Without the database constraint, PROTECT is the ORM's: the trail keeps what it names."""
    from django.db.models import ProtectedError

    from clinic.services.audit import audit_record
    from tests.factories.clinic import ClinicFactory, StaffMemberFactory

    clinic = ClinicFactory()
    patient = PatientFactory(clinic=clinic)
    user = StaffMemberFactory(clinic=clinic).user
    audit_record(
        actor=user,
        action="read",
        object_type="patient",
        object_id=patient.pk,
        clinic_id=clinic.pk,
        patient_id=patient.pk,
    )
    for obj in (patient, user):
        with pytest.raises(ProtectedError) as refused, transaction.atomic():
            obj.delete()
        assert any(isinstance(o, AuditEvent) for o in refused.value.protected_objects), obj
    assert type(patient).objects.filter(pk=patient.pk).exists()
