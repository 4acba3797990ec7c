"""Factories for the intake app's models."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from clinic.tokens import token_hash
from intake.models import (
    Assessment,
    CandidacyDecision,
    FormInvitation,
    InvitationQuestionnaire,
    InvitationToken,
    Questionnaire,
    QuestionnaireResponse,
    RiskAssessment,
)
from tests.factories.clinic import ClinicFactory, PatientFactory, UserFactory

CUSTOM_DEFINITION = {
    "code": "clinic-sleep",
    "version": "1",
    "title": "Sleep",
    "kind": "custom",
    "scoring": None,
    "item": [
        {
            "linkId": "sleep-hours",
            "type": "integer",
            "text": "Hours of sleep last night",
            "required": True,
            "minValue": 0,
            "maxValue": 24,
        },
    ],
}


class QuestionnaireFactory(DjangoModelFactory[Questionnaire]):
    class Meta:
        model = Questionnaire

    clinic = factory.SubFactory(ClinicFactory)
    code = factory.Sequence(lambda n: f"custom-{n}")
    version = "1"
    title = "Custom questionnaire"
    kind = Questionnaire.Kind.CUSTOM
    definition = factory.LazyAttribute(lambda q: {**CUSTOM_DEFINITION, "code": q.code, "version": q.version})


class FormInvitationFactory(DjangoModelFactory[FormInvitation]):
    """The row stores only a hash; ``with_token`` also returns the plain token for tests."""

    class Meta:
        model = FormInvitation

    clinic = factory.SubFactory(ClinicFactory)
    patient = factory.SubFactory(PatientFactory, clinic=factory.SelfAttribute("..clinic"))
    purpose = FormInvitation.Purpose.INTAKE
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=7))

    @classmethod
    def with_token(cls, **kwargs) -> tuple[FormInvitation, str]:
        from intake.services.invitations import invitation_token_mint

        invitation = cls(**kwargs)
        return invitation, invitation_token_mint(invitation)


class QuestionnaireResponseFactory(DjangoModelFactory[QuestionnaireResponse]):
    class Meta:
        model = QuestionnaireResponse

    invitation = factory.SubFactory(FormInvitationFactory)
    clinic = factory.SelfAttribute("invitation.clinic")
    patient = factory.SelfAttribute("invitation.patient")
    questionnaire = factory.SubFactory(QuestionnaireFactory, clinic=factory.SelfAttribute("..clinic"))
    answers = factory.LazyFunction(lambda: {"sleep-hours": 7})


class AssessmentFactory(DjangoModelFactory[Assessment]):
    class Meta:
        model = Assessment

    invitation = factory.SubFactory(FormInvitationFactory, submitted_at=factory.LazyFunction(timezone.now))
    clinic = factory.SelfAttribute("invitation.clinic")
    patient = factory.SelfAttribute("invitation.patient")
    recommendation = "eligible"
    modality_results = factory.LazyFunction(
        lambda: {
            m: {"recommendation": "eligible", "reasons": []} for m in ("iv_ketamine", "im_ketamine", "esketamine_nasal")
        }
    )
    age_years = 40


class CandidacyDecisionFactory(DjangoModelFactory[CandidacyDecision]):
    class Meta:
        model = CandidacyDecision

    assessment = factory.SubFactory(AssessmentFactory)
    decision = CandidacyDecision.Decision.APPROVED
    modalities = factory.LazyFunction(lambda: ["iv_ketamine", "esketamine_nasal"])
    rationale = "Meets criteria."
    decided_by = factory.SubFactory(UserFactory)
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=365))


class RiskAssessmentFactory(DjangoModelFactory[RiskAssessment]):
    class Meta:
        model = RiskAssessment

    clinic = factory.SubFactory(ClinicFactory)
    patient = factory.SubFactory(PatientFactory, clinic=factory.SelfAttribute("..clinic"))
    level = RiskAssessment.Level.LOW
    method = "Clinical interview"
    assessed_by = factory.SubFactory(UserFactory)


class InvitationTokenFactory(DjangoModelFactory[InvitationToken]):
    """A link to an invitation. Pass ``token="..."`` to know the plain token: only its hash is stored."""

    class Meta:
        model = InvitationToken
        exclude = ["token"]

    invitation = factory.SubFactory(FormInvitationFactory)
    token = factory.Sequence(lambda n: f"test-link-token-{n:06d}-0123456789abcdef")
    token_hash = factory.LazyAttribute(lambda t: token_hash(t.token))


class InvitationQuestionnaireFactory(DjangoModelFactory[InvitationQuestionnaire]):
    """One questionnaire a link asks for, at ``position`` (0 first)."""

    class Meta:
        model = InvitationQuestionnaire

    invitation = factory.SubFactory(FormInvitationFactory)
    questionnaire = factory.SubFactory(QuestionnaireFactory, clinic=factory.SelfAttribute("..invitation.clinic"))
    position = factory.Sequence(lambda n: n)
