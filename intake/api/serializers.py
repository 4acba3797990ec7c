"""Serializers of the intake API. The patient-link ones show only what the patient gave or needs."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.access import Perm
from clinic.api.serializers import ClinicField, StrictSerializer
from clinic.models import Modality
from intake.models import Assessment, CandidacyDecision, FormInvitation, Questionnaire, RiskAssessment
from intake.selectors import latest_risk_level

# --- questionnaires ---------------------------------------------------------------------------------


class QuestionnaireSerializer(serializers.ModelSerializer):
    description = serializers.SerializerMethodField()
    items = serializers.SerializerMethodField()

    class Meta:
        model = Questionnaire
        fields = [
            "id",
            "clinic",
            "code",
            "version",
            "title",
            "kind",
            "scoring",
            "in_intake",
            "active",
            "description",
            "items",
        ]
        read_only_fields = fields

    def get_description(self, questionnaire: Questionnaire) -> str:
        return questionnaire.definition.get("description", "")

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_items(self, questionnaire: Questionnaire) -> list:
        return questionnaire.items


class QuestionnaireCreateSerializer(StrictSerializer):
    clinic = ClinicField(Perm.QUESTIONNAIRE_MANAGE)
    definition = serializers.JSONField(help_text="A definition in the engine's format (see intake.engine).")
    in_intake = serializers.BooleanField(default=False)

    def validate_definition(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value


class QuestionnaireUpdateSerializer(StrictSerializer):
    active = serializers.BooleanField()
    in_intake = serializers.BooleanField()


# --- invitations (staff side) --------------------------------------------------------------------------


class InvitationSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()
    questionnaires = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = FormInvitation
        fields = [
            "id",
            "patient",
            "purpose",
            "state",
            "questionnaires",
            "created_at",
            "expires_at",
            "first_saved_at",
            "submitted_at",
            "revoked_at",
        ]
        read_only_fields = fields

    def get_state(self, invitation: FormInvitation) -> str:
        return invitation.state()


class IssuedInvitationSerializer(InvitationSerializer):
    url = serializers.CharField(help_text="The patient's single-purpose link. Shown once; only its hash is stored.")

    class Meta(InvitationSerializer.Meta):
        fields = ["url", *InvitationSerializer.Meta.fields]
        read_only_fields = fields


# --- forms (patient side) ------------------------------------------------------------------------------


class FormClinicSerializer(serializers.Serializer):
    name = serializers.CharField()
    phone = serializers.CharField()


class FormQuestionnaireSerializer(serializers.Serializer):
    code = serializers.CharField()
    version = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    items = serializers.JSONField()
    status = serializers.CharField(help_text="not_started, draft")
    answers = serializers.JSONField()
    prefilled = serializers.BooleanField(help_text="Answers copied from the last visit, to confirm.")


class FormSerializer(serializers.Serializer):
    clinic = FormClinicSerializer()
    purpose = serializers.CharField()
    expires_at = serializers.DateTimeField()
    questionnaires = FormQuestionnaireSerializer(many=True)


class DraftInputSerializer(StrictSerializer):
    answers = serializers.DictField(help_text="linkId -> answer; repeating groups take a list of rows.")


class DraftOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.CharField()
    answers = serializers.JSONField()
    cleared = serializers.ListField(
        child=serializers.CharField(), help_text="Answers dropped because other answers hide those questions."
    )
    saved_at = serializers.DateTimeField()


class SubmitOutputSerializer(serializers.Serializer):
    submitted_at = serializers.DateTimeField()
    message = serializers.CharField()
    risk_signalled = serializers.BooleanField()
    crisis_resources = serializers.CharField(allow_null=True)


# --- assessments ---------------------------------------------------------------------------------------


class DecisionSerializer(serializers.ModelSerializer):
    decided_by = serializers.CharField(source="decided_by.username")

    class Meta:
        model = CandidacyDecision
        fields = ["id", "decision", "modalities", "rationale", "decided_by", "decided_at", "expires_at"]
        read_only_fields = fields


class DecisionInputSerializer(StrictSerializer):
    decision = serializers.ChoiceField(choices=CandidacyDecision.Decision.choices)
    modalities = serializers.ListField(
        child=serializers.ChoiceField(choices=Modality.choices), required=False, default=list
    )
    rationale = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class AssessmentListSerializer(serializers.ModelSerializer):
    patient_name = serializers.SerializerMethodField()
    patient_mrn = serializers.CharField(source="patient.mrn")
    risk_level = serializers.SerializerMethodField()
    modalities = serializers.SerializerMethodField(help_text="modality -> recommendation")
    latest_decision = serializers.SerializerMethodField()

    class Meta:
        model = Assessment
        fields = [
            "id",
            "clinic",
            "patient",
            "patient_name",
            "patient_mrn",
            "recommendation",
            "modalities",
            "status",
            "risk_level",
            "suicidal_ideation_reported",
            "submitted_at",
            "latest_decision",
        ]
        read_only_fields = fields

    def get_patient_name(self, assessment: Assessment) -> str:
        return f"{assessment.patient.first_name} {assessment.patient.last_name}"

    def get_risk_level(self, assessment: Assessment) -> str:
        return latest_risk_level(assessment)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_modalities(self, assessment: Assessment) -> dict:
        return {m: r["recommendation"] for m, r in assessment.modality_results.items()}

    @extend_schema_field(DecisionSerializer(allow_null=True))
    def get_latest_decision(self, assessment: Assessment):
        decisions = list(assessment.decisions.all())
        return DecisionSerializer(decisions[-1]).data if decisions else None


class AssessmentResponseSerializer(serializers.Serializer):
    code = serializers.CharField(source="questionnaire.code")
    version = serializers.CharField(source="questionnaire.version")
    title = serializers.CharField(source="questionnaire.title")
    items = serializers.JSONField(source="questionnaire.items")
    answers = serializers.JSONField()
    score = serializers.JSONField()
    submitted_at = serializers.DateTimeField()


class AssessmentDetailSerializer(AssessmentListSerializer):
    reasons = serializers.SerializerMethodField()
    modality_results = serializers.JSONField()
    scores = serializers.JSONField()
    responses = AssessmentResponseSerializer(source="invitation.responses", many=True)
    decisions = DecisionSerializer(many=True)

    class Meta(AssessmentListSerializer.Meta):
        fields = [
            *AssessmentListSerializer.Meta.fields,
            "age_years",
            "reasons",
            "modality_results",
            "scores",
            "responses",
            "decisions",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_reasons(self, assessment: Assessment) -> list[dict]:
        """Every reason once, with the modalities it applies to."""
        merged: dict[tuple, dict] = {}
        for modality, result in assessment.modality_results.items():
            for reason in result["reasons"]:
                key = (reason["code"], reason["severity"], reason["message"])
                entry = merged.setdefault(key, {**reason, "modalities": []})
                entry["modalities"].append(modality)
        return list(merged.values())


# --- risk assessments ------------------------------------------------------------------------------------


class RiskAssessmentSerializer(serializers.ModelSerializer):
    assessed_by = serializers.CharField(source="assessed_by.username")

    class Meta:
        model = RiskAssessment
        fields = ["id", "patient", "assessment", "level", "method", "note", "assessed_by", "assessed_at"]
        read_only_fields = fields


class RiskAssessmentInputSerializer(StrictSerializer):
    level = serializers.ChoiceField(choices=RiskAssessment.Level.choices)
    method = serializers.CharField(max_length=200)
    note = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    assessment = serializers.IntegerField(required=False, allow_null=True, default=None)


# --- outcomes ---------------------------------------------------------------------------------------


class OutcomePointSerializer(serializers.Serializer):
    date = serializers.DateTimeField()
    total = serializers.IntegerField()
    band = serializers.CharField(allow_null=True)
    source = serializers.CharField(help_text="intake or survey")


class InstrumentOutcomeSerializer(serializers.Serializer):
    baseline = OutcomePointSerializer(allow_null=True)
    latest = OutcomePointSerializer(allow_null=True)
    change = serializers.IntegerField(allow_null=True)
    percent_change = serializers.FloatField(allow_null=True)
    response = serializers.BooleanField(help_text="A drop of at least 50% from baseline.")
    remission = serializers.BooleanField(help_text="Latest score under 5.")
    series = OutcomePointSerializer(many=True)


class OutcomesSerializer(serializers.Serializer):
    patient = serializers.IntegerField()
    instruments = serializers.DictField(child=InstrumentOutcomeSerializer())
