"""What is observed during a session: vital signs, sedation and dissociation scales, adverse events,
and corrections of any of them.

Impossible values are refused (400, each field named); dangerous but possible values are stored
and open an alert in the same transaction, so no dangerous reading exists without its alert.
A batch of readings (a monitor's upload) is stored in one INSERT, and every reading in it is
still evaluated against the thresholds.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from clinic.access import Actor, Perm
from clinic.errors import InvalidInput
from clinic.models import Alert, AuditEvent
from clinic.rows import array_literal
from clinic.services.alerts import alert_raise
from clinic.services.audit import audit_record_many
from monitoring import thresholds
from monitoring.models import AdverseEvent, MonitoringRecord, ScaleScore, VitalSign

from .policy import policy_for
from .record import (
    audit,
    corrected,
    latest_per_measurement,
    lock_open,
    lock_open_for,
    predose_readings,
    reading_of,
)

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


def alert_for(
    record: MonitoringRecord, kind: str, findings: list[thresholds.Finding], source: tuple[str, int]
) -> Alert | None:
    """An alert at the worst severity among ``findings`` for the clinicians on duty, or None."""
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
    *, actor: Actor, record_id: int, readings: Sequence[dict[str, Any]], source: str = VitalSign.Source.MANUAL
) -> list[tuple[VitalSign, Alert | None]]:
    """Store one or many readings; all are validated before any is stored.

    The record is found in the actor's clinics and locked in one statement, which also brings the
    threshold layers in force (another clinic's record: 404; a discharged patient: 409).
    """
    record, gate = lock_open_for(actor=actor, record_id=record_id, perm=Perm.MONITORING_RECORD)
    actor.require(Perm.MONITORING_RECORD, record.clinic_id)
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

    ordered = sorted(readings, key=lambda v: v.get("taken_at") or now)
    first_dose_at = record.first_dose_at
    rows = []
    for values in ordered:
        taken_at = values.get("taken_at") or now
        rows.append(
            VitalSign(
                record=record,
                taken_at=taken_at,
                pre_dose=first_dose_at is None or taken_at < first_dose_at,
                source=source,
                recorded_by=actor.user,
                recorded_at=now,
                **{name: values.get(name) for name in VITAL_FIELDS},
            )
        )
    baseline = None
    if any(not row.pre_dose for row in rows):
        # The rise baseline, per measurement, from the latest pre-dose reading carrying it (stored
        # or in this batch): an SpO2-only reading after the baseline BP must not erase the BP.
        # Every pre-dose reading precedes every post-dose one, so one baseline serves the batch.
        stored = predose_readings(record, first_dose_at, columns=("record_id", "taken_at", *VITAL_FIELDS))
        predose = sorted([*stored, *(r for r in rows if r.pre_dose)], key=lambda v: v.taken_at)
        baseline = latest_per_measurement(predose)
    evaluated = []
    for row in rows:
        reading = reading_of(row)
        # Before the dose there is no baseline to rise from, but an absolute danger (SpO2 85,
        # 190/115) still alerts; the pre-dose gate finding alone only blocks the dose.
        findings = thresholds.evaluate_vitals(reading, baseline=None if row.pre_dose else baseline, thresholds=gate)
        if row.pre_dose and (elevated := thresholds.predose_bp_elevated(reading, gate)) is not None:
            findings.append(elevated)
        row.findings = [f.as_dict() for f in findings]
        evaluated.append((row, findings))
    _insert_vitals(rows)
    results = []
    for row, findings in evaluated:
        paging = [f for f in findings if f.code != "predose_bp_elevated"]  # the gate finding blocks the dose instead
        results.append((row, alert_for(record, Alert.Kind.VITALS, paging, ("vital_sign", row.pk)) if paging else None))
    audit_record_many(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        object_type="vital_sign",
        records=((record.clinic_id, record.patient_id, row.pk) for row in rows),
    )
    return results


# Per column, in this order: taken_at, the measurements, pre_dose, findings (see _insert_vitals).
_VITALS_COLUMNS = ("taken_at", *VITAL_FIELDS, "pre_dose")
_INSERT_VITALS = """
INSERT INTO monitoring_vitalsign
    (record_id, source, recorded_by_id, recorded_at, taken_at, systolic, diastolic, heart_rate, spo2,
     respiratory_rate, temperature_c, pre_dose, findings)
SELECT %s, %s, %s, %s, t.*
FROM unnest(%s::timestamptz[], %s::smallint[], %s::smallint[], %s::smallint[], %s::smallint[], %s::smallint[],
            %s::numeric[], %s::boolean[], %s::jsonb[])
    AS t(taken_at, systolic, diastolic, heart_rate, spo2, respiratory_rate, temperature_c, pre_dose, findings)
RETURNING id
"""


def _insert_vitals(rows: list[VitalSign]) -> None:
    """One INSERT for the batch, setting each row's ``pk``.

    On PostgreSQL a column per array (like ``audit_record_many``): the ORM's per-value preparation
    of a batch was a tenth of the request's CPU. The ids come back in the order of the arrays.
    """
    if connection.vendor != "postgresql":
        VitalSign.objects.bulk_create(rows)
        return
    first = rows[0]
    columns = [array_literal(getattr(row, name) for row in rows) for name in _VITALS_COLUMNS]
    columns.append(array_literal(json.dumps(row.findings) for row in rows))
    common = [first.record_id, first.source, first.recorded_by_id, first.recorded_at]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_VITALS, [*common, *columns])
        ids = [pk for (pk,) in cursor.fetchall()]
    for row, pk in zip(rows, ids, strict=True):
        row.pk = pk
        row._state.adding = False
        row._state.db = connection.alias


SCALE_RULES = {
    ScaleScore.Scale.MOAAS: (thresholds.evaluate_moaas, Alert.Kind.SEDATION),
    ScaleScore.Scale.CADSS: (thresholds.evaluate_cadss, Alert.Kind.DISSOCIATION),
}


def _scale_baseline(record: MonitoringRecord, scale: str) -> int | None:
    """The latest score of ``scale`` taken before the first dose (by time: a dose charted late
    makes earlier-entered scores post-dose, see ``reclassify_after_first_dose``)."""
    return (
        record.scales.filter(scale=scale, taken_at__lte=record.first_dose_at)
        .order_by("-taken_at", "-id")
        .values_list("value", flat=True)
        .first()
    )


def judge_scale(
    scale: str, value: int, *, baseline: int | None, pre_dose: bool, gate: thresholds.Thresholds
) -> list[thresholds.Finding]:
    """The findings of one scale score. Raises ``ValueError`` for a value outside the scale."""
    evaluate, _ = SCALE_RULES[scale]
    if pre_dose and scale == ScaleScore.Scale.CADSS:
        thresholds.evaluate_cadss(value, baseline=None, thresholds=gate)  # range check only
        return []  # a pre-dose CADSS is the baseline itself: nothing to compare it with yet
    # Pre-dose, only the absolute MOAA/S levels apply (no drop from a baseline can be shown): a
    # patient who scores 0-2 before any drug is critical all the same.
    findings = evaluate(value, baseline=None if pre_dose else baseline, thresholds=gate)
    if not findings and not pre_dose and baseline is None and scale == ScaleScore.Scale.MOAAS:
        findings = thresholds.moaas_without_baseline(value)
    return findings


# How bad a finding is (a stored finding keeps its severity as the enum's value).
_RANK = {thresholds.Severity.WARNING.value: 1, thresholds.Severity.CRITICAL.value: 2}


def worse_than(findings: list[thresholds.Finding], judged: list[dict]) -> bool:
    """Whether ``findings`` page at a higher severity than the stored ``judged`` findings did (the
    pre-dose gate finding only blocks the dose, so it never counted as paging)."""
    before = max((_RANK.get(f.get("severity"), 0) for f in judged if f.get("code") != "predose_bp_elevated"), default=0)
    after = thresholds.worst(findings)
    return after is not None and _RANK.get(after, 0) > before


def reclassify_after_first_dose(record: MonitoringRecord) -> list[Alert]:
    """Readings entered before the first dose was charted but taken after it are post-dose.

    A nurse may chart the first device late, dated back to when it was used; the readings and
    scores entered in between were saved as pre-dose. They are judged again as what they are:
    post-dose, against the pre-dose baseline, alerting like any post-dose reading, and they no
    longer count as the baseline or as "BP before dosing" on the REMS form. Only the system's
    classification (``pre_dose`` and ``findings``) changes; the measured values never do.
    """
    first = record.first_dose_at
    gate = policy_for(record.session.treatment_type).thresholds
    alerts = []
    late_vitals = list(record.vitals.filter(pre_dose=True, taken_at__gt=first).order_by("taken_at", "id"))
    if late_vitals:
        baseline = latest_per_measurement(predose_readings(record, first))
        for row in corrected(record, late_vitals):  # corrected in memory: never saved, only judged
            findings = thresholds.evaluate_vitals(reading_of(row), baseline=baseline, thresholds=gate)
            VitalSign.objects.filter(pk=row.pk).update(pre_dose=False, findings=[f.as_dict() for f in findings])
            # Only what is worse than its alert at entry pages again (an SpO2 of 84 already did).
            if worse_than(findings, row.findings):
                alerts.append(alert_for(record, Alert.Kind.VITALS, findings, ("vital_sign", row.pk)))
    for score in record.scales.filter(pre_dose=True, taken_at__gt=first).order_by("taken_at", "id"):
        findings = judge_scale(
            score.scale, score.value, baseline=_scale_baseline(record, score.scale), pre_dose=False, gate=gate
        )
        ScaleScore.objects.filter(pk=score.pk).update(pre_dose=False, findings=[f.as_dict() for f in findings])
        if worse_than(findings, score.findings):
            alerts.append(alert_for(record, SCALE_RULES[score.scale][1], findings, ("scale_score", score.pk)))
    return [alert for alert in alerts if alert is not None]


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
    _, kind = SCALE_RULES[scale]
    pre_dose = record.first_dose_at is None or taken_at < record.first_dose_at
    try:
        findings = judge_scale(
            scale,
            value,
            baseline=None if pre_dose else _scale_baseline(record, scale),
            pre_dose=pre_dose,
            gate=policy_for(record.session.treatment_type).thresholds,
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
    alert = alert_for(record, kind, findings, ("scale_score", score.pk))
    audit(actor, record, "scale_score", score.pk)
    return score, alert


@transaction.atomic
def adverse_event_record(
    *, actor: Actor, record: MonitoringRecord, data: dict[str, Any]
) -> tuple[AdverseEvent, Alert | None]:
    """A serious, severe or respiratory event opens a critical alert for the clinicians on duty."""
    actor.require(Perm.MONITORING_RECORD, record.clinic_id)
    # Deliberately no ``ensure_open``: an adverse event is often noticed or reported after the
    # patient left (a call that evening, a fall in the car park). It belongs to this session's
    # record and still pages the clinicians, so it is accepted after discharge, unlike vitals.
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
