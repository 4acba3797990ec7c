"""Clinic administrators configure the clinic, its rooms and its staff."""

from __future__ import annotations

import datetime as dt

import pytest

from clinic.access import Role
from clinic.models import AuditEvent, OpeningHours, Room, StaffMember, User
from tests.factories.clinic import ClosureFactory, RoomFactory, StaffMemberFactory


@pytest.fixture
def admin_member(clinic, make_staff):
    return make_staff(clinic, Role.CLINIC_ADMIN)


@pytest.fixture
def admin(admin_member, client_for):
    return client_for(admin_member)


# --- clinic ---------------------------------------------------------------------------------------


def test_clinic_detail_shows_hours_closures_and_settings(clinic, admin):
    ClosureFactory(clinic=clinic, starts_on=dt.date(2026, 12, 24), ends_on=dt.date(2026, 12, 26))
    body = admin.get(f"/api/v1/clinics/{clinic.pk}/").json()
    assert body["timezone"] == "America/New_York"
    assert body["opening_hours"][0] == {"weekday": 0, "opens": "08:00:00", "closes": "20:00:00"}
    assert body["closures"] == [{"starts_on": "2026-12-24", "ends_on": "2026-12-26", "reason": "Holiday"}]
    assert body["reminder_hours_before"] == [48, 2]
    assert body["booking_confirmation_delay_minutes"] == 3


def test_patch_replaces_opening_hours_and_audits(clinic, admin, admin_member):
    hours = [
        {"weekday": 0, "opens": "09:00", "closes": "12:00"},
        {"weekday": 0, "opens": "13:00", "closes": "17:00"},
        {"weekday": 2, "opens": "10:00", "closes": "18:00"},
    ]
    response = admin.patch(f"/api/v1/clinics/{clinic.pk}/", {"opening_hours": hours, "name": "Renamed"}, format="json")
    assert response.status_code == 200, response.content
    assert [(h.weekday, h.opens, h.closes) for h in OpeningHours.objects.filter(clinic=clinic)] == [
        (0, dt.time(9), dt.time(12)),
        (0, dt.time(13), dt.time(17)),
        (2, dt.time(10), dt.time(18)),
    ]
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE, object_type="clinic")
    assert event.actor == admin_member.user
    assert sorted(event.changed_fields) == ["name", "opening_hours"]


