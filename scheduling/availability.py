"""Availability: pure interval arithmetic and the slot search behind every availability request.

Given a clinic's opening hours and closures, its suitable rooms with their occupied intervals, its
clinicians (weekly availability, time off, supervised sessions, supervision limit) and optionally a
patient's sessions, ``find_slots`` lists every start at which a session of the requested duration
can be booked, with every room and clinician that could take it.

The booking service checks one requested slot with the building blocks exported here
(``within_opening_hours``, ``room_is_free``, ``clinician_is_available``,
``clinician_has_capacity``, ``patient_is_free``). ``find_slots`` computes exactly the same
conditions in bulk, so a slot offered here is a slot booking accepts. The database keeps the last
word on overlaps (DESIGN.md section 4, "No double booking"); this module only avoids offering
slots that would fail.

Time (DESIGN.md section 4, "Time"):

* every interval is half-open ``[start, end)`` between timezone-aware datetimes;
* opening hours, closures and weekly availability are wall times of the clinic's local date. A
  wall time becomes an instant with zoneinfo and fold=0, normalised through UTC: an ambiguous time
  (fall-back) is its first occurrence; a time inside a spring-forward gap is pushed forward past
  the gap by the gap's length (02:00 -> 03:00, 02:30 -> 03:30 EDT), as zoneinfo, Java and Temporal
  ("compatible") all do, so other code converting the same wall time gets the same instant;
* candidate starts step in absolute time from a window's opening instant, so a window keeps its
  real length on a DST day (01:00-04:00 lasts two hours on spring-forward day, four on fall-back);
* Python compares and subtracts two datetimes that share a tzinfo by wall time, ignoring fold and
  offset, which is wrong across a fall-back. Everything here is converted to UTC before it is
  compared or subtracted.

Performance (performance-research.md 2.4: one fetch, then an in-memory sweep): ``find_slots``
builds one sorted list of candidate starts. Each busy interval of a resource forbids an open range
of starts; two bisects turn it into a range of candidate indices, ORed into an int bitset for that
resource. The cost is O(intervals x log(candidates)) bisects plus one big-int OR each, never
candidates x sessions.

Standard library only: no Django, no database.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

__all__ = [
    "ClinicianInput",
    "PatientInput",
    "RoomInput",
    "SearchRequest",
    "Slot",
    "clinician_has_capacity",
    "clinician_is_available",
    "find_slots",
    "max_concurrency",
    "opening_intervals",
    "patient_is_free",
    "room_is_free",
    "within_opening_hours",
]

Interval = tuple[datetime, datetime]
WeeklyWindow = tuple[int, time, time]  # (weekday 0=Monday..6, starts, ends) in local wall time
DateRange = tuple[date, date]  # inclusive local dates

_ZERO = timedelta(0)
_ONE_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)  # datetime's resolution


@dataclass(frozen=True)
class RoomInput:
    room_id: int
    busy: Sequence[Interval]  # existing sessions' occupied intervals, already including their turnover


@dataclass(frozen=True)
class ClinicianInput:
    staff_id: int
    max_concurrent: int
    weekly: Sequence[WeeklyWindow]  # local wall time; several windows per day allowed
    time_off: Sequence[Interval]
    sessions: Sequence[Interval]  # active sessions they supervise (start, end; no turnover)


@dataclass(frozen=True)
class PatientInput:
    sessions: Sequence[Interval]
    min_hours_between: float  # start to start


@dataclass(frozen=True)
class SearchRequest:
    window_start: datetime
    window_end: datetime
    tz: ZoneInfo
    duration: timedelta
    turnover: timedelta
    step: timedelta
    opening_hours: Sequence[WeeklyWindow]  # local; several per day allowed
    closures: Sequence[DateRange]  # inclusive local date ranges when the clinic is closed
    rooms: Sequence[RoomInput]  # only rooms suitable for the modality and active
    clinicians: Sequence[ClinicianInput]
    patient: PatientInput | None = None
    now: datetime | None = None  # every slot starts after now (a start at now is past once booked)


@dataclass(frozen=True)
class Slot:
    start: datetime  # in the request's tz
    end: datetime  # start + duration in absolute time, in the request's tz
    room_ids: tuple[int, ...]
    clinician_ids: tuple[int, ...]


# --- time helpers --------------------------------------------------------------------------------


def _utc(dt: datetime) -> datetime:
    """``dt`` as a UTC datetime, so comparisons and subtraction use real time (see module docstring)."""
    if dt.tzinfo is UTC:  # what Django hands back from the database: skip the conversion
        return dt
    if dt.utcoffset() is None:
        # astimezone() would silently read a naive value as the server's local time.
        raise ValueError(f"availability needs timezone-aware datetimes, got naive {dt!r}")
    return dt.astimezone(UTC)


def _wall_to_utc(day: date, wall: time, tz: tzinfo) -> datetime:
    """The instant of a local wall time: fold=0, then through UTC (gap -> forward, ambiguous -> first)."""
    return datetime.combine(day, wall.replace(tzinfo=None, fold=0), tzinfo=tz).astimezone(UTC)


def _by_weekday(windows: Iterable[WeeklyWindow]) -> list[list[tuple[time, time]]]:
    days: list[list[tuple[time, time]]] = [[] for _ in range(7)]
    for weekday, opens, closes in windows:
        if not 0 <= weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6, got {weekday}")
        days[weekday].append((opens, closes))
    return days


def _day_windows(day: date, tz: tzinfo, by_weekday: list[list[tuple[time, time]]]) -> list[Interval]:
    """That local date's windows as UTC instants, sorted; a window empty in real time is dropped."""
    windows = []
    for opens, closes in by_weekday[day.weekday()]:
        start, end = _wall_to_utc(day, opens, tz), _wall_to_utc(day, closes, tz)
        # Both ends inside a spring-forward gap, or opens >= closes: nothing is open.
        if start < end:
            windows.append((start, end))
    windows.sort()
    return windows


