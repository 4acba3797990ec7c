"""Treatment protocols as data, and their expansion into session start times in a clinic's local time.

A protocol (``protocols.json`` next to this module) is a course of treatment written as phases:
"6 infusions, up to 3 a week, never on consecutive days" or "8 sessions twice weekly, then 4
weekly". ``expand`` turns a protocol, a first date, a wall-clock time and the clinic's IANA zone
into the aware start datetimes of every session, so the series endpoint can book a whole course.

Expansion rules (the schedules come from CLINICAL.md; every clinic may override the weekdays):

* The first session is on ``first_date`` whatever its weekday; every later one falls on an allowed
  weekday (the protocol's ``default_weekdays`` unless the caller passes others).
* Weeks are local calendar weeks starting on Monday. Within a phase there are at most ``per_week``
  sessions in a week, and with ``interval_weeks`` = k sessions only in every k-th week counted from
  the week of the phase's first session.
* Consecutive sessions are at least ``min_gap_days`` calendar days apart; at a phase boundary the
  larger of the two phases' gaps applies, so neither phase's spacing is broken by the hand-over.
* A phase after the first starts in the week after the week of the previous phase's last session,
  so a weekly phase never shares a week with the end of a twice-weekly one.
* Each phase walks forward day by day and takes the first day every rule allows. With at least one
  weekday and ``per_week`` >= 1 every phase can always be placed eventually, so the only failure is
  a course that would not fit in ``MAX_SERIES_DAYS`` (absurd data or a very sparse weekday set):
  that raises ``ProtocolError`` instead of walking on for ever.
* Every start is ``local_datetime(day, time_of_day, tz)``: a 10:00 series stays at 10:00 local time
  across DST changes (its UTC offset changes instead), as DESIGN.md section 4 requires.

Standard library only, no Django and no I/O beyond reading the shipped JSON once: it must run in
services, management commands and tests alike.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import Any

PROTOCOLS_FILE = Path(__file__).with_name("protocols.json")

MODALITIES = ("iv_ketamine", "im_ketamine", "esketamine_nasal")

# A course that needs more than about three years is a data error (or a weekday set that makes no
# clinical sense), not something to book; the cap also bounds the day-by-day walk.
MAX_SERIES_DAYS = 3 * 365 + 1

_CODE_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_PROTOCOL_KEYS = frozenset(
    {"code", "name", "modality", "description", "source", "default_weekdays", "phases"},
)
_PHASE_REQUIRED = frozenset({"sessions", "per_week"})
_PHASE_KEYS = _PHASE_REQUIRED | {"min_gap_days", "interval_weeks"}


class ProtocolError(ValueError):
    """A protocol definition is malformed, or a series cannot be expanded from it."""


def _is_int(value: object) -> bool:
    # JSON keeps true and 1 apart, and so do we: a boolean session count is a data error.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_weekdays(value: object, field: str, *, allow_duplicates: bool) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ProtocolError(f"{field}: must be a list of weekdays 0 (Monday) to 6 (Sunday)")
    if not value:
        raise ProtocolError(f"{field}: must name at least one weekday")
    for day in value:
        if not _is_int(day) or not 0 <= day <= 6:
            raise ProtocolError(f"{field}: {day!r} is not a weekday 0 (Monday) to 6 (Sunday)")
    if not allow_duplicates and len(set(value)) != len(value):
        raise ProtocolError(f"{field}: lists a weekday twice")
    return tuple(sorted(set(value)))


@dataclass(frozen=True)
class Phase:
    """One stretch of a course with a single rhythm, e.g. 8 sessions twice weekly."""

    sessions: int
    per_week: int
    min_gap_days: int = 1
    interval_weeks: int = 1

    def __post_init__(self) -> None:
        # Validated on construction so a Phase built in code is as safe to expand as a loaded one.
        for field in ("sessions", "per_week", "min_gap_days", "interval_weeks"):
            value = getattr(self, field)
            if not _is_int(value) or value < 1:
                raise ProtocolError(f"{field}: must be a whole number of at least 1, not {value!r}")
        if self.per_week > 7:
            raise ProtocolError(f"per_week: a week has 7 days, not {self.per_week!r}")

    def as_dict(self) -> dict[str, int]:
        return {
            "sessions": self.sessions,
            "per_week": self.per_week,
            "min_gap_days": self.min_gap_days,
            "interval_weeks": self.interval_weeks,
        }


@dataclass(frozen=True)
class Protocol:
    """A named course of treatment: which modality, where the schedule comes from, and its phases."""

    code: str
    name: str
    modality: str
    description: str
    source: str
    default_weekdays: tuple[int, ...]
    phases: tuple[Phase, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _CODE_RE.match(self.code):
            raise ProtocolError(f"code: must be lower-case words joined by hyphens, not {self.code!r}")
        for field in ("name", "description", "source"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value.strip():
                raise ProtocolError(f"{field}: must be non-empty text")
        if self.modality not in MODALITIES:
            raise ProtocolError(f"modality: must be one of {', '.join(MODALITIES)}, not {self.modality!r}")
        weekdays = _check_weekdays(self.default_weekdays, "default_weekdays", allow_duplicates=False)
        if isinstance(self.phases, str | bytes) or not isinstance(self.phases, Sequence) or not self.phases:
            raise ProtocolError("phases: must be a non-empty list of phases")
        for index, phase in enumerate(self.phases):
            if not isinstance(phase, Phase):
                raise ProtocolError(f"phases[{index}]: must be a Phase, not {type(phase).__name__}")
        # Frozen, so normalise through object.__setattr__: tuples keep the protocol hashable and
        # immutable even when a caller passed lists.
        object.__setattr__(self, "default_weekdays", weekdays)
        object.__setattr__(self, "phases", tuple(self.phases))

    @property
    def total_sessions(self) -> int:
        return sum(phase.sessions for phase in self.phases)

    def as_dict(self) -> dict[str, Any]:
        """The protocol in the shape of ``protocols.json`` (``parse_protocols`` reads it back)."""
        return {
            "code": self.code,
            "name": self.name,
            "modality": self.modality,
            "description": self.description,
            "source": self.source,
            "default_weekdays": list(self.default_weekdays),
            "phases": [phase.as_dict() for phase in self.phases],
        }


# --- loading ---------------------------------------------------------------------------------------


def _parse_phase(data: object, where: str) -> Phase:
    if not isinstance(data, Mapping):
        raise ProtocolError(f"{where}: must be an object")
    unknown = sorted(set(data) - _PHASE_KEYS)
    if unknown:
        raise ProtocolError(f"{where}.{unknown[0]}: unknown key")
    missing = sorted(_PHASE_REQUIRED - set(data))
    if missing:
        raise ProtocolError(f"{where}.{missing[0]}: is required")
    try:
        return Phase(**data)
    except ProtocolError as error:
        raise ProtocolError(f"{where}.{error}") from None


def _parse_protocol(data: object, index: int, origin: str) -> Protocol:
    code = data.get("code") if isinstance(data, Mapping) else None
    # Name the protocol by its code when it has a usable one, else by its position in the file.
    label = f"protocol {code!r}" if isinstance(code, str) and code else f"protocol #{index}"
    prefix = f"{origin}: {label}"
    if not isinstance(data, Mapping):
        raise ProtocolError(f"{prefix}: must be an object")
    unknown = sorted(set(data) - _PROTOCOL_KEYS)
    if unknown:
        raise ProtocolError(f"{prefix}: {unknown[0]}: unknown key")
    missing = sorted(_PROTOCOL_KEYS - set(data))
    if missing:
        raise ProtocolError(f"{prefix}: {missing[0]}: is required")
    raw_phases = data["phases"]
    if isinstance(raw_phases, str | bytes) or not isinstance(raw_phases, Sequence) or not raw_phases:
        raise ProtocolError(f"{prefix}: phases: must be a non-empty list of phases")
    try:
        phases = tuple(_parse_phase(phase, f"phases[{i}]") for i, phase in enumerate(raw_phases))
        protocol = Protocol(
            code=data["code"],
            name=data["name"],
            modality=data["modality"],
            description=data["description"],
            source=data["source"],
            default_weekdays=data["default_weekdays"],
            phases=phases,
        )
    except ProtocolError as error:
        raise ProtocolError(f"{prefix}: {error}") from None
    try:
        # A protocol that cannot be booked even on its own weekdays is caught at load, not at the
        # front desk. UTC and a fixed date: only the calendar walk matters here.
        expand(protocol, first_date=date(2001, 1, 1), time_of_day=time(12), tz=UTC)
    except ProtocolError as error:
        # expand already names the protocol and phase.
        raise ProtocolError(f"{origin}: {error}") from None
    return protocol


def parse_protocols(data: object, *, origin: str = "protocols") -> dict[str, Protocol]:
    """Validate a list of protocol objects (the JSON shape) and index them by code.

    Errors raise ``ProtocolError`` naming ``origin``, the protocol and the field.
    """
    if isinstance(data, str | bytes) or not isinstance(data, Sequence):
        raise ProtocolError(f"{origin}: must be a list of protocols")
    protocols: dict[str, Protocol] = {}
    for index, item in enumerate(data):
        protocol = _parse_protocol(item, index, origin)
        if protocol.code in protocols:
            raise ProtocolError(f"{origin}: protocol {protocol.code!r}: code: used twice")
        protocols[protocol.code] = protocol
    return protocols


@functools.cache
def _load_shipped() -> MappingProxyType[str, Protocol]:
    try:
        data = json.loads(PROTOCOLS_FILE.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ProtocolError(f"{PROTOCOLS_FILE.name}: not valid JSON: {error}") from None
    return MappingProxyType(parse_protocols(data, origin=PROTOCOLS_FILE.name))


def load_protocols() -> dict[str, Protocol]:
    """The shipped protocols by code; the file is parsed and validated once per process."""
    # A fresh dict each call so a caller that edits its copy cannot change everyone else's.
    return dict(_load_shipped())


def get_protocol(code: str) -> Protocol:
    """The shipped protocol with this code; ``KeyError`` if there is none."""
    return PROTOCOLS[code]


# --- expansion -------------------------------------------------------------------------------------


def local_datetime(day: date, at: time, tz: tzinfo) -> datetime:
    """The aware datetime at wall time ``at`` on ``day`` in ``tz``.

    A wall time that does not exist (the spring-forward gap) is read with the offset in force
    before the gap, which moves it forward by the gap's length: 02:30 on 2027-03-14 in
    America/New_York becomes 03:30 EDT, the same wall time a calendar app shows (RFC 5545 3.3.5).
    An ambiguous wall time (the autumn overlap) takes its first occurrence (``fold=0``).
    """
    if at.tzinfo is not None:
        raise ValueError("at must be a wall-clock time without a timezone; the zone is tz")
    candidate = datetime.combine(day, at).replace(tzinfo=tz, fold=0)
    # A wall time exists iff it survives a round trip through UTC; zoneinfo gives a gap time the
    # pre-transition offset with fold=0, so the round trip lands just where we want it.
    settled = candidate.astimezone(UTC).astimezone(tz)
    if settled.replace(tzinfo=None) != candidate.replace(tzinfo=None):
        return settled
    return candidate


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def expand(
    protocol: Protocol,
    *,
    first_date: date,
    time_of_day: time,
    tz: tzinfo,
    weekdays: Sequence[int] | None = None,
) -> list[datetime]:
    """Every session start of ``protocol``, in order, as aware datetimes in ``tz``.

    ``weekdays`` (0 = Monday) replaces the protocol's ``default_weekdays``; duplicates are ignored.
    Raises ``ProtocolError`` for an empty or invalid weekday set, or a course that would not fit in
    ``MAX_SERIES_DAYS`` from ``first_date``.
    """
    if isinstance(first_date, datetime) or not isinstance(first_date, date):
        # A datetime is a date subclass; accepting one would silently drop its time and zone.
        raise ValueError("first_date must be a date, not a datetime")
    allowed = frozenset(
        _check_weekdays(
            protocol.default_weekdays if weekdays is None else weekdays,
            "weekdays",
            allow_duplicates=True,
        )
    )
    limit = first_date + timedelta(days=MAX_SERIES_DAYS)
    days: list[date] = []
    previous_gap = 1

    for index, phase in enumerate(protocol.phases):
        # The first phase begins on the first date itself; later ones in the week after the
        # previous phase ended, so the rhythms never share a week.
        day = first_date if index == 0 else _monday(days[-1]) + timedelta(weeks=1)
        phase_first_week: date | None = None
        current_week: date | None = None
        in_week = 0
        placed = 0
        while placed < phase.sessions:
            if day > limit:
                raise ProtocolError(
                    f"protocol {protocol.code!r}: phases[{index}] does not fit within {MAX_SERIES_DAYS} days "
                    f"of {first_date.isoformat()} on weekdays {sorted(allowed)}"
                )
            week = _monday(day)
            if week != current_week:
                current_week, in_week = week, 0
            if _can_take(
                day=day,
                week=week,
                phase=phase,
                phase_first_week=phase_first_week,
                in_week=in_week,
                days=days,
                allowed=allowed,
                first_date=first_date,
                previous_gap=previous_gap,
            ):
                days.append(day)
                placed += 1
                in_week += 1
                if phase_first_week is None:
                    phase_first_week = week
            day += timedelta(days=1)
        previous_gap = phase.min_gap_days

    return [local_datetime(day, time_of_day, tz) for day in days]


def _can_take(
    *,
    day: date,
    week: date,
    phase: Phase,
    phase_first_week: date | None,
    in_week: int,
    days: list[date],
    allowed: frozenset[int],
    first_date: date,
    previous_gap: int,
) -> bool:
    if not days:
        # The course starts when the clinic and patient chose, whatever the weekday.
        return day == first_date
    if day.weekday() not in allowed or in_week >= phase.per_week:
        return False
    if phase_first_week is None:
        # First session of a later phase: it must keep both its own and the previous phase's spacing.
        gap = max(phase.min_gap_days, previous_gap)
    else:
        gap = phase.min_gap_days
        if ((week - phase_first_week).days // 7) % phase.interval_weeks:
            return False
    return (day - days[-1]).days >= gap


# Loaded at import (after ``expand``, which validation uses) so a broken file fails loudly at start-up,
# not at the first booking. Read-only: the shipped definitions are shared by the whole process.
PROTOCOLS: Mapping[str, Protocol] = _load_shipped()
