"""Admin for questionnaire definitions: clinic administrators add their own, validated like the API.

Shipped definitions are shown read-only. Answers, assessments and decisions are clinical records
and stay out of the admin (administrators configure; clinicians read records through the API).
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.db.models import Q

from clinic.admin import ClinicScopedAdmin, admin_actor, administered_clinic_ids
from intake.models import Questionnaire
from intake.services.questionnaires import questionnaire_create, questionnaire_update_flags


class QuestionnaireForm(forms.ModelForm):
    definition = forms.JSONField(
        widget=forms.Textarea(attrs={"rows": 20, "cols": 100}),
        help_text="A definition in the engine's format (code, version, title, kind 'custom', item[...]).",
    )

    class Meta:
        model = Questionnaire
        fields = ["clinic", "definition", "in_intake", "active"]


@admin.register(Questionnaire)
class QuestionnaireAdmin(ClinicScopedAdmin):
    form = QuestionnaireForm
    list_display = ["code", "version", "title", "kind", "clinic", "in_intake", "active"]
    list_filter = ["kind", "in_intake", "active"]
    search_fields = ["code", "title"]

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        clinic_ids = administered_clinic_ids(request)
        if clinic_ids is None:
            return queryset
        return queryset.filter(Q(clinic__isnull=True) | Q(clinic_id__in=clinic_ids))

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.clinic_id is None:
            return False  # shipped definitions are the product's
        return super().has_change_permission(request, obj)

    def has_view_permission(self, request, obj=None):
        if obj is not None and obj.clinic_id is None:
            return self._may_administer(request)
        return super().has_view_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return ["clinic", "definition"] if obj is not None else []

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None and "definition" in form.base_fields:
            form.base_fields["definition"].initial = json.dumps(obj.definition, indent=2)
        return form

    def save_model(self, request, obj, form, change):
        actor = admin_actor(request)
        data = form.cleaned_data
        if change:
            fresh = Questionnaire.objects.get(pk=obj.pk)
            flags = {name: data[name] for name in ("active", "in_intake") if name in form.changed_data}
            self.run_service(request, lambda: questionnaire_update_flags(actor=actor, questionnaire=fresh, data=flags))
        else:
            self.run_service(
                request,
                lambda: questionnaire_create(
                    actor=actor, clinic_id=data["clinic"].pk, definition=data["definition"], in_intake=data["in_intake"]
                ),
                obj,
            )
