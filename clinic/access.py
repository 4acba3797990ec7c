"""Who may do what: the one permission vocabulary every app uses.

Roles are held per clinic. A role grants a set of permissions; views name the permission an
operation needs, selectors return only objects in the clinics where the actor holds it, and
services check it again before writing. Two rules follow everywhere:

* lacking a permission in every clinic answers 403 (the role may not do this at all);
* an object outside the clinics where the actor holds the permission answers 404, so another
  clinic's records do not even show that they exist.

Clinic admins configure the clinic; they do not read clinical records ("minimum necessary").
Front desk sees demographics, candidacy status and the calendar, never answers, scores, vitals
or notes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from .models import User


class Role(models.TextChoices):
    FRONT_DESK = "front_desk", _("Front desk")
    NURSE = "nurse", _("Nurse")
    PRESCRIBER = "prescriber", _("Prescriber")
    CLINIC_ADMIN = "clinic_admin", _("Clinic administrator")


CLINICIAN_ROLES = frozenset({Role.NURSE, Role.PRESCRIBER})


class Perm(StrEnum):
    CLINIC_VIEW = "clinic.view"
    CLINIC_CONFIGURE = "clinic.configure"
    ROOM_VIEW = "room.view"
    ROOM_MANAGE = "room.manage"
    STAFF_VIEW = "staff.view"
    STAFF_MANAGE = "staff.manage"
    AUDIT_VIEW = "audit.view"
    PATIENT_VIEW = "patient.view"  # demographics and candidacy status
    PATIENT_MANAGE = "patient.manage"  # register, update, archive
    INTAKE_INVITE = "intake.invite"
    QUESTIONNAIRE_VIEW = "questionnaire.view"
    QUESTIONNAIRE_MANAGE = "questionnaire.manage"
    CLINICAL_VIEW = "clinical.view"  # answers, scores, assessments, vitals, notes, outcomes
    ASSESSMENT_DECIDE = "assessment.decide"
    RISK_ASSESS = "risk.assess"
    ALERT_VIEW = "alert.view"
    ALERT_ACKNOWLEDGE = "alert.acknowledge"
    SCHEDULE_VIEW = "schedule.view"  # calendar, availability
    SCHEDULE_MANAGE = "schedule.manage"  # book, move, cancel, check in
    SCHEDULING_CONFIGURE = "scheduling.configure"  # treatment types, protocols, clinician hours
    MONITORING_RECORD = "monitoring.record"
    CLINICAL_OVERRIDE = "clinical.override"  # dose gate, early discharge: prescriber's reasoned override
    NOTIFICATION_VIEW = "notification.view"


_CLINICIAN = {
    Perm.CLINIC_VIEW,
    Perm.ROOM_VIEW,
    Perm.PATIENT_VIEW,
    Perm.QUESTIONNAIRE_VIEW,
    Perm.CLINICAL_VIEW,
    Perm.ALERT_VIEW,
    Perm.ALERT_ACKNOWLEDGE,
    Perm.SCHEDULE_VIEW,
    Perm.MONITORING_RECORD,
    Perm.RISK_ASSESS,
    Perm.NOTIFICATION_VIEW,
}

ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    Role.FRONT_DESK: frozenset(
        {
            Perm.CLINIC_VIEW,
            Perm.ROOM_VIEW,
            Perm.PATIENT_VIEW,
            Perm.PATIENT_MANAGE,
            Perm.INTAKE_INVITE,
            Perm.QUESTIONNAIRE_VIEW,
            Perm.SCHEDULE_VIEW,
            Perm.SCHEDULE_MANAGE,
            Perm.NOTIFICATION_VIEW,
        }
    ),
    Role.NURSE: frozenset(_CLINICIAN),
    Role.PRESCRIBER: frozenset(_CLINICIAN | {Perm.ASSESSMENT_DECIDE, Perm.CLINICAL_OVERRIDE}),
    Role.CLINIC_ADMIN: frozenset(
        {
            Perm.CLINIC_VIEW,
            Perm.CLINIC_CONFIGURE,
            Perm.ROOM_VIEW,
            Perm.ROOM_MANAGE,
            Perm.STAFF_VIEW,
            Perm.STAFF_MANAGE,
            Perm.AUDIT_VIEW,
            Perm.QUESTIONNAIRE_VIEW,
            Perm.QUESTIONNAIRE_MANAGE,
            Perm.SCHEDULING_CONFIGURE,
            Perm.NOTIFICATION_VIEW,
        }
    ),
}


def permissions_for_roles(roles: Iterable[str]) -> frozenset[Perm]:
    granted: set[Perm] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


@dataclass(frozen=True)
class Membership:
    clinic_id: int
    staff_member_id: int
    roles: frozenset[str]
    permissions: frozenset[Perm]


@dataclass
class Actor:
    """The acting staff user with their active memberships, loaded once per request."""

    user: User
    memberships: dict[int, Membership] = field(default_factory=dict)

    @classmethod
    def for_user(cls, user: User) -> Actor:
        cached = getattr(user, "_clinic_actor", None)
        if cached is not None:
            return cached
        from .models import StaffMember

        rows = StaffMember.objects.filter(user=user, active=True, clinic__active=True).values_list(
            "clinic_id", "id", "roles"
        )
        return cls.from_rows(user, rows)

    @classmethod
    def from_rows(cls, user: User, rows) -> Actor:
        """Build (and cache on the user) from ``(clinic_id, staff_member_id, roles)`` rows."""
        actor = cls(
            user=user,
            memberships={
                clinic_id: Membership(clinic_id, member_id, frozenset(roles), permissions_for_roles(roles))
                for clinic_id, member_id, roles in rows
            },
        )
        user._clinic_actor = actor
        return actor

    @property
    def id(self) -> int:
        return self.user.pk

    def clinic_ids(self) -> list[int]:
        return sorted(self.memberships)

    def clinics_with(self, perm: Perm) -> list[int]:
        return sorted(cid for cid, m in self.memberships.items() if perm in m.permissions)

    def has(self, perm: Perm, clinic_id: int | None = None) -> bool:
        if clinic_id is None:
            return any(perm in m.permissions for m in self.memberships.values())
        membership = self.memberships.get(clinic_id)
        return membership is not None and perm in membership.permissions

    def roles_in(self, clinic_id: int) -> frozenset[str]:
        membership = self.memberships.get(clinic_id)
        return membership.roles if membership else frozenset()

    def staff_member_id(self, clinic_id: int) -> int | None:
        membership = self.memberships.get(clinic_id)
        return membership.staff_member_id if membership else None

    def require(self, perm: Perm, clinic_id: int) -> None:
        """Raise NotFound if the actor is not in the clinic, PermissionDenied if the role may not."""
        from .errors import NotFound, PermissionDenied

        if clinic_id not in self.memberships:
            raise NotFound()
        if perm not in self.memberships[clinic_id].permissions:
            raise PermissionDenied()
