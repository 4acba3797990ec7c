"""Patient links: issuing and revoking them, and the candidacy status they drive.

A link is for one patient and one purpose. Issuing a new intake link revokes the patient's
older unsubmitted ones, so only one intake is ever open. A returning patient's candidacy
questionnaires are pre-filled from their last submitted intake, for them to confirm.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from clinic.access import Actor, Perm
from clinic.errors import Conflict
from clinic.models import AuditEvent, CandidacyStatus, Patient
from clinic.services.audit import audit_record
from clinic.tokens import new_token
from intake import engine
from intake.candidacy import Recommendation
from intake.models import (
    Assessment,
    CandidacyDecision,
    FormInvitation,
    InvitationQuestionnaire,
    InvitationToken,
    Questionnaire,
    QuestionnaireResponse,
)

from .questionnaires import questionnaire_set


@dataclass(frozen=True)
class IssuedLink:
    invitation: FormInvitation
    token: str  # shown once, never stored

    @property
    def url(self) -> str:
        return link_url(self.token)


def link_url(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/forms/{token}/"


def invitation_token_mint(invitation: FormInvitation) -> str:
    """A new link to the invitation; only its hash is kept, so call this where the link is handed out."""
    token, digest = new_token()
    InvitationToken.objects.create(invitation=invitation, token_hash=digest)
    return token


def set_questionnaires(invitation: FormInvitation, questionnaires: list[Questionnaire]) -> None:
    InvitationQuestionnaire.objects.bulk_create(
        InvitationQuestionnaire(invitation=invitation, questionnaire=q, position=i)
        for i, q in enumerate(questionnaires)
    )


def _prefill(invitation: FormInvitation, questionnaires: list[Questionnaire], previous: FormInvitation) -> None:
    """Copy the candidacy answers of the previous intake into drafts the patient must confirm.

    Symptom instruments are not copied: they ask about the last weeks and must be answered anew.
    """
    earlier = {
        r.questionnaire.code: r
        for r in previous.responses.select_related("questionnaire").filter(
            status=QuestionnaireResponse.Status.SUBMITTED
        )
    }
    drafts = []
    for questionnaire in questionnaires:
        source = earlier.get(questionnaire.code)
        if questionnaire.kind != Questionnaire.Kind.CANDIDACY or source is None:
            continue
        # Re-check against the new definition version; anything no longer valid is left out.
        cleaned = engine.clean_answers(questionnaire.definition, source.answers, complete=False)
        answers = {k: v for k, v in cleaned.answers.items() if k not in cleaned.errors}
        drafts.append(
            QuestionnaireResponse(
                invitation=invitation,
                clinic_id=invitation.clinic_id,
                patient_id=invitation.patient_id,
                questionnaire=questionnaire,
                answers=answers,
                prefilled=True,
            )
        )
    QuestionnaireResponse.objects.bulk_create(drafts)


@transaction.atomic
def intake_invitation_issue(*, actor: Actor, patient: Patient) -> IssuedLink:
    actor.require(Perm.INTAKE_INVITE, patient.clinic_id)
    if patient.is_archived:
        raise Conflict("This patient is archived.", code="patient_archived")
    clinic = patient.clinic
    now = timezone.now()
    FormInvitation.objects.filter(
        patient=patient, purpose=FormInvitation.Purpose.INTAKE, submitted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    previous = (
        FormInvitation.objects.filter(
            patient=patient, purpose=FormInvitation.Purpose.INTAKE, submitted_at__isnull=False
        )
        .order_by("-submitted_at")
        .first()
    )
    questionnaires = questionnaire_set(clinic_id=clinic.pk)
    invitation = FormInvitation.objects.create(
        clinic=clinic,
        patient=patient,
        purpose=FormInvitation.Purpose.INTAKE,
        prefilled_from=previous,
        created_by=actor.user,
        created_at=now,
        expires_at=now + dt.timedelta(days=clinic.intake_link_valid_days),
    )
    set_questionnaires(invitation, questionnaires)
    token = invitation_token_mint(invitation)
    if previous is not None:
        _prefill(invitation, questionnaires, previous)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        object_type="form_invitation",
        object_id=invitation.pk,
        clinic_id=clinic.pk,
        patient_id=patient.pk,
    )
    candidacy_refresh(patient=patient)
    from intake.messages import intake_invitation_send

    intake_invitation_send(invitation=invitation)
    return IssuedLink(invitation=invitation, token=token)


@transaction.atomic
def invitation_revoke(*, actor: Actor, invitation: FormInvitation) -> FormInvitation:
    actor.require(Perm.INTAKE_INVITE, invitation.clinic_id)
    # Re-read under the row lock that form_submit also takes: the caller's copy may predate a
    # submit, and a submitted intake must never be marked revoked.
    invitation = FormInvitation.objects.select_for_update().select_related("patient").get(pk=invitation.pk)
    if invitation.submitted_at is not None:
        raise Conflict("This link was already used.", code="already_submitted")
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            object_type="form_invitation",
            object_id=invitation.pk,
            clinic_id=invitation.clinic_id,
            patient_id=invitation.patient_id,
            changed_fields=["revoked_at"],
        )
        candidacy_refresh(patient=invitation.patient)
    return invitation


def governing_decision(patient_id: int) -> CandidacyDecision | None:
    """The patient's most recent decision: it governs until a newer one is made."""
    return (
        CandidacyDecision.objects.filter(assessment__patient_id=patient_id)
        .select_related("assessment")
        .order_by("-decided_at", "-id")
        .first()
    )


