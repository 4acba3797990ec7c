"""Series all or nothing, scoped moves and cancellations, and the session lifecycle."""

from __future__ import annotations

import datetime as dt

import time_machine

from scheduling.models import Session, SessionEvent
from tests.factories.clinic import RoomFactory
from tests.factories.scheduling import SessionFactory
from tests.scheduling.helpers import NY, book, local


def series(client, world, treatment_type, protocol, first_start, **extra):
    body = {
        "patient": world.patient.pk,
        "treatment_type": treatment_type.pk,
        "protocol": protocol,
        "first_start": first_start.isoformat(),
        **extra,
    }
    return client.post("/api/v1/series/", body, format="json")


def test_a_treatment_type_no_longer_offered_is_refused_for_a_single_booking_and_a_series(world):
    world.iv.active = False
    world.iv.save()
    single = book(world.front_desk, world, world.iv, local(2027, 3, 8, 10))
    course = series(world.front_desk, world, world.iv, "iv-induction", local(2027, 3, 8, 10))
    for response in (single, course):
        assert response.status_code == 400, response.content
        assert response.json()["errors"] == {"treatment_type": ["This treatment type is no longer offered."]}
    assert not Session.objects.exists()


def test_iv_induction_books_six_sessions_in_two_weeks(world):
    response = series(world.front_desk, world, world.iv, "iv-induction", local(2027, 3, 8, 10))
    assert response.status_code == 201, response.content
    starts = [s["start"] for s in response.json()["sessions"]]
    assert starts == [
        "2027-03-08T10:00:00-05:00",
        "2027-03-10T10:00:00-05:00",
        "2027-03-12T10:00:00-05:00",
        "2027-03-15T10:00:00-04:00",  # after the DST change: still 10:00 local
        "2027-03-17T10:00:00-04:00",
        "2027-03-19T10:00:00-04:00",
    ]
    assert [s["sequence"] for s in response.json()["sessions"]] == [1, 2, 3, 4, 5, 6]


def test_esketamine_induction_stays_at_ten_across_dst(world):
    response = series(world.front_desk, world, world.esketamine, "esketamine-trd-induction", local(2027, 3, 2, 10))
    assert response.status_code == 201, response.content
    sessions = response.json()["sessions"]
    assert len(sessions) == 12
    local_times = {dt.datetime.fromisoformat(s["start"]).astimezone(NY).time() for s in sessions}
    assert local_times == {dt.time(10)}
    offsets = {s["start"][-6:] for s in sessions}
    assert offsets == {"-05:00", "-04:00"}


def test_series_is_all_or_nothing_with_a_conflict_report(world):
    # Occupy the only chair at the third occurrence (Friday 2027-03-12 10:00).
    blocker = world.new_patient()
    assert book(world.front_desk, blocker, world.iv, local(2027, 3, 12, 10)).status_code == 201
    response = series(world.front_desk, world, world.iv, "iv-induction", local(2027, 3, 8, 10))
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "series_conflict"
    [conflict] = body["conflicts"]
    assert (conflict["sequence"], conflict["code"]) == (3, "room_unavailable")
    assert conflict["start"] == "2027-03-12T10:00:00-05:00"
    assert conflict["alternatives"], "nearest free starts are offered"
    assert all(alt.startswith("2027-03-") for alt in conflict["alternatives"])
    assert Session.objects.filter(patient=world.patient).count() == 0


def test_series_protocol_must_match_modality(world):
    response = series(world.front_desk, world, world.iv, "esketamine-trd-induction", local(2027, 3, 8, 10))
    assert response.status_code == 400
    assert "protocol" in response.json()["errors"]


def _course(world):
    response = series(world.front_desk, world, world.iv, "iv-induction", local(2027, 3, 8, 10))
    assert response.status_code == 201
    return [s["id"] for s in response.json()["sessions"]]


