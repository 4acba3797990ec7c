"""Booking sessions: one at a time or a whole course, never two in one chair or for one patient.

The checks run in the contract's order, so a client always hears about the most fundamental
problem first: archived patient, candidacy, REMS enrollment, opening hours, clinician, room,
patient. Then the insert; on PostgreSQL the exclusion constraints are the last word under any
concurrency (a violation becomes the same 409), and the clinician's supervision limit is
checked under a lock on their membership row. On SQLite, IMMEDIATE transactions serialise
bookings so the checks themselves are safe.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clinic.access import Actor, Perm
from clinic.db.folded import folded_atomic
from clinic.errors import Conflict, InvalidInput, NotFound, RuleViolation
from clinic.models import AuditEvent, CandidacyStatus, Modality, Patient, Room, StaffMember
from clinic.rows import Rows, insert_rows
from clinic.services.audit import audit_event
from scheduling import availability
from scheduling.messages import session_messages
from scheduling.models import Session, SessionEvent, TreatmentType
from scheduling.selectors import (
    SchedulingContext,
    booking_reads,
    patient_for_booking,
    scheduling_context,
    treatment_type_get,
)

logger = logging.getLogger(__name__)

CONSTRAINT_CODES = {
    "session_no_room_overlap": ("room_unavailable", "The room is taken at that time."),
    "session_no_patient_overlap": ("patient_overlap", "The patient has another session at that time."),
}


class BookingRefused(Conflict):
    """409 with the contract's code (outside_hours, clinician_unavailable, room_unavailable, ...)."""


def refusal_from_integrity_error(exc: IntegrityError) -> BookingRefused | None:
    """The 409 an exclusion-constraint violation stands for, or None for any other integrity error.

    The constraints are the last word under concurrency: a writer whose checks read the table
    before another transaction committed an overlapping session gets the same answer as one
    whose checks saw it. Every write of a session's time, room or patient goes through this.
    """
    name = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    if name not in CONSTRAINT_CODES:
        return None
    code, detail = CONSTRAINT_CODES[name]
    return BookingRefused(detail, code=code)


def check_patient_may_be_booked(patient: Patient, treatment_type: TreatmentType, starts_at: dt.datetime) -> None:
    """The patient-level refusals, in the contract's order (archived, candidacy, REMS)."""
    if patient.is_archived:
        raise Conflict("This patient is archived.", code="patient_archived")
    modality = treatment_type.modality
    approved = (
        patient.candidacy_status == CandidacyStatus.APPROVED
        and modality in (patient.candidacy_modalities or [])
        and patient.candidacy_expires_at is not None
        and patient.candidacy_expires_at > starts_at
    )
    if not approved:
        raise RuleViolation(
            f"No prescriber approval for {Modality(modality).label} valid on that date "
            f"(candidacy is {patient.candidacy_status_now()}).",
            code="candidacy_not_approved",
        )
    if treatment_type.requires_rems_enrollment and not patient.rems_patient_id:
        raise RuleViolation(
            "Esketamine is given only to patients enrolled in the REMS: record the REMS patient id first.",
            code="rems_enrollment_missing",
        )


