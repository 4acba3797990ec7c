"""The Django admin, as a clinic administrator uses it: scoped to their clinics, audit read-only."""

from __future__ import annotations

import pytest

from clinic.access import Role
from clinic.models import AuditEvent, Room
from tests.factories.clinic import AuditEventFactory, PatientFactory, RoomFactory


@pytest.fixture
def admin_client(client, clinic, make_staff):
    member = make_staff(clinic, Role.CLINIC_ADMIN)
    member.user.is_staff = True
    member.user.save()
    client.force_login(member.user)
    client.member = member
    return client


def test_admin_lists_only_my_clinics_rooms(admin_client, clinic, other_clinic):
    mine = RoomFactory(clinic=clinic, name="My chair")
    RoomFactory(clinic=other_clinic, name="Their chair")
    page = admin_client.get("/admin/clinic/room/")
    assert page.status_code == 200
    assert b"My chair" in page.content
    assert b"Their chair" not in page.content
    assert admin_client.get(f"/admin/clinic/room/{mine.pk}/change/").status_code == 200


def test_another_clinics_room_cannot_be_opened(admin_client, other_clinic):
    theirs = RoomFactory(clinic=other_clinic)
    response = admin_client.get(f"/admin/clinic/room/{theirs.pk}/change/")
    assert response.status_code == 302  # Django admin's "does not exist" redirect


def test_room_change_goes_through_the_service_and_is_audited(admin_client, clinic):
    room = RoomFactory(clinic=clinic, name="Chair A", modalities=["iv_ketamine"])
    response = admin_client.post(
        f"/admin/clinic/room/{room.pk}/change/",
        {"clinic": clinic.pk, "name": "Chair A", "kind": "chair", "modalities": ["iv_ketamine", "im_ketamine"]},
    )
    assert response.status_code == 302, response.content[:2000]
    room.refresh_from_db()
    assert room.modalities == ["im_ketamine", "iv_ketamine"]
    assert room.active is False  # unchecked box
    event = AuditEvent.objects.get(object_type="room", action="update")
    assert event.actor == admin_client.member.user
    assert set(event.changed_fields) == {"modalities", "active"}


def test_audit_events_are_read_only_in_the_admin(admin_client, clinic):
    event = AuditEventFactory(clinic=clinic)
    assert admin_client.get("/admin/clinic/auditevent/").status_code == 200
    assert admin_client.get(f"/admin/clinic/auditevent/{event.pk}/change/").status_code == 200
    assert admin_client.post(f"/admin/clinic/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.post(f"/admin/clinic/auditevent/{event.pk}/change/", {"object_id": "x"}).status_code == 403
    assert admin_client.get("/admin/clinic/auditevent/add/").status_code == 403
    event.refresh_from_db()
    assert event.object_id == "1"


def test_clinic_admins_do_not_see_patients_in_the_admin(admin_client, clinic):
    PatientFactory(clinic=clinic)
    assert admin_client.get("/admin/clinic/patient/").status_code == 403


def test_operator_reads_patients_and_the_read_is_audited(client, django_user_model, clinic):
    operator = django_user_model.objects.create_superuser("operator", "op@clinic.test", "operator-password-1")
    client.force_login(operator)
    patient = PatientFactory(clinic=clinic)
    assert client.get(f"/admin/clinic/patient/{patient.pk}/change/").status_code == 200
    assert AuditEvent.objects.filter(actor=operator, patient=patient, action="read").exists()


def test_staff_member_added_in_the_admin(admin_client, clinic):
    response = admin_client.post(
        "/admin/clinic/staffmember/add/",
        {
            "clinic": clinic.pk,
            "username": "admin.added",
            "password": "a-long-enough-secret",
            "roles": ["nurse"],
            "max_concurrent_sessions": 2,
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    member = clinic.staff.get(user__username="admin.added")
    assert member.roles == ["nurse"]


def test_rooms_are_not_deleted_from_the_admin(admin_client, clinic):
    room = RoomFactory(clinic=clinic)
    assert admin_client.post(f"/admin/clinic/room/{room.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Room.objects.filter(pk=room.pk).exists()


def test_a_refused_admin_change_stays_on_the_form(admin_client, clinic):
    response = admin_client.post(
        "/admin/clinic/staffmember/add/",
        {
            "clinic": clinic.pk,
            "username": "weak.pw",
            "password": "123",
            "roles": ["nurse"],
            "max_concurrent_sessions": 1,
        },
        follow=True,
    )
    assert b"This password is too short" in response.content
    assert not clinic.staff.filter(user__username="weak.pw").exists()
