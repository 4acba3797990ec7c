"""Input and output serializers of the clinic API. Explicit fields only: each role sees what it needs."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import serializers

from clinic.access import Perm, Role
from clinic.models import Alert, AuditEvent, Channel, Clinic, Modality, OutboundMessage, Patient, Room


@extend_schema_field(OpenApiTypes.INT)
class ClinicField(serializers.Field):
    """A clinic id the actor holds ``perm`` in; may be omitted when the actor has exactly one."""

    default_error_messages = {
        "invalid": "A clinic id (an integer) is expected.",
        "unknown": "No clinic with this id that you may act in.",
        "ambiguous": "You work at several clinics: say which one.",
    }

    def __init__(self, perm: Perm, **kwargs):
        self.perm = perm
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data is serializers.empty and not self.parent.partial:
            clinics = self.context["actor"].clinics_with(self.perm)
            if len(clinics) == 1:
                return True, clinics[0]
            self.fail("ambiguous")
        return super().validate_empty_values(data)

    def to_internal_value(self, data) -> int:
        try:
            clinic_id = int(data)
        except (TypeError, ValueError):
            self.fail("invalid")
        if isinstance(data, bool) or clinic_id not in self.context["actor"].clinics_with(self.perm):
            self.fail("unknown")
        return clinic_id

    def to_representation(self, value) -> int:
        return value


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its UTC offset: a bare "10:00" is ambiguous across zones and DST."""

    # Far enough for any real appointment or reading; beyond it, date arithmetic (a window's margin,
    # a course's twelfth week) would overflow datetime's year 1..9999 and answer a 500.
    YEARS = (2000, 2200)
    default_error_messages = {
        "naive": "Include the UTC offset, e.g. 2027-03-01T10:00:00-05:00.",
        "year": f"Must be between the years {YEARS[0]} and {YEARS[1]}.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str) and value and not _has_offset(value):
            self.fail("naive")
        moment = super().to_internal_value(value)
        if not self.YEARS[0] <= moment.year <= self.YEARS[1]:
            self.fail("year")
        return moment


def _has_offset(value: str) -> bool:
    import re

    return bool(re.search(r"(Z|[+-]\d{2}:?\d{2})$", value.strip()))


class StrictSerializer(serializers.Serializer):
    """Refuses unknown fields, so a typo ("frist_name") is an error instead of silently ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class CompleteItemSerializer(StrictSerializer):
    """For objects nested in a list: every required field is enforced even inside a PATCH.

    DRF makes all nested fields optional when the root serializer is partial, which would let a
    PATCH add an opening window without a closing time.
    """

    def to_internal_value(self, data):
        missing = {}
        if isinstance(data, dict):
            missing = {
                name: ["This field is required."]
                for name, field in self.fields.items()
                if field.required and not field.read_only and name not in data
            }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict):
                raise serializers.ValidationError({**missing, **exc.detail}) from exc
            raise
        if missing:
            raise serializers.ValidationError(missing)
        return value


# --- auth and me ----------------------------------------------------------------------------------


class TokenRequestSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class MembershipSerializer(serializers.Serializer):
    clinic = serializers.IntegerField()
    clinic_name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    email = serializers.EmailField()
    memberships = MembershipSerializer(many=True)


# --- clinics --------------------------------------------------------------------------------------


class OpeningHoursSerializer(CompleteItemSerializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 = Monday ... 6 = Sunday")
    opens = serializers.TimeField()
    closes = serializers.TimeField()


class ClosureSerializer(CompleteItemSerializer):
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ClinicOutputSerializer(serializers.ModelSerializer):
    opening_hours = OpeningHoursSerializer(many=True, read_only=True)
    closures = ClosureSerializer(many=True, read_only=True)
    phone = serializers.CharField()

    class Meta:
        model = Clinic
        fields = [
            "id",
            "name",
            "timezone",
            "address_line1",
            "address_line2",
            "city",
            "region",
            "postal_code",
            "country",
            "phone",
            "email",
            "opening_hours",
            "closures",
            "reminder_hours_before",
            "booking_confirmation_delay_minutes",
            "quiet_hours_start",
            "quiet_hours_end",
            "followup_survey_delay_hours",
            "survey_link_valid_days",
            "intake_link_valid_days",
            "candidacy_approval_valid_months",
            "late_cancel_window_hours",
            "slot_step_minutes",
            "crisis_resources",
            "pcl5_provisional_cutoff",
            "language",
            "message_name",
        ]
        read_only_fields = fields


class ClinicUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    timezone = serializers.CharField(max_length=64)
    address_line1 = serializers.CharField(max_length=200, allow_blank=True)
    address_line2 = serializers.CharField(max_length=200, allow_blank=True)
    city = serializers.CharField(max_length=100, allow_blank=True)
    region = serializers.CharField(max_length=100, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, allow_blank=True)
    country = serializers.CharField(min_length=2, max_length=2)
    phone = PhoneNumberField(allow_blank=True)
    email = serializers.EmailField(allow_blank=True)
    opening_hours = OpeningHoursSerializer(many=True)
    closures = ClosureSerializer(many=True)
    reminder_hours_before = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=336))
    booking_confirmation_delay_minutes = serializers.IntegerField(min_value=0, max_value=60)
    quiet_hours_start = serializers.TimeField()
    quiet_hours_end = serializers.TimeField()
    followup_survey_delay_hours = serializers.IntegerField(
        min_value=0, max_value=24 * 14, help_text="0 sends the survey as soon as the patient is discharged."
    )
    survey_link_valid_days = serializers.IntegerField(min_value=1, max_value=60)
    intake_link_valid_days = serializers.IntegerField(min_value=1, max_value=60)
    candidacy_approval_valid_months = serializers.IntegerField(min_value=1, max_value=36)
    late_cancel_window_hours = serializers.IntegerField(min_value=0, max_value=24 * 7)
    slot_step_minutes = serializers.IntegerField(min_value=5, max_value=120)
    crisis_resources = serializers.CharField(max_length=2000)
    pcl5_provisional_cutoff = serializers.IntegerField(min_value=31, max_value=33)
    language = serializers.ChoiceField(choices=settings.LANGUAGES)
    message_name = serializers.CharField(max_length=200, allow_blank=True)


# --- rooms ----------------------------------------------------------------------------------------


class RoomOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Room
        fields = ["id", "clinic", "name", "kind", "modalities", "active"]
        read_only_fields = fields


class RoomInputSerializer(StrictSerializer):
    clinic = ClinicField(Perm.ROOM_MANAGE)
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=Room.Kind.choices, default=Room.Kind.CHAIR)
    modalities = serializers.ListField(child=serializers.ChoiceField(choices=Modality.choices), allow_empty=True)
    active = serializers.BooleanField(default=True)


class RoomUpdateSerializer(RoomInputSerializer):
    clinic = None


# --- staff ----------------------------------------------------------------------------------------


class StaffOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    clinic = serializers.IntegerField(source="clinic_id")
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    first_name = serializers.CharField(source="user.first_name")
    last_name = serializers.CharField(source="user.last_name")
    email = serializers.EmailField(source="user.email")
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))
    max_concurrent_sessions = serializers.IntegerField()
    phone = serializers.CharField()
    active = serializers.BooleanField()


class StaffInputSerializer(StrictSerializer):
    clinic = ClinicField(Perm.STAFF_MANAGE)
    username = serializers.RegexField(r"^[\w.@+-]{3,150}$", max_length=150)
    password = serializers.CharField(
        write_only=True, required=False, trim_whitespace=False, max_length=4096, style={"input_type": "password"}
    )
    first_name = serializers.CharField(max_length=150, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, allow_blank=True, default="")
    email = serializers.EmailField(allow_blank=True, default="")
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices), min_length=1)
    max_concurrent_sessions = serializers.IntegerField(min_value=1, max_value=20, default=1)
    phone = PhoneNumberField(allow_blank=True, default="")


class StaffUpdateSerializer(StrictSerializer):
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, max_length=4096, style={"input_type": "password"}
    )
    first_name = serializers.CharField(max_length=150, allow_blank=True)
    last_name = serializers.CharField(max_length=150, allow_blank=True)
    email = serializers.EmailField(allow_blank=True)
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices), min_length=1)
    max_concurrent_sessions = serializers.IntegerField(min_value=1, max_value=20)
    phone = PhoneNumberField(allow_blank=True)
    active = serializers.BooleanField()


# --- patients -------------------------------------------------------------------------------------


class PatientOutputSerializer(serializers.ModelSerializer):
    phone = serializers.CharField()
    emergency_contact_phone = serializers.CharField()
    candidacy_status = serializers.SerializerMethodField()
    archived = serializers.BooleanField(source="is_archived")

    class Meta:
        model = Patient
        fields = [
            "id",
            "clinic",
            "mrn",
            "first_name",
            "last_name",
            "date_of_birth",
            "sex_at_birth",
            "email",
            "phone",
            "preferred_channel",
            "email_opt_out",
            "sms_opt_out",
            "rems_patient_id",
            "emergency_contact_name",
            "emergency_contact_phone",
            "candidacy_status",
            "candidacy_modalities",
            "candidacy_expires_at",
            "archived",
            "archived_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_candidacy_status(self, patient: Patient) -> str:
        return patient.candidacy_status_now()


class PatientInputSerializer(StrictSerializer):
    clinic = ClinicField(Perm.PATIENT_MANAGE)
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100)
    date_of_birth = serializers.DateField()
    sex_at_birth = serializers.ChoiceField(choices=Patient.SexAtBirth.choices)
    email = serializers.EmailField(allow_blank=True, default="")
    phone = PhoneNumberField(allow_blank=True, default="")
    preferred_channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.EMAIL)
    email_opt_out = serializers.BooleanField(default=False)
    sms_opt_out = serializers.BooleanField(default=False)
    rems_patient_id = serializers.CharField(max_length=50, allow_blank=True, default="")
    emergency_contact_name = serializers.CharField(max_length=200, allow_blank=True, default="")
    emergency_contact_phone = PhoneNumberField(allow_blank=True, default="")

    def validate_date_of_birth(self, value: dt.date) -> dt.date:
        today = timezone.localdate()
        if value > today:
            raise serializers.ValidationError("Cannot be in the future.")
        if value.year < 1900:
            raise serializers.ValidationError("Must be 1900 or later.")
        return value

    def validate(self, attrs):
        instance = self.context.get("instance")
        channel = attrs.get("preferred_channel", getattr(instance, "preferred_channel", None))
        email = attrs.get("email", getattr(instance, "email", ""))
        phone = attrs.get("phone", getattr(instance, "phone", ""))
        if channel == Channel.EMAIL and not email:
            raise serializers.ValidationError({"email": ["Needed when the preferred channel is email."]})
        if channel == Channel.SMS and not phone:
            raise serializers.ValidationError({"phone": ["Needed when the preferred channel is SMS."]})
        return attrs


class PatientUpdateSerializer(PatientInputSerializer):
    clinic = None


class PatientSearchSerializer(StrictSerializer):
    query = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    date_of_birth = serializers.DateField(required=False, allow_null=True, default=None)
    clinic = serializers.IntegerField(required=False, allow_null=True, default=None)
    include_archived = serializers.BooleanField(default=False)

    def validate(self, attrs):
        if not attrs["query"].strip() and attrs["date_of_birth"] is None:
            raise serializers.ValidationError({"query": ["Give a name, an MRN or a date of birth."]})
        return attrs


# --- audit ----------------------------------------------------------------------------------------


class AuditEventSerializer(serializers.ModelSerializer):
    actor_username = serializers.CharField(source="actor.username", default=None)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "occurred_at",
            "clinic",
            "actor",
            "actor_username",
            "actor_kind",
            "action",
            "patient",
            "object_type",
            "object_id",
            "changed_fields",
            "request_id",
            "client_address",
        ]
        read_only_fields = fields


# --- alerts ---------------------------------------------------------------------------------------


class AlertSerializer(serializers.ModelSerializer):
    patient_name = serializers.SerializerMethodField()
    patient_mrn = serializers.CharField(source="patient.mrn")
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", default=None)
    open = serializers.BooleanField(source="is_open")

    class Meta:
        model = Alert
        fields = [
            "id",
            "clinic",
            "patient",
            "patient_name",
            "patient_mrn",
            "kind",
            "severity",
            "message",
            "source_type",
            "source_id",
            "opened_at",
            "open",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledgement_note",
        ]
        read_only_fields = fields

    def get_patient_name(self, alert: Alert) -> str:
        return f"{alert.patient.first_name} {alert.patient.last_name}"


class AlertAcknowledgeSerializer(StrictSerializer):
    note = serializers.CharField(max_length=2000, help_text="What was done about the alert.")


class MessageSerializer(serializers.ModelSerializer):
    """A line of the delivery log. Deliberately no recipient address and no text."""

    class Meta:
        model = OutboundMessage
        fields = [
            "id",
            "clinic",
            "patient",
            "staff",
            "kind",
            "channel",
            "subject_type",
            "subject_id",
            "scheduled_for",
            "status",
            "attempts",
            "sent_at",
            "last_error",
            "cancel_reason",
            "created_at",
        ]
        read_only_fields = fields
