"""Booking a whole course from a protocol, all or nothing.

Occurrences are generated in the clinic's local time (10:00 stays 10:00 across DST). Each is
placed in turn inside one transaction, so later occurrences see the earlier ones (the patient's
minimum interval, the chair). If any cannot be placed, nothing is kept and the 409 lists every
failing occurrence with the nearest free alternatives.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from django.db import transaction

from clinic.access import Actor, Perm
from clinic.errors import Conflict, InvalidInput
from clinic.models import AuditEvent, Patient
from clinic.services.audit import audit_record
from scheduling import availability, protocols
from scheduling.messages import course_confirmation_schedule
from scheduling.models import Course, Session, TreatmentType
from scheduling.selectors import scheduling_context

from .booking import (
    BookingRefused,
    check_patient_may_be_booked,
    check_treatment_type_offered,
    insert_session,
    lock_patient,
    place,
)

logger = logging.getLogger(__name__)

ALTERNATIVES_PER_CONFLICT = 3
ALTERNATIVE_SEARCH_DAYS = 3


def _alternatives(ctx_args: dict, occurrence: dt.datetime) -> list[dt.datetime]:
    """The free starts nearest to a failed occurrence, within a few days either side."""
    tz = ctx_args["clinic"].tz
    day = occurrence.astimezone(tz).date()
    start = protocols.local_datetime(day - dt.timedelta(days=ALTERNATIVE_SEARCH_DAYS), dt.time(0), tz)
    end = protocols.local_datetime(day + dt.timedelta(days=ALTERNATIVE_SEARCH_DAYS + 1), dt.time(0), tz)
    ctx = scheduling_context(start=start, end=end, **ctx_args)
    slots = availability.find_slots(
        availability.SearchRequest(
            window_start=start,
            window_end=end,
            tz=tz,
            duration=ctx.duration,
            turnover=ctx.turnover,
            step=dt.timedelta(minutes=ctx.clinic.slot_step_minutes),
            opening_hours=ctx.opening_hours,
            closures=ctx.closures,
            rooms=list(ctx.room_inputs.values()),
            clinicians=list(ctx.clinician_inputs.values()),
            patient=ctx.patient_input,
            now=dt.datetime.now(dt.UTC),
        )
    )
    nearest = sorted(slots, key=lambda slot: (abs(slot.start - occurrence), slot.start))
    return sorted(slot.start for slot in nearest[:ALTERNATIVES_PER_CONFLICT])


@transaction.atomic
def series_book(
    *,
    actor: Actor,
    patient: Patient,
    treatment_type: TreatmentType,
    protocol_code: str,
    first_start: dt.datetime,
    weekdays: Sequence[int] | None = None,
    room_id: int | None = None,
    clinician_id: int | None = None,
) -> Course:
    actor.require(Perm.SCHEDULE_MANAGE, patient.clinic_id)
    check_treatment_type_offered(patient, treatment_type)
    try:
        protocol = protocols.get_protocol(protocol_code)
    except KeyError:
        raise InvalidInput(errors={"protocol": [f"Unknown protocol {protocol_code!r}."]}) from None
    if protocol.modality != treatment_type.modality:
        raise InvalidInput(
            errors={
                "protocol": [
                    f"This protocol is for {protocol.modality}, the treatment type is {treatment_type.modality}."
                ]
            }
        )
    patient = lock_patient(patient)
    clinic = patient.clinic
    local_first = first_start.astimezone(clinic.tz)
    occurrences = protocols.expand(
        protocol, first_date=local_first.date(), time_of_day=local_first.time(), tz=clinic.tz, weekdays=weekdays
    )
    # Candidacy must hold for the whole course, so check against its last session.
    check_patient_may_be_booked(patient, treatment_type, occurrences[-1])
    course = Course.objects.create(
        clinic=clinic,
        patient=patient,
        treatment_type=treatment_type,
        protocol=protocol.code,
        weekdays=list(weekdays or protocol.default_weekdays),
        time_of_day=local_first.time(),
        created_by=actor.user,
    )
    ctx_args = {"clinic": clinic, "treatment_type": treatment_type, "patient": patient}
    conflicts = []
    for sequence, start in enumerate(occurrences, start=1):
        ctx = scheduling_context(
            start=start, end=start + dt.timedelta(minutes=treatment_type.duration_minutes), **ctx_args
        )
        try:
            placement = place(ctx, start, room_id=room_id, clinician_id=clinician_id)
            insert_session(ctx, patient, placement, actor=actor, course=course, sequence=sequence)
        except BookingRefused as refusal:
            conflicts.append(
                {
                    "sequence": sequence,
                    "start": start.astimezone(clinic.tz).isoformat(),
                    "code": refusal.code,
                    "detail": refusal.detail,
                    "alternatives": [a.isoformat() for a in _alternatives(ctx_args, start)],
                }
            )
    if conflicts:
        # Raising rolls back the course and every placed session: all or nothing.
        raise Conflict(
            f"{len(conflicts)} of {len(occurrences)} sessions cannot be booked; nothing was booked.",
            code="series_conflict",
            extra={"conflicts": conflicts},
        )
    course_confirmation_schedule(course=course)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        object_type="course",
        object_id=course.pk,
        clinic_id=clinic.pk,
        patient_id=patient.pk,
    )
    logger.info("course.booked", extra={"course_id": course.pk, "sessions": len(occurrences)})
    return course


def course_sessions(course: Course) -> list[Session]:
    return list(course.sessions.select_related("room", "clinician__user", "treatment_type").order_by("sequence"))
