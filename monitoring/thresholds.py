"""Vital-sign and sedation/dissociation thresholds: is a reading impossible, dangerous or fine?

The pure rules behind the in-session monitoring record (esketamine nasal spray, IV and IM ketamine):

* :func:`plausibility_errors` says whether a reading is *impossible* (an input error the API refuses
  with a field message, never an alert);
* :func:`evaluate_vitals`, :func:`predose_bp_elevated`, :func:`evaluate_moaas` and
  :func:`evaluate_cadss` say whether a plausible reading is *dangerous*: each returns
  :class:`Finding` objects (warning or critical) that the monitoring services turn into alerts;
* :func:`resolve` builds the :class:`Thresholds` in force for a session from the defaults below,
  then the clinic's overrides, then the treatment type's overrides.

Every number here is a **default that a clinic's medical director changes and signs off** (per
clinic, per treatment type); this project does not make the clinical decision. Each default cites
its source and the tag it carries in ``CLINICAL.md`` ("Vital-sign defaults for alerts",
"Plausibility", the MOAA/S and CADSS rows, the esketamine label rows on blood pressure):
[V] seen in the source, [V2] seen in a secondary source, [U] not verified: a default only.

Boundaries are exact and follow the wording of the source: "> 140" fires at 141 and not at 140,
">= 180" fires at 180, "< 94" fires at 93. Plausible ranges are inclusive at both ends.

Standard library only: no Django, no database. Messages raised as exceptions never carry the
measured values (exceptions can reach logs; vitals must not); the clinician-facing
:attr:`Finding.message` does, since it is what the nurse reads on the alert.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from enum import StrEnum

__all__ = [
    "DEFAULTS",
    "PLAUSIBLE_RANGES",
    "Finding",
    "Reading",
    "Severity",
    "ThresholdConfigError",
    "Thresholds",
    "evaluate_cadss",
    "evaluate_moaas",
    "evaluate_vitals",
    "plausibility_errors",
    "predose_bp_elevated",
    "resolve",
    "worst",
]


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


_RANK = {Severity.WARNING: 1, Severity.CRITICAL: 2}


# --- plausibility ------------------------------------------------------------------------------

# Values outside these ranges are input errors (a typo, a swapped field, a probe off the finger),
# refused before they are stored: CLINICAL.md "Plausibility" (project rule, not a clinical source).
# Inclusive at both ends.
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "systolic": (50, 300),
    "diastolic": (20, 200),  # and below the systolic
    "heart_rate": (20, 250),
    "spo2": (50, 100),
    "respiratory_rate": (4, 60),
    "temperature_c": (30.0, 43.0),
}

_UNITS = {
    "systolic": " mmHg",
    "diastolic": " mmHg",
    "heart_rate": " beats per minute",
    "spo2": "%",
    "respiratory_rate": " breaths per minute",
    "temperature_c": " °C",
}

# The MOAA/S is a 0-5 observer rating; the CADSS total is 0-92 for the 23-item version
# (CLINICAL.md instruments table and CADSS paragraph [V]).
MOAAS_RANGE = (0, 5)
CADSS_RANGE = (0, 92)


@dataclass(frozen=True)
class Reading:
    """One set of vital signs. ``None`` means "not measured", never "normal"."""

    systolic: int | None = None
    diastolic: int | None = None
    heart_rate: int | None = None
    spo2: int | None = None
    respiratory_rate: int | None = None
    temperature_c: float | None = None


_READING_FIELDS = tuple(f.name for f in fields(Reading))
# Findings are sorted in this order within a severity: the reading's fields, then the scales.
_FIELD_ORDER = {name: i for i, name in enumerate((*_READING_FIELDS, "moaas", "cadss"))}


def _is_int(value: object) -> bool:
    # bool is an int subclass: a stray True must not pass as a pulse of 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool | complex)


def _range_text(field_name: str) -> str:
    low, high = PLAUSIBLE_RANGES[field_name]
    return f"Must be between {low} and {high}{_UNITS[field_name]}."


def plausibility_errors(reading: Reading) -> dict[str, list[str]]:
    """Input errors in ``reading`` as ``{field: [message, ...]}``; empty when it is plausible.

    * a value outside :data:`PLAUSIBLE_RANGES` (inclusive) names the range;
    * a blood pressure needs both numbers: one without the other is an error on the missing one;
    * the diastolic must be below the systolic (checked when both are otherwise plausible).

    Whole numbers are required for everything but the temperature. ``None`` is "not measured".
    """
    errors: dict[str, list[str]] = {}
    for name in _READING_FIELDS:
        value = getattr(reading, name)
        if value is None:
            continue
        if name == "temperature_c":
            if not _is_number(value) or not math.isfinite(float(value)):
                errors[name] = ["Must be a number."]
                continue
            value = float(value)
        elif not _is_int(value):
            errors[name] = ["Must be a whole number."]
            continue
        low, high = PLAUSIBLE_RANGES[name]
        if not low <= value <= high:
            errors[name] = [_range_text(name)]

    systolic, diastolic = reading.systolic, reading.diastolic
    if systolic is not None and diastolic is None:
        errors.setdefault("diastolic", []).append("A blood pressure needs both numbers: enter the diastolic too.")
    elif diastolic is not None and systolic is None:
        errors.setdefault("systolic", []).append("A blood pressure needs both numbers: enter the systolic too.")
    elif systolic is not None and "systolic" not in errors and "diastolic" not in errors and diastolic >= systolic:
        errors["diastolic"] = ["Must be below the systolic pressure."]
    return errors


def _require_plausible(reading: Reading, what: str) -> None:
    errors = plausibility_errors(reading)
    if errors:
        # Field names only: the values are vitals and this message may be logged.
        raise ValueError(
            f"The {what} is not plausible ({', '.join(sorted(errors))}); check it with plausibility_errors()."
        )


# --- thresholds --------------------------------------------------------------------------------


class ThresholdConfigError(ValueError):
    """A threshold configuration that cannot be used; ``errors`` maps each key to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        detail = "; ".join(f"{key}: {' '.join(messages)}" for key, messages in errors.items())
        super().__init__(f"Invalid thresholds: {detail}")

    def __reduce__(self):
        return (type(self), (self.errors,))


