"""The role matrix of DESIGN.md section 4 over every clinic-app endpoint.

For each endpoint: every role that may gets its success status; every role that may not gets
403; the same permitted role in another clinic gets 404 (for creates, whose clinic is in the
body, a 400 naming the clinic: it does not exist for them); anonymous gets 401.
"""

from __future__ import annotations

import pytest

from tests.factories.clinic import (
    AlertFactory,
    ClinicFactory,
    OutboundMessageFactory,
    PatientFactory,
    RoomFactory,
    StaffMemberFactory,
)
from tests.role_matrix import ADMIN, ALL_ROLES, FD, NURSE, PRESCRIBER, Endpoint, call, cases

ENDPOINTS = [
    Endpoint("clinic list", "get", "/api/v1/clinics/", ALL_ROLES, 200, cross_clinic_status=200),
    Endpoint("clinic detail", "get", "/api/v1/clinics/{clinic}/", ALL_ROLES, 200),
    Endpoint("clinic update", "patch", "/api/v1/clinics/{clinic}/", [ADMIN], 200, {"name": "Renamed"}),
    Endpoint("room list", "get", "/api/v1/rooms/", ALL_ROLES, 200, cross_clinic_status=200),
    Endpoint("room detail", "get", "/api/v1/rooms/{room}/", ALL_ROLES, 200),
    Endpoint(
        "room create",
        "post",
        "/api/v1/rooms/",
        [ADMIN],
        201,
        {"clinic": "{clinic}", "name": "New chair", "modalities": ["iv_ketamine"]},
        cross_clinic_status=400,
    ),
    Endpoint("room update", "patch", "/api/v1/rooms/{room}/", [ADMIN], 200, {"active": False}),
    Endpoint("room delete", "delete", "/api/v1/rooms/{room}/", [ADMIN], 204),
    Endpoint("staff list", "get", "/api/v1/staff/", [ADMIN], 200, cross_clinic_status=200),
    Endpoint("staff detail", "get", "/api/v1/staff/{member}/", [ADMIN], 200),
    Endpoint(
        "staff create",
        "post",
        "/api/v1/staff/",
        [ADMIN],
        201,
        {"clinic": "{clinic}", "username": "new.nurse", "password": "a-long-enough-secret", "roles": ["nurse"]},
        cross_clinic_status=400,
    ),
    Endpoint("staff update", "patch", "/api/v1/staff/{member}/", [ADMIN], 200, {"max_concurrent_sessions": 3}),
    Endpoint("staff deactivate", "delete", "/api/v1/staff/{member}/", [ADMIN], 204),
    Endpoint("patient list", "get", "/api/v1/patients/", [FD, NURSE, PRESCRIBER], 200, cross_clinic_status=200),
    Endpoint("patient detail", "get", "/api/v1/patients/{patient}/", [FD, NURSE, PRESCRIBER], 200),
    Endpoint(
        "patient search",
        "post",
        "/api/v1/patients/search/",
        [FD, NURSE, PRESCRIBER],
        200,
        {"query": "Zed"},
        cross_clinic_status=200,
    ),
    Endpoint(
        "patient create",
        "post",
        "/api/v1/patients/",
        [FD],
        201,
        {
            "clinic": "{clinic}",
            "first_name": "Zed",
            "last_name": "Quill",
            "date_of_birth": "1980-01-02",
            "sex_at_birth": "male",
            "email": "zq@mail.test",
        },
        cross_clinic_status=400,
    ),
    Endpoint("patient update", "patch", "/api/v1/patients/{patient}/", [FD], 200, {"rems_patient_id": "R-1"}),
    Endpoint("patient archive", "delete", "/api/v1/patients/{patient}/", [FD], 204),
    Endpoint("patient restore", "post", "/api/v1/patients/{patient}/restore/", [FD], 200),
    Endpoint("audit events", "get", "/api/v1/audit-events/", [ADMIN], 200, cross_clinic_status=200),
    Endpoint("delivery log", "get", "/api/v1/notifications/", ALL_ROLES, 200, cross_clinic_status=200),
    Endpoint(
        "alert list",
        "get",
        "/api/v1/alerts/",
        [NURSE, PRESCRIBER],
        200,
        cross_clinic_status=200,
        cross_clinic_sees="other_alert",
    ),
    Endpoint("alert detail", "get", "/api/v1/alerts/{alert}/", [NURSE, PRESCRIBER], 200),
    Endpoint(
        "alert acknowledge",
        "post",
        "/api/v1/alerts/{alert}/acknowledge/",
        [NURSE, PRESCRIBER],
        200,
        {"note": "Called the patient; safety plan agreed."},
    ),
]


