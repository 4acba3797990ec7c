"""Thin views of the scheduling API: treatment types, availability, sessions and series."""

from __future__ import annotations

from contextlib import nullcontext

import django_filters as filters
from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import idempotency
from clinic import selectors as clinic_selectors
from clinic.access import Perm
from clinic.api.base import ActorMixin, ApiViewSet
from clinic.api.schema import problems
from clinic.errors import InvalidInput, NotFound
from scheduling import protocols, selectors
from scheduling.models import Course, Session, TreatmentType
from scheduling.services import booking, configuration, lifecycle
from scheduling.services.series import series_book

from . import serializers as s
from .entries import calendar_entries

IDEMPOTENCY_HEADER = OpenApiParameter(
    idempotency.HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="A client-chosen key (a UUID): a retry returns the first result and books nothing twice.",
)

# --- treatment types and protocols ------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(responses={200: s.TreatmentTypeSerializer(many=True), **problems(401, 403)}),
    retrieve=extend_schema(responses={200: s.TreatmentTypeSerializer, **problems(401, 403, 404)}),
    create=extend_schema(
        request=s.TreatmentTypeInputSerializer, responses={201: s.TreatmentTypeSerializer, **problems(400, 401, 403)}
    ),
    partial_update=extend_schema(
        request=s.TreatmentTypeUpdateSerializer,
        responses={200: s.TreatmentTypeSerializer, **problems(400, 401, 403, 404, 409)},
    ),
    destroy=extend_schema(responses={204: None, **problems(401, 403, 404, 409)}),
)
@extend_schema(tags=["scheduling"])
class TreatmentTypeViewSet(ApiViewSet):
    queryset = TreatmentType.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_permissions = {
        "list": Perm.CLINIC_VIEW,
        "retrieve": Perm.CLINIC_VIEW,
        "create": Perm.SCHEDULING_CONFIGURE,
        "partial_update": Perm.SCHEDULING_CONFIGURE,
        "destroy": Perm.SCHEDULING_CONFIGURE,
    }

    def list(self, request: Request) -> Response:
        return self.paginated(selectors.treatment_type_list(actor=self.actor), s.TreatmentTypeSerializer)

    def retrieve(self, request: Request, pk: int) -> Response:
        treatment_type = selectors.treatment_type_get(actor=self.actor, treatment_type_id=pk)
        return self.output(s.TreatmentTypeSerializer, treatment_type)

    def create(self, request: Request) -> Response:
        data = self.validated(s.TreatmentTypeInputSerializer)
        treatment_type = configuration.treatment_type_create(actor=self.actor, clinic_id=data.pop("clinic"), data=data)
        return self.output(s.TreatmentTypeSerializer, treatment_type, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: int) -> Response:
        treatment_type = selectors.treatment_type_get(
            actor=self.actor, treatment_type_id=pk, perm=Perm.SCHEDULING_CONFIGURE
        )
        data = self.validated(s.TreatmentTypeUpdateSerializer, partial=True)
        treatment_type = configuration.treatment_type_update(actor=self.actor, treatment_type=treatment_type, data=data)
        return self.output(s.TreatmentTypeSerializer, treatment_type)

    def destroy(self, request: Request, pk: int) -> Response:
        treatment_type = selectors.treatment_type_get(
            actor=self.actor, treatment_type_id=pk, perm=Perm.SCHEDULING_CONFIGURE
        )
        configuration.treatment_type_delete(actor=self.actor, treatment_type=treatment_type)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProtocolListView(ActorMixin, APIView):
    """The treatment protocols a series can be booked from (shipped as data)."""

    required_permissions = {"GET": Perm.CLINIC_VIEW}

    @extend_schema(tags=["scheduling"], responses={200: s.ProtocolSerializer(many=True), **problems(401, 403)})
    def get(self, request: Request) -> Response:
        items = [
            {**p.as_dict(), "total_sessions": p.total_sessions}
            for p in sorted(protocols.PROTOCOLS.values(), key=lambda p: p.code)
        ]
        return Response(s.ProtocolSerializer(items, many=True).data)


# --- clinician availability -------------------------------------------------------------------------


