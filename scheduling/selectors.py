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
from typing import NamedTuple

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Prefetch, QuerySet

from clinic.access import CLINICIAN_ROLES, Actor, Perm
from clinic.errors import InvalidInput, NotFound
from clinic.models import Clinic, Patient, Room, StaffMember
from clinic.prepared import ModelColumns, ServerStatement, execute_statements
from clinic.services.audit import audit_record_many

from . import availability
from .calendar_page import CalendarRows
from .models import AvailabilityWindow, Session, TimeOff, TreatmentType

# How far around a requested range existing sessions are loaded: a session that started up to
# a day before can still hold a chair (turnover) or be within a patient's minimum interval.
CONTEXT_MARGIN = dt.timedelta(days=3)
MAX_SEARCH_DAYS = 62


def treatment_type_list(*, actor: Actor, perm: Perm = Perm.CLINIC_VIEW) -> QuerySet[TreatmentType]:
    return TreatmentType.objects.filter(clinic_id__in=actor.clinics_with(perm)).order_by("clinic_id", "name", "id")


def treatment_type_get(
    *, actor: Actor, treatment_type_id: int, perm: Perm = Perm.CLINIC_VIEW, with_clinic: bool = True
) -> TreatmentType:
    """One of the actor's clinics' treatment types, or 404. ``with_clinic=False`` for a caller that
    gets the clinic elsewhere (a booking reads it with the patient): the clinic row is wide."""
    treatment_types = TreatmentType.objects.filter(pk=treatment_type_id, clinic_id__in=actor.clinics_with(perm))
    if with_clinic:
        treatment_types = treatment_types.select_related("clinic")
    treatment_type = treatment_types.first()
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


# What a calendar entry shows. The joined rows are wide (a patient's address, a user's password
# hash, a clinic's settings); loading only these columns is a third of a page's cost.
CALENDAR_COLUMNS = (
    *(
        f.name
        for f in Session._meta.concrete_fields
        if f.name not in ("created_at", "created_by", "started_at", "completed_at", "no_show_at")
    ),
    "clinic__timezone",
    "patient__first_name",
    "patient__last_name",
    "patient__mrn",
    "treatment_type__name",
    "treatment_type__modality",
    "room__name",
    "clinician__user__first_name",
    "clinician__user__last_name",
    "clinician__user__username",
)


def session_list(*, actor: Actor, perm: Perm = Perm.SCHEDULE_VIEW) -> QuerySet[Session]:
    """The sessions the actor may see, every relation an entry shows joined: one query for any
    number of them. The calendar's list narrows it with its filters and pages it through
    ``calendar_page`` (its WHERE clause only); one session, a course's, a booking's replay load it."""
    return (
        Session.objects.filter(clinic_id__in=actor.clinics_with(perm))
        .select_related("clinic", "patient", "treatment_type", "room", "clinician__user")
        .only(*CALENDAR_COLUMNS)
        .order_by("starts_at", "id")
    )


def session_get(*, actor: Actor, session_id: int, perm: Perm = Perm.SCHEDULE_VIEW) -> Session:
    session = session_list(actor=actor, perm=perm).filter(pk=session_id).first()
    if session is None:
        raise NotFound()
    return session


def calendar_rows(sessions: QuerySet[Session]) -> CalendarRows:
    """``sessions`` (from ``session_list``, filtered) as ``calendar_page.CALENDAR_ROW`` tuples, counted
    and sliced by DRF's paginator: two fixed statements, no model instances (see ``calendar_page``)."""
    return CalendarRows(sessions)


def sessions_audit_reads(*, actor: Actor, sessions: Iterable[Session]) -> None:
    """One READ event per patient shown on a calendar page (a single INSERT)."""
    session_reads_audit(actor=actor, reads=((s.clinic_id, s.patient_id, s.pk) for s in sessions))


def calendar_rows_audit_reads(*, actor: Actor, rows: Iterable[tuple]) -> None:
    """``sessions_audit_reads`` for a page of ``calendar_rows``."""
    session_reads_audit(actor=actor, reads=((row[1], row[2], row[0]) for row in rows))


def session_reads_audit(*, actor: Actor, reads: Iterable[tuple[int, int, int]]) -> None:
    """One READ event per patient among ``(clinic_id, patient_id, session_id)``, for its first session."""
    seen: dict[int, tuple[int, int, int]] = {}
    for read in reads:
        seen.setdefault(read[1], read)
    audit_record_many(actor=actor, object_type="session", records=seen.values())


