"""The Django admin for clinic administrators: their clinics, rooms, staff and audit log.

A clinic administrator sees only the clinics where they hold the clinic_admin role; operators
(superusers) see all. Writes go through the same services as the API, so validation and audit
rows are identical. Patients are shown to operators only and read-only: administrators
configure, they do not read patient records. Audit events can be read, never changed or deleted.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest, HttpResponseRedirect

from .access import ROLE_PERMISSIONS, Actor, Membership, Perm, Role
from .errors import ApplicationError
from .models import AuditEvent, Clinic, Closure, Modality, OpeningHours, Patient, Room, StaffMember, User
from .services import clinics as clinic_services
from .services import rooms as room_services
from .services import staff as staff_services
from .services.audit import audit_record

admin.site.site_header = "Ketamine clinic administration"
admin.site.site_title = "Clinic admin"
admin.site.index_title = "Configuration"


def admin_actor(request: HttpRequest) -> Actor:
    """The actor for admin writes; an operator acts as administrator of every clinic."""
    user = request.user
    if not user.is_superuser:
        return Actor.for_user(user)
    admin_perms = ROLE_PERMISSIONS[Role.CLINIC_ADMIN]
    return Actor(
        user=user,
        memberships={
            cid: Membership(cid, 0, frozenset({Role.CLINIC_ADMIN}), admin_perms)
            for cid in Clinic.objects.values_list("pk", flat=True)
        },
    )


def administered_clinic_ids(request: HttpRequest) -> list[int] | None:
    """None means every clinic (operators)."""
    if request.user.is_superuser:
        return None
    return Actor.for_user(request.user).clinics_with(Perm.CLINIC_CONFIGURE)


class ClinicScopedAdmin(admin.ModelAdmin):
    """Limits rows, foreign-key choices and permissions to the clinics the user administers."""

    clinic_field = "clinic_id"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        clinic_ids = administered_clinic_ids(request)
        return queryset if clinic_ids is None else queryset.filter(**{f"{self.clinic_field}__in": clinic_ids})

    def _may_administer(self, request, obj=None) -> bool:
        clinic_ids = administered_clinic_ids(request)
        if clinic_ids is None:
            return True
        if obj is None:
            return bool(clinic_ids)
        return self.object_clinic_id(obj) in clinic_ids

    def object_clinic_id(self, obj) -> int:
        return getattr(obj, self.clinic_field)

    def has_module_permission(self, request):
        return request.user.is_active and self._may_administer(request)

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and self._may_administer(request, obj)

    def has_change_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def has_add_permission(self, request):
        return self.has_view_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "clinic":
            clinic_ids = administered_clinic_ids(request)
            if clinic_ids is not None:
                kwargs["queryset"] = Clinic.objects.filter(pk__in=clinic_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def run_service(self, request, call, obj=None):
        """Run a service; on a refusal show its reasons and stay on the form."""
        try:
            created = call()
        except ApplicationError as exc:
            details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items()) or exc.detail
            self.message_user(request, details, level=messages.ERROR)
            request._service_failed = True
            return None
        if obj is not None and created is not None and obj.pk is None:
            # The admin logs and links the object it was given: point it at the created row.
            obj.pk = created.pk
            obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})
            obj._state.adding = False
        return created

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "_service_failed", False):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "_service_failed", False):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_change(request, obj)

    def log_addition(self, request, obj, message):
        if not getattr(request, "_service_failed", False):
            super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if not getattr(request, "_service_failed", False):
            super().log_change(request, obj, message)


class OpeningHoursInline(admin.TabularInline):
    model = OpeningHours
    extra = 0


class ClosureInline(admin.TabularInline):
    model = Closure
    extra = 0


@admin.register(Clinic)
class ClinicAdmin(ClinicScopedAdmin):
    clinic_field = "pk"
    list_display = ["name", "timezone", "city", "phone", "active"]
    search_fields = ["name", "city"]
    inlines = [OpeningHoursInline, ClosureInline]
    fieldsets = [
        (None, {"fields": ["name", "timezone", "phone", "email", "active"]}),
        ("Address", {"fields": ["address_line1", "address_line2", "city", "region", "postal_code", "country"]}),
        (
            "Messages and links",
            {
                "fields": [
                    "language",
                    "message_name",
                    "reminder_hours_before",
                    "booking_confirmation_delay_minutes",
                    "quiet_hours_start",
                    "quiet_hours_end",
                    "followup_survey_delay_hours",
                    "survey_link_valid_days",
                    "intake_link_valid_days",
                    "crisis_resources",
                ]
            },
        ),
        (
            "Scheduling and candidacy",
            {"fields": ["slot_step_minutes", "late_cancel_window_hours", "candidacy_approval_valid_months"]},
        ),
    ]

    def has_add_permission(self, request):
        # New clinics come from ``manage.py bootstrap_clinic`` (an operator's job).
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        fresh = Clinic.objects.get(pk=obj.pk)
        self.run_service(
            request, lambda: clinic_services.clinic_update(actor=admin_actor(request), clinic=fresh, data=data)
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        changed = [fs.prefix for fs in formsets if fs.has_changed()]
        if changed:
            audit_record(
                actor=request.user,
                action=AuditEvent.Action.UPDATE,
                object_type="clinic",
                object_id=form.instance.pk,
                clinic_id=form.instance.pk,
                changed_fields=changed,
            )


class RoomForm(forms.ModelForm):
    modalities = forms.MultipleChoiceField(
        choices=Modality.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = Room
        fields = ["clinic", "name", "kind", "modalities", "active"]


@admin.register(Room)
class RoomAdmin(ClinicScopedAdmin):
    form = RoomForm
    list_display = ["name", "clinic", "kind", "modalities", "active"]
    list_filter = ["clinic", "kind", "active"]
    search_fields = ["name"]

    def save_model(self, request, obj, form, change):
        actor = admin_actor(request)
        if change:
            data = {name: form.cleaned_data[name] for name in form.changed_data if name != "clinic"}
            fresh = Room.objects.get(pk=obj.pk)
            self.run_service(request, lambda: room_services.room_update(actor=actor, room=fresh, data=data))
        else:
            self.run_service(
                request,
                lambda: room_services.room_create(
                    actor=actor,
                    clinic_id=obj.clinic_id,
                    name=obj.name,
                    kind=obj.kind,
                    modalities=obj.modalities,
                    active=obj.active,
                ),
                obj,
            )


class StaffMemberForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(choices=Role.choices, widget=forms.CheckboxSelectMultiple)
    username = forms.CharField(max_length=150, required=False, help_text="For a new staff member.")
    password = forms.CharField(widget=forms.PasswordInput, required=False, help_text="For a new login.")
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)

    class Meta:
        model = StaffMember
        fields = ["clinic", "roles", "max_concurrent_sessions", "phone", "active"]


@admin.register(StaffMember)
class StaffMemberAdmin(ClinicScopedAdmin):
    form = StaffMemberForm
    list_display = ["user", "clinic", "roles", "max_concurrent_sessions", "active"]
    list_filter = ["clinic", "active"]
    search_fields = ["user__username", "user__last_name"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return [
                "clinic",
                "username",
                "password",
                "first_name",
                "last_name",
                "email",
                *StaffMemberForm.Meta.fields[1:],
            ]
        return StaffMemberForm.Meta.fields[1:]

    def save_model(self, request, obj, form, change):
        actor = admin_actor(request)
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data if name in StaffMemberForm.Meta.fields}
            fresh = StaffMember.objects.select_related("user").get(pk=obj.pk)
            self.run_service(request, lambda: staff_services.staff_update(actor=actor, member=fresh, data=changes))
        else:
            self.run_service(
                request,
                lambda: staff_services.staff_create(
                    actor=actor,
                    clinic_id=data["clinic"].pk,
                    username=data["username"],
                    password=data["password"] or None,
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    email=data["email"],
                    roles=list(data["roles"]),
                    max_concurrent_sessions=data["max_concurrent_sessions"],
                    phone=str(data["phone"] or ""),
                ),
                obj,
            )


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    """Operators only, read-only; every opened record is audited like an API read."""

    list_display = ["mrn", "clinic", "candidacy_status", "archived_at"]
    list_filter = ["clinic", "candidacy_status"]
    search_fields = ["mrn"]

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        patient = self.get_object(request, object_id)
        if patient is not None:
            audit_record(
                actor=request.user,
                action=AuditEvent.Action.READ,
                object_type="patient",
                object_id=patient.pk,
                clinic_id=patient.clinic_id,
                patient_id=patient.pk,
            )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(AuditEvent)
class AuditEventAdmin(ClinicScopedAdmin):
    list_display = ["occurred_at", "action", "object_type", "object_id", "actor", "patient", "request_id"]
    list_filter = ["action", "object_type", "actor_kind", "clinic"]
    date_hierarchy = "occurred_at"
    list_select_related = ["actor"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return {}


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Logins are managed by operators; clinic administrators manage staff through memberships."""

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser
