"""Admin for scheduling configuration: treatment types and clinicians' hours, per clinic.

Sessions are booked through the API (the admin would bypass the booking rules), so they are not
editable here.
"""

from __future__ import annotations

from django.contrib import admin

from clinic.admin import ClinicScopedAdmin, admin_actor
from scheduling.models import AvailabilityWindow, TimeOff, TreatmentType
from scheduling.services import configuration


@admin.register(TreatmentType)
class TreatmentTypeAdmin(ClinicScopedAdmin):
    list_display = ["name", "clinic", "modality", "duration_minutes", "turnover_minutes", "min_hours_between", "active"]
    list_filter = ["clinic", "modality", "active"]

    def save_model(self, request, obj, form, change):
        actor = admin_actor(request)
        data = {
            name: form.cleaned_data[name] for name in configuration.TREATMENT_TYPE_FIELDS if name in form.cleaned_data
        }
        if change:
            fresh = TreatmentType.objects.get(pk=obj.pk)
            changed = {k: v for k, v in data.items() if k in form.changed_data}
            self.run_service(
                request, lambda: configuration.treatment_type_update(actor=actor, treatment_type=fresh, data=changed)
            )
        else:
            self.run_service(
                request,
                lambda: configuration.treatment_type_create(actor=actor, clinic_id=obj.clinic_id, data=data),
                obj,
            )


class StaffScopedAdmin(ClinicScopedAdmin):
    clinic_field = "staff_member__clinic_id"

    def object_clinic_id(self, obj) -> int:
        return obj.staff_member.clinic_id

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        from clinic.admin import administered_clinic_ids
        from clinic.models import StaffMember

        if db_field.name == "staff_member":
            clinic_ids = administered_clinic_ids(request)
            if clinic_ids is not None:
                kwargs["queryset"] = StaffMember.objects.filter(clinic_id__in=clinic_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)


@admin.register(AvailabilityWindow)
class AvailabilityWindowAdmin(StaffScopedAdmin):
    list_display = ["staff_member", "weekday", "starts", "ends"]
    list_filter = ["weekday"]


@admin.register(TimeOff)
class TimeOffAdmin(StaffScopedAdmin):
    list_display = ["staff_member", "starts_at", "ends_at", "reason"]
