"""Serializers of the scheduling API. Times go out in the clinic's own zone, with its offset."""

from __future__ import annotations

from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import serializers

from clinic.access import Perm
from clinic.api.serializers import AwareDateTimeField, ClinicField, CompleteItemSerializer, StrictSerializer
from clinic.models import Modality
from scheduling.models import Session, TimeOff, TreatmentType
from scheduling.services.lifecycle import SCOPES


def local_iso(value, tz) -> str | None:
    return value.astimezone(tz).isoformat() if value is not None else None


# --- treatment types and protocols --------------------------------------------------------------


class TreatmentTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = TreatmentType
        fields = [
            "id",
            "clinic",
            "name",
            "modality",
            "duration_minutes",
            "turnover_minutes",
            "min_hours_between",
            "requires_rems_enrollment",
            "active",
        ]
        read_only_fields = fields


class TreatmentTypeInputSerializer(StrictSerializer):
    clinic = ClinicField(Perm.SCHEDULING_CONFIGURE)
    name = serializers.CharField(max_length=100)
    modality = serializers.ChoiceField(choices=Modality.choices)
    duration_minutes = serializers.IntegerField(min_value=5, max_value=600)
    turnover_minutes = serializers.IntegerField(min_value=0, max_value=240, default=15)
    min_hours_between = serializers.IntegerField(min_value=0, max_value=24 * 60, default=24)
    requires_rems_enrollment = serializers.BooleanField(required=False)
    active = serializers.BooleanField(default=True)

    def validate(self, attrs):
        # Esketamine is REMS-only (label): default the flag on rather than refuse the request.
        if "requires_rems_enrollment" not in attrs and not self.partial:
            attrs["requires_rems_enrollment"] = attrs.get("modality") == Modality.ESKETAMINE_NASAL
        return attrs


class TreatmentTypeUpdateSerializer(TreatmentTypeInputSerializer):
    clinic = None


class PhaseSerializer(serializers.Serializer):
    sessions = serializers.IntegerField()
    per_week = serializers.IntegerField()
    min_gap_days = serializers.IntegerField()
    interval_weeks = serializers.IntegerField()


class ProtocolSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    modality = serializers.CharField()
    description = serializers.CharField()
    source = serializers.CharField()
    default_weekdays = serializers.ListField(child=serializers.IntegerField())
    total_sessions = serializers.IntegerField()
    phases = PhaseSerializer(many=True)


# --- clinician availability --------------------------------------------------------------------


class WeeklyWindowSerializer(CompleteItemSerializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6)
    starts = serializers.TimeField()
    ends = serializers.TimeField()


class TimeOffSerializer(serializers.ModelSerializer):
    class Meta:
        model = TimeOff
        fields = ["id", "starts_at", "ends_at", "reason"]
        read_only_fields = fields


class TimeOffInputSerializer(StrictSerializer):
    starts_at = AwareDateTimeField()
    ends_at = AwareDateTimeField()
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class AvailabilitySerializer(serializers.Serializer):
    staff = serializers.IntegerField(source="pk")
    timezone = serializers.CharField(source="clinic.timezone")
    weekly = WeeklyWindowSerializer(source="availability_windows.all", many=True)
    time_off = TimeOffSerializer(source="time_off.all", many=True)


class WeeklyInputSerializer(StrictSerializer):
    weekly = WeeklyWindowSerializer(many=True)


# --- availability search -----------------------------------------------------------------------


class AvailabilityQuerySerializer(StrictSerializer):
    treatment_type = serializers.IntegerField()
    start = AwareDateTimeField()
    end = AwareDateTimeField()
    patient = serializers.IntegerField(required=False)
    step = serializers.IntegerField(required=False, min_value=5, max_value=120, help_text="Slot step in minutes.")


class NamedRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SlotSerializer(serializers.Serializer):
    start = serializers.CharField(help_text="Local time with offset.")
    end = serializers.CharField()
    rooms = NamedRefSerializer(many=True)
    clinicians = NamedRefSerializer(many=True)


class AvailabilityResultSerializer(serializers.Serializer):
    treatment_type = serializers.IntegerField()
    timezone = serializers.CharField()
    slots = SlotSerializer(many=True)


# --- sessions ----------------------------------------------------------------------------------


def _room_name(session: Session) -> str:
    # A session just booked carries its room's and clinician's names from the scheduling context
    # the booking read (as a query's annotations would); one loaded for the calendar joins them.
    if "room_name" in session.__dict__:
        return session.room_name
    return session.room.name


