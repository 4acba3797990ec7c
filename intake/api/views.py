"""Thin views of the intake API: staff endpoints, and the patient-link endpoints under forms/."""

from __future__ import annotations

import django_filters as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from clinic import selectors as clinic_selectors
from clinic.access import Perm
from clinic.api.base import ActorMixin, ApiViewSet
from clinic.api.schema import problems
from clinic.errors import NotFound
from clinic.models import AuditEvent
from clinic.services.audit import audit_record
from intake import selectors
from intake.models import Assessment, Questionnaire
from intake.services import decisions as decision_services
from intake.services import forms as form_services
from intake.services import invitations as invitation_services
from intake.services import questionnaires as questionnaire_services

from . import serializers as s

# --- questionnaires -----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(responses={200: s.QuestionnaireSerializer(many=True), **problems(401, 403)}),
    retrieve=extend_schema(responses={200: s.QuestionnaireSerializer, **problems(401, 403, 404)}),
    create=extend_schema(
        description="A clinic's own definition (kind `custom`), validated before it is saved.",
        request=s.QuestionnaireCreateSerializer,
        responses={201: s.QuestionnaireSerializer, **problems(400, 401, 403, 409)},
    ),
    partial_update=extend_schema(
        description="Only `active` and `in_intake` change; a new definition is a new version.",
        request=s.QuestionnaireUpdateSerializer,
        responses={200: s.QuestionnaireSerializer, **problems(400, 401, 403, 404, 409)},
    ),
)
@extend_schema(tags=["questionnaires"])
class QuestionnaireViewSet(ApiViewSet):
    queryset = Questionnaire.objects.none()
    http_method_names = ["get", "post", "patch", "head", "options"]
    required_permissions = {
        "list": Perm.QUESTIONNAIRE_VIEW,
        "retrieve": Perm.QUESTIONNAIRE_VIEW,
        "create": Perm.QUESTIONNAIRE_MANAGE,
        "partial_update": Perm.QUESTIONNAIRE_MANAGE,
    }

    def list(self, request: Request) -> Response:
        return self.paginated(selectors.questionnaire_list(actor=self.actor), s.QuestionnaireSerializer)

    def retrieve(self, request: Request, pk: int) -> Response:
        questionnaire = selectors.questionnaire_get(actor=self.actor, questionnaire_id=pk)
        return self.output(s.QuestionnaireSerializer, questionnaire)

    def create(self, request: Request) -> Response:
        data = self.validated(s.QuestionnaireCreateSerializer)
        questionnaire = questionnaire_services.questionnaire_create(
            actor=self.actor, clinic_id=data["clinic"], definition=data["definition"], in_intake=data["in_intake"]
        )
        return self.output(s.QuestionnaireSerializer, questionnaire, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: int) -> Response:
        questionnaire = selectors.questionnaire_get(
            actor=self.actor, questionnaire_id=pk, perm=Perm.QUESTIONNAIRE_MANAGE
        )
        data = self.validated(s.QuestionnaireUpdateSerializer, partial=True)
        questionnaire = questionnaire_services.questionnaire_update_flags(
            actor=self.actor, questionnaire=questionnaire, data=data
        )
        return self.output(s.QuestionnaireSerializer, questionnaire)


# --- intake invitations --------------------------------------------------------------------------------


class PatientIntakeInvitationsView(ActorMixin, APIView):
    """A patient's intake links: list them, or issue a new one (which replaces any open one)."""

    required_permissions = {"GET": Perm.INTAKE_INVITE, "POST": Perm.INTAKE_INVITE}

    @extend_schema(tags=["intake"], responses={200: s.InvitationSerializer(many=True), **problems(401, 403, 404)})
    def get(self, request: Request, patient_id: int) -> Response:
        patient = clinic_selectors.patient_get(actor=self.actor, patient_id=patient_id, perm=Perm.INTAKE_INVITE)
        invitations = selectors.invitation_list(actor=self.actor, patient_id=patient.pk)
        return Response(s.InvitationSerializer(invitations, many=True).data)

    @extend_schema(
        tags=["intake"], request=None, responses={201: s.IssuedInvitationSerializer, **problems(401, 403, 404, 409)}
    )
    def post(self, request: Request, patient_id: int) -> Response:
        patient = clinic_selectors.patient_get(
            actor=self.actor, patient_id=patient_id, perm=Perm.INTAKE_INVITE, audit=False
        )
        issued = invitation_services.intake_invitation_issue(actor=self.actor, patient=patient)
        issued.invitation.url = issued.url
        return Response(s.IssuedInvitationSerializer(issued.invitation).data, status=status.HTTP_201_CREATED)


