"""Reads of the monitoring app: the record and its timeline, the chair board, the REMS forms.

Every read of a record is clinical data (nurses and prescribers only) and is audited here.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from clinic.access import Actor, Perm
from clinic.errors import NotFound
from clinic.models import Alert, AuditEvent, Modality
from clinic.services.audit import audit_record, audit_record_many
from scheduling.models import Session

from . import rems, schedule
from .models import AdverseEvent, MonitoringRecord, ScaleScore, VitalSign
from .services.amendments import effective_typed
from .services.discharge import overdue_alert_check, session_times
from .services.policy import policies_for, policy_for


def record_queryset(*, actor: Actor, perm: Perm = Perm.CLINICAL_VIEW) -> QuerySet[MonitoringRecord]:
    return MonitoringRecord.objects.filter(clinic_id__in=actor.clinics_with(perm))


def record_get(
    *, actor: Actor, record_id: int, perm: Perm = Perm.CLINICAL_VIEW, audit: bool = True
) -> MonitoringRecord:
    record = (
        record_queryset(actor=actor, perm=perm)
        .filter(pk=record_id)
        .select_related(
            "session__treatment_type",
            "session__clinician__user",
            "session__room",
            "patient",
            "clinic",
            "opened_by",
            "prescriber_on_site__user",
            "discharge__discharged_by",
            "discharge__override_by__user",
            "rems_submission",
        )
        .prefetch_related(
            "doses__administered_by__user",
            Prefetch("vitals", queryset=VitalSign.objects.order_by("taken_at", "id")),
            Prefetch("scales", queryset=ScaleScore.objects.order_by("taken_at", "id")),
            Prefetch("adverse_events", queryset=AdverseEvent.objects.order_by("onset_at", "id")),
            "amendments__amended_by",
        )
        .first()
    )
    if record is None:
        raise NotFound()
    if audit:
        audit_record(
            actor=actor,
            action=AuditEvent.Action.READ,
            object_type="monitoring_record",
            object_id=record.pk,
            clinic_id=record.clinic_id,
            patient_id=record.patient_id,
        )
    return record


def record_for_write(*, actor: Actor, record_id: int) -> MonitoringRecord:
    """The bare record row for a write: the services lock and re-read what they need.

    Writes arrive every few seconds from a monitor, so this is one query, not the
    full timeline `record_get` assembles for reading.
    """
    record = record_queryset(actor=actor, perm=Perm.MONITORING_RECORD).filter(pk=record_id).first()
    if record is None:
        raise NotFound()
    return record


def session_for_monitoring(*, actor: Actor, session_id: int) -> Session:
    session = (
        Session.objects.filter(pk=session_id, clinic_id__in=actor.clinics_with(Perm.MONITORING_RECORD))
        .select_related("treatment_type")
        .first()
    )
    if session is None:
        raise NotFound()
    return session


def record_alerts(record: MonitoringRecord) -> list[Alert]:
    return list(Alert.objects.filter(scope_type="monitoring_record", scope_id=record.pk).order_by("opened_at", "id"))


def _amendments_of(record: MonitoringRecord, target_type: str, target_id: int) -> list[dict]:
    return [
        {
            "id": a.pk,
            "field": a.field,
            "old_value": a.old_value,
            "new_value": a.new_value,
            "reason": a.reason,
            "amended_by": a.amended_by.username,
            "amended_at": a.amended_at,
        }
        for a in record.amendments.all()
        if a.target_type == target_type and a.target_id == target_id
    ]


def timeline(record: MonitoringRecord, alerts: list[Alert]) -> list[dict[str, Any]]:
    """Every event of the session in time order; corrected values appear with their original."""
    events: list[dict[str, Any]] = [
        {
            "at": record.opened_at,
            "type": "record_opened",
            "id": record.pk,
            "data": {"by": record.opened_by.username},
            "amendments": _amendments_of(record, "monitoring_record", record.pk),
        }
    ]
    for dose in record.doses.all():
        events.append(
            {
                "at": dose.administered_at,
                "type": "dose",
                "id": dose.pk,
                "data": {
                    "drug": dose.drug,
                    "route": dose.route,
                    "dose_mg": dose.dose_mg,
                    "dose_mg_per_kg": dose.dose_mg_per_kg,
                    "device_number": dose.device_number,
                    "lot_number": dose.lot_number,
                    "infusion_ended_at": dose.infusion_ended_at,
                    "administered_by": dose.administered_by.user.username,
                    "overridden": dose.overridden,
                    "override_reason": dose.override_reason,
                },
                "amendments": _amendments_of(record, "dose", dose.pk),
            }
        )
    for v in record.vitals.all():
        events.append(
            {
                "at": v.taken_at,
                "type": "vitals",
                "id": v.pk,
                "data": {
                    "systolic": v.systolic,
                    "diastolic": v.diastolic,
                    "heart_rate": v.heart_rate,
                    "spo2": v.spo2,
                    "respiratory_rate": v.respiratory_rate,
                    "temperature_c": v.temperature_c,
                    "pre_dose": v.pre_dose,
                    "findings": v.findings,
                    "source": v.source,
                },
                "amendments": _amendments_of(record, "vital_sign", v.pk),
            }
        )
    for s in record.scales.all():
        events.append(
            {
                "at": s.taken_at,
                "type": s.scale,
                "id": s.pk,
                "data": {"value": s.value, "pre_dose": s.pre_dose, "findings": s.findings},
                "amendments": _amendments_of(record, "scale_score", s.pk),
            }
        )
    for e in record.adverse_events.all():
        events.append(
            {
                "at": e.onset_at,
                "type": "adverse_event",
                "id": e.pk,
                "data": {
                    "event_type": e.type,
                    "description": e.description,
                    "severity": e.severity,
                    "serious": e.serious,
                    "actions_taken": e.actions_taken,
                    "outcome": e.outcome,
                },
                "amendments": _amendments_of(record, "adverse_event", e.pk),
            }
        )
    for alert in alerts:
        events.append(
            {
                "at": alert.opened_at,
                "type": "alert",
                "id": alert.pk,
                "data": {
                    "kind": alert.kind,
                    "severity": alert.severity,
                    "message": alert.message,
                    "acknowledged_at": alert.acknowledged_at,
                    "acknowledgement_note": alert.acknowledgement_note,
                },
                "amendments": [],
            }
        )
    for a in record.amendments.all():
        events.append(
            {
                "at": a.amended_at,
                "type": "amendment",
                "id": a.pk,
                "data": {
                    "target_type": a.target_type,
                    "target_id": a.target_id,
                    "field": a.field,
                    "old_value": a.old_value,
                    "new_value": a.new_value,
                    "reason": a.reason,
                },
                "amendments": [],
            }
        )
    discharge = getattr(record, "discharge", None)
    if discharge is not None:
        events.append(
            {
                "at": discharge.discharged_at,
                "type": "discharge",
                "id": discharge.pk,
                "data": {
                    "alert_and_oriented": discharge.alert_and_oriented,
                    "able_to_walk": discharge.able_to_walk,
                    "escort_present": discharge.escort_present,
                    "vitals_within_limits": discharge.vitals_within_limits,
                    "ready_minutes_without_rule": discharge.ready_minutes_without_rule,
                    "overridden": discharge.overridden,
                    "override_reason": discharge.override_reason,
                },
                "amendments": [],
            }
        )
    order = {"record_opened": 0, "vitals": 1, "moaas": 2, "cadss": 2, "dose": 3}
    return sorted(events, key=lambda e: (e["at"], order.get(e["type"], 5), e["id"]))


@dataclass(frozen=True)
class Status:
    checks: list[schedule.DueCheck]
    earliest_discharge: dt.datetime | None
    minutes_since_first_dose: int | None


def record_status(record: MonitoringRecord, *, now: dt.datetime | None = None) -> Status:
    now = now or timezone.now()
    config = policy_for(record.session.treatment_type).schedule
    times = session_times(record)
    return Status(
        checks=schedule.expected_checks(config, times, [v.taken_at for v in record.vitals.all()], now=now),
        earliest_discharge=schedule.earliest_discharge(config, times),
        minutes_since_first_dose=schedule.minutes_since(record.first_dose_at, now),
    )


# --- REMS Patient Monitoring Form ---------------------------------------------------------------


def rems_form(record: MonitoringRecord) -> rems.RemsForm:
    """The form from the record's effective values (corrections applied)."""
    amendments = list(record.amendments.all())

    def value(obj, target_type, field):
        return effective_typed(obj, target_type, field, amendments)

    patient, clinic, session = record.patient, record.clinic, record.session
    clinician = session.clinician
    discharge = getattr(record, "discharge", None)
    vitals = []
    for v in record.vitals.all():
        vitals.append(
            rems.VitalsSnapshot(
                taken_at=value(v, "vital_sign", "taken_at"),
                systolic=value(v, "vital_sign", "systolic"),
                diastolic=value(v, "vital_sign", "diastolic"),
                spo2=value(v, "vital_sign", "spo2"),
                heart_rate=value(v, "vital_sign", "heart_rate"),
                respiratory_rate=value(v, "vital_sign", "respiratory_rate"),
                pre_dose=v.pre_dose,
                findings=tuple(
                    rems.FindingRef(
                        code=str(f.get("code", "")),
                        severity=str(f.get("severity", "")),
                        field=str(f.get("field", "")),
                        message=str(f.get("message", "")),
                    )
                    for f in v.findings
                    if isinstance(f, dict)
                ),
            )
        )
    # The form asks about the drug's effects: a pre-dose score (critical or not) is not one.
    sedation = [
        f"MOAA/S {value(s, 'scale_score', 'value')} at {timezone.localtime(s.taken_at, clinic.tz):%H:%M}"
        + (
            " (no pre-dose MOAA/S: clinician to confirm)"
            if any(f.get("code") == "sedation_review" for f in s.findings)
            else ""
        )
        for s in record.scales.all()
        if s.scale == "moaas" and s.findings and not s.pre_dose
    ]
    dissociation = [
        f"CADSS {value(s, 'scale_score', 'value')} at {timezone.localtime(s.taken_at, clinic.tz):%H:%M}"
        + (
            " (no pre-dose CADSS: clinician to confirm)"
            if any(f.get("code") == "dissociation_review" for f in s.findings)
            else ""
        )
        for s in record.scales.all()
        if s.scale == "cadss" and s.findings and not s.pre_dose
    ]
    events = list(record.adverse_events.all())
    sedation += [e.description or e.get_type_display() for e in events if e.type == AdverseEvent.Type.SEDATION]
    dissociation += [e.description or e.get_type_display() for e in events if e.type == AdverseEvent.Type.DISSOCIATION]
    respiratory = [
        e.description or e.get_type_display() for e in events if e.type == AdverseEvent.Type.RESPIRATORY_DEPRESSION
    ]
    serious = [
        f"{e.get_type_display()}: {e.description}".rstrip(": ") for e in events if value(e, "adverse_event", "serious")
    ]
    address = ", ".join(
        part
        for part in (clinic.address_line1, clinic.address_line2, clinic.city, clinic.region, clinic.postal_code)
        if part
    )
    day = timezone.localtime(record.first_dose_at or session.starts_at, clinic.tz).date()
    return rems.build(
        rems.FormInput(
            patient_name=f"{patient.first_name} {patient.last_name}",
            patient_birthdate=patient.date_of_birth,
            patient_sex=patient.get_sex_at_birth_display(),
            rems_patient_id=patient.rems_patient_id,
            rems_enrollment_confirmed=record.rems_enrollment_confirmed,
            first_treatment=bool(value(record, "monitoring_record", "first_rems_treatment")),
            benzodiazepines=bool(value(record, "monitoring_record", "benzodiazepines")),
            sedative_hypnotics=bool(value(record, "monitoring_record", "sedative_hypnotics")),
            psychostimulants=bool(value(record, "monitoring_record", "psychostimulants")),
            maois=bool(value(record, "monitoring_record", "maois")),
            clinician_name=clinician.user.get_full_name() or clinician.user.get_username(),
            clinician_phone=str(clinician.phone or ""),
            clinician_email=clinician.user.email,
            setting_name=clinic.name,
            setting_address=address,
            tz=clinic.tz,
            device_count=len([d for d in record.doses.all() if d.device_number]),
            lot_numbers=tuple(value(d, "dose", "lot_number") for d in record.doses.all()),
            first_dose_at=record.first_dose_at,
            discharged_at=discharge.discharged_at if discharge else None,
            ready_minutes_without_rule=discharge.ready_minutes_without_rule if discharge else None,
            vitals_within_limits_at_discharge=discharge.vitals_within_limits if discharge else None,
            vitals=tuple(vitals),
            sedation_notes=tuple(sedation),
            dissociation_notes=tuple(dissociation),
            respiratory_notes=tuple(respiratory),
            serious_events=tuple(serious),
            treatment_day=day,
        )
    )


