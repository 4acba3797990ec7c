"""Baselines measured in the same run as the project (research section 2.2).

A1 ``orm_book``: a plain Django view doing the project's booking INSERT with ``objects.create`` (no
auth, no checks). A2 ``DrfBookView``: the same through a DRF serializer and ``Response``, with no
authentication or permission classes. A1-calendar ``values_calendar``: the week calendar's rows
(with patient, room, clinician and treatment names joined) as ``values()`` dicts and a JsonResponse.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache

from django.db import IntegrityError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from scheduling.models import Session, TreatmentType


@cache
def _treatment(treatment_type_id: int) -> tuple[int, dt.timedelta, dt.timedelta]:
    tt = TreatmentType.objects.get(pk=treatment_type_id)
    return tt.clinic_id, dt.timedelta(minutes=tt.duration_minutes), dt.timedelta(minutes=tt.turnover_minutes)


def _insert(patient: int, treatment_type: int, start: dt.datetime, room: int, clinician: int) -> Session:
    clinic_id, duration, turnover = _treatment(treatment_type)
    return Session.objects.create(
        clinic_id=clinic_id,
        patient_id=patient,
        treatment_type_id=treatment_type,
        room_id=room,
        clinician_id=clinician,
        starts_at=start,
        ends_at=start + duration,
        occupied_until=start + duration + turnover,
    )


def ping(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@csrf_exempt
def orm_book(request: HttpRequest) -> JsonResponse:
    data = json.loads(request.body)
    start = dt.datetime.fromisoformat(data["start"])
    try:
        session = _insert(data["patient"], data["treatment_type"], start, data["room"], data["clinician"])
    except IntegrityError:
        return JsonResponse({"code": "conflict"}, status=409)
    return JsonResponse({"id": session.pk, "start": session.starts_at.isoformat()}, status=201)


class BookIn(serializers.Serializer):
    patient = serializers.IntegerField()
    treatment_type = serializers.IntegerField()
    start = serializers.DateTimeField()
    room = serializers.IntegerField()
    clinician = serializers.IntegerField()


class SessionOut(serializers.ModelSerializer):
    class Meta:
        model = Session
        fields = ["id", "clinic", "patient", "treatment_type", "room", "clinician", "starts_at", "ends_at", "status"]
        read_only_fields = fields


class DrfBookView(GenericAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    serializer_class = BookIn

    def post(self, request):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            session = _insert(**data.validated_data)
        except IntegrityError:
            return Response({"code": "conflict"}, status=status.HTTP_409_CONFLICT)
        return Response(SessionOut(session).data, status=status.HTTP_201_CREATED)


def values_calendar(request: HttpRequest) -> JsonResponse:
    start = dt.datetime.fromisoformat(request.GET["start"])
    end = dt.datetime.fromisoformat(request.GET["end"])
    limit = int(request.GET.get("page_size", 200))
    rows = list(
        Session.objects.filter(ends_at__gt=start, starts_at__lt=end)
        .order_by("starts_at", "id")
        .values(
            "id",
            "patient_id",
            "patient__first_name",
            "patient__last_name",
            "patient__mrn",
            "treatment_type_id",
            "treatment_type__name",
            "room_id",
            "room__name",
            "clinician_id",
            "clinician__user__first_name",
            "clinician__user__last_name",
            "starts_at",
            "ends_at",
            "occupied_until",
            "status",
        )[:limit]
    )
    return JsonResponse({"count": len(rows), "results": rows})
