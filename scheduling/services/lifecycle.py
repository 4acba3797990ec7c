"""A session's life: booked -> checked_in -> in_progress -> completed; or cancelled / no_show.

Two more steps exist for a patient who is checked in but then not dosed (a pre-dose blood pressure
above the clinic's limit, a positive pregnancy test, a patient who changes their mind):

* checked_in -> cancelled, by the front desk with a reason, before any monitoring record is open.
  It is never flagged a late cancellation: the patient came; the clinic decided not to dose.
* checked_in -> completed, by monitoring when a clinician discharges an opened record without a
  dose (``monitoring.services.discharge``): the pre-dose checks are kept as the session's record.

Any other step answers 409 ``invalid_transition``. Only a booked session can be moved. Moving and
cancelling take a scope for a course: this session, this and the following ones, or all of them.
A move keeps each session's local wall time (10:00 stays 10:00 across DST) and is atomic: every
session moves or none does; a move the database refuses (the exclusion constraints, when another
booking took the chair or the patient's time after our checks) is the same 409 as a refused check.
Every step is kept as a SessionEvent, so the history of a session is never lost.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.access import Actor, Perm
from clinic.errors import Conflict, InvalidInput
from clinic.models import AuditEvent
from clinic.services.audit import audit_record
from scheduling.messages import session_messages_cancel, session_messages_move
from scheduling.models import Session, SessionEvent
from scheduling.protocols import local_datetime
from scheduling.selectors import scheduling_context

from .booking import BookingRefused, check_patient_may_be_booked, lock_patient, place, refusal_from_integrity_error

logger = logging.getLogger(__name__)

SCOPES = ("this", "following", "all")

_ALLOWED = {
    Session.Status.BOOKED: {Session.Status.CHECKED_IN, Session.Status.CANCELLED, Session.Status.NO_SHOW},
    # A checked-in patient who is not dosed: cancelled before a monitoring record is opened, or
    # discharged without a dose once it is (see the module docstring).
    Session.Status.CHECKED_IN: {Session.Status.IN_PROGRESS, Session.Status.CANCELLED, Session.Status.COMPLETED},
    Session.Status.IN_PROGRESS: {Session.Status.COMPLETED},
}


def ensure_transition(session: Session, target: str) -> None:
    if target not in _ALLOWED.get(session.status, set()):
        raise Conflict(
            f"A {session.get_status_display().lower()} session cannot become {Session.Status(target).label.lower()}.",
            code="invalid_transition",
        )


def _record(session: Session, kind: str, actor: Actor | None, **details) -> None:
    SessionEvent.objects.create(session=session, kind=kind, actor=actor.user if actor else None, details=details)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        object_type="session",
        object_id=session.pk,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        changed_fields=[kind],
    )


def _scoped(session: Session, scope: str) -> list[Session]:
    """The booked sessions a scoped change applies to, locked, in start order."""
    if scope not in SCOPES:
        raise InvalidInput(errors={"scope": [f"One of {', '.join(SCOPES)}."]})
    if scope == "this" or session.course_id is None:
        return [Session.objects.select_for_update().get(pk=session.pk)]
    siblings = Session.objects.select_for_update().filter(course_id=session.course_id, status=Session.Status.BOOKED)
    if scope == "following":
        siblings = siblings.filter(starts_at__gte=session.starts_at)
    chosen = list(siblings.order_by("starts_at", "id"))
    if session.pk not in {s.pk for s in chosen}:
        chosen.insert(0, Session.objects.select_for_update().get(pk=session.pk))
    return chosen


@transaction.atomic
def session_cancel(*, actor: Actor, session: Session, reason: str, scope: str = "this") -> list[Session]:
    """Cancel booked (or checked-in, not yet monitored) sessions; a booked one cancelled inside the
    clinic's late-cancel window is flagged late."""
    actor.require(Perm.SCHEDULE_MANAGE, session.clinic_id)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(errors={"reason": ["Say why the session is cancelled."]})
    now = timezone.now()
    window = dt.timedelta(hours=session.clinic.late_cancel_window_hours)
    targets = _scoped(session, scope)
    for target in targets:
        ensure_transition(target, Session.Status.CANCELLED)
    checked_in = [t.pk for t in targets if t.status == Session.Status.CHECKED_IN]
    # Once a nurse opened the monitoring record, the session ends through discharge, so the
    # pre-dose checks stay attached to a finished session (reverse accessor of monitoring's record).
    if checked_in and Session.objects.filter(pk__in=checked_in, monitoring__isnull=False).exists():
        raise Conflict(
            "Monitoring has started for this session: a clinician discharges the patient instead.",
            code="invalid_transition",
        )
    for target in targets:
        # A checked-in patient who is not dosed came on time: the clinic decided, not the patient.
        late = target.status == Session.Status.BOOKED and target.starts_at - now < window
        target.status = Session.Status.CANCELLED
        target.cancelled_at = now
        target.cancel_reason = reason[:300]
        target.late_cancellation = late
        target.save(update_fields=["status", "cancelled_at", "cancel_reason", "late_cancellation"])
        _record(target, SessionEvent.Kind.CANCELLED, actor, reason=reason, late=target.late_cancellation)
        session_messages_cancel(session=target)
    logger.info("session.cancelled", extra={"session_ids": [t.pk for t in targets]})
    return targets