@dataclass(frozen=True)
class Thresholds:
    """The alert limits in force for one session. Construct through :func:`resolve`.

    Every value is validated on construction (see :func:`resolve` for the rules), so a
    ``Thresholds`` that exists is coherent.
    """

    # Pre-dose gate. Esketamine label 5.6: "as a general guide >140/90 mmHg" elevated BP calls for
    # weighing a delay; the phase-3 trials withheld the dose at SBP > 140 or DBP > 90 [V] (label 5.6;
    # Janssen Medical Information). IV clinics commonly do not treat above a resting 140/90 [V2].
    # Above it the dose needs a prescriber's override with a reason. The trials allowed SBP up to
    # 150 at age >= 65 [V]: a clinic that wants that adds a layer {"predose_systolic_max": 150}.
    predose_systolic_max: int = 140  # fires at > 140
    predose_diastolic_max: int = 90  # fires at > 90
    # Post-dose absolute levels: the label adverse-reaction tables count SBP >= 180 and DBP >= 110 [V].
    systolic_critical: int = 180  # fires at >= 180
    diastolic_critical: int = 110  # fires at >= 110
    # Post-dose rise over the pre-dose baseline: the label tables count a rise of >= 40 systolic or
    # >= 25 diastolic [V] (label adverse-reaction tables).
    systolic_rise_warning: int = 40  # fires at a rise >= 40
    diastolic_rise_warning: int = 25  # fires at a rise >= 25
    # SpO2: the REMS requires a pulse oximeter but neither it nor the label gives a number [U]:
    # common sedation-practice alert levels (CLINICAL.md vital-sign defaults; domain research §4).
    spo2_warning_below: int = 94  # fires at < 94
    spo2_critical_below: int = 90  # fires at < 90
    # Heart rate: no primary source [U]; common ketamine-protocol alert levels (CLINICAL.md defaults).
    heart_rate_warning_above: int = 110  # fires at > 110
    heart_rate_warning_below: int = 50  # fires at < 50
    heart_rate_critical_above: int = 130  # fires at > 130
    heart_rate_critical_below: int = 40  # fires at < 40
    # Respiratory rate (respiratory depression is watched under the REMS [V]); the numbers are [U]
    # (CLINICAL.md defaults). There is no critical-high default.
    respiratory_rate_warning_below: int = 10  # fires at < 10
    respiratory_rate_warning_above: int = 24  # fires at > 24
    respiratory_rate_critical_below: int = 8  # fires at < 8
    # MOAA/S: any drop from the pre-dose score is sedation and 0 is loss of consciousness (label
    # definitions [V]); calling <= 2 critical (immediate clinician) is an action mapping [U].
    moaas_critical_at_or_below: int = 2  # fires at <= 2
    # CADSS: the esketamine trials called a total > 4 with any rise from baseline dissociation [V]
    # (CLINICAL.md CADSS paragraph; J&J Medical Information).
    # CLINICAL.md gives no absolute CADSS threshold: without a pre-dose total, a total above this
    # limit is a "dissociation_review" warning for a clinician to judge (see evaluate_cadss).
    cadss_dissociation_above: int = 4  # fires at > 4 (and above the baseline)

    def __post_init__(self) -> None:
        errors = _validate(self.as_dict())
        if errors:
            raise ThresholdConfigError(errors)

    def as_dict(self) -> dict:
        return asdict(self)