@pytest.fixture
def world(db):
    clinic = ClinicFactory()
    other = ClinicFactory()
    return {
        "clinic": clinic,
        "other": other,
        "room": RoomFactory(clinic=clinic),
        "member": StaffMemberFactory(clinic=clinic, roles=[NURSE]),
        "patient": PatientFactory(clinic=clinic, first_name="Zed"),
        "message": OutboundMessageFactory(clinic=clinic),
        "alert": AlertFactory(clinic=clinic),
        # The other clinic's own alert, so that its list is not empty by accident.
        "other_alert": AlertFactory(clinic=other),
    }


CASES = cases(ENDPOINTS)


@pytest.mark.parametrize(("endpoint", "role"), CASES)
def test_role_in_own_clinic(endpoint, role, world, client_for):
    client = client_for(StaffMemberFactory(clinic=world["clinic"], roles=[role]))
    response = call(client, endpoint, world)
    expected = endpoint.success if role in endpoint.allowed else 403
    assert response.status_code == expected, response.content
    if expected == 403:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_permitted_role_of_another_clinic(endpoint, world, client_for):
    client = client_for(StaffMemberFactory(clinic=world["other"], roles=[endpoint.allowed[0]]))
    response = call(client, endpoint, world)
    assert response.status_code == endpoint.cross_clinic_status, response.content
    if endpoint.cross_clinic_status == 404:
        assert response.json()["code"] == "not_found"
    elif endpoint.cross_clinic_status == 400:
        assert "clinic" in response.json()["errors"]
    elif endpoint.method == "get":
        # Lists answer 200 but hold nothing of the first clinic.
        results = response.json()["results"]
        assert all(row.get("clinic", row.get("id")) != world["clinic"].pk for row in results)
        if endpoint.cross_clinic_sees:
            assert [row["id"] for row in results] == [world[endpoint.cross_clinic_sees].pk]
    else:
        assert response.json()["results"] == []


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_anonymous_is_401(endpoint, world, api_client):
    response = call(api_client, endpoint, world)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"


def test_user_without_any_membership_is_403_everywhere(world, user, client_for):
    client = client_for(user)
    for endpoint in ENDPOINTS:
        assert call(client, endpoint, world).status_code == 403, endpoint.name


def test_deactivated_membership_loses_access(world, client_for):
    member = StaffMemberFactory(clinic=world["clinic"], roles=[FD], active=False)
    assert client_for(member).get(f"/api/v1/patients/{world['patient'].pk}/").status_code == 403


def test_several_roles_combine(world, client_for):
    member = StaffMemberFactory(clinic=world["clinic"], roles=[FD, ADMIN])
    client = client_for(member)
    assert client.get("/api/v1/audit-events/").status_code == 200
    assert client.get(f"/api/v1/patients/{world['patient'].pk}/").status_code == 200


def test_roles_are_per_clinic(world, client_for):
    """Admin in one clinic and front desk in another: admin powers stay in the first."""
    member = StaffMemberFactory(clinic=world["other"], roles=[ADMIN])
    StaffMemberFactory(clinic=world["clinic"], roles=[FD], user=member.user)
    client = client_for(member)
    assert client.patch(f"/api/v1/rooms/{world['room'].pk}/", {"active": False}, format="json").status_code == 404
    assert client.get(f"/api/v1/patients/{world['patient'].pk}/").status_code == 200
    assert client.patch(f"/api/v1/clinics/{world['other'].pk}/", {"name": "X"}, format="json").status_code == 200
