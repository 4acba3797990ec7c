"""Notices of critical alerts to the clinicians on duty, through the outbox, sent at once.

"On duty" means a clinician whose availability window covers the moment in the clinic's local
time; if nobody is scheduled (a night, a gap), every active clinician of the clinic is told,
because a critical alert must reach someone. Notices name the clinic and the alert number only:
the details are in the app, behind a login.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from clinic.access import CLINICIAN_ROLES
from clinic.models import Alert, OutboundMessage, StaffMember

from . import outbox
from .render import Renderer, register


def on_duty_clinicians(clinic_id: int, moment: dt.datetime) -> list[StaffMember]:
    members = [
        m
        for m in StaffMember.objects.filter(clinic_id=clinic_id, active=True, user__is_active=True)
        .select_related("user", "clinic")
        .prefetch_related("availability_windows")
        .order_by("id")
        if CLINICIAN_ROLES & set(m.roles)
    ]
    if not members:
        return []
    local = timezone.localtime(moment, members[0].clinic.tz)
    scheduled = [
        m
        for m in members
        if any(w.weekday == local.weekday() and w.starts <= local.time() < w.ends for w in m.availability_windows.all())
    ]
    return scheduled or members


def alert_notices_schedule(alert: Alert) -> int:
    """Called in the transaction that raised a critical alert; returns the number of notices."""
    count = 0
    now = timezone.now()
    for member in on_duty_clinicians(alert.clinic_id, now):
        for channel in outbox.staff_channels(member):
            message = outbox.schedule(
                clinic=member.clinic,
                staff=member,
                kind=OutboundMessage.Kind.ALERT_NOTICE,
                subject=("alert", alert.pk),
                scheduled_for=now,
                dedupe_key=f"alert-notice:{alert.pk}:{member.pk}:{channel[0]}",
                channel=channel,
            )
            count += message is not None
    if count:
        outbox.nudge()
    return count


def _load(messages: list[OutboundMessage]) -> dict[int, Alert]:
    alerts = {a.pk: a for a in Alert.objects.filter(pk__in={m.subject_id for m in messages}).select_related("clinic")}
    return {m.pk: alerts[m.subject_id] for m in messages if m.subject_id in alerts}


def _context(message: OutboundMessage, alert: Alert) -> dict | None:
    if not alert.is_open:
        return None  # someone already acknowledged it
    return {
        "clinic_name": alert.clinic.name,
        "alert_id": alert.pk,
        "when": f"{timezone.localtime(alert.opened_at, alert.clinic.tz):%H:%M}",
    }


def register_renderers() -> None:
    register(OutboundMessage.Kind.ALERT_NOTICE, Renderer("alert_notice", _load, _context))