# --- the inputs of an availability search or a booking ---------------------------------------------


@dataclass(frozen=True)
class RoomInfo:
    name: str
    modalities: tuple[str, ...]


@dataclass(frozen=True)
class ClinicianInfo:
    name: str
    roles: tuple[str, ...]
    max_concurrent: int


class BusySession(NamedTuple):
    """An active session in the searched range (a tuple: a 4-week search builds thousands)."""

    id: int
    room_id: int
    clinician_id: int
    patient_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    occupied_until: dt.datetime


@dataclass
class SchedulingContext:
    clinic: Clinic
    treatment_type: TreatmentType
    opening_hours: list[tuple[int, dt.time, dt.time]]
    closures: list[tuple[dt.date, dt.date]]
    rooms: dict[int, RoomInfo]
    room_inputs: dict[int, availability.RoomInput]
    clinicians: dict[int, ClinicianInfo]
    clinician_inputs: dict[int, availability.ClinicianInput]
    patient_input: availability.PatientInput | None
    sessions: list[BusySession] = field(default_factory=list)

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


@dataclass(frozen=True)
class _Raw:
    """What the loaders return: plain rows, shaped into a SchedulingContext by ``_assemble``."""

    hours: list[tuple[int, dt.time, dt.time]]
    closures: list[tuple[dt.date, dt.date]]
    rooms: list[tuple[int, str, list[str]]]
    staff: list[tuple[int, str, list[str], int, list[tuple[int, dt.time, dt.time]], list[tuple]]]
    sessions: list[BusySession]
    patient_sessions: list[tuple[dt.datetime, dt.datetime]]


@dataclass(frozen=True)
class _Query:
    clinic: Clinic
    lo: dt.datetime  # sessions and time off are loaded in [lo, hi): the range plus a margin
    hi: dt.datetime
    patient: Patient | None
    patient_lo: dt.datetime  # the patient's sessions within the minimum interval of the range
    patient_hi: dt.datetime
    exclude: list[int]


def _load_orm(q: _Query) -> _Raw:
    """Portable loader (SQLite, the embedded default): one query per table."""
    clinic, lo, hi, patient, exclude = q.clinic, q.lo, q.hi, q.patient, q.exclude
    staff = []
    for m in (
        StaffMember.objects.filter(clinic=clinic, active=True, user__is_active=True)
        .select_related("user")
        .prefetch_related(
            Prefetch("availability_windows", queryset=AvailabilityWindow.objects.order_by("weekday", "starts")),
            Prefetch("time_off", queryset=TimeOff.objects.filter(ends_at__gt=lo, starts_at__lt=hi)),
        )
        .order_by("id")
    ):
        staff.append(
            (
                m.pk,
                m.user.get_full_name() or m.user.get_username(),
                m.roles,
                m.max_concurrent_sessions,
                [(w.weekday, w.starts, w.ends) for w in m.availability_windows.all()],
                [(t.starts_at, t.ends_at) for t in m.time_off.all()],
            )
        )
    sessions = [
        BusySession(*row)
        for row in Session.objects.filter(
            clinic=clinic, status__in=Session.ACTIVE, starts_at__lt=hi, occupied_until__gt=lo
        )
        .exclude(pk__in=exclude)
        .values_list("id", "room_id", "clinician_id", "patient_id", "starts_at", "ends_at", "occupied_until")
    ]
    patient_sessions = []
    if patient is not None:
        patient_sessions = list(
            Session.objects.filter(
                patient=patient, status__in=Session.ACTIVE, starts_at__lt=q.patient_hi, ends_at__gt=q.patient_lo
            )
            .exclude(pk__in=exclude)
            .values_list("starts_at", "ends_at")
        )
    return _Raw(
        hours=[(h.weekday, h.opens, h.closes) for h in clinic.opening_hours.all()],
        closures=[
            (c.starts_on, c.ends_on) for c in clinic.closures.filter(ends_on__gte=lo.date(), starts_on__lte=hi.date())
        ],
        rooms=list(
            Room.objects.filter(clinic=clinic, active=True)
            .order_by("name", "id")
            .values_list("id", "name", "modalities")
        ),
        staff=staff,
        sessions=sessions,
        patient_sessions=patient_sessions,
    )


