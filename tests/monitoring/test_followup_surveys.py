"""After a dosed session is discharged the patient gets a PHQ-9 link by message, reminded daily while
unanswered; the link opens the survey, and a risky answer there opens the same alert as at intake.

Runs the real session flow over the API (the ``ward`` fixture), then the real dispatcher on a moved clock.
"""

from __future__ import annotations

import datetime as dt

from django.core import mail

from clinic.models import Alert, OutboundMessage
from intake.models import FormInvitation
from tests.factories.clinic import PatientFactory
from tests.intake.answers import clean_intake, phq9
from tests.intake.flows import submit_intake
from tests.messaging.helpers import answer_survey, dispatch, emails_to, link_token, rows_about
from tests.monitoring.conftest import at
from tests.monitoring.test_session_flow import DISCHARGE, dose, open_record, vitals
from tests.scheduling.helpers import local

Kind = OutboundMessage.Kind
Status = OutboundMessage.Status
DISCHARGED_AT = local(2027, 3, 2, 11, 15)
SURVEY_AT = DISCHARGED_AT + dt.timedelta(hours=24)


def _discharge_dosed_session(ward) -> int:
    session = ward.session()
    ward.clock.move_to(at(9))
    record_id = open_record(ward, session)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=72, spo2=98)
    ward.clock.move_to(at(9, 10))
    assert dose(ward, record_id).status_code == 201
    ward.clock.move_to(at(9, 15))
    assert dose(ward, record_id).status_code == 201
    ward.clock.move_to(DISCHARGED_AT)
    vitals(ward, record_id, systolic=122, diastolic=80, heart_rate=72, spo2=98)
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/discharge/", DISCHARGE, format="json")
    assert response.status_code == 201, response.content
    return session.pk


def _survey() -> FormInvitation:
    return FormInvitation.objects.get(purpose=FormInvitation.Purpose.SURVEY)


def _survey_rows(invitation: FormInvitation):
    return rows_about("form_invitation", invitation.pk).order_by("scheduled_for")


def _send_survey(ward) -> str:
    ward.clock.move_to(SURVEY_AT)
    dispatch()
    [email] = [m for m in emails_to(ward.patient.email) if "/forms/" in m.body]
    return link_token(email.body)


def test_discharge_schedules_a_phq9_a_day_later_with_three_daily_reminders(ward):
    _discharge_dosed_session(ward)

    invitation = _survey()
    assert [q.code for q in invitation.questionnaires.all()] == ["phq9"]
    assert invitation.expires_at == SURVEY_AT + dt.timedelta(days=7)
    assert [(r.kind, r.scheduled_for, r.status) for r in _survey_rows(invitation)] == [
        (Kind.SURVEY_INVITATION, SURVEY_AT, Status.PENDING),
        *[(Kind.SURVEY_REMINDER, SURVEY_AT + dt.timedelta(days=d), Status.PENDING) for d in (1, 2, 3)],
    ]


def test_the_clinic_chooses_the_survey_delay(ward):
    ward.clinic.followup_survey_delay_hours = 48
    ward.clinic.save()
    _discharge_dosed_session(ward)
    first = _survey_rows(_survey()).first()
    assert first.scheduled_for == DISCHARGED_AT + dt.timedelta(hours=48)


def test_discharge_without_a_dose_schedules_no_survey(ward):
    session = ward.session()
    ward.clock.move_to(at(9))
    record_id = open_record(ward, session)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=72, spo2=98)
    ward.clock.move_to(at(9, 20))
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=72, spo2=98)
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/discharge/", DISCHARGE, format="json")
    assert response.status_code == 201, response.content
    assert not FormInvitation.objects.filter(purpose=FormInvitation.Purpose.SURVEY).exists()