def _new_starts(targets: list[Session], anchor: Session, new_start: dt.datetime, tz) -> dict[int, dt.datetime]:
    """Shift every target by the anchor's change in local days, at the anchor's new local time."""
    old_local, new_local = anchor.starts_at.astimezone(tz), new_start.astimezone(tz)
    days = (new_local.date() - old_local.date()).days
    return {
        t.pk: new_start
        if t.pk == anchor.pk
        else local_datetime(t.starts_at.astimezone(tz).date() + dt.timedelta(days=days), new_local.time(), tz)
        for t in targets
    }


@transaction.atomic
def session_reschedule(
    *,
    actor: Actor,
    session: Session,
    new_start: dt.datetime,
    scope: str = "this",
    room_id: int | None = None,
    clinician_id: int | None = None,
) -> list[Session]:
    """Move one session (or its course from here, or all of it); room and clinician are kept
    when still free, otherwise chosen again."""
    actor.require(Perm.SCHEDULE_MANAGE, session.clinic_id)
    patient = lock_patient(session.patient)
    targets = _scoped(session, scope)
    for target in targets:
        if target.status != Session.Status.BOOKED:
            raise Conflict("Only booked sessions can be moved.", code="invalid_transition")
    tz = session.clinic.tz
    starts = _new_starts(targets, session, new_start, tz)
    check_patient_may_be_booked(patient, session.treatment_type, max(starts.values()))
    moving = {t.pk for t in targets}
    # Move in the direction of travel so a session never collides with a sibling that is about
    # to move out of the way.
    forward = new_start >= session.starts_at
    ordered = sorted(targets, key=lambda t: t.starts_at, reverse=forward)
    conflicts = []
    for target in ordered:
        start = starts[target.pk]
        duration = target.ends_at - target.starts_at
        still_moving = moving - {t.pk for t in ordered[: ordered.index(target)]}
        ctx = scheduling_context(
            clinic=session.clinic,
            treatment_type=target.treatment_type,
            start=start,
            end=start + duration,
            patient=patient,
            exclude_session_ids=still_moving,
        )
        old = {"starts_at": target.starts_at.isoformat(), "room": target.room_id, "clinician": target.clinician_id}
        try:
            placement = _place_keeping(ctx, start, target, room_id, clinician_id, moving=still_moving)
            _move(target, placement)
        except BookingRefused as refusal:
            conflicts.append(
                {
                    "session": target.pk,
                    "start": start.astimezone(tz).isoformat(),
                    "code": refusal.code,
                    "detail": refusal.detail,
                }
            )
            continue
        _record(
            target,
            SessionEvent.Kind.RESCHEDULED,
            actor,
            old=old,
            new={"starts_at": target.starts_at.isoformat(), "room": target.room_id, "clinician": target.clinician_id},
        )
        session_messages_move(session=target)
    if conflicts:
        raise Conflict(
            f"{len(conflicts)} session(s) cannot move; nothing was moved.",
            code=conflicts[0]["code"] if len(targets) == 1 else "reschedule_conflict",
            extra={"conflicts": conflicts},
        )
    return sorted(targets, key=lambda t: t.starts_at)


