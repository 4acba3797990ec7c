"""Outcomes over HTTP from an intake and surveys answered through their message links, and who may
see outcomes and the delivery log."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from clinic.access import Role
from intake.messages import followup_survey_schedule, survey_create
from tests.factories.clinic import PatientFactory, StaffMemberFactory
from tests.intake.answers import clean_intake, gad7, phq9
from tests.intake.flows import submit_intake
from tests.messaging.helpers import answer_survey, client_of, dispatch, emails_to, link_token
from tests.scheduling.helpers import NOW, book, local


def _answer_next_survey(clock, patient, at: dt.datetime, answers: dict) -> None:
    clock.move_to(at)
    dispatch()
    email = [m for m in emails_to(patient.email) if "/forms/" in m.body][-1]
    response = answer_survey(link_token(email.body), answers)
    assert response.status_code == 200, response.content


def _outcomes(client, patient):
    return client.get(f"/api/v1/patients/{patient.pk}/outcomes/")


def test_response_and_remission_from_intake_and_surveys(world, clock):
    patient = PatientFactory(clinic=world.clinic)
    nurse = world.nurse
    submit_intake(patient, clean_intake(phq9=phq9(3, 3, 3, 3, 2, 2, 2, 2, 0), gad7=gad7(2, 2, 2, 2, 2, 2, 2)))

    followup_survey_schedule(patient=patient, session_id=1, discharged_at=NOW)
    _answer_next_survey(clock, patient, NOW + dt.timedelta(hours=24), {"phq9": phq9(1, 1, 1, 1, 1, 1, 1, 2, 0)})
    body = _outcomes(client_of(nurse), patient)
    assert body.status_code == 200, body.content
    phq, gad = body.json()["instruments"]["phq9"], body.json()["instruments"]["gad7"]
    assert (phq["baseline"]["total"], phq["baseline"]["source"]) == (20, "intake")
    assert (phq["latest"]["total"], phq["latest"]["source"]) == (9, "survey")
    assert (phq["change"], phq["percent_change"], phq["response"], phq["remission"]) == (-11, -55.0, True, False)
    assert (gad["baseline"]["total"], gad["latest"]["total"], gad["response"], gad["remission"]) == (
        14,
        14,
        False,
        False,
    )

    survey_create(patient=patient, codes=("phq9", "gad7"), send_at=local(2027, 3, 8, 10), reason="weekly:2027-W10")
    _answer_next_survey(
        clock,
        patient,
        local(2027, 3, 8, 10),
        {"phq9": phq9(1, 1, 1, 1, 0, 0, 0, 0, 0), "gad7": gad7(2, 2, 1, 1, 1, 1, 0)},
    )
    outcomes = _outcomes(client_of(nurse), patient).json()["instruments"]
    phq, gad = outcomes["phq9"], outcomes["gad7"]
    assert (phq["baseline"]["total"], phq["latest"]["total"], phq["response"], phq["remission"]) == (20, 4, True, True)
    assert [p["total"] for p in phq["series"]] == [20, 9, 4]
    # GAD-7 14 -> 8: a 43% drop is not a response, and 8 is not remission.
    assert (gad["latest"]["total"], gad["percent_change"], gad["response"], gad["remission"]) == (
        8,
        -42.9,
        False,
        False,
    )

    survey_create(patient=patient, codes=("gad7",), send_at=local(2027, 3, 15, 10), reason="weekly:2027-W11")
    _answer_next_survey(clock, patient, local(2027, 3, 15, 10), {"gad7": gad7(1, 1, 1, 1, 0, 0, 0)})
    gad = _outcomes(client_of(nurse), patient).json()["instruments"]["gad7"]
    assert (gad["baseline"]["total"], gad["latest"]["total"], gad["response"], gad["remission"]) == (14, 4, True, True)


@pytest.fixture
def staff(world, other_clinic):
    clinic = world.clinic
    return {
        "front_desk": StaffMemberFactory(clinic=clinic, roles=[Role.FRONT_DESK]),
        "nurse": StaffMemberFactory(clinic=clinic, roles=[Role.NURSE]),
        "prescriber": StaffMemberFactory(clinic=clinic, roles=[Role.PRESCRIBER]),
        "clinic_admin": StaffMemberFactory(clinic=clinic, roles=[Role.CLINIC_ADMIN]),
        "other_nurse": StaffMemberFactory(clinic=other_clinic, roles=[Role.NURSE]),
        "other_front_desk": StaffMemberFactory(clinic=other_clinic, roles=[Role.FRONT_DESK]),
    }


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("front_desk", 403),
        ("clinic_admin", 403),
        ("nurse", 200),
        ("prescriber", 200),
        ("other_nurse", 404),
        ("anonymous", 401),
    ],
)
def test_outcomes_role_matrix(world, staff, who, expected):
    submit_intake(world.patient)
    client = APIClient() if who == "anonymous" else client_of(staff[who])
    response = _outcomes(client, world.patient)
    assert response.status_code == expected, response.content
    if expected == 200:
        assert response.json()["instruments"]["phq9"]["baseline"]["total"] == 12


NOTIFICATION_FIELDS = {
    "id",
    "clinic",
    "patient",
    "staff",
    "kind",
    "channel",
    "subject_type",
    "subject_id",
    "scheduled_for",
    "status",
    "attempts",
    "sent_at",
    "last_error",
    "cancel_reason",
    "created_at",
}


@pytest.mark.parametrize("who", ["front_desk", "nurse", "prescriber", "clinic_admin"])
def test_staff_see_their_clinics_delivery_log_without_addresses_or_text(world, staff, clock, who):
    world.patient.preferred_channel = "sms"
    world.patient.save()
    assert book(world.front_desk, world, world.iv, local(2027, 3, 5, 10)).status_code == 201
    clock.move_to(NOW + dt.timedelta(minutes=3))
    dispatch()

    response = client_of(staff[who]).get("/api/v1/notifications/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert sorted((r["kind"], r["status"]) for r in rows) == [
        ("booking_confirmation", "sent"),
        ("session_reminder", "pending"),
        ("session_reminder", "pending"),
    ]
    assert all(set(r) == NOTIFICATION_FIELDS for r in rows)
    content = response.content.decode()
    for detail in (str(world.patient.phone), world.patient.email, world.patient.first_name, "Riverside clinic:"):
        assert detail not in content

    sent = client_of(staff[who]).get("/api/v1/notifications/", {"status": "sent", "patient": world.patient.pk})
    assert [r["kind"] for r in sent.json()["results"]] == ["booking_confirmation"]


def test_another_clinic_sees_none_of_the_rows_and_anonymous_is_refused(world, staff, clock):
    assert book(world.front_desk, world, world.iv, local(2027, 3, 5, 10)).status_code == 201
    for who in ("other_nurse", "other_front_desk"):
        response = client_of(staff[who]).get("/api/v1/notifications/")
        assert response.status_code == 200
        assert response.json()["results"] == []
        filtered = client_of(staff[who]).get("/api/v1/notifications/", {"clinic": world.clinic.pk})
        assert filtered.status_code == 200
        assert filtered.json()["results"] == []
    assert APIClient().get("/api/v1/notifications/").status_code == 401
