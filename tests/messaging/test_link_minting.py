"""A survey or intake link is minted only when its message is really sent: a message that waits out
quiet hours, or whose send fails and will be retried, leaves no live link behind."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from intake.messages import survey_create
from intake.models import InvitationToken
from intake.services.questionnaires import questionnaires_sync
from tests.messaging.helpers import Kind, Status, dispatch, link_token, rows_about
from tests.messaging.test_dispatch import RefusingSmsBackend
from tests.scheduling.helpers import local


@pytest.fixture
def sms_patient(world):
    questionnaires_sync()
    world.patient.preferred_channel = "sms"
    world.patient.save()
    return world.patient


def _tokens(invitation) -> int:
    return InvitationToken.objects.filter(invitation=invitation).count()


def test_a_survey_held_by_quiet_hours_or_a_refusing_provider_mints_no_link_until_it_is_sent(
    sms_patient, clock, settings, sms_outbox
):
    invitation = survey_create(patient=sms_patient, codes=("phq9",), send_at=local(2027, 3, 1, 22), reason="test")
    [row] = rows_about("form_invitation", invitation.pk, Kind.SURVEY_INVITATION)

    clock.move_to(local(2027, 3, 1, 22))
    assert dispatch().deferred == {local(2027, 3, 2, 8): [row.pk]}  # quiet hours: waits until 08:00
    assert _tokens(invitation) == 0

    settings.SMS_BACKEND = "tests.messaging.test_dispatch.RefusingSmsBackend"
    RefusingSmsBackend.calls, RefusingSmsBackend.accept_from_call = [], None
    clock.move_to(local(2027, 3, 2, 8))
    assert list(dispatch().failed) == [row.pk]  # the provider refuses: retried later
    [refused] = RefusingSmsBackend.calls
    assert _tokens(invitation) == 0  # the link in the refused text does not work
    assert APIClient().get(f"/api/v1/forms/{link_token(refused.body)}/").status_code == 404

    settings.SMS_BACKEND = "clinic.messaging.sms.LocmemSmsBackend"
    row.refresh_from_db()
    clock.move_to(row.scheduled_for)
    assert dispatch().sent == [row.pk]
    [text] = sms_outbox
    assert _tokens(invitation) == 1
    assert APIClient().get(f"/api/v1/forms/{link_token(text.body)}/").status_code == 200
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 2)


def test_an_unreachable_mail_server_mints_no_link(world, clock, settings):
    questionnaires_sync()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    invitation = survey_create(patient=world.patient, codes=("phq9",), send_at=local(2027, 3, 1, 12), reason="test")
    outcome = dispatch()
    assert len(outcome.failed) == 1
    assert _tokens(invitation) == 0


def test_a_sent_survey_reminder_mints_one_more_link(world, clock):
    questionnaires_sync()
    invitation = survey_create(patient=world.patient, codes=("phq9",), send_at=local(2027, 3, 1, 12), reason="test")
    dispatch()
    assert _tokens(invitation) == 1
    clock.move_to(local(2027, 3, 2, 12) - dt.timedelta(seconds=1))
    dispatch()
    assert _tokens(invitation) == 1
    clock.move_to(local(2027, 3, 2, 12))
    assert len(dispatch().sent) == 1
    assert _tokens(invitation) == 2
