"""Serializers of the monitoring API: input validation per field, outputs for clinicians only."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.api.serializers import AlertSerializer, AwareDateTimeField, StrictSerializer
from monitoring.models import AdverseEvent, Dose, MonitoringRecord, ScaleScore, VitalSign
from monitoring.services.amendments import AMENDABLE


class RecordOpenSerializer(StrictSerializer):
    hours_since_food = serializers.DecimalField(max_digits=4, decimal_places=1, min_value=0, max_value=99)
    hours_since_liquids = serializers.DecimalField(max_digits=4, decimal_places=1, min_value=0, max_value=99)
    escort_confirmed = serializers.BooleanField()
    benzodiazepines = serializers.BooleanField()
    sedative_hypnotics = serializers.BooleanField()
    psychostimulants = serializers.BooleanField()
    maois = serializers.BooleanField()
    medications_confirmed = serializers.BooleanField()
    pregnancy_test = serializers.ChoiceField(choices=MonitoringRecord.PregnancyTest.choices)
    weight_kg = serializers.DecimalField(max_digits=5, decimal_places=1, min_value=20, max_value=350)
    rems_enrollment_confirmed = serializers.BooleanField(required=False)
    prescriber_on_site = serializers.IntegerField(required=False, allow_null=True, help_text="Staff id (esketamine).")
    first_rems_treatment = serializers.BooleanField(required=False, default=False)

    def validate_medications_confirmed(self, value: bool) -> bool:
        if not value:
            raise serializers.ValidationError("Confirm the patient's current medicines before dosing.")
        return value


class VitalsInputSerializer(StrictSerializer):
    """Types and shape only; plausibility ranges are the thresholds module's job (one source of truth)."""

    taken_at = AwareDateTimeField(required=False)
    systolic = serializers.IntegerField(required=False, allow_null=True)
    diastolic = serializers.IntegerField(required=False, allow_null=True)
    heart_rate = serializers.IntegerField(required=False, allow_null=True)
    spo2 = serializers.IntegerField(required=False, allow_null=True)
    respiratory_rate = serializers.IntegerField(required=False, allow_null=True)
    temperature_c = serializers.DecimalField(max_digits=4, decimal_places=1, required=False, allow_null=True)


_NULLABLE_INTS = frozenset(("systolic", "diastolic", "heart_rate", "spo2", "respiratory_rate"))


def vitals_input(data: Any) -> tuple[list[dict[str, Any]], bool]:
    """The readings of a vitals request (a list, or one reading) as ``VitalsInputSerializer``
    validates them, and whether a list was sent.

    A monitor's batch is well formed nearly always: whole numbers, ``null``, and date-times parsed
    by the declared fields themselves, without DRF's per-field machinery. Anything else (a
    string, a float, an unknown field, a wrong value) goes through the serializer, so every error
    names its field (with the index for a list) exactly as before. A test holds the two equal.
    """
    many = isinstance(data, list)
    readings = _readings_fast(data if many else [data])
    if readings is None:
        serializer = VitalsInputSerializer(data=data, many=many)
        serializer.is_valid(raise_exception=True)
        readings = serializer.validated_data if many else [serializer.validated_data]
    return readings, many


def _readings_fast(items: list[Any]) -> list[dict[str, Any]] | None:
    """The validated readings, or None for anything the serializer must judge (or refuse)."""
    fields = _vitals_input_fields()
    readings = []
    for item in items:
        if type(item) is not dict or not item.keys() <= fields.keys():
            return None
        values = {}
        for name, value in item.items():
            if name in _NULLABLE_INTS and (value is None or type(value) is int):
                values[name] = value  # what IntegerField(allow_null=True) returns for these
                continue
            try:
                values[name] = fields[name].run_validation(value)
            except serializers.ValidationError:
                return None
        readings.append(values)
    return readings


@functools.cache
def _vitals_input_fields():
    """The declared input fields, bound once: they parse single values as the serializer does."""
    return VitalsInputSerializer().fields


class VitalSignSerializer(serializers.ModelSerializer):
    class Meta:
        model = VitalSign
        fields = [
            "id",
            "taken_at",
            "systolic",
            "diastolic",
            "heart_rate",
            "spo2",
            "respiratory_rate",
            "temperature_c",
            "pre_dose",
            "findings",
            "source",
        ]
        read_only_fields = fields

    def to_representation(self, row: VitalSign) -> dict:
        """The same dict the declared fields produce, built directly (``vital_sign_data``)."""
        return vital_sign_data(row)

    def field_driven_representation(self, row: VitalSign) -> dict:
        """What DRF's declared fields give; the reference the fast path is tested against."""
        return super().to_representation(row)