# One round trip on PostgreSQL: every table the search needs, aggregated to JSON in one statement.
# The body reads what it is about from one row ``k`` (clinic, ranges, patient, sessions to leave
# out, and a room and a clinician when both are named); a head supplies that row: from parameters
# (``_CONTEXT_SQL``), or from the rows a booking has just locked (``_BOOKING_CONTEXT_HEAD``).
# A booking that names its room and clinician chooses neither, so it needs only theirs: the
# others' sessions are not read.
# A session overlapping [lo, hi) starts before hi and, as no session holds its chair for more
# than a day (a constraint on PostgreSQL, MAX_CHAIR_MINUTES), after lo minus a day: both bounds
# go to the (clinic, starts_at) and (patient, starts_at) indexes, so the read stays within the
# window however long the clinic's history grows. ("occupied_until > lo" alone bounds nothing:
# it used to read every earlier session of the clinic.)
_ACTIVE = ", ".join(f"'{status}'" for status in Session.ACTIVE)  # the model's constants
_CONTEXT_BODY = """
SELECT
  (SELECT coalesce(json_agg(json_build_array(h.weekday, h.opens, h.closes) ORDER BY h.weekday, h.opens), '[]')
     FROM clinic_openinghours h WHERE h.clinic_id = k.clinic),
  (SELECT coalesce(json_agg(json_build_array(c.starts_on, c.ends_on)), '[]')
     FROM clinic_closure c WHERE c.clinic_id = k.clinic AND c.ends_on >= k.lo_date AND c.starts_on <= k.hi_date),
  (SELECT coalesce(json_agg(json_build_array(r.id, r.name, r.modalities) ORDER BY r.name, r.id), '[]')
     FROM clinic_room r WHERE r.clinic_id = k.clinic AND r.active AND (k.room IS NULL OR r.id = k.room)),
  (SELECT coalesce(json_agg(json_build_array(
        m.id, trim(u.first_name || ' ' || u.last_name), u.username, m.roles, m.max_concurrent_sessions,
        (SELECT coalesce(json_agg(json_build_array(w.weekday, w.starts, w.ends) ORDER BY w.weekday, w.starts), '[]')
           FROM scheduling_availabilitywindow w WHERE w.staff_member_id = m.id),
        (SELECT coalesce(json_agg(json_build_array(t.starts_at, t.ends_at)), '[]')
           FROM scheduling_timeoff t WHERE t.staff_member_id = m.id AND t.ends_at > k.lo AND t.starts_at < k.hi)
      ) ORDER BY m.id), '[]')
     FROM clinic_staffmember m JOIN clinic_user u ON u.id = m.user_id
     WHERE m.clinic_id = k.clinic AND m.active AND u.is_active AND (k.clinician IS NULL OR m.id = k.clinician)),
  (SELECT coalesce(json_agg(json_build_array(
        s.id, s.room_id, s.clinician_id, s.patient_id, s.starts_at, s.ends_at, s.occupied_until)), '[]')
     FROM scheduling_session s
     WHERE s.clinic_id = k.clinic AND s.status IN ({active})
       AND s.starts_at < k.hi AND s.starts_at > k.lo - interval '24 hours' AND s.occupied_until > k.lo
       AND NOT (s.id = ANY(k.exclude))
       AND (k.room IS NULL OR k.clinician IS NULL OR s.room_id = k.room OR s.clinician_id = k.clinician)),
  (SELECT coalesce(json_agg(json_build_array(s.starts_at, s.ends_at)), '[]')
     FROM scheduling_session s
     WHERE s.patient_id = k.patient AND s.status IN ({active})
       AND s.starts_at < k.patient_hi AND s.starts_at > k.patient_lo - interval '24 hours'
       AND s.ends_at > k.patient_lo
       AND NOT (s.id = ANY(k.exclude)))
FROM k
""".replace("{active}", _ACTIVE)

_CONTEXT_SQL = (
    """
WITH k AS (
  SELECT %(clinic)s::bigint AS clinic, %(lo)s::timestamptz AS lo, %(hi)s::timestamptz AS hi,
         %(lo_date)s::date AS lo_date, %(hi_date)s::date AS hi_date, %(patient)s::bigint AS patient,
         %(patient_lo)s::timestamptz AS patient_lo, %(patient_hi)s::timestamptz AS patient_hi,
         %(exclude)s::bigint[] AS exclude, NULL::bigint AS room, NULL::bigint AS clinician
)"""
    + _CONTEXT_BODY
)


