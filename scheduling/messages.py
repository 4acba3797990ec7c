"""Appointment messages: a booking confirmation and reminders, kept in step with the session.

Booking schedules a confirmation after the clinic's undo delay (default 3 minutes, so an
immediate cancel sends nothing) and a reminder at each of the clinic's offsets (default 48 and
2 hours before). Moving a session moves its pending reminders; cancelling cancels them. At send
time the reminder checks the session is still booked for the time it was written for.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from django.utils import formats, timezone, translation
from django.utils.translation import gettext, pgettext

from clinic.messaging import outbox
from clinic.messaging.render import Renderer, register
from clinic.models import Clinic, Modality, OutboundMessage
from scheduling.models import Course, Session
from scheduling.protocols import local_datetime

Kind = OutboundMessage.Kind


def _subject(session: Session) -> tuple[str, int]:
    return ("session", session.pk)


def _reminder_key(session: Session, hours: int) -> str:
    """One reminder per session, offset and appointment time: a moved session can be reminded of
    its new time, but never twice of the same one."""
    return f"reminder:{session.pk}:{hours}h:{session.starts_at.astimezone(dt.UTC):%Y%m%dT%H%MZ}"


def reminder_time(session: Session, hours: int) -> dt.datetime:
    """``hours`` before the start on the clinic's wall clock: 48 hours before Monday 10:00 is
    Saturday 10:00 even when the clocks change in between (DESIGN.md: send times are local)."""
    tz = session.clinic.tz
    wall = timezone.localtime(session.starts_at, tz).replace(tzinfo=None) - dt.timedelta(hours=hours)
    return local_datetime(wall.date(), wall.time(), tz)


def session_messages_schedule(*, session: Session, confirm: bool = True, now: dt.datetime | None = None) -> None:
    """Called in the booking transaction; all the session's messages go in one INSERT."""
    outbox.schedule_new(session_messages(session=session, confirm=confirm, now=now))


def session_messages(
    *, session: Session, confirm: bool = True, now: dt.datetime | None = None
) -> list[OutboundMessage]:
    """The new session's messages, unsaved (insert them with ``ignore_conflicts``: keys are unique)."""
    now = now or timezone.now()
    clinic, patient = session.clinic, session.patient
    rows = []
    if confirm:
        rows.append(
            outbox.message_for(
                clinic=clinic,
                patient=patient,
                kind=Kind.BOOKING_CONFIRMATION,
                subject=_subject(session),
                scheduled_for=now + dt.timedelta(minutes=clinic.booking_confirmation_delay_minutes),
                dedupe_key=f"confirmation:session:{session.pk}",
                about_time=session.starts_at,
            )
        )
    for hours in clinic.reminder_hours_before:
        send_at = reminder_time(session, hours)
        if send_at > now:
            rows.append(
                outbox.message_for(
                    clinic=clinic,
                    patient=patient,
                    kind=Kind.SESSION_REMINDER,
                    subject=_subject(session),
                    scheduled_for=send_at,
                    dedupe_key=_reminder_key(session, hours),
                    about_time=session.starts_at,
                )
            )
    return [row for row in rows if row is not None]


def course_confirmation_schedule(*, course: Course, now: dt.datetime | None = None) -> None:
    """One confirmation for a whole course rather than one per session."""
    now = now or timezone.now()
    outbox.schedule(
        clinic=course.clinic,
        patient=course.patient,
        kind=Kind.BOOKING_CONFIRMATION,
        subject=("course", course.pk),
        scheduled_for=now + dt.timedelta(minutes=course.clinic.booking_confirmation_delay_minutes),
        dedupe_key=f"confirmation:course:{course.pk}",
    )


def session_messages_move(*, session: Session, now: dt.datetime | None = None) -> None:
    """A moved session's reminders follow it.

    For each offset: a pending reminder moves (same row, new time and key); one whose new time
    has passed is cancelled; if none is pending (already sent for the old time, or dropped by an
    earlier move) a reminder for the new time is scheduled, unless one for that very time was
    already sent.
    """
    now = now or timezone.now()
    rows = list(
        OutboundMessage.objects.filter(subject_type="session", subject_id=session.pk, kind=Kind.SESSION_REMINDER)
    )
    by_key = {m.dedupe_key: m for m in rows}
    for hours in session.clinic.reminder_hours_before:
        send_at = reminder_time(session, hours)
        key = _reminder_key(session, hours)
        pending = [
            m
            for m in rows
            if m.status == OutboundMessage.Status.PENDING
            and m.dedupe_key.startswith(f"reminder:{session.pk}:{hours}h:")
        ]
        if send_at <= now:
            for m in pending:
                OutboundMessage.objects.filter(pk=m.pk, status=OutboundMessage.Status.PENDING).update(
                    status=OutboundMessage.Status.CANCELLED, cancel_reason="moved_too_close"
                )
            continue
        existing = by_key.get(key)
        if existing is not None and existing.status == OutboundMessage.Status.SENT:
            continue  # already reminded of exactly this time
        if existing is not None and existing.status == OutboundMessage.Status.CANCELLED:
            OutboundMessage.objects.filter(pk__in=[m.pk for m in pending]).update(
                status=OutboundMessage.Status.CANCELLED, cancel_reason="moved"
            )
            OutboundMessage.objects.filter(pk=existing.pk).update(
                status=OutboundMessage.Status.PENDING,
                scheduled_for=send_at,
                about_time=session.starts_at,
                cancel_reason="",
            )
            continue
        mover = existing or (pending[0] if pending else None)
        if mover is not None:
            OutboundMessage.objects.filter(pk=mover.pk, status=OutboundMessage.Status.PENDING).update(
                scheduled_for=send_at, about_time=session.starts_at, dedupe_key=key
            )
        else:
            outbox.schedule(
                clinic=session.clinic,
                patient=session.patient,
                kind=Kind.SESSION_REMINDER,
                subject=_subject(session),
                scheduled_for=send_at,
                dedupe_key=key,
                about_time=session.starts_at,
            )


