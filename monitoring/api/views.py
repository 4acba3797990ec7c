"""Thin views of the monitoring API: nurses and prescribers only, every read audited."""

from __future__ import annotations

import csv
import datetime as dt
import io

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import renderers, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.access import Perm
from clinic.api.base import ActorMixin
from clinic.api.schema import problems
from clinic.api.serializers import AlertSerializer
from clinic.errors import InvalidInput, NotFound
from monitoring import rems, selectors
from monitoring.models import Dose, VitalSign
from monitoring.services import amendments, observations
from monitoring.services import discharge as discharge_services
from monitoring.services import record as record_services
from monitoring.services.policy import policy_for, policy_update
from scheduling import selectors as scheduling_selectors

from . import serializers as s


class MonitoringView(ActorMixin, APIView):
    """Reads need clinical access; writes need the right to record monitoring."""

    required_permissions = {"GET": Perm.CLINICAL_VIEW, "POST": Perm.MONITORING_RECORD, "PUT": Perm.SCHEDULING_CONFIGURE}

    def record(self, record_id: int):
        """The record a write applies to (another clinic's, or no write right there: 404)."""
        return selectors.record_for_write(actor=self.actor, record_id=record_id)

    def detail(self, record_id: int, status_code: int = 200) -> Response:
        record = selectors.record_get(actor=self.actor, record_id=record_id)
        state = selectors.record_status(record)
        alerts = selectors.record_alerts(record)
        return Response(
            s.RecordSerializer(
                {
                    "record": record,
                    "id": record.pk,
                    "session_id": record.session_id,
                    "patient_id": record.patient_id,
                    "modality": record.modality,
                    "opened_at": record.opened_at,
                    "first_dose_at": record.first_dose_at,
                    "minutes_since_first_dose": state.minutes_since_first_dose,
                    "earliest_discharge": state.earliest_discharge,
                    "checks": state.checks,
                    "discharged": hasattr(record, "discharge"),
                    "timeline": selectors.timeline(record, alerts),
                }
            ).data,
            status=status_code,
        )