class StaffAvailabilityView(ActorMixin, APIView):
    """A clinician's weekly windows (PUT replaces them) and dated time off."""

    required_permissions = {"GET": Perm.SCHEDULING_CONFIGURE, "PUT": Perm.SCHEDULING_CONFIGURE}

    @extend_schema(tags=["staff"], responses={200: s.AvailabilitySerializer, **problems(401, 403, 404)})
    def get(self, request: Request, staff_id: int) -> Response:
        return Response(
            s.AvailabilitySerializer(selectors.staff_availability_get(actor=self.actor, staff_id=staff_id)).data
        )

    @extend_schema(
        tags=["staff"],
        request=s.WeeklyInputSerializer,
        responses={200: s.AvailabilitySerializer, **problems(400, 401, 403, 404)},
    )
    def put(self, request: Request, staff_id: int) -> Response:
        member = selectors.staff_availability_get(actor=self.actor, staff_id=staff_id)
        data = self.validated(s.WeeklyInputSerializer)
        configuration.availability_replace_weekly(actor=self.actor, member=member, windows=data["weekly"])
        return Response(
            s.AvailabilitySerializer(selectors.staff_availability_get(actor=self.actor, staff_id=staff_id)).data
        )


class StaffTimeOffView(ActorMixin, APIView):
    required_permissions = {"POST": Perm.SCHEDULING_CONFIGURE}

    @extend_schema(
        tags=["staff"],
        request=s.TimeOffInputSerializer,
        responses={201: s.TimeOffSerializer, **problems(400, 401, 403, 404)},
    )
    def post(self, request: Request, staff_id: int) -> Response:
        member = selectors.staff_availability_get(actor=self.actor, staff_id=staff_id)
        data = self.validated(s.TimeOffInputSerializer)
        time_off = configuration.time_off_add(actor=self.actor, member=member, **data)
        return Response(s.TimeOffSerializer(time_off).data, status=status.HTTP_201_CREATED)


class StaffTimeOffDetailView(ActorMixin, APIView):
    required_permissions = {"DELETE": Perm.SCHEDULING_CONFIGURE}

    @extend_schema(tags=["staff"], responses={204: None, **problems(401, 403, 404)})
    def delete(self, request: Request, staff_id: int, time_off_id: int) -> Response:
        member = selectors.staff_availability_get(actor=self.actor, staff_id=staff_id)
        time_off = member.time_off.filter(pk=time_off_id).first()
        if time_off is None:
            raise NotFound()
        configuration.time_off_delete(actor=self.actor, time_off=time_off)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- availability search ----------------------------------------------------------------------------


