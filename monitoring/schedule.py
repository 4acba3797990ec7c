"""Vital-sign check schedule: which readings are due during a session, which are overdue, and when
the patient may leave at the earliest.

The pure rules behind the chair board, the overdue-check sweep and the discharge gate of the
in-session monitoring record (esketamine nasal spray, IV and IM ketamine):

* :func:`expected_checks` lists the checks of a session (before the dose, at fixed minutes after
  the dose, every N minutes during an infusion, every N minutes after the dose or the end of the
  infusion) with the reading that counts for each and its state at ``now``;
* :func:`overdue` and :func:`next_due` pick from that list what to alert on and what to show next;
* :func:`earliest_discharge` is the end of the minimum monitoring time, and
  :func:`has_recent_reading` the "reading shortly before leaving" rule the discharge service checks;
* :func:`resolve_config` builds the :class:`ScheduleConfig` in force for a treatment type from
  :data:`DEFAULT_CONFIGS`, then the clinic's overrides, then the treatment type's.

Every number is a **default that a clinic's medical director changes and signs off** (CLINICAL.md:
per clinic, per treatment type). Sources and tags ([V] seen in the source, [V2] in a secondary
source, [U] not verified) are cited where the defaults are defined.

Rules that callers rely on:

* **Matching readings to checks.** Readings are considered in time order; each counts for at most
  one check. The "before the dose" check takes the latest reading at or before the first dose (and
  at or after check-in when it is known). Every later check ``i`` due at ``t_i`` has a window
  ``[t_i - early_tolerance, close_i)`` where ``close_i`` is when the next check's window opens
  (``t_{i+1} - early_tolerance``), but never before ``t_i + grace`` (a reading still "on time"
  always counts); the last check's window never closes. A reading goes to the earliest
  unsatisfied check whose window holds it, so a reading taken late, before the next check's window
  opens, satisfies the missed check late; once the next window opens, the missed check can no
  longer be satisfied (``DueCheck.closes_at``) and stays overdue for the rest of the session.
  With the defaults (early tolerance 5, grace 5) the windows do not overlap.
* **Overdue is a state at ``now``, alerts are history.** A check is overdue from ``due_at + grace``.
  A late reading turns it to ``done`` on the next call, but an alert the sweep raised while it was
  overdue stays raised (alerts are append-only and deduplicated on the check's ``key``, DESIGN.md
  section 4): the record shows the check was missed and then made up, and the sweep never raises
  the same check twice. A missing pre-dose reading is reported overdue once the dose is given
  (from ``first_dose_at + grace``): it can no longer be taken, but the gap belongs on the record
  (the REMS Patient Monitoring Form asks for the BP before dosing).
* **IV, the reading at the end of the infusion.** During-infusion checks fall every
  ``during_infusion_every`` minutes from the infusion start *up to and including* the infusion end;
  after-infusion checks fall every ``after_dose_every`` minutes *strictly after* the end. A
  40-minute infusion from 10:00 therefore has ``infusion+10`` ... ``infusion+40`` (10:40, the end
  and the usual BP peak, Yale) and then ``after+15`` at 10:55, ``after+30`` at 11:10: the end point
  appears once, as a during check. While ``infusion_end_at`` is unknown the infusion is treated as
  still running and during checks continue up to ``until``.
* **Coinciding checks are merged.** Two series landing on the same instant (a fixed "dose+40" and
  an "infusion+40") are one check, not two readings a second apart: the fixed check is kept, then
  the during check, then the after check.
* **The reading before discharge is a gate, not a scheduled check.** Its time is whenever the
  clinician decides to discharge, and with the one-reading-one-check rule a scheduled "before
  discharge" check would demand a second reading at the same minute as a periodic check (IM
  ``after+30`` is also the earliest discharge). The discharge service asks
  :func:`has_recent_reading` with ``discharge_reading_within_minutes`` when ``before_discharge``.
* **Time.** Every datetime must be timezone-aware (``ValueError`` otherwise). Arithmetic and
  comparisons run in UTC, so a schedule keeps its real minutes across a DST change (Python compares
  two datetimes sharing a tzinfo by wall time, which is wrong across a fall-back); returned
  ``due_at`` and ``closes_at`` values are UTC, ``satisfied_by`` is the caller's own reading.
  Readings after ``now`` (the state is "as of now"), before check-in, or after discharge count for
  nothing.

Standard library only: no Django, no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta

__all__ = [
    "DEFAULT_CONFIGS",
    "DONE",
    "DUE",
    "MODALITIES",
    "OVERDUE",
    "UPCOMING",
    "DueCheck",
    "ScheduleConfig",
    "ScheduleConfigError",
    "SessionTimes",
    "earliest_discharge",
    "expected_checks",
    "has_recent_reading",
    "minutes_since",
    "next_due",
    "overdue",
    "resolve_config",
]

MODALITIES = ("iv_ketamine", "im_ketamine", "esketamine_nasal")

DONE = "done"
DUE = "due"
OVERDUE = "overdue"
UPCOMING = "upcoming"

# The esketamine REMS requires at least 2 hours on site after every dose, and the Patient
# Monitoring Form's "minutes from the first device to the end of monitoring" must be >= 120 [V]
# (FDA REMS page, NDA 211243; label boxed warning). A shorter minimum is not a clinical choice a
# clinic can sign off but a REMS violation, so it is refused rather than layered.
REMS_MINIMUM_MINUTES = 120

# No session lasts a day: a larger number of minutes is a typo (600 for 60), not a policy.
_MAX_MINUTES = 24 * 60

_INT_FIELDS = (
    "minimum_monitoring_minutes",
    "grace_minutes",
    "early_tolerance_minutes",
    "discharge_reading_within_minutes",
)
_OPTIONAL_INT_FIELDS = ("during_infusion_every", "after_dose_every")
_BOOL_FIELDS = ("predose_check", "before_discharge")
# Lower bounds: a cadence, a fixed time or a discharge window of 0 minutes is meaningless (a fixed
# check at minute 0 would be the pre-dose check); grace, tolerance and minimum may be 0.
_MINIMUM = {
    "during_infusion_every": 1,
    "after_dose_every": 1,
    "discharge_reading_within_minutes": 1,
    "minimum_monitoring_minutes": 0,
    "grace_minutes": 0,
    "early_tolerance_minutes": 0,
}


def _is_int(value: object) -> bool:
    # bool is an int subclass: JSON's true must not pass as "every 1 minute".
    return isinstance(value, int) and not isinstance(value, bool)


class ScheduleConfigError(ValueError):
    """A schedule configuration that cannot be used; ``errors`` maps each key to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        detail = "; ".join(f"{key}: {' '.join(messages)}" for key, messages in errors.items())
        super().__init__(f"Invalid check schedule: {detail}")

    def __reduce__(self):
        return (type(self), (self.errors,))


