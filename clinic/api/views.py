"""Thin HTTP views of the clinic API: parse, call a selector or service, serialize.

Each action names the permission it needs (``required_permissions``); selectors scope every
lookup to the actor's clinics; services do the writing and the auditing.
"""

from __future__ import annotations

from django.contrib.auth import logout as session_logout
from drf_spectacular.utils import extend_schema, extend_schema_view
from knox.models import AuthToken
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from clinic import selectors
from clinic.access import Actor, Perm
from clinic.models import Alert, AuditEvent, Clinic, OutboundMessage, Patient, Room, StaffMember
from clinic.services import alerts as alert_services
from clinic.services import clinics as clinic_services
from clinic.services import patients as patient_services
from clinic.services import rooms as room_services
from clinic.services import staff as staff_services
from clinic.services.auth import auth_token_issue, auth_token_revoke

from . import filters
from . import serializers as s
from .base import ActorMixin, ApiViewSet
from .schema import problems

# --- auth -----------------------------------------------------------------------------------------


class AuthTokenView(APIView):
    """Exchange a username and password for an expiring bearer token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        tags=["auth"],
        request=s.TokenRequestSerializer,
        responses={200: s.TokenResponseSerializer, **problems(400, 401, 429)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = s.TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, expires_at = auth_token_issue(request=request._request, **serializer.validated_data)
        return Response(s.TokenResponseSerializer({"token": token, "expires_at": expires_at}).data)


class LogoutView(APIView):
    """Revoke the token this request was made with (or end the browser session)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["auth"], request=None, responses={204: None, **problems(401)})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, AuthToken):
            auth_token_revoke(user=request.user, token=request.auth)
        else:
            session_logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(ActorMixin, APIView):
    """Who am I, and where do I work in which role."""

    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["auth"], responses={200: s.MeSerializer, **problems(401)})
    def get(self, request: Request) -> Response:
        user = request.user
        return Response(
            s.MeSerializer(
                {
                    "id": user.pk,
                    "username": user.get_username(),
                    "first_name": user.first_name,
                    "last_name": user.last_name,
                    "email": user.email,
                    "memberships": selectors.membership_list(actor=self.actor),
                }
            ).data
        )


# --- clinics --------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(responses={200: s.ClinicOutputSerializer(many=True), **problems(401, 403)}),
    retrieve=extend_schema(responses={200: s.ClinicOutputSerializer, **problems(401, 403, 404)}),
    partial_update=extend_schema(
        request=s.ClinicUpdateSerializer, responses={200: s.ClinicOutputSerializer, **problems(400, 401, 403, 404)}
    ),
)
@extend_schema(tags=["clinics"])
class ClinicViewSet(ApiViewSet):
    queryset = Clinic.objects.none()
    http_method_names = ["get", "patch", "head", "options"]
    required_permissions = {
        "list": Perm.CLINIC_VIEW,
        "retrieve": Perm.CLINIC_VIEW,
        "partial_update": Perm.CLINIC_CONFIGURE,
    }

    def list(self, request: Request) -> Response:
        return self.paginated(selectors.clinic_list(actor=self.actor), s.ClinicOutputSerializer)

    def retrieve(self, request: Request, pk: int) -> Response:
        return self.output(s.ClinicOutputSerializer, selectors.clinic_get(actor=self.actor, clinic_id=pk))

    def partial_update(self, request: Request, pk: int) -> Response:
        clinic = selectors.clinic_get(actor=self.actor, clinic_id=pk, perm=Perm.CLINIC_CONFIGURE)
        data = dict(self.validated(s.ClinicUpdateSerializer, partial=True))
        clinic_services.clinic_update(
            actor=self.actor,
            clinic=clinic,
            data=data,
            opening_hours=data.pop("opening_hours", None),
            closures=data.pop("closures", None),
        )
        return self.output(s.ClinicOutputSerializer, selectors.clinic_get(actor=self.actor, clinic_id=pk))


