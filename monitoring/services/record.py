"""Opening the record and dosing: the pre-dose checks and the gate before the first dose.

The first dose is refused (422) without baseline vitals, without a pre-dose blood pressure, with
the latest pre-dose blood pressure above the clinic's gate (default > 140/90, label 5.6), with a
positive pregnancy test, without a confirmed escort, or, for esketamine, without REMS enrollment
and a prescriber on site. A
prescriber may override the blood-pressure and pregnancy refusals with a written reason; the
others are not clinical judgement calls and cannot be overridden. The first dose starts the
session clock and moves the session to "in progress"; it cannot be dated before the record was
opened, and its time is never amended (see ``amendments.amendment_record``), so the clock that
the 2-hour rule counts from cannot move.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from clinic.access import CLINICIAN_ROLES, Actor, Perm, Role
from clinic.errors import Conflict, InvalidInput, NotFound, RuleViolation
from clinic.models import AuditEvent, Modality, StaffMember
from clinic.prepared import KeyedQuery
from clinic.services.audit import audit_record
from monitoring import thresholds
from monitoring.models import Amendment, Discharge, Dose, MonitoringRecord, VitalSign
from scheduling.models import Session
from scheduling.services.lifecycle import session_mark_started

from .policy import policy_for, threshold_layers, thresholds_of

logger = logging.getLogger(__name__)

ESKETAMINE_DEVICE_MG = Decimal(28)
ESKETAMINE_MAX_DEVICES = 3  # 84 mg
ESKETAMINE_DEVICE_INTERVAL = dt.timedelta(minutes=5)  # label: 5 minutes between devices
MAX_IV_MG_PER_KG = Decimal("1.0")  # studied range 0.1-0.75 mg/kg (Andrade 2017); above 1.0 is a typo
MG_PER_KG_TOLERANCE = Decimal("0.02")
DRUG_BY_MODALITY = {
    Modality.ESKETAMINE_NASAL: ("esketamine", Dose.Route.INTRANASAL),
    Modality.IV_KETAMINE: ("ketamine", Dose.Route.INTRAVENOUS),
    Modality.IM_KETAMINE: ("ketamine", Dose.Route.INTRAMUSCULAR),
}
PRE_DOSE_FIELDS = (
    "hours_since_food",
    "hours_since_liquids",
    "escort_confirmed",
    "benzodiazepines",
    "sedative_hypnotics",
    "psychostimulants",
    "maois",
    "medications_confirmed",
    "pregnancy_test",
    "weight_kg",
    "rems_enrollment_confirmed",
    "first_rems_treatment",
)


def _lock_row(record_id: int, clinic_ids: list[int] | None = None) -> bool:
    """Take the record row's lock, alone (False when there is no such record, or not in ``clinic_ids``).

    The lock is its own statement so that what is read next is read after it. Under READ
    COMMITTED a statement reads the database as it was when the statement began: a read in the
    locking statement that waited for a discharge (or a correction) to commit would not see the
    discharge it waited for, and would write to a closed record.
    """
    rows = MonitoringRecord.objects.select_for_update().filter(pk=record_id)
    if clinic_ids is not None:
        rows = rows.filter(clinic_id__in=clinic_ids)
    return rows.exists()


def lock_open(record_id: int) -> MonitoringRecord:
    """Lock the record row for a write and refuse if the patient was discharged.

    The lock first (``_lock_row``), then one read: the discharge (if any), the treatment type and
    whether any vital sign was corrected (see ``corrected``) come along. Only the record row is
    locked, so a concurrent discharge waits for this write.
    """
    _lock_row(record_id)
    record = (
        MonitoringRecord.objects.select_related("session__treatment_type", "discharge")
        .annotate(
            has_vital_corrections=Exists(Amendment.objects.filter(record=OuterRef("pk"), target_type="vital_sign"))
        )
        .get(pk=record_id)
    )
    ensure_open(record)
    return record


# What a monitor's upload reads after the lock (see lock_open_for): compiled once per thread, as
# it runs for every batch and compiling it cost more than running it.
_UPLOAD_READ = KeyedQuery(
    lambda record_id: (
        MonitoringRecord.objects.only("id", "clinic_id", "patient_id", "session_id", "opened_at", "first_dose_at")
        .annotate(
            discharged=Exists(Discharge.objects.filter(record=OuterRef("pk"))),
            has_vital_corrections=Exists(Amendment.objects.filter(record=OuterRef("pk"), target_type="vital_sign")),
            **threshold_layers("session__treatment_type"),
        )
        .filter(pk=record_id)
    )
)


def lock_open_for(*, actor: Actor, record_id: int, perm: Perm) -> tuple[MonitoringRecord, thresholds.Thresholds]:
    """``lock_open`` for a caller who has only the record's id, and the thresholds in force.

    The record is found only in the clinics where ``actor`` holds ``perm`` (another clinic's
    record, or none: 404) and locked (only its own row, ``_lock_row``); then one read brings what
    a monitor's upload needs: whether it was discharged, whether any vital sign was corrected, and
    its policy threshold layers. Only the columns the upload reads are loaded (its id, clinic,
    patient, session and times): the rest of the record, its session and treatment type are not
    needed here.
    """
    if not _lock_row(record_id, actor.clinics_with(perm)):
        raise NotFound()
    record = _UPLOAD_READ.first(record_id)
    if record is None:
        raise NotFound()
    if record.discharged:
        raise _closed()
    return record, thresholds_of(record)


def ensure_open(record: MonitoringRecord) -> None:
    if hasattr(record, "discharge"):
        raise _closed()


def _closed() -> Conflict:
    return Conflict("The patient was discharged; record a correction as an amendment.", code="record_closed")


def audit(actor: Actor, record: MonitoringRecord, obj_type: str, obj_id: object, action: str = "create") -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type=obj_type,
        object_id=obj_id,
        clinic_id=record.clinic_id,
        patient_id=record.patient_id,
    )


def override_errors(*, actor: Actor, clinic_id: int, reason: str) -> dict[str, list[str]]:
    """Why an override was not accepted, naming ``override_reason``; empty when none was attempted.

    A prescriber without a written reason is told the reason is what is missing; anyone else who
    writes one is told only a prescriber may override. A nurse who sent no reason gets the plain
    refusal.
    """
    may = actor.has(Perm.CLINICAL_OVERRIDE, clinic_id)
    if may and not reason:
        return {"override_reason": ["A prescriber's override needs a written reason."]}
    if reason and not may:
        return {"override_reason": ["Only a prescriber may override this refusal."]}
    return {}


def _staff_in_clinic(staff_id: int | None, clinic_id: int, *, roles: set[str], field: str) -> StaffMember:
    member = StaffMember.objects.filter(pk=staff_id, clinic_id=clinic_id, active=True).first() if staff_id else None
    if member is None or not roles & set(member.roles):
        raise InvalidInput(errors={field: ["Choose an active member of this clinic with the right role."]})
    return member


@transaction.atomic
def record_open(*, actor: Actor, session: Session, checks: dict[str, Any]) -> MonitoringRecord:
    """A nurse opens the record of a checked-in session with the pre-dose checks."""
    actor.require(Perm.MONITORING_RECORD, session.clinic_id)
    # Only the session row: locking its treatment type too would serialise every opening of that type.
    session = Session.objects.select_for_update(of=("self",)).select_related("treatment_type").get(pk=session.pk)
    if session.status != Session.Status.CHECKED_IN:
        raise Conflict("Monitoring starts once the patient is checked in.", code="invalid_transition")
    if MonitoringRecord.objects.filter(session=session).exists():
        raise Conflict("This session's record is already open.", code="already_open")
    modality = session.treatment_type.modality
    prescriber = None
    if modality == Modality.ESKETAMINE_NASAL:
        errors = {}
        if checks.get("prescriber_on_site") is None:
            errors["prescriber_on_site"] = ["The REMS requires a prescriber on site for esketamine."]
        if "rems_enrollment_confirmed" not in checks:
            errors["rems_enrollment_confirmed"] = ["Confirm the patient's REMS enrollment."]
        if errors:
            raise InvalidInput(errors=errors)
        prescriber = _staff_in_clinic(
            checks["prescriber_on_site"], session.clinic_id, roles={Role.PRESCRIBER}, field="prescriber_on_site"
        )
    record = MonitoringRecord.objects.create(
        session=session,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        modality=modality,
        opened_by=actor.user,
        prescriber_on_site=prescriber,
        **{name: checks[name] for name in PRE_DOSE_FIELDS if name in checks},
    )
    audit(actor, record, "monitoring_record", record.pk)
    logger.info("monitoring.opened", extra={"record_id": record.pk, "session_id": session.pk})
    return record


# The measurements a reading carries by the API contract (DESIGN.md section 5: ``{taken_at?, systolic,
# diastolic, heart_rate, spo2, respiratory_rate?}``). The API also takes partial readings (a
# monitor's upload often carries only SpO2 and pulse), so every rule that needs a measurement looks
# for the latest reading *carrying* it, never just the latest row.
REQUIRED_MEASUREMENTS = ("systolic", "diastolic", "heart_rate", "spo2")


def has_bp(v: VitalSign) -> bool:
    return v.systolic is not None and v.diastolic is not None


def latest_carrying(readings: list[VitalSign], name: str) -> VitalSign | None:
    """The latest of ``readings`` (in time order) that carries ``name``."""
    return next((v for v in reversed(readings) if getattr(v, name) is not None), None)


def corrected(record: MonitoringRecord, readings: list[VitalSign]) -> list[VitalSign]:
    """``readings`` with each measurement as corrected by the record's amendments, in memory only.

    The stored row keeps what was entered (append-only); the pre-dose gate, the rise baseline, the
    alerts and the discharge criteria judge the value in force, the one the REMS form prints. One
    query, for the record's vital-sign corrections.
    """
    from .amendments import VITAL_FIELDS as MEASUREMENTS  # the amendments module imports this one
    from .amendments import effective_typed

    # ``lock_open`` says in its own statement whether there are any: then no query at all.
    if not readings or getattr(record, "has_vital_corrections", True) is False:
        return readings
    corrections: dict[int, list[Amendment]] = defaultdict(list)
    for amendment in Amendment.objects.filter(
        record_id=record.pk, target_type="vital_sign", field__in=MEASUREMENTS
    ).order_by("amended_at", "id"):
        corrections[amendment.target_id].append(amendment)
    for reading in readings:
        for field in {a.field for a in corrections.get(reading.pk, ())}:
            setattr(reading, field, effective_typed(reading, "vital_sign", field, corrections[reading.pk]))
    return readings


def predose_readings(record: MonitoringRecord, until: dt.datetime, *, columns: tuple[str, ...] = ()) -> list[VitalSign]:
    """The readings taken before the dose, up to ``until``, in time order, as corrected.

    A reading entered before the dose but dated after it (a dose charted late) is not one of
    them. ``columns`` loads only those fields (the vitals batch path), else every field.
    """
    readings = record.vitals.filter(pre_dose=True, taken_at__lte=until).order_by("taken_at", "id")
    if columns:
        readings = readings.only(*columns)
    return corrected(record, list(readings))


def latest_per_measurement(readings: list[VitalSign]) -> thresholds.Reading | None:
    """Each measurement from the latest of ``readings`` (in time order) carrying it.

    Over the pre-dose readings this is the baseline; over all readings, the patient's current
    values. The blood pressure comes as a pair from one reading (plausibility never stores half of
    one). ``None`` when ``readings`` is empty.
    """
    if not readings:
        return None
    bp = next((v for v in reversed(readings) if has_bp(v)), None)
    values: dict[str, Any] = {
        "systolic": bp.systolic if bp else None,
        "diastolic": bp.diastolic if bp else None,
    }
    for name in ("heart_rate", "spo2", "respiratory_rate", "temperature_c"):
        row = latest_carrying(readings, name)
        values[name] = getattr(row, name) if row else None
    if values["temperature_c"] is not None:
        values["temperature_c"] = float(values["temperature_c"])
    return thresholds.Reading(**values)


def _predose_refusals(record: MonitoringRecord, predose: list[VitalSign], gate: thresholds.Thresholds) -> list[dict]:
    """Why the first dose may not be given; each entry says whether a prescriber may override it.

    ``predose`` are the readings taken up to the dose, in time order. The gate judges the latest
    one that carries a blood pressure: a later SpO2-only reading must not hide a 160/100.
    """
    refusals = []
    bp = next((v for v in reversed(predose) if has_bp(v)), None)
    if not predose:
        refusals.append(
            {"code": "baseline_vitals_missing", "detail": "Record baseline vital signs first.", "override": False}
        )
    elif bp is None:
        # Not a judgement call: the label asks for a blood pressure before every dose (5.6).
        refusals.append(
            {
                "code": "predose_bp_missing",
                "detail": "Take a blood pressure before the dose: no pre-dose reading has one.",
                "override": False,
            }
        )
    else:
        elevated = thresholds.predose_bp_elevated(reading_of(bp), gate)
        if elevated is not None:
            refusals.append({"code": "predose_bp_elevated", "detail": elevated.message, "override": True})
    if not record.escort_confirmed:
        refusals.append(
            {"code": "escort_not_confirmed", "detail": "Confirm who takes the patient home first.", "override": False}
        )
    if record.pregnancy_test == MonitoringRecord.PregnancyTest.POSITIVE:
        refusals.append(
            {"code": "pregnancy_test_positive", "detail": "The pregnancy test is positive.", "override": True}
        )
    if record.modality == Modality.ESKETAMINE_NASAL and (
        not record.rems_enrollment_confirmed or record.prescriber_on_site_id is None
    ):
        refusals.append(
            {
                "code": "rems_requirements_unmet",
                "detail": "Esketamine needs confirmed REMS enrollment and a prescriber on site.",
                "override": False,
            }
        )
    return refusals


def reading_of(v: VitalSign) -> thresholds.Reading:
    return thresholds.Reading(
        systolic=v.systolic,
        diastolic=v.diastolic,
        heart_rate=v.heart_rate,
        spo2=v.spo2,
        respiratory_rate=v.respiratory_rate,
        temperature_c=float(v.temperature_c) if v.temperature_c is not None else None,
    )


def _weight_in_force(record: MonitoringRecord) -> Decimal:
    """The weight the mg/kg check uses: the latest correction of it, else what was entered."""
    from .amendments import effective_typed  # the amendments module imports this one

    corrections = list(record.amendments.filter(target_type="monitoring_record", field="weight_kg"))
    return effective_typed(record, "monitoring_record", "weight_kg", corrections) if corrections else record.weight_kg


def _dose_amount(record: MonitoringRecord, data: dict[str, Any]) -> tuple[Decimal, Decimal | None]:
    if record.modality == Modality.ESKETAMINE_NASAL:
        if data.get("dose_mg") not in (None, ESKETAMINE_DEVICE_MG):
            raise InvalidInput(
                errors={"dose_mg": ["Each esketamine device delivers 28 mg; record one row per device."]}
            )
        return ESKETAMINE_DEVICE_MG, None
    dose_mg = data.get("dose_mg")
    if dose_mg is None:
        raise InvalidInput(errors={"dose_mg": ["This field is required."]})
    weight = _weight_in_force(record)
    computed = (Decimal(dose_mg) / weight).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    given = data.get("dose_mg_per_kg")
    if given is not None and abs(Decimal(given) - computed) > MG_PER_KG_TOLERANCE:
        raise InvalidInput(
            errors={"dose_mg_per_kg": [f"{given} mg/kg does not match {dose_mg} mg for {weight} kg ({computed})."]}
        )
    if computed > MAX_IV_MG_PER_KG:
        raise InvalidInput(
            errors={"dose_mg": [f"{computed} mg/kg is above {MAX_IV_MG_PER_KG} mg/kg: check the amount."]}
        )
    return Decimal(dose_mg), computed


@transaction.atomic
def dose_record(*, actor: Actor, record: MonitoringRecord, data: dict[str, Any]) -> Dose:
    """Record one administration (an esketamine device, the infusion start, or the injection)."""
    actor.require(Perm.MONITORING_RECORD, record.clinic_id)
    record = lock_open(record.pk)
    now = timezone.now()
    administered_at = data.get("administered_at") or now
    if administered_at > now + dt.timedelta(minutes=1):
        raise InvalidInput(errors={"administered_at": ["Cannot be in the future."]})
    # A dose dated before the record was opened (or before check-in) would start the session clock
    # before the pre-dose checks were recorded, and bring the end of the 2-hour minimum forward.
    checked_in_at = record.session.checked_in_at
    if administered_at < record.opened_at or (checked_in_at is not None and administered_at < checked_in_at):
        raise InvalidInput(
            errors={"administered_at": ["Cannot be before the monitoring record was opened or the check-in."]}
        )
    previous = list(record.doses.order_by("administered_at"))
    if record.modality == Modality.ESKETAMINE_NASAL:
        if len(previous) >= ESKETAMINE_MAX_DEVICES:
            raise RuleViolation("Three devices (84 mg) is the most one session may give.", code="dose_complete")
        if previous and administered_at - previous[-1].administered_at < ESKETAMINE_DEVICE_INTERVAL:
            raise RuleViolation("Wait 5 minutes between esketamine devices (label).", code="device_interval_too_short")
    elif previous:
        raise RuleViolation("This session's dose is already recorded.", code="dose_complete")
    administered_by = _staff_in_clinic(
        data.get("administered_by") or actor.staff_member_id(record.clinic_id),
        record.clinic_id,
        roles=set(CLINICIAN_ROLES),
        field="administered_by",
    )
    dose_mg, mg_per_kg = _dose_amount(record, data)
    overridden: list[str] = []
    override_by = None
    reason = (data.get("override_reason") or "").strip()
    if not previous:
        policy = policy_for(record.session.treatment_type)
        # Only readings taken by the time of the dose count as its baseline.
        predose = predose_readings(record, administered_at)
        refusals = _predose_refusals(record, predose, policy.thresholds)
        hard = [r for r in refusals if not r["override"]]
        soft = [r for r in refusals if r["override"]]
        if hard:
            raise RuleViolation(hard[0]["detail"], code=hard[0]["code"], extra={"refusals": refusals})
        if soft:
            if not (reason and actor.has(Perm.CLINICAL_OVERRIDE, record.clinic_id)):
                raise RuleViolation(
                    soft[0]["detail"] + " A prescriber may override with a reason.",
                    code=soft[0]["code"],
                    errors=override_errors(actor=actor, clinic_id=record.clinic_id, reason=reason),
                    extra={"refusals": refusals},
                )
            overridden = [r["code"] for r in soft]
            override_by = StaffMember.objects.get(pk=actor.staff_member_id(record.clinic_id))
    drug, route = DRUG_BY_MODALITY[record.modality]
    dose = Dose.objects.create(
        record=record,
        drug=drug,
        route=route,
        dose_mg=dose_mg,
        dose_mg_per_kg=mg_per_kg,
        device_number=len(previous) + 1 if record.modality == Modality.ESKETAMINE_NASAL else None,
        lot_number=data["lot_number"],
        administered_at=administered_at,
        administered_by=administered_by,
        overridden=overridden,
        override_by=override_by,
        override_reason=reason if overridden else "",
        recorded_by=actor.user,
    )
    if not previous:
        record.first_dose_at = administered_at
        record.save(update_fields=["first_dose_at"])
        session_mark_started(actor=actor, session=record.session, at=administered_at)
        from .observations import reclassify_after_first_dose  # observations imports this module

        reclassify_after_first_dose(record)
    audit(actor, record, "dose", dose.pk)
    logger.info("monitoring.dose", extra={"record_id": record.pk, "dose_id": dose.pk, "overridden": overridden})
    return dose


@transaction.atomic
def infusion_end(*, actor: Actor, dose: Dose, ended_at: dt.datetime | None = None) -> Dose:
    """The infusion's end time, set once: it starts the observation period."""
    actor.require(Perm.MONITORING_RECORD, dose.record.clinic_id)
    dose = Dose.objects.select_for_update().select_related("record").get(pk=dose.pk)
    ensure_open(dose.record)
    if dose.route != Dose.Route.INTRAVENOUS:
        raise Conflict("Only an infusion has an end time.", code="invalid_transition")
    if dose.infusion_ended_at is not None:
        raise Conflict("The infusion end was already recorded; correct it with an amendment.", code="already_recorded")
    ended_at = ended_at or timezone.now()
    if ended_at <= dose.administered_at:
        raise InvalidInput(errors={"ended_at": ["Must be after the infusion started."]})
    if ended_at > timezone.now() + dt.timedelta(minutes=1):
        raise InvalidInput(errors={"ended_at": ["Cannot be in the future."]})
    dose.infusion_ended_at = ended_at
    dose.save(update_fields=["infusion_ended_at"])
    audit(actor, dose.record, "dose", dose.pk, action=AuditEvent.Action.UPDATE)
    return dose
