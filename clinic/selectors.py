"""Every read of the clinic app, scoped to what the acting user may see.

Each selector takes the actor and the permission the caller needs, and looks only inside the
clinics where the actor holds it; anything else does not exist (``NotFound``, 404). Selectors
that return patient records write the READ audit event themselves, so no caller can forget it.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch, Q, QuerySet

from .access import Actor, Perm
from .errors import NotFound
from .models import Alert, AuditEvent, Clinic, Closure, OpeningHours, OutboundMessage, Patient, Room, StaffMember
from .services.audit import audit_record, audit_record_many


def clinic_list(*, actor: Actor, perm: Perm = Perm.CLINIC_VIEW) -> QuerySet[Clinic]:
    return (
        Clinic.objects.filter(pk__in=actor.clinics_with(perm))
        .prefetch_related(
            Prefetch("opening_hours", queryset=OpeningHours.objects.order_by("weekday", "opens")),
            Prefetch("closures", queryset=Closure.objects.order_by("starts_on")),
        )
        .order_by("name", "id")
    )


def clinic_get(*, actor: Actor, clinic_id: int, perm: Perm = Perm.CLINIC_VIEW) -> Clinic:
    clinic = clinic_list(actor=actor, perm=perm).filter(pk=clinic_id).first()
    if clinic is None:
        raise NotFound()
    return clinic


def room_list(*, actor: Actor, perm: Perm = Perm.ROOM_VIEW) -> QuerySet[Room]:
    return Room.objects.filter(clinic_id__in=actor.clinics_with(perm)).order_by("clinic_id", "name", "id")


def room_get(*, actor: Actor, room_id: int, perm: Perm = Perm.ROOM_VIEW) -> Room:
    room = Room.objects.filter(pk=room_id, clinic_id__in=actor.clinics_with(perm)).first()
    if room is None:
        raise NotFound()
    return room


def staff_list(*, actor: Actor, perm: Perm = Perm.STAFF_VIEW) -> QuerySet[StaffMember]:
    return (
        StaffMember.objects.filter(clinic_id__in=actor.clinics_with(perm))
        .select_related("user")
        .order_by("clinic_id", "user__last_name", "user__first_name", "id")
    )


def staff_get(*, actor: Actor, staff_id: int, perm: Perm = Perm.STAFF_VIEW) -> StaffMember:
    member = (
        StaffMember.objects.select_related("user").filter(pk=staff_id, clinic_id__in=actor.clinics_with(perm)).first()
    )
    if member is None:
        raise NotFound()
    return member


def patient_queryset(*, actor: Actor, perm: Perm = Perm.PATIENT_VIEW) -> QuerySet[Patient]:
    """Unaudited base queryset, for services that need a patient row as a foreign key."""
    return Patient.objects.filter(clinic_id__in=actor.clinics_with(perm))


def patient_list(*, actor: Actor, perm: Perm = Perm.PATIENT_VIEW, include_archived: bool = False) -> QuerySet[Patient]:
    patients = patient_queryset(actor=actor, perm=perm)
    if not include_archived:
        patients = patients.filter(archived_at__isnull=True)
    return patients.order_by("last_name", "first_name", "id")


def patient_search(
    *,
    actor: Actor,
    query: str = "",
    date_of_birth: dt.date | None = None,
    clinic_id: int | None = None,
    include_archived: bool = False,
) -> QuerySet[Patient]:
    """Find patients by name, MRN or birth date: sent in a POST body, never in a URL."""
    patients = patient_list(actor=actor, include_archived=include_archived)
    if clinic_id is not None:
        patients = patients.filter(clinic_id=clinic_id)
    for term in query.split():
        patients = patients.filter(Q(first_name__icontains=term) | Q(last_name__icontains=term) | Q(mrn__iexact=term))
    if date_of_birth is not None:
        patients = patients.filter(date_of_birth=date_of_birth)
    return patients


def patients_audit_reads(*, actor: Actor, patients: list[Patient]) -> None:
    """Record that the actor was shown these patients (one INSERT for a whole page)."""
    audit_record_many(actor=actor, object_type="patient", records=((p.clinic_id, p.pk, p.pk) for p in patients))


def patient_get(*, actor: Actor, patient_id: int, perm: Perm = Perm.PATIENT_VIEW, audit: bool = True) -> Patient:
    patient = patient_queryset(actor=actor, perm=perm).filter(pk=patient_id).first()
    if patient is None:
        raise NotFound()
    if audit:
        audit_record(
            actor=actor,
            action=AuditEvent.Action.READ,
            object_type="patient",
            object_id=patient.pk,
            clinic_id=patient.clinic_id,
            patient_id=patient.pk,
        )
    return patient


def audit_event_list(*, actor: Actor) -> QuerySet[AuditEvent]:
    return (
        AuditEvent.objects.filter(clinic_id__in=actor.clinics_with(Perm.AUDIT_VIEW))
        .select_related("actor")
        .order_by("-occurred_at", "-id")
    )


def membership_list(*, actor: Actor) -> list[dict]:
    """The actor's clinics and roles, for ``GET me/``: one entry per (clinic, role)."""
    names = dict(Clinic.objects.filter(pk__in=actor.clinic_ids()).values_list("pk", "name"))
    return [
        {"clinic": clinic_id, "clinic_name": names.get(clinic_id, ""), "role": role}
        for clinic_id in actor.clinic_ids()
        for role in sorted(actor.memberships[clinic_id].roles)
    ]


def alert_list(*, actor: Actor) -> QuerySet[Alert]:
    return (
        Alert.objects.filter(clinic_id__in=actor.clinics_with(Perm.ALERT_VIEW))
        .select_related("patient", "acknowledged_by")
        .order_by("-opened_at", "-id")
    )


def alert_get(*, actor: Actor, alert_id: int, perm: Perm = Perm.ALERT_VIEW) -> Alert:
    alert = Alert.objects.filter(pk=alert_id, clinic_id__in=actor.clinics_with(perm)).select_related("patient").first()
    if alert is None:
        raise NotFound()
    return alert


def alerts_audit_reads(*, actor: Actor, alerts: list[Alert]) -> None:
    audit_record_many(actor=actor, object_type="alert", records=((a.clinic_id, a.patient_id, a.pk) for a in alerts))


def message_list(*, actor: Actor) -> QuerySet[OutboundMessage]:
    """The delivery log: what was (or will be) sent, when and how it went; never the text."""
    return OutboundMessage.objects.filter(clinic_id__in=actor.clinics_with(Perm.NOTIFICATION_VIEW)).order_by(
        "-scheduled_for", "-id"
    )