# --- rooms ----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(responses={200: s.RoomOutputSerializer(many=True), **problems(400, 401, 403)}),
    retrieve=extend_schema(responses={200: s.RoomOutputSerializer, **problems(401, 403, 404)}),
    create=extend_schema(
        request=s.RoomInputSerializer, responses={201: s.RoomOutputSerializer, **problems(400, 401, 403)}
    ),
    partial_update=extend_schema(
        request=s.RoomUpdateSerializer, responses={200: s.RoomOutputSerializer, **problems(400, 401, 403, 404)}
    ),
    destroy=extend_schema(responses={204: None, **problems(401, 403, 404, 409)}),
)
@extend_schema(tags=["rooms"])
class RoomViewSet(ApiViewSet):
    queryset = Room.objects.none()
    filterset_class = filters.RoomFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_permissions = {
        "list": Perm.ROOM_VIEW,
        "retrieve": Perm.ROOM_VIEW,
        "create": Perm.ROOM_MANAGE,
        "partial_update": Perm.ROOM_MANAGE,
        "destroy": Perm.ROOM_MANAGE,
    }

    def list(self, request: Request) -> Response:
        return self.paginated(selectors.room_list(actor=self.actor), s.RoomOutputSerializer)

    def retrieve(self, request: Request, pk: int) -> Response:
        return self.output(s.RoomOutputSerializer, selectors.room_get(actor=self.actor, room_id=pk))

    def create(self, request: Request) -> Response:
        data = self.validated(s.RoomInputSerializer)
        room = room_services.room_create(actor=self.actor, clinic_id=data.pop("clinic"), **data)
        return self.output(s.RoomOutputSerializer, room, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: int) -> Response:
        room = selectors.room_get(actor=self.actor, room_id=pk, perm=Perm.ROOM_MANAGE)
        data = self.validated(s.RoomUpdateSerializer, partial=True)
        return self.output(s.RoomOutputSerializer, room_services.room_update(actor=self.actor, room=room, data=data))

    def destroy(self, request: Request, pk: int) -> Response:
        room = selectors.room_get(actor=self.actor, room_id=pk, perm=Perm.ROOM_MANAGE)
        room_services.room_delete(actor=self.actor, room=room)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- staff ----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(responses={200: s.StaffOutputSerializer(many=True), **problems(400, 401, 403)}),
    retrieve=extend_schema(responses={200: s.StaffOutputSerializer, **problems(401, 403, 404)}),
    create=extend_schema(
        request=s.StaffInputSerializer, responses={201: s.StaffOutputSerializer, **problems(400, 401, 403, 409)}
    ),
    partial_update=extend_schema(
        request=s.StaffUpdateSerializer, responses={200: s.StaffOutputSerializer, **problems(400, 401, 403, 404, 409)}
    ),
    destroy=extend_schema(
        description="Deactivates the membership (records keep pointing at it).",
        responses={204: None, **problems(401, 403, 404, 409)},
    ),
)
@extend_schema(tags=["staff"])
class StaffViewSet(ApiViewSet):
    queryset = StaffMember.objects.none()
    filterset_class = filters.StaffFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_permissions = {
        "list": Perm.STAFF_VIEW,
        "retrieve": Perm.STAFF_VIEW,
        "create": Perm.STAFF_MANAGE,
        "partial_update": Perm.STAFF_MANAGE,
        "destroy": Perm.STAFF_MANAGE,
    }

    def list(self, request: Request) -> Response:
        return self.paginated(selectors.staff_list(actor=self.actor), s.StaffOutputSerializer)

    def retrieve(self, request: Request, pk: int) -> Response:
        return self.output(s.StaffOutputSerializer, selectors.staff_get(actor=self.actor, staff_id=pk))

    def create(self, request: Request) -> Response:
        data = self.validated(s.StaffInputSerializer)
        member = staff_services.staff_create(actor=self.actor, clinic_id=data.pop("clinic"), **data)
        return self.output(s.StaffOutputSerializer, member, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: int) -> Response:
        member = selectors.staff_get(actor=self.actor, staff_id=pk, perm=Perm.STAFF_MANAGE)
        data = self.validated(s.StaffUpdateSerializer, partial=True)
        member = staff_services.staff_update(actor=self.actor, member=member, data=data)
        return self.output(s.StaffOutputSerializer, member)

    def destroy(self, request: Request, pk: int) -> Response:
        member = selectors.staff_get(actor=self.actor, staff_id=pk, perm=Perm.STAFF_MANAGE)
        staff_services.staff_deactivate(actor=self.actor, member=member)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- patients -------------------------------------------------------------------------------------


