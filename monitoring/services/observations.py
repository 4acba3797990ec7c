"""What is observed during a session: vital signs, sedation and dissociation scales, adverse events,
and corrections of any of them.

Impossible values are refused (400, each field named); dangerous but possible values are stored
and open an alert in the same transaction, so no dangerous reading exists without its alert.
A batch of readings (a monitor's upload) is stored in one INSERT, and every reading in it is
still evaluated against the thresholds.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinic.access import Actor, Perm
from clinic.errors import InvalidInput
from clinic.models import Alert, AuditEvent
from clinic.services.alerts import alert_raise
from clinic.services.audit import audit_record_many
from monitoring import thresholds
from monitoring.models import AdverseEvent, Amendment, Dose, MonitoringRecord, ScaleScore, VitalSign

from .policy import policy_for
from .record import audit, lock_open

logger = logging.getLogger(__name__)

MAX_BATCH = 500
VITAL_FIELDS = ("systolic", "diastolic", "heart_rate", "spo2", "respiratory_rate", "temperature_c")
SEVERITY = {thresholds.Severity.WARNING: Alert.Severity.WARNING, thresholds.Severity.CRITICAL: Alert.Severity.CRITICAL}


def _scope(record: MonitoringRecord) -> tuple[str, int]:
    return ("monitoring_record", record.pk)


def _reading(values: dict[str, Any] | VitalSign) -> thresholds.Reading:
    get = values.get if isinstance(values, dict) else lambda name: getattr(values, name)
    temperature = get("temperature_c")
    return thresholds.Reading(
        systolic=get("systolic"),
        diastolic=get("diastolic"),
        heart_rate=get("heart_rate"),
        spo2=get("spo2"),
        respiratory_rate=get("respiratory_rate"),
        temperature_c=float(temperature) if temperature is not None else None,
    )


def _check_time(taken_at: dt.datetime, record: MonitoringRecord, now: dt.datetime) -> list[str]:
    if taken_at > now + dt.timedelta(minutes=1):
        return ["Cannot be in the future."]
    if taken_at < record.opened_at - dt.timedelta(hours=2):
        return ["Is before this session's record was opened."]
    return []


def _alert_for(
    record: MonitoringRecord, kind: str, findings: list[thresholds.Finding], source: tuple[str, int]
) -> Alert | None:
    worst = thresholds.worst(findings)
    if worst is None:
        return None
    return alert_raise(
        clinic_id=record.clinic_id,
        patient_id=record.patient_id,
        kind=kind,
        severity=SEVERITY[worst],
        message=" ".join(f.message for f in findings),
        source_type=source[0],
        source_id=source[1],
        scope=_scope(record),
    )


@transaction.atomic
def vitals_record(
    *, actor: Actor, record: MonitoringRecord, readings: Sequence[dict[str, Any]], source: str = VitalSign.Source.MANUAL
) -> list[tuple[VitalSign, Alert | None]]:
    """Store one or many readings; all are validated before any is stored."""
    actor.require(Perm.MONITORING_RECORD, record.clinic_id)
    record = lock_open(record.pk)
    if not readings:
        raise InvalidInput(errors={"readings": ["Send at least one reading."]})
    if len(readings) > MAX_BATCH:
        raise InvalidInput(errors={"readings": [f"At most {MAX_BATCH} readings per request."]})
    now = timezone.now()
    batch = len(readings) > 1
    errors: dict[str, list[str]] = {}
    for index, values in enumerate(readings):
        prefix = f"{index}." if batch else ""
        for name, messages in thresholds.plausibility_errors(_reading(values)).items():
            errors[prefix + name] = messages
        if all(values.get(name) is None for name in VITAL_FIELDS):
            errors[prefix + "systolic"] = ["Record at least one measurement."]
        taken_at = values.get("taken_at") or now
        if time_errors := _check_time(taken_at, record, now):
            errors[prefix + "taken_at"] = time_errors
    if errors:
        raise InvalidInput(errors=errors)

    gate = policy_for(record.session.treatment_type).thresholds
    baseline = record.vitals.filter(pre_dose=True).order_by("-taken_at", "-id").first()
    rows = []
    for values in sorted(readings, key=lambda v: v.get("taken_at") or now):
        taken_at = values.get("taken_at") or now
        pre_dose = record.first_dose_at is None or taken_at < record.first_dose_at
        reading = _reading(values)
        # Before the dose there is no baseline to rise from, but an absolute danger (SpO2 85,
        # 190/115) still alerts; the pre-dose gate finding alone only blocks the dose.
        findings = thresholds.evaluate_vitals(
            reading, baseline=None if pre_dose else (_reading(baseline) if baseline else None), thresholds=gate
        )
        if pre_dose and (elevated := thresholds.predose_bp_elevated(reading, gate)) is not None:
            findings.append(elevated)
        row = VitalSign(
            record=record,
            taken_at=taken_at,
            pre_dose=pre_dose,
            findings=[f.as_dict() for f in findings],
            source=source,
            recorded_by=actor.user,
            recorded_at=now,
            **{name: values.get(name) for name in VITAL_FIELDS},
        )
        rows.append((row, findings))
        if pre_dose:
            baseline = row
    VitalSign.objects.bulk_create([row for row, _ in rows])
    results = []
    for row, findings in rows:
        paging = [f for f in findings if f.code != "predose_bp_elevated"]  # the gate finding blocks the dose instead
        results.append((row, _alert_for(record, Alert.Kind.VITALS, paging, ("vital_sign", row.pk))))
    audit_record_many(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        object_type="vital_sign",
        records=((record.clinic_id, record.patient_id, row.pk) for row, _ in rows),
    )
    return results


SCALE_RULES = {
    ScaleScore.Scale.MOAAS: (thresholds.evaluate_moaas, Alert.Kind.SEDATION),
    ScaleScore.Scale.CADSS: (thresholds.evaluate_cadss, Alert.Kind.DISSOCIATION),
}


@transaction.atomic
def scale_record(
    *, actor: Actor, record: MonitoringRecord, scale: str, value: int, taken_at: dt.datetime | None = None
) -> tuple[ScaleScore, Alert | None]:
    actor.require(Perm.MONITORING_RECORD, record.clinic_id)
    record = lock_open(record.pk)
    now = timezone.now()
    taken_at = taken_at or now
    if time_errors := _check_time(taken_at, record, now):
        raise InvalidInput(errors={"taken_at": time_errors})
    evaluate, kind = SCALE_RULES[scale]
    pre_dose = record.first_dose_at is None or taken_at < record.first_dose_at
    baseline = (
        record.scales.filter(scale=scale, pre_dose=True)
        .order_by("-taken_at", "-id")
        .values_list("value", flat=True)
        .first()
    )
    try:
        findings = (
            []
            if pre_dose
            else evaluate(value, baseline=baseline, thresholds=policy_for(record.session.treatment_type).thresholds)
        )
    except ValueError as exc:
        raise InvalidInput(errors={"value": [str(exc)]}) from exc
    score = ScaleScore.objects.create(
        record=record,
        scale=scale,
        value=value,
        taken_at=taken_at,
        pre_dose=pre_dose,
        findings=[f.as_dict() for f in findings],
        recorded_by=actor.user,
    )
    alert = _alert_for(record, kind, findings, ("scale_score", score.pk))
    audit(actor, record, "scale_score", score.pk)
    return score, alert


@transaction.atomic
def adverse_event_record(
    *, actor: Actor, record: MonitoringRecord, data: dict[str, Any]
) -> tuple[AdverseEvent, Alert | None]:
    """A serious, severe or respiratory event opens a critical alert for the clinicians on duty."""
    actor.require(Perm.MONITORING_RECORD, record.clinic_id)
    record = MonitoringRecord.objects.select_for_update().get(pk=record.pk)
    now = timezone.now()
    if data["onset_at"] > now + dt.timedelta(minutes=1):
        raise InvalidInput(errors={"onset_at": ["Cannot be in the future."]})
    event = AdverseEvent.objects.create(record=record, recorded_by=actor.user, **data)
    urgent = (
        event.serious
        or event.severity in (AdverseEvent.Severity.SEVERE, AdverseEvent.Severity.LIFE_THREATENING)
        or event.type
        in (AdverseEvent.Type.RESPIRATORY_DEPRESSION, AdverseEvent.Type.SEIZURE, AdverseEvent.Type.CHEST_PAIN)
    )
    alert = None
    if urgent:
        kind = (
            Alert.Kind.RESPIRATORY_DEPRESSION
            if event.type == AdverseEvent.Type.RESPIRATORY_DEPRESSION
            else Alert.Kind.ADVERSE_EVENT
        )
        alert = alert_raise(
            clinic_id=record.clinic_id,
            patient_id=record.patient_id,
            kind=kind,
            severity=Alert.Severity.CRITICAL,
            message=f"{event.get_type_display()} ({event.get_severity_display().lower()}"
            f"{', serious' if event.serious else ''}) during the session.",
            source_type="adverse_event",
            source_id=event.pk,
            scope=_scope(record),
        )
    audit(actor, record, "adverse_event", event.pk)
    return event, alert


# What may be corrected, per target, and how the new value is checked.
AMENDABLE = {
    "vital_sign": (VitalSign, (*VITAL_FIELDS, "taken_at")),
    "dose": (Dose, ("lot_number", "administered_at", "infusion_ended_at", "dose_mg")),
    "scale_score": (ScaleScore, ("value", "taken_at")),
    "adverse_event": (AdverseEvent, ("description", "severity", "serious", "outcome", "actions_taken", "onset_at")),
    "monitoring_record": (
        MonitoringRecord,
        (
            "hours_since_food",
            "hours_since_liquids",
            "weight_kg",
            "benzodiazepines",
            "sedative_hypnotics",
            "psychostimulants",
            "maois",
            "pregnancy_test",
            "first_rems_treatment",
        ),
    ),
}


def effective_value(target: object, target_type: str, field: str, amendments: Sequence[Amendment]) -> Any:
    """The value after corrections: the newest amendment of that field, else the original."""
    relevant = [a for a in amendments if a.target_type == target_type and a.target_id == target.pk and a.field == field]
    if relevant:
        return relevant[-1].new_value
    return _json(getattr(target, field))


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if hasattr(value, "as_tuple"):  # Decimal
        return str(value)
    return value


@transaction.atomic
def amendment_record(
    *, actor: Actor, record: MonitoringRecord, target_type: str, target_id: int, field: str, new_value: Any, reason: str
) -> Amendment:
    """Correct one value; the original row is untouched and the timeline shows both."""
    actor.require(Perm.MONITORING_RECORD, record.clinic_id)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(errors={"reason": ["Say why the value is corrected."]})
    if target_type not in AMENDABLE:
        raise InvalidInput(errors={"target_type": [f"One of {', '.join(AMENDABLE)}."]})
    model, fields = AMENDABLE[target_type]
    if field not in fields:
        raise InvalidInput(errors={"field": [f"For {target_type}: one of {', '.join(fields)}."]})
    if target_type == "monitoring_record":
        target = record if target_id == record.pk else None
    else:
        target = model.objects.filter(pk=target_id, record=record).first()
    if target is None:
        raise InvalidInput(errors={"target_id": ["Not part of this session's record."]})
    if target_type == "vital_sign" and field in VITAL_FIELDS:
        candidate = {
            name: effective_value(target, target_type, name, list(record.amendments.all())) for name in VITAL_FIELDS
        }
        candidate[field] = new_value
        problems = thresholds.plausibility_errors(_reading(candidate))
        if problems:
            raise InvalidInput(errors={"new_value": [m for msgs in problems.values() for m in msgs]})
    old = effective_value(target, target_type, field, list(record.amendments.all()))
    amendment = Amendment.objects.create(
        record=record,
        target_type=target_type,
        target_id=target.pk,
        field=field,
        old_value=old,
        new_value=_json(new_value),
        reason=reason,
        amended_by=actor.user,
    )
    audit(actor, record, "amendment", amendment.pk)
    return amendment
