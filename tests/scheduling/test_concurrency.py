"""No sequence of concurrent requests double-books a chair, a patient, or a clinician (PostgreSQL, threads)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from clinic.access import Role
from scheduling.models import Session
from tests.factories.clinic import PatientFactory, RoomFactory, StaffMemberFactory
from tests.factories.scheduling import ClinicianFactory
from tests.scheduling.helpers import approve, book, local

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(calls) -> list[int]:
    """Run the callables at the same instant, one thread and one connection each; return statuses."""
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = [0] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            statuses[index] = call().status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return statuses


def _client(world, client_for):
    return client_for(StaffMemberFactory(clinic=world.clinic, roles=[Role.FRONT_DESK]))


def test_twenty_threads_one_chair_one_time(world, client_for):
    assert connection.vendor == "postgresql"
    world.nurse.max_concurrent_sessions = 20
    world.nurse.save()
    patients = [approve(PatientFactory(clinic=world.clinic)) for _ in range(20)]
    clients = [_client(world, client_for) for _ in range(20)]
    start = local(2027, 3, 2, 10)
    statuses = _race(
        [
            lambda c=c, p=p: book(c, p, world.iv, start, room=world.room.pk)
            for c, p in zip(clients, patients, strict=True)
        ]
    )
    assert sorted(statuses) == [201] + [409] * 19
    assert Session.objects.filter(room=world.room, status="booked").count() == 1


def test_one_patient_two_chairs_at_once(world, client_for):
    rooms = [world.room, *[RoomFactory(clinic=world.clinic) for _ in range(9)]]
    world.nurse.max_concurrent_sessions = 10
    world.nurse.save()
    start = local(2027, 3, 2, 10)
    clients = [_client(world, client_for) for _ in rooms]
    statuses = _race(
        [lambda c=c, r=r: book(c, world, world.iv, start, room=r.pk) for c, r in zip(clients, rooms, strict=True)]
    )
    assert sorted(statuses) == [201] + [409] * 9
    assert Session.objects.filter(patient=world.patient, status="booked").count() == 1


def test_clinician_limit_holds_under_concurrency(world, client_for):
    nurse = ClinicianFactory(clinic=world.clinic, max_concurrent_sessions=2)
    rooms = [RoomFactory(clinic=world.clinic) for _ in range(8)]
    patients = [approve(PatientFactory(clinic=world.clinic)) for _ in rooms]
    clients = [_client(world, client_for) for _ in rooms]
    start = local(2027, 3, 2, 10)
    statuses = _race(
        [
            lambda c=c, p=p, r=r: book(c, p, world.iv, start, room=r.pk, clinician=nurse.pk)
            for c, p, r in zip(clients, patients, rooms, strict=True)
        ]
    )
    assert sorted(statuses) == [201, 201] + [409] * 6
    assert Session.objects.filter(clinician=nurse, status="booked").count() == 2


def test_duplicate_idempotent_requests_in_parallel_book_once(world, client_for):
    client = _client(world, client_for)
    start = local(2027, 3, 2, 10)
    statuses = _race([lambda: book(client, world, world.iv, start, idempotency_key="same-key") for _ in range(6)])
    assert statuses == [201] * 6
    assert Session.objects.filter(patient=world.patient).count() == 1


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