def _audit_page(actor: Actor):
    return lambda page: selectors.patients_audit_reads(actor=actor, patients=page)


@extend_schema_view(
    list=extend_schema(responses={200: s.PatientOutputSerializer(many=True), **problems(400, 401, 403)}),
    retrieve=extend_schema(responses={200: s.PatientOutputSerializer, **problems(401, 403, 404)}),
    create=extend_schema(
        request=s.PatientInputSerializer, responses={201: s.PatientOutputSerializer, **problems(400, 401, 403)}
    ),
    partial_update=extend_schema(
        request=s.PatientUpdateSerializer,
        responses={200: s.PatientOutputSerializer, **problems(400, 401, 403, 404, 409)},
    ),
    destroy=extend_schema(
        description="Archives the patient: records are never deleted.",
        responses={204: None, **problems(401, 403, 404)},
    ),
    restore=extend_schema(request=None, responses={200: s.PatientOutputSerializer, **problems(401, 403, 404)}),
    search=extend_schema(
        description="Find patients by name, MRN or date of birth. A POST, so no PHI travels in a URL.",
        request=s.PatientSearchSerializer,
        responses={200: s.PatientOutputSerializer(many=True), **problems(400, 401, 403)},
    ),
)
@extend_schema(tags=["patients"])
class PatientViewSet(ApiViewSet):
    queryset = Patient.objects.none()
    filterset_class = filters.PatientFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_permissions = {
        "list": Perm.PATIENT_VIEW,
        "retrieve": Perm.PATIENT_VIEW,
        "search": Perm.PATIENT_VIEW,
        "create": Perm.PATIENT_MANAGE,
        "partial_update": Perm.PATIENT_MANAGE,
        "destroy": Perm.PATIENT_MANAGE,
        "restore": Perm.PATIENT_MANAGE,
    }

    def list(self, request: Request) -> Response:
        patients = selectors.patient_list(actor=self.actor, include_archived=True)
        return self.paginated(patients, s.PatientOutputSerializer, on_page=_audit_page(self.actor))

    @action(detail=False, methods=["post"])
    def search(self, request: Request) -> Response:
        data = self.validated(s.PatientSearchSerializer)
        patients = selectors.patient_search(
            actor=self.actor,
            query=data["query"],
            date_of_birth=data["date_of_birth"],
            clinic_id=data["clinic"],
            include_archived=data["include_archived"],
        )
        page = self.paginate_queryset(patients)
        selectors.patients_audit_reads(actor=self.actor, patients=page)
        return self.get_paginated_response(s.PatientOutputSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: int) -> Response:
        return self.output(s.PatientOutputSerializer, selectors.patient_get(actor=self.actor, patient_id=pk))

    def create(self, request: Request) -> Response:
        data = self.validated(s.PatientInputSerializer)
        patient = patient_services.patient_create(actor=self.actor, clinic_id=data.pop("clinic"), data=data)
        return self.output(s.PatientOutputSerializer, patient, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: int) -> Response:
        patient = selectors.patient_get(actor=self.actor, patient_id=pk, perm=Perm.PATIENT_MANAGE, audit=False)
        serializer = s.PatientUpdateSerializer(
            data=request.data, partial=True, context={**self.get_serializer_context(), "instance": patient}
        )
        serializer.is_valid(raise_exception=True)
        patient = patient_services.patient_update(actor=self.actor, patient=patient, data=serializer.validated_data)
        return self.output(s.PatientOutputSerializer, patient)

    def destroy(self, request: Request, pk: int) -> Response:
        patient = selectors.patient_get(actor=self.actor, patient_id=pk, perm=Perm.PATIENT_MANAGE, audit=False)
        patient_services.patient_archive(actor=self.actor, patient=patient)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: int) -> Response:
        patient = selectors.patient_get(actor=self.actor, patient_id=pk, perm=Perm.PATIENT_MANAGE, audit=False)
        return self.output(
            s.PatientOutputSerializer, patient_services.patient_restore(actor=self.actor, patient=patient)
        )