def session_messages_cancel(*, session: Session) -> None:
    outbox.cancel(_subject(session), reason="session_cancelled")


# --- rendering at send time ------------------------------------------------------------------------


def _when(moment: dt.datetime, tz) -> str:
    return _when_in(moment, tz, translation.get_language())


@functools.lru_cache(maxsize=4096)
def _when_in(moment: dt.datetime, tz, language: str | None) -> str:
    """``_when`` in ``language`` (the active one; part of the key only). Sessions start on few
    distinct times, so a reminder run formats each (time, clinic zone, language) once."""
    local = timezone.localtime(moment, tz)
    # Runs in the clinic's language (clinic.messaging.render): the day format and the phrase are
    # translatable, since word order differs ("martes 9 de marzo a las 14:00").
    day = formats.date_format(local, pgettext("day of an appointment in a message", "l j F"))
    return gettext("%(day)s at %(time)s") % {"day": day, "time": f"{local:%H:%M}"}


@dataclass(frozen=True)
class Appointment:
    """What the appointment texts need of a session: a reminder run loads thousands, so a row of
    a few columns rather than a session with its clinic, patient and treatment type (the clinic
    is the message's own, already loaded)."""

    status: str
    starts_at: dt.datetime
    clinic: Clinic
    first_name: str
    modality: str
    course_count: int | None = None


def _appointment_context(message: OutboundMessage, session: Appointment) -> dict:
    clinic = session.clinic
    return {
        "clinic_name": clinic.patient_facing_name,
        "clinic_phone": str(clinic.phone or ""),
        "clinic_address": ", ".join(p for p in (clinic.address_line1, clinic.city) if p),
        "when": _when(session.starts_at, clinic.tz),
        "first_name": session.first_name,
        # Fasting applies to the nasal spray (label: no food 2 h, no liquids 30 min before).
        "fasting": session.modality == Modality.ESKETAMINE_NASAL,
        "escort": True,
    }


_COLUMNS = ("id", "course_id", "status", "starts_at", "patient__first_name", "treatment_type__modality")


def _load_sessions(messages: list[OutboundMessage]) -> dict[int, Appointment]:
    """Each message's session; a course confirmation gets the course's first booked session."""
    session_ids = [m.subject_id for m in messages if m.subject_type == "session"]
    course_ids = [m.subject_id for m in messages if m.subject_type == "course"]
    rows = list(Session.objects.filter(pk__in=session_ids).values_list(*_COLUMNS)) if session_ids else []
    sessions = {row[0]: row for row in rows}
    first_of_course: dict[int, tuple] = {}
    counts: dict[int, int] = {}
    if course_ids:
        for row in (
            Session.objects.filter(course_id__in=course_ids, status=Session.Status.BOOKED)
            .order_by("course_id", "starts_at")
            .values_list(*_COLUMNS)
        ):
            first_of_course.setdefault(row[1], row)
            counts[row[1]] = counts.get(row[1], 0) + 1
    loaded = {}
    for m in messages:
        course = m.subject_type == "course"
        row = first_of_course.get(m.subject_id) if course else sessions.get(m.subject_id)
        if row is not None:
            _, _, status, starts_at, first_name, modality = row
            count = counts.get(m.subject_id) if course else None
            # The message's clinic is its session's (both rows are written with the session's clinic).
            loaded[m.pk] = Appointment(status, starts_at, m.clinic, first_name, modality, count)
    return loaded


def _reminder_context(message: OutboundMessage, session: Appointment) -> dict | None:
    # Still booked, still at the time the reminder was written for, and not already under way
    # (an SMS held back by quiet hours can wake up too late to be useful).
    if session.status != Session.Status.BOOKED or session.starts_at != message.about_time:
        return None
    if timezone.now() >= session.starts_at:
        return None
    return _appointment_context(message, session)


def _confirmation_context(message: OutboundMessage, session: Appointment) -> dict | None:
    if session.status != Session.Status.BOOKED:
        return None
    return {**_appointment_context(message, session), "course_count": session.course_count}


def register_renderers() -> None:
    register(Kind.SESSION_REMINDER, Renderer("session_reminder", _load_sessions, _reminder_context))
    register(Kind.BOOKING_CONFIRMATION, Renderer("booking_confirmation", _load_sessions, _confirmation_context))