@dataclass(frozen=True)
class ScheduleConfig:
    """When vital signs are read in one kind of session. Validated on construction.

    ``fixed_minutes_after_dose`` and ``after_dose_every`` count from ``first_dose_at`` (esketamine:
    the first device; IM: the injection), except that for IV ketamine ``after_dose_every`` counts
    from the end of the infusion. ``during_infusion_every`` only applies to IV ketamine; for other
    modalities it is accepted and ignored, so one clinic-wide override can serve every treatment
    type. ``fixed_minutes_after_dose`` is normalised to a sorted tuple without repeats.
    """

    modality: str
    predose_check: bool = True
    fixed_minutes_after_dose: tuple[int, ...] = ()
    during_infusion_every: int | None = None
    after_dose_every: int | None = None
    before_discharge: bool = True
    minimum_monitoring_minutes: int = 0
    grace_minutes: int = 5
    early_tolerance_minutes: int = 5
    discharge_reading_within_minutes: int = 15

    def __post_init__(self) -> None:
        errors = _validate(self.as_dict())
        if errors:
            raise ScheduleConfigError(errors)
        object.__setattr__(self, "fixed_minutes_after_dose", tuple(sorted(set(self.fixed_minutes_after_dose))))

    def as_dict(self) -> dict:
        """Plain JSON-ready values (the fixed minutes as a list); accepted back by :func:`resolve_config`."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        fixed = values["fixed_minutes_after_dose"]
        if isinstance(fixed, tuple | list):
            values["fixed_minutes_after_dose"] = list(fixed)
        return values


_CONFIG_KEYS = tuple(f.name for f in fields(ScheduleConfig))


def _validate(values: Mapping[str, object], skip: Iterable[str] = ()) -> dict[str, list[str]]:
    """Type, range and regulatory errors of a full set of schedule values, keys in ``skip`` aside."""
    errors: dict[str, list[str]] = {}
    skipped = set(skip)

    def check_minutes(value: object, low: int) -> str | None:
        if not _is_int(value):
            return "Must be a whole number of minutes."
        if value < 0:
            return "Must not be negative."
        if not low <= value <= _MAX_MINUTES:
            return f"Must be between {low} and {_MAX_MINUTES} minutes."
        return None

    modality = values["modality"]
    if "modality" not in skipped and modality not in MODALITIES:
        errors["modality"] = [f"Unknown modality: expected one of {', '.join(MODALITIES)}."]
    for key in _BOOL_FIELDS:
        if key not in skipped and not isinstance(values[key], bool):
            errors[key] = ["Must be true or false."]
    for key in (*_INT_FIELDS, *_OPTIONAL_INT_FIELDS):
        if key in skipped or (key in _OPTIONAL_INT_FIELDS and values[key] is None):
            continue
        message = check_minutes(values[key], _MINIMUM[key])
        if message:
            errors[key] = [message]
    key = "fixed_minutes_after_dose"
    if key not in skipped:
        fixed = values[key]
        if isinstance(fixed, str | bytes) or not isinstance(fixed, Sequence):
            errors[key] = ["Must be a list of whole numbers of minutes after the dose."]
        else:
            messages = {message for minute in fixed if (message := check_minutes(minute, 1))}
            if messages:
                errors[key] = sorted(messages)
    key = "minimum_monitoring_minutes"
    if (
        modality == "esketamine_nasal"
        and key not in skipped
        and key not in errors
        and values[key] < REMS_MINIMUM_MINUTES
    ):
        errors[key] = [
            f"Must be at least {REMS_MINIMUM_MINUTES} for esketamine: the REMS requires 2 hours of monitoring after"
            " every dose."
        ]
    return errors


# Defaults per modality. Sources: CLINICAL.md and reference/domain-research.md.
DEFAULT_CONFIGS: dict[str, ScheduleConfig] = {
    # Esketamine: BP "before dosing, about 40 minutes after, then as warranted until it falls"
    # (label 5.6 [V]); at least 2 hours on site from the first device (REMS [V]); the Patient
    # Monitoring Form asks for the BP before dosing, at 40 minutes and before leaving [V] (REMS form
    # 11/2021). "As warranted" is the clinician's call, so no periodic checks by default.
    "esketamine_nasal": ScheduleConfig(
        modality="esketamine_nasal",
        predose_check=True,
        fixed_minutes_after_dose=(40,),
        before_discharge=True,
        minimum_monitoring_minutes=REMS_MINIMUM_MINUTES,
    ),
    # IV racemic ketamine (off-label): BP every 10 minutes during the infusion and every 15 after
    # it (Emory, Dunlop et al., 684 infusions [V]). Observation after the infusion ends: McLean
    # about 90 minutes for new patients, shorter later [V2]; 60 is a clinic-policy default [U] that
    # a clinic raises for new patients.
    "iv_ketamine": ScheduleConfig(
        modality="iv_ketamine",
        predose_check=True,
        during_infusion_every=10,
        after_dose_every=15,
        before_discharge=True,
        minimum_monitoring_minutes=60,
    ),
    # IM racemic ketamine: about 30 minutes of monitoring after the injection [V2] (clinic
    # protocol, northruppsychiatry.com); every 15 minutes follows the Emory after-infusion cadence [U].
    "im_ketamine": ScheduleConfig(
        modality="im_ketamine",
        predose_check=True,
        after_dose_every=15,
        before_discharge=True,
        minimum_monitoring_minutes=30,
    ),
}


def _layer_error(modality: str, key: str, value: object) -> str | None:
    """Why one override cannot be taken as it is (its range is judged on the layered result)."""
    if key not in _CONFIG_KEYS:
        return "Unknown setting."
    if key == "modality":
        return None if value == modality else "Set by the treatment type; cannot be overridden."
    if key in _BOOL_FIELDS and not isinstance(value, bool):
        return "Must be true or false."
    if key in _INT_FIELDS and not _is_int(value):
        return "Must be a whole number of minutes."
    if key in _OPTIONAL_INT_FIELDS and value is not None and not _is_int(value):
        return "Must be a whole number of minutes, or null for none."
    return None


def resolve_config(modality: str, *overrides: Mapping[str, object] | None) -> ScheduleConfig:
    """The schedule in force: ``overrides`` applied left to right over ``DEFAULT_CONFIGS[modality]``.

    Typically ``resolve_config(modality, clinic_overrides, treatment_type_overrides)``; ``None``
    layers are skipped. Every problem is collected into one :class:`ScheduleConfigError` naming each
    key: an unknown modality; an unknown key, or a value of the wrong type, in any layer (even when
    a later layer overrides it); a negative or out-of-range number; an esketamine minimum below the
    REMS 2 hours. ``modality`` may appear in a layer (an :meth:`ScheduleConfig.as_dict` round trip)
    only with the same value: the treatment type decides it. A layer that is not a mapping is a
    programming error (``TypeError``).
    """
    if modality not in DEFAULT_CONFIGS:
        raise ScheduleConfigError({"modality": [f"Unknown modality: expected one of {', '.join(MODALITIES)}."]})
    values: dict[str, object] = DEFAULT_CONFIGS[modality].as_dict()
    errors: dict[str, list[str]] = {}
    for layer in overrides:
        if layer is None:
            continue
        if not isinstance(layer, Mapping):
            raise TypeError(f"Schedule overrides must be mappings, not {type(layer).__name__}.")
        for key, value in layer.items():
            message = _layer_error(modality, str(key), value)
            if message:
                errors.setdefault(str(key), []).append(message)
            else:
                values[key] = value
    for key, messages in _validate(values, skip=errors).items():
        errors.setdefault(key, []).extend(messages)
    if errors:
        raise ScheduleConfigError(errors)
    return ScheduleConfig(**values)  # type: ignore[arg-type]


# --- sessions and checks -----------------------------------------------------------------------


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware.")
    return moment.astimezone(UTC)


def _utc_or_none(moment: datetime | None, name: str) -> datetime | None:
    return None if moment is None else _utc(moment, name)


@dataclass(frozen=True)
class SessionTimes:
    """The moments of one session that the schedule counts from. All timezone-aware.

    ``first_dose_at``: esketamine, the first device; IV, the infusion start; IM, the injection.
    ``infusion_end_at``: IV only (ignored otherwise); ``None`` while the infusion runs. An end
    recorded before the start is read as the start (a data-entry slip must not stop the sweep for
    every other session).
    """

    checked_in_at: datetime | None
    first_dose_at: datetime | None
    infusion_end_at: datetime | None = None
    discharged_at: datetime | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            _utc_or_none(getattr(self, f.name), f.name)


@dataclass(frozen=True)
class DueCheck:
    """One expected reading, with the reading that counts for it and its state at ``now``.

    ``key`` is stable for a session ("predose", "dose+40", "infusion+10", "after+15"): the sweep
    dedupes alerts on it. ``due_at`` is ``None`` for the pre-dose check before any dose ("now,
    before dosing"); once dosed it is the dose time. ``closes_at`` (an addition to the brief's
    fields) is when a reading stops counting for this check because the next check's window opens;
    ``None`` when nothing closes it yet. For the pre-dose check a reading *at* ``closes_at`` (the
    dose) still counts.
    """

    key: str
    label: str
    due_at: datetime | None
    satisfied_by: datetime | None
    state: str
    closes_at: datetime | None = field(default=None)


@dataclass(frozen=True)
class _Slot:
    due_at: datetime
    rank: int  # which series wins when two land on the same instant: fixed, during, after
    key: str
    label: str


def _minutes_text(n: int) -> str:
    return f"{n} minute" if n == 1 else f"{n} minutes"


# What the dose is called in labels, per modality.
_DOSE_NOUN = {
    "esketamine_nasal": "the first device",
    "iv_ketamine": "the start of the infusion",
    "im_ketamine": "the injection",
}
_AFTER_NOUN = {**_DOSE_NOUN, "iv_ketamine": "the end of the infusion"}


def _slots(
    config: ScheduleConfig, dose: datetime, infusion_end: datetime | None, stop: datetime, cap: datetime | None
) -> list[_Slot]:
    """The post-dose checks, merged and in time order.

    Periodic series run up to ``stop`` plus one check past it (so the window of every check up to
    ``stop`` closes exactly where it would in the endless series); fixed checks are few and all
    generated. Nothing is generated after ``cap`` (the discharge).
    """
    slots: list[_Slot] = []

    def add(due: datetime, rank: int, key: str, label: str) -> bool:
        """Append unless past the discharge; False once the series should stop."""
        if cap is not None and due > cap:
            return False
        slots.append(_Slot(due, rank, key, label))
        return due <= stop

    for minute in config.fixed_minutes_after_dose:
        add(
            dose + timedelta(minutes=minute),
            0,
            f"dose+{minute}",
            f"{_minutes_text(minute)} after {_DOSE_NOUN[config.modality]}",
        )
    is_iv = config.modality == "iv_ketamine"
    if is_iv and config.during_infusion_every:
        step, k = config.during_infusion_every, 1
        # Up to and including the end of the infusion: the end point is a during check.
        while infusion_end is None or dose + timedelta(minutes=k * step) <= infusion_end:
            minutes = k * step
            if not add(
                dose + timedelta(minutes=minutes),
                1,
                f"infusion+{minutes}",
                f"{_minutes_text(minutes)} into the infusion",
            ):
                break
            k += 1
    base = infusion_end if is_iv else dose
    if config.after_dose_every and base is not None:
        step, k = config.after_dose_every, 1
        while True:
            minutes = k * step
            label = f"{_minutes_text(minutes)} after {_AFTER_NOUN[config.modality]}"
            if not add(base + timedelta(minutes=minutes), 2, f"after+{minutes}", label):
                break
            k += 1
    slots.sort(key=lambda s: (s.due_at, s.rank))
    merged: list[_Slot] = []
    for slot in slots:
        if merged and merged[-1].due_at == slot.due_at:
            continue  # one reading serves both series
        merged.append(slot)
    return merged


def _state(due_at: datetime, satisfied: bool, now: datetime, grace: timedelta) -> str:
    if satisfied:
        return DONE
    if now > due_at + grace:
        return OVERDUE
    if now >= due_at:
        return DUE
    return UPCOMING


def _usable_readings(
    readings: Iterable[datetime], *, now: datetime, checked_in: datetime | None, discharged: datetime | None
) -> list[tuple[datetime, datetime]]:
    """``(UTC, the caller's own value)`` of the readings that can count, in time order."""
    usable = []
    for reading in readings:
        moment = _utc(reading, "reading")
        # "As of now": a reading after ``now`` does not exist yet; one before check-in belongs to
        # another visit; one after discharge was not taken in this session.
        if moment > now or (checked_in is not None and moment < checked_in):
            continue
        if discharged is not None and moment > discharged:
            continue
        usable.append((moment, reading))
    usable.sort(key=lambda pair: pair[0])
    return usable


def _predose_check(
    usable: list[tuple[datetime, datetime]], dose: datetime | None, now: datetime, grace: timedelta
) -> DueCheck:
    before = [reading for moment, reading in usable if dose is None or moment <= dose]
    # The latest one: it is the baseline the dose follows (and the REMS form's "BP before dosing").
    satisfied_by = before[-1] if before else None
    if dose is None:
        state = DONE if satisfied_by is not None else DUE
    else:
        state = _state(dose, satisfied_by is not None, now, grace)
    return DueCheck("predose", "Before the dose", dose, satisfied_by, state, dose)


def _match(
    usable: list[tuple[datetime, datetime]], opens: list[datetime], closes: list[datetime | None]
) -> list[datetime | None]:
    """Per check, the reading that counts for it: each reading, in time order, goes to the earliest
    unsatisfied check whose window ``[open, close)`` holds it."""
    satisfied: list[datetime | None] = [None] * len(opens)
    for moment, reading in usable:
        for i, opened in enumerate(opens):
            if opened > moment:
                break  # opens increase: no later window holds it either
            close = closes[i]
            if satisfied[i] is None and (close is None or moment < close):
                satisfied[i] = reading
                break
    return satisfied


def expected_checks(
    config: ScheduleConfig,
    times: SessionTimes,
    readings: Sequence[datetime],
    *,
    now: datetime,
    until: datetime | None = None,
) -> list[DueCheck]:
    """Every check from the session's start up to ``until``, in time order, with its state at ``now``.

    ``until`` defaults to ``now + 60 minutes``; checks never go past ``discharged_at``. Before the
    first dose only the pre-dose check exists (due "now"). See the module docstring for how
    readings are matched to checks. The result for the checks up to ``until`` does not depend on
    ``until`` itself: windows are computed on the whole series.
    """
    now = _utc(now, "now")
    until = now + timedelta(hours=1) if until is None else _utc(until, "until")
    checked_in = _utc_or_none(times.checked_in_at, "checked_in_at")
    dose = _utc_or_none(times.first_dose_at, "first_dose_at")
    discharged = _utc_or_none(times.discharged_at, "discharged_at")
    infusion_end = _utc_or_none(times.infusion_end_at, "infusion_end_at")
    if config.modality != "iv_ketamine":
        infusion_end = None
    elif infusion_end is not None and dose is not None:
        infusion_end = max(infusion_end, dose)
    if discharged is not None:
        until = min(until, discharged)
    grace = timedelta(minutes=config.grace_minutes)
    tolerance = timedelta(minutes=config.early_tolerance_minutes)

    usable = _usable_readings(readings, now=now, checked_in=checked_in, discharged=discharged)
    checks: list[DueCheck] = []
    if config.predose_check:
        checks.append(_predose_check(usable, dose, now, grace))
    if dose is None:
        return checks

    # Checks are generated past ``until`` and past the last reading's reach, so that every window a
    # reading or a shown check depends on is the one of the endless series (results do not depend
    # on ``until``).
    last_reading = usable[-1][0] if usable else now
    slots = _slots(config, dose, infusion_end, max(until, last_reading + tolerance), discharged)
    opens = [slot.due_at - tolerance for slot in slots]
    closes: list[datetime | None] = [
        max(opens[i + 1], slot.due_at + grace) if i + 1 < len(slots) else None for i, slot in enumerate(slots)
    ]

    # A reading at or before the dose is a pre-dose reading, whether or not that check is configured.
    satisfied = _match([pair for pair in usable if pair[0] > dose], opens, closes)
    for i, slot in enumerate(slots):
        if slot.due_at > until:
            break
        state = _state(slot.due_at, satisfied[i] is not None, now, grace)
        checks.append(DueCheck(slot.key, slot.label, slot.due_at, satisfied[i], state, closes[i]))
    return checks


def overdue(checks: Iterable[DueCheck]) -> list[DueCheck]:
    """The checks that are overdue, in the given order (a late-satisfied check is ``done``, not here)."""
    return [check for check in checks if check.state == OVERDUE]


def next_due(checks: Iterable[DueCheck], *, now: datetime | None = None) -> DueCheck | None:
    """The earliest check not done, overdue ones first; ``None`` when every check is done.

    With ``now`` (an addition to the brief), checks whose window has closed are skipped: they can
    no longer be satisfied (a missed pre-dose reading after the dose, a 10:10 check at 10:30), so
    showing them as "next" would hide the reading that can still be taken. :func:`overdue` still
    reports them.
    """
    moment = None if now is None else _utc(now, "now")
    floor = datetime.min.replace(tzinfo=UTC)
    candidates = [
        check
        for check in checks
        if check.state != DONE and (moment is None or check.closes_at is None or moment < check.closes_at)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c.state != OVERDUE, c.due_at.astimezone(UTC) if c.due_at else floor))


