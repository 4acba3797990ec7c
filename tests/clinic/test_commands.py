"""Operator commands: bootstrap a clinic; load the idempotent demo."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from clinic import demo
from clinic.access import Role
from clinic.models import AuditEvent, CandidacyStatus, Clinic, OpeningHours, Patient, Room, StaffMember
from intake.demo import DEMO_STATUSES
from intake.models import Assessment


def test_bootstrap_creates_clinic_hours_and_first_admin(db):
    out = io.StringIO()
    call_command(
        "bootstrap_clinic",
        "--name=Harbour Clinic",
        "--timezone=America/Chicago",
        "--admin-username=harbour.admin",
        "--admin-password=long-enough-password-1",
        stdout=out,
    )
    clinic = Clinic.objects.get(name="Harbour Clinic")
    member = StaffMember.objects.get(clinic=clinic)
    assert member.roles == [Role.CLINIC_ADMIN]
    assert member.user.is_staff and member.user.check_password("long-enough-password-1")
    assert OpeningHours.objects.filter(clinic=clinic).count() == 5
    assert "harbour.admin" in out.getvalue()
    assert AuditEvent.objects.filter(object_type="clinic", action="create", clinic=clinic).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timezone=Nowhere/Land", "--admin-password=long-enough-password-1"], "timezone"),
        (["--timezone=UTC", "--admin-password=short"], "password"),
    ],
)
def test_bootstrap_refuses_bad_input_and_creates_nothing(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("bootstrap_clinic", "--name=X", "--admin-username=x.admin", *args)
    assert not Clinic.objects.exists()


def test_seed_demo_is_idempotent_and_prints_logins(db):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assessments = Assessment.objects.count()
    call_command("seed_demo", stdout=io.StringIO())
    clinic = Clinic.objects.get(name=demo.DEMO_CLINIC_NAME)
    assert Clinic.objects.count() == 1
    assert Room.objects.filter(clinic=clinic).count() == len(demo.DEMO_ROOMS)
    assert Patient.objects.filter(clinic=clinic).count() == len(DEMO_STATUSES)
    assert Assessment.objects.count() == assessments
    statuses = {p.candidacy_status_now() for p in Patient.objects.filter(clinic=clinic)}
    assert statuses == set(CandidacyStatus.values)
    assert "/forms/" in out.getvalue()
    from scheduling.models import Course, Session

    assert Course.objects.filter(patient__clinic=clinic).count() == 2
    assert Session.objects.filter(clinic=clinic, status="booked").count() >= 18
    roles = {r for m in StaffMember.objects.filter(clinic=clinic) for r in m.roles}
    assert roles == set(Role.values)
    modalities = {m for room in Room.objects.filter(clinic=clinic) for m in room.modalities}
    assert modalities == {"iv_ketamine", "im_ketamine", "esketamine_nasal"}
    text = out.getvalue()
    assert demo.DEMO_PASSWORD in text
    for username, *_ in demo.DEMO_USERS.values():
        assert username in text


def test_demo_logins_work(db, api_client):
    call_command("seed_demo", stdout=io.StringIO())
    response = api_client.post(
        "/api/v1/auth/token/", {"username": "demo-frontdesk", "password": demo.DEMO_PASSWORD}, format="json"
    )
    assert response.status_code == 200
