"""Corrections of the in-session record: what may be corrected, how a new value is checked, and the
value in force after corrections.

The original row is never touched: an ``Amendment`` row says who, when, why, the old and the new
value, and the timeline shows both. The new value is checked as strictly as the original was:
by the field's type (an aware ISO 8601 date-time, a whole number, a decimal, a real JSON boolean
and not the string "false", one of the choices), and for vital signs by plausibility with the
reading's other values. Two times are never corrected here: a dose's ``administered_at`` and an
infusion's ``infusion_ended_at`` start the session clock that the minimum monitoring time (the
REMS 2-hour rule) counts from; a correction that moved them could end monitoring early, so they
are refused and the discrepancy belongs in the discharge notes.

Readers (the REMS form) take :func:`effective_typed`: a stored value that no longer parses (a
correction recorded before these checks existed) falls back to the original, so a form never
fails because of an amendment.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinic.access import Actor, Perm
from clinic.errors import InvalidInput
from clinic.models import Alert, Modality
from monitoring import thresholds
from monitoring.models import AdverseEvent, Amendment, Dose, MonitoringRecord, ScaleScore, VitalSign

from .observations import alert_for, worse_than
from .policy import policy_for
from .record import (
    ESKETAMINE_DEVICE_MG,
    MAX_IV_MG_PER_KG,
    audit,
    corrected,
    latest_per_measurement,
    predose_readings,
    reading_of,
)

VITAL_FIELDS = ("systolic", "diastolic", "heart_rate", "spo2", "respiratory_rate", "temperature_c")


class BadValue(ValueError):
    """A new value that does not fit its field; the message is shown to the user (no PHI in it)."""


@dataclass(frozen=True)
class Context:
    """What a check may need besides the value: the target row and its record."""

    target: Any
    record: MonitoringRecord
    amendments: Sequence[Amendment]


Parser = Callable[[Any, Context], Any]


def _aware(value: Any, ctx: Context) -> dt.datetime:
    if not isinstance(value, str):
        raise BadValue("Must be an ISO 8601 date-time with its UTC offset.")
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadValue("Must be an ISO 8601 date-time with its UTC offset.") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise BadValue("Include the UTC offset, e.g. 2027-03-01T10:00:00-05:00.")
    return moment


def _whole(low: int | None = None, high: int | None = None, *, nullable: bool = False) -> Parser:
    def parse(value: Any, ctx: Context) -> int | None:
        if value is None and nullable:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadValue("Must be a whole number.")
        if low is not None and high is not None and not low <= value <= high:
            raise BadValue(f"Must be between {low} and {high}.")
        return value

    return parse


def _decimal(low: Decimal, high: Decimal, places: int, *, nullable: bool = False) -> Parser:
    step = Decimal(1).scaleb(-places)

    def parse(value: Any, ctx: Context) -> Decimal | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise BadValue("Must be a number.")
        if isinstance(value, float) and not math.isfinite(value):
            raise BadValue("Must be a number.")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise BadValue("Must be a number.") from None
        if not number.is_finite():
            raise BadValue("Must be a number.")
        # The range first: quantizing 1e30 to two places overflows the decimal context.
        if not low <= number <= high:
            raise BadValue(f"Must be between {low} and {high}.")
        if number != number.quantize(step):
            raise BadValue(f"At most {places} decimal place(s).")
        return number.quantize(step)

    return parse


def _boolean(value: Any, ctx: Context) -> bool:
    if not isinstance(value, bool):
        raise BadValue("Must be true or false (a JSON boolean, not a string).")
    return value


def _choice(choices: Sequence[tuple[str, Any]]) -> Parser:
    allowed = [value for value, _ in choices]

    def parse(value: Any, ctx: Context) -> str:
        if value not in allowed:
            raise BadValue(f"One of {', '.join(allowed)}.")
        return value

    return parse


def _text(max_length: int, *, blank: bool) -> Parser:
    def parse(value: Any, ctx: Context) -> str:
        if not isinstance(value, str):
            raise BadValue("Must be text.")
        value = value.strip()
        if not value and not blank:
            raise BadValue("Must not be blank.")
        if len(value) > max_length:
            raise BadValue(f"At most {max_length} characters.")
        return value

    return parse


def _description(value: Any, ctx: Context) -> str:
    text = _text(4000, blank=True)(value, ctx)
    if not text and ctx.target.type == AdverseEvent.Type.OTHER:
        raise BadValue("Describe the event.")
    return text


def _scale_value(value: Any, ctx: Context) -> int:
    low, high = thresholds.MOAAS_RANGE if ctx.target.scale == ScaleScore.Scale.MOAAS else thresholds.CADSS_RANGE
    return _whole(low, high)(value, ctx)


def _dose_mg(value: Any, ctx: Context) -> Decimal:
    amount = _decimal(Decimal("0.01"), Decimal("9999.99"), 2)(value, ctx)
    if ctx.record.modality == Modality.ESKETAMINE_NASAL:
        if amount != ESKETAMINE_DEVICE_MG:
            raise BadValue("Each esketamine device delivers 28 mg.")
        return amount
    weight = effective_typed(ctx.record, "monitoring_record", "weight_kg", ctx.amendments)
    if weight and amount / Decimal(weight) > MAX_IV_MG_PER_KG:
        raise BadValue(f"Above {MAX_IV_MG_PER_KG} mg/kg for the recorded weight: check the amount.")
    return amount


def _temperature(value: Any, ctx: Context) -> Decimal | None:
    low, high = thresholds.PLAUSIBLE_RANGES["temperature_c"]
    return _decimal(Decimal(str(low)), Decimal(str(high)), 1, nullable=True)(value, ctx)


# Per target: its model and, per correctable field, how a new value is parsed. Vital signs are
# also checked for plausibility with the reading's other values, times against the session.
AMENDABLE: dict[str, tuple[type, dict[str, Parser]]] = {
    "vital_sign": (
        VitalSign,
        {
            **{name: _whole(nullable=True) for name in VITAL_FIELDS if name != "temperature_c"},
            "temperature_c": _temperature,
            "taken_at": _aware,
        },
    ),
    "dose": (Dose, {"lot_number": _text(40, blank=False), "dose_mg": _dose_mg}),
    "scale_score": (ScaleScore, {"value": _scale_value, "taken_at": _aware}),
    "adverse_event": (
        AdverseEvent,
        {
            "description": _description,
            "severity": _choice(AdverseEvent.Severity.choices),
            "serious": _boolean,
            "outcome": _choice(AdverseEvent.Outcome.choices),
            "actions_taken": _text(4000, blank=True),
            "onset_at": _aware,
        },
    ),
    "monitoring_record": (
        MonitoringRecord,
        {
            "hours_since_food": _decimal(Decimal(0), Decimal(99), 1),
            "hours_since_liquids": _decimal(Decimal(0), Decimal(99), 1),
            "weight_kg": _decimal(Decimal(20), Decimal(350), 1),
            "benzodiazepines": _boolean,
            "sedative_hypnotics": _boolean,
            "psychostimulants": _boolean,
            "maois": _boolean,
            "pregnancy_test": _choice(MonitoringRecord.PregnancyTest.choices),
            "first_rems_treatment": _boolean,
        },
    ),
}

# Fields refused with a reason rather than as unknown: see the module docstring.
CLOCK_FIELDS = {("dose", "administered_at"), ("dose", "infusion_ended_at")}


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _amendments_for(amendments: Sequence[Amendment], target_type: str, target_id: int, field: str) -> list[Amendment]:
    return [a for a in amendments if a.target_type == target_type and a.target_id == target_id and a.field == field]


def effective_value(target: object, target_type: str, field: str, amendments: Sequence[Amendment]) -> Any:
    """The value after corrections, as stored (JSON): the newest amendment of that field, else the original."""
    relevant = _amendments_for(amendments, target_type, target.pk, field)
    if relevant:
        return relevant[-1].new_value
    return _json(getattr(target, field))


def effective_typed(target: Any, target_type: str, field: str, amendments: Sequence[Amendment]) -> Any:
    """The value after corrections as a Python value of the field's type.

    The newest correction that still parses wins; one that does not (recorded before values were
    checked) is skipped, so a reader never fails on it and never takes the string "false" for true.
    """
    spec = AMENDABLE.get(target_type)
    parse = spec[1].get(field) if spec else None
    if parse is not None:
        record = target if target_type == "monitoring_record" else target.record
        for amendment in reversed(_amendments_for(amendments, target_type, target.pk, field)):
            try:
                return parse(amendment.new_value, Context(target=target, record=record, amendments=amendments))
            except BadValue:
                continue
    return getattr(target, field)


def _time_errors(field: str, moment: dt.datetime, record: MonitoringRecord, now: dt.datetime) -> list[str]:
    if moment > now + dt.timedelta(minutes=1):
        return ["Cannot be in the future."]
    # The same window as a new reading or score (observations._check_time).
    if field == "taken_at" and moment < record.opened_at - dt.timedelta(hours=2):
        return ["Is before this session's record was opened."]
    return []


def _check_reading(target: VitalSign, field: str, parsed: Any, amendments: Sequence[Amendment]) -> None:
    """The corrected reading as a whole must still be plausible and carry a measurement."""
    candidate = {name: effective_typed(target, "vital_sign", name, amendments) for name in VITAL_FIELDS}
    candidate[field] = parsed
    if all(value is None for value in candidate.values()):
        raise InvalidInput(errors={"new_value": ["A reading must keep at least one measurement."]})
    if candidate["temperature_c"] is not None:
        candidate["temperature_c"] = float(candidate["temperature_c"])
    reading = thresholds.Reading(**candidate)
    problems = thresholds.plausibility_errors(reading)
    if problems:
        raise InvalidInput(errors={"new_value": [m for msgs in problems.values() for m in msgs]})


@transaction.atomic
def amendment_record(
    *, actor: Actor, record: MonitoringRecord, target_type: str, target_id: int, field: str, new_value: Any, reason: str
) -> Amendment:
    """Correct one value; the original row is untouched and the timeline shows both."""
    actor.require(Perm.MONITORING_RECORD, record.clinic_id)
    # Corrections of one record are serialised, so the "old value" each one names is the one in force.
    record = MonitoringRecord.objects.select_for_update().get(pk=record.pk)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(errors={"reason": ["Say why the value is corrected."]})
    if target_type not in AMENDABLE:
        raise InvalidInput(errors={"target_type": [f"One of {', '.join(AMENDABLE)}."]})
    model, fields = AMENDABLE[target_type]
    if (target_type, field) in CLOCK_FIELDS:
        raise InvalidInput(
            errors={
                "field": [
                    "Dose times cannot be corrected: they start the minimum monitoring time. Note the correct"
                    " time in the discharge notes."
                ]
            }
        )
    if field not in fields:
        raise InvalidInput(errors={"field": [f"For {target_type}: one of {', '.join(fields)}."]})
    if target_type == "monitoring_record":
        target = record if target_id == record.pk else None
    else:
        target = model.objects.filter(pk=target_id, record=record).first()
    if target is None:
        raise InvalidInput(errors={"target_id": ["Not part of this session's record."]})
    if target is not record:
        target.record = record  # the locked row: checks read it without another query
    amendments = list(record.amendments.all())
    try:
        parsed = fields[field](new_value, Context(target=target, record=record, amendments=amendments))
    except BadValue as exc:
        raise InvalidInput(errors={"new_value": [str(exc)]}) from None
    if isinstance(parsed, dt.datetime) and (problems := _time_errors(field, parsed, record, timezone.now())):
        raise InvalidInput(errors={"new_value": problems})
    if target_type == "vital_sign" and field in VITAL_FIELDS:
        _check_reading(target, field, parsed, amendments)
    old = effective_value(target, target_type, field, amendments)
    judged_before = _vital_findings(record, target) if target_type == "vital_sign" and field in VITAL_FIELDS else []
    amendment = Amendment.objects.create(
        record=record,
        target_type=target_type,
        target_id=target.pk,
        field=field,
        old_value=old,
        new_value=_json(parsed),
        reason=reason,
        amended_by=actor.user,
    )
    audit(actor, record, "amendment", amendment.pk)
    if target_type == "vital_sign" and field in VITAL_FIELDS:
        _judge_corrected_reading(record, target, judged_before)
    return amendment


def _vital_findings(record: MonitoringRecord, reading: VitalSign) -> list[thresholds.Finding]:
    """The findings of ``reading`` with the corrections in force now (on a copy: never saved)."""
    gate = policy_for(record.session.treatment_type).thresholds
    [judged] = corrected(record, [copy.copy(reading)])
    baseline = None
    if not judged.pre_dose and record.first_dose_at is not None:
        baseline = latest_per_measurement(predose_readings(record, record.first_dose_at))
    return thresholds.evaluate_vitals(reading_of(judged), baseline=baseline, thresholds=gate)


def _judge_corrected_reading(
    record: MonitoringRecord, reading: VitalSign, before: list[thresholds.Finding]
) -> Alert | None:
    """A reading corrected into danger alerts as if it had been entered so.

    The gate and discharge read corrected values themselves (``record.corrected``); an alert is
    raised only when the reading is now worse than it was judged before this correction, so
    correcting a typo in an already alerting reading does not page the clinicians twice.
    """
    after = _vital_findings(record, reading)
    if not worse_than(after, [f.as_dict() for f in before]):
        return None
    return alert_for(record, Alert.Kind.VITALS, after, ("vital_sign", reading.pk))
