"""Raising, escalating and acknowledging safety alerts.

``alert_raise`` is called inside the transaction of whatever found the danger (a submitted
questionnaire, a vital sign), so the alert, its audit row and its notices exist exactly when the
finding does.

``alerts_escalate`` is the beat sweep that makes sure an open alert is not silently ignored
(mission: "Celery escalates alerts"; issue 6 point 6). Two steps, each at most once per alert:

1. A missed vital-sign check (``vitals_overdue``, raised as a warning by the monitoring sweep)
   still unacknowledged ``overdue_minutes`` after it opened becomes **critical**: the alert's
   severity changes (audited) and the clinicians on duty get the usual critical notice. As a
   critical alert it now also blocks discharge until acknowledged. Only while the check is still
   missing (``monitoring.selectors.check_still_missing``): once it was done late, a reading was
   taken after it was due, or the patient was discharged, the warning stays open as the record of
   the miss but is never escalated.
2. A **critical** alert still unacknowledged ``second_notice_minutes`` after the clinicians on duty
   were told (after it opened, when nobody could be told) sends a second notice to them and to the
   clinic's prescribers and administrators. The Alert model has no field for an escalation level
   (and this change adds no migration), so the level is recorded by an audit event
   (``alert_escalation`` / ``"<alert id>:2"``, system actor) written with the notices; it is both
   the history and the "already done" mark. The notices' dedupe keys name the level too.

Concurrency: each alert is escalated in its own transaction under ``SELECT ... FOR UPDATE SKIP
LOCKED`` with its state re-checked inside the lock, so two sweeps racing (or a sweep racing an
acknowledgement, which locks the same row) escalate an alert once and never after it was
acknowledged. Other warnings (a borderline SpO2, a sedation drop) are not escalated: they are
findings for the clinician at the chair, not emergencies, and stay quiet as before.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, Min, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from clinic.access import Actor, Perm
from clinic.errors import Conflict, InvalidInput
from clinic.models import Alert, AuditEvent, OutboundMessage

from .audit import audit_record

logger = logging.getLogger(__name__)

# Default delays; a deployment changes them with the settings named below (read at every sweep).
#
# Overdue check -> critical after 10 minutes. The monitoring sweep raises the warning 5 minutes
# after the reading was due (its grace), so escalation comes 15 minutes after the due time: longer
# than a whole check interval during an IV infusion (every 10 minutes, CLINICAL.md, Emory), i.e.
# by then the next reading is due too and the patient has effectively gone unobserved for two
# checks with nobody answering the warning. Much shorter would page the whole team for a nurse who
# is simply finishing a reading (alert fatigue); much longer would let an unobserved patient pass
# through the blood-pressure peak about 40 minutes after the dose (label 5.6) unnoticed.
OVERDUE_ESCALATION_MINUTES = 10
# Critical alert unacknowledged -> second notice after 10 minutes. Critical means an emergency
# threshold (SBP >= 180, SpO2 < 90, MOAA/S <= 2, a suicide-risk answer); if the clinicians told
# at once have not taken it within 10 minutes, the first line is not responding and the
# prescribers and administrators must know, while there is still time to act.
SECOND_NOTICE_MINUTES = 10
SECOND_LEVEL = 2


def escalation_delays() -> tuple[dt.timedelta, dt.timedelta]:
    """(overdue check -> critical, critical -> second notice), from settings or the defaults above."""
    overdue = getattr(settings, "ALERT_OVERDUE_ESCALATION_MINUTES", OVERDUE_ESCALATION_MINUTES)
    second = getattr(settings, "ALERT_SECOND_NOTICE_MINUTES", SECOND_NOTICE_MINUTES)
    return dt.timedelta(minutes=overdue), dt.timedelta(minutes=second)


def _audit_system(*, action: str, object_type: str, object_id: object, alert: Alert, changed: list[str]) -> None:
    audit_record(
        actor=None,
        actor_kind=AuditEvent.ActorKind.SYSTEM,
        action=action,
        object_type=object_type,
        object_id=object_id,
        clinic_id=alert.clinic_id,
        patient_id=alert.patient_id,
        changed_fields=changed,
    )


@transaction.atomic
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
    """Open an alert; with a ``dedupe_key`` already used, return None and open nothing.

    The alert is written by the system (the rule that found the danger), so its audit row has
    the system actor; the request that triggered it, if any, is linked by the request id.
    """
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
    _audit_system(
        action=AuditEvent.Action.CREATE,
        object_type="alert",
        object_id=alert.pk,
        alert=alert,
        changed=["kind", "severity"],
    )
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


# --- escalation -----------------------------------------------------------------------------------


@dataclass
class Escalation:
    """What one sweep did: alert ids made critical, and alert ids whose second notice went out."""

    to_critical: list[int] = field(default_factory=list)
    second_notice: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.to_critical) + len(self.second_notice)


def _escalation_marker(level: int):
    """The audit event that records an alert's escalation to ``level`` (found through the
    patient index: the alert's own patient, since the alert opened)."""
    return AuditEvent.objects.filter(
        patient_id=OuterRef("patient_id"),
        occurred_at__gte=OuterRef("opened_at"),
        object_type="alert_escalation",
        object_id=Concat(Cast(OuterRef("pk"), CharField()), Value(f":{level}"), output_field=CharField()),
    )


