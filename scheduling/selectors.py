"""Reads of the scheduling app: treatment types, the calendar, and the data availability needs.

``scheduling_context`` loads everything one availability search or one booking needs for a
time range in a fixed number of queries (hours, closures, rooms, clinicians with their windows
and time off, sessions, the patient's sessions), whatever the range or the number of resources.
The pure ``scheduling.availability`` module then does the interval arithmetic.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Prefetch, QuerySet

from clinic.access import CLINICIAN_ROLES, Actor, Perm
from clinic.errors import InvalidInput, NotFound
from clinic.models import Clinic, Patient, Room, StaffMember
from clinic.services.audit import audit_record_many

from . import availability
from .models import AvailabilityWindow, Session, TimeOff, TreatmentType

# How far around a requested range existing sessions are loaded: a session that started up to
# a day before can still hold a chair (turnover) or be within a patient's minimum interval.
CONTEXT_MARGIN = dt.timedelta(days=3)
MAX_SEARCH_DAYS = 62


def treatment_type_list(*, actor: Actor, perm: Perm = Perm.CLINIC_VIEW) -> QuerySet[TreatmentType]:
    return TreatmentType.objects.filter(clinic_id__in=actor.clinics_with(perm)).order_by("clinic_id", "name", "id")


def treatment_type_get(*, actor: Actor, treatment_type_id: int, perm: Perm = Perm.CLINIC_VIEW) -> TreatmentType:
    treatment_type = (
        TreatmentType.objects.filter(pk=treatment_type_id, clinic_id__in=actor.clinics_with(perm))
        .select_related("clinic")
        .first()
    )
    if treatment_type is None:
        raise NotFound()
    return treatment_type


def staff_availability_get(*, actor: Actor, staff_id: int, perm: Perm = Perm.SCHEDULING_CONFIGURE) -> StaffMember:
    member = (
        StaffMember.objects.filter(pk=staff_id, clinic_id__in=actor.clinics_with(perm))
        .select_related("user", "clinic")
        .prefetch_related("availability_windows", Prefetch("time_off", queryset=TimeOff.objects.order_by("starts_at")))
        .first()
    )
    if member is None:
        raise NotFound()
    return member


def session_list(*, actor: Actor, perm: Perm = Perm.SCHEDULE_VIEW) -> QuerySet[Session]:
    """The calendar: one query for the page, whatever its size (every relation joined)."""
    return (
        Session.objects.filter(clinic_id__in=actor.clinics_with(perm))
        .select_related("clinic", "patient", "treatment_type", "room", "clinician__user")
        .order_by("starts_at", "id")
    )


def session_get(*, actor: Actor, session_id: int, perm: Perm = Perm.SCHEDULE_VIEW) -> Session:
    session = session_list(actor=actor, perm=perm).filter(pk=session_id).first()
    if session is None:
        raise NotFound()
    return session


def sessions_audit_reads(*, actor: Actor, sessions: Iterable[Session]) -> None:
    """One READ event per patient shown on a calendar page (a single INSERT)."""
    seen: dict[int, Session] = {}
    for session in sessions:
        seen.setdefault(session.patient_id, session)
    audit_record_many(
        actor=actor, object_type="session", records=((s.clinic_id, s.patient_id, s.pk) for s in seen.values())
    )


# --- the inputs of an availability search or a booking ---------------------------------------------


@dataclass
class SchedulingContext:
    clinic: Clinic
    treatment_type: TreatmentType
    opening_hours: list[tuple[int, dt.time, dt.time]]
    closures: list[tuple[dt.date, dt.date]]
    rooms: dict[int, Room]
    room_inputs: dict[int, availability.RoomInput]
    clinicians: dict[int, StaffMember]
    clinician_inputs: dict[int, availability.ClinicianInput]
    patient_input: availability.PatientInput | None
    sessions: list[Session] = field(default_factory=list)

    @property
    def tz(self):
        return self.clinic.tz

    @property
    def duration(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.treatment_type.duration_minutes)

    @property
    def turnover(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.treatment_type.turnover_minutes)

    def load_on(self, day: dt.date, *, attr: str) -> dict[int, int]:
        """Active sessions per room or clinician (``attr`` "room_id"/"clinician_id") on a local date."""
        counts: dict[int, int] = defaultdict(int)
        for s in self.sessions:
            if s.starts_at.astimezone(self.tz).date() == day:
                counts[getattr(s, attr)] += 1
        return counts


def scheduling_context(
    *,
    clinic: Clinic,
    treatment_type: TreatmentType,
    start: dt.datetime,
    end: dt.datetime,
    patient: Patient | None = None,
    exclude_session_ids: Iterable[int] = (),
) -> SchedulingContext:
    """Everything a search or booking in [start, end) needs, in a fixed number of queries."""
    exclude = list(exclude_session_ids)
    lo, hi = start - CONTEXT_MARGIN, end + CONTEXT_MARGIN
    opening_hours = [(h.weekday, h.opens, h.closes) for h in clinic.opening_hours.all()]
    closures = [
        (c.starts_on, c.ends_on) for c in clinic.closures.filter(ends_on__gte=lo.date(), starts_on__lte=hi.date())
    ]
    rooms = {
        r.pk: r
        for r in Room.objects.filter(clinic=clinic, active=True).order_by("name", "id")
        if r.supports(treatment_type.modality)
    }
    members = [
        m
        for m in StaffMember.objects.filter(clinic=clinic, active=True, user__is_active=True)
        .select_related("user")
        .prefetch_related(
            Prefetch("availability_windows", queryset=AvailabilityWindow.objects.order_by("weekday", "starts")),
            Prefetch("time_off", queryset=TimeOff.objects.filter(ends_at__gt=lo, starts_at__lt=hi)),
        )
        .order_by("id")
        if CLINICIAN_ROLES & set(m.roles)
    ]
    sessions = list(
        Session.objects.filter(clinic=clinic, status__in=Session.ACTIVE, starts_at__lt=hi, occupied_until__gt=lo)
        .exclude(pk__in=exclude)
        .only("id", "room_id", "clinician_id", "patient_id", "starts_at", "ends_at", "occupied_until")
    )
    busy_by_room: dict[int, list] = defaultdict(list)
    busy_by_clinician: dict[int, list] = defaultdict(list)
    for s in sessions:
        busy_by_room[s.room_id].append((s.starts_at, s.occupied_until))
        busy_by_clinician[s.clinician_id].append((s.starts_at, s.ends_at))
    patient_input = None
    if patient is not None:
        span = dt.timedelta(hours=treatment_type.min_hours_between)
        patient_sessions = (
            Session.objects.filter(
                patient=patient, status__in=Session.ACTIVE, starts_at__lt=end + span, ends_at__gt=start - span
            )
            .exclude(pk__in=exclude)
            .values_list("starts_at", "ends_at")
        )
        patient_input = availability.PatientInput(
            sessions=list(patient_sessions), min_hours_between=treatment_type.min_hours_between
        )
    return SchedulingContext(
        clinic=clinic,
        treatment_type=treatment_type,
        opening_hours=opening_hours,
        closures=closures,
        rooms=rooms,
        room_inputs={rid: availability.RoomInput(room_id=rid, busy=busy_by_room.get(rid, [])) for rid in rooms},
        clinicians={m.pk: m for m in members},
        clinician_inputs={
            m.pk: availability.ClinicianInput(
                staff_id=m.pk,
                max_concurrent=m.max_concurrent_sessions,
                weekly=[(w.weekday, w.starts, w.ends) for w in m.availability_windows.all()],
                time_off=[(t.starts_at, t.ends_at) for t in m.time_off.all()],
                sessions=busy_by_clinician.get(m.pk, []),
            )
            for m in members
        },
        patient_input=patient_input,
        sessions=sessions,
    )


@dataclass(frozen=True)
class AvailabilityResult:
    context: SchedulingContext
    slots: list[availability.Slot]


def availability_search(
    *,
    treatment_type: TreatmentType,
    start: dt.datetime,
    end: dt.datetime,
    patient: Patient | None = None,
    step_minutes: int | None = None,
    now: dt.datetime | None = None,
) -> AvailabilityResult:
    if end <= start:
        raise InvalidInput(errors={"end": ["Must be after start."]})
    if end - start > dt.timedelta(days=MAX_SEARCH_DAYS):
        raise InvalidInput(errors={"end": [f"Search at most {MAX_SEARCH_DAYS} days at a time."]})
    clinic = treatment_type.clinic
    context = scheduling_context(clinic=clinic, treatment_type=treatment_type, start=start, end=end, patient=patient)
    slots = availability.find_slots(
        availability.SearchRequest(
            window_start=start,
            window_end=end,
            tz=clinic.tz,
            duration=context.duration,
            turnover=context.turnover,
            step=dt.timedelta(minutes=step_minutes or clinic.slot_step_minutes),
            opening_hours=context.opening_hours,
            closures=context.closures,
            rooms=list(context.room_inputs.values()),
            clinicians=list(context.clinician_inputs.values()),
            patient=context.patient_input,
            now=now,
        )
    )
    return AvailabilityResult(context=context, slots=slots)


def patient_for_booking(*, actor: Actor, patient_id: int) -> Patient:
    patient = Patient.objects.filter(pk=patient_id, clinic_id__in=actor.clinics_with(Perm.SCHEDULE_MANAGE)).first()
    if patient is None:
        raise NotFound()
    return patient
