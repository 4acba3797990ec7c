"""Raising and acknowledging safety alerts.

``alert_raise`` is called inside the transaction of whatever found the danger (a submitted
questionnaire, a vital sign), so the alert exists exactly when the finding does.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.access import Actor, Perm
from clinic.errors import Conflict, InvalidInput
from clinic.models import Alert, AuditEvent

from .audit import audit_record

logger = logging.getLogger(__name__)


def alert_raise(
    *,
    clinic_id: int,
    patient_id: int,
    kind: str,
    severity: str,
    message: str,
    source_type: str,
    source_id: object,
    dedupe_key: str | None = None,
    scope: tuple[str, int] | None = None,
) -> Alert | None:
    """Open an alert; with a ``dedupe_key`` already used, return None and open nothing."""
    alert = Alert(
        scope_type=scope[0] if scope else "",
        scope_id=scope[1] if scope else None,
        clinic_id=clinic_id,
        patient_id=patient_id,
        kind=kind,
        severity=severity,
        message=message[:300],
        source_type=source_type,
        source_id=str(source_id),
        dedupe_key=dedupe_key,
    )
    if dedupe_key is not None:
        if Alert.objects.filter(dedupe_key=dedupe_key).exists():
            return None
        try:
            with transaction.atomic():
                alert.save()
        except IntegrityError:
            return None  # raised concurrently by another worker: one alert is enough
    else:
        alert.save()
    if alert.severity == Alert.Severity.CRITICAL:
        from clinic.messaging.alerts import alert_notices_schedule

        alert_notices_schedule(alert)
    logger.warning(
        "alert.raised", extra={"alert_id": alert.pk, "kind": kind, "severity": severity, "clinic_id": clinic_id}
    )
    return alert


@transaction.atomic
def alert_acknowledge(*, actor: Actor, alert: Alert, note: str) -> Alert:
    """A clinician takes responsibility for the alert; the note says what was done."""
    actor.require(Perm.ALERT_ACKNOWLEDGE, alert.clinic_id)
    note = (note or "").strip()
    if not note:
        raise InvalidInput(errors={"note": ["Say what was done about this alert."]})
    locked = Alert.objects.select_for_update().get(pk=alert.pk)
    if locked.acknowledged_at is not None:
        raise Conflict("This alert was already acknowledged.", code="already_acknowledged")
    locked.acknowledged_at = timezone.now()
    locked.acknowledged_by = actor.user
    locked.acknowledgement_note = note
    locked.save(update_fields=["acknowledged_at", "acknowledged_by", "acknowledgement_note"])
    audit_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        object_type="alert",
        object_id=locked.pk,
        clinic_id=locked.clinic_id,
        patient_id=locked.patient_id,
        changed_fields=["acknowledged_at", "acknowledged_by", "acknowledgement_note"],
    )
    logger.info("alert.acknowledged", extra={"alert_id": locked.pk, "actor_id": actor.id})
    return locked