def _is_closed(day: date, closures: Iterable[DateRange]) -> bool:
    return any(first <= day <= last for first, last in closures)


def _overlaps(a: datetime, b: datetime, start: datetime, end: datetime) -> bool:
    """Half-open [a, b) and [start, end) share an instant (all UTC); an empty interval shares none."""
    return a < end and start < b and a < b and start < end


# --- building blocks (one slot at a time; the booking service uses these) ------------------------


def opening_intervals(
    day: date, tz: tzinfo, opening_hours: Sequence[WeeklyWindow], closures: Sequence[DateRange]
) -> list[Interval]:
    """That local date's opening windows as aware intervals in ``tz``, sorted; [] on a closure.

    Compare or subtract them after ``astimezone(UTC)``: on a fall-back day, Python's same-tzinfo
    arithmetic would give 01:00-04:00 three hours instead of four.
    """
    if _is_closed(day, closures):
        return []
    return [(o.astimezone(tz), c.astimezone(tz)) for o, c in _day_windows(day, tz, _by_weekday(opening_hours))]


def within_opening_hours(
    start: datetime, end: datetime, tz: tzinfo, opening_hours: Sequence[WeeklyWindow], closures: Sequence[DateRange]
) -> bool:
    """[start, end) lies inside ONE opening window of start's local date (not closed that day)."""
    s, e = _utc(start), _utc(end)
    if not s < e:
        return False
    day = s.astimezone(tz).date()
    if _is_closed(day, closures):
        return False
    return any(o <= s and e <= c for o, c in _day_windows(day, tz, _by_weekday(opening_hours)))


def room_is_free(room: RoomInput, start: datetime, occupied_end: datetime) -> bool:
    """No busy interval of the room overlaps [start, occupied_end) (occupied_end includes turnover)."""
    s, e = _utc(start), _utc(occupied_end)
    return not any(_overlaps(_utc(a), _utc(b), s, e) for a, b in room.busy)


def clinician_is_available(c: ClinicianInput, start: datetime, end: datetime, tz: tzinfo) -> bool:
    """[start, end) lies inside one weekly window of start's local date, and no time off overlaps it."""
    s, e = _utc(start), _utc(end)
    if not s < e:
        return False
    day = s.astimezone(tz).date()
    if not any(o <= s and e <= cl for o, cl in _day_windows(day, tz, _by_weekday(c.weekly))):
        return False
    return not any(_overlaps(_utc(a), _utc(b), s, e) for a, b in c.time_off)


def clinician_has_capacity(c: ClinicianInput, start: datetime, end: datetime) -> bool:
    """At no instant of [start, end) do they already supervise max_concurrent sessions."""
    return max_concurrency(c.sessions, start, end) < c.max_concurrent


def patient_is_free(p: PatientInput, start: datetime, end: datetime) -> bool:
    """No overlap with their sessions, and every session starts at least min_hours_between away.

    The gap is measured start to start: a patient dosed at 09:00 must not be booked again before
    09:00 + gap, nor at a time that leaves less than the gap before a session already booked.
    """
    s, e = _utc(start), _utc(end)
    gap = timedelta(hours=p.min_hours_between)
    for a, b in p.sessions:
        a_utc, b_utc = _utc(a), _utc(b)
        if _overlaps(a_utc, b_utc, s, e) or abs(s - a_utc) < gap:
            return False
    return True