_THRESHOLD_KEYS = tuple(f.name for f in fields(Thresholds))


def _bounds() -> dict[str, tuple[int, int]]:
    """Per key, the values for which its rule can both fire and stay quiet on a plausible reading.

    Outside them a rule would never fire (silently switching an alert off, e.g. a typo of 1800 for
    ``systolic_critical``) or always fire. "value < x" can fire iff x > low and stay quiet iff
    x <= high; "value > x" iff x < high and x >= low; ">= x" like "< x"; a rise ">= x" needs
    1 <= x <= high - low.
    """
    r = {name: (int(low), int(high)) for name, (low, high) in PLAUSIBLE_RANGES.items()}

    def below(name: str) -> tuple[int, int]:  # "< x" and ">= x"
        return r[name][0] + 1, r[name][1]

    def above(name: str) -> tuple[int, int]:  # "> x"
        return r[name][0], r[name][1] - 1

    def rise(name: str) -> tuple[int, int]:
        return 1, r[name][1] - r[name][0]

    return {
        "predose_systolic_max": above("systolic"),
        "predose_diastolic_max": above("diastolic"),
        "systolic_critical": below("systolic"),
        "diastolic_critical": below("diastolic"),
        "systolic_rise_warning": rise("systolic"),
        "diastolic_rise_warning": rise("diastolic"),
        "spo2_warning_below": below("spo2"),
        "spo2_critical_below": below("spo2"),
        "heart_rate_warning_above": above("heart_rate"),
        "heart_rate_warning_below": below("heart_rate"),
        "heart_rate_critical_above": above("heart_rate"),
        "heart_rate_critical_below": below("heart_rate"),
        "respiratory_rate_warning_below": below("respiratory_rate"),
        "respiratory_rate_warning_above": above("respiratory_rate"),
        "respiratory_rate_critical_below": below("respiratory_rate"),
        # "<= x" on 0..5: x = 5 would call every score critical.
        "moaas_critical_at_or_below": (MOAAS_RANGE[0], MOAAS_RANGE[1] - 1),
        "cadss_dissociation_above": (CADSS_RANGE[0], CADSS_RANGE[1] - 1),
    }


