"""What a patient does through a link: save drafts, then submit everything at once.

Submitting validates every questionnaire, scores the instruments, evaluates candidacy (for an
intake), opens a risk alert when an answer signals suicide risk, freezes the answers, and
withdraws any approved modality the new intake rules out, all in one transaction: either the
whole intake is stored and assessed, or nothing changes.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinic.errors import Conflict, Gone, InvalidInput
from clinic.models import Alert, AuditEvent, CandidacyStatus, Patient
from clinic.services.alerts import alert_raise
from clinic.services.audit import audit_record
from intake import candidacy, engine, scoring
from intake.models import Assessment, FormInvitation, Questionnaire, QuestionnaireResponse

from .invitations import candidacy_refresh

logger = logging.getLogger(__name__)

PATIENT_LINK = AuditEvent.ActorKind.PATIENT_LINK


def ensure_open(invitation: FormInvitation, *, now: dt.datetime | None = None) -> None:
    """Refuse a link that can no longer be used, with a reason the patient can act on."""
    state = invitation.state(now)
    if state == "submitted":
        raise Conflict("These answers were already sent. Thank you.", code="already_submitted")
    if state == "revoked":
        raise Gone("This link was replaced or withdrawn. Please contact the clinic.", code="link_revoked")
    if state == "expired":
        raise Gone("This link has expired. Please contact the clinic for a new one.", code="link_expired")


def _response_for(invitation: FormInvitation, code: str) -> QuestionnaireResponse:
    questionnaire = invitation.questionnaires.filter(code=code).first()
    if questionnaire is None:
        raise InvalidInput(errors={"code": ["This link does not ask for that questionnaire."]})
    response, _ = QuestionnaireResponse.objects.get_or_create(
        invitation=invitation,
        questionnaire=questionnaire,
        defaults={"clinic_id": invitation.clinic_id, "patient_id": invitation.patient_id},
    )
    return response


@dataclass(frozen=True)
class DraftResult:
    response: QuestionnaireResponse
    cleared: list[str]


@transaction.atomic
def form_draft_save(*, invitation: FormInvitation, code: str, answers: dict[str, Any]) -> DraftResult:
    """Autosave one questionnaire's answers. Invalid values are refused (400, per question);
    answers to questions that other answers have hidden are dropped and reported in ``cleared``."""
    invitation = FormInvitation.objects.select_for_update().get(pk=invitation.pk)
    ensure_open(invitation)
    response = _response_for(invitation, code)
    result = engine.clean_answers(response.questionnaire.definition, answers, complete=False)
    if result.errors:
        raise InvalidInput(errors={f"answers.{path}": messages for path, messages in result.errors.items()})
    response.answers = result.answers
    response.prefilled = False  # saving is the patient's confirmation of any pre-filled answers
    response.save(update_fields=["answers", "prefilled", "updated_at"])
    if invitation.first_saved_at is None:
        invitation.first_saved_at = timezone.now()
        invitation.save(update_fields=["first_saved_at"])
        if invitation.purpose == FormInvitation.Purpose.INTAKE:
            candidacy_refresh(patient=invitation.patient)
    audit_record(
        actor=None,
        actor_kind=PATIENT_LINK,
        action=AuditEvent.Action.UPDATE,
        object_type="questionnaire_response",
        object_id=response.pk,
        clinic_id=invitation.clinic_id,
        patient_id=invitation.patient_id,
    )
    return DraftResult(response=response, cleared=result.cleared)


@dataclass(frozen=True)
class SubmitResult:
    invitation: FormInvitation
    risk_signalled: bool
    crisis_resources: str | None
    assessment: Assessment | None = None
    scores: dict[str, dict] = field(default_factory=dict)


def age_on(date_of_birth: dt.date, day: dt.date) -> int:
    return day.year - date_of_birth.year - ((day.month, day.day) < (date_of_birth.month, date_of_birth.day))


def _score(questionnaire: Questionnaire, answers: dict, clinic) -> scoring.Score | None:
    if not questionnaire.scoring:
        return None
    options = {"provisional_cutoff": clinic.pcl5_provisional_cutoff} if questionnaire.scoring == "pcl5" else {}
    return scoring.score(questionnaire.scoring, answers, **options)


def _validate_all(invitation: FormInvitation) -> dict[str, tuple[QuestionnaireResponse, dict]]:
    """Clean every questionnaire as complete; collect all errors before refusing."""
    responses = {r.questionnaire_id: r for r in invitation.responses.select_related("questionnaire")}
    cleaned: dict[str, tuple[QuestionnaireResponse, dict]] = {}
    errors: dict[str, list[str]] = {}
    for questionnaire in invitation.questionnaires.order_by("invitationquestionnaire__position"):
        response = responses.get(questionnaire.pk)
        if response is None:
            response = QuestionnaireResponse(
                invitation=invitation,
                clinic_id=invitation.clinic_id,
                patient_id=invitation.patient_id,
                questionnaire=questionnaire,
            )
        if response.prefilled:
            errors[questionnaire.code] = [_("Please review and confirm these answers from your last visit.")]
            continue
        result = engine.clean_answers(questionnaire.definition, response.answers, complete=True)
        for path, messages in result.errors.items():
            errors[f"{questionnaire.code}.{path}"] = messages
        cleaned[questionnaire.code] = (response, result.answers)
    if errors:
        raise InvalidInput("Some answers are missing or need a change; see errors.", errors=errors)
    return cleaned


@transaction.atomic
def form_submit(*, invitation: FormInvitation) -> SubmitResult:
    # The row lock serialises a double-click: the second submit waits, then sees "submitted".
    invitation = FormInvitation.objects.select_for_update().select_related("clinic", "patient").get(pk=invitation.pk)
    ensure_open(invitation)
    now = timezone.now()
    clinic, patient = invitation.clinic, invitation.patient
    cleaned = _validate_all(invitation)

    scores: dict[str, scoring.Score] = {}
    for response, answers in cleaned.values():
        score = _score(response.questionnaire, answers, clinic)
        if score is not None:
            scores[score.instrument] = score
        response.answers = answers
        response.status = QuestionnaireResponse.Status.SUBMITTED
        response.submitted_at = now
        response.score = score.as_dict() if score else None
        response.total = score.total if score else None
        response.save()
        audit_record(
            actor=None,
            actor_kind=PATIENT_LINK,
            action=AuditEvent.Action.CREATE,
            object_type="questionnaire_response",
            object_id=response.pk,
            clinic_id=clinic.pk,
            patient_id=patient.pk,
        )
    invitation.submitted_at = now
    invitation.save(update_fields=["submitted_at"])

    assessment = None
    if invitation.purpose == FormInvitation.Purpose.INTAKE:
        # The patient row lock (also taken by a decision and by booking) serialises this intake
        # with a prescriber deciding and with front desk booking on the old status.
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        assessment = _assess(invitation, patient, cleaned, scores, now)
    risk = _raise_risk_alert(invitation, patient, cleaned, scores)
    if invitation.purpose == FormInvitation.Purpose.INTAKE:
        _refresh_candidacy_after_intake(patient, assessment)
    logger.info("form.submitted", extra={"invitation_id": invitation.pk, "risk": risk})
    return SubmitResult(
        invitation=invitation,
        risk_signalled=risk,
        crisis_resources=clinic.crisis_resources if risk else None,
        assessment=assessment,
        scores={name: s.as_dict() for name, s in scores.items()},
    )


def _assess(
    invitation: FormInvitation, patient: Patient, cleaned: dict, scores: dict[str, scoring.Score], now: dt.datetime
) -> Assessment:
    age = age_on(patient.date_of_birth, timezone.localtime(now, invitation.clinic.tz).date())
    data = candidacy.CandidacyInput(
        age_years=age,
        responses={code: answers for code, (_, answers) in cleaned.items()},
        scores={name: s.as_dict() for name, s in scores.items()},
    )
    results = candidacy.evaluate(data)
    assessment = Assessment.objects.create(
        clinic=invitation.clinic,
        patient=patient,
        invitation=invitation,
        recommendation=candidacy.overall(results),
        modality_results={modality: result.as_dict() for modality, result in results.items()},
        scores=data.scores,
        suicidal_ideation_reported="item9_positive" in (scores["phq9"].flags if "phq9" in scores else ()),
        age_years=age,
        submitted_at=now,
    )
    audit_record(
        actor=None,
        actor_kind=AuditEvent.ActorKind.SYSTEM,
        action=AuditEvent.Action.CREATE,
        object_type="assessment",
        object_id=assessment.pk,
        clinic_id=invitation.clinic_id,
        patient_id=patient.pk,
    )
    return assessment


def _refresh_candidacy_after_intake(patient: Patient, assessment: Assessment) -> None:
    """Recompute the candidacy status; audit any approved modality the new intake rules out.

    ``candidacy_refresh`` withdraws a modality an older approval named once a newer assessment
    finds it ``not_eligible``; that change to what front desk may book is recorded here, in the
    submit's transaction, as a system update of the patient.
    """
    fields = ("candidacy_status", "candidacy_modalities", "candidacy_expires_at")
    before = {name: getattr(patient, name) for name in fields}
    candidacy_refresh(patient=patient)
    withdrawn = before["candidacy_status"] == CandidacyStatus.APPROVED and set(before["candidacy_modalities"]) - set(
        patient.candidacy_modalities
    )
    if not withdrawn:
        return
    audit_record(
        actor=None,
        actor_kind=AuditEvent.ActorKind.SYSTEM,
        action=AuditEvent.Action.UPDATE,
        object_type="patient",
        object_id=patient.pk,
        clinic_id=patient.clinic_id,
        patient_id=patient.pk,
        changed_fields=[name for name in fields if getattr(patient, name) != before[name]],
    )
    logger.info(
        "candidacy.approval_withdrawn",
        extra={"patient_id": patient.pk, "assessment_id": assessment.pk, "withdrawn": len(withdrawn)},
    )


def _raise_risk_alert(invitation: FormInvitation, patient: Patient, cleaned: dict, scores: dict) -> bool:
    """PHQ-9 item 9 above 0 needs same-day clinician follow-up whatever the total (CLINICAL.md)."""
    phq9 = scores.get("phq9")
    if phq9 is None or "item9_positive" not in phq9.flags:
        return False
    response = cleaned["phq9"][0]
    alert_raise(
        clinic_id=invitation.clinic_id,
        patient_id=patient.pk,
        kind=Alert.Kind.SUICIDE_RISK,
        severity=Alert.Severity.CRITICAL,
        message=(
            f"PHQ-9 item 9 (thoughts of self-harm) answered {phq9.details['item9']} of 3 on a "
            f"{'candidacy intake' if invitation.purpose == FormInvitation.Purpose.INTAKE else 'follow-up survey'}: "
            "same-day clinician follow-up."
        ),
        source_type="questionnaire_response",
        source_id=response.pk,
        dedupe_key=f"phq9-item9:{response.pk}",
    )
    return True
