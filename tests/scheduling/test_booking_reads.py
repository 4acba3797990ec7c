"""``booking_reads``: a booking's locks and reads in one round trip decide as the full context does.

The request path reads the calendar over the booking's own day and span only (a day either side),
from ids, in one statement string; these tests hold its decisions equal to the general context's
(three days either side) wherever the clinic is, and check what it locks and refuses.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from clinic.access import Actor
from clinic.errors import NotFound
from scheduling.selectors import booking_reads, scheduling_context
from scheduling.services.booking import BookingRefused, place
from tests.factories.clinic import ClinicFactory, PatientFactory, RoomFactory
from tests.factories.scheduling import ClinicianFactory, SessionFactory, TreatmentTypeFactory
from tests.scheduling.helpers import NOW, book, local

pytestmark = pytest.mark.postgres


def _outcome(ctx, start: dt.datetime, room: int | None, clinician: int | None):
    try:
        placement = place(ctx, start, room_id=room, clinician_id=clinician, lock=False, now=NOW)
    except BookingRefused as refused:
        return refused.code
    return placement.room_id, placement.clinician_id


@pytest.mark.parametrize(
    ("zone", "days_ahead"),
    [
        ("America/New_York", 1),
        ("America/New_York", 11),  # the window crosses the change to daylight-saving time (14 March)
        ("Pacific/Kiritimati", 1),
        ("Pacific/Pago_Pago", 1),
    ],
)
def test_the_one_day_context_decides_as_the_full_context(world, zone, days_ahead):
    world.clinic.timezone = zone
    world.clinic.save()
    rooms = [world.room, *(RoomFactory(clinic=world.clinic) for _ in range(2))]
    nurses = [world.nurse, *(ClinicianFactory(clinic=world.clinic) for _ in range(2))]
    tz = world.clinic.tz
    rng = random.Random(11)
    first_day = (NOW + dt.timedelta(days=days_ahead)).astimezone(tz).date()
    for day in range(4):
        date = first_day + dt.timedelta(days=day)
        for room in rooms:
            for hour in (8, 10, 13, 16):
                if rng.random() < 0.6:
                    start = dt.datetime.combine(date, dt.time(hour), tzinfo=tz)
                    SessionFactory(
                        clinic=world.clinic,
                        patient=PatientFactory(clinic=world.clinic),
                        treatment_type=world.iv,
                        room=room,
                        clinician=rng.choice(nurses),
                        starts_at=start,
                        ends_at=start + dt.timedelta(minutes=100),
                        occupied_until=start + dt.timedelta(minutes=115),
                    )
    # The patient's own session, in a chair of its own, midway: within 24 hours of it they are busy.
    own = dt.datetime.combine(first_day + dt.timedelta(days=2), dt.time(12), tzinfo=tz)
    SessionFactory(
        clinic=world.clinic,
        patient=world.patient,
        treatment_type=world.iv,
        room=RoomFactory(clinic=world.clinic),
        clinician=nurses[0],
        starts_at=own,
        ends_at=own + dt.timedelta(minutes=100),
        occupied_until=own + dt.timedelta(minutes=115),
    )
    # A closed local day inside the window: its dates are local, the window's bounds UTC instants.
    from clinic.models import Closure

    closed = first_day + dt.timedelta(days=3)
    Closure.objects.create(clinic=world.clinic, starts_on=closed, ends_on=closed, reason="Training")
    actor = Actor.for_user(world.front_desk_member.user)
    # Room and clinician chosen by the service, one of them named, both named (only theirs read).
    requests = [(None, None), (rooms[1].pk, None), (None, nurses[2].pk), (rooms[0].pk, nurses[0].pk)]
    requests.append((rooms[2].pk, nurses[1].pk))
    outcomes = set()
    for day in range(4):
        for half_hours in range(10, 44):  # 05:00 to 21:30, local: before, during and after hours
            start = dt.datetime.combine(first_day + dt.timedelta(days=day), dt.time(), tzinfo=tz) + dt.timedelta(
                minutes=30 * half_hours
            )
            full = scheduling_context(
                clinic=world.clinic,
                treatment_type=world.iv,
                start=start,
                end=start + dt.timedelta(minutes=world.iv.duration_minutes),
                patient=world.patient,
            )
            for room, clinician in requests:
                with transaction.atomic():
                    reads = booking_reads(
                        actor=actor,
                        patient_id=world.patient.pk,
                        treatment_type_id=world.iv.pk,
                        start=start,
                        room_id=room,
                        clinician_id=clinician,
                    )
                got = _outcome(reads.context, start, room, clinician)
                expected = _outcome(full, start, room, clinician)
                assert got == expected, (start, room, clinician, got, expected)
                outcomes.add(got if isinstance(got, str) else "placed")
    # The comparison covered every kind of answer, not only the easy ones.
    assert outcomes >= {"placed", "outside_hours", "patient_overlap", "room_unavailable", "clinician_unavailable"}


def test_one_statement_string_reads_everything_and_takes_a_session_id(world):
    from scheduling.models import Session

    actor = Actor.for_user(world.front_desk_member.user)
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        reads = booking_reads(
            actor=actor,
            patient_id=world.patient.pk,
            treatment_type_id=world.iv.pk,
            clinician_id=world.nurse.pk,
            start=NOW + dt.timedelta(days=1),
        )
    assert len([q for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]) == 1
    assert (reads.patient.pk, reads.patient.clinic.pk, reads.treatment_type.pk) == (
        world.patient.pk,
        world.clinic.pk,
        world.iv.pk,
    )
    assert reads.clinician_locked and reads.context is not None
    assert reads.context.patient_input is not None and world.nurse.pk in reads.context.clinician_inputs
    # The id comes from the table's own sequence: the next ORM insert gets a later one.
    later = SessionFactory(clinic=world.clinic, patient=world.patient, treatment_type=world.iv, room=world.room)
    assert later.pk > reads.session_id and not Session.objects.filter(pk=reads.session_id).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("room_named", [False, True], ids=["room-chosen", "room-and-clinician-named"])
def test_the_rows_stay_locked_until_the_transaction_ends(world, room_named):
    """Another transaction cannot lock the patient, the clinic or the named clinician meanwhile,
    while the key share a new row's foreign-key check takes on the clinic is not blocked. A booking
    naming both its room and its clinician holds the clinic in share mode: another like it (which
    takes the same) goes ahead; one that lets the service choose still waits for it."""
    import threading

    from django.db import OperationalError, connections

    actor = Actor.for_user(world.front_desk_member.user)
    probes = {
        "patient": ("clinic_patient", world.patient.pk, "NO KEY UPDATE"),
        "clinic": ("clinic_clinic", world.clinic.pk, "NO KEY UPDATE"),
        "clinician": ("clinic_staffmember", world.nurse.pk, "NO KEY UPDATE"),
        "clinic key share": ("clinic_clinic", world.clinic.pk, "KEY SHARE"),
        "clinic share": ("clinic_clinic", world.clinic.pk, "SHARE"),
    }
    blocked: dict[str, bool] = {}

    def probe():
        try:
            for name, (table, pk, mode) in probes.items():
                try:
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR {mode} NOWAIT", [pk])  # noqa: S608
                    blocked[name] = False
                except OperationalError:
                    blocked[name] = True
        finally:
            connections.close_all()

    with transaction.atomic():
        booking_reads(
            actor=actor,
            patient_id=world.patient.pk,
            treatment_type_id=world.iv.pk,
            clinician_id=world.nurse.pk,
            room_id=world.room.pk if room_named else None,
            start=NOW + dt.timedelta(days=1),
        )
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join(timeout=30)
    assert blocked == {
        "patient": True,
        "clinic": True,
        "clinician": True,
        "clinic key share": False,
        "clinic share": not room_named,
    }


def test_another_clinics_patient_or_treatment_type_is_a_404_and_their_clinician_is_not_locked(world):
    theirs = ClinicFactory()
    their_patient = PatientFactory(clinic=theirs)
    their_type = TreatmentTypeFactory(clinic=theirs)
    their_nurse = ClinicianFactory(clinic=theirs)
    actor = Actor.for_user(world.front_desk_member.user)
    start = NOW + dt.timedelta(days=1)
    for patient_id, type_id in ((their_patient.pk, world.iv.pk), (world.patient.pk, their_type.pk)):
        with pytest.raises(NotFound), transaction.atomic():
            booking_reads(
                actor=actor, patient_id=patient_id, treatment_type_id=type_id, clinician_id=their_nurse.pk, start=start
            )
    # Our patient with their clinician: read, but their membership row is not locked.
    with transaction.atomic():
        reads = booking_reads(
            actor=actor,
            patient_id=world.patient.pk,
            treatment_type_id=world.iv.pk,
            clinician_id=their_nurse.pk,
            start=start,
        )
    assert not reads.clinician_locked


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "text"])
@pytest.mark.parametrize(
    "named", [{}, {"room": "room"}, {"clinician": "nurse"}, {"room": "room", "clinician": "nurse"}], ids=str
)
def test_a_booking_works_with_and_without_prepared_statements(world, settings, prepared, named):
    """PREPARED_STATEMENTS=false sends the statements' text: its NULLs must be typed as well."""
    settings.PREPARED_STATEMENTS = prepared
    extra = {key: getattr(world, attr).pk for key, attr in named.items()}
    response = book(world.front_desk, world, world.iv, local(2027, 3, 2, 10), **extra)
    assert response.status_code == 201, response.content
