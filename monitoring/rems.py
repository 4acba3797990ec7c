"""The Spravato REMS Patient Monitoring Form, built from a session's record (pure: no ORM).

Fields follow the form listed in CLINICAL.md (11/2021 form, plus the respiratory depression and
pulse-oximetry questions of newer forms). A field that cannot be filled from the record is
reported in ``missing`` by name, so staff know what to complete before submitting. The form is
due within 7 days of the session.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

SUBMIT_WITHIN_DAYS = 7
MIN_MONITORING_MINUTES = 120
BP_AT_40_TOLERANCE = dt.timedelta(minutes=10)

# The order of the form, and whether each field must be filled for the form to be complete.
FIELDS: list[tuple[str, bool]] = [
    ("patient_name", True),
    ("patient_birthdate", True),
    ("patient_sex", True),
    ("rems_patient_id", True),
    ("enrolled_in_rems", True),
    ("first_treatment", True),
    ("concomitant_benzodiazepines", True),
    ("concomitant_non_benzodiazepine_sedative_hypnotics", True),
    ("concomitant_psychostimulants", True),
    ("concomitant_maois", True),
    ("monitoring_clinician_name", True),
    ("monitoring_clinician_phone", True),
    ("monitoring_clinician_email", True),
    ("setting_name", True),
    ("setting_address", True),
    ("treatment_date", True),
    ("dose", True),
    ("dose_mg", True),
    ("lot_numbers", True),
    ("minutes_first_device_to_end_of_monitoring", True),
    ("minutes_until_ready_without_two_hour_rule", True),
    ("vitals_acceptable_before_dosing", True),
    ("vitals_acceptable_before_leaving", True),
    ("bp_before_dosing", True),
    ("bp_at_40_minutes", True),
    ("bp_before_leaving", True),
    ("pulse_oximetry_used", True),
    ("sedation", True),
    ("sedation_detail", False),
    ("dissociation", True),
    ("dissociation_detail", False),
    ("respiratory_depression", True),
    ("respiratory_depression_detail", False),
    ("serious_adverse_events", True),
    ("serious_adverse_event_details", False),
    ("due_by", False),
]


@dataclass(frozen=True)
class FindingRef:
    """What the thresholds found in one reading when it was taken (``thresholds.Finding.as_dict``)."""

    code: str
    severity: str
    field: str
    message: str = ""


@dataclass(frozen=True)
class VitalsSnapshot:
    taken_at: dt.datetime
    systolic: int | None
    diastolic: int | None
    spo2: int | None
    pre_dose: bool
    findings: tuple[FindingRef, ...] = ()
    heart_rate: int | None = None
    respiratory_rate: int | None = None

    @property
    def finding_codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.findings)


# The measurements judged before dosing; the blood pressure is one measurement of two numbers.
_PREDOSE_MEASUREMENTS = (("systolic", "diastolic"), ("heart_rate",), ("spo2",), ("respiratory_rate",))
# Critical findings on these mean breathing was depressed (the REMS's third watched effect).
_RESPIRATORY_FIELDS = ("spo2", "respiratory_rate")


@dataclass(frozen=True)
class FormInput:
    """Plain values gathered from the record (effective values: amendments already applied)."""

    patient_name: str
    patient_birthdate: dt.date | None
    patient_sex: str
    rems_patient_id: str
    rems_enrollment_confirmed: bool
    first_treatment: bool
    benzodiazepines: bool
    sedative_hypnotics: bool
    psychostimulants: bool
    maois: bool
    clinician_name: str
    clinician_phone: str
    clinician_email: str
    setting_name: str
    setting_address: str
    tz: dt.tzinfo
    device_count: int
    lot_numbers: tuple[str, ...]
    first_dose_at: dt.datetime | None
    discharged_at: dt.datetime | None
    ready_minutes_without_rule: int | None
    vitals_within_limits_at_discharge: bool | None
    vitals: tuple[VitalsSnapshot, ...]
    sedation_notes: tuple[str, ...] = ()
    dissociation_notes: tuple[str, ...] = ()
    respiratory_notes: tuple[str, ...] = ()
    serious_events: tuple[str, ...] = ()
    treatment_day: dt.date | None = None


@dataclass(frozen=True)
class RemsForm:
    fields: dict[str, Any]
    missing: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("Y" if value else "N")


def _bp(reading: VitalsSnapshot | None) -> str | None:
    if reading is None or reading.systolic is None or reading.diastolic is None:
        return None
    return f"{reading.systolic}/{reading.diastolic}"


def _dose_label(devices: int) -> str | None:
    return {0: None, 2: "56 mg", 3: "84 mg"}.get(devices, f"other ({devices * 28} mg)")


def _acceptable_before_dosing(before: list[VitalsSnapshot]) -> bool | None:
    """Whether the values the dose followed were acceptable: every measurement, not only the BP.

    Each measurement is judged from the latest pre-dose reading carrying it (a later SpO2-only
    reading does not make an elevated BP acceptable; a rechecked SpO2 of 97 clears an earlier 86).
    ``None`` (the form then lists the field as missing) without a pre-dose blood pressure.
    """
    if not any(v.systolic is not None and v.diastolic is not None for v in before):
        return None
    for names in _PREDOSE_MEASUREMENTS:
        latest = next((v for v in reversed(before) if all(getattr(v, n) is not None for n in names)), None)
        if latest is not None and any(f.field in names for f in latest.findings):
            return False
    return True


def _respiratory_findings(vitals: list[VitalsSnapshot], tz: dt.tzinfo) -> list[str]:
    """Critical SpO2 or respiratory-rate findings after the dose, with their time.

    Before the dose a low SpO2 is not the drug's respiratory depression: it makes the vitals
    unacceptable before dosing instead.
    """
    return [
        f"{f.message} ({v.taken_at.astimezone(tz):%H:%M})".strip()
        for v in vitals
        if not v.pre_dose
        for f in v.findings
        if f.severity == "critical" and f.field in _RESPIRATORY_FIELDS
    ]


def build(data: FormInput) -> RemsForm:
    vitals = sorted(data.vitals, key=lambda v: v.taken_at)
    with_bp = [v for v in vitals if v.systolic is not None and v.diastolic is not None]
    before = [v for v in with_bp if v.pre_dose]
    baseline = before[-1] if before else None
    at_40 = None
    if data.first_dose_at is not None:
        target = data.first_dose_at + dt.timedelta(minutes=40)
        near = [v for v in with_bp if not v.pre_dose and abs(v.taken_at - target) <= BP_AT_40_TOLERANCE]
        at_40 = min(near, key=lambda v: abs(v.taken_at - target)) if near else None
    before_leaving = None
    if data.discharged_at is not None:
        post = [v for v in with_bp if not v.pre_dose and v.taken_at <= data.discharged_at]
        before_leaving = post[-1] if post else None
    minutes = None
    if data.first_dose_at is not None and data.discharged_at is not None:
        minutes = int((data.discharged_at - data.first_dose_at).total_seconds() // 60)
    treatment_day = data.treatment_day
    respiratory = [*data.respiratory_notes, *_respiratory_findings(vitals, data.tz)]
    values: dict[str, Any] = {
        "patient_name": data.patient_name or None,
        "patient_birthdate": data.patient_birthdate.isoformat() if data.patient_birthdate else None,
        "patient_sex": data.patient_sex or None,
        "rems_patient_id": data.rems_patient_id or None,
        # Enrollment is what the nurse confirmed at the pre-dose checks (the dose gate requires it),
        # not merely that an id is on file.
        "enrolled_in_rems": _yes_no(data.rems_enrollment_confirmed and bool(data.rems_patient_id)),
        "first_treatment": _yes_no(data.first_treatment),
        "concomitant_benzodiazepines": _yes_no(data.benzodiazepines),
        "concomitant_non_benzodiazepine_sedative_hypnotics": _yes_no(data.sedative_hypnotics),
        "concomitant_psychostimulants": _yes_no(data.psychostimulants),
        "concomitant_maois": _yes_no(data.maois),
        "monitoring_clinician_name": data.clinician_name or None,
        "monitoring_clinician_phone": data.clinician_phone or None,
        "monitoring_clinician_email": data.clinician_email or None,
        "setting_name": data.setting_name or None,
        "setting_address": data.setting_address or None,
        "treatment_date": treatment_day.isoformat() if treatment_day else None,
        "dose": _dose_label(data.device_count),
        "dose_mg": data.device_count * 28 or None,
        "lot_numbers": ", ".join(sorted(set(data.lot_numbers))) or None,
        "minutes_first_device_to_end_of_monitoring": minutes,
        "minutes_until_ready_without_two_hour_rule": data.ready_minutes_without_rule,
        "vitals_acceptable_before_dosing": _yes_no(_acceptable_before_dosing([v for v in vitals if v.pre_dose])),
        "vitals_acceptable_before_leaving": _yes_no(data.vitals_within_limits_at_discharge),
        "bp_before_dosing": _bp(baseline),
        "bp_at_40_minutes": _bp(at_40),
        "bp_before_leaving": _bp(before_leaving),
        "pulse_oximetry_used": _yes_no(any(v.spo2 is not None for v in vitals) if vitals else None),
        "sedation": _yes_no(bool(data.sedation_notes)),
        "sedation_detail": "; ".join(data.sedation_notes) or None,
        "dissociation": _yes_no(bool(data.dissociation_notes)),
        "dissociation_detail": "; ".join(data.dissociation_notes) or None,
        "respiratory_depression": _yes_no(bool(respiratory)),
        "respiratory_depression_detail": "; ".join(respiratory) or None,
        "serious_adverse_events": _yes_no(bool(data.serious_events)),
        "serious_adverse_event_details": "; ".join(data.serious_events) or None,
        "due_by": (treatment_day + dt.timedelta(days=SUBMIT_WITHIN_DAYS)).isoformat() if treatment_day else None,
    }
    missing = [name for name, required in FIELDS if required and values[name] is None]
    if minutes is not None and minutes < MIN_MONITORING_MINUTES:
        # Not missing, but the REMS requires at least 2 hours: say so rather than file it silently.
        missing.append("minutes_first_device_to_end_of_monitoring (under 120: prescriber override recorded)")
    return RemsForm(fields={name: values[name] for name, _ in FIELDS}, missing=missing)


def as_csv_rows(form: RemsForm) -> list[tuple[str, str]]:
    rows = [("field", "value")]
    rows += [(name, "" if value is None else str(value)) for name, value in form.fields.items()]
    rows.append(("missing", "; ".join(form.missing)))
    return rows
