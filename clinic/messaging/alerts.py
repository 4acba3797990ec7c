"""Notices of critical alerts to the clinicians on duty, and of ignored ones to the senior staff, through the outbox.

"On duty" means a clinician whose availability window covers the moment in the clinic's local
time and who is not on dated time off then; if nobody is (a night, a gap), every active clinician
of the clinic is told, because a critical alert must reach someone. A critical alert still open
after the escalation delay (``clinic.services.alerts.alerts_escalate``) sends a second notice to
the clinicians on duty and to the clinic's prescribers and administrators.

Notices name the clinic, the alert number and a time only, never the patient or the kind of
alert: phones are read by others, and the details are in the app, behind a login. Both notices
are the ``alert_notice`` kind; the second is told apart by its dedupe key, which also makes each
level happen once per recipient and channel however often the sweep runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.utils import timezone

from clinic.access import CLINICIAN_ROLES, Role
from clinic.models import Alert, OutboundMessage, StaffMember

from . import outbox
from .render import Renderer, register

# Who hears of a critical alert nobody acknowledged: prescribers can act on any alert (and one
# is on site for every esketamine session), administrators can find someone who will.
SENIOR_ROLES = frozenset({Role.PRESCRIBER, Role.CLINIC_ADMIN})
NOTICE_KEY = "alert-notice"
ESCALATION_KEY = "alert-escalation"


def _active_staff(clinic_id: int) -> list[StaffMember]:
    return list(
        StaffMember.objects.filter(clinic_id=clinic_id, active=True, user__is_active=True)
        .select_related("user", "clinic")
        .prefetch_related("availability_windows")
        .order_by("id")
    )


def _away(members: Iterable[StaffMember], moment: dt.datetime) -> set[int]:
    """Members on dated time off at ``moment`` (one query; both conditions on the same absence)."""
    return set(
        StaffMember.objects.filter(
            pk__in=[m.pk for m in members], time_off__starts_at__lte=moment, time_off__ends_at__gt=moment
        ).values_list("pk", flat=True)
    )


def _on_duty(staff: list[StaffMember], moment: dt.datetime) -> list[StaffMember]:
    members = [m for m in staff if CLINICIAN_ROLES & set(m.roles)]
    if not members:
        return []
    away = _away(members, moment)
    local = timezone.localtime(moment, members[0].clinic.tz)
    day, time = local.weekday(), local.time()
    scheduled = [
        m
        for m in members
        if m.pk not in away
        and any(w.weekday == day and w.starts <= time < w.ends for w in m.availability_windows.all())
    ]
    return scheduled or [m for m in members if m.pk not in away] or members


def on_duty_clinicians(clinic_id: int, moment: dt.datetime) -> list[StaffMember]:
    return _on_duty(_active_staff(clinic_id), moment)


def escalation_recipients(clinic_id: int, moment: dt.datetime) -> list[StaffMember]:
    """The clinicians on duty plus every active prescriber and administrator, each once."""
    staff = _active_staff(clinic_id)
    chosen = {m.pk: m for m in _on_duty(staff, moment)}
    chosen.update({m.pk: m for m in staff if SENIOR_ROLES & set(m.roles) and m.pk not in chosen})
    return sorted(chosen.values(), key=lambda m: m.pk)


def _schedule(alert: Alert, members: list[StaffMember], key_prefix: str, now: dt.datetime) -> int:
    count = 0
    for member in members:
        for channel in outbox.staff_channels(member):
            message = outbox.schedule(
                clinic=member.clinic,
                staff=member,
                kind=OutboundMessage.Kind.ALERT_NOTICE,
                subject=("alert", alert.pk),
                scheduled_for=now,
                dedupe_key=f"{key_prefix}:{alert.pk}:{member.pk}:{channel[0]}",
                channel=channel,
            )
            count += message is not None
    if count:
        outbox.nudge()
    return count


def alert_notices_schedule(alert: Alert) -> int:
    """Called in the transaction that raised (or escalated to) a critical alert; returns the number of notices."""
    now = timezone.now()
    return _schedule(alert, on_duty_clinicians(alert.clinic_id, now), NOTICE_KEY, now)


def alert_escalation_notices_schedule(alert: Alert, *, level: int) -> int:
    """The second notice of a critical alert nobody acknowledged; called in the escalating transaction."""
    now = timezone.now()
    return _schedule(alert, escalation_recipients(alert.clinic_id, now), f"{ESCALATION_KEY}:{level}", now)


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
        "escalated": message.dedupe_key.startswith(f"{ESCALATION_KEY}:"),
    }


def register_renderers() -> None:
    register(OutboundMessage.Kind.ALERT_NOTICE, Renderer("alert_notice", _load, _context))