def test_cancel_following_keeps_the_earlier_ones(world):
    ids = _course(world)
    response = world.front_desk.post(
        f"/api/v1/sessions/{ids[3]}/cancel/", {"reason": "Moving away", "scope": "following"}, format="json"
    )
    assert response.status_code == 200
    assert sorted(s["id"] for s in response.json()) == ids[3:]
    statuses = dict(Session.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert [statuses[i] for i in ids] == ["booked"] * 3 + ["cancelled"] * 3


def test_reschedule_all_moves_every_session_by_a_day_keeping_local_time(world):
    ids = _course(world)
    response = world.front_desk.post(
        f"/api/v1/sessions/{ids[0]}/reschedule/",
        {"start": local(2027, 3, 9, 11).isoformat(), "scope": "all"},
        format="json",
    )
    assert response.status_code == 200, response.content
    starts = [s["start"] for s in response.json()]
    assert starts[0] == "2027-03-09T11:00:00-05:00"
    assert starts[3] == "2027-03-16T11:00:00-04:00"
    history = SessionEvent.objects.filter(session_id=ids[0], kind="rescheduled").get()
    assert history.details["old"]["starts_at"].startswith("2027-03-08T15:00")  # 10:00 EST in UTC


def test_reschedule_this_moves_one_and_refuses_a_clash(world):
    RoomFactory(clinic=world.clinic, name="Chair 2")  # a free room, so the patient's own clash is what refuses
    ids = _course(world)
    moved = world.front_desk.post(
        f"/api/v1/sessions/{ids[1]}/reschedule/", {"start": local(2027, 3, 10, 15).isoformat()}, format="json"
    )
    assert moved.status_code == 200
    assert Session.objects.get(pk=ids[2]).starts_at == local(2027, 3, 12, 10)
    clash = world.front_desk.post(
        f"/api/v1/sessions/{ids[1]}/reschedule/", {"start": local(2027, 3, 12, 10).isoformat()}, format="json"
    )
    assert clash.status_code == 409
    assert clash.json()["code"] == "patient_overlap"
    assert Session.objects.get(pk=ids[1]).starts_at == local(2027, 3, 10, 15)


def test_check_in_requires_the_escort_and_happens_on_the_day(world):
    session_id = book(world.front_desk, world, world.iv, local(2027, 3, 1, 15)).json()["id"]
    missing = world.front_desk.post(f"/api/v1/sessions/{session_id}/check-in/", {}, format="json")
    assert missing.status_code == 400
    assert set(missing.json()["errors"]) == {"escort_name", "escort_phone"}
    ok = world.front_desk.post(
        f"/api/v1/sessions/{session_id}/check-in/",
        {"escort_name": "Pat Driver", "escort_phone": "+12025550177"},
        format="json",
    )
    assert ok.status_code == 200
    assert ok.json()["status"] == "checked_in"
    later = book(world.front_desk, world.new_patient(), world.iv, local(2027, 3, 4, 10)).json()["id"]
    early = world.front_desk.post(
        f"/api/v1/sessions/{later}/check-in/", {"escort_name": "A", "escort_phone": "+12025550177"}, format="json"
    )
    assert early.status_code == 409
    assert early.json()["code"] == "invalid_transition"


def test_invalid_transitions_answer_409(world):
    session_id = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10)).json()["id"]
    assert world.front_desk.post(f"/api/v1/sessions/{session_id}/no-show/").json()["code"] == "invalid_transition"
    world.front_desk.post(f"/api/v1/sessions/{session_id}/cancel/", {"reason": "Ill"}, format="json")
    for path in ("no-show/", "cancel/", "check-in/"):
        body = {"reason": "x"} if path == "cancel/" else {"escort_name": "A", "escort_phone": "+12025550177"}
        response = world.front_desk.post(f"/api/v1/sessions/{session_id}/{path}", body, format="json")
        assert response.json()["code"] == "invalid_transition", path


def test_no_show_after_the_start(world, client_for):
    session_id = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10)).json()["id"]
    with time_machine.travel(local(2027, 3, 2, 10, 30), tick=False):
        # A new login: yesterday's token has expired by now.
        response = client_for(world.front_desk_member).post(f"/api/v1/sessions/{session_id}/no-show/")
    assert response.status_code == 200
    assert response.json()["status"] == "no_show"


def test_late_cancellation_is_flagged(world):
    soon = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10)).json()["id"]  # 22 h ahead
    later = book(world.front_desk, world.new_patient(), world.iv, local(2027, 3, 5, 10)).json()["id"]
    first = world.front_desk.post(f"/api/v1/sessions/{soon}/cancel/", {"reason": "Sick"}, format="json").json()
    second = world.front_desk.post(f"/api/v1/sessions/{later}/cancel/", {"reason": "Sick"}, format="json").json()
    assert first[0]["late_cancellation"] is True
    assert second[0]["late_cancellation"] is False


def test_cancellation_frees_the_chair(world):
    session_id = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10)).json()["id"]
    other = world.new_patient()
    taken = book(world.front_desk, other, world.iv, local(2027, 3, 2, 10), room=world.room.pk)
    assert taken.json()["code"] == "room_unavailable"
    world.front_desk.post(f"/api/v1/sessions/{session_id}/cancel/", {"reason": "Sick"}, format="json")
    assert book(world.front_desk, other, world.iv, local(2027, 3, 2, 10), room=world.room.pk).status_code == 201


def test_reschedule_moves_room_when_the_old_one_is_taken(world):
    second = RoomFactory(clinic=world.clinic, name="Chair 2")
    session_id = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10), room=world.room.pk).json()["id"]
    SessionFactory(
        clinic=world.clinic,
        treatment_type=world.iv,
        room=world.room,
        clinician=world.nurse,
        starts_at=local(2027, 3, 3, 14),
        ends_at=local(2027, 3, 3, 15, 30),
        occupied_until=local(2027, 3, 3, 15, 45),
    )
    moved = world.front_desk.post(
        f"/api/v1/sessions/{session_id}/reschedule/", {"start": local(2027, 3, 3, 14).isoformat()}, format="json"
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()[0]["room"] == second.pk
