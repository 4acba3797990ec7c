"""Every read of the intake app, scoped to the actor (or, for patient links, to the token).

Reads of answers, scores, assessments and decisions are clinical data: the selectors that
return them record the READ audit event. Front desk never reaches them (CLINICAL_VIEW).
"""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from clinic.access import Actor, Perm
from clinic.errors import NotFound
from clinic.models import AuditEvent
from clinic.services.audit import audit_record, audit_record_many
from clinic.tokens import token_hash

from .models import Assessment, CandidacyDecision, FormInvitation, Questionnaire, QuestionnaireResponse, RiskAssessment


def questionnaire_list(*, actor: Actor, perm: Perm = Perm.QUESTIONNAIRE_VIEW) -> QuerySet[Questionnaire]:
    """Shipped definitions plus those of the actor's clinics."""
    return Questionnaire.objects.filter(Q(clinic__isnull=True) | Q(clinic_id__in=actor.clinics_with(perm))).order_by(
        "code", "-created_at", "-id"
    )


def questionnaire_get(*, actor: Actor, questionnaire_id: int, perm: Perm = Perm.QUESTIONNAIRE_VIEW) -> Questionnaire:
    questionnaire = questionnaire_list(actor=actor, perm=perm).filter(pk=questionnaire_id).first()
    if questionnaire is None:
        raise NotFound()
    return questionnaire


def invitation_list(*, actor: Actor, patient_id: int) -> QuerySet[FormInvitation]:
    return FormInvitation.objects.filter(
        patient_id=patient_id, clinic_id__in=actor.clinics_with(Perm.INTAKE_INVITE)
    ).prefetch_related("questionnaires")


def invitation_get(*, actor: Actor, invitation_id: int) -> FormInvitation:
    invitation = (
        FormInvitation.objects.filter(pk=invitation_id, clinic_id__in=actor.clinics_with(Perm.INTAKE_INVITE))
        .select_related("patient")
        .first()
    )
    if invitation is None:
        raise NotFound()
    return invitation


def invitation_for_token(token: str) -> FormInvitation:
    """The link's invitation, or 404 for a token that never existed (no hint which part was wrong)."""
    invitation = (
        FormInvitation.objects.select_related("clinic", "patient").filter(tokens__token_hash=token_hash(token)).first()
    )
    if invitation is None:
        raise NotFound("This link is not valid. Please check it or contact the clinic.", code="link_invalid")
    return invitation


def form_contents(invitation: FormInvitation) -> list[tuple[Questionnaire, QuestionnaireResponse | None]]:
    """What the link asks for, in order, with any saved draft (the patient's own answers only)."""
    responses = {r.questionnaire_id: r for r in invitation.responses.all()}
    ordered = invitation.questionnaires.order_by("invitationquestionnaire__position")
    return [(q, responses.get(q.pk)) for q in ordered]


def assessment_list(*, actor: Actor) -> QuerySet[Assessment]:
    return (
        Assessment.objects.filter(clinic_id__in=actor.clinics_with(Perm.CLINICAL_VIEW))
        .select_related("patient")
        .prefetch_related(
            Prefetch(
                "decisions",
                queryset=CandidacyDecision.objects.select_related("decided_by").order_by("decided_at", "id"),
            ),
            Prefetch("patient__risk_assessments", queryset=RiskAssessment.objects.order_by("-assessed_at", "-id")),
        )
        .order_by("-submitted_at", "-id")
    )


def assessments_audit_reads(*, actor: Actor, assessments: list[Assessment]) -> None:
    audit_record_many(
        actor=actor, object_type="assessment", records=((a.clinic_id, a.patient_id, a.pk) for a in assessments)
    )


def assessment_get(
    *, actor: Actor, assessment_id: int, perm: Perm = Perm.CLINICAL_VIEW, audit: bool = True
) -> Assessment:
    assessment = (
        assessment_list(actor=actor)
        .filter(pk=assessment_id, clinic_id__in=actor.clinics_with(perm))
        .prefetch_related(
            Prefetch(
                "invitation__responses",
                queryset=QuestionnaireResponse.objects.select_related("questionnaire").order_by("id"),
            ),
        )
        .first()
    )
    if assessment is None:
        raise NotFound()
    if audit:
        audit_record(
            actor=actor,
            action=AuditEvent.Action.READ,
            object_type="assessment",
            object_id=assessment.pk,
            clinic_id=assessment.clinic_id,
            patient_id=assessment.patient_id,
        )
    return assessment


def risk_assessment_list(*, actor: Actor, patient_id: int) -> list[RiskAssessment]:
    """A patient's suicide-risk assessments, newest first; each one shown is a clinical read, audited
    as ``risk_assessment`` (one INSERT for the whole list)."""
    records = list(
        RiskAssessment.objects.filter(patient_id=patient_id, clinic_id__in=actor.clinics_with(Perm.CLINICAL_VIEW))
        .select_related("assessed_by")
        .order_by("-assessed_at", "-id")
    )
    audit_record_many(
        actor=actor, object_type="risk_assessment", records=((r.clinic_id, r.patient_id, r.pk) for r in records)
    )
    return records


def latest_risk_level(assessment: Assessment) -> str:
    """The patient's latest clinician-entered suicide-risk level, else "not_assessed".

    Uses the prefetched, newest-first ``patient.risk_assessments`` (no query per row).
    """
    latest = next(iter(assessment.patient.risk_assessments.all()), None)
    return latest.level if latest else "not_assessed"


OUTCOME_INSTRUMENTS = ("phq9", "gad7")


def patient_outcomes(*, actor: Actor, patient_id: int) -> dict:
    """PHQ-9 and GAD-7 over time: baseline (the intake score), latest, change, response, remission.

    Response is a drop of at least 50% from baseline; remission a latest score under 5
    (CLINICAL.md; for GAD-7 the same cut-off is the common convention).
    """
    from clinic.selectors import patient_get

    from .scoring import outcome

    patient = patient_get(actor=actor, patient_id=patient_id, perm=Perm.CLINICAL_VIEW)
    responses = (
        QuestionnaireResponse.objects.filter(
            patient=patient,
            status=QuestionnaireResponse.Status.SUBMITTED,
            questionnaire__code__in=OUTCOME_INSTRUMENTS,
        )
        .select_related("questionnaire", "invitation")
        .order_by("submitted_at", "id")
    )
    series: dict[str, list[dict]] = {code: [] for code in OUTCOME_INSTRUMENTS}
    for r in responses:
        series[r.questionnaire.code].append(
            {
                "date": r.submitted_at,
                "total": r.total,
                "band": (r.score or {}).get("band"),
                "source": r.invitation.purpose,
            }
        )
    result = {}
    for code, points in series.items():
        intake = [p for p in points if p["source"] == FormInvitation.Purpose.INTAKE]
        baseline = intake[0] if intake else (points[0] if points else None)
        latest = points[-1] if points else None
        numbers = outcome(baseline["total"] if baseline else None, latest["total"] if latest else None)
        result[code] = {
            "baseline": baseline,
            "latest": latest,
            "change": numbers.change,
            "percent_change": numbers.percent_change,
            "response": numbers.response,
            "remission": numbers.remission,
            "series": points,
        }
    return {"patient": patient.pk, "instruments": result}
