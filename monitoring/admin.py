"""Admin for monitoring policies: a clinic's threshold and check-schedule overrides, validated by the service.

The form runs the same combined validation as the API (the layer over or under every layer it is
used with) and shows each problem on its field; the save goes through ``policy_update``, which
checks it again under a lock. The in-session record itself is clinical and append-only: it is read
and written through the API.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin

from clinic.admin import ClinicScopedAdmin, admin_actor, administered_clinic_ids
from monitoring.models import MonitoringPolicy
from monitoring.services.policy import policy_errors, policy_update
from scheduling.models import TreatmentType


class MonitoringPolicyForm(forms.ModelForm):
    class Meta:
        model = MonitoringPolicy
        fields = ["clinic", "treatment_type", "thresholds", "schedule"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        instance = self.instance
        clinic = cleaned.get("clinic") if "clinic" in self.fields else instance.clinic
        treatment_type = cleaned.get("treatment_type") if "treatment_type" in self.fields else instance.treatment_type
        if clinic is None:
            return cleaned
        errors = policy_errors(
            clinic_id=clinic.pk,
            treatment_type=treatment_type,
            thresholds_overrides=cleaned.get("thresholds") or {},
            schedule_overrides=cleaned.get("schedule") or {},
        )
        for key, messages in errors.items():
            part, _, setting = key.partition(".")
            target = part if part in self.fields else None
            for message in messages:
                self.add_error(target, f"{setting}: {message}" if setting else message)
        return cleaned


@admin.register(MonitoringPolicy)
class MonitoringPolicyAdmin(ClinicScopedAdmin):
    form = MonitoringPolicyForm
    list_display = ["clinic", "treatment_type", "updated_at"]
    list_filter = ["clinic"]

    def get_readonly_fields(self, request, obj=None):
        # Which layer a row is never changes: moving it would silently drop one layer and add another.
        return ["clinic", "treatment_type"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "treatment_type":
            clinic_ids = administered_clinic_ids(request)
            if clinic_ids is not None:
                kwargs["queryset"] = TreatmentType.objects.filter(clinic_id__in=clinic_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        clinic_id = obj.clinic_id if change else data["clinic"].pk
        treatment_type = obj.treatment_type if change else data.get("treatment_type")
        self.run_service(
            request,
            lambda: policy_update(
                actor=admin_actor(request),
                clinic_id=clinic_id,
                treatment_type=treatment_type,
                thresholds_overrides=data.get("thresholds") or {},
                schedule_overrides=data.get("schedule") or {},
            ),
            obj,
        )