@pytest.mark.parametrize(
    ("hours", "error_field"),
    [
        ([{"weekday": 1, "opens": "17:00", "closes": "09:00"}], "opening_hours.0.closes"),
        (
            [{"weekday": 1, "opens": "09:00", "closes": "13:00"}, {"weekday": 1, "opens": "12:00", "closes": "15:00"}],
            "opening_hours.1.opens",
        ),
        ([{"weekday": 1, "opens": "09:00"}], "opening_hours.0.closes"),
    ],
)
def test_bad_opening_hours_are_refused_and_nothing_changes(clinic, admin, hours, error_field):
    before = list(OpeningHours.objects.filter(clinic=clinic).values_list("weekday", "opens", "closes"))
    response = admin.patch(f"/api/v1/clinics/{clinic.pk}/", {"opening_hours": hours}, format="json")
    assert response.status_code == 400
    assert error_field in response.json()["errors"]
    assert list(OpeningHours.objects.filter(clinic=clinic).values_list("weekday", "opens", "closes")) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"reminder_hours_before": [48, 48]}, "reminder_hours_before"),
        ({"reminder_hours_before": [0]}, "reminder_hours_before.0"),
        ({"closures": [{"starts_on": "2026-12-26", "ends_on": "2026-12-24"}]}, "closures.0.ends_on"),
        ({"slot_step_minutes": 2}, "slot_step_minutes"),
    ],
)
def test_bad_settings_name_the_field(clinic, admin, change, field):
    response = admin.patch(f"/api/v1/clinics/{clinic.pk}/", change, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_clinic_list_shows_only_my_clinics(clinic, other_clinic, admin):
    body = admin.get("/api/v1/clinics/").json()
    assert [row["id"] for row in body["results"]] == [clinic.pk]


# --- rooms ----------------------------------------------------------------------------------------


def test_room_lifecycle(clinic, admin):
    created = admin.post(
        "/api/v1/rooms/", {"name": "Suite 9", "modalities": ["esketamine_nasal", "im_ketamine"]}, format="json"
    )
    assert created.status_code == 201
    room_id = created.json()["id"]
    assert created.json()["modalities"] == ["esketamine_nasal", "im_ketamine"]
    duplicate = admin.post("/api/v1/rooms/", {"name": "Suite 9", "modalities": []}, format="json")
    assert duplicate.status_code == 400
    assert duplicate.json()["errors"] == {"name": ["A room with this name already exists in the clinic."]}, (
        duplicate.json()
    )
    bad = admin.patch(f"/api/v1/rooms/{room_id}/", {"modalities": ["laughing_gas"]}, format="json")
    assert bad.status_code == 400
    assert "modalities.0" in bad.json()["errors"]
    assert admin.patch(f"/api/v1/rooms/{room_id}/", {"active": False}, format="json").json()["active"] is False
    assert admin.delete(f"/api/v1/rooms/{room_id}/").status_code == 204
    assert not Room.objects.filter(pk=room_id).exists()
    assert list(AuditEvent.objects.filter(object_type="room").order_by("id").values_list("action", flat=True)) == [
        "create",
        "update",
        "delete",
    ]


def test_rooms_filter_by_modality(clinic, admin):
    iv = RoomFactory(clinic=clinic, modalities=["iv_ketamine"])
    RoomFactory(clinic=clinic, modalities=["esketamine_nasal"])
    body = admin.get("/api/v1/rooms/?modality=iv_ketamine").json()
    assert [row["id"] for row in body["results"]] == [iv.pk]


# --- staff ----------------------------------------------------------------------------------------


def test_create_staff_with_roles_and_limit(clinic, admin):
    response = admin.post(
        "/api/v1/staff/",
        {
            "username": "nina.nurse",
            "password": "a-long-enough-secret",
            "first_name": "Nina",
            "roles": ["prescriber", "nurse", "nurse"],
            "max_concurrent_sessions": 3,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["roles"] == ["nurse", "prescriber"]
    assert body["max_concurrent_sessions"] == 3
    assert "password" not in body
    assert User.objects.get(username="nina.nurse").check_password("a-long-enough-secret")


def test_cannot_take_over_a_login_from_another_clinic(clinic, other_clinic, admin):
    outsider = StaffMemberFactory(clinic=other_clinic, roles=[Role.NURSE])
    response = admin.post(
        "/api/v1/staff/",
        {"username": outsider.user.username, "password": "hijack-the-account", "roles": ["nurse"]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"]["username"] == ["A user with this username already exists."]
    assert not StaffMember.objects.filter(clinic=clinic, user=outsider.user).exists()


def test_admin_of_both_clinics_may_add_an_existing_colleague(clinic, other_clinic, admin_member, admin):
    StaffMemberFactory(clinic=other_clinic, user=admin_member.user, roles=[Role.CLINIC_ADMIN])
    colleague = StaffMemberFactory(clinic=other_clinic, roles=[Role.NURSE])
    response = admin.post(
        "/api/v1/staff/", {"clinic": clinic.pk, "username": colleague.user.username, "roles": ["nurse"]}, format="json"
    )
    assert response.status_code == 201, response.content
    assert StaffMember.objects.filter(user=colleague.user).count() == 2


def test_last_admin_cannot_remove_themselves(clinic, admin_member, admin):
    response = admin.patch(f"/api/v1/staff/{admin_member.pk}/", {"roles": ["nurse"]}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "last_admin"
    assert admin.delete(f"/api/v1/staff/{admin_member.pk}/").status_code == 409


def test_deactivating_the_only_membership_revokes_tokens(clinic, admin, client_for):
    nurse = StaffMemberFactory(clinic=clinic, roles=[Role.NURSE])
    nurse_client = client_for(nurse)
    assert admin.delete(f"/api/v1/staff/{nurse.pk}/").status_code == 204
    nurse.refresh_from_db()
    assert nurse.active is False
    assert nurse_client.get("/api/v1/me/").status_code == 401


def test_clinic_admin_role_opens_the_django_admin(clinic, admin):
    response = admin.post(
        "/api/v1/staff/",
        {"username": "second.admin", "password": "a-long-enough-secret", "roles": ["clinic_admin"]},
        format="json",
    )
    user = User.objects.get(username="second.admin")
    assert user.is_staff and not user.is_superuser
    admin.patch(f"/api/v1/staff/{response.json()['id']}/", {"roles": ["front_desk"]}, format="json")
    user.refresh_from_db()
    assert not user.is_staff
