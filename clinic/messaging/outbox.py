"""The outbox service: schedule, move and cancel messages; claim due ones; deliver them.

Rows are created inside the caller's transaction, so a message exists exactly when the change
that causes it commits. Delivery is at least once in the face of a worker dying mid-send (the
lease expires and the row is claimed again); everywhere else exactly once: a row is claimed by
one dispatcher only (SKIP LOCKED) and moves to ``sent`` only from ``sending``. Redis being down
delays messages and blocks nothing: scheduling a message never touches the broker.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from clinic.models import Channel, Clinic, OutboundMessage, Patient, StaffMember

from . import render as rendering
from . import sms

logger = logging.getLogger(__name__)

Status = OutboundMessage.Status
LEASE = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 5
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_CAP = dt.timedelta(hours=1)


# --- choosing a channel -------------------------------------------------------------------------


def patient_channel(patient: Patient) -> tuple[str, str] | None:
    """The patient's preferred channel, else the other one; never one they opted out of."""
    options = {
        Channel.EMAIL: (patient.email, patient.email_opt_out),
        Channel.SMS: (str(patient.phone or ""), patient.sms_opt_out),
    }
    order = [patient.preferred_channel, *[c for c in options if c != patient.preferred_channel]]
    for channel in order:
        address, opted_out = options[channel]
        if address and not opted_out:
            return channel, address
    return None


def staff_channels(member: StaffMember) -> list[tuple[str, str]]:
    channels = []
    if member.user.email:
        channels.append((Channel.EMAIL, member.user.email))
    if member.phone:
        channels.append((Channel.SMS, str(member.phone)))
    return channels


# --- scheduling rows ------------------------------------------------------------------------------


def schedule(
    *,
    clinic: Clinic,
    kind: str,
    subject: tuple[str, int],
    scheduled_for: dt.datetime,
    dedupe_key: str,
    patient: Patient | None = None,
    staff: StaffMember | None = None,
    channel: tuple[str, str] | None = None,
    about_time: dt.datetime | None = None,
) -> OutboundMessage | None:
    """Create one message row unless its key exists (or the patient has no usable channel)."""
    if channel is None and patient is not None:
        channel = patient_channel(patient)
    if channel is None:
        logger.info("outbox.no_channel", extra={"kind": kind, "subject_id": subject[1]})
        return None
    message = OutboundMessage(
        clinic=clinic,
        patient=patient,
        staff=staff,
        kind=kind,
        channel=channel[0],
        recipient=channel[1],
        subject_type=subject[0],
        subject_id=subject[1],
        about_time=about_time,
        scheduled_for=scheduled_for,
        dedupe_key=dedupe_key,
    )
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        return None  # the same message already exists: it can never be sent twice
    return message


def schedule_new(messages: list[OutboundMessage]) -> None:
    """Insert several new rows in one statement; keys that already exist are skipped.

    For messages of a row created in the same transaction (a new booking), where a savepoint per
    message would only add round trips.
    """
    if messages:
        OutboundMessage.objects.bulk_create(messages, ignore_conflicts=True)


def message_for(
    *,
    clinic: Clinic,
    patient: Patient,
    kind: str,
    subject: tuple[str, int],
    scheduled_for: dt.datetime,
    dedupe_key: str,
    about_time: dt.datetime | None = None,
) -> OutboundMessage | None:
    """An unsaved row on the patient's channel (None when they cannot be reached), for ``schedule_new``."""
    channel = patient_channel(patient)
    if channel is None:
        return None
    return OutboundMessage(
        clinic=clinic,
        patient=patient,
        kind=kind,
        channel=channel[0],
        recipient=channel[1],
        subject_type=subject[0],
        subject_id=subject[1],
        about_time=about_time,
        scheduled_for=scheduled_for,
        dedupe_key=dedupe_key,
    )


def pending_for(subject: tuple[str, int], kinds: Iterable[str] | None = None):
    rows = OutboundMessage.objects.filter(subject_type=subject[0], subject_id=subject[1], status=Status.PENDING)
    return rows.filter(kind__in=list(kinds)) if kinds is not None else rows


def cancel(subject: tuple[str, int], *, reason: str, kinds: Iterable[str] | None = None) -> int:
    return pending_for(subject, kinds).update(status=Status.CANCELLED, cancel_reason=reason[:60])


def nudge() -> None:
    """After commit, ask the dispatcher to run now (for messages that should not wait a minute).

    Best effort, and off the request thread: with the broker down, publishing can take its
    connection timeout, and no request should wait for that. The beat sweep sends the message
    within the minute anyway.
    """

    def publish() -> None:
        from clinic.tasks import dispatch_due_messages

        try:
            dispatch_due_messages.apply_async(retry=False)
        except Exception:
            logger.warning("outbox.nudge_failed")

    def publish_in_background() -> None:
        threading.Thread(target=publish, name="outbox-nudge", daemon=True).start()

    transaction.on_commit(publish_in_background)


# --- quiet hours ------------------------------------------------------------------------------


def quiet_hours_end(clinic: Clinic, moment: dt.datetime) -> dt.datetime | None:
    """If ``moment`` falls in the clinic's quiet hours, when they end (local time); else None."""
    local = moment.astimezone(clinic.tz)
    start, end = clinic.quiet_hours_start, clinic.quiet_hours_end
    now_t = local.time()
    overnight = start > end
    inside = (now_t >= start or now_t < end) if overnight else (start <= now_t < end)
    if not inside:
        return None
    day = local.date() if (not overnight or now_t < end) else local.date() + dt.timedelta(days=1)
    wall = dt.datetime.combine(day, end)
    return dt.datetime(wall.year, wall.month, wall.day, wall.hour, wall.minute, tzinfo=clinic.tz).astimezone(dt.UTC)


