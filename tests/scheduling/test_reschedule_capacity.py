"""A moved session does not count against its own new time in the clinician's supervision limit.

The clinician's limit is counted twice: in memory from the scheduling context (which leaves the
sessions being moved out) and again from the database under the lock on the clinician's row.
The recount must leave them out as well: their rows still hold the old times until they are
written, so a session moved by less than its length would otherwise overlap itself and be
refused (one clinician) or silently handed to another clinician and chair (several).
"""

from __future__ import annotations

import datetime as dt

import pytest

from scheduling.models import Session, SessionEvent
from tests.factories.clinic import RoomFactory
from tests.factories.scheduling import ClinicianFactory, SessionFactory
from tests.scheduling.helpers import NY, book, local


def _limit(member, sessions: int):
    member.max_concurrent_sessions = sessions
    member.save(update_fields=["max_concurrent_sessions"])
    return member


def _book(world, start, **extra) -> int:
    response = book(world.front_desk, world, world.iv, start, **extra)
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _move(world, session_id, start, **extra):
    return world.front_desk.post(
        f"/api/v1/sessions/{session_id}/reschedule/", {"start": start.isoformat(), **extra}, format="json"
    )


def _others_session(world, room, start):
    """Another patient's session with the same nurse (IV, 100 minutes)."""
    return SessionFactory(
        clinic=world.clinic,
        patient=world.new_patient(),
        treatment_type=world.iv,
        room=room,
        clinician=world.nurse,
        starts_at=start,
    )


@pytest.mark.parametrize("limit", [1, 2])
def test_a_session_moved_by_less_than_its_length_keeps_its_only_clinician(world, limit):
    second_room = RoomFactory(clinic=world.clinic, name="Chair 2")
    _limit(world.nurse, limit)
    if limit == 2:
        # One place is taken by another patient for the whole time: the move needs the other one.
        _others_session(world, second_room, local(2027, 3, 2, 10))
    session_id = _book(world, local(2027, 3, 2, 10), room=world.room.pk)  # 10:00-11:40

    response = _move(world, session_id, local(2027, 3, 2, 10, 30))

    assert response.status_code == 200, response.content
    [moved] = response.json()
    assert (moved["clinician"], moved["room"]) == (world.nurse.pk, world.room.pk)
    session = Session.objects.get(pk=session_id)
    assert (session.starts_at, session.ends_at) == (local(2027, 3, 2, 10, 30), local(2027, 3, 2, 12, 10))
    assert (session.clinician_id, session.room_id) == (world.nurse.pk, world.room.pk)
    assert SessionEvent.objects.filter(session_id=session_id, kind="rescheduled").count() == 1


def test_a_small_move_keeps_the_clinician_and_chair_when_another_clinician_is_free(world):
    _limit(world.nurse, 1)
    ClinicianFactory(clinic=world.clinic, max_concurrent_sessions=1)
    second_room = RoomFactory(clinic=world.clinic, name="Chair 2")
    # The second chair, so a move that chose again would land in the first (least loaded, lowest id).
    session_id = _book(world, local(2027, 3, 2, 10), room=second_room.pk, clinician=world.nurse.pk)

    response = _move(world, session_id, local(2027, 3, 2, 10, 30))

    assert response.status_code == 200, response.content
    session = Session.objects.get(pk=session_id)
    assert session.starts_at == local(2027, 3, 2, 10, 30)
    assert (session.clinician_id, session.room_id) == (world.nurse.pk, second_room.pk)
    event = SessionEvent.objects.get(session_id=session_id, kind="rescheduled")
    assert (event.details["new"]["clinician"], event.details["new"]["room"]) == (world.nurse.pk, second_room.pk)


@pytest.mark.parametrize("scope", ["following", "all"])
def test_a_course_moved_by_half_an_hour_keeps_every_session_with_its_clinician(world, scope):
    _limit(world.nurse, 1)
    ClinicianFactory(clinic=world.clinic, max_concurrent_sessions=1)
    body = {
        "patient": world.patient.pk,
        "treatment_type": world.iv.pk,
        "protocol": "iv-induction",
        "first_start": local(2027, 3, 8, 10).isoformat(),
        "clinician": world.nurse.pk,
    }
    created = world.front_desk.post("/api/v1/series/", body, format="json")
    assert created.status_code == 201, created.content
    ids = [s["id"] for s in created.json()["sessions"]]
    before = {s.pk: s for s in Session.objects.filter(pk__in=ids)}
    assert {s.clinician_id for s in before.values()} == {world.nurse.pk}

    anchor = Session.objects.get(pk=ids[2])
    response = _move(world, anchor.pk, anchor.starts_at + dt.timedelta(minutes=30), scope=scope)

    assert response.status_code == 200, response.content
    reached = ids[2:] if scope == "following" else ids
    after = {s.pk: s for s in Session.objects.filter(pk__in=ids)}
    for pk in ids:
        old, new = before[pk].starts_at.astimezone(NY), after[pk].starts_at.astimezone(NY)
        expected = old.replace(minute=30) if pk in reached else old
        assert (new.date(), new.time()) == (expected.date(), expected.time()), pk
        assert (after[pk].clinician_id, after[pk].room_id) == (world.nurse.pk, world.room.pk), pk


def test_the_limit_still_refuses_a_move_onto_another_patients_session(world):
    second_room = RoomFactory(clinic=world.clinic, name="Chair 2")
    _limit(world.nurse, 1)
    _others_session(world, second_room, local(2027, 3, 2, 10, 30))  # 10:30-12:10
    session_id = _book(world, local(2027, 3, 2, 8), room=world.room.pk)  # 08:00-09:40

    response = _move(world, session_id, local(2027, 3, 2, 10))

    assert response.status_code == 409, response.content
    assert response.json()["code"] == "clinician_unavailable"
    session = Session.objects.get(pk=session_id)
    assert (session.starts_at, session.clinician_id, session.room_id) == (
        local(2027, 3, 2, 8),
        world.nurse.pk,
        world.room.pk,
    )
    assert not SessionEvent.objects.filter(session_id=session_id, kind="rescheduled").exists()
