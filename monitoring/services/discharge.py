"""Discharge, the REMS form's submission, and the sweep for missed vital-sign checks.

Discharge is refused (422) while a critical alert of the session is open (it must be
acknowledged, never overridden), while an IV infusion has no recorded end (record it first,
never overridden), before the minimum monitoring time (esketamine: 120 minutes
from the first device; IV: the observation period after the infusion ends), or while the
criteria are unmet (the last reading within limits and recent, alert and oriented, able to
walk, escort present). A prescriber may override the last two with a written reason; the
override and its reason are part of the record.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinic.access import Actor, Perm
from clinic.errors import Conflict, InvalidInput, RuleViolation
from clinic.models import Alert, Modality, StaffMember
from clinic.services.alerts import alert_raise
from intake.messages import followup_survey_schedule
from monitoring import schedule, thresholds
from monitoring.models import Discharge, Dose, MonitoringRecord, RemsFormSubmission
from scheduling.models import Session
from scheduling.services.lifecycle import session_mark_completed

from .policy import policy_for, policy_from_layers, policy_layers
from .record import (
    REQUIRED_MEASUREMENTS,
    audit,
    corrected,
    ensure_open,
    latest_carrying,
    latest_per_measurement,
    override_errors,
)

logger = logging.getLogger(__name__)


def session_times(record: MonitoringRecord) -> schedule.SessionTimes:
    infusion = next((d for d in record.doses.all() if d.route == "intravenous"), None)
    return schedule.SessionTimes(
        checked_in_at=record.session.checked_in_at,
        first_dose_at=record.first_dose_at,
        infusion_end_at=infusion.infusion_ended_at if infusion else None,
        discharged_at=getattr(getattr(record, "discharge", None), "discharged_at", None),
    )


MEASUREMENT_LABELS = {
    "systolic": "blood pressure",
    "diastolic": "blood pressure",
    "heart_rate": "heart rate",
    "spo2": "SpO2",
}


def _criteria(
    record: MonitoringRecord, data: dict[str, Any], gate: thresholds.Thresholds, config, now
) -> tuple[bool, list[str]]:
    """The unmet discharge criteria, and whether the vital signs are within limits.

    Every measurement the API contract requires of a reading (blood pressure, heart rate, SpO2)
    must have been taken in the last ``discharge_reading_within_minutes``, and the latest value of
    every measurement taken must be within limits: each judged from the latest reading *carrying*
    it, so a final SpO2-only reading neither hides a blood pressure of 185/112 nor stands in for
    the blood pressure the REMS form asks for "before leaving".
    """
    unmet = []
    readings = corrected(record, list(record.vitals.order_by("taken_at", "id")))
    window = config.discharge_reading_within_minutes
    since = now - dt.timedelta(minutes=window)
    stale: list[str] = []
    for name in REQUIRED_MEASUREMENTS:
        row = latest_carrying(readings, name)
        label = MEASUREMENT_LABELS[name]
        if (row is None or row.taken_at < since) and label not in stale:
            stale.append(label)
    if stale:
        unmet.append(f"a reading of {', '.join(stale)} in the last {window} minutes")
    current = latest_per_measurement(readings)
    findings = []
    if current is not None:
        baseline = None
        if record.first_dose_at is not None:
            baseline = latest_per_measurement(
                [v for v in readings if v.pre_dose and v.taken_at <= record.first_dose_at]
            )
        findings = thresholds.evaluate_vitals(current, baseline=baseline, thresholds=gate)
        if findings:
            unmet.append("the latest vital signs within limits")
    vitals_ok = not stale and not findings
    for name, label in (
        ("alert_and_oriented", "alert and oriented"),
        ("able_to_walk", "able to walk"),
        ("escort_present", "escort present"),
    ):
        if not data.get(name):
            unmet.append(label)
    return vitals_ok, unmet


@transaction.atomic
def discharge(*, actor: Actor, record: MonitoringRecord, data: dict[str, Any]) -> Discharge:
    actor.require(Perm.MONITORING_RECORD, record.clinic_id)
    record = (
        MonitoringRecord.objects.select_for_update(of=("self",))
        .select_related("session__treatment_type", "session")
        .prefetch_related("doses")
        .get(pk=record.pk)
    )
    ensure_open(record)
    now = timezone.now()
    policy = policy_for(record.session.treatment_type)
    if (
        record.modality == Modality.ESKETAMINE_NASAL
        and record.first_dose_at
        and data.get("ready_minutes_without_rule") is None
    ):
        raise InvalidInput(
            errors={"ready_minutes_without_rule": ["REMS question: when would the patient have been ready to leave?"]}
        )
    open_critical = Alert.objects.filter(
        scope_type="monitoring_record",
        scope_id=record.pk,
        severity=Alert.Severity.CRITICAL,
        acknowledged_at__isnull=True,
    ).count()
    if open_critical:
        raise RuleViolation(
            f"{open_critical} critical alert(s) of this session are open: acknowledge them first.",
            code="open_critical_alerts",
        )
    if record.modality == Modality.IV_KETAMINE and any(
        d.route == Dose.Route.INTRAVENOUS and d.infusion_ended_at is None for d in record.doses.all()
    ):
        # Not a judgement call: the end of the infusion starts the observation period, and it can
        # be recorded only while the record is open (it is never amended). Stopping early for an
        # emergency transfer is recorded as the end; the observation time may then be overridden.
        # The contract's code: the observation after the infusion has not even begun.
        raise RuleViolation(
            "The infusion has no recorded end: record when it ended before discharge (an override cannot skip this).",
            code="minimum_monitoring_not_met",
        )
    refusals = []
    earliest = schedule.earliest_discharge(policy.schedule, session_times(record))
    if record.first_dose_at is not None and (earliest is None or now < earliest):
        when = (
            f"before {timezone.localtime(earliest, record.clinic.tz):%H:%M}" if earliest else "while the infusion runs"
        )
        refusals.append(("minimum_monitoring_not_met", f"The minimum monitoring time is not over: not {when}."))
    vitals_ok, unmet = _criteria(record, data, policy.thresholds, policy.schedule, now)
    if unmet:
        refusals.append(("criteria_unmet", "Discharge criteria unmet: " + ", ".join(unmet) + "."))
    reason = (data.get("override_reason") or "").strip()
    overridden: list[str] = []
    override_by = None
    if refusals:
        if not (reason and actor.has(Perm.CLINICAL_OVERRIDE, record.clinic_id)):
            code, detail = refusals[0]
            raise RuleViolation(
                detail + " A prescriber may override with a reason.",
                code=code,
                errors=override_errors(actor=actor, clinic_id=record.clinic_id, reason=reason),
                extra={"refusals": [{"code": c, "detail": d} for c, d in refusals]},
            )
        overridden = [code for code, _ in refusals]
        override_by = StaffMember.objects.get(pk=actor.staff_member_id(record.clinic_id))
    result = Discharge.objects.create(
        record=record,
        discharged_at=now,
        discharged_by=actor.user,
        alert_and_oriented=bool(data.get("alert_and_oriented")),
        able_to_walk=bool(data.get("able_to_walk")),
        escort_present=bool(data.get("escort_present")),
        vitals_within_limits=vitals_ok,
        ready_minutes_without_rule=data.get("ready_minutes_without_rule"),
        overridden=overridden,
        override_by=override_by,
        override_reason=reason if overridden else "",
        notes=(data.get("notes") or "").strip(),
    )
    session_mark_completed(actor=actor, session=record.session, at=now)
    if record.first_dose_at is not None:
        followup_survey_schedule(patient=record.patient, session_id=record.session_id, discharged_at=now)
    audit(actor, record, "discharge", result.pk)
    logger.info("monitoring.discharged", extra={"record_id": record.pk, "overridden": overridden})
    return result


@transaction.atomic
def rems_form_mark_submitted(*, actor: Actor, record: MonitoringRecord, confirmation: str = "") -> RemsFormSubmission:
    actor.require(Perm.MONITORING_RECORD, record.clinic_id)
    if record.modality != Modality.ESKETAMINE_NASAL:
        raise Conflict("Only esketamine sessions have a REMS monitoring form.", code="not_a_rems_session")
    if not hasattr(record, "discharge"):
        raise Conflict("The form is filed after the patient leaves.", code="invalid_transition")
    if RemsFormSubmission.objects.filter(record=record).exists():
        raise Conflict("This form was already marked submitted.", code="already_submitted")
    submission = RemsFormSubmission.objects.create(
        record=record, submitted_by=actor.user, confirmation=(confirmation or "").strip()
    )
    audit(actor, record, "rems_form", submission.pk)
    return submission


def overdue_alert_key(record_id: int, check_key: str) -> str:
    """The dedupe key of the missed-check alert for one check of one record."""
    return f"overdue:{record_id}:{check_key}"


def overdue_alert_check(dedupe_key: str | None) -> tuple[int, str] | None:
    """The (record id, check key) an ``overdue_alert_key`` names; None for any other key."""
    prefix, _, rest = (dedupe_key or "").partition(":")
    record_id, _, check_key = rest.partition(":")
    if prefix != "overdue" or not record_id.isdigit() or not check_key:
        return None
    return int(record_id), check_key


def overdue_checks_sweep(*, now: dt.datetime | None = None) -> int:
    """Raise one ``vitals_overdue`` alert per missed check of every session being monitored.

    Idempotent: each alert's dedupe key names the record and the check, so running the sweep
    again (or two sweeps at once) never raises the same alert twice. One record that cannot be
    swept (its clinic's policy cannot be resolved, a data slip) is logged by id and skipped: the
    sweep goes on for every other patient, whose missed checks must still page someone.
    """
    now = now or timezone.now()
    records = list(
        MonitoringRecord.objects.filter(
            session__status__in=[Session.Status.CHECKED_IN, Session.Status.IN_PROGRESS], discharge__isnull=True
        )
        .select_related("session__treatment_type", "clinic")
        .prefetch_related("doses", "vitals")
    )
    types = {r.session.treatment_type_id: r.session.treatment_type for r in records}
    layers = policy_layers(types.values())
    policies: dict[int, Any] = {}
    raised = failed = 0
    for record in records:
        try:
            # A savepoint per record: a database error in one leaves the others' work intact.
            with transaction.atomic():
                type_id = record.session.treatment_type_id
                if type_id not in policies:
                    policies[type_id] = policy_from_layers(types[type_id], layers[type_id])
                raised += _sweep_record(record, policies[type_id].schedule, now)
        except Exception as exc:  # one record must never stop the sweep for every other patient
            failed += 1
            # Ids and the error's class only: the message or traceback could carry a patient's values.
            logger.error(
                "monitoring.overdue_sweep_failed",
                extra={
                    "record_id": record.pk,
                    "clinic_id": record.clinic_id,
                    "treatment_type_id": record.session.treatment_type_id,
                    "error": type(exc).__name__,
                },
            )
    if raised or failed:
        logger.info("monitoring.overdue_alerts", extra={"count": raised, "failed_records": failed})
    return raised


def _sweep_record(record: MonitoringRecord, config: schedule.ScheduleConfig, now: dt.datetime) -> int:
    checks = schedule.expected_checks(config, session_times(record), [v.taken_at for v in record.vitals.all()], now=now)
    raised = 0
    for check in schedule.overdue(checks):
        due = timezone.localtime(check.due_at, record.clinic.tz) if check.due_at else None
        alert = alert_raise(
            clinic_id=record.clinic_id,
            patient_id=record.patient_id,
            kind=Alert.Kind.VITALS_OVERDUE,
            severity=Alert.Severity.WARNING,
            message=f"Vital signs overdue: {check.label}" + (f" (due {due:%H:%M})." if due else "."),
            source_type="monitoring_record",
            source_id=record.pk,
            dedupe_key=overdue_alert_key(record.pk, check.key),
            scope=("monitoring_record", record.pk),
        )
        raised += alert is not None
    return raised
