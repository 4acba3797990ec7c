"""The exclusion constraints (PostgreSQL): what they refuse, and that every write maps a refusal to 409.

The services check the calendar before they write, so a constraint fires through them only when
another writer changed the table after the check. These tests make the check blind (patching the
pure predicate to "free") so the write meets the constraint deterministically.
"""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import IntegrityError, transaction

from scheduling.models import Session, SessionEvent
from tests.factories.clinic import RoomFactory
from tests.factories.scheduling import SessionFactory
from tests.scheduling.helpers import book, local

pytestmark = pytest.mark.postgres


def _session(world, patient, room, start):
    return SessionFactory(
        clinic=world.clinic, patient=patient, treatment_type=world.iv, room=room, clinician=world.nurse, starts_at=start
    )


def _move(world, session_id, start, **extra):
    return world.front_desk.post(
        f"/api/v1/sessions/{session_id}/reschedule/", {"start": start.isoformat(), **extra}, format="json"
    )


def test_the_database_refuses_one_patient_in_two_chairs(world):
    second = RoomFactory(clinic=world.clinic, name="Chair 2")
    first = _session(world, world.patient, world.room, local(2027, 3, 2, 10))  # 10:00-11:40
    with pytest.raises(IntegrityError, match="session_no_patient_overlap"), transaction.atomic():
        _session(world, world.patient, second, local(2027, 3, 2, 11))
    # Half-open: a session starting as the first ends does not overlap it (the interval rule is the service's).
    _session(world, world.patient, second, local(2027, 3, 2, 11, 40))
    # Only active sessions count: once the first is cancelled, its time is free for the patient again.
    first.status = Session.Status.CANCELLED
    first.save()
    _session(world, world.patient, RoomFactory(clinic=world.clinic), local(2027, 3, 2, 10))


def test_the_patient_constraint_through_booking_is_409_patient_overlap(world):
    second = RoomFactory(clinic=world.clinic, name="Chair 2")
    assert book(world.front_desk, world, world.iv, local(2027, 3, 2, 10), room=world.room.pk).status_code == 201
    with mock.patch("scheduling.availability.patient_is_free", return_value=True):
        response = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10, 30), room=second.pk)
    assert response.status_code == 409
    assert response.json()["code"] == "patient_overlap"
    assert Session.objects.filter(patient=world.patient).count() == 1


def test_the_patient_constraint_through_reschedule_is_409_patient_overlap(world):
    second = RoomFactory(clinic=world.clinic, name="Chair 2")
    assert book(world.front_desk, world, world.iv, local(2027, 3, 2, 10), room=world.room.pk).status_code == 201
    later = book(world.front_desk, world, world.iv, local(2027, 3, 4, 10), room=second.pk).json()["id"]
    with mock.patch("scheduling.availability.patient_is_free", return_value=True):
        response = _move(world, later, local(2027, 3, 2, 10, 30))
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "patient_overlap"
    assert Session.objects.get(pk=later).starts_at == local(2027, 3, 4, 10)
    assert not SessionEvent.objects.filter(session_id=later, kind="rescheduled").exists()


def test_the_room_constraint_through_reschedule_is_409_room_unavailable(world):
    mine = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10)).json()["id"]
    other = world.new_patient()
    assert book(world.front_desk, other, world.iv, local(2027, 3, 3, 10), room=world.room.pk).status_code == 201
    with mock.patch("scheduling.availability.room_is_free", return_value=True):
        response = _move(world, mine, local(2027, 3, 3, 11))  # inside the other's session
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "room_unavailable"
    assert Session.objects.get(pk=mine).starts_at == local(2027, 3, 2, 10)


def _course(world) -> list[int]:
    body = {
        "patient": world.patient.pk,
        "treatment_type": world.iv.pk,
        "protocol": "iv-induction",
        "first_start": local(2027, 3, 8, 10).isoformat(),
    }
    response = world.front_desk.post("/api/v1/series/", body, format="json")
    assert response.status_code == 201, response.content
    return [s["id"] for s in response.json()["sessions"]]  # Mon/Wed/Fri 10:00 from 2027-03-08


@pytest.mark.parametrize("scope", ["all", "following"])
def test_a_course_move_the_database_refuses_moves_nothing_and_lists_the_conflict(world, scope):
    ids = _course(world)
    before = dict(Session.objects.filter(pk__in=ids).values_list("pk", "starts_at"))
    # Another patient's session on Tuesday 16 March, where the fourth occurrence (Mon 15) would land.
    _session(world, world.new_patient(), world.room, local(2027, 3, 16, 10))
    anchor = ids[0] if scope == "all" else ids[1]
    new_start = local(2027, 3, 9, 10) if scope == "all" else local(2027, 3, 11, 10)
    with mock.patch("scheduling.availability.room_is_free", return_value=True):
        response = _move(world, anchor, new_start, scope=scope)
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "reschedule_conflict"
    assert [(c["session"], c["start"], c["code"]) for c in body["conflicts"]] == [
        (ids[3], "2027-03-16T10:00:00-04:00", "room_unavailable")
    ]
    assert dict(Session.objects.filter(pk__in=ids).values_list("pk", "starts_at")) == before
    assert not SessionEvent.objects.filter(session_id__in=ids, kind="rescheduled").exists()
