"""Query-string filters of the clinic list endpoints (ids and statuses only: no PHI in URLs)."""

import django_filters as filters
from django.db.models import Q
from django.utils import timezone

from clinic.access import Role
from clinic.models import (
    Alert,
    AuditEvent,
    CandidacyStatus,
    Channel,
    Modality,
    OutboundMessage,
    Patient,
    Room,
    StaffMember,
)


class DefaultingFilterSet(filters.FilterSet):
    """A FilterSet whose ``defaults`` apply when the query string leaves a filter out."""

    defaults: dict[str, str] = {}

    def __init__(self, data=None, *args, **kwargs):
        if data is not None:
            data = data.copy()
            for name, value in self.defaults.items():
                data.setdefault(name, value)
        super().__init__(data, *args, **kwargs)


class RoomFilter(filters.FilterSet):
    clinic = filters.NumberFilter(field_name="clinic_id")
    modality = filters.ChoiceFilter(choices=Modality.choices, method="filter_modality")
    active = filters.BooleanFilter()

    class Meta:
        model = Room
        fields = ["clinic", "modality", "active"]

    def filter_modality(self, queryset, name, value):
        # Portable across PostgreSQL and SQLite: modalities is a short JSON list of names.
        return queryset.filter(modalities__icontains=f'"{value}"')


class StaffFilter(filters.FilterSet):
    clinic = filters.NumberFilter(field_name="clinic_id")
    role = filters.ChoiceFilter(choices=Role.choices, method="filter_role")
    active = filters.BooleanFilter()

    class Meta:
        model = StaffMember
        fields = ["clinic", "role", "active"]

    def filter_role(self, queryset, name, value):
        return queryset.filter(roles__icontains=f'"{value}"')


class PatientFilter(DefaultingFilterSet):
    defaults = {"archived": "false"}

    clinic = filters.NumberFilter(field_name="clinic_id")
    archived = filters.BooleanFilter(field_name="archived_at", lookup_expr="isnull", exclude=True)
    candidacy_status = filters.ChoiceFilter(choices=CandidacyStatus.choices, method="filter_candidacy_status")

    class Meta:
        model = Patient
        fields = ["clinic", "archived", "candidacy_status"]

    def filter_candidacy_status(self, queryset, name, value):
        """The status as shown (``Patient.candidacy_status_now``), not as stored.

        An approval lapses on read, with no sweep rewriting the column, so the stored "approved"
        includes lapsed approvals and no row stores "expired".
        """
        lapsed = Q(candidacy_status=CandidacyStatus.APPROVED, candidacy_expires_at__lte=timezone.now())
        if value == CandidacyStatus.EXPIRED:
            return queryset.filter(lapsed | Q(candidacy_status=CandidacyStatus.EXPIRED))
        if value == CandidacyStatus.APPROVED:
            return queryset.filter(candidacy_status=CandidacyStatus.APPROVED).exclude(lapsed)
        return queryset.filter(candidacy_status=value)


class AuditEventFilter(filters.FilterSet):
    clinic = filters.NumberFilter(field_name="clinic_id")
    patient = filters.NumberFilter(field_name="patient_id")
    actor = filters.NumberFilter(field_name="actor_id")
    action = filters.ChoiceFilter(choices=AuditEvent.Action.choices)
    object_type = filters.CharFilter(max_length=60)
    since = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["clinic", "patient", "actor", "action", "object_type", "since", "until"]


class AlertFilter(DefaultingFilterSet):
    defaults = {"status": "open"}

    clinic = filters.NumberFilter(field_name="clinic_id")
    patient = filters.NumberFilter(field_name="patient_id")
    kind = filters.ChoiceFilter(choices=Alert.Kind.choices)
    severity = filters.ChoiceFilter(choices=Alert.Severity.choices)
    status = filters.ChoiceFilter(
        choices=[("open", "Open"), ("acknowledged", "Acknowledged"), ("all", "All")], method="filter_status"
    )

    class Meta:
        model = Alert
        fields = ["clinic", "patient", "kind", "severity", "status"]

    def filter_status(self, queryset, name, value):
        if value == "open":
            return queryset.filter(acknowledged_at__isnull=True)
        if value == "acknowledged":
            return queryset.filter(acknowledged_at__isnull=False)
        return queryset


class MessageFilter(filters.FilterSet):
    clinic = filters.NumberFilter(field_name="clinic_id")
    patient = filters.NumberFilter(field_name="patient_id")
    kind = filters.ChoiceFilter(choices=OutboundMessage.Kind.choices)
    channel = filters.ChoiceFilter(choices=Channel.choices)
    status = filters.MultipleChoiceFilter(choices=OutboundMessage.Status.choices)
    since = filters.IsoDateTimeFilter(field_name="scheduled_for", lookup_expr="gte")
    until = filters.IsoDateTimeFilter(field_name="scheduled_for", lookup_expr="lt")

    class Meta:
        model = OutboundMessage
        fields = ["clinic", "patient", "kind", "channel", "status", "since", "until"]