class InvitationRevokeView(ActorMixin, APIView):
    required_permissions = {"POST": Perm.INTAKE_INVITE}

    @extend_schema(
        tags=["intake"], request=None, responses={200: s.InvitationSerializer, **problems(401, 403, 404, 409)}
    )
    def post(self, request: Request, invitation_id: int) -> Response:
        invitation = selectors.invitation_get(actor=self.actor, invitation_id=invitation_id)
        invitation = invitation_services.invitation_revoke(actor=self.actor, invitation=invitation)
        return Response(s.InvitationSerializer(invitation).data)


# --- patient links -------------------------------------------------------------------------------------


class PatientLinkView(APIView):
    """Base of the endpoints a patient reaches with a link token: no login, no cookies, no caching."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "patient_link"

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response


TOKEN_PARAMETER = OpenApiParameter("token", str, OpenApiParameter.PATH, description="The link token.")


class FormView(PatientLinkView):
    @extend_schema(
        tags=["forms"],
        parameters=[TOKEN_PARAMETER],
        responses={200: s.FormSerializer, **problems(404, 409, 410, 429)},
        auth=[],
    )
    def get(self, request: Request, token: str) -> Response:
        invitation = selectors.invitation_for_token(token)
        form_services.ensure_open(invitation)
        audit_record(
            actor=None,
            actor_kind=AuditEvent.ActorKind.PATIENT_LINK,
            action=AuditEvent.Action.READ,
            object_type="form_invitation",
            object_id=invitation.pk,
            clinic_id=invitation.clinic_id,
            patient_id=invitation.patient_id,
        )
        clinic = invitation.clinic
        return Response(
            s.FormSerializer(
                {
                    "clinic": {"name": clinic.patient_facing_name, "phone": str(clinic.phone)},
                    "purpose": invitation.purpose,
                    "expires_at": invitation.expires_at,
                    "questionnaires": [
                        {
                            "code": q.code,
                            "version": q.version,
                            "title": q.title,
                            "description": q.definition.get("description", ""),
                            "items": q.items,
                            "status": "draft" if r is not None else "not_started",
                            "answers": r.answers if r is not None else {},
                            "prefilled": bool(r and r.prefilled),
                        }
                        for q, r in selectors.form_contents(invitation)
                    ],
                }
            ).data
        )


class FormDraftView(PatientLinkView):
    @extend_schema(
        tags=["forms"],
        parameters=[TOKEN_PARAMETER],
        request=s.DraftInputSerializer,
        responses={200: s.DraftOutputSerializer, **problems(400, 404, 409, 410, 429)},
        auth=[],
    )
    def put(self, request: Request, token: str, code: str) -> Response:
        invitation = selectors.invitation_for_token(token)
        serializer = s.DraftInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = form_services.form_draft_save(
            invitation=invitation, code=code, answers=serializer.validated_data["answers"]
        )
        return Response(
            s.DraftOutputSerializer(
                {
                    "code": code,
                    "status": result.response.status,
                    "answers": result.response.answers,
                    "cleared": result.cleared,
                    "saved_at": result.response.updated_at,
                }
            ).data
        )


class FormSubmitView(PatientLinkView):
    @extend_schema(
        tags=["forms"],
        parameters=[TOKEN_PARAMETER],
        request=None,
        responses={200: s.SubmitOutputSerializer, **problems(400, 404, 409, 410, 429)},
        auth=[],
    )
    def post(self, request: Request, token: str) -> Response:
        invitation = selectors.invitation_for_token(token)
        result = form_services.form_submit(invitation=invitation)
        message = "Thank you. Your answers were sent to the clinic."
        if result.risk_signalled:
            message += " Someone from the clinic will contact you today."
        return Response(
            s.SubmitOutputSerializer(
                {
                    "submitted_at": result.invitation.submitted_at,
                    "message": message,
                    "risk_signalled": result.risk_signalled,
                    "crisis_resources": result.crisis_resources,
                }
            ).data
        )


# --- assessments ----------------------------------------------------------------------------------------


class AssessmentFilter(filters.FilterSet):
    clinic = filters.NumberFilter(field_name="clinic_id")
    patient = filters.NumberFilter(field_name="patient_id")
    status = filters.ChoiceFilter(choices=Assessment.Status.choices)

    class Meta:
        model = Assessment
        fields = ["clinic", "patient", "status"]


@extend_schema_view(
    list=extend_schema(responses={200: s.AssessmentListSerializer(many=True), **problems(400, 401, 403)}),
    retrieve=extend_schema(responses={200: s.AssessmentDetailSerializer, **problems(401, 403, 404)}),
    decision=extend_schema(
        request=s.DecisionInputSerializer,
        responses={201: s.DecisionSerializer, **problems(400, 401, 403, 404, 409, 422)},
    ),
)
@extend_schema(tags=["assessments"])
class AssessmentViewSet(ApiViewSet):
    queryset = Assessment.objects.none()
    filterset_class = AssessmentFilter
    http_method_names = ["get", "post", "head", "options"]
    required_permissions = {
        "list": Perm.CLINICAL_VIEW,
        "retrieve": Perm.CLINICAL_VIEW,
        "decision": Perm.ASSESSMENT_DECIDE,
    }

    def list(self, request: Request) -> Response:
        actor = self.actor
        return self.paginated(
            selectors.assessment_list(actor=actor),
            s.AssessmentListSerializer,
            on_page=lambda page: selectors.assessments_audit_reads(actor=actor, assessments=page),
        )

    def retrieve(self, request: Request, pk: int) -> Response:
        return self.output(s.AssessmentDetailSerializer, selectors.assessment_get(actor=self.actor, assessment_id=pk))

    @action(detail=True, methods=["post"])
    def decision(self, request: Request, pk: int) -> Response:
        assessment = selectors.assessment_get(
            actor=self.actor, assessment_id=pk, perm=Perm.ASSESSMENT_DECIDE, audit=False
        )
        data = self.validated(s.DecisionInputSerializer)
        record = decision_services.assessment_decide(actor=self.actor, assessment=assessment, **data)
        return self.output(s.DecisionSerializer, record, status=status.HTTP_201_CREATED)


# --- risk assessments ----------------------------------------------------------------------------------


class PatientRiskAssessmentsView(ActorMixin, APIView):
    """Clinician-entered suicide-risk assessments of a patient (a high level opens an alert)."""

    required_permissions = {"GET": Perm.CLINICAL_VIEW, "POST": Perm.RISK_ASSESS}

    @extend_schema(
        tags=["assessments"], responses={200: s.RiskAssessmentSerializer(many=True), **problems(401, 403, 404)}
    )
    def get(self, request: Request, patient_id: int) -> Response:
        patient = clinic_selectors.patient_get(actor=self.actor, patient_id=patient_id, perm=Perm.CLINICAL_VIEW)
        return Response(
            s.RiskAssessmentSerializer(
                selectors.risk_assessment_list(actor=self.actor, patient_id=patient.pk), many=True
            ).data
        )

    @extend_schema(
        tags=["assessments"],
        request=s.RiskAssessmentInputSerializer,
        responses={201: s.RiskAssessmentSerializer, **problems(400, 401, 403, 404)},
    )
    def post(self, request: Request, patient_id: int) -> Response:
        patient = clinic_selectors.patient_get(
            actor=self.actor, patient_id=patient_id, perm=Perm.RISK_ASSESS, audit=False
        )
        data = self.validated(s.RiskAssessmentInputSerializer)
        assessment = None
        if data["assessment"] is not None:
            assessment = selectors.assessment_get(actor=self.actor, assessment_id=data["assessment"], audit=False)
            if assessment.patient_id != patient.pk:
                raise NotFound()
        record = decision_services.risk_assessment_record(
            actor=self.actor,
            patient=patient,
            level=data["level"],
            method=data["method"],
            note=data["note"],
            assessment=assessment,
        )
        return Response(s.RiskAssessmentSerializer(record).data, status=status.HTTP_201_CREATED)


class PatientOutcomesView(ActorMixin, APIView):
    """How the patient's PHQ-9 and GAD-7 scores moved since the intake."""

    required_permissions = {"GET": Perm.CLINICAL_VIEW}

    @extend_schema(tags=["assessments"], responses={200: s.OutcomesSerializer, **problems(401, 403, 404)})
    def get(self, request: Request, patient_id: int) -> Response:
        return Response(s.OutcomesSerializer(selectors.patient_outcomes(actor=self.actor, patient_id=patient_id)).data)