class _Instants(dict):
    """Timestamp text from PostgreSQL's JSON -> aware datetime, each distinct one parsed once
    (sessions start and end on a few shared instants: a 4-week search has ~6,000 for ~600)."""

    def __missing__(self, text: str) -> dt.datetime:
        value = self[text] = dt.datetime.fromisoformat(text)
        return value


def _raw_from_row(row: tuple, *, with_patient: bool) -> _Raw:
    hours, closures, rooms, staff, sessions, patient_sessions = row
    ts = _Instants()
    return _Raw(
        hours=[(d, dt.time.fromisoformat(o), dt.time.fromisoformat(c)) for d, o, c in hours],
        closures=[(dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for a, b in closures],
        rooms=[(pk, name, modalities) for pk, name, modalities in rooms],
        staff=[
            (
                pk,
                full_name or username,
                roles,
                limit,
                [(d, dt.time.fromisoformat(a), dt.time.fromisoformat(b)) for d, a, b in windows],
                [(ts[a], ts[b]) for a, b in time_off],
            )
            for pk, full_name, username, roles, limit, windows, time_off in staff
        ],
        sessions=[BusySession(i, r, c, p, ts[a], ts[b], ts[o]) for i, r, c, p, a, b, o in sessions],
        patient_sessions=[(ts[a], ts[b]) for a, b in patient_sessions] if with_patient else [],
    )


def _load_sql(q: _Query) -> _Raw:
    patient = q.patient
    with connection.cursor() as cursor:
        cursor.execute(
            _CONTEXT_SQL,
            {
                "clinic": q.clinic.pk,
                "lo": q.lo,
                "hi": q.hi,
                "lo_date": q.lo.date(),
                "hi_date": q.hi.date(),
                "exclude": q.exclude,
                "patient": patient.pk if patient is not None else None,
                "patient_lo": q.patient_lo,
                "patient_hi": q.patient_hi,
            },
        )
        row = cursor.fetchone()
    return _raw_from_row(row, with_patient=patient is not None)


def scheduling_context(
    *,
    clinic: Clinic,
    treatment_type: TreatmentType,
    start: dt.datetime,
    end: dt.datetime,
    patient: Patient | None = None,
    exclude_session_ids: Iterable[int] = (),
) -> SchedulingContext:
    """Everything a search or booking in [start, end) needs: one query on PostgreSQL, a fixed
    handful elsewhere, whatever the range or the number of rooms and clinicians."""
    exclude = list(exclude_session_ids)
    lo, hi = start - CONTEXT_MARGIN, end + CONTEXT_MARGIN
    span = dt.timedelta(hours=treatment_type.min_hours_between)
    loader = _load_sql if connection.vendor == "postgresql" else _load_orm
    raw = loader(_Query(clinic, lo, hi, patient, start - span, end + span, exclude))
    return _assemble(raw, clinic=clinic, treatment_type=treatment_type, patient=patient)


def _assemble(
    raw: _Raw, *, clinic: Clinic, treatment_type: TreatmentType, patient: Patient | None
) -> SchedulingContext:
    """The loaded rows as the context the rules read: rooms and clinicians fit for the treatment."""
    rooms = {
        pk: RoomInfo(name, tuple(modalities))
        for pk, name, modalities in raw.rooms
        if treatment_type.modality in modalities
    }
    staff = [row for row in raw.staff if CLINICIAN_ROLES & set(row[2])]
    busy_by_room: dict[int, list] = defaultdict(list)
    busy_by_clinician: dict[int, list] = defaultdict(list)
    for s in raw.sessions:
        busy_by_room[s.room_id].append((s.starts_at, s.occupied_until))
        busy_by_clinician[s.clinician_id].append((s.starts_at, s.ends_at))
    return SchedulingContext(
        clinic=clinic,
        treatment_type=treatment_type,
        opening_hours=raw.hours,
        closures=raw.closures,
        rooms=rooms,
        room_inputs={rid: availability.RoomInput(room_id=rid, busy=busy_by_room.get(rid, [])) for rid in rooms},
        clinicians={pk: ClinicianInfo(name, tuple(roles), limit) for pk, name, roles, limit, _, _ in staff},
        clinician_inputs={
            pk: availability.ClinicianInput(
                staff_id=pk,
                max_concurrent=limit,
                weekly=windows,
                time_off=time_off,
                sessions=busy_by_clinician.get(pk, []),
            )
            for pk, _, _, limit, windows, time_off in staff
        },
        patient_input=(
            availability.PatientInput(sessions=raw.patient_sessions, min_hours_between=treatment_type.min_hours_between)
            if patient is not None
            else None
        ),
        sessions=raw.sessions,
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


def patient_for_booking(*, actor: Actor, patient_id: int, patients: QuerySet[Patient] | None = None) -> Patient:
    """A patient the actor may book for, or 404; ``patients`` to read it another way (locked)."""
    patients = Patient.objects.all() if patients is None else patients
    patient = patients.filter(pk=patient_id, clinic_id__in=actor.clinics_with(Perm.SCHEDULE_MANAGE)).first()
    if patient is None:
        raise NotFound()
    return patient


# --- a booking's locks and reads: one round trip on PostgreSQL -------------------------------------


_PATIENT, _CLINIC = ModelColumns(Patient, "p"), ModelColumns(Clinic, "c")
_TREATMENT_TYPE = ModelColumns(TreatmentType, "t")

# A booking's context covers the local day of its start (for the least-loaded choice) and its own
# span and turnover: 26 hours either side of the session reaches past the local day in any zone,
# a 25-hour day of a daylight-saving change included. A booking that names its room and clinician
# chooses neither, so its sessions and time off are read over its own span only; the closures
# keep the margin (their dates are local, the bounds' dates UTC).
_BOOKING_CONTEXT_HEAD = """
WITH k AS (
  SELECT p.clinic_id AS clinic, lo, hi,
         (%(start)s::timestamptz - interval '26 hours')::date AS lo_date,
         (%(start)s::timestamptz + span + interval '26 hours')::date AS hi_date,
         p.id AS patient,
         %(start)s::timestamptz - make_interval(hours => t.min_hours_between) AS patient_lo,
         %(start)s::timestamptz + make_interval(mins => t.duration_minutes, hours => t.min_hours_between)
           AS patient_hi,
         '{}'::bigint[] AS exclude,
         CASE WHEN named THEN %(room)s::bigint END AS room,
         CASE WHEN named THEN %(clinician)s::bigint END AS clinician
  FROM clinic_patient p
  JOIN scheduling_treatmenttype t ON t.id = %(treatment_type)s AND t.clinic_id = p.clinic_id
  CROSS JOIN LATERAL (
    SELECT make_interval(mins => t.duration_minutes + t.turnover_minutes) AS span,
           %(room)s::bigint IS NOT NULL AND %(clinician)s::bigint IS NOT NULL AS named
  ) AS n
  CROSS JOIN LATERAL (
    SELECT %(start)s::timestamptz - CASE WHEN named THEN interval '0' ELSE interval '26 hours' END AS lo,
           %(start)s::timestamptz + span + CASE WHEN named THEN interval '0' ELSE interval '26 hours' END AS hi
  ) AS w
  WHERE p.id = %(patient)s AND p.clinic_id = ANY(%(clinics)s)
)"""


def _quoted(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _lock_patient_sql(clinic_lock: str):
    # Identifiers only, from the models' metadata and quoted; every value is a parameter.
    return lambda: (
        f"SELECT nextval(pg_get_serial_sequence('{Session._meta.db_table}', 'id')), "  # noqa: S608
        f"{_PATIENT.select_list(connection)}, {_CLINIC.select_list(connection)}"
        f" FROM {_quoted(Patient)} p JOIN {_quoted(Clinic)} c ON c.id = p.clinic_id"
        " WHERE p.id = %(patient)s AND p.clinic_id = ANY(%(clinics)s)"
        f" FOR NO KEY UPDATE OF p FOR {clinic_lock} OF c"
    )


# The patient locked, so the patient's own rules hold under concurrency. The clinic: a booking
# whose room or clinician the service chooses takes turns with every other booking of the clinic
# (FOR NO KEY UPDATE, as the ORM path does: see services.booking._locked_patients); one that names
# both chooses nothing, so it takes turns only with those (FOR SHARE, which two named bookings
# hold at once). Its room is the exclusion constraint's to guard, its clinician's limit the
# clinician's lock's. Two named bookings of one chair at one moment meet at the constraint: the
# loser answers 409, as room_unavailable, or as concurrent_change when the two inserts waited for
# each other there and PostgreSQL broke the deadlock (after deadlock_timeout; a threaded test).
# Both modes let a foreign-key check (KEY SHARE) through.
_LOCK_PATIENT = ServerStatement(_lock_patient_sql("NO KEY UPDATE"), {"patient": "bigint", "clinics": "bigint[]"})
_LOCK_PATIENT_SHARING_CLINIC = ServerStatement(_lock_patient_sql("SHARE"), {"patient": "bigint", "clinics": "bigint[]"})
_READ_TREATMENT_TYPE = ServerStatement(
    lambda: (
        f"SELECT {_TREATMENT_TYPE.select_list(connection)} FROM {_quoted(TreatmentType)} t"  # noqa: S608
        " WHERE t.id = %(treatment_type)s AND t.clinic_id = ANY(%(clinics)s)"
    ),
    {"treatment_type": "bigint", "clinics": "bigint[]"},
)
_LOCK_CLINICIAN = ServerStatement(
    lambda: (
        f"SELECT m.id FROM {_quoted(StaffMember)} m JOIN {_quoted(Patient)} p ON p.clinic_id = m.clinic_id"  # noqa: S608
        " WHERE m.id = %(clinician)s AND p.id = %(patient)s AND p.clinic_id = ANY(%(clinics)s)"
        " FOR NO KEY UPDATE OF m"
    ),
    {"clinician": "bigint", "patient": "bigint", "clinics": "bigint[]"},
)
_READ_BOOKING_CONTEXT = ServerStatement(
    lambda: _BOOKING_CONTEXT_HEAD + _CONTEXT_BODY,
    {
        "start": "timestamptz",
        "treatment_type": "bigint",
        "patient": "bigint",
        "clinics": "bigint[]",
        "room": "bigint",
        "clinician": "bigint",
    },
)
# Sent as one string, they run one after the other on the server, each with its own snapshot
# (READ COMMITTED): the context is read after the locks are held, so it sees every booking
# committed before them. The locks are taken in the order every writer of sessions takes them
# (patient and clinic, then a clinician), so they cannot deadlock with the others' row locks;
# two named bookings of one chair can still meet at its exclusion constraint (see above).
_BOOKING_STATEMENTS = [_LOCK_PATIENT, _READ_TREATMENT_TYPE, _LOCK_CLINICIAN, _READ_BOOKING_CONTEXT]
_NAMED_BOOKING_STATEMENTS = [_LOCK_PATIENT_SHARING_CLINIC, *_BOOKING_STATEMENTS[1:]]


@dataclass(frozen=True)
class BookingReads:
    """What a booking request needs before it decides: its rows locked, and the context."""

    patient: Patient  # with its clinic
    treatment_type: TreatmentType
    clinician_locked: bool  # the requested clinician's membership row is locked
    context: SchedulingContext | None  # None when the treatment type is not the patient's clinic's
    session_id: int  # the new session's id, taken from its sequence


def booking_reads(
    *,
    actor: Actor,
    patient_id: int,
    treatment_type_id: int,
    start: dt.datetime,
    room_id: int | None = None,
    clinician_id: int | None = None,
) -> BookingReads:
    """Lock and read everything a booking checks, in one round trip (PostgreSQL only).

    404 for a treatment type or a patient outside the clinics the actor may book for (the
    treatment type first, as the API has always answered).
    """
    clinics = sorted(actor.clinics_with(Perm.SCHEDULE_MANAGE))
    with connection.cursor() as cursor:
        execute_statements(
            cursor,
            _NAMED_BOOKING_STATEMENTS if room_id is not None and clinician_id is not None else _BOOKING_STATEMENTS,
            {
                "patient": patient_id,
                "treatment_type": treatment_type_id,
                "room": room_id,
                "clinician": clinician_id,
                "clinics": clinics,
                "start": start,
            },
        )
        locked = cursor.fetchone()
        cursor.nextset()
        tt_row = cursor.fetchone()
        cursor.nextset()
        clinician_locked = cursor.fetchone() is not None
        cursor.nextset()
        context_row = cursor.fetchone()
    if tt_row is None or locked is None:
        raise NotFound()
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy: the converters read it field by field
    treatment_type = _TREATMENT_TYPE.instance(tt_row, db)
    n_patient = len(_PATIENT)
    patient = _PATIENT.instance(locked[1 : 1 + n_patient], db)
    patient.clinic = _CLINIC.instance(locked[1 + n_patient :], db)
    context = None
    if context_row is not None:
        treatment_type.clinic = patient.clinic
        raw = _raw_from_row(context_row, with_patient=True)
        context = _assemble(raw, clinic=patient.clinic, treatment_type=treatment_type, patient=patient)
    return BookingReads(patient, treatment_type, clinician_locked, context, session_id=locked[0])
