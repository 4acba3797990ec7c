"""The session lifecycle's transition table, the checked-in exits, and the scope rules of moves and cancellations."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from clinic.errors import Conflict
from scheduling.models import Session, SessionEvent
from scheduling.services.lifecycle import ensure_transition, session_mark_completed
from tests.factories.scheduling import SessionFactory
from tests.scheduling.helpers import NY, book, local

ESCORT = {"escort_name": "Pat Driver", "escort_phone": "+12025550177"}

# The README's lifecycle section, as data.
DOCUMENTED = {
    ("booked", "checked_in"),
    ("booked", "cancelled"),
    ("booked", "no_show"),
    ("checked_in", "in_progress"),
    ("checked_in", "completed"),  # discharged without a dose (monitoring)
    ("checked_in", "cancelled"),  # came, not dosed, no monitoring record yet
    ("in_progress", "completed"),
}


def test_the_transition_table_is_the_documented_one():
    for source, target in itertools.product(Session.Status.values, repeat=2):
        session = Session(status=source)
        if (source, target) in DOCUMENTED:
            ensure_transition(session, target)
        else:
            with pytest.raises(Conflict) as refused:
                ensure_transition(session, target)
            assert refused.value.code == "invalid_transition", (source, target)


def _post(world, session_id, action, body=None):
    return world.front_desk.post(f"/api/v1/sessions/{session_id}/{action}/", body or {}, format="json")


def _today(world, hour=15) -> int:
    response = book(world.front_desk, world, world.iv, local(2027, 3, 1, hour))
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _in_state(world, status: str) -> Session:
    return SessionFactory(
        clinic=world.clinic,
        patient=world.patient,
        treatment_type=world.iv,
        room=world.room,
        clinician=world.nurse,
        starts_at=local(2027, 3, 1, 9),  # today, already started
        status=status,
    )


@pytest.mark.parametrize("status", ["in_progress", "completed", "no_show", "cancelled"])
@pytest.mark.parametrize(
    ("action", "body"), [("cancel", {"reason": "Unwell"}), ("check-in", ESCORT), ("no-show", None)]
)
def test_cancel_check_in_or_no_show_of_a_running_or_finished_session_answers_409(world, status, action, body):
    session = _in_state(world, status)
    response = _post(world, session.pk, action, body)
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    session.refresh_from_db()
    assert session.status == status


@pytest.mark.parametrize("status", ["checked_in", "in_progress", "completed", "no_show", "cancelled"])
def test_only_a_booked_session_can_be_rescheduled(world, status):
    session = _in_state(world, status)
    response = _post(world, session.pk, "reschedule", {"start": local(2027, 3, 3, 10).isoformat()})
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    session.refresh_from_db()
    assert (session.starts_at, session.status) == (local(2027, 3, 1, 9), status)


def test_a_checked_in_patient_who_is_not_dosed_is_cancelled_without_a_late_flag(world):
    session_id = _today(world)
    assert _post(world, session_id, "check-in", ESCORT).status_code == 200
    response = _post(world, session_id, "cancel", {"reason": "Blood pressure 168/104 before dosing"})
    assert response.status_code == 200, response.content
    [cancelled] = response.json()
    # Three hours ahead, inside the 24-hour window: a booked session would be flagged late.
    assert (cancelled["status"], cancelled["late_cancellation"]) == ("cancelled", False)
    kinds = list(SessionEvent.objects.filter(session_id=session_id).values_list("kind", flat=True))
    assert kinds == ["booked", "checked_in", "cancelled"]
    # The chair is free again.
    other = world.new_patient()
    assert book(world.front_desk, other, world.iv, local(2027, 3, 1, 15), room=world.room.pk).status_code == 201


def test_a_checked_in_session_with_monitoring_started_is_not_cancelled(world):
    from monitoring.models import MonitoringRecord

    session_id = _today(world)
    assert _post(world, session_id, "check-in", ESCORT).status_code == 200
    MonitoringRecord.objects.create(
        session_id=session_id,
        clinic=world.clinic,
        patient=world.patient,
        modality="iv_ketamine",
        opened_by=world.nurse.user,
        hours_since_food=4,
        hours_since_liquids=2,
        escort_confirmed=True,
        benzodiazepines=False,
        sedative_hypnotics=False,
        psychostimulants=False,
        maois=False,
        medications_confirmed=True,
        pregnancy_test="not_applicable",
        weight_kg=70,
    )
    response = _post(world, session_id, "cancel", {"reason": "Blood pressure too high"})
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert Session.objects.get(pk=session_id).status == "checked_in"


def test_a_checked_in_session_discharged_without_a_dose_is_completed(world):
    session_id = _today(world)
    assert _post(world, session_id, "check-in", ESCORT).status_code == 200
    session = session_mark_completed(actor=None, session=Session.objects.get(pk=session_id), at=timezone.now())
    assert session.status == "completed"
    assert SessionEvent.objects.filter(session_id=session_id).last().kind == "completed"
    other = book(world.front_desk, world.new_patient(), world.iv, local(2027, 3, 2, 10)).json()["id"]
    booked = Session.objects.get(pk=other)
    with pytest.raises(Conflict) as refused:
        session_mark_completed(actor=None, session=booked, at=timezone.now())
    assert refused.value.code == "invalid_transition"


# --- scopes ---------------------------------------------------------------------------------------


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


def _starts(ids) -> list[dt.datetime]:
    by_id = dict(Session.objects.filter(pk__in=ids).values_list("pk", "starts_at"))
    return [by_id[i] for i in ids]


def _statuses(ids) -> list[str]:
    by_id = dict(Session.objects.filter(pk__in=ids).values_list("pk", "status"))
    return [by_id[i] for i in ids]


def test_reschedule_following_moves_this_and_the_later_ones(world):
    ids = _course(world)
    before = _starts(ids)
    response = _post(world, ids[2], "reschedule", {"start": local(2027, 3, 13, 11).isoformat(), "scope": "following"})
    assert response.status_code == 200, response.content
    assert sorted(s["id"] for s in response.json()) == ids[2:]
    after = _starts(ids)
    assert after[:2] == before[:2]
    # A day later each, at the new local time, across the DST change of 14 March.
    assert after[2:] == [local(2027, 3, 13, 11), local(2027, 3, 16, 11), local(2027, 3, 18, 11), local(2027, 3, 20, 11)]
    assert SessionEvent.objects.filter(session_id__in=ids, kind="rescheduled").count() == 4


def test_cancel_this_on_a_course_session_keeps_the_siblings(world):
    ids = _course(world)
    response = _post(world, ids[2], "cancel", {"reason": "Away that day", "scope": "this"})
    assert response.status_code == 200
    assert [s["id"] for s in response.json()] == [ids[2]]
    assert _statuses(ids) == ["booked", "booked", "cancelled", "booked", "booked", "booked"]


def test_cancel_all_from_the_middle_cancels_the_whole_course(world):
    ids = _course(world)
    response = _post(world, ids[3], "cancel", {"reason": "Stopping treatment", "scope": "all"})
    assert response.status_code == 200
    assert sorted(s["id"] for s in response.json()) == ids
    assert _statuses(ids) == ["cancelled"] * 6
    assert SessionEvent.objects.filter(session_id__in=ids, kind="cancelled").count() == 6


@pytest.mark.parametrize(
    ("action", "body"),
    [("cancel", {"reason": "x", "scope": "everything"}), ("reschedule", {"start": "2027-03-09T10:00:00-05:00"})],
)
def test_an_invalid_scope_is_400_naming_the_field(world, action, body):
    ids = _course(world)
    body = {"scope": "some", **body}
    response = _post(world, ids[0], action, body)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["scope"]
    assert _statuses(ids) == ["booked"] * 6


@pytest.mark.parametrize("scope", ["all", "following"])
def test_a_course_move_with_conflicting_occurrences_moves_nothing_and_lists_them(world, scope):
    ids = _course(world)
    before = _starts(ids)
    # Other patients hold the only chair on Tuesday 16 and Thursday 18 March at 10:00, where the
    # fourth and fifth occurrences would land after a one-day move.
    for day in (16, 18):
        assert book(world.front_desk, world.new_patient(), world.iv, local(2027, 3, day, 10)).status_code == 201
    anchor, new_start = (ids[0], local(2027, 3, 9, 10)) if scope == "all" else (ids[1], local(2027, 3, 11, 10))
    response = _post(world, anchor, "reschedule", {"start": new_start.isoformat(), "scope": scope})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "reschedule_conflict"
    assert sorted((c["session"], c["start"], c["code"]) for c in body["conflicts"]) == [
        (ids[3], "2027-03-16T10:00:00-04:00", "room_unavailable"),
        (ids[4], "2027-03-18T10:00:00-04:00", "room_unavailable"),
    ]
    assert all(c["detail"] for c in body["conflicts"])
    assert _starts(ids) == before
    assert not SessionEvent.objects.filter(session_id__in=ids, kind="rescheduled").exists()


def _reasons(ids) -> list[str]:
    by_id = dict(Session.objects.filter(pk__in=ids).values_list("pk", "cancel_reason"))
    return [by_id[i] for i in ids]


# Which of the course's six sessions (indexes) a change anchored on the third one touches.
SCOPE_REACH = {"this": [2], "following": [2, 3, 4, 5], "all": [0, 1, 2, 3, 4, 5]}


@pytest.mark.parametrize("scope", list(SCOPE_REACH))
def test_each_scope_moves_exactly_its_sessions_by_a_day(world, scope):
    ids = _course(world)
    before = _starts(ids)
    # Friday 12 March 10:00 -> Saturday 13 March 10:00: one local day later.
    response = _post(world, ids[2], "reschedule", {"start": local(2027, 3, 13, 10).isoformat(), "scope": scope})
    assert response.status_code == 200, response.content
    reached = [ids[i] for i in SCOPE_REACH[scope]]
    assert [s["id"] for s in response.json()] == reached  # in start order
    # Those reached: 10:00 local a day later (across the DST change of 14 March); the rest unchanged.
    expected = [
        local(2027, 3, start.astimezone(NY).day + 1, 10) if session_id in reached else start
        for session_id, start in zip(ids, before, strict=True)
    ]
    assert _starts(ids) == expected
    assert sorted(SessionEvent.objects.filter(kind="rescheduled").values_list("session_id", flat=True)) == reached


@pytest.mark.parametrize("scope", list(SCOPE_REACH))
def test_each_scope_cancels_exactly_its_sessions(world, scope):
    ids = _course(world)
    response = _post(world, ids[2], "cancel", {"reason": "Patient request", "scope": scope})
    assert response.status_code == 200, response.content
    reached = [ids[i] for i in SCOPE_REACH[scope]]
    assert sorted(s["id"] for s in response.json()) == reached
    assert _statuses(ids) == ["cancelled" if i in reached else "booked" for i in ids]
    assert sorted(SessionEvent.objects.filter(kind="cancelled").values_list("session_id", flat=True)) == reached


def test_a_scoped_move_leaves_sessions_that_are_no_longer_booked_where_they_were(world):
    ids = _course(world)
    assert _post(world, ids[4], "cancel", {"reason": "Away that day"}).status_code == 200
    before = _starts(ids)
    response = _post(world, ids[0], "reschedule", {"start": local(2027, 3, 9, 10).isoformat(), "scope": "all"})
    assert response.status_code == 200, response.content
    assert [s["id"] for s in response.json()] == ids[:4] + ids[5:]
    after = _starts(ids)
    assert after[4] == before[4]
    assert all(after[i] != before[i] for i in (0, 1, 2, 3, 5))
    assert _statuses(ids)[4] == "cancelled"


def test_a_scoped_cancel_skips_sessions_already_cancelled_and_keeps_their_reason(world):
    ids = _course(world)
    assert _post(world, ids[5], "cancel", {"reason": "Holiday"}).status_code == 200
    response = _post(world, ids[1], "cancel", {"reason": "Stopping treatment", "scope": "following"})
    assert response.status_code == 200, response.content
    assert sorted(s["id"] for s in response.json()) == ids[1:5]
    assert _statuses(ids) == ["booked"] + ["cancelled"] * 5
    assert _reasons(ids)[1:] == ["Stopping treatment"] * 4 + ["Holiday"]


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("cancel", {"reason": "Stopping treatment"}),
        ("reschedule", {"start": "2027-03-09T10:00:00-05:00"}),
    ],
)
@pytest.mark.parametrize("scope", ["following", "all"])
def test_a_scoped_change_anchored_on_a_session_that_is_not_booked_changes_nothing(world, action, body, scope):
    ids = _course(world)
    Session.objects.filter(pk=ids[0]).update(status=Session.Status.NO_SHOW)  # as if Monday had passed
    before = _starts(ids)
    response = _post(world, ids[0], action, {**body, "scope": scope})
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert _statuses(ids) == ["no_show"] + ["booked"] * 5
    assert _starts(ids) == before
    assert not SessionEvent.objects.filter(session_id__in=ids).exclude(kind="booked").exists()


@pytest.mark.parametrize("scope", ["following", "all"])
def test_a_course_scope_on_a_single_session_touches_only_that_session(world, scope):
    single = _today(world)
    other = book(world.front_desk, world, world.iv, local(2027, 3, 4, 10)).json()["id"]
    moved = _post(world, single, "reschedule", {"start": local(2027, 3, 2, 10).isoformat(), "scope": scope})
    assert moved.status_code == 200, moved.content
    assert [s["id"] for s in moved.json()] == [single]
    cancelled = _post(world, single, "cancel", {"reason": "Unwell", "scope": scope})
    assert [s["id"] for s in cancelled.json()] == [single]
    assert _statuses([single, other]) == ["cancelled", "booked"]
    assert _starts([other]) == [local(2027, 3, 4, 10)]