# --- audit ----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(responses={200: s.AuditEventSerializer(many=True), **problems(400, 401, 403)}),
)
@extend_schema(tags=["audit"])
class AuditEventViewSet(ApiViewSet):
    """Read-only by construction: there is no route that changes or deletes an audit event."""

    queryset = AuditEvent.objects.none()
    filterset_class = filters.AuditEventFilter
    http_method_names = ["get", "head", "options"]
    required_permissions = {"list": Perm.AUDIT_VIEW}

    def list(self, request: Request) -> Response:
        return self.paginated(selectors.audit_event_list(actor=self.actor), s.AuditEventSerializer)


# --- alerts ---------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        description="Open alerts by default (`status=acknowledged` or `all` for the rest).",
        responses={200: s.AlertSerializer(many=True), **problems(400, 401, 403)},
    ),
    retrieve=extend_schema(responses={200: s.AlertSerializer, **problems(401, 403, 404)}),
    acknowledge=extend_schema(
        request=s.AlertAcknowledgeSerializer, responses={200: s.AlertSerializer, **problems(400, 401, 403, 404, 409)}
    ),
)
@extend_schema(tags=["alerts"])
class AlertViewSet(ApiViewSet):
    queryset = Alert.objects.none()
    filterset_class = filters.AlertFilter
    http_method_names = ["get", "post", "head", "options"]
    required_permissions = {
        "list": Perm.ALERT_VIEW,
        "retrieve": Perm.ALERT_VIEW,
        "acknowledge": Perm.ALERT_ACKNOWLEDGE,
    }

    def list(self, request: Request) -> Response:
        actor = self.actor
        return self.paginated(
            selectors.alert_list(actor=actor),
            s.AlertSerializer,
            on_page=lambda page: selectors.alerts_audit_reads(actor=actor, alerts=page),
        )

    def retrieve(self, request: Request, pk: int) -> Response:
        alert = selectors.alert_get(actor=self.actor, alert_id=pk)
        selectors.alerts_audit_reads(actor=self.actor, alerts=[alert])
        return self.output(s.AlertSerializer, alert)

    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: int) -> Response:
        alert = selectors.alert_get(actor=self.actor, alert_id=pk, perm=Perm.ALERT_ACKNOWLEDGE)
        data = self.validated(s.AlertAcknowledgeSerializer)
        alert = alert_services.alert_acknowledge(actor=self.actor, alert=alert, note=data["note"])
        return self.output(s.AlertSerializer, selectors.alert_get(actor=self.actor, alert_id=alert.pk))


# --- delivery log ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        description="Every message scheduled or sent, with its status; failed ones need staff attention.",
        responses={200: s.MessageSerializer(many=True), **problems(400, 401, 403)},
    ),
)
@extend_schema(tags=["notifications"])
class NotificationViewSet(ApiViewSet):
    queryset = OutboundMessage.objects.none()
    filterset_class = filters.MessageFilter
    http_method_names = ["get", "head", "options"]
    required_permissions = {"list": Perm.NOTIFICATION_VIEW}

    def list(self, request: Request) -> Response:
        return self.paginated(selectors.message_list(actor=self.actor), s.MessageSerializer)
