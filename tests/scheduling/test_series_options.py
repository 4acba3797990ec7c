"""Booking a series: Idempotency-Key replays, the weekdays option, and an explicit room or clinician."""

from __future__ import annotations

import pytest

from clinic.models import AuditEvent, IdempotencyKey, OutboundMessage
from scheduling.models import Course, Session, SessionEvent
from tests.factories.clinic import RoomFactory
from tests.factories.scheduling import ClinicianFactory, SessionFactory
from tests.scheduling.helpers import book, local


def series(world, *, key: str | None = None, **fields):
    body = {
        "patient": world.patient.pk,
        "treatment_type": world.iv.pk,
        "protocol": "iv-induction",
        "first_start": local(2027, 3, 8, 10).isoformat(),
        **fields,
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return world.front_desk.post("/api/v1/series/", body, format="json", **headers)


def rows() -> dict[str, int]:
    """Everything a booking writes, counted."""
    return {
        "courses": Course.objects.count(),
        "sessions": Session.objects.count(),
        "events": SessionEvent.objects.count(),
        "audit": AuditEvent.objects.count(),
        "outbox": OutboundMessage.objects.count(),
        "keys": IdempotencyKey.objects.count(),
    }


# --- Idempotency-Key ----------------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_first_course_and_writes_nothing(world):
    first = series(world, key="course-7f3a")
    assert first.status_code == 201, first.content
    after_first = rows()
    assert (after_first["courses"], after_first["sessions"], after_first["keys"]) == (1, 6, 1)
    again = series(world, key="course-7f3a")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert rows() == after_first


def test_without_a_key_a_second_request_is_a_new_booking_attempt(world):
    """The control for the replay test: the same body without a key is refused as a clash, so it
    is the key, not the body, that makes the retry harmless."""
    assert series(world).status_code == 201
    second = series(world)
    assert second.status_code == 409
    assert second.json()["code"] == "series_conflict"
    assert Course.objects.count() == 1


def test_the_same_key_with_a_different_body_is_refused_and_writes_nothing(world):
    assert series(world, key="course-1").status_code == 201
    before = rows()
    other = series(world, key="course-1", first_start=local(2027, 3, 22, 10).isoformat())
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert rows() == before


def test_a_refused_series_does_not_burn_its_key(world):
    blocker = book(world.front_desk, world.new_patient(), world.iv, local(2027, 3, 12, 10)).json()["id"]
    refused = series(world, key="course-2")
    assert refused.status_code == 409
    assert refused.json()["code"] == "series_conflict"
    assert not IdempotencyKey.objects.exists()
    cancel = world.front_desk.post(f"/api/v1/sessions/{blocker}/cancel/", {"reason": "Moved away"}, format="json")
    assert cancel.status_code == 200
    retried = series(world, key="course-2")
    assert retried.status_code == 201, retried.content
    assert len(retried.json()["sessions"]) == 6


# --- weekdays -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_day", "expected_days"),
    [
        (9, [9, 11, 16, 18, 23, 25]),  # Tue/Thu from a Tuesday: two a week, three weeks
        (8, [8, 11, 16, 18, 23, 25]),  # from a Monday: the first session is where it was asked for
    ],
)
def test_weekdays_replace_the_protocols_days(world, first_day, expected_days):
    response = series(world, first_start=local(2027, 3, first_day, 10).isoformat(), weekdays=[1, 3])
    assert response.status_code == 201, response.content
    starts = [s["start"][:16] for s in response.json()["sessions"]]
    assert starts == [f"2027-03-{day:02d}T10:00" for day in expected_days]
    course = Course.objects.get()
    assert course.weekdays == [1, 3]
    starts_in_db = Session.objects.filter(course=course).order_by("sequence").values_list("starts_at", flat=True)
    assert list(starts_in_db) == [local(2027, 3, day, 10) for day in expected_days]


def test_without_weekdays_the_protocols_days_are_used(world):
    assert series(world).status_code == 201
    assert Course.objects.get().weekdays == [0, 2, 4]


@pytest.mark.parametrize("weekdays", [[], [7], [-1], ["monday"], "0,2,4"])
def test_invalid_weekdays_are_400_naming_the_field(world, weekdays):
    response = series(world, weekdays=weekdays)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors and all(field.startswith("weekdays") for field in errors), errors
    assert not Course.objects.exists()


# --- an explicit room or clinician ------------------------------------------------------------------


def test_an_explicit_room_is_used_for_every_session(world):
    chair_2 = RoomFactory(clinic=world.clinic, name="Chair 2")
    # Chair 2 is the busier one on the first day, so left to itself the booking would pick Chair 1.
    SessionFactory(
        clinic=world.clinic,
        treatment_type=world.iv,
        room=chair_2,
        clinician=world.nurse,
        starts_at=local(2027, 3, 8, 15),
    )
    response = series(world, room=chair_2.pk)
    assert response.status_code == 201, response.content
    assert {s["room"] for s in response.json()["sessions"]} == {chair_2.pk}
    assert set(Session.objects.filter(patient=world.patient).values_list("room_id", flat=True)) == {chair_2.pk}


def test_an_explicit_room_busy_at_one_occurrence_refuses_the_course_though_another_is_free(world):
    chair_2 = RoomFactory(clinic=world.clinic, name="Chair 2")
    SessionFactory(
        clinic=world.clinic,
        treatment_type=world.iv,
        room=chair_2,
        clinician=world.nurse,
        starts_at=local(2027, 3, 12, 10),
        ends_at=local(2027, 3, 12, 11, 40),
        occupied_until=local(2027, 3, 12, 11, 55),
    )
    refused = series(world, room=chair_2.pk)
    assert refused.status_code == 409
    assert refused.json()["code"] == "series_conflict"
    assert [(c["sequence"], c["code"]) for c in refused.json()["conflicts"]] == [(3, "room_unavailable")]
    assert not Session.objects.filter(patient=world.patient).exists()
    assert not Course.objects.exists()
    # Without the explicit room the same course fits, Friday's session in Chair 1.
    chosen = series(world)
    assert chosen.status_code == 201
    assert chosen.json()["sessions"][2]["room"] == world.room.pk


def test_an_explicit_clinician_supervises_every_session(world):
    second_nurse = ClinicianFactory(clinic=world.clinic)  # higher id: not the default tie-break
    response = series(world, clinician=second_nurse.pk)
    assert response.status_code == 201, response.content
    assert {s["clinician"] for s in response.json()["sessions"]} == {second_nurse.pk}
