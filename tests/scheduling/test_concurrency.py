"""No sequence of concurrent requests double-books a chair, a patient, or a clinician (PostgreSQL, threads)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from clinic.access import Role
from scheduling.models import Session, SessionEvent
from tests.factories.clinic import PatientFactory, RoomFactory, StaffMemberFactory
from tests.factories.scheduling import ClinicianFactory
from tests.scheduling.helpers import approve, book, local

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race_responses(calls) -> list:
    """Run the callables at the same instant, one thread and one connection each; return responses.

    An exception in a thread (a 500 raised through the test client) is returned in its place.
    """
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # a 500 raised through the test client: the caller asserts on it
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _status(response) -> int:
    return getattr(response, "status_code", 500)


def _code(response) -> str | None:
    return response.json().get("code") if hasattr(response, "json") and _status(response) >= 400 else None


def _room_overlaps(room) -> int:
    """Active sessions of the room whose occupied ranges overlap, counted by SQL (not through the ORM)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM scheduling_session a JOIN scheduling_session b
              ON a.id < b.id AND a.room_id = b.room_id
             AND tstzrange(a.starts_at, a.occupied_until, '[)') && tstzrange(b.starts_at, b.occupied_until, '[)')
             WHERE a.room_id = %s
               AND a.status IN ('booked', 'checked_in', 'in_progress')
               AND b.status IN ('booked', 'checked_in', 'in_progress')
            """,
            [room.pk],
        )
        return cursor.fetchone()[0]


def _client(world, client_for):
    return client_for(StaffMemberFactory(clinic=world.clinic, roles=[Role.FRONT_DESK]))


def test_twenty_threads_one_chair_one_time(world, client_for):
    assert connection.vendor == "postgresql"
    world.nurse.max_concurrent_sessions = 20
    world.nurse.save()
    patients = [approve(PatientFactory(clinic=world.clinic)) for _ in range(20)]
    clients = [_client(world, client_for) for _ in range(20)]
    start = local(2027, 3, 2, 10)
    responses = _race_responses(
        [
            lambda c=c, p=p: book(c, p, world.iv, start, room=world.room.pk)
            for c, p in zip(clients, patients, strict=True)
        ]
    )
    assert sorted(_status(r) for r in responses) == [201] + [409] * 19
    # Whether a loser's check saw the winner or the exclusion constraint stopped it, the answer is the same.
    assert [_code(r) for r in responses if _status(r) == 409] == ["room_unavailable"] * 19
    # Exactly one session in the whole table (no loser left a row behind, in this room or another),
    # and it is the winner's: the patient whose request answered 201.
    [winner] = [p for p, r in zip(patients, responses, strict=True) if _status(r) == 201]
    [session] = Session.objects.all()
    assert (session.patient_id, session.room_id, session.starts_at, session.status) == (
        winner.pk,
        world.room.pk,
        start,
        "booked",
    )
    assert SessionEvent.objects.count() == 1
    assert _room_overlaps(world.room) == 0


def test_bookings_naming_one_chair_and_each_its_own_clinician_at_once(world, client_for):
    """Fully named bookings share the clinic's lock, so these run side by side and meet at the
    chair's exclusion constraint: one is booked, every other one answers 409 and leaves nothing.
    A loser is refused by its own check (room_unavailable) or by the constraint; two inserts that
    each wait for the other there are a deadlock PostgreSQL breaks by aborting one, which answers
    409 concurrent_change (retry). Never a 500, never a second session."""
    patients = [approve(PatientFactory(clinic=world.clinic)) for _ in range(6)]
    nurses = [ClinicianFactory(clinic=world.clinic) for _ in patients]
    clients = [_client(world, client_for) for _ in patients]
    start = local(2027, 3, 2, 10)
    responses = _race_responses(
        [
            lambda c=c, p=p, n=n: book(c, p, world.iv, start, room=world.room.pk, clinician=n.pk)
            for c, p, n in zip(clients, patients, nurses, strict=True)
        ]
    )
    assert sorted(_status(r) for r in responses) == [201] + [409] * 5
    assert {_code(r) for r in responses if _status(r) == 409} <= {"room_unavailable", "concurrent_change"}
    [session] = Session.objects.all()
    assert session.room_id == world.room.pk and SessionEvent.objects.count() == 1
    assert _room_overlaps(world.room) == 0


def test_one_patient_two_chairs_at_once(world, client_for):
    rooms = [world.room, *[RoomFactory(clinic=world.clinic) for _ in range(9)]]
    world.nurse.max_concurrent_sessions = 10
    world.nurse.save()
    start = local(2027, 3, 2, 10)
    clients = [_client(world, client_for) for _ in rooms]
    responses = _race_responses(
        [lambda c=c, r=r: book(c, world, world.iv, start, room=r.pk) for c, r in zip(clients, rooms, strict=True)]
    )
    assert sorted(_status(r) for r in responses) == [201] + [409] * 9
    # Each loser asked for a free chair: the patient's own overlap is what refuses it.
    assert [_code(r) for r in responses if _status(r) == 409] == ["patient_overlap"] * 9
    [won] = [r for r in responses if _status(r) == 201]
    [session] = Session.objects.all()
    assert (session.pk, session.patient_id) == (won.json()["id"], world.patient.pk)


def test_clinician_limit_holds_under_concurrency(world, client_for):
    nurse = ClinicianFactory(clinic=world.clinic, max_concurrent_sessions=2)
    rooms = [RoomFactory(clinic=world.clinic) for _ in range(8)]
    patients = [approve(PatientFactory(clinic=world.clinic)) for _ in rooms]
    clients = [_client(world, client_for) for _ in rooms]
    start = local(2027, 3, 2, 10)
    responses = _race_responses(
        [
            lambda c=c, p=p, r=r: book(c, p, world.iv, start, room=r.pk, clinician=nurse.pk)
            for c, p, r in zip(clients, patients, rooms, strict=True)
        ]
    )
    assert sorted(_status(r) for r in responses) == [201, 201] + [409] * 6
    assert [_code(r) for r in responses if _status(r) == 409] == ["clinician_unavailable"] * 6
    assert sorted(Session.objects.values_list("pk", flat=True)) == sorted(
        r.json()["id"] for r in responses if _status(r) == 201
    )
    assert Session.objects.filter(clinician=nurse, status="booked").count() == 2


def test_duplicate_idempotent_requests_in_parallel_book_once(world, client_for):
    client = _client(world, client_for)
    start = local(2027, 3, 2, 10)
    responses = _race_responses(
        [lambda: book(client, world, world.iv, start, idempotency_key="same-key") for _ in range(6)]
    )
    assert [_status(r) for r in responses] == [201] * 6
    assert {r.json()["id"] for r in responses} == set(Session.objects.values_list("pk", flat=True))
    assert Session.objects.count() == 1


def test_the_database_refuses_an_overlap_even_without_the_service(world):
    """The exclusion constraint holds for every writer, not just the booking service."""
    from django.db import IntegrityError, transaction

    from tests.factories.scheduling import SessionFactory

    first = SessionFactory(
        clinic=world.clinic,
        treatment_type=world.iv,
        room=world.room,
        clinician=world.nurse,
        starts_at=local(2027, 3, 2, 10),
        ends_at=local(2027, 3, 2, 11, 30),
        occupied_until=local(2027, 3, 2, 11, 45),
    )
    with pytest.raises(IntegrityError, match="session_no_room_overlap"), transaction.atomic():
        SessionFactory(
            clinic=world.clinic,
            treatment_type=world.iv,
            room=world.room,
            clinician=world.nurse,
            starts_at=local(2027, 3, 2, 11, 40),
            ends_at=local(2027, 3, 2, 13),
            occupied_until=local(2027, 3, 2, 13, 15),
        )
    first.status = "cancelled"
    first.save()
    SessionFactory(
        clinic=world.clinic,
        treatment_type=world.iv,
        room=world.room,
        clinician=world.nurse,
        starts_at=local(2027, 3, 2, 11, 40),
        ends_at=local(2027, 3, 2, 13),
        occupied_until=local(2027, 3, 2, 13, 15),
    )


# --- a reschedule racing a booking ---------------------------------------------------------------


def _move(client, session_id, start):
    return client.post(f"/api/v1/sessions/{session_id}/reschedule/", {"start": start.isoformat()}, format="json")


def test_a_reschedule_that_loses_the_chair_to_a_concurrent_writer_answers_409(world, client_for):
    """The move's checks read the calendar; another writer then puts a session in the chair and
    commits before the move writes. The exclusion constraint refuses the UPDATE: 409
    room_unavailable, never 500, and nothing moves.

    The rival moves an existing session with a bare UPDATE rather than through the service: every
    booking and move of a clinic already waits for the others (``lock_patient`` also locks the
    clinic's row), so only a writer outside the service (a script, another app) can slip in
    between; the constraint is what stops it, and the move must answer as if its own check had.
    """
    from unittest import mock

    from scheduling.services import lifecycle
    from tests.factories.scheduling import SessionFactory

    desk = _client(world, client_for)
    old_start, new_start = local(2027, 3, 2, 10), local(2027, 3, 3, 10)
    session_id = book(desk, world, world.iv, old_start).json()["id"]
    rival = SessionFactory(
        clinic=world.clinic,
        patient=world.new_patient(),
        treatment_type=world.iv,
        room=world.room,
        clinician=world.nurse,
        starts_at=local(2027, 3, 5, 10),
    )
    checked, rival_done = threading.Event(), threading.Event()
    read_context = lifecycle.scheduling_context

    def read_then_let_the_rival_commit(**kwargs):
        context = read_context(**kwargs)
        checked.set()
        assert rival_done.wait(timeout=30)
        return context

    def rival_write():
        assert checked.wait(timeout=30)
        try:
            length, occupied = rival.ends_at - rival.starts_at, rival.occupied_until - rival.starts_at
            return Session.objects.filter(pk=rival.pk).update(
                starts_at=new_start, ends_at=new_start + length, occupied_until=new_start + occupied
            )
        finally:
            rival_done.set()

    with mock.patch.object(lifecycle, "scheduling_context", read_then_let_the_rival_commit):
        moved, written = _race_responses([lambda: _move(desk, session_id, new_start), rival_write])
    assert written == 1
    assert (_status(moved), _code(moved)) == (409, "room_unavailable"), moved
    assert Session.objects.get(pk=session_id).starts_at == old_start  # rolled back, history intact
    assert not SessionEvent.objects.filter(session_id=session_id, kind="rescheduled").exists()
    assert _room_overlaps(world.room) == 0


def test_reschedules_and_bookings_racing_for_one_chair(world, client_for):
    """A move and a booking for the same chair and time at once, several rounds: each time exactly
    one wins and the other gets 409 room_unavailable, never 500, and the chair never overlaps."""
    desk, rival_desk = _client(world, client_for), _client(world, client_for)
    for round_ in range(4):
        mover, rival = world.new_patient(), world.new_patient()
        session_id = book(desk, mover, world.iv, local(2027, 3, 2 + 2 * round_, 14)).json()["id"]
        target = local(2027, 3, 3 + 2 * round_, 10)
        responses = _race_responses(
            [
                lambda s=session_id, t=target: _move(desk, s, t),
                lambda r=rival, t=target: book(rival_desk, r, world.iv, t, room=world.room.pk),
            ]
        )
        statuses = [_status(r) for r in responses]
        assert sorted(statuses) in ([200, 409], [201, 409]), (round_, responses)
        assert [_code(r) for r in responses if _status(r) == 409] == ["room_unavailable"]
        assert Session.objects.filter(room=world.room, starts_at=target, status="booked").count() == 1
    assert _room_overlaps(world.room) == 0


_REGISTRATION = {
    "first_name": "Quinn",
    "last_name": "Harrow",
    "date_of_birth": "1985-04-03",
    "sex_at_birth": "female",
    "email": "quinn@mail.test",
    "preferred_channel": "email",
}


@pytest.mark.parametrize("other", ["calendar_read", "patient_registration"])
def test_front_desk_work_does_not_wait_for_a_booking_in_flight(world, client_for, other):
    """A booking holds its patient and clinic rows until it commits. The clinic's other front-desk
    work must not queue behind it: a calendar read (which locks nothing), and a registration, whose
    new patient row references the clinic (its foreign-key check takes FOR KEY SHARE on the clinic
    row, which the booking's FOR NO KEY UPDATE allows and a FOR UPDATE would block)."""
    import time
    from unittest import mock

    from scheduling.services import booking as booking_service
    from tests.factories.scheduling import SessionFactory

    SessionFactory(
        clinic=world.clinic,
        patient=world.patient,
        treatment_type=world.iv,
        room=world.room,
        clinician=world.nurse,
        starts_at=local(2027, 3, 2, 10),
        ends_at=local(2027, 3, 2, 11, 40),
        occupied_until=local(2027, 3, 2, 11, 55),
    )
    holding, release = threading.Event(), threading.Event()
    read_and_lock = booking_service.booking_reads

    def hold_the_locks(**kwargs):
        reads = read_and_lock(**kwargs)
        holding.set()
        assert release.wait(timeout=30)
        return reads

    desk, colleague = _client(world, client_for), _client(world, client_for)
    timings: dict[str, float] = {}
    requests = {
        "calendar_read": lambda: colleague.get("/api/v1/sessions/?start=2027-03-02T00:00:00Z&end=2027-03-03T00:00:00Z"),
        "patient_registration": lambda: colleague.post(
            "/api/v1/patients/", {**_REGISTRATION, "clinic": world.clinic.pk}, format="json"
        ),
    }

    def meanwhile():
        assert holding.wait(timeout=30)
        started = time.monotonic()
        try:
            return requests[other]()
        finally:
            timings[other] = time.monotonic() - started
            release.set()

    with mock.patch.object(booking_service, "booking_reads", hold_the_locks):
        booked, answered = _race_responses([lambda: book(desk, world, world.iv, local(2027, 3, 9, 10)), meanwhile])
    assert _status(booked) == 201, booked
    assert _status(answered) == (200 if other == "calendar_read" else 201), answered
    if other == "calendar_read":
        assert answered.json()["count"] == 1
    # It finished while the booking still held its locks (they are released only afterwards).
    assert timings[other] < 10
