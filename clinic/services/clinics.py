"""Creating and configuring clinics: details, opening hours, closures and message settings."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from clinic.access import Actor, Perm, Role
from clinic.errors import InvalidInput
from clinic.models import AuditEvent, Clinic, Closure, OpeningHours, StaffMember, User

from .audit import audit_record
from .common import full_clean_or_invalid, model_update
from .staff import staff_user_prepare, sync_admin_site_access

CLINIC_EDITABLE_FIELDS = (
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
)

DEFAULT_OPENING_HOURS = [(weekday, dt.time(8, 0), dt.time(18, 0)) for weekday in range(5)]


def validate_opening_hours(windows: Sequence[Mapping[str, Any]]) -> None:
    """Each window opens before it closes and no two windows of one weekday overlap."""
    errors: dict[str, list[str]] = {}
    by_day: dict[int, list[tuple[dt.time, dt.time, int]]] = {}
    for index, window in enumerate(windows):
        weekday, opens, closes = window["weekday"], window["opens"], window["closes"]
        if not 0 <= weekday <= 6:
            errors[f"opening_hours.{index}.weekday"] = ["Weekday must be 0 (Monday) to 6 (Sunday)."]
            continue
        if opens >= closes:
            errors[f"opening_hours.{index}.closes"] = ["Must be later than opens."]
            continue
        by_day.setdefault(weekday, []).append((opens, closes, index))
    for day_windows in by_day.values():
        day_windows.sort()
        for (_, prev_closes, _), (opens, _, index) in itertools.pairwise(day_windows):
            if opens < prev_closes:
                errors[f"opening_hours.{index}.opens"] = ["Overlaps another window on the same weekday."]
    if errors:
        raise InvalidInput(errors=errors)


def validate_closures(closures: Sequence[Mapping[str, Any]]) -> None:
    errors = {
        f"closures.{index}.ends_on": ["Must not be before starts_on."]
        for index, closure in enumerate(closures)
        if closure["ends_on"] < closure["starts_on"]
    }
    if errors:
        raise InvalidInput(errors=errors)


def validate_reminder_hours(value: object) -> None:
    if (
        not isinstance(value, list)
        or not value
        or len(value) > 5
        or not all(isinstance(h, int) and 0 < h <= 24 * 14 for h in value)
        or len(set(value)) != len(value)
    ):
        raise InvalidInput(
            errors={"reminder_hours_before": ["A list of 1 to 5 distinct whole hours between 1 and 336."]}
        )


def _replace_opening_hours(clinic: Clinic, windows: Sequence[Mapping[str, Any]]) -> None:
    validate_opening_hours(windows)
    clinic.opening_hours.all().delete()
    OpeningHours.objects.bulk_create(
        OpeningHours(clinic=clinic, weekday=w["weekday"], opens=w["opens"], closes=w["closes"]) for w in windows
    )


def _replace_closures(clinic: Clinic, closures: Sequence[Mapping[str, Any]]) -> None:
    validate_closures(closures)
    clinic.closures.all().delete()
    Closure.objects.bulk_create(
        Closure(clinic=clinic, starts_on=c["starts_on"], ends_on=c["ends_on"], reason=c.get("reason", ""))
        for c in closures
    )


@transaction.atomic
def clinic_update(
    *,
    actor: Actor,
    clinic: Clinic,
    data: Mapping[str, Any],
    opening_hours: Sequence[Mapping[str, Any]] | None = None,
    closures: Sequence[Mapping[str, Any]] | None = None,
) -> Clinic:
    """Change a clinic's details and settings; ``opening_hours`` and ``closures`` replace the sets."""
    actor.require(Perm.CLINIC_CONFIGURE, clinic.pk)
    if "reminder_hours_before" in data:
        validate_reminder_hours(data["reminder_hours_before"])
    changed = model_update(clinic, data=data, fields=CLINIC_EDITABLE_FIELDS)
    if opening_hours is not None:
        _replace_opening_hours(clinic, opening_hours)
        changed.append("opening_hours")
    if closures is not None:
        _replace_closures(clinic, closures)
        changed.append("closures")
    audit_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        object_type="clinic",
        object_id=clinic.pk,
        clinic_id=clinic.pk,
        changed_fields=changed,
    )
    return clinic


@transaction.atomic
def clinic_bootstrap(
    *,
    name: str,
    timezone: str,
    admin_username: str,
    admin_password: str,
    admin_email: str = "",
    phone: str = "",
    message_name: str = "",
) -> tuple[Clinic, StaffMember]:
    """Create a clinic, default weekday hours (08:00-18:00) and its first administrator.

    What an operator runs on a new deployment (``manage.py bootstrap_clinic``).
    """
    clinic = Clinic(name=name, timezone=timezone, phone=phone, message_name=message_name)
    full_clean_or_invalid(clinic)
    clinic.save()
    OpeningHours.objects.bulk_create(
        OpeningHours(clinic=clinic, weekday=day, opens=opens, closes=closes)
        for day, opens, closes in DEFAULT_OPENING_HOURS
    )
    if User.objects.filter(username=admin_username).exists():
        raise InvalidInput(errors={"admin_username": ["A user with this username already exists."]})
    user = staff_user_prepare(username=admin_username, password=admin_password, email=admin_email)
    user.save()
    member = StaffMember.objects.create(clinic=clinic, user=user, roles=[Role.CLINIC_ADMIN])
    sync_admin_site_access(user)
    audit_record(
        actor=None,
        action=AuditEvent.Action.CREATE,
        object_type="clinic",
        object_id=clinic.pk,
        clinic_id=clinic.pk,
    )
    return clinic, member