def max_concurrency(intervals: Iterable[Interval], start: datetime, end: datetime) -> int:
    """The largest number of ``intervals`` that overlap at any one instant of [start, end)."""
    s, e = _utc(start), _utc(end)
    events: list[tuple[datetime, int]] = []
    for a, b in intervals:
        lo, hi = max(_utc(a), s), min(_utc(b), e)
        if lo < hi:
            events.append((lo, 1))
            events.append((hi, -1))
    # At equal instants -1 sorts first: a session ending as another begins does not overlap it.
    events.sort()
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


# --- the search ----------------------------------------------------------------------------------


def _range_mask(lo: int, hi: int) -> int:
    """Bits lo..hi-1 set."""
    return ((1 << (hi - lo)) - 1) << lo if lo < hi else 0


def _blocked(starts: list[datetime], forbidden: Iterable[Interval]) -> int:
    """Bitset of candidate indices whose start lies strictly inside one of the open ranges ``forbidden``."""
    mask = 0
    for lo, hi in forbidden:
        first, end = bisect_right(starts, lo), bisect_left(starts, hi)
        if first < end:  # _range_mask(first, end), inlined: thousands of ranges per search
            mask |= ((1 << (end - first)) - 1) << first
    return mask


def _saturated(sessions: Iterable[Interval], limit: int) -> list[Interval]:
    """The UTC intervals during which at least ``limit`` of ``sessions`` overlap (limit >= 1)."""
    events: list[tuple[datetime, int]] = []
    for a, b in sessions:
        a_utc, b_utc = _utc(a), _utc(b)
        if a_utc < b_utc:
            events.append((a_utc, 1))
            events.append((b_utc, -1))
    events.sort()
    segments: list[Interval] = []
    current, opened, i = 0, None, 0
    while i < len(events):
        # Apply every event at this instant before judging it: the count then holds until the next one.
        instant = events[i][0]
        while i < len(events) and events[i][0] == instant:
            current += events[i][1]
            i += 1
        if current >= limit and opened is None:
            opened = instant
        elif current < limit and opened is not None:
            segments.append((opened, instant))
            opened = None
    return segments


