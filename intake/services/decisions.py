"""A prescriber's candidacy decision, and clinician-entered suicide-risk assessments.

Decisions are append-only and the latest governs. Only the patient's newest assessment can be
decided: an older one is superseded (409 ``assessment_superseded``), because its answers may hide
what the newer intake revealed. Approving a modality the rules refuse outright (a label
contraindication) is impossible; approving one with relative flags needs a written rationale; an
approval lapses after the clinic's validity period, and loses any modality a newer intake rules
out (see ``candidacy_refresh``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from clinic.access import Actor, Perm
from clinic.errors import Conflict, InvalidInput, RuleViolation
from clinic.models import Alert, AuditEvent, Modality, Patient
from clinic.services.alerts import alert_raise
from clinic.services.audit import audit_record
from intake.candidacy import Severity
from intake.models import Assessment, CandidacyDecision, RiskAssessment

from .invitations import candidacy_refresh, newer_assessments

logger = logging.getLogger(__name__)


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day ``months`` later (clamped to the month's end: 31 Jan + 1 month = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _reasons(assessment: Assessment, modality: str, severity: str) -> list[dict]:
    result = assessment.modality_results.get(modality, {})
    return [r for r in result.get("reasons", []) if r["severity"] == severity]


@transaction.atomic
def assessment_decide(
    *, actor: Actor, assessment: Assessment, decision: str, modalities: list[str], rationale: str
) -> CandidacyDecision:
    actor.require(Perm.ASSESSMENT_DECIDE, assessment.clinic_id)
    assessment = Assessment.objects.select_for_update().select_related("clinic").get(pk=assessment.pk)
    # Locked like form_submit locks it, so a newer intake cannot slip in between this check and the write.
    assessment.patient = Patient.objects.select_for_update().get(pk=assessment.patient_id)
    newer = newer_assessments(assessment).first()
    if newer is not None:
        raise Conflict(
            f"Assessment {assessment.pk} is superseded by the patient's newer intake, assessment {newer.pk} "
            f"(submitted {newer.submitted_at.isoformat()}): decide on that one.",
            code="assessment_superseded",
            extra={"superseded_by": newer.pk},
        )
    rationale = (rationale or "").strip()
    modalities = sorted(set(modalities))
    now = timezone.now()
    expires_at = None
    if decision == CandidacyDecision.Decision.APPROVED:
        if not modalities:
            raise InvalidInput(errors={"modalities": ["Choose at least one modality to approve."]})
        unknown = [m for m in modalities if m not in Modality.values]
        if unknown:
            raise InvalidInput(errors={"modalities": [f"Unknown modality: {', '.join(unknown)}."]})
        refused = {m: _reasons(assessment, m, Severity.ABSOLUTE) for m in modalities}
        refused = {m: reasons for m, reasons in refused.items() if reasons}
        if refused:
            raise RuleViolation(
                "An absolute contraindication rules out: " + ", ".join(sorted(refused)) + ".",
                code="absolute_contraindication",
                extra={"contraindications": {m: [r["code"] for r in rs] for m, rs in refused.items()}},
            )
        flagged = sorted(m for m in modalities if _reasons(assessment, m, Severity.RELATIVE))
        if flagged and not rationale:
            raise RuleViolation(
                "Approving despite relative flags needs a rationale: " + ", ".join(flagged) + ".",
                code="rationale_required",
                extra={"flagged_modalities": flagged},
            )
        expires_at = add_months(now, assessment.clinic.candidacy_approval_valid_months)
    else:
        if modalities:
            raise InvalidInput(errors={"modalities": ["Only an approval names modalities."]})
        if not rationale:
            raise InvalidInput(errors={"rationale": ["Say why, for the patient's record and your colleagues."]})
    record = CandidacyDecision.objects.create(
        assessment=assessment,
        decision=decision,
        modalities=modalities,
        rationale=rationale,
        decided_by=actor.user,
        decided_at=now,
        expires_at=expires_at,
    )
    assessment.status = decision
    assessment.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        object_type="candidacy_decision",
        object_id=record.pk,
        clinic_id=assessment.clinic_id,
        patient_id=assessment.patient_id,
    )
    candidacy_refresh(patient=assessment.patient, now=now)
    logger.info("candidacy.decided", extra={"assessment_id": assessment.pk, "decision": decision})
    return record


@transaction.atomic
def risk_assessment_record(
    *,
    actor: Actor,
    patient: Patient,
    level: str,
    method: str,
    note: str = "",
    assessment: Assessment | None = None,
) -> RiskAssessment:
    """Record a clinician's suicide-risk assessment; a high level opens a critical alert."""
    actor.require(Perm.RISK_ASSESS, patient.clinic_id)
    if assessment is not None and assessment.patient_id != patient.pk:
        raise InvalidInput(errors={"assessment": ["That assessment belongs to another patient."]})
    record = RiskAssessment.objects.create(
        clinic_id=patient.clinic_id,
        patient=patient,
        assessment=assessment,
        level=level,
        method=method.strip(),
        note=note.strip(),
        assessed_by=actor.user,
    )
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        object_type="risk_assessment",
        object_id=record.pk,
        clinic_id=patient.clinic_id,
        patient_id=patient.pk,
    )
    if level == RiskAssessment.Level.HIGH:
        alert_raise(
            clinic_id=patient.clinic_id,
            patient_id=patient.pk,
            kind=Alert.Kind.SUICIDE_RISK,
            severity=Alert.Severity.CRITICAL,
            message="Clinician assessed suicide risk as high: act on the safety plan today.",
            source_type="risk_assessment",
            source_id=record.pk,
            dedupe_key=f"risk-assessment:{record.pk}",
        )
    return record