class AvailabilityView(ActorMixin, APIView):
    """Free slots for a treatment type, in the clinic's local time, with who and where could take each."""

    required_permissions = {"GET": Perm.SCHEDULE_VIEW}

    @extend_schema(
        tags=["scheduling"],
        parameters=[s.AvailabilityQuerySerializer],
        responses={200: s.AvailabilityResultSerializer, **problems(400, 401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        query = self.validated(s.AvailabilityQuerySerializer, data=request.query_params.dict())
        treatment_type = selectors.treatment_type_get(
            actor=self.actor, treatment_type_id=query["treatment_type"], perm=Perm.SCHEDULE_VIEW
        )
        patient = None
        if "patient" in query:
            patient = clinic_selectors.patient_get(
                actor=self.actor, patient_id=query["patient"], perm=Perm.SCHEDULE_VIEW, audit=False
            )
            if patient.clinic_id != treatment_type.clinic_id:
                raise InvalidInput(errors={"patient": ["This patient belongs to another clinic."]})
        result = selectors.availability_search(
            treatment_type=treatment_type,
            start=query["start"],
            end=query["end"],
            patient=patient,
            step_minutes=query.get("step"),
            now=timezone.now(),
        )
        ctx = result.context
        rooms = {pk: {"id": pk, "name": room.name} for pk, room in ctx.rooms.items()}
        clinicians = {pk: {"id": pk, "name": info.name} for pk, info in ctx.clinicians.items()}
        return Response(
            {
                "treatment_type": treatment_type.pk,
                "timezone": ctx.clinic.timezone,
                "slots": [
                    {
                        "start": slot.start.isoformat(),
                        "end": slot.end.isoformat(),
                        "rooms": [rooms[r] for r in slot.room_ids],
                        "clinicians": [clinicians[c] for c in slot.clinician_ids],
                    }
                    for slot in result.slots
                ],
            }
        )


# --- sessions -----------------------------------------------------------------------------------------


class SessionFilter(filters.FilterSet):
    start = filters.IsoDateTimeFilter(field_name="ends_at", lookup_expr="gt", help_text="Sessions ending after this.")
    end = filters.IsoDateTimeFilter(
        field_name="starts_at", lookup_expr="lt", help_text="Sessions starting before this."
    )
    clinic = filters.NumberFilter(field_name="clinic_id")
    room = filters.NumberFilter(field_name="room_id")
    clinician = filters.NumberFilter(field_name="clinician_id")
    patient = filters.NumberFilter(field_name="patient_id")
    course = filters.NumberFilter(field_name="course_id")
    status = filters.MultipleChoiceFilter(choices=Session.Status.choices)

    class Meta:
        model = Session
        fields = ["start", "end", "clinic", "room", "clinician", "patient", "course", "status"]


def _resolve_series_inputs(view, data) -> tuple:
    actor = view.actor
    patient = selectors.patient_for_booking(actor=actor, patient_id=data["patient"])
    treatment_type = selectors.treatment_type_get(
        actor=actor, treatment_type_id=data["treatment_type"], perm=Perm.SCHEDULE_MANAGE
    )
    return patient, treatment_type


@extend_schema_view(
    list=extend_schema(responses={200: s.SessionSerializer(many=True), **problems(400, 401, 403)}),
    retrieve=extend_schema(responses={200: s.SessionSerializer, **problems(401, 403, 404)}),
    create=extend_schema(
        parameters=[IDEMPOTENCY_HEADER],
        request=s.SessionBookSerializer,
        responses={201: s.SessionSerializer, **problems(400, 401, 403, 404, 409, 422)},
    ),
    reschedule=extend_schema(
        description=(
            "Move a booked session (scope `this`), it and the later sessions of its course (`following`) or the "
            "whole course (`all`), keeping each session's local time of day. All or nothing: a session that is not "
            "booked answers 409 `invalid_transition`; one move that cannot be placed answers its own code "
            "(`room_unavailable`, `patient_overlap`, ...), several answer 409 `reschedule_conflict` with "
            "`conflicts: [{session, start, code, detail}]`, and nothing moves."
        ),
        request=s.RescheduleSerializer,
        responses={200: s.SessionSerializer(many=True), **problems(400, 401, 403, 404, 409, 422)},
    ),
    cancel=extend_schema(
        description=(
            "Cancel with a reason: booked -> cancelled (flagged late inside the clinic's late-cancel window), or "
            "checked_in -> cancelled for a patient who came but is not dosed, as long as no monitoring record is "
            "open (never flagged late). `scope` as for reschedule; other statuses answer 409 `invalid_transition`."
        ),
        request=s.CancelSerializer,
        responses={200: s.SessionSerializer(many=True), **problems(400, 401, 403, 404, 409)},
    ),
    check_in=extend_schema(
        description=(
            "booked -> checked_in, on the session's day, with the escort who takes the patient home. The session "
            "then goes on to in_progress at the first dose and completed at discharge (monitoring); a patient who "
            "is checked in and then not dosed is cancelled, or discharged without a dose once monitoring started."
        ),
        request=s.CheckInSerializer,
        responses={200: s.SessionSerializer, **problems(400, 401, 403, 404, 409)},
    ),
    no_show=extend_schema(
        description="booked -> no_show, once the start has passed; any other status answers 409 `invalid_transition`.",
        request=None,
        responses={200: s.SessionSerializer, **problems(401, 403, 404, 409)},
    ),
)
@extend_schema(tags=["sessions"])
class SessionViewSet(ApiViewSet):
    queryset = Session.objects.none()
    filterset_class = SessionFilter
    http_method_names = ["get", "post", "head", "options"]
    required_permissions = {
        "list": Perm.SCHEDULE_VIEW,
        "retrieve": Perm.SCHEDULE_VIEW,
        "create": Perm.SCHEDULE_MANAGE,
        "reschedule": Perm.SCHEDULE_MANAGE,
        "cancel": Perm.SCHEDULE_MANAGE,
        "check_in": Perm.SCHEDULE_MANAGE,
        "no_show": Perm.SCHEDULE_MANAGE,
    }

    def list(self, request: Request) -> Response:
        # The calendar: plain rows in, entries out (SessionSerializer's fields, see entries.py).
        actor = self.actor
        sessions = self.filter_queryset(selectors.session_list(actor=actor))
        rows = self.paginate_queryset(selectors.calendar_rows(sessions))
        selectors.calendar_rows_audit_reads(actor=actor, rows=rows)
        return self.get_paginated_response(calendar_entries(rows))

    def retrieve(self, request: Request, pk: int) -> Response:
        session = selectors.session_get(actor=self.actor, session_id=pk)
        selectors.sessions_audit_reads(actor=self.actor, sessions=[session])
        return self.output(s.SessionSerializer, session)

    def _sessions(self, ids: list[int]) -> list[Session]:
        return list(selectors.session_list(actor=self.actor).filter(pk__in=ids))

    def create(self, request: Request) -> Response:
        data = self.validated(s.SessionBookSerializer)
        # The booking is its own transaction, BEGIN and COMMIT carried by its two statements
        # (clinic.db.folded). An Idempotency-Key's claim and result share it; inside a caller's
        # transaction (a test's) it is a savepoint, so a refusal leaves the caller's work intact.
        own = idempotency.request_key(request) is None and not transaction.get_connection().in_atomic_block
        with nullcontext() if own else transaction.atomic():
            claimed = idempotency.begin(request)
            if claimed.replay is not None:
                return self._replay(claimed.replay)
            session = booking.session_book_requested(
                actor=self.actor,
                patient_id=data["patient"],
                treatment_type_id=data["treatment_type"],
                starts_at=data["start"],
                room_id=data["room"],
                clinician_id=data["clinician"],
            )
            idempotency.finish(claimed, status_code=201, resource_type="session", resource_ids=[session.pk])
        # Rendered from the booking in hand (every field the entry shows is on it): no read-back.
        return self.output(s.SessionSerializer, session, status=status.HTTP_201_CREATED)

    def _replay(self, stored) -> Response:
        sessions = self._sessions(stored.resource_ids)
        return Response(s.SessionSerializer(sessions[0]).data, status=stored.status_code)

    def _session_for_change(self, pk: int) -> Session:
        return selectors.session_get(actor=self.actor, session_id=pk, perm=Perm.SCHEDULE_MANAGE)

    @action(detail=True, methods=["post"])
    def reschedule(self, request: Request, pk: int) -> Response:
        session = self._session_for_change(pk)
        data = self.validated(s.RescheduleSerializer)
        moved = lifecycle.session_reschedule(
            actor=self.actor,
            session=session,
            new_start=data["start"],
            scope=data["scope"],
            room_id=data["room"],
            clinician_id=data["clinician"],
        )
        return Response(s.SessionSerializer(self._sessions([m.pk for m in moved]), many=True).data)

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: int) -> Response:
        session = self._session_for_change(pk)
        data = self.validated(s.CancelSerializer)
        cancelled = lifecycle.session_cancel(
            actor=self.actor, session=session, reason=data["reason"], scope=data["scope"]
        )
        return Response(s.SessionSerializer(self._sessions([c.pk for c in cancelled]), many=True).data)

    @action(detail=True, methods=["post"], url_path="check-in")
    def check_in(self, request: Request, pk: int) -> Response:
        session = self._session_for_change(pk)
        data = self.validated(s.CheckInSerializer)
        lifecycle.session_check_in(actor=self.actor, session=session, **data)
        return self.output(s.SessionSerializer, self._sessions([session.pk])[0])

    @action(detail=True, methods=["post"], url_path="no-show")
    def no_show(self, request: Request, pk: int) -> Response:
        session = self._session_for_change(pk)
        lifecycle.session_no_show(actor=self.actor, session=session)
        return self.output(s.SessionSerializer, self._sessions([session.pk])[0])


class SeriesView(ActorMixin, APIView):
    """Book a whole course from a protocol: all of it, or nothing and a list of what clashed."""

    required_permissions = {"POST": Perm.SCHEDULE_MANAGE}

    @extend_schema(
        tags=["sessions"],
        parameters=[IDEMPOTENCY_HEADER],
        request=s.SeriesSerializer,
        responses={201: s.CourseSerializer, **problems(400, 401, 403, 404, 409, 422)},
    )
    def post(self, request: Request) -> Response:
        data = self.validated(s.SeriesSerializer)
        with transaction.atomic():
            claimed = idempotency.begin(request)
            if claimed.replay is not None:
                return self._render(claimed.replay.resource_ids[0], claimed.replay.status_code)
            patient, treatment_type = _resolve_series_inputs(self, data)
            course = series_book(
                actor=self.actor,
                patient=patient,
                treatment_type=treatment_type,
                protocol_code=data["protocol"],
                first_start=data["first_start"],
                weekdays=data["weekdays"],
                room_id=data["room"],
                clinician_id=data["clinician"],
            )
            idempotency.finish(claimed, status_code=201, resource_type="course", resource_ids=[course.pk])
        return self._render(course.pk, status.HTTP_201_CREATED)

    def _render(self, course_id: int, status_code: int) -> Response:
        course = Course.objects.filter(pk=course_id, clinic_id__in=self.actor.clinics_with(Perm.SCHEDULE_VIEW)).first()
        if course is None:
            raise NotFound()
        sessions = selectors.session_list(actor=self.actor).filter(course_id=course_id).order_by("sequence")
        return Response(
            {
                "course": course.pk,
                "protocol": course.protocol,
                "sessions": s.SessionSerializer(sessions, many=True).data,
            },
            status=status_code,
        )