def _check_hours(ctx: SchedulingContext, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> None:
    if start <= now:
        raise BookingRefused("The start is in the past.", code="outside_hours")
    if not availability.within_opening_hours(start, end, ctx.tz, ctx.opening_hours, ctx.closures):
        raise BookingRefused("The clinic is closed for part of that time.", code="outside_hours")


def _least_loaded(ids: list[int], load: dict[int, int]) -> list[int]:
    return sorted(ids, key=lambda pk: (load.get(pk, 0), pk))


def _refuse_unknown(model, pk: int, ctx: SchedulingContext, name: str) -> None:
    """A requested room or clinician that is not this clinic's at all is a 404, like any other
    clinic's object; one of this clinic's that cannot take the session is the contract's 409.
    (Only on this refusal path: a booking naming a suitable room costs no extra query.)"""
    if not model.objects.filter(pk=pk, clinic_id=ctx.clinic.pk).exists():
        raise NotFound(f"No such {name} at this clinic.")


def _clinician_candidates(
    ctx: SchedulingContext, start: dt.datetime, end: dt.datetime, requested: int | None
) -> list[int]:
    def fits(staff_id: int) -> bool:
        c = ctx.clinician_inputs[staff_id]
        return availability.clinician_is_available(c, start, end, ctx.tz) and availability.clinician_has_capacity(
            c, start, end
        )

    if requested is not None:
        if requested not in ctx.clinician_inputs:
            _refuse_unknown(StaffMember, requested, ctx, "clinician")
        if requested not in ctx.clinician_inputs or not fits(requested):
            raise BookingRefused("That clinician is not available or is at their limit.", code="clinician_unavailable")
        return [requested]
    candidates = [pk for pk in ctx.clinician_inputs if fits(pk)]
    if not candidates:
        raise BookingRefused("No clinician is available with room to supervise.", code="clinician_unavailable")
    return _least_loaded(candidates, ctx.load_on(start.astimezone(ctx.tz).date(), attr="clinician_id"))


def _room(ctx: SchedulingContext, start: dt.datetime, occupied_until: dt.datetime, requested: int | None) -> int:
    def free(room_id: int) -> bool:
        return availability.room_is_free(ctx.room_inputs[room_id], start, occupied_until)

    if requested is not None:
        if requested not in ctx.room_inputs:
            _refuse_unknown(Room, requested, ctx, "room")
        if requested not in ctx.room_inputs or not free(requested):
            raise BookingRefused("That room is busy or not equipped for this treatment.", code="room_unavailable")
        return requested
    free_rooms = [pk for pk in ctx.room_inputs if free(pk)]
    if not free_rooms:
        raise BookingRefused("No suitable room is free for the session and its turnover.", code="room_unavailable")
    return _least_loaded(free_rooms, ctx.load_on(start.astimezone(ctx.tz).date(), attr="room_id"))[0]


def _lock_member(staff_id: int, clinic_id: int) -> bool:
    """Lock a clinic's membership row (False when there is none: the placement then refuses)."""
    return StaffMember.objects.select_for_update(no_key=True).filter(pk=staff_id, clinic_id=clinic_id).exists()


def _lock_clinician_with_capacity(
    candidates: list[int], start: dt.datetime, end: dt.datetime, exclude_session_ids: Collection[int] = ()
) -> int:
    """Take the first candidate still under their limit once their row is locked.

    The context was read before the lock; a concurrent booking may have used the last place, so
    the count is taken again under the lock (READ COMMITTED sees the other's committed row).
    Sessions being moved are left out, as in the context: their rows still hold the old times,
    and a session must not count against its own new time.
    """
    for staff_id in candidates:
        member = StaffMember.objects.select_for_update(no_key=True).get(pk=staff_id)
        overlapping = list(
            Session.objects.filter(
                clinician_id=staff_id, status__in=Session.ACTIVE, starts_at__lt=end, ends_at__gt=start
            )
            .exclude(pk__in=list(exclude_session_ids))
            .values_list("starts_at", "ends_at")
        )
        if availability.max_concurrency(overlapping, start, end) < member.max_concurrent_sessions:
            return staff_id
    raise BookingRefused("The clinician reached their limit of concurrent sessions.", code="clinician_unavailable")


@dataclass(frozen=True)
class Placement:
    starts_at: dt.datetime
    ends_at: dt.datetime
    occupied_until: dt.datetime
    room_id: int
    clinician_id: int


def place(
    ctx: SchedulingContext,
    start: dt.datetime,
    *,
    room_id: int | None = None,
    clinician_id: int | None = None,
    now: dt.datetime | None = None,
    lock: bool = True,
    locked_clinician: int | None = None,
    exclude_session_ids: Collection[int] = (),
) -> Placement:
    """Choose (or check) room and clinician for a start, raising the first refusal in contract order.

    ``exclude_session_ids`` are the sessions being moved (the ones the context already leaves out):
    the clinician's recount under the lock leaves them out too. ``locked_clinician`` is a clinician
    whose row the caller locked before reading ``ctx``: the context's count of their sessions is
    final, so it is not taken again.

    That rests on a rule every writer of sessions keeps: a session is given a clinician, or moved,
    only under the lock of that clinician's membership row (taken here or by the caller before the
    read). A writer that skipped it could overfill a named clinician.
    """
    now = now or timezone.now()
    end = start + ctx.duration
    occupied_until = end + ctx.turnover
    _check_hours(ctx, start, end, now)
    clinicians = _clinician_candidates(ctx, start, end, clinician_id)
    room = _room(ctx, start, occupied_until, room_id)
    if ctx.patient_input is not None and not availability.patient_is_free(ctx.patient_input, start, end):
        raise BookingRefused(
            "The patient has another session at that time or too close to it "
            f"(at least {ctx.treatment_type.min_hours_between} hours apart).",
            code="patient_overlap",
        )
    if not lock or clinicians == [locked_clinician]:
        clinician = clinicians[0]
    else:
        clinician = _lock_clinician_with_capacity(clinicians, start, end, exclude_session_ids)
    return Placement(start, end, occupied_until, room, clinician)


def insert_session(
    ctx: SchedulingContext,
    patient: Patient,
    placement: Placement,
    *,
    actor: Actor,
    course=None,
    sequence: int | None = None,
    savepoint: bool = True,
    session_id: int | None = None,
    last_statement: bool = False,
) -> Session:
    """Insert, record the event and audit row, and schedule the appointment's messages, atomically.

    ``savepoint=False`` saves two round trips when a refusal aborts the whole transaction anyway
    (a single booking); a series keeps it, to go on checking the other occurrences. With a
    ``session_id`` already taken from the sequence, the session goes in the same statement as its
    other rows: one round trip for all of them. ``last_statement``: the caller sends nothing after
    it in the transaction (so a folded transaction's COMMIT goes with it, ``clinic.db.folded``).
    """
    session = Session(
        id=session_id,
        clinic=ctx.clinic,
        patient=patient,
        treatment_type=ctx.treatment_type,
        room_id=placement.room_id,
        clinician_id=placement.clinician_id,
        course=course,
        sequence=sequence,
        starts_at=placement.starts_at,
        ends_at=placement.ends_at,
        occupied_until=placement.occupied_until,
        created_by=actor.user,
    )
    if session_id is None:
        with _refused_on_overlap(), transaction.atomic(savepoint=savepoint):
            session.save()
    details = {"starts_at": session.starts_at.isoformat(), "room": session.room_id, "clinician": session.clinician_id}
    session.clinic, session.patient = ctx.clinic, patient
    # The names the calendar shows, from the context in hand (as a query's annotations would be):
    # the caller can answer without reading the new session back.
    session.room_name = ctx.rooms[placement.room_id].name
    session.clinician_name = ctx.clinicians[placement.clinician_id].name
    # Its event, audit row and messages: one statement. A course gets one confirmation for all its
    # sessions (scheduled by series_book).
    rows = [
        Rows([SessionEvent(session=session, kind=SessionEvent.Kind.BOOKED, actor=actor.user, details=details)]),
        Rows(
            [
                audit_event(
                    actor=actor,
                    action=AuditEvent.Action.CREATE,
                    object_type="session",
                    object_id=session.pk,
                    clinic_id=ctx.clinic.pk,
                    patient_id=patient.pk,
                )
            ]
        ),
        Rows(session_messages(session=session, confirm=course is None), ignore_conflicts=True),
    ]
    if session_id is None:
        insert_rows(*rows)
    else:
        with _refused_on_overlap(), transaction.atomic(savepoint=savepoint):
            insert_rows(Rows([session]), *rows, last_statement=last_statement)
        session._state.adding, session._state.db = False, connection.alias
    return session


@contextmanager
def _refused_on_overlap():
    """An exclusion constraint's violation as the contract's 409 (see refusal_from_integrity_error)."""
    try:
        yield
    except IntegrityError as exc:
        refusal = refusal_from_integrity_error(exc)
        if refusal is None:
            raise
        raise refusal from exc


def _locked_patients():
    # Locking the patient serialises bookings per patient, so the minimum-interval rule holds under
    # concurrency. The clinic's row is locked too: bookings and moves of one clinic take turns, so a
    # placement chosen by the service (least-loaded room and clinician) sees the one committed just
    # before it instead of losing the same chair to it. FOR NO KEY UPDATE (no key changes here) so
    # that writes merely referencing the clinic or the patient (a new patient, an alert, a message)
    # do not wait for a booking: their foreign-key checks take FOR KEY SHARE (a threaded test).
    # An API booking that names both room and clinician shares the clinic's lock with others like
    # it instead (scheduling.selectors._LOCK_PATIENT_SHARING_CLINIC): it chooses nothing.
    return Patient.objects.select_for_update(of=("self", "clinic"), no_key=True).select_related("clinic")


def lock_patient(patient: Patient) -> Patient:
    """The patient's row again, locked (see ``_locked_patients``)."""
    return _locked_patients().get(pk=patient.pk)


def lock_patient_for_booking(*, actor: Actor, patient_id: int) -> Patient:
    """Read and lock in one statement a patient the actor may book for; 404 for anyone else's."""
    return patient_for_booking(actor=actor, patient_id=patient_id, patients=_locked_patients())


def check_treatment_type_offered(patient: Patient, treatment_type: TreatmentType) -> None:
    """A treatment type of another clinic, or one no longer offered, is a bad request field."""
    if treatment_type.clinic_id != patient.clinic_id:
        raise InvalidInput(errors={"treatment_type": ["Not offered at this patient's clinic."]})
    if not treatment_type.active:
        raise InvalidInput(errors={"treatment_type": ["This treatment type is no longer offered."]})


@transaction.atomic(savepoint=False)  # a refusal aborts the caller's transaction; no savepoint needed
def session_book(
    *,
    actor: Actor,
    treatment_type: TreatmentType,
    starts_at: dt.datetime,
    patient: Patient | None = None,
    patient_id: int | None = None,
    room_id: int | None = None,
    clinician_id: int | None = None,
) -> Session:
    """Book one session; room and clinician are chosen (least loaded first) when not given.

    Pass the ``patient`` the caller holds, or the ``patient_id`` a request named: it is then read
    and locked in one statement, within the clinics the actor may book for (404 otherwise).

    A requested clinician's row is locked before the calendar is read, so the context already
    counts every session committed for them and no recount under the lock is needed; a clinician
    chosen by the service is locked (and recounted) once chosen.
    """
    if patient_id is not None:
        patient = lock_patient_for_booking(actor=actor, patient_id=patient_id)
    else:
        actor.require(Perm.SCHEDULE_MANAGE, patient.clinic_id)
        patient = lock_patient(patient)
    check_treatment_type_offered(patient, treatment_type)
    treatment_type.clinic = patient.clinic  # the same clinic (just checked), already loaded
    check_patient_may_be_booked(patient, treatment_type, starts_at)
    locked_clinician = None
    if clinician_id is not None and _lock_member(clinician_id, patient.clinic_id):
        locked_clinician = clinician_id
    end = starts_at + dt.timedelta(minutes=treatment_type.duration_minutes)
    ctx = scheduling_context(
        clinic=patient.clinic, treatment_type=treatment_type, start=starts_at, end=end, patient=patient
    )
    return _place_and_insert(
        ctx,
        patient,
        starts_at,
        room_id=room_id,
        clinician_id=clinician_id,
        locked_clinician=locked_clinician,
        actor=actor,
    )


# BEGIN and COMMIT ride with the reads and the INSERT; inside a caller's transaction a refusal
# aborts it (no savepoint).
@folded_atomic()
def session_book_requested(
    *,
    actor: Actor,
    patient_id: int,
    treatment_type_id: int,
    starts_at: dt.datetime,
    room_id: int | None = None,
    clinician_id: int | None = None,
) -> Session:
    """Book the session a request names by ids; 404 for a treatment type or patient outside the
    clinics the actor may book for. The same rules as ``session_book``, in the same order.

    On PostgreSQL the transaction costs two round trips, BEGIN and COMMIT included: BEGIN with
    every lock and read (``booking_reads``), then the session with its event, audit row and
    messages, and COMMIT.
    """
    if connection.vendor != "postgresql":
        treatment_type = treatment_type_get(
            actor=actor, treatment_type_id=treatment_type_id, perm=Perm.SCHEDULE_MANAGE, with_clinic=False
        )
        return session_book(
            actor=actor,
            patient_id=patient_id,
            treatment_type=treatment_type,
            starts_at=starts_at,
            room_id=room_id,
            clinician_id=clinician_id,
        )
    reads = booking_reads(
        actor=actor,
        patient_id=patient_id,
        treatment_type_id=treatment_type_id,
        start=starts_at,
        room_id=room_id,
        clinician_id=clinician_id,
    )
    patient, treatment_type = reads.patient, reads.treatment_type
    check_treatment_type_offered(patient, treatment_type)
    check_patient_may_be_booked(patient, treatment_type, starts_at)
    return _place_and_insert(
        reads.context,
        patient,
        starts_at,
        room_id=room_id,
        clinician_id=clinician_id,
        locked_clinician=clinician_id if reads.clinician_locked else None,
        actor=actor,
        session_id=reads.session_id,
    )


def _place_and_insert(
    ctx: SchedulingContext,
    patient: Patient,
    starts_at: dt.datetime,
    *,
    room_id: int | None,
    clinician_id: int | None,
    locked_clinician: int | None,
    actor: Actor,
    session_id: int | None = None,
) -> Session:
    """A single booking's end, whichever way its rows were read: placed, inserted, logged."""
    placement = place(ctx, starts_at, room_id=room_id, clinician_id=clinician_id, locked_clinician=locked_clinician)
    # Nothing is sent after the INSERT: in a folded transaction its COMMIT goes with it.
    session = insert_session(
        ctx, patient, placement, actor=actor, savepoint=False, session_id=session_id, last_statement=True
    )
    logger.info("session.booked", extra={"session_id": session.pk, "clinic_id": patient.clinic_id})
    return session
