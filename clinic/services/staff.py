"""Staff accounts and their clinic memberships (roles, supervision limits).

A login may belong to several clinics. An administrator can only touch the logins of people in
clinics they administer: creating staff with a username that exists elsewhere is refused, and a
password can be reset only when every clinic of that login is one the administrator runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from clinic.access import Actor, Perm, Role
from clinic.errors import Conflict, InvalidInput
from clinic.models import AuditEvent, StaffMember, User

from .audit import audit_record
from .auth import auth_tokens_revoke_all
from .common import full_clean_or_invalid, model_update

USER_FIELDS = ("first_name", "last_name", "email")
MEMBER_FIELDS = ("roles", "max_concurrent_sessions", "phone", "active")


def _normalise_roles(roles: list[str]) -> list[str]:
    return sorted(set(roles))


def staff_user_prepare(
    *, username: str, password: str, email: str = "", first_name: str = "", last_name: str = ""
) -> User:
    """A new, unsaved user with a validated password (Django's password validators)."""
    user = User(username=username, email=email, first_name=first_name, last_name=last_name)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InvalidInput(errors={"password": list(exc.messages)}) from exc
    user.set_password(password)
    full_clean_or_invalid(user, exclude=["password", "last_login"])
    return user


def sync_admin_site_access(user: User) -> None:
    """The Django admin is for clinic administrators: is_staff follows the clinic_admin role."""
    is_admin = any(
        Role.CLINIC_ADMIN in roles
        for roles in StaffMember.objects.filter(user=user, active=True).values_list("roles", flat=True)
    )
    if user.is_staff != is_admin and not user.is_superuser:
        user.is_staff = is_admin
        user.save(update_fields=["is_staff"])


def _administers_all_clinics_of(actor: Actor, user: User) -> bool:
    clinic_ids = set(StaffMember.objects.filter(user=user).values_list("clinic_id", flat=True))
    return clinic_ids <= set(actor.clinics_with(Perm.STAFF_MANAGE))


def _ensure_an_admin_remains(member: StaffMember, *, roles: list[str], active: bool) -> None:
    if Role.CLINIC_ADMIN in member.roles and member.active and (Role.CLINIC_ADMIN not in roles or not active):
        others = (
            StaffMember.objects.select_for_update()
            .filter(clinic_id=member.clinic_id, active=True)
            .exclude(pk=member.pk)
            .values_list("roles", flat=True)
        )
        if not any(Role.CLINIC_ADMIN in r for r in others):
            raise Conflict("A clinic must keep at least one active administrator.", code="last_admin")


@transaction.atomic
def staff_create(
    *,
    actor: Actor,
    clinic_id: int,
    username: str,
    roles: list[str],
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    max_concurrent_sessions: int = 1,
    phone: str = "",
) -> StaffMember:
    actor.require(Perm.STAFF_MANAGE, clinic_id)
    existing = User.objects.filter(username=username).first()
    if existing is None:
        if not password:
            raise InvalidInput(errors={"password": ["A new login needs a password."]})
        user = staff_user_prepare(
            username=username, password=password, email=email, first_name=first_name, last_name=last_name
        )
        user.save()
    else:
        # Adding someone who already works at another clinic this admin runs. Never lets an
        # admin take over a login from a clinic they do not administer.
        if not _administers_all_clinics_of(actor, existing):
            raise InvalidInput(errors={"username": ["A user with this username already exists."]})
        if password:
            raise InvalidInput(errors={"password": ["This login exists; its password is not set here."]})
        if StaffMember.objects.filter(user=existing, clinic_id=clinic_id).exists():
            raise Conflict("This user is already a member of the clinic.", code="already_member")
        user = existing
    member = StaffMember(
        clinic_id=clinic_id,
        user=user,
        roles=_normalise_roles(roles),
        max_concurrent_sessions=max_concurrent_sessions,
        phone=phone,
    )
    full_clean_or_invalid(member, exclude=["user", "clinic"])
    member.save()
    sync_admin_site_access(user)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        object_type="staff_member",
        object_id=member.pk,
        clinic_id=clinic_id,
    )
    return member


@transaction.atomic
def staff_update(*, actor: Actor, member: StaffMember, data: Mapping[str, Any]) -> StaffMember:
    actor.require(Perm.STAFF_MANAGE, member.clinic_id)
    data = dict(data)
    if "roles" in data:
        data["roles"] = _normalise_roles(data["roles"])
    _ensure_an_admin_remains(member, roles=data.get("roles", member.roles), active=data.get("active", member.active))
    user = member.user
    user_fields = set(USER_FIELDS) & set(data)
    if (user_fields or data.get("password")) and not _administers_all_clinics_of(actor, user):
        raise InvalidInput(
            errors={
                name: ["This login also works at a clinic you do not administer; they change it themselves."]
                for name in sorted(user_fields | ({"password"} if data.get("password") else set()))
            }
        )
    changed = model_update(member, data=data, fields=MEMBER_FIELDS)
    changed += model_update(user, data=data, fields=USER_FIELDS)
    if data.get("password"):
        try:
            validate_password(data["password"], user)
        except ValidationError as exc:
            raise InvalidInput(errors={"password": list(exc.messages)}) from exc
        user.set_password(data["password"])
        user.save(update_fields=["password"])
        auth_tokens_revoke_all(user=user)
        changed.append("password")
    if "roles" in changed or "active" in changed:
        sync_admin_site_access(user)
    if "active" in changed and not member.active and not user.memberships.filter(active=True).exists():
        auth_tokens_revoke_all(user=user)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        object_type="staff_member",
        object_id=member.pk,
        clinic_id=member.clinic_id,
        changed_fields=changed,
    )
    return member


def staff_deactivate(*, actor: Actor, member: StaffMember) -> StaffMember:
    """Memberships are deactivated, never deleted: sessions and records keep pointing at them."""
    return staff_update(actor=actor, member=member, data={"active": False})