# --- claiming and delivering ------------------------------------------------------------------


def claim(*, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Take up to ``limit`` due rows (and rows whose sending lease expired) for this worker.

    SKIP LOCKED makes two dispatchers running at once take disjoint rows.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=Status.PENDING, scheduled_for__lte=now) | Q(status=Status.SENDING, lease_expires_at__lt=now)
            )
            .order_by("scheduled_for", "id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            OutboundMessage.objects.filter(id__in=ids).update(
                status=Status.SENDING, lease_expires_at=now + LEASE, attempts=F("attempts") + 1
            )
    return ids


@dataclass
class Outcome:
    sent: list[int]
    cancelled: dict[str, list[int]]
    deferred: dict[dt.datetime, list[int]]
    failed: dict[int, str]


def backoff(attempts: int) -> dt.timedelta:
    return min(BACKOFF_BASE * (5 ** max(attempts - 1, 0)), BACKOFF_CAP)


def deliver(ids: Sequence[int], *, now: dt.datetime | None = None) -> Outcome:
    """Send the claimed rows: re-check, render, send, and record each outcome in a few statements."""
    now = now or timezone.now()
    messages = list(
        OutboundMessage.objects.filter(id__in=ids, status=Status.SENDING).select_related("clinic", "patient")
    )
    outcome = Outcome(sent=[], cancelled=defaultdict(list), deferred=defaultdict(list), failed={})
    by_kind: dict[str, list[OutboundMessage]] = defaultdict(list)
    for message in messages:
        by_kind[message.kind].append(message)
    emails: list[tuple[OutboundMessage, EmailMultiAlternatives]] = []
    for kind, batch in by_kind.items():
        renderer = rendering.RENDERERS[kind]
        subjects = renderer.load(batch)
        for message in batch:
            if message.patient is not None and _opted_out(message):
                outcome.cancelled["opted_out"].append(message.pk)
                continue
            subject = subjects.get(message.pk)
            context = renderer.context(message, subject) if subject is not None else None
            if context is None:
                outcome.cancelled["no_longer_applies"].append(message.pk)
                continue
            # Quiet hours spare patients; a critical alert notice to a clinician must go at once.
            if (
                message.channel == Channel.SMS
                and message.patient_id is not None
                and (wake := quiet_hours_end(message.clinic, now)) is not None
            ):
                outcome.deferred[wake].append(message.pk)
                continue
            text = rendering.render(renderer.template, context, channel=message.channel)
            if message.channel == Channel.EMAIL:
                emails.append((message, _email(message, text)))
            else:
                _send_sms(message, text, outcome)
    _send_emails(emails, outcome)
    _record(outcome, now)
    return outcome


def _opted_out(message: OutboundMessage) -> bool:
    patient = message.patient
    return patient.email_opt_out if message.channel == Channel.EMAIL else patient.sms_opt_out


def _email(message: OutboundMessage, text: rendering.Rendered) -> EmailMultiAlternatives:
    return EmailMultiAlternatives(
        subject=text.subject,
        body=text.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        headers={"X-Clinic-Message-Id": str(message.pk)},
    )


def _send_sms(message: OutboundMessage, text: rendering.Rendered, outcome: Outcome) -> None:
    try:
        sms.get_backend().send(sms.SmsMessage(to=message.recipient, body=text.sms, reference=str(message.pk)))
    except sms.SmsError as exc:
        outcome.failed[message.pk] = f"SmsError: {exc}"[:300]
    except Exception as exc:
        outcome.failed[message.pk] = type(exc).__name__
    else:
        outcome.sent.append(message.pk)


def _send_emails(emails: list[tuple[OutboundMessage, EmailMultiAlternatives]], outcome: Outcome) -> None:
    if not emails:
        return
    try:
        connection = get_connection()
        connection.open()
    except Exception as exc:
        for message, _ in emails:
            outcome.failed[message.pk] = f"mail server unavailable ({type(exc).__name__})"
        return
    try:
        for message, email in emails:
            email.connection = connection
            try:
                email.send()
            except Exception as exc:
                outcome.failed[message.pk] = type(exc).__name__
            else:
                outcome.sent.append(message.pk)
    finally:
        connection.close()


def _record(outcome: Outcome, now: dt.datetime) -> None:
    sending = OutboundMessage.objects.filter(status=Status.SENDING)
    if outcome.sent:
        sending.filter(id__in=outcome.sent).update(
            status=Status.SENT, sent_at=now, last_error="", lease_expires_at=None
        )
    for reason, ids in outcome.cancelled.items():
        sending.filter(id__in=ids).update(status=Status.CANCELLED, cancel_reason=reason, lease_expires_at=None)
    for wake, ids in outcome.deferred.items():
        # Waiting out quiet hours is not a failed attempt.
        sending.filter(id__in=ids).update(
            status=Status.PENDING, scheduled_for=wake, attempts=F("attempts") - 1, lease_expires_at=None
        )
    for message in OutboundMessage.objects.filter(id__in=list(outcome.failed), status=Status.SENDING):
        error = outcome.failed[message.pk]
        if message.attempts >= MAX_ATTEMPTS:
            message.status = Status.FAILED
            logger.error("outbox.failed", extra={"message_id": message.pk, "kind": message.kind})
        else:
            message.status = Status.PENDING
            message.scheduled_for = now + backoff(message.attempts)
        message.last_error = error
        message.lease_expires_at = None
        message.save(update_fields=["status", "scheduled_for", "last_error", "lease_expires_at"])
    if outcome.sent:
        logger.info("outbox.sent", extra={"count": len(outcome.sent)})