class SessionSerializer(serializers.ModelSerializer):
    """The calendar entry. Front desk and clinicians see it; no clinical content."""

    patient_name = serializers.SerializerMethodField()
    patient_mrn = serializers.CharField(source="patient.mrn")
    treatment_type_name = serializers.CharField(source="treatment_type.name")
    modality = serializers.CharField(source="treatment_type.modality")
    room_name = serializers.CharField(source="room.name")
    clinician_name = serializers.SerializerMethodField()
    start = serializers.SerializerMethodField()
    end = serializers.SerializerMethodField()
    occupied_until = serializers.SerializerMethodField()
    escort_phone = serializers.CharField()

    class Meta:
        model = Session
        fields = [
            "id",
            "clinic",
            "patient",
            "patient_name",
            "patient_mrn",
            "treatment_type",
            "treatment_type_name",
            "modality",
            "room",
            "room_name",
            "clinician",
            "clinician_name",
            "course",
            "sequence",
            "start",
            "end",
            "occupied_until",
            "status",
            "checked_in_at",
            "escort_name",
            "escort_phone",
            "cancelled_at",
            "cancel_reason",
            "late_cancellation",
        ]
        read_only_fields = fields

    def to_representation(self, session: Session) -> dict:
        """The same dict the declared fields produce, built directly.

        A week's calendar page is 200 entries of 24 fields; DRF's per-field machinery was a third
        of its CPU. The declared fields still drive the schema, and a test holds the two equal.
        """
        tz = session.clinic.tz
        moment = self._moment
        return {
            "id": session.pk,
            "clinic": session.clinic_id,
            "patient": session.patient_id,
            "patient_name": f"{session.patient.first_name} {session.patient.last_name}",
            "patient_mrn": session.patient.mrn,
            "treatment_type": session.treatment_type_id,
            "treatment_type_name": session.treatment_type.name,
            "modality": session.treatment_type.modality,
            "room": session.room_id,
            "room_name": _room_name(session),
            "clinician": session.clinician_id,
            "clinician_name": self.get_clinician_name(session),
            "course": session.course_id,
            "sequence": session.sequence,
            "start": local_iso(session.starts_at, tz),
            "end": local_iso(session.ends_at, tz),
            "occupied_until": local_iso(session.occupied_until, tz),
            "status": session.status,
            "checked_in_at": moment(session.checked_in_at),
            "escort_name": session.escort_name,
            "escort_phone": str(session.escort_phone) if session.escort_phone is not None else None,
            "cancelled_at": moment(session.cancelled_at),
            "cancel_reason": session.cancel_reason,
            "late_cancellation": session.late_cancellation,
        }

    def _moment(self, value) -> str | None:
        return self.fields["checked_in_at"].to_representation(value) if value is not None else None

    def field_driven_representation(self, session: Session) -> dict:
        """What DRF's declared fields give; the reference the fast path is tested against."""
        return super().to_representation(session)

    def get_patient_name(self, session: Session) -> str:
        return f"{session.patient.first_name} {session.patient.last_name}"

    def get_clinician_name(self, session: Session) -> str:
        if "clinician_name" in session.__dict__:  # given by the booking (see _room_name)
            return session.clinician_name
        user = session.clinician.user
        return user.get_full_name() or user.get_username()

    def get_start(self, session: Session) -> str:
        return local_iso(session.starts_at, session.clinic.tz)

    def get_end(self, session: Session) -> str:
        return local_iso(session.ends_at, session.clinic.tz)

    def get_occupied_until(self, session: Session) -> str:
        return local_iso(session.occupied_until, session.clinic.tz)


class SessionBookSerializer(StrictSerializer):
    patient = serializers.IntegerField()
    treatment_type = serializers.IntegerField()
    start = AwareDateTimeField()
    room = serializers.IntegerField(required=False, allow_null=True, default=None)
    clinician = serializers.IntegerField(required=False, allow_null=True, default=None)


class RescheduleSerializer(StrictSerializer):
    start = AwareDateTimeField()
    scope = serializers.ChoiceField(choices=SCOPES, default="this")
    room = serializers.IntegerField(required=False, allow_null=True, default=None)
    clinician = serializers.IntegerField(required=False, allow_null=True, default=None)


class CancelSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=300)
    scope = serializers.ChoiceField(choices=SCOPES, default="this")


class CheckInSerializer(StrictSerializer):
    escort_name = serializers.CharField(max_length=200)
    escort_phone = PhoneNumberField()


class SeriesSerializer(StrictSerializer):
    patient = serializers.IntegerField()
    treatment_type = serializers.IntegerField()
    protocol = serializers.CharField(max_length=50)
    first_start = AwareDateTimeField(help_text="The first session; its local time of day is kept for all of them.")
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6), required=False, allow_empty=False, default=None
    )
    room = serializers.IntegerField(required=False, allow_null=True, default=None)
    clinician = serializers.IntegerField(required=False, allow_null=True, default=None)


class CourseSerializer(serializers.Serializer):
    course = serializers.IntegerField()
    protocol = serializers.CharField()
    sessions = SessionSerializer(many=True)
