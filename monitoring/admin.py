"""Admin for monitoring policies: a clinic's threshold and check-schedule overrides, validated by the service.

The in-session record itself is clinical and append-only: it is read and written through the API.
"""

from __future__ import annotations

from django.contrib import admin

from clinic.admin import ClinicScopedAdmin, admin_actor
from monitoring.models import MonitoringPolicy
from monitoring.services.policy import policy_update


@admin.register(MonitoringPolicy)
class MonitoringPolicyAdmin(ClinicScopedAdmin):
    list_display = ["clinic", "treatment_type", "updated_at"]
    list_filter = ["clinic"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        self.run_service(
            request,
            lambda: policy_update(
                actor=admin_actor(request),
                clinic_id=data["clinic"].pk,
                treatment_type=data.get("treatment_type"),
                thresholds_overrides=data.get("thresholds") or {},
                schedule_overrides=data.get("schedule") or {},
            ),
            obj,
        )