_BOUNDS = _bounds()

_LESS_STRICT = "a critical limit cannot be less strict than its warning limit"
_EMPTY_NORMAL = "the normal range between the low and high limits cannot be empty"
_GATE = "a pre-dose reading at the critical level must also stop the dose"

# (lower key, higher key, strictly below?, why): lower must be <= (or <) higher.
_ORDERED_PAIRS: tuple[tuple[str, str, bool, str], ...] = (
    ("spo2_critical_below", "spo2_warning_below", False, _LESS_STRICT),
    ("heart_rate_warning_above", "heart_rate_critical_above", False, _LESS_STRICT),
    ("heart_rate_critical_below", "heart_rate_warning_below", False, _LESS_STRICT),
    ("respiratory_rate_critical_below", "respiratory_rate_warning_below", False, _LESS_STRICT),
    ("heart_rate_warning_below", "heart_rate_warning_above", False, _EMPTY_NORMAL),
    ("respiratory_rate_warning_below", "respiratory_rate_warning_above", False, _EMPTY_NORMAL),
    # The gate fires at > max and the critical level at >= critical: max < critical leaves no
    # reading that is critical yet passes the gate.
    ("predose_systolic_max", "systolic_critical", True, _GATE),
    ("predose_diastolic_max", "diastolic_critical", True, _GATE),
)


def _validate(values: Mapping[str, object], skip: Iterable[str] = ()) -> dict[str, list[str]]:
    """Type, range and coherence errors of a full set of threshold values, keys in ``skip`` aside."""
    errors: dict[str, list[str]] = {}
    skipped = set(skip)
    for key in _THRESHOLD_KEYS:
        if key in skipped:
            continue
        value = values[key]
        low, high = _BOUNDS[key]
        if not _is_int(value):
            errors[key] = ["Must be a whole number."]
        elif value < 0:
            errors[key] = ["Must not be negative."]
        elif not low <= value <= high:
            errors[key] = [
                f"Must be between {low} and {high}: outside that range the rule never fires or always fires."
            ]
    for lower, higher, strict, why in _ORDERED_PAIRS:
        if lower in errors or higher in errors or lower in skipped or higher in skipped:
            continue
        low_value, high_value = values[lower], values[higher]
        if low_value < high_value or (not strict and low_value == high_value):
            continue
        low_word, high_word = ("below", "above") if strict else ("at most", "at least")
        errors.setdefault(lower, []).append(f"Must be {low_word} {higher} ({high_value}): {why}.")
        errors.setdefault(higher, []).append(f"Must be {high_word} {lower} ({low_value}): {why}.")
    return errors


DEFAULTS = Thresholds()


def resolve(*overrides: Mapping[str, int] | None) -> Thresholds:
    """The thresholds in force: ``overrides`` applied left to right over :data:`DEFAULTS`.

    Typically ``resolve(clinic_overrides, treatment_type_overrides)``; ``None`` layers are skipped.
    Every problem is collected into one :class:`ThresholdConfigError` naming each key:

    * an unknown key, or a value that is not a whole number (bools and floats included), in any
      layer, even when a later layer overrides the same key (the earlier layer is still broken);
    * a negative value, or one outside the range where its rule can both fire and stay quiet;
    * an incoherent result: a critical limit less strict than its warning limit (e.g.
      ``spo2_critical_below`` > ``spo2_warning_below``, ``heart_rate_critical_above`` <
      ``heart_rate_warning_above``), an empty normal band, or a pre-dose gate at or above the
      critical level. Coherence is judged on the final result, so a later layer may fix it; the
      error names both keys of the pair.
    """
    values: dict[str, object] = DEFAULTS.as_dict()
    errors: dict[str, list[str]] = {}
    for layer in overrides:
        if layer is None:
            continue
        if not isinstance(layer, Mapping):
            raise TypeError(f"Threshold overrides must be mappings, not {type(layer).__name__}.")
        for key, value in layer.items():
            if key not in values:
                errors.setdefault(str(key), []).append("Unknown threshold.")
            elif not _is_int(value):
                errors.setdefault(key, []).append("Must be a whole number.")
            else:
                values[key] = value
    for key, messages in _validate(values, skip=errors).items():
        errors.setdefault(key, []).extend(messages)
    if errors:
        raise ThresholdConfigError(errors)
    return Thresholds(**values)