def rems_forms_due(*, actor: Actor) -> QuerySet[MonitoringRecord]:
    """Esketamine sessions that ended and whose form is not yet marked submitted, oldest first."""
    return (
        record_queryset(actor=actor)
        # A session discharged before any dose (the patient left, the BP gate refused) has no
        # form to send: the REMS form is about a treatment session.
        .filter(
            modality=Modality.ESKETAMINE_NASAL,
            discharge__isnull=False,
            first_dose_at__isnull=False,
            rems_submission__isnull=True,
        )
        .select_related("patient", "session", "clinic", "discharge")
        .order_by("discharge__discharged_at", "id")
    )


def rems_forms_audit_reads(*, actor: Actor, records: list[MonitoringRecord]) -> None:
    audit_record_many(
        actor=actor, object_type="monitoring_record", records=((r.clinic_id, r.patient_id, r.pk) for r in records)
    )


# --- the chair board -----------------------------------------------------------------------------


def board(*, actor: Actor, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Today's active sessions in the actor's clinics, one row per chair, in a constant number of queries."""
    now = now or timezone.now()
    clinics = actor.clinics_with(Perm.CLINICAL_VIEW)
    sessions = list(
        Session.objects.filter(
            clinic_id__in=clinics,
            status__in=[Session.Status.CHECKED_IN, Session.Status.IN_PROGRESS],
            starts_at__lt=now + dt.timedelta(hours=12),
            ends_at__gt=now - dt.timedelta(hours=12),
        )
        .select_related("clinic", "patient", "room", "treatment_type", "monitoring__discharge")
        .prefetch_related(
            Prefetch("monitoring__vitals", queryset=VitalSign.objects.only("id", "record_id", "taken_at")),
            "monitoring__doses",
        )
        .order_by("room__name", "starts_at")
    )
    record_ids = [s.monitoring.pk for s in sessions if _has_record(s)]
    open_alerts: dict[int, dict[str, int]] = defaultdict(dict)
    for row in (
        Alert.objects.filter(scope_type="monitoring_record", scope_id__in=record_ids, acknowledged_at__isnull=True)
        .values("scope_id", "severity")
        .annotate(n=Count("id"))
    ):
        open_alerts[row["scope_id"]][row["severity"]] = row["n"]
    # Every policy the board needs in one query, however many treatment types are on the floor.
    configs = {
        type_id: policy.schedule
        for type_id, policy in policies_for({s.treatment_type_id: s.treatment_type for s in sessions}.values()).items()
    }
    rows = []
    for s in sessions:
        record = s.monitoring if _has_record(s) else None
        row: dict[str, Any] = {
            "session": s.pk,
            "clinic": s.clinic_id,
            "patient": s.patient_id,
            "room": s.room.name,
            "patient_initials": s.patient.initials,
            "modality": s.treatment_type.modality,
            "monitoring_record": record.pk if record else None,
            "phase": "checked_in",
            "minutes_since_first_dose": None,
            "next_check_due": None,
            "next_check": None,
            "earliest_discharge": None,
            "open_alerts": open_alerts.get(record.pk, {}) if record else {},
        }
        if record is not None:
            config = configs[s.treatment_type_id]
            times = session_times(record)
            checks = schedule.expected_checks(config, times, [v.taken_at for v in record.vitals.all()], now=now)
            upcoming = schedule.next_due(checks, now=now)
            earliest = schedule.earliest_discharge(config, times)
            row.update(
                phase=_phase(record, times, earliest, now),
                minutes_since_first_dose=schedule.minutes_since(record.first_dose_at, now),
                next_check=upcoming.label if upcoming else None,
                next_check_due=_local(upcoming.due_at, s.clinic.tz) if upcoming and upcoming.due_at else None,
                earliest_discharge=_local(earliest, s.clinic.tz),
            )
        rows.append(row)
    return rows


def _has_record(session: Session) -> bool:
    try:
        return session.monitoring is not None
    except MonitoringRecord.DoesNotExist:
        return False


def _local(moment: dt.datetime | None, tz) -> str | None:
    return moment.astimezone(tz).isoformat() if moment else None


def _phase(record: MonitoringRecord, times: schedule.SessionTimes, earliest, now) -> str:
    if record.first_dose_at is None:
        return "pre_dose"
    if times.infusion_end_at is None and any(d.route == "intravenous" for d in record.doses.all()):
        return "infusing"
    if earliest is not None and now >= earliest:
        return "ready_for_discharge_review"
    return "monitoring"


def board_audit_reads(*, actor: Actor, rows: list[dict]) -> None:
    audit_record_many(
        actor=actor,
        object_type="monitoring_board",
        records=((r["clinic"], r["patient"], r["session"]) for r in rows),
    )


def check_still_missing(*, dedupe_key: str | None, now: dt.datetime) -> bool:
    """Whether the check a missed-check alert (by its dedupe key) names is still missing at ``now``.

    Not if the patient was discharged, nor if the check has since been done (a reading taken late
    in its window counts), nor if a reading was taken after it was due: monitoring went on, and the
    open warning stays as the record of the miss. A reading charted late but dated before the
    check was due does not count: the check is still missing. (The alert escalation asks before
    making a missed check critical.)
    """
    named = overdue_alert_check(dedupe_key)
    if named is None:
        return True  # not a missed-check alert this module raised: nothing to disprove it
    record_id, check_key = named
    record = (
        MonitoringRecord.objects.filter(pk=record_id, discharge__isnull=True)
        .select_related("session__treatment_type")
        .prefetch_related("doses", "vitals")
        .first()
    )
    if record is None:
        return False
    check = next((c for c in record_status(record, now=now).checks if c.key == check_key), None)
    if check is None or check.state != schedule.OVERDUE:
        return False
    return check.due_at is None or not any(v.taken_at >= check.due_at for v in record.vitals.all())