@functools.cache
def _vital_sign_fields():
    """The declared output fields, bound once: they format the date-time and the decimal."""
    return VitalSignSerializer().fields


def vital_sign_data(row: VitalSign) -> dict:
    """One stored reading as the API returns it.

    A monitor's batch answers 20 readings of 11 fields; DRF's per-field machinery was a tenth of
    the request's CPU. The declared fields still drive the schema, and a test holds the two equal.
    """
    fields = _vital_sign_fields()
    temperature = row.temperature_c
    return {
        "id": row.pk,
        "taken_at": fields["taken_at"].to_representation(row.taken_at),
        "systolic": row.systolic,
        "diastolic": row.diastolic,
        "heart_rate": row.heart_rate,
        "spo2": row.spo2,
        "respiratory_rate": row.respiratory_rate,
        "temperature_c": None if temperature is None else fields["temperature_c"].to_representation(temperature),
        "pre_dose": row.pre_dose,
        "findings": row.findings,
        "source": str(row.source),
    }


class VitalsResultSerializer(serializers.Serializer):
    vitals = VitalSignSerializer(many=True)
    alerts = AlertSerializer(many=True, help_text="Alerts the readings raised.")


class DoseInputSerializer(StrictSerializer):
    administered_at = AwareDateTimeField(required=False)
    dose_mg = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=Decimal("0.01"), required=False)
    dose_mg_per_kg = serializers.DecimalField(
        max_digits=5, decimal_places=3, min_value=Decimal("0.001"), required=False
    )
    lot_number = serializers.CharField(max_length=40)
    administered_by = serializers.IntegerField(required=False, help_text="Staff id; default: you.")
    override_reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class DoseSerializer(serializers.ModelSerializer):
    administered_by = serializers.CharField(source="administered_by.user.username")

    class Meta:
        model = Dose
        fields = [
            "id",
            "drug",
            "route",
            "dose_mg",
            "dose_mg_per_kg",
            "device_number",
            "lot_number",
            "administered_at",
            "infusion_ended_at",
            "administered_by",
            "overridden",
            "override_reason",
        ]
        read_only_fields = fields


class InfusionEndSerializer(StrictSerializer):
    ended_at = AwareDateTimeField(required=False)


class ScaleInputSerializer(StrictSerializer):
    scale = serializers.ChoiceField(choices=ScaleScore.Scale.choices)
    value = serializers.IntegerField(min_value=0, max_value=92)
    taken_at = AwareDateTimeField(required=False)

    def validate(self, attrs):
        if attrs["scale"] == ScaleScore.Scale.MOAAS and attrs["value"] > 5:
            raise serializers.ValidationError({"value": ["MOAA/S runs from 0 (no response) to 5 (responds readily)."]})
        return attrs


class ScaleScoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScaleScore
        fields = ["id", "scale", "value", "taken_at", "pre_dose", "findings"]
        read_only_fields = fields


class ScaleResultSerializer(serializers.Serializer):
    score = ScaleScoreSerializer()
    alerts = AlertSerializer(many=True)


class AdverseEventInputSerializer(StrictSerializer):
    type = serializers.ChoiceField(choices=AdverseEvent.Type.choices)
    description = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    severity = serializers.ChoiceField(choices=AdverseEvent.Severity.choices)
    serious = serializers.BooleanField()
    onset_at = AwareDateTimeField()
    actions_taken = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    outcome = serializers.ChoiceField(choices=AdverseEvent.Outcome.choices)

    def validate(self, attrs):
        if attrs["type"] == AdverseEvent.Type.OTHER and not attrs["description"].strip():
            raise serializers.ValidationError({"description": ["Describe the event."]})
        return attrs


class AdverseEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AdverseEvent
        fields = ["id", "type", "description", "severity", "serious", "onset_at", "actions_taken", "outcome"]
        read_only_fields = fields


class AdverseEventResultSerializer(serializers.Serializer):
    event = AdverseEventSerializer()
    alerts = AlertSerializer(many=True)


class AmendmentInputSerializer(StrictSerializer):
    target_type = serializers.ChoiceField(choices=sorted(AMENDABLE))
    target_id = serializers.IntegerField()
    field = serializers.CharField(max_length=40)
    new_value = serializers.JSONField(allow_null=True, help_text="Checked by the field's type; null clears a vital.")
    reason = serializers.CharField(max_length=2000)


class AmendmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    target_type = serializers.CharField()
    target_id = serializers.IntegerField()
    field = serializers.CharField()
    old_value = serializers.JSONField()
    new_value = serializers.JSONField(allow_null=True, help_text="Checked by the field's type; null clears a vital.")
    reason = serializers.CharField()
    amended_by = serializers.CharField(source="amended_by.username")
    amended_at = serializers.DateTimeField()


class DischargeInputSerializer(StrictSerializer):
    alert_and_oriented = serializers.BooleanField()
    able_to_walk = serializers.BooleanField()
    escort_present = serializers.BooleanField()
    ready_minutes_without_rule = serializers.IntegerField(
        min_value=0,
        max_value=600,
        required=False,
        allow_null=True,
        help_text="REMS: minutes after the first device the patient would have been ready without the 2-hour rule.",
    )
    notes = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    override_reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, help_text="Prescribers only: why discharge now."
    )


class DischargeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    discharged_at = serializers.DateTimeField()
    discharged_by = serializers.CharField(source="discharged_by.username")
    alert_and_oriented = serializers.BooleanField()
    able_to_walk = serializers.BooleanField()
    escort_present = serializers.BooleanField()
    vitals_within_limits = serializers.BooleanField()
    ready_minutes_without_rule = serializers.IntegerField(allow_null=True)
    overridden = serializers.ListField(child=serializers.CharField())
    override_reason = serializers.CharField()


class CheckSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    due_at = serializers.DateTimeField(allow_null=True)
    satisfied_by = serializers.DateTimeField(allow_null=True)
    state = serializers.CharField()


class RecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    session = serializers.IntegerField(source="session_id")
    patient = serializers.IntegerField(source="patient_id")
    modality = serializers.CharField()
    opened_at = serializers.DateTimeField()
    first_dose_at = serializers.DateTimeField(allow_null=True)
    pre_dose_checks = serializers.SerializerMethodField()
    minutes_since_first_dose = serializers.IntegerField(allow_null=True)
    earliest_discharge = serializers.DateTimeField(allow_null=True)
    checks = CheckSerializer(many=True)
    discharged = serializers.BooleanField()
    timeline = serializers.JSONField()

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_pre_dose_checks(self, data) -> dict:
        record = data["record"]
        return {
            "hours_since_food": record.hours_since_food,
            "hours_since_liquids": record.hours_since_liquids,
            "escort_confirmed": record.escort_confirmed,
            "benzodiazepines": record.benzodiazepines,
            "sedative_hypnotics": record.sedative_hypnotics,
            "psychostimulants": record.psychostimulants,
            "maois": record.maois,
            "medications_confirmed": record.medications_confirmed,
            "pregnancy_test": record.pregnancy_test,
            "weight_kg": record.weight_kg,
            "rems_enrollment_confirmed": record.rems_enrollment_confirmed,
            "prescriber_on_site": record.prescriber_on_site_id,
            "first_rems_treatment": record.first_rems_treatment,
        }


class RemsFormSerializer(serializers.Serializer):
    record = serializers.IntegerField()
    complete = serializers.BooleanField()
    missing = serializers.ListField(child=serializers.CharField(), help_text="Fields still to fill before submitting.")
    submitted_at = serializers.DateTimeField(allow_null=True)
    fields = serializers.DictField()


class RemsSubmittedSerializer(StrictSerializer):
    confirmation = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class RemsDueSerializer(serializers.Serializer):
    record = serializers.IntegerField()
    session = serializers.IntegerField()
    patient = serializers.IntegerField()
    patient_name = serializers.CharField()
    treatment_date = serializers.DateField()
    due_by = serializers.DateField()
    overdue = serializers.BooleanField()


class BoardRowSerializer(serializers.Serializer):
    session = serializers.IntegerField()
    clinic = serializers.IntegerField()
    patient = serializers.IntegerField()
    room = serializers.CharField()
    patient_initials = serializers.CharField()
    modality = serializers.CharField()
    monitoring_record = serializers.IntegerField(allow_null=True)
    phase = serializers.CharField()
    minutes_since_first_dose = serializers.IntegerField(allow_null=True)
    next_check = serializers.CharField(allow_null=True)
    next_check_due = serializers.CharField(allow_null=True)
    earliest_discharge = serializers.CharField(allow_null=True)
    open_alerts = serializers.DictField(child=serializers.IntegerField())


class PolicySerializer(StrictSerializer):
    thresholds = serializers.DictField(required=False, help_text="Overrides of the default alert thresholds.")
    schedule = serializers.DictField(required=False, help_text="Overrides of the default check schedule.")