def test_the_message_carries_a_working_link_and_answering_stops_the_reminders(ward, api_client):
    _discharge_dosed_session(ward)
    ward.clock.move_to(SURVEY_AT - dt.timedelta(minutes=1))
    dispatch()
    assert not [m for m in mail.outbox if "/forms/" in m.body]

    token = _send_survey(ward)
    submitted = answer_survey(token, {"phq9": phq9(1, 1, 1, 1, 1, 1, 1, 1, 0)})
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["risk_signalled"] is False
    invitation = _survey()
    assert invitation.submitted_at == SURVEY_AT
    assert invitation.responses.get().total == 8

    reminders = list(_survey_rows(invitation).filter(kind=Kind.SURVEY_REMINDER))
    for reminder in reminders:
        ward.clock.move_to(reminder.scheduled_for)
        outcome = dispatch()
        assert outcome.sent == []
        assert outcome.cancelled["no_longer_applies"] == [reminder.pk]
    assert len([m for m in mail.outbox if "/forms/" in m.body]) == 1
    assert api_client.get(f"/api/v1/forms/{token}/").status_code == 409  # already answered


def test_an_unanswered_survey_is_reminded_daily_with_a_fresh_working_link(ward):
    _discharge_dosed_session(ward)
    first = _send_survey(ward)
    ward.clock.move_to(SURVEY_AT + dt.timedelta(days=1))
    assert len(dispatch().sent) == 1
    reminder = mail.outbox[-1]
    assert "A gentle reminder" in reminder.body
    second = link_token(reminder.body)
    assert second != first  # each message mints its own link; both open the same survey
    assert answer_survey(second, {"phq9": phq9()}).status_code == 200


def test_an_expired_survey_sends_no_reminder(ward):
    ward.clinic.survey_link_valid_days = 2
    ward.clinic.save()
    _discharge_dosed_session(ward)
    invitation = _survey()
    # Reminders fall only inside the link's life: day 2 is the expiry itself.
    assert [r.scheduled_for for r in _survey_rows(invitation).filter(kind=Kind.SURVEY_REMINDER)] == [
        SURVEY_AT + dt.timedelta(days=1)
    ]
    _send_survey(ward)
    FormInvitation.objects.filter(pk=invitation.pk).update(expires_at=SURVEY_AT + dt.timedelta(hours=12))

    ward.clock.move_to(SURVEY_AT + dt.timedelta(days=1))
    outcome = dispatch()
    assert outcome.sent == []
    assert len(outcome.cancelled["no_longer_applies"]) == 1
    assert len([m for m in mail.outbox if "/forms/" in m.body]) == 1


def test_item9_on_a_survey_opens_the_same_alert_as_at_intake(ward):
    _discharge_dosed_session(ward)
    token = _send_survey(ward)
    submitted = answer_survey(token, {"phq9": phq9(1, 1, 1, 1, 0, 0, 0, 0, 2)})
    assert submitted.status_code == 200, submitted.content
    body = submitted.json()
    assert body["risk_signalled"] is True
    assert "988" in body["crisis_resources"]
    assert "contact you today" in body["message"]

    [alert] = Alert.objects.filter(patient=ward.patient, kind="suicide_risk")
    response = _survey().responses.get()
    assert (alert.kind, alert.severity, alert.is_open) == ("suicide_risk", "critical", True)
    assert (alert.source_type, alert.source_id, alert.dedupe_key) == (
        "questionnaire_response",
        str(response.pk),
        f"phq9-item9:{response.pk}",
    )
    assert "answered 2 of 3 on a follow-up survey" in alert.message
    notices = rows_about("alert", alert.pk, Kind.ALERT_NOTICE)

    # The same answer on an intake: the same alert, the same notices to the clinicians on duty.
    other = PatientFactory(clinic=ward.clinic)
    submit_intake(other, clean_intake(phq9=phq9(1, 1, 1, 1, 0, 0, 0, 0, 2)))
    [at_intake] = Alert.objects.filter(patient=other)
    assert (at_intake.kind, at_intake.severity, at_intake.is_open, at_intake.source_type) == (
        alert.kind,
        alert.severity,
        alert.is_open,
        alert.source_type,
    )
    assert "answered 2 of 3 on a candidacy intake" in at_intake.message
    intake_notices = rows_about("alert", at_intake.pk, Kind.ALERT_NOTICE)
    assert notices.count() == intake_notices.count() > 0
    assert set(notices.values_list("staff_id", "channel")) == set(intake_notices.values_list("staff_id", "channel"))