class SessionMonitoringView(MonitoringView):
    @extend_schema(
        tags=["monitoring"],
        request=s.RecordOpenSerializer,
        responses={201: s.RecordSerializer, **problems(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, session_id: int) -> Response:
        session = selectors.session_for_monitoring(actor=self.actor, session_id=session_id)
        checks = self.validated(s.RecordOpenSerializer)
        record = record_services.record_open(actor=self.actor, session=session, checks=checks)
        return self.detail(record.pk, status.HTTP_201_CREATED)


class RecordView(MonitoringView):
    @extend_schema(tags=["monitoring"], responses={200: s.RecordSerializer, **problems(401, 403, 404)})
    def get(self, request: Request, record_id: int) -> Response:
        return self.detail(record_id)


class VitalsView(MonitoringView):
    @extend_schema(
        tags=["monitoring"],
        description="One reading, or a list of readings (a monitor's upload). Impossible values answer 400 "
        "naming the field (with the index for a list); dangerous ones are stored and raise alerts.",
        request=s.VitalsInputSerializer,
        responses={201: s.VitalsResultSerializer, **problems(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, record_id: int) -> Response:
        try:
            readings, many = s.vitals_input(request.data)
        except (ValidationError, ParseError):  # a bad value, or a body that is not JSON at all
            self.record(record_id)  # another clinic's record (or none) answers 404 first, as every write does
            raise
        source = VitalSign.Source.MONITOR if many else VitalSign.Source.MANUAL
        # The service finds the record in the actor's clinics (404) and locks it in one statement.
        results = observations.vitals_record(actor=self.actor, record_id=record_id, readings=readings, source=source)
        alerts = [alert for _, alert in results if alert is not None]
        return Response(
            {
                "vitals": [s.vital_sign_data(row) for row, _ in results],
                "alerts": AlertSerializer(alerts, many=True).data,
            },
            status=status.HTTP_201_CREATED,
        )


class DosesView(MonitoringView):
    @extend_schema(
        tags=["monitoring"],
        description="Esketamine: one call per device (28 mg, at least 5 minutes apart, at most 3). IV: the infusion "
        "start (dose in mg; mg/kg checked against the weight). The first dose passes the pre-dose gate "
        "(422 predose_bp_elevated unless a prescriber gives override_reason).",
        request=s.DoseInputSerializer,
        responses={201: s.DoseSerializer, **problems(400, 401, 403, 404, 409, 422)},
    )
    def post(self, request: Request, record_id: int) -> Response:
        record = self.record(record_id)
        data = self.validated(s.DoseInputSerializer)
        dose = record_services.dose_record(actor=self.actor, record=record, data=data)
        return Response(s.DoseSerializer(dose).data, status=status.HTTP_201_CREATED)


class InfusionEndView(MonitoringView):
    @extend_schema(
        tags=["monitoring"],
        request=s.InfusionEndSerializer,
        responses={200: s.DoseSerializer, **problems(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, record_id: int, dose_id: int) -> Response:
        record = self.record(record_id)
        dose = Dose.objects.filter(pk=dose_id, record=record).select_related("record").first()
        if dose is None:
            raise NotFound()
        data = self.validated(s.InfusionEndSerializer)
        dose = record_services.infusion_end(actor=self.actor, dose=dose, ended_at=data.get("ended_at"))
        return Response(s.DoseSerializer(dose).data)


class ScalesView(MonitoringView):
    @extend_schema(
        tags=["monitoring"],
        request=s.ScaleInputSerializer,
        responses={201: s.ScaleResultSerializer, **problems(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, record_id: int) -> Response:
        record = self.record(record_id)
        data = self.validated(s.ScaleInputSerializer)
        score, alert = observations.scale_record(actor=self.actor, record=record, **data)
        return Response(
            {
                "score": s.ScaleScoreSerializer(score).data,
                "alerts": AlertSerializer([a for a in [alert] if a], many=True).data,
            },
            status=status.HTTP_201_CREATED,
        )


class AdverseEventsView(MonitoringView):
    @extend_schema(
        tags=["monitoring"],
        request=s.AdverseEventInputSerializer,
        responses={201: s.AdverseEventResultSerializer, **problems(400, 401, 403, 404)},
    )
    def post(self, request: Request, record_id: int) -> Response:
        record = self.record(record_id)
        data = self.validated(s.AdverseEventInputSerializer)
        event, alert = observations.adverse_event_record(actor=self.actor, record=record, data=data)
        return Response(
            {
                "event": s.AdverseEventSerializer(event).data,
                "alerts": AlertSerializer([a for a in [alert] if a], many=True).data,
            },
            status=status.HTTP_201_CREATED,
        )


class AmendmentsView(MonitoringView):
    @extend_schema(
        tags=["monitoring"],
        request=s.AmendmentInputSerializer,
        responses={201: s.AmendmentSerializer, **problems(400, 401, 403, 404)},
    )
    def post(self, request: Request, record_id: int) -> Response:
        record = self.record(record_id)
        data = self.validated(s.AmendmentInputSerializer)
        amendment = amendments.amendment_record(actor=self.actor, record=record, **data)
        return Response(s.AmendmentSerializer(amendment).data, status=status.HTTP_201_CREATED)


class DischargeView(MonitoringView):
    @extend_schema(
        tags=["monitoring"],
        request=s.DischargeInputSerializer,
        responses={201: s.DischargeSerializer, **problems(400, 401, 403, 404, 409, 422)},
    )
    def post(self, request: Request, record_id: int) -> Response:
        record = self.record(record_id)
        data = self.validated(s.DischargeInputSerializer)
        result = discharge_services.discharge(actor=self.actor, record=record, data=data)
        return Response(s.DischargeSerializer(result).data, status=status.HTTP_201_CREATED)


class CsvRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if isinstance(data, dict) and "fields" in data:
            for row in rems.as_csv_rows(rems.RemsForm(fields=data["fields"], missing=data["missing"])):
                writer.writerow(row)
        else:  # an error: write it as key/value rows
            for key, value in (data or {}).items():
                writer.writerow([key, value])
        return buffer.getvalue().encode(self.charset)


def _rems_payload(record) -> dict:
    form = selectors.rems_form(record)
    submission = getattr(record, "rems_submission", None)
    return {
        "record": record.pk,
        "complete": form.complete,
        "missing": form.missing,
        "submitted_at": submission.submitted_at if submission else None,
        "fields": form.fields,
    }


class RemsFormView(MonitoringView):
    renderer_classes = [renderers.JSONRenderer, CsvRenderer]

    @extend_schema(
        tags=["monitoring"],
        parameters=[OpenApiParameter("format", str, enum=["json", "csv"], required=False)],
        responses={200: s.RemsFormSerializer, **problems(401, 403, 404, 409)},
    )
    def get(self, request: Request, record_id: int) -> Response:
        record = selectors.record_get(actor=self.actor, record_id=record_id)
        if record.modality != "esketamine_nasal":
            raise NotFound("Only esketamine sessions have a REMS monitoring form.")
        response = Response(_rems_payload(record))
        if getattr(request.accepted_renderer, "format", "") == "csv":
            response["Content-Disposition"] = f'attachment; filename="rems-monitoring-form-{record.pk}.csv"'
        return response


class RemsFormSubmittedView(MonitoringView):
    @extend_schema(
        tags=["monitoring"],
        request=s.RemsSubmittedSerializer,
        responses={201: s.RemsFormSerializer, **problems(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, record_id: int) -> Response:
        record = self.record(record_id)
        data = self.validated(s.RemsSubmittedSerializer)
        discharge_services.rems_form_mark_submitted(actor=self.actor, record=record, confirmation=data["confirmation"])
        record = selectors.record_get(actor=self.actor, record_id=record_id, audit=False)
        return Response(_rems_payload(record), status=status.HTTP_201_CREATED)


class RemsFormsDueView(MonitoringView):
    @extend_schema(
        tags=["monitoring"],
        parameters=[OpenApiParameter("status", str, enum=["due"], required=False)],
        responses={200: s.RemsDueSerializer(many=True), **problems(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("status", "due")
        if wanted != "due":
            raise InvalidInput(errors={"status": ["Only status=due is listed here."]})
        records = list(selectors.rems_forms_due(actor=self.actor))
        selectors.rems_forms_audit_reads(actor=self.actor, records=records)
        today = timezone.now()
        rows = []
        for r in records:
            day = timezone.localtime(r.first_dose_at or r.session.starts_at, r.clinic.tz).date()
            due = day + dt.timedelta(days=rems.SUBMIT_WITHIN_DAYS)
            rows.append(
                {
                    "record": r.pk,
                    "session": r.session_id,
                    "patient": r.patient_id,
                    "patient_name": f"{r.patient.first_name} {r.patient.last_name}",
                    "treatment_date": day,
                    "due_by": due,
                    "overdue": timezone.localtime(today, r.clinic.tz).date() > due,
                }
            )
        return Response(s.RemsDueSerializer(rows, many=True).data)


class BoardView(MonitoringView):
    @extend_schema(tags=["monitoring"], responses={200: s.BoardRowSerializer(many=True), **problems(401, 403)})
    def get(self, request: Request) -> Response:
        rows = selectors.board(actor=self.actor)
        selectors.board_audit_reads(actor=self.actor, rows=rows)
        return Response(s.BoardRowSerializer(rows, many=True).data)


class PolicyView(MonitoringView):
    """A clinic's (or a treatment type's) monitoring policy: threshold and schedule overrides."""

    required_permissions = {"GET": Perm.SCHEDULING_CONFIGURE, "PUT": Perm.SCHEDULING_CONFIGURE}

    @extend_schema(tags=["monitoring"], responses={200: s.PolicySerializer, **problems(401, 403, 404)})
    def get(self, request: Request, treatment_type_id: int) -> Response:
        treatment_type = scheduling_selectors.treatment_type_get(
            actor=self.actor, treatment_type_id=treatment_type_id, perm=Perm.SCHEDULING_CONFIGURE
        )
        policy = policy_for(treatment_type)
        return Response({"thresholds": policy.thresholds.as_dict(), "schedule": policy.schedule.as_dict()})

    @extend_schema(
        tags=["monitoring"],
        request=s.PolicySerializer,
        responses={200: s.PolicySerializer, **problems(400, 401, 403, 404)},
    )
    def put(self, request: Request, treatment_type_id: int) -> Response:
        treatment_type = scheduling_selectors.treatment_type_get(
            actor=self.actor, treatment_type_id=treatment_type_id, perm=Perm.SCHEDULING_CONFIGURE
        )
        data = self.validated(s.PolicySerializer)
        policy_update(
            actor=self.actor,
            clinic_id=treatment_type.clinic_id,
            treatment_type=treatment_type,
            thresholds_overrides=data.get("thresholds"),
            schedule_overrides=data.get("schedule"),
        )
        return self.get(request, treatment_type_id)
