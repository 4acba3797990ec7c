"""The audit trail: who read or wrote which record, when, from where.

Called by services (writes) and by the selectors that return patient records (reads), always
inside the transaction of the operation it records, so an operation and its audit row commit
or roll back together. Request id and client address come from the request context.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection
from django.utils import timezone

from clinic.access import Actor
from clinic.models import AuditEvent, User
from clinic.request_context import client_address_var, request_id_var
from clinic.rows import array_literal

Action = AuditEvent.Action


def _actor_fields(actor: Actor | User | None, actor_kind: str | None) -> dict:
    user = actor.user if isinstance(actor, Actor) else actor
    if actor_kind is None:
        actor_kind = AuditEvent.ActorKind.STAFF if user is not None else AuditEvent.ActorKind.SYSTEM
    return {"actor": user, "actor_kind": actor_kind}


def audit_event(
    *,
    actor: Actor | User | None,
    action: str,
    object_type: str,
    object_id: object = "",
    clinic_id: int | None = None,
    patient_id: int | None = None,
    changed_fields: Sequence[str] = (),
    actor_kind: str | None = None,
) -> AuditEvent:
    """The audit row, unsaved: for ``clinic.rows.insert_rows`` with the operation's other rows."""
    return AuditEvent(
        **_actor_fields(actor, actor_kind),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        clinic_id=clinic_id,
        patient_id=patient_id,
        changed_fields=list(changed_fields),
        request_id=request_id_var.get(),
        client_address=client_address_var.get(),
    )


def audit_record(**fields) -> AuditEvent:
    """``audit_event(**fields)``, saved."""
    event = audit_event(**fields)
    event.save()
    return event


def audit_record_many(
    *,
    actor: Actor | User | None,
    object_type: str,
    records: Iterable[tuple[int | None, int | None, object]],
    action: str = Action.READ,
    actor_kind: str | None = None,
) -> None:
    """One event per record, written in a single INSERT (a list page or a batch stays constant-cost).

    ``records`` yields ``(clinic_id, patient_id, object_id)``; the default action is READ.
    """
    rows = [(clinic_id, patient_id, str(object_id)) for clinic_id, patient_id, object_id in records]
    if not rows:
        return
    common = {
        **_actor_fields(actor, actor_kind),
        "action": action,
        "object_type": object_type,
        "request_id": request_id_var.get(),
        "client_address": client_address_var.get(),
    }
    if connection.vendor == "postgresql":
        _insert_unnest(rows, common)
        return
    AuditEvent.objects.bulk_create(
        AuditEvent(clinic_id=clinic_id, patient_id=patient_id, object_id=object_id, **common)
        for clinic_id, patient_id, object_id in rows
    )


_INSERT_UNNEST = """
INSERT INTO clinic_auditevent
    (occurred_at, clinic_id, actor_id, actor_kind, action, patient_id, object_type, object_id,
     request_id, client_address, changed_fields)
SELECT %s, t.clinic_id, %s, %s, %s, t.patient_id, %s, t.object_id, %s, %s, '[]'::jsonb
FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS t(clinic_id, patient_id, object_id)
"""


def _insert_unnest(rows: list[tuple[int | None, int | None, str]], common: dict) -> None:
    """Three array parameters instead of eleven per row: a calendar page of 200 patients
    costs the same statement as one, with no model instances built."""
    clinic_ids, patient_ids, object_ids = (array_literal(column) for column in zip(*rows, strict=True))
    user = common["actor"]
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_UNNEST,
            [
                timezone.now(),
                user.pk if user is not None else None,
                common["actor_kind"],
                common["action"],
                common["object_type"],
                common["request_id"],
                common["client_address"],
                clinic_ids,
                patient_ids,
                object_ids,
            ],
        )
