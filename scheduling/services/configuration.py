"""Clinic administrators configure scheduling: treatment types and clinicians' availability."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from clinic.access import CLINICIAN_ROLES, Actor, Perm
from clinic.errors import Conflict, InvalidInput
from clinic.models import AuditEvent, StaffMember
from clinic.services.audit import audit_record
from clinic.services.common import full_clean_or_invalid, model_update
from scheduling.models import AvailabilityWindow, TimeOff, TreatmentType

TREATMENT_TYPE_FIELDS = (
    "name",
    "modality",
    "duration_minutes",
    "turnover_minutes",
    "min_hours_between",
    "requires_rems_enrollment",
    "active",
)


def _save_unique_name(treatment_type: TreatmentType, **kwargs) -> None:
    try:
        with transaction.atomic():
            treatment_type.save(**kwargs)
    except IntegrityError as exc:
        raise InvalidInput(errors={"name": ["A treatment type with this name already exists."]}) from exc


@transaction.atomic
def treatment_type_create(*, actor: Actor, clinic_id: int, data: Mapping[str, Any]) -> TreatmentType:
    actor.require(Perm.SCHEDULING_CONFIGURE, clinic_id)
    treatment_type = TreatmentType(clinic_id=clinic_id, **{k: v for k, v in data.items() if k in TREATMENT_TYPE_FIELDS})
    full_clean_or_invalid(treatment_type, exclude=["clinic"])
    _save_unique_name(treatment_type)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        object_type="treatment_type",
        object_id=treatment_type.pk,
        clinic_id=clinic_id,
    )
    return treatment_type


@transaction.atomic
def treatment_type_update(*, actor: Actor, treatment_type: TreatmentType, data: Mapping[str, Any]) -> TreatmentType:
    """Changes apply to future bookings; sessions already booked keep their times."""
    actor.require(Perm.SCHEDULING_CONFIGURE, treatment_type.clinic_id)
    if "modality" in data and data["modality"] != treatment_type.modality and treatment_type.sessions.exists():
        raise Conflict("Sessions use this treatment type; create a new one instead.", code="treatment_type_in_use")
    try:
        with transaction.atomic():
            changed = model_update(treatment_type, data=data, fields=TREATMENT_TYPE_FIELDS)
    except IntegrityError as exc:
        raise InvalidInput(errors={"name": ["A treatment type with this name already exists."]}) from exc
    audit_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        object_type="treatment_type",
        object_id=treatment_type.pk,
        clinic_id=treatment_type.clinic_id,
        changed_fields=changed,
    )
    return treatment_type


@transaction.atomic
def treatment_type_delete(*, actor: Actor, treatment_type: TreatmentType) -> None:
    actor.require(Perm.SCHEDULING_CONFIGURE, treatment_type.clinic_id)
    pk, clinic_id = treatment_type.pk, treatment_type.clinic_id
    try:
        with transaction.atomic():
            treatment_type.delete()
    except ProtectedError as exc:
        raise Conflict(
            "Sessions use this treatment type; deactivate it instead.", code="treatment_type_in_use"
        ) from exc
    audit_record(
        actor=actor, action=AuditEvent.Action.DELETE, object_type="treatment_type", object_id=pk, clinic_id=clinic_id
    )


def _ensure_clinician(member: StaffMember) -> None:
    if not CLINICIAN_ROLES & set(member.roles):
        raise InvalidInput(errors={"staff": ["Only nurses and prescribers supervise sessions."]})


@transaction.atomic
def availability_replace_weekly(
    *, actor: Actor, member: StaffMember, windows: Sequence[Mapping[str, Any]]
) -> list[AvailabilityWindow]:
    """Replace a clinician's weekly windows (local time); overlapping windows on a day are refused."""
    actor.require(Perm.SCHEDULING_CONFIGURE, member.clinic_id)
    _ensure_clinician(member)
    errors: dict[str, list[str]] = {}
    by_day: dict[int, list[tuple[dt.time, dt.time, int]]] = {}
    for index, window in enumerate(windows):
        if window["starts"] >= window["ends"]:
            errors[f"weekly.{index}.ends"] = ["Must be later than starts."]
        by_day.setdefault(window["weekday"], []).append((window["starts"], window["ends"], index))
    for day in by_day.values():
        day.sort()
        for (_, prev_end, _), (starts, _, index) in itertools.pairwise(day):
            if starts < prev_end:
                errors[f"weekly.{index}.starts"] = ["Overlaps another window on the same weekday."]
    if errors:
        raise InvalidInput(errors=errors)
    member.availability_windows.all().delete()
    created = AvailabilityWindow.objects.bulk_create(
        AvailabilityWindow(staff_member=member, weekday=w["weekday"], starts=w["starts"], ends=w["ends"])
        for w in windows
    )
    audit_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        object_type="staff_availability",
        object_id=member.pk,
        clinic_id=member.clinic_id,
        changed_fields=["weekly"],
    )
    return created


@transaction.atomic
def time_off_add(
    *, actor: Actor, member: StaffMember, starts_at: dt.datetime, ends_at: dt.datetime, reason: str = ""
) -> TimeOff:
    actor.require(Perm.SCHEDULING_CONFIGURE, member.clinic_id)
    _ensure_clinician(member)
    if ends_at <= starts_at:
        raise InvalidInput(errors={"ends_at": ["Must be after starts_at."]})
    time_off = TimeOff.objects.create(staff_member=member, starts_at=starts_at, ends_at=ends_at, reason=reason)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        object_type="time_off",
        object_id=time_off.pk,
        clinic_id=member.clinic_id,
    )
    return time_off


@transaction.atomic
def time_off_delete(*, actor: Actor, time_off: TimeOff) -> None:
    clinic_id = time_off.staff_member.clinic_id
    actor.require(Perm.SCHEDULING_CONFIGURE, clinic_id)
    pk = time_off.pk
    time_off.delete()
    audit_record(
        actor=actor, action=AuditEvent.Action.DELETE, object_type="time_off", object_id=pk, clinic_id=clinic_id
    )
