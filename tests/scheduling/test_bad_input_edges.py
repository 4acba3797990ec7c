"""Inputs at the edges answer 4xx, never 500: a non-numeric id, a year datetime cannot reach, and a
request that lost a deadlock to another (PostgreSQL aborted it)."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import psycopg
import pytest
from django.db import OperationalError

from scheduling.models import Session
from tests.scheduling.helpers import book, local


@pytest.mark.parametrize(
    "url",
    ["/api/v1/sessions/abc/", "/api/v1/patients/abc/", "/api/v1/treatment-types/1e3/", "/api/v1/alerts/-1/"],
)
def test_a_non_numeric_id_is_a_404_problem(world, url):
    response = world.front_desk.get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("start", ["0001-01-01T05:00:00Z", "9999-12-20T10:00:00-05:00"])
def test_a_start_in_an_unreachable_year_names_the_field(world, start):
    booked = world.front_desk.post(
        "/api/v1/sessions/",
        {"patient": world.patient.pk, "treatment_type": world.iv.pk, "start": start},
        format="json",
    )
    assert booked.status_code == 400
    assert "between the years" in booked.json()["errors"]["start"][0]
    searched = world.front_desk.get(
        "/api/v1/availability/", {"treatment_type": world.iv.pk, "start": start, "end": "9999-12-31T00:00:00Z"}
    )
    assert searched.status_code == 400
    assert set(searched.json()["errors"]) >= {"start", "end"}
    series = world.front_desk.post(
        "/api/v1/series/",
        {"patient": world.patient.pk, "treatment_type": world.iv.pk, "protocol": "iv-induction", "first_start": start},
        format="json",
    )
    assert series.status_code == 400
    assert "first_start" in series.json()["errors"]


@pytest.mark.postgres
def test_a_booking_that_lost_a_deadlock_is_a_409_to_retry_and_saves_nothing(world):
    def aborted(**kwargs):
        raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected("deadlock detected")

    with mock.patch("scheduling.services.booking.session_book_requested", side_effect=aborted):
        response = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10))
    assert response.status_code == 409
    assert response.json()["code"] == "concurrent_change"
    assert not Session.objects.exists()
    # Any other database error is still a server error (not dressed up as a conflict).
    with (
        mock.patch("scheduling.services.booking.session_book_requested", side_effect=OperationalError("disk full")),
        pytest.raises(OperationalError),
    ):
        book(world.front_desk, world, world.iv, local(2027, 3, 2, 10) + dt.timedelta(days=1))


def test_another_clinics_room_or_clinician_is_a_404_and_an_unsuitable_one_of_ours_a_409(world, other_clinic):
    from tests.factories.clinic import RoomFactory
    from tests.factories.scheduling import ClinicianFactory

    theirs_room, theirs_nurse = RoomFactory(clinic=other_clinic), ClinicianFactory(clinic=other_clinic)
    start = local(2027, 3, 2, 10)
    assert book(world.front_desk, world, world.iv, start, room=theirs_room.pk).status_code == 404
    assert book(world.front_desk, world, world.iv, start, clinician=theirs_nurse.pk).status_code == 404
    assert book(world.front_desk, world, world.iv, start, room=987654).status_code == 404
    spravato_only = RoomFactory(clinic=world.clinic, modalities=["esketamine_nasal"])
    assert book(world.front_desk, world, world.iv, start, room=spravato_only.pk).json()["code"] == "room_unavailable"
    assert not Session.objects.exists()
