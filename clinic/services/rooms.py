"""Treatment chairs and rooms: which modalities each can host, and whether it is in use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from clinic.access import Actor, Perm
from clinic.errors import Conflict, InvalidInput
from clinic.models import AuditEvent, Room

from .audit import audit_record
from .common import full_clean_or_invalid, model_update

ROOM_FIELDS = ("name", "kind", "modalities", "active")


def _save_unique(room: Room, **save_kwargs) -> None:
    try:
        with transaction.atomic():
            room.save(**save_kwargs)
    except IntegrityError as exc:
        raise InvalidInput(errors={"name": ["A room with this name already exists in the clinic."]}) from exc


@transaction.atomic
def room_create(
    *, actor: Actor, clinic_id: int, name: str, modalities: list[str], kind: str = Room.Kind.CHAIR, active: bool = True
) -> Room:
    actor.require(Perm.ROOM_MANAGE, clinic_id)
    room = Room(clinic_id=clinic_id, name=name, kind=kind, modalities=sorted(set(modalities)), active=active)
    full_clean_or_invalid(room, exclude=["clinic"])
    _save_unique(room)
    audit_record(
        actor=actor, action=AuditEvent.Action.CREATE, object_type="room", object_id=room.pk, clinic_id=clinic_id
    )
    return room


@transaction.atomic
def room_update(*, actor: Actor, room: Room, data: Mapping[str, Any]) -> Room:
    actor.require(Perm.ROOM_MANAGE, room.clinic_id)
    data = dict(data)
    if "modalities" in data:
        data["modalities"] = sorted(set(data["modalities"]))
    try:
        with transaction.atomic():
            changed = model_update(room, data=data, fields=ROOM_FIELDS)
    except IntegrityError as exc:
        raise InvalidInput(errors={"name": ["A room with this name already exists in the clinic."]}) from exc
    audit_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        object_type="room",
        object_id=room.pk,
        clinic_id=room.clinic_id,
        changed_fields=changed,
    )
    return room


@transaction.atomic
def room_delete(*, actor: Actor, room: Room) -> None:
    """Delete a room that was never used; one with sessions can only be deactivated."""
    actor.require(Perm.ROOM_MANAGE, room.clinic_id)
    room_id, clinic_id = room.pk, room.clinic_id
    try:
        with transaction.atomic():
            room.delete()
    except ProtectedError as exc:
        raise Conflict("This room has sessions on record; deactivate it instead.", code="room_in_use") from exc
    audit_record(
        actor=actor, action=AuditEvent.Action.DELETE, object_type="room", object_id=room_id, clinic_id=clinic_id
    )