def alerts_escalate(*, now: dt.datetime | None = None) -> Escalation:
    """Escalate every open alert that waited too long (the beat sweep; safe to run twice at once)."""
    now = now or timezone.now()
    overdue_after, second_after = escalation_delays()
    done = Escalation()

    overdue = Alert.objects.filter(
        kind=Alert.Kind.VITALS_OVERDUE,
        severity=Alert.Severity.WARNING,
        acknowledged_at__isnull=True,
        opened_at__lte=now - overdue_after,
    ).order_by("opened_at", "id")
    for alert_id in overdue.values_list("pk", flat=True):
        if _overdue_to_critical(alert_id, now):
            done.to_critical.append(alert_id)

    first_told = (
        OutboundMessage.objects.filter(
            kind=OutboundMessage.Kind.ALERT_NOTICE,
            subject_type="alert",
            subject_id=OuterRef("pk"),
            dedupe_key__startswith="alert-notice:",
        )
        .order_by()
        .values("subject_id")
        .annotate(first=Min("created_at"))
        .values("first")
    )
    unanswered = (
        Alert.objects.filter(severity=Alert.Severity.CRITICAL, acknowledged_at__isnull=True)
        .exclude(pk__in=done.to_critical)  # one step per sweep: the on-duty notice goes out first
        .annotate(told_at=Coalesce(Subquery(first_told), "opened_at"))
        .filter(told_at__lte=now - second_after)
        .exclude(Exists(_escalation_marker(SECOND_LEVEL)))
        .order_by("opened_at", "id")
    )
    for alert_id in unanswered.values_list("pk", flat=True):
        if _second_notice(alert_id):
            done.second_notice.append(alert_id)

    if done:
        logger.warning(
            "alert.escalated", extra={"to_critical": len(done.to_critical), "second_notice": len(done.second_notice)}
        )
    return done


def _lock_open(alert_id: int, **state) -> Alert | None:
    """The alert, locked, if it is still open and in ``state``; None if another sweep holds it or it moved on."""
    return (
        Alert.objects.select_for_update(skip_locked=True)
        .filter(pk=alert_id, acknowledged_at__isnull=True, **state)
        .first()
    )


@transaction.atomic
def _overdue_to_critical(alert_id: int, now: dt.datetime) -> bool:
    alert = _lock_open(alert_id, severity=Alert.Severity.WARNING)
    if alert is None or not _check_still_missing(alert, now):
        return False
    alert.severity = Alert.Severity.CRITICAL
    alert.save(update_fields=["severity"])
    _audit_system(
        action=AuditEvent.Action.UPDATE, object_type="alert", object_id=alert.pk, alert=alert, changed=["severity"]
    )
    from clinic.messaging.alerts import alert_notices_schedule

    alert_notices_schedule(alert)
    logger.warning("alert.escalated_to_critical", extra={"alert_id": alert.pk, "clinic_id": alert.clinic_id})
    return True


def _check_still_missing(alert: Alert, now: dt.datetime) -> bool:
    """A missed check escalates only while it is missing: once it was done late, a later reading
    was taken or the patient was discharged, the warning stays as the record of the miss but
    pages nobody. An alert whose check cannot be told escalates (the safe side)."""
    if alert.scope_type != "monitoring_record":
        return True
    from monitoring.selectors import check_still_missing  # monitoring builds on clinic, not the reverse

    return check_still_missing(dedupe_key=alert.dedupe_key, now=now)


@transaction.atomic
def _second_notice(alert_id: int) -> bool:
    alert = _lock_open(alert_id, severity=Alert.Severity.CRITICAL)
    if alert is None:
        return False
    # Re-checked under the lock: a sweep that committed since this one listed the alert has left its mark.
    if AuditEvent.objects.filter(
        patient_id=alert.patient_id,
        occurred_at__gte=alert.opened_at,
        object_type="alert_escalation",
        object_id=f"{alert.pk}:{SECOND_LEVEL}",
    ).exists():
        return False
    _audit_system(
        action=AuditEvent.Action.CREATE,
        object_type="alert_escalation",
        object_id=f"{alert.pk}:{SECOND_LEVEL}",
        alert=alert,
        changed=[],
    )
    from clinic.messaging.alerts import alert_escalation_notices_schedule

    alert_escalation_notices_schedule(alert, level=SECOND_LEVEL)
    logger.warning("alert.second_notice", extra={"alert_id": alert.pk, "clinic_id": alert.clinic_id})
    return True
