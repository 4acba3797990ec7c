"""Questionnaires, patient links, responses, candidacy assessments, decisions and risk assessments.

Definitions are versioned rows: a response points at the exact version it answered, and a
definition is never edited once saved (a change is a new version). Submitted responses,
assessments, decisions and risk assessments are append-only; the latest decision governs.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinic.models import Clinic, Patient, User


class Questionnaire(models.Model):
    """One version of a questionnaire definition (FHIR-Questionnaire-shaped JSON, see intake.engine)."""

    class Kind(models.TextChoices):
        INSTRUMENT = "instrument", _("Scored instrument")
        CANDIDACY = "candidacy", _("Candidacy questionnaire")
        CUSTOM = "custom", _("Clinic's own questionnaire")

    clinic = models.ForeignKey(
        Clinic,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="questionnaires",
        help_text=_("Empty for the questionnaires shipped with the product."),
    )
    code = models.SlugField(max_length=60)
    version = models.CharField(max_length=20)
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    scoring = models.CharField(max_length=20, blank=True, help_text=_("Scoring rule key (phq9, gad7, pcl5)."))
    definition = models.JSONField()
    in_intake = models.BooleanField(default=False, help_text=_("Asked in every candidacy intake."))
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["code", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "version"], condition=Q(clinic__isnull=True), name="questionnaire_shipped_unique"
            ),
            models.UniqueConstraint(
                fields=["clinic", "code", "version"],
                condition=Q(clinic__isnull=False),
                name="questionnaire_clinic_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}"

    @property
    def items(self) -> list:
        return self.definition.get("item", [])


class FormInvitation(models.Model):
    """A single-purpose link to fill in a set of questionnaires (a candidacy intake or a survey).

    Only SHA-256 hashes of its tokens are stored (``InvitationToken``), so a database leak does not
    hand out working links. An invitation may have several tokens: each message that carries
    the link (the invitation, each reminder) mints its own, all valid until the invitation ends.
    """

    class Purpose(models.TextChoices):
        INTAKE = "intake", _("Candidacy intake")
        SURVEY = "survey", _("Follow-up survey")

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="form_invitations")
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    questionnaires = models.ManyToManyField(Questionnaire, through="InvitationQuestionnaire", related_name="+")
    prefilled_from = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    first_saved_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["patient", "purpose", "-created_at"], name="invitation_patient_idx")]

    def __str__(self) -> str:
        return f"{self.purpose} invitation {self.pk}"

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if self.submitted_at:
            return "submitted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "in_progress" if self.first_saved_at else "open"


class InvitationToken(models.Model):
    """One link to an invitation, stored only as the SHA-256 of the token."""

    invitation = models.ForeignKey(FormInvitation, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"token {self.pk} of invitation {self.invitation_id}"


class InvitationQuestionnaire(models.Model):
    """The questionnaires a link asks for, in the order the patient sees them."""

    invitation = models.ForeignKey(FormInvitation, on_delete=models.CASCADE)
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.PROTECT)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["invitation_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invitation", "questionnaire"], name="invitation_questionnaire_unique"),
            models.UniqueConstraint(fields=["invitation", "position"], name="invitation_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.invitation_id}:{self.position}"


class QuestionnaireResponse(models.Model):
    """A patient's answers to one questionnaire version: a draft until submitted, then frozen."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted")

    invitation = models.ForeignKey(FormInvitation, on_delete=models.PROTECT, related_name="responses")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="questionnaire_responses")
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.PROTECT, related_name="responses")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    answers = models.JSONField(default=dict, blank=True)
    prefilled = models.BooleanField(
        default=False, help_text=_("Copied from the patient's previous intake for them to confirm.")
    )
    score = models.JSONField(null=True, blank=True)
    total = models.SmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invitation_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["invitation", "questionnaire"], name="response_one_per_questionnaire"),
        ]
        indexes = [models.Index(fields=["patient", "submitted_at"], name="response_patient_time_idx")]

    def __str__(self) -> str:
        return f"response {self.pk} ({self.status})"


class Assessment(models.Model):
    """The candidacy assessment made from one submitted intake: what the rules recommend, and why."""

    class Status(models.TextChoices):
        PENDING = "pending_review", _("Waiting for a prescriber")
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")
        NEEDS_INFO = "needs_info", _("More information needed")

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="assessments")
    invitation = models.OneToOneField(FormInvitation, on_delete=models.PROTECT, related_name="assessment")
    recommendation = models.CharField(max_length=20)
    modality_results = models.JSONField(help_text=_("Per modality: recommendation and reasons."))
    scores = models.JSONField(default=dict)
    suicidal_ideation_reported = models.BooleanField(default=False)
    age_years = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        indexes = [models.Index(fields=["clinic", "status", "-submitted_at"], name="assessment_queue_idx")]

    def __str__(self) -> str:
        return f"assessment {self.pk} ({self.status})"


class CandidacyDecision(models.Model):
    """A prescriber's decision on an assessment. Append-only: the latest one governs."""

    class Decision(models.TextChoices):
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")
        NEEDS_INFO = "needs_info", _("More information needed")

    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="decisions")
    decision = models.CharField(max_length=20, choices=Decision.choices)
    modalities = models.JSONField(default=list, blank=True)
    rationale = models.TextField(blank=True)
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["decided_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(decision="approved") | Q(expires_at__isnull=False),
                name="decision_approval_expires",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision} decision {self.pk}"


class RiskAssessment(models.Model):
    """A clinician-entered suicide-risk assessment (the product ships no C-SSRS text; see CLINICAL.md)."""

    class Level(models.TextChoices):
        NONE = "none", _("None")
        LOW = "low", _("Low")
        MODERATE = "moderate", _("Moderate")
        HIGH = "high", _("High")

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="risk_assessments")
    assessment = models.ForeignKey(
        Assessment, on_delete=models.PROTECT, null=True, blank=True, related_name="risk_assessments"
    )
    level = models.CharField(max_length=10, choices=Level.choices)
    method = models.CharField(
        max_length=200, help_text=_("How risk was assessed, e.g. clinical interview, the clinic's licensed C-SSRS.")
    )
    note = models.TextField(blank=True)
    assessed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    assessed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-assessed_at", "-id"]

    def __str__(self) -> str:
        return f"risk assessment {self.pk} ({self.level})"
