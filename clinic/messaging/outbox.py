"""The outbox service: schedule, move and cancel messages; claim due ones; deliver them.

Rows are created inside the caller's transaction, so a message exists exactly when the change
that causes it commits. Delivery is at least once in the face of a worker dying mid-send (the
lease expires and the row is claimed again, up to ``MAX_ATTEMPTS`` times); everywhere else exactly
once: a row is claimed by one dispatcher only (SKIP LOCKED), a delivery touches only rows still
holding its claim's lease, and a row moves to ``sent`` only from ``sending``. The address and
channel are the patient's (or staff member's) current ones, read at send time. Redis being down
delays messages and blocks nothing: scheduling a message never touches the broker.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
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
    message = message_for(
        clinic=clinic,
        kind=kind,
        subject=subject,
        scheduled_for=scheduled_for,
        dedupe_key=dedupe_key,
        patient=patient,
        staff=staff,
        channel=channel,
        about_time=about_time,
    )
    if message is None:
        logger.info("outbox.no_channel", extra={"kind": kind, "subject_id": subject[1]})
        return None
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
    kind: str,
    subject: tuple[str, int],
    scheduled_for: dt.datetime,
    dedupe_key: str,
    patient: Patient | None = None,
    staff: StaffMember | None = None,
    channel: tuple[str, str] | None = None,
    about_time: dt.datetime | None = None,
) -> OutboundMessage | None:
    """An unsaved row, on ``channel`` or else the patient's (None when there is none), for
    ``schedule`` or ``schedule_new``."""
    if channel is None and patient is not None:
        channel = patient_channel(patient)
    if channel is None:
        return None
    return OutboundMessage(
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


@dataclass(frozen=True)
class Claim:
    """The rows one sweep took, and the lease it stamped on them (their ``lease_expires_at``).

    The lease value identifies the claim. A row is claimed again only once its lease has passed,
    and the new lease ends after that moment, so each claim of a row stamps a later value than any
    before it (and so does each renewal, see ``deliver``). A delivery that brings an older value
    finds the rows no longer hold it and sends nothing: a task that ran late cannot send a row that
    a later sweep took back.
    """

    ids: list[int]
    lease: dt.datetime | None
    failed: list[int] = field(default_factory=list)  # rows whose lease ran out once too often


LEASE_LOST = "no outcome after the last attempt (the worker died or hung)"


def claim(*, now: dt.datetime | None = None, limit: int = 500) -> Claim:
    """Take up to ``limit`` due rows (and rows whose sending lease expired) for this worker.

    SKIP LOCKED makes two dispatchers running at once take disjoint rows. Taking a row back after
    its lease counts an attempt like any other: a row whose worker died or hung ``MAX_ATTEMPTS``
    times is marked failed (and shown to staff) instead of being taken back forever.
    """
    now = now or timezone.now()
    lease = now + LEASE
    with transaction.atomic():
        rows = list(
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=Status.PENDING, scheduled_for__lte=now) | Q(status=Status.SENDING, lease_expires_at__lt=now)
            )
            .order_by("scheduled_for", "id")
            .values_list("id", "status", "attempts", "kind")[:limit]
        )
        exhausted = {
            pk: kind for pk, status, attempts, kind in rows if status == Status.SENDING and attempts >= MAX_ATTEMPTS
        }
        ids = [pk for pk, *_ in rows if pk not in exhausted]
        if exhausted:
            OutboundMessage.objects.filter(id__in=list(exhausted)).update(
                status=Status.FAILED, last_error=LEASE_LOST, lease_expires_at=None
            )
        if ids:
            OutboundMessage.objects.filter(id__in=ids).update(
                status=Status.SENDING, lease_expires_at=lease, attempts=F("attempts") + 1
            )
    for pk, kind in exhausted.items():
        logger.error("outbox.failed", extra={"message_id": pk, "kind": kind})
    return Claim(ids=ids, lease=lease if ids else None, failed=list(exhausted))


@dataclass
class Outcome:
    sent: list[int] = field(default_factory=list)
    cancelled: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    deferred: dict[dt.datetime, list[int]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[int, str] = field(default_factory=dict)
    # Rows sent to another address or channel than the one stored when they were scheduled.
    readdressed: dict[int, tuple[str, str]] = field(default_factory=dict)
    # Rows given back unsent, without counting an attempt, because the lease was running out.
    released: list[int] = field(default_factory=list)


def backoff(attempts: int) -> dt.timedelta:
    return min(BACKOFF_BASE * (5 ** max(attempts - 1, 0)), BACKOFF_CAP)


# A delivery stops sending this long before its lease ends, so a row is never sent by a task whose
# lease a sweep may already have taken back (the task's time limits, well inside LEASE, stop it too).
SEND_MARGIN = dt.timedelta(minutes=1)


@dataclass
class _Ready:
    """A message that passed every check and is about to be rendered and sent."""

    message: OutboundMessage
    renderer: rendering.Renderer
    subject: object
    context: dict
    minted: dict = field(default_factory=dict)


def deliver(ids: Sequence[int], *, lease: dt.datetime | None, now: dt.datetime | None = None) -> Outcome:
    """Send the rows of one claim: re-check, re-address, render, send, and record each outcome.

    Only rows still holding ``lease`` are touched, and their lease is renewed for a full LEASE from
    now, so a task that starts late still owns its rows while it sends. Links are minted only for a
    message that is really being sent, and withdrawn if the send fails.
    """
    now = now or timezone.now()
    outcome = Outcome()
    held, lease = _hold(ids, lease, now)
    if not held:
        return outcome
    stop_at = time.monotonic() + (lease - now - SEND_MARGIN).total_seconds()
    messages = _load_messages(held)
    by_kind: dict[str, list[OutboundMessage]] = defaultdict(list)
    for message in messages:
        by_kind[message.kind].append(message)
    ready: list[_Ready] = []
    for kind, batch in by_kind.items():
        renderer = rendering.RENDERERS[kind]
        subjects = renderer.load(batch)
        for message in batch:
            address = current_address(message)
            if address is None:
                outcome.cancelled[_unreachable_reason(message)].append(message.pk)
                continue
            if address != (message.channel, message.recipient):
                message.channel, message.recipient = address
                outcome.readdressed[message.pk] = address
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
            ready.append(_Ready(message, renderer, subject, context))
    _send(
        [r for r in ready if r.message.channel == Channel.SMS],
        [r for r in ready if r.message.channel == Channel.EMAIL],
        outcome,
        stop_at,
        rendering.TextCache(),
    )
    _record(outcome, now, lease)
    return outcome


# Of a message's patient or staff member, delivery reads only where they can be reached now; the
# patient row is wide (two phone numbers parsed per row). The message keeps all its own columns:
# renderers read them.
_ADDRESS_COLUMNS = (
    "patient__email",
    "patient__phone",
    "patient__preferred_channel",
    "patient__email_opt_out",
    "patient__sms_opt_out",
    "staff__phone",
    "staff__user__email",
)


def _load_messages(ids: list[int]) -> list[OutboundMessage]:
    """The rows with their patient's or staff member's addresses, and their clinic: one object per
    clinic, shared by its messages (a batch is usually one clinic's, and a clinic row is wide)."""
    own = [f.name for f in OutboundMessage._meta.concrete_fields]
    messages = list(
        OutboundMessage.objects.filter(id__in=ids)
        .select_related("patient", "staff__user")
        .only(*own, *_ADDRESS_COLUMNS)
    )
    clinics = Clinic.objects.in_bulk({m.clinic_id for m in messages})
    for message in messages:
        message.clinic = clinics[message.clinic_id]
    return messages


def _hold(ids: Sequence[int], lease: dt.datetime | None, now: dt.datetime) -> tuple[list[int], dt.datetime]:
    """The rows among ``ids`` still holding ``lease``, with the lease renewed to a later value.

    The renewal always moves the value forward (by at least a microsecond), so a second delivery of
    the same claim (a redelivered task) finds nothing to hold.
    """
    if not ids or lease is None:
        return [], now
    renewed = max(lease + dt.timedelta(microseconds=1), now + LEASE)
    with transaction.atomic():
        held = list(
            OutboundMessage.objects.select_for_update()
            .filter(id__in=list(ids), status=Status.SENDING, lease_expires_at=lease)
            .values_list("id", flat=True)
        )
        if held:
            OutboundMessage.objects.filter(id__in=held).update(lease_expires_at=renewed)
    return held, renewed


def current_address(message: OutboundMessage) -> tuple[str, str] | None:
    """Where the message goes now, whatever was stored when it was scheduled.

    A patient's message follows their current address, preferred channel and opt-outs (falling back
    to the other channel as ``patient_channel`` does); a staff notice goes to the member's current
    address on the row's channel (each channel has its own row).
    """
    if message.patient_id is not None:
        return patient_channel(message.patient)
    if message.staff_id is not None:
        member = message.staff
        address = member.user.email if message.channel == Channel.EMAIL else str(member.phone or "")
        return (message.channel, address) if address else None
    return message.channel, message.recipient


def _unreachable_reason(message: OutboundMessage) -> str:
    patient = message.patient
    if patient is not None and (patient.email_opt_out or patient.sms_opt_out):
        return "opted_out"
    return "no_channel"


def _compose(item: _Ready, texts: rendering.TextCache) -> rendering.Rendered:
    """Render the text, minting the message's link (if it carries one) only now that it is sent."""
    if item.renderer.mint is not None:
        item.minted = item.renderer.mint(item.message, item.subject)
    context = {**item.context, **item.minted}
    return rendering.render(item.renderer.template, context, channel=item.message.channel, texts=texts)


def _withdraw(item: _Ready) -> None:
    """The send failed: the link minted for it was never seen, so it must not stay live."""
    if item.minted and item.renderer.revoke is not None:
        item.renderer.revoke(item.minted)


def _send(
    sms_items: list[_Ready], emails: list[_Ready], outcome: Outcome, stop_at: float, texts: rendering.TextCache
) -> None:
    """Send SMS, then emails over one connection, until done or the lease is running out.

    A soft time limit stops the sending: the message in flight keeps its lease (its fate is unknown:
    it is taken back after the lease, like a dead worker's), the rest are given back unsent.
    """
    pending = [*sms_items, *emails]
    done: set[int] = set()
    try:
        for item in sms_items:
            if time.monotonic() >= stop_at:
                break
            done.add(item.message.pk)
            _send_sms(item, outcome, texts)
        if emails and time.monotonic() < stop_at:
            _send_emails(emails, outcome, stop_at, done, texts)
    except SoftTimeLimitExceeded:
        logger.warning("outbox.time_limit", extra={"count": len(pending) - len(done)})
    outcome.released.extend(item.message.pk for item in pending if item.message.pk not in done)


def _send_sms(item: _Ready, outcome: Outcome, texts: rendering.TextCache) -> None:
    message = item.message
    try:
        text = _compose(item, texts)
        sms.get_backend().send(sms.SmsMessage(to=message.recipient, body=text.sms, reference=str(message.pk)))
    except SoftTimeLimitExceeded:
        raise
    except sms.SmsError as exc:
        outcome.failed[message.pk] = f"SmsError: {exc}"[:300]
        _withdraw(item)
    except Exception as exc:
        outcome.failed[message.pk] = type(exc).__name__
        _withdraw(item)
    else:
        outcome.sent.append(message.pk)


def _email(message: OutboundMessage, text: rendering.Rendered, connection) -> EmailMultiAlternatives:
    return EmailMultiAlternatives(
        subject=text.subject,
        body=text.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        headers={"X-Clinic-Message-Id": str(message.pk)},
        connection=connection,
    )


def _send_emails(
    emails: list[_Ready], outcome: Outcome, stop_at: float, done: set[int], texts: rendering.TextCache
) -> None:
    # The connection is opened before anything is rendered: with the mail server down, no link is minted.
    try:
        connection = get_connection()
        connection.open()
    except Exception as exc:
        for item in emails:
            done.add(item.message.pk)
            outcome.failed[item.message.pk] = f"mail server unavailable ({type(exc).__name__})"
        return
    try:
        for item in emails:
            if time.monotonic() >= stop_at:
                break
            message = item.message
            done.add(message.pk)
            try:
                _email(message, _compose(item, texts), connection).send()
            except SoftTimeLimitExceeded:
                raise
            except Exception as exc:
                outcome.failed[message.pk] = type(exc).__name__
                _withdraw(item)
            else:
                outcome.sent.append(message.pk)
    finally:
        connection.close()


def _record(outcome: Outcome, now: dt.datetime, lease: dt.datetime) -> None:
    """Write the outcomes, each only to rows still holding this delivery's lease."""
    sending = OutboundMessage.objects.filter(status=Status.SENDING, lease_expires_at=lease)
    for pk, (channel, recipient) in outcome.readdressed.items():
        sending.filter(pk=pk).update(channel=channel, recipient=recipient)
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
    if outcome.released:
        sending.filter(id__in=outcome.released).update(
            status=Status.PENDING, attempts=F("attempts") - 1, lease_expires_at=None
        )
    for message in sending.filter(id__in=list(outcome.failed)):
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
