"""Patient links by message: the intake invitation, follow-up surveys, and their reminders.

Each message that carries a link mints its own token when it is really sent (only hashes are
stored, so a link cannot be read back later), not while it waits for quiet hours, and a failed
send withdraws its token; every token of an invitation works until it ends. A
survey is reminded once a day, up to three times, while it stays unanswered and unexpired.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import formats, timezone

from clinic.messaging import outbox
from clinic.messaging.render import Renderer, register
from clinic.models import OutboundMessage, Patient
from clinic.tokens import token_hash
from intake.models import FormInvitation, InvitationToken
from intake.services.invitations import invitation_token_mint, link_url, set_questionnaires
from intake.services.questionnaires import SURVEY_CODES, questionnaire_set

Kind = OutboundMessage.Kind
SURVEY_REMINDERS = 3
WEEKLY_SURVEY_HOUR = 10  # local time: a survey link should not arrive in the middle of the night
ACTIVE_COURSE_WINDOW = dt.timedelta(days=14)


def intake_invitation_send(*, invitation: FormInvitation) -> None:
    """Send the intake link now (called where the invitation is issued)."""
    outbox.schedule(
        clinic=invitation.clinic,
        patient=invitation.patient,
        kind=Kind.INTAKE_INVITATION,
        subject=("form_invitation", invitation.pk),
        scheduled_for=timezone.now(),
        dedupe_key=f"intake-invitation:{invitation.pk}",
    )
    outbox.nudge()


def survey_create(
    *, patient: Patient, codes: tuple[str, ...], send_at: dt.datetime, reason: str
) -> FormInvitation | None:
    """A survey link for the patient, sent at ``send_at``, reminded daily up to three times.

    ``reason`` makes the message key unique (``discharge:<session>``, ``weekly:<year>-W<week>``):
    the same survey can never be sent twice.
    """
    clinic = patient.clinic
    questionnaires = questionnaire_set(clinic_id=clinic.pk, codes=codes)
    invitation = FormInvitation.objects.create(
        clinic=clinic,
        patient=patient,
        purpose=FormInvitation.Purpose.SURVEY,
        expires_at=send_at + dt.timedelta(days=clinic.survey_link_valid_days),
    )
    set_questionnaires(invitation, questionnaires)
    subject = ("form_invitation", invitation.pk)
    first = outbox.schedule(
        clinic=clinic,
        patient=patient,
        kind=Kind.SURVEY_INVITATION,
        subject=subject,
        scheduled_for=send_at,
        dedupe_key=f"survey:{patient.pk}:{reason}",
    )
    if first is None:
        # Already sent for this reason, or the patient cannot be reached: keep no orphan link.
        invitation.questionnaires.clear()
        invitation.delete()
        return None
    for day in range(1, SURVEY_REMINDERS + 1):
        when = send_at + dt.timedelta(days=day)
        if when < invitation.expires_at:
            outbox.schedule(
                clinic=clinic,
                patient=patient,
                kind=Kind.SURVEY_REMINDER,
                subject=subject,
                scheduled_for=when,
                dedupe_key=f"survey-reminder:{invitation.pk}:{day}",
            )
    return invitation


def followup_survey_schedule(*, patient: Patient, session_id: int, discharged_at: dt.datetime) -> FormInvitation | None:
    """After discharge, a PHQ-9 at the clinic's delay (default 24 hours)."""
    send_at = discharged_at + dt.timedelta(hours=patient.clinic.followup_survey_delay_hours)
    invitation = survey_create(patient=patient, codes=("phq9",), send_at=send_at, reason=f"discharge:{session_id}")
    if invitation is not None and send_at <= timezone.now():
        outbox.nudge()  # a clinic with no delay: send it now rather than at the next beat
    return invitation


def weekly_surveys_schedule(*, now: dt.datetime | None = None) -> int:
    """PHQ-9 and GAD-7 once a week for every patient in an active course (beat: daily).

    Active: a course with a session booked ahead or completed in the last two weeks. Idempotent
    per ISO week: the message key names the week.
    """
    now = now or timezone.now()
    patient_ids = _active_course_patients(now)
    created = 0
    for patient in Patient.objects.filter(pk__in=patient_ids, archived_at__isnull=True).select_related("clinic"):
        local = timezone.localtime(now, patient.clinic.tz)
        send_day = local.date() if local.hour < WEEKLY_SURVEY_HOUR else local.date() + dt.timedelta(days=1)
        # The key names the week the survey is sent in: a Sunday-afternoon run sends on Monday.
        year, week, _ = send_day.isocalendar()
        send_at = dt.datetime.combine(send_day, dt.time(WEEKLY_SURVEY_HOUR), tzinfo=patient.clinic.tz)
        with transaction.atomic():
            invitation = survey_create(
                patient=patient, codes=SURVEY_CODES, send_at=send_at, reason=f"weekly:{year}-W{week:02d}"
            )
        created += invitation is not None
    return created


def _active_course_patients(now: dt.datetime) -> set[int]:
    from django.db.models import Q

    from scheduling.models import Session

    return set(
        Session.objects.filter(course__isnull=False)
        .filter(
            Q(status=Session.Status.BOOKED, starts_at__gte=now)
            | Q(status=Session.Status.COMPLETED, starts_at__gte=now - ACTIVE_COURSE_WINDOW)
        )
        .values_list("patient_id", flat=True)
    )


# --- rendering at send time ------------------------------------------------------------------------


def _load(messages: list[OutboundMessage]) -> dict[int, FormInvitation]:
    invitations = {
        i.pk: i
        for i in FormInvitation.objects.filter(pk__in={m.subject_id for m in messages}).select_related(
            "clinic", "patient"
        )
    }
    return {m.pk: invitations[m.subject_id] for m in messages if m.subject_id in invitations}


def _context(message: OutboundMessage, invitation: FormInvitation) -> dict | None:
    if invitation.state() not in ("open", "in_progress"):
        return None  # answered, withdrawn or expired: nothing to send
    clinic = invitation.clinic
    expires = timezone.localtime(invitation.expires_at, clinic.tz)
    return {
        "clinic_name": clinic.patient_facing_name,
        "clinic_phone": str(clinic.phone or ""),
        "first_name": invitation.patient.first_name,
        "expires": formats.date_format(expires, "l j F"),
    }


def _mint(message: OutboundMessage, invitation: FormInvitation) -> dict:
    """The link, minted as the message is sent (not when it is checked, deferred or retried)."""
    token = invitation_token_mint(invitation)
    return {"link": link_url(token), "link_token_hash": token_hash(token)}


def _revoke(minted: dict) -> None:
    """The message carrying this link was not sent: the link must not work."""
    InvitationToken.objects.filter(token_hash=minted["link_token_hash"]).delete()


def register_renderers() -> None:
    for kind, template in (
        (Kind.INTAKE_INVITATION, "intake_invitation"),
        (Kind.SURVEY_INVITATION, "survey_invitation"),
        (Kind.SURVEY_REMINDER, "survey_reminder"),
    ):
        register(kind, Renderer(template, _load, _context, mint=_mint, revoke=_revoke))