# --- findings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One dangerous reading.

    ``value`` is the measured value (for a rise: the reading, not the difference) and ``limit``
    the level it was compared with (for a rise: baseline + the rise threshold; for sedation: the
    pre-dose score). The direction of the comparison is in ``code`` and ``message``.
    """

    code: str
    severity: Severity
    field: str  # a Reading field, or "moaas" / "cadss"
    value: float
    limit: float
    message: str  # clinician-facing

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "field": self.field,
            "value": self.value,
            "limit": self.limit,
            "message": self.message,
        }


def _sorted(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-_RANK[f.severity], _FIELD_ORDER[f.field]))


def _blood_pressure(
    name: str, label: str, value: int, *, baseline: int | None, critical: int, rise_limit: int
) -> Finding | None:
    # The absolute level wins: a critical pressure is reported once, as critical, even if it is
    # also a large rise.
    if value >= critical:
        return Finding(
            f"{name}_critical",
            Severity.CRITICAL,
            name,
            value,
            critical,
            f"{label} {value} mmHg is at or above the critical limit of {critical}.",
        )
    if baseline is not None and value - baseline >= rise_limit:
        return Finding(
            f"{name}_rise",
            Severity.WARNING,
            name,
            value,
            baseline + rise_limit,
            f"{label} {value} mmHg is {value - baseline} mmHg above the pre-dose value of {baseline}"
            f" (warning at a rise of {rise_limit} or more).",
        )
    return None


def _low_high(
    name: str,
    label: str,
    unit: str,
    value: int,
    *,
    critical_below: int | None = None,
    warning_below: int | None = None,
    warning_above: int | None = None,
    critical_above: int | None = None,
) -> Finding | None:
    """The most severe of the four band rules for one field; critical limits are checked first."""
    rules = (
        (critical_below, Severity.CRITICAL, "low"),
        (critical_above, Severity.CRITICAL, "high"),
        (warning_below, Severity.WARNING, "low"),
        (warning_above, Severity.WARNING, "high"),
    )
    for limit, severity, direction in rules:
        if limit is None:
            continue
        fires = value < limit if direction == "low" else value > limit
        if fires:
            word = "below" if direction == "low" else "above"
            return Finding(
                f"{name}_{direction}",
                severity,
                name,
                value,
                limit,
                f"{label} {value}{unit} is {word} the {severity.value} limit of {limit}{unit}.",
            )
    return None


def evaluate_vitals(reading: Reading, *, baseline: Reading | None, thresholds: Thresholds = DEFAULTS) -> list[Finding]:
    """Alerts for one plausible reading: at most one finding per field, the most severe.

    ``baseline`` is the pre-dose reading; rises over it are flagged only when the absolute level is
    not already critical, and only when the baseline has that number. Temperature has no alert
    default. Sorted critical first, then in :class:`Reading` field order.

    Raises ``ValueError`` when ``reading`` or ``baseline`` is not plausible: an impossible value is
    an input error to refuse (see :func:`plausibility_errors`), not something to judge.
    """
    _require_plausible(reading, "reading")
    if baseline is not None:
        _require_plausible(baseline, "baseline")
    t = thresholds
    base = baseline or Reading()
    candidates: list[Finding | None] = []
    if reading.systolic is not None:
        candidates.append(
            _blood_pressure(
                "systolic",
                "Systolic",
                reading.systolic,
                baseline=base.systolic,
                critical=t.systolic_critical,
                rise_limit=t.systolic_rise_warning,
            )
        )
    if reading.diastolic is not None:
        candidates.append(
            _blood_pressure(
                "diastolic",
                "Diastolic",
                reading.diastolic,
                baseline=base.diastolic,
                critical=t.diastolic_critical,
                rise_limit=t.diastolic_rise_warning,
            )
        )
    if reading.heart_rate is not None:
        candidates.append(
            _low_high(
                "heart_rate",
                "Heart rate",
                "/min",
                reading.heart_rate,
                critical_below=t.heart_rate_critical_below,
                warning_below=t.heart_rate_warning_below,
                warning_above=t.heart_rate_warning_above,
                critical_above=t.heart_rate_critical_above,
            )
        )
    if reading.spo2 is not None:
        candidates.append(
            _low_high(
                "spo2",
                "SpO2",
                "%",
                reading.spo2,
                critical_below=t.spo2_critical_below,
                warning_below=t.spo2_warning_below,
            )
        )
    if reading.respiratory_rate is not None:
        candidates.append(
            _low_high(
                "respiratory_rate",
                "Respiratory rate",
                "/min",
                reading.respiratory_rate,
                critical_below=t.respiratory_rate_critical_below,
                warning_below=t.respiratory_rate_warning_below,
                warning_above=t.respiratory_rate_warning_above,
            )
        )
    return _sorted(f for f in candidates if f is not None)


def predose_bp_elevated(reading: Reading, thresholds: Thresholds = DEFAULTS) -> Finding | None:
    """The pre-dose gate: a warning when SBP > max or DBP > max, else ``None``.

    The dose then needs a prescriber's override with a reason (label 5.6). The finding names the
    systolic when it is over, else the diastolic; the message gives the whole pressure. ``None``
    also when no blood pressure was taken: requiring one before a dose is the caller's rule.
    Raises ``ValueError`` for an implausible reading.
    """
    _require_plausible(reading, "reading")
    systolic, diastolic = reading.systolic, reading.diastolic
    if systolic is None or diastolic is None:
        return None
    s_max, d_max = thresholds.predose_systolic_max, thresholds.predose_diastolic_max
    if systolic > s_max:
        field_name, value, limit = "systolic", systolic, s_max
    elif diastolic > d_max:
        field_name, value, limit = "diastolic", diastolic, d_max
    else:
        return None
    return Finding(
        "predose_bp_elevated",
        Severity.WARNING,
        field_name,
        value,
        limit,
        f"Pre-dose blood pressure {systolic}/{diastolic} mmHg is above {s_max}/{d_max}:"
        " dose only with a prescriber's override and a reason.",
    )


def _check_scale(value: object, scale_range: tuple[int, int], what: str, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    low, high = scale_range
    if not _is_int(value) or not low <= value <= high:
        raise ValueError(f"{what} must be a whole number from {low} to {high}.")


def evaluate_moaas(score: int, *, baseline: int | None, thresholds: Thresholds = DEFAULTS) -> list[Finding]:
    """Sedation on the MOAA/S (0-5; 5 = responds readily to name): at most one finding.

    * 0 -> ``unresponsive``, critical: loss of consciousness (label definition [V]);
    * <= ``moaas_critical_at_or_below`` -> ``deep_sedation``, critical (action mapping [U]);
    * otherwise any drop below the pre-dose ``baseline`` -> ``sedation``, warning (label [V]).
      Without a baseline no drop can be shown, so there is no sedation warning.

    Raises ``ValueError`` for a score or baseline outside 0-5.
    """
    _check_scale(score, MOAAS_RANGE, "The MOAA/S score")
    _check_scale(baseline, MOAAS_RANGE, "The pre-dose MOAA/S score", optional=True)
    limit = thresholds.moaas_critical_at_or_below
    if score == 0:
        return [
            Finding(
                "unresponsive",
                Severity.CRITICAL,
                "moaas",
                score,
                0,
                "MOAA/S 0: no response to a painful stimulus (loss of consciousness).",
            )
        ]
    if score <= limit:
        return [
            Finding(
                "deep_sedation",
                Severity.CRITICAL,
                "moaas",
                score,
                limit,
                f"MOAA/S {score} is at or below the critical limit of {limit}: deep sedation.",
            )
        ]
    if baseline is not None and score < baseline:
        return [
            Finding(
                "sedation",
                Severity.WARNING,
                "moaas",
                score,
                baseline,
                f"MOAA/S {score} is below the pre-dose score of {baseline}: sedation.",
            )
        ]
    return []


MOAAS_FULLY_ALERT = 5  # "responds readily to name spoken in normal tone"


def moaas_without_baseline(score: int) -> list[Finding]:
    """A post-dose MOAA/S below 5 when no pre-dose score was taken: ``sedation_review`` (warning).

    As for CADSS without a baseline: the drop the label defines cannot be shown, but 5 is the
    awake norm, so a lower score after the dose asks a clinician to judge instead of passing in
    silence (the REMS form's sedation question would otherwise read "N"). The absolute levels
    (0, at or below the critical limit) are :func:`evaluate_moaas`'s and come first.
    """
    _check_scale(score, MOAAS_RANGE, "The MOAA/S score")
    if score >= MOAAS_FULLY_ALERT:
        return []
    return [
        Finding(
            "sedation_review",
            Severity.WARNING,
            "moaas",
            score,
            MOAAS_FULLY_ALERT,
            f"MOAA/S {score} after the dose, with no pre-dose score to compare: below 5 (fully alert); "
            "a clinician should judge whether this is sedation.",
        )
    ]


def evaluate_cadss(total: int, *, baseline: int | None, thresholds: Thresholds = DEFAULTS) -> list[Finding]:
    """Dissociation on the CADSS total (0-92): at most one finding.

    * ``dissociation`` (warning) when the total is above ``cadss_dissociation_above`` *and* above
      the pre-dose ``baseline`` (the trial definition: total > 4 with a change > 0 [V]);
    * ``dissociation_review`` (warning) when the total is above ``cadss_dissociation_above`` but
      there is no pre-dose total to compare with.

    Why a review flag and not nothing, nor dissociation: CLINICAL.md gives no absolute CADSS
    threshold, only "total > 4 with any rise from baseline" (the esketamine trials [V]). Without a
    baseline the rise can be neither shown nor ruled out, so silence could hide dissociation and
    "dissociation" would assert what the rule cannot show. The finding asks a clinician to judge
    (is this the patient's usual level, or the drug?) and its message says why. Raises
    ``ValueError`` outside 0-92.
    """
    _check_scale(total, CADSS_RANGE, "The CADSS total")
    _check_scale(baseline, CADSS_RANGE, "The pre-dose CADSS total", optional=True)
    limit = thresholds.cadss_dissociation_above
    if total <= limit:
        return []
    if baseline is None:
        return [
            Finding(
                "dissociation_review",
                Severity.WARNING,
                "cadss",
                total,
                limit,
                f"CADSS total {total} is above {limit} and there is no pre-dose total to compare with:"
                " a clinician should judge whether this is dissociation.",
            )
        ]
    if total <= baseline:
        return []
    return [
        Finding(
            "dissociation",
            Severity.WARNING,
            "cadss",
            total,
            limit,
            f"CADSS total {total} is above {limit} and above the pre-dose total of {baseline}: dissociation.",
        )
    ]


def worst(findings: Iterable[Finding]) -> Severity | None:
    """The most severe severity among ``findings``, or ``None`` when there are none."""
    return max((f.severity for f in findings), key=_RANK.__getitem__, default=None)