def _candidates(req: SearchRequest, lower: datetime, upper: datetime) -> dict[datetime, tuple[datetime, date]]:
    """Candidate starts (UTC) -> (start in req.tz, its local date); every one is inside opening hours."""
    tz, duration, step = req.tz, req.duration, req.step
    opening = _by_weekday(req.opening_hours)
    found: dict[datetime, tuple[datetime, date]] = {}
    # One spare day each side costs a few conversions; the local-date check below keeps only true hits.
    day = lower.astimezone(tz).date() - _ONE_DAY
    last_day = upper.astimezone(tz).date() + _ONE_DAY
    while day <= last_day:
        if not _is_closed(day, req.closures):
            for opens, closes in _day_windows(day, tz, opening):
                latest = min(closes - duration, upper - timedelta(microseconds=1))
                # First step at or after `lower`: ceil((lower - opens) / step), stepping in absolute time.
                k = max(0, -((opens - lower) // step))
                start = opens + k * step
                while start <= latest:
                    local = start.astimezone(tz)
                    # Only a start whose own local date owns the window: what within_opening_hours checks.
                    if local.date() == day:
                        found[start] = (local, day)
                    start += step
        day += _ONE_DAY
    return found


def _within_windows(starts: list[datetime], day_indices: list[int], first: datetime, last: datetime) -> int:
    """Bitset of the candidates of one local date whose start lies in [first, last]."""
    lo_index, hi_index = day_indices[0], day_indices[-1] + 1
    if hi_index - lo_index == len(day_indices):  # a day's starts are contiguous, barring exotic zones
        return _range_mask(
            bisect_left(starts, first, lo_index, hi_index), bisect_right(starts, last, lo_index, hi_index)
        )
    mask = 0
    for i in day_indices:
        if first <= starts[i] <= last:
            mask |= 1 << i
    return mask


def _set_bits(mask: int, n: int) -> list[int]:
    """Indices of the set bits of ``mask``, ascending (str.find scans in C, bit shifts would copy)."""
    bits = bin(mask)[2:][::-1].ljust(n, "0")
    found = []
    i = bits.find("1")
    while i >= 0:
        found.append(i)
        i = bits.find("1", i + 1)
    return found


def _ids_by_index(masks: list[tuple[int, int]], offered: int, n: int) -> list[list[int]]:
    """For each candidate index, the ids whose bitset has it (in ``masks`` order, i.e. by id)."""
    ids: list[list[int]] = [[] for _ in range(n)]
    for resource_id, mask in masks:
        for i in _set_bits(mask & offered, n):
            ids[i].append(resource_id)
    return ids


def _forbidden(intervals: Iterable[Interval], length: timedelta) -> list[Interval]:
    """Open ranges of starts s for which [s, s + length) overlaps one of the non-empty ``intervals``.

    [a, b) overlaps [s, s + length) exactly when a - length < s < b.
    """
    ranges = []
    for a, b in intervals:
        # _utc(), skipped for what the database hands back (already UTC): thousands per search.
        a_utc = a if a.tzinfo is UTC else _utc(a)
        b_utc = b if b.tzinfo is UTC else _utc(b)
        if a_utc < b_utc:
            ranges.append((a_utc - length, b_utc))
    return ranges


def _room_masks(req: SearchRequest, starts: list[datetime], everything: int) -> list[tuple[int, int]]:
    """(room id, bitset of candidates where room_is_free holds for duration + turnover), by id."""
    occupied = req.duration + req.turnover
    rooms = sorted(req.rooms, key=lambda r: r.room_id)
    return [(room.room_id, everything & ~_blocked(starts, _forbidden(room.busy, occupied))) for room in rooms]


def _clinician_masks(
    req: SearchRequest, starts: list[datetime], day_indices: dict[date, list[int]]
) -> list[tuple[int, int]]:
    """(staff id, bitset of candidates where clinician_is_available and clinician_has_capacity hold), by id."""
    duration = req.duration
    masks = []
    for clinician in sorted(req.clinicians, key=lambda c: c.staff_id):
        if clinician.max_concurrent <= 0:
            masks.append((clinician.staff_id, 0))
            continue
        weekly = _by_weekday(clinician.weekly)
        allowed = 0
        for day, indices in day_indices.items():
            for opens, closes in _day_windows(day, req.tz, weekly):
                allowed |= _within_windows(starts, indices, opens, closes - duration)
        forbidden = _forbidden(clinician.time_off, duration)
        # Starts whose [s, s + duration) touches an instant where they are already at their limit.
        # With a limit of one (the usual case) that is any of their sessions: no sweep needed.
        at_limit = (
            clinician.sessions
            if clinician.max_concurrent == 1
            else _saturated(clinician.sessions, clinician.max_concurrent)
        )
        forbidden += _forbidden(at_limit, duration)
        masks.append((clinician.staff_id, allowed & ~_blocked(starts, forbidden)))
    return masks


def _patient_mask(req: SearchRequest, starts: list[datetime], everything: int) -> int:
    """Bitset of candidates where patient_is_free holds (all of them without a patient)."""
    if req.patient is None:
        return everything
    forbidden = _forbidden(req.patient.sessions, req.duration)
    gap = timedelta(hours=req.patient.min_hours_between)
    if gap > _ZERO:
        # |s - a| < gap is the open range (a - gap, a + gap), whatever the session's length.
        forbidden += [(a - gap, a + gap) for a in (_utc(a) for a, _ in req.patient.sessions)]
    return everything & ~_blocked(starts, forbidden)


def find_slots(req: SearchRequest) -> list[Slot]:
    """Every bookable start in [window_start, window_end) and after ``now``, sorted, with every room
    and clinician for it.

    A start is offered when it is a step from an opening window's opening instant, the session fits
    before that window closes (turnover may run past closing), at least one room is free for
    duration + turnover, at least one clinician is available with capacity for the duration, and
    the patient (if given) is free.
    """
    if req.duration <= _ZERO or req.step <= _ZERO:
        raise ValueError("duration and step must be positive")
    if req.turnover < _ZERO:
        raise ValueError("turnover must not be negative")
    lower, upper = _utc(req.window_start), _utc(req.window_end)
    if req.now is not None:
        # Strictly after now, as the booking service requires (it refuses start <= now): the
        # smallest datetime step past now is the first start that may be offered.
        lower = max(lower, _utc(req.now) + _TICK)
    if lower >= upper:
        return []

    found = _candidates(req, lower, upper)
    starts = sorted(found)
    n = len(starts)
    if n == 0:
        return []
    everything = (1 << n) - 1
    day_indices: dict[date, list[int]] = {}
    for i, start in enumerate(starts):
        day_indices.setdefault(found[start][1], []).append(i)

    room_free = _room_masks(req, starts, everything)
    clinician_free = _clinician_masks(req, starts, day_indices)
    any_room = any_clinician = 0
    for _, mask in room_free:
        any_room |= mask
    for _, mask in clinician_free:
        any_clinician |= mask
    offered = any_room & any_clinician & _patient_mask(req, starts, everything)
    rooms_at = _ids_by_index(room_free, offered, n)
    clinicians_at = _ids_by_index(clinician_free, offered, n)
    return [
        Slot(
            start=found[starts[i]][0],
            # Absolute arithmetic in UTC: local + duration would add wall time across DST.
            end=(starts[i] + req.duration).astimezone(req.tz),
            room_ids=tuple(rooms_at[i]),
            clinician_ids=tuple(clinicians_at[i]),
        )
        for i in _set_bits(offered, n)
    ]