def newer_assessments(assessment: Assessment) -> QuerySet[Assessment]:
    """The patient's assessments submitted after this one, newest first."""
    return (
        Assessment.objects.filter(patient_id=assessment.patient_id)
        .filter(
            Q(submitted_at__gt=assessment.submitted_at) | Q(submitted_at=assessment.submitted_at, pk__gt=assessment.pk)
        )
        .order_by("-submitted_at", "-id")
    )


def ruled_out_since(assessment: Assessment) -> set[str]:
    """Modalities that an assessment newer than this one found ``not_eligible`` (an absolute stop).

    Once a later intake reveals a contraindication, an approval made on an older intake no longer
    covers that modality, even if a still later intake omits it again: only a prescriber's new
    decision, on the newest assessment, can approve it again.
    """
    ruled_out: set[str] = set()
    for results in newer_assessments(assessment).values_list("modality_results", flat=True):
        ruled_out.update(
            modality
            for modality, result in results.items()
            if result.get("recommendation") == Recommendation.NOT_ELIGIBLE
        )
    return ruled_out


def candidacy_refresh(*, patient: Patient, now: dt.datetime | None = None) -> None:
    """Recompute the patient's candidacy status from links, assessments and decisions.

    A valid approval governs even while a re-assessment is under way, but only for the modalities
    no newer assessment rules out: a label contraindication revealed by a later intake withdraws
    that modality at once (``ruled_out_since``). Modalities the newer intake still allows, even
    with relative flags, keep their approval until it expires or a prescriber decides on the new
    assessment; the new assessment waits in the review queue meanwhile. When nothing approved is
    left, the status falls through to the rest: an open intake link shows its progress, an
    undecided assessment reads "submitted", and the latest decision speaks. "Expired" is derived
    when read (``Patient.candidacy_status_now``).
    """
    now = now or timezone.now()
    decision = governing_decision(patient.pk)
    approved_modalities: list[str] = []
    if decision is not None and decision.decision == CandidacyDecision.Decision.APPROVED:
        ruled_out = ruled_out_since(decision.assessment)
        approved_modalities = [m for m in decision.modalities if m not in ruled_out]
    latest_assessment = Assessment.objects.filter(patient=patient).order_by("-submitted_at", "-id").first()
    open_intake = (
        FormInvitation.objects.filter(
            patient=patient,
            purpose=FormInvitation.Purpose.INTAKE,
            submitted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        )
        .order_by("-created_at")
        .first()
    )
    status, modalities, expires_at = CandidacyStatus.NOT_STARTED, [], None
    approval_valid = (
        bool(approved_modalities)
        and decision is not None
        and decision.expires_at is not None
        and decision.expires_at > now
    )
    if approval_valid:
        status, modalities, expires_at = CandidacyStatus.APPROVED, approved_modalities, decision.expires_at
    elif open_intake is not None and (
        latest_assessment is None or open_intake.created_at > latest_assessment.submitted_at
    ):
        status = CandidacyStatus.IN_PROGRESS if open_intake.first_saved_at else CandidacyStatus.INVITED
    elif latest_assessment is not None and not latest_assessment.decisions.exists():
        status = CandidacyStatus.SUBMITTED
    elif decision is not None:
        status = decision.decision
        if decision.decision == CandidacyDecision.Decision.APPROVED:
            if approved_modalities:
                modalities, expires_at = approved_modalities, decision.expires_at
            else:
                # Every approved modality was ruled out since: nothing stands until a new decision.
                status = CandidacyStatus.SUBMITTED
    Patient.objects.filter(pk=patient.pk).update(
        candidacy_status=status, candidacy_modalities=modalities, candidacy_expires_at=expires_at
    )
    patient.candidacy_status, patient.candidacy_modalities, patient.candidacy_expires_at = (
        status,
        modalities,
        expires_at,
    )