def _move(target: Session, placement) -> None:
    """Write the new placement; the database's refusal (a concurrent booking won) is a 409.

    A savepoint keeps the transaction usable after a refusal, so the other sessions of a scoped
    move are still checked and the conflict report lists them all; the caller then rolls back.
    """
    previous = (target.starts_at, target.ends_at, target.occupied_until, target.room_id, target.clinician_id)
    target.starts_at, target.ends_at, target.occupied_until = (
        placement.starts_at,
        placement.ends_at,
        placement.occupied_until,
    )
    target.room_id, target.clinician_id = placement.room_id, placement.clinician_id
    try:
        with transaction.atomic():
            target.save(update_fields=["starts_at", "ends_at", "occupied_until", "room", "clinician"])
    except IntegrityError as exc:
        (target.starts_at, target.ends_at, target.occupied_until, target.room_id, target.clinician_id) = previous
        refusal = refusal_from_integrity_error(exc)
        if refusal is None:
            raise
        raise refusal from exc


def _place_keeping(ctx, start, target: Session, room_id: int | None, clinician_id: int | None, *, moving: set[int]):
    """Prefer the session's current room and clinician; choose again only if they are taken.

    A room or clinician the caller names explicitly is honoured strictly. ``moving`` are the
    sessions not yet moved (this one included): their rows still hold the old times, so they
    must not count against the new ones, in the context or in the clinician's recount.
    """
    if room_id is None or clinician_id is None:
        try:
            return place(
                ctx,
                start,
                room_id=room_id or target.room_id,
                clinician_id=clinician_id or target.clinician_id,
                exclude_session_ids=moving,
            )
        except BookingRefused as refusal:
            if refusal.code not in ("room_unavailable", "clinician_unavailable"):
                raise
    return place(ctx, start, room_id=room_id, clinician_id=clinician_id, exclude_session_ids=moving)


@transaction.atomic
def session_check_in(*, actor: Actor, session: Session, escort_name: str, escort_phone: str) -> Session:
    """Check in: nobody drives home after ketamine, so the escort's name and phone are required."""
    actor.require(Perm.SCHEDULE_MANAGE, session.clinic_id)
    session = Session.objects.select_for_update().get(pk=session.pk)
    ensure_transition(session, Session.Status.CHECKED_IN)
    errors = {}
    if not (escort_name or "").strip():
        errors["escort_name"] = ["Who is taking the patient home? Patients may not drive after ketamine."]
    if not str(escort_phone or "").strip():
        errors["escort_phone"] = ["A phone number for the escort is required."]
    if errors:
        raise InvalidInput(errors=errors)
    local_day = session.starts_at.astimezone(session.clinic.tz).date()
    if timezone.localdate(timezone.now(), session.clinic.tz) != local_day:
        raise Conflict("Check-in is on the day of the session.", code="invalid_transition")
    session.status = Session.Status.CHECKED_IN
    session.checked_in_at = timezone.now()
    session.escort_name = escort_name.strip()
    session.escort_phone = escort_phone
    session.save(update_fields=["status", "checked_in_at", "escort_name", "escort_phone"])
    _record(session, SessionEvent.Kind.CHECKED_IN, actor)
    return session


@transaction.atomic
def session_no_show(*, actor: Actor, session: Session) -> Session:
    actor.require(Perm.SCHEDULE_MANAGE, session.clinic_id)
    session = Session.objects.select_for_update().get(pk=session.pk)
    ensure_transition(session, Session.Status.NO_SHOW)
    if session.starts_at > timezone.now():
        raise Conflict("A session cannot be a no-show before it was due to start.", code="invalid_transition")
    session.status = Session.Status.NO_SHOW
    session.no_show_at = timezone.now()
    session.save(update_fields=["status", "no_show_at"])
    _record(session, SessionEvent.Kind.NO_SHOW, actor)
    return session


def session_mark_started(*, actor: Actor | None, session: Session, at: dt.datetime) -> Session:
    """Checked in -> in progress (called by monitoring when the first dose is given)."""
    ensure_transition(session, Session.Status.IN_PROGRESS)
    session.status = Session.Status.IN_PROGRESS
    session.started_at = at
    session.save(update_fields=["status", "started_at"])
    _record(session, SessionEvent.Kind.STARTED, actor)
    return session


def session_mark_completed(*, actor: Actor | None, session: Session, at: dt.datetime) -> Session:
    """In progress -> completed (called by monitoring when the patient is discharged)."""
    ensure_transition(session, Session.Status.COMPLETED)
    session.status = Session.Status.COMPLETED
    session.completed_at = at
    session.save(update_fields=["status", "completed_at"])
    _record(session, SessionEvent.Kind.COMPLETED, actor)
    return session