def earliest_discharge(config: ScheduleConfig, times: SessionTimes) -> datetime | None:
    """The end of the minimum monitoring time (UTC); ``None`` before any dose or while an infusion runs.

    Esketamine counts from the first device (REMS); IM from the injection; IV from the end of the
    infusion (the observation period follows the infusion, McLean [V2]).
    """
    dose = _utc_or_none(times.first_dose_at, "first_dose_at")
    if dose is None:
        return None
    start = dose
    if config.modality == "iv_ketamine":
        end = _utc_or_none(times.infusion_end_at, "infusion_end_at")
        if end is None:
            return None
        start = max(end, dose)
    return start + timedelta(minutes=config.minimum_monitoring_minutes)


def has_recent_reading(readings: Iterable[datetime], now: datetime, within_minutes: int) -> bool:
    """Whether a reading was taken in the last ``within_minutes`` minutes (inclusive), not after ``now``.

    The discharge gate: with ``before_discharge`` the discharge service refuses without one (the
    REMS form asks for the BP "before leaving" [V]).
    """
    moment = _utc(now, "now")
    earliest = moment - timedelta(minutes=within_minutes)
    return any(earliest <= _utc(reading, "reading") <= moment for reading in readings)


def minutes_since(moment: datetime | None, now: datetime) -> int | None:
    """Whole minutes from ``moment`` to ``now``, rounded down (negative if ``moment`` is later)."""
    if moment is None:
        return None
    return (_utc(now, "now") - _utc(moment, "moment")) // timedelta(minutes=1)
