"""A critical alert tells the clinicians on duty at once, through the outbox: the ones whose availability
covers the moment and who are not on time off, or every clinician when nobody is scheduled. Acknowledging
first cancels the notice; a notice never names the patient. Raising an alert is audited (system actor)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from clinic.access import Role
from clinic.models import Alert, AuditEvent
from clinic.services.alerts import alert_raise
from tests.factories.clinic import StaffMemberFactory
from tests.factories.scheduling import ClinicianFactory, TimeOffFactory
from tests.messaging.helpers import Kind, Status, client_of, dispatch, rows_about
from tests.scheduling.helpers import local


@pytest.fixture
def team(world):
    """The world's nurse (08-20 every day, with a work phone), a prescriber only on Sunday evenings,
    an inactive nurse, and front desk staff who are never told."""
    world.nurse.phone = "+12025550111"
    world.nurse.save()
    evenings = ClinicianFactory(
        clinic=world.clinic, roles=[Role.PRESCRIBER], windows=[(6, dt.time(18), dt.time(22))], phone="+12025550122"
    )
    gone = ClinicianFactory(clinic=world.clinic, active=False)
    desk_with_phone = StaffMemberFactory(clinic=world.clinic, roles=[Role.FRONT_DESK], phone="+12025550133")
    return {"on_duty": world.nurse, "evenings": evenings, "gone": gone, "desk": desk_with_phone}


def _raise(world, severity=Alert.Severity.CRITICAL) -> Alert:
    return alert_raise(
        clinic_id=world.clinic.pk,
        patient_id=world.patient.pk,
        kind=Alert.Kind.SUICIDE_RISK,
        severity=severity,
        message="PHQ-9 item 9 answered 2 of 3 on a follow-up survey: same-day clinician follow-up.",
        source_type="questionnaire_response",
        source_id=1,
    )


def _notices(alert: Alert):
    return rows_about("alert", alert.pk, Kind.ALERT_NOTICE)


def _patient_details(patient) -> list[str]:
    return [patient.first_name, patient.last_name, patient.email, str(patient.phone), patient.date_of_birth.isoformat()]


def test_the_clinician_on_duty_is_told_at_once_by_email_and_sms(
    world, team, sms_outbox, django_capture_on_commit_callbacks
):
    now = local(2027, 3, 1, 12)
    with django_capture_on_commit_callbacks() as callbacks:
        alert = _raise(world)
    # the dispatcher is asked to run now
    assert any(c.__qualname__ == "nudge.<locals>.publish_in_background" for c in callbacks)

    notices = _notices(alert)
    assert set(notices.values_list("staff_id", "channel", "recipient")) == {
        (team["on_duty"].pk, "email", team["on_duty"].user.email),
        (team["on_duty"].pk, "sms", "+12025550111"),
    }
    assert {n.scheduled_for for n in notices} == {now}
    assert {n.patient_id for n in notices} == {None}

    outcome = dispatch()
    assert sorted(outcome.sent) == sorted(n.pk for n in notices)
    [email] = mail.outbox
    [text] = sms_outbox
    assert email.to == [team["on_duty"].user.email]
    assert email.subject == f"[Riverside clinic] Critical alert {alert.pk} needs a clinician"
    assert text.to == "+12025550111"
    assert f"Critical alert {alert.pk} at 12:00" in text.body
    for content in (email.subject, email.body, text.body):
        for detail in _patient_details(world.patient):
            assert detail not in content
    assert dispatch().sent == []


def test_nobody_scheduled_means_every_active_clinician_is_told(world, team, clock, sms_outbox):
    clock.move_to(local(2027, 3, 1, 23))  # Monday night: no availability window covers it
    alert = _raise(world)
    assert set(_notices(alert).values_list("staff_id", flat=True)) == {team["on_duty"].pk, team["evenings"].pk}

    outcome = dispatch()
    assert outcome.deferred == {}  # a critical alert is not held back by the patients' quiet hours
    assert len(outcome.sent) == 4
    assert sorted(m.to for m in sms_outbox) == ["+12025550111", "+12025550122"]
    assert sorted(m.to[0] for m in mail.outbox) == sorted([team["on_duty"].user.email, team["evenings"].user.email])


def test_the_window_decides_who_is_on_duty(world, team, clock):
    clock.move_to(local(2027, 3, 7, 21))  # Sunday 21:00: only the evening prescriber is scheduled
    alert = _raise(world)
    assert set(_notices(alert).values_list("staff_id", flat=True)) == {team["evenings"].pk}


def test_acknowledging_before_the_notice_goes_cancels_it(world, team, sms_outbox):
    alert = _raise(world)
    acknowledged = client_of(team["on_duty"]).post(
        f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "Called the patient; safe, plan agreed."}, format="json"
    )
    assert acknowledged.status_code == 200, acknowledged.content

    outcome = dispatch()
    assert outcome.sent == []
    assert sorted(outcome.cancelled["no_longer_applies"]) == sorted(n.pk for n in _notices(alert))
    assert mail.outbox == []
    assert sms_outbox == []
    assert set(_notices(alert).values_list("status", flat=True)) == {Status.CANCELLED}


def test_a_warning_sends_no_notice(world, team):
    alert = _raise(world, severity=Alert.Severity.WARNING)
    assert not _notices(alert).exists()


def test_a_clinician_on_time_off_is_not_on_duty(world, team, clock):
    TimeOffFactory(
        staff_member=team["on_duty"], starts_at=local(2027, 3, 1, 9), ends_at=local(2027, 3, 1, 17), reason="Leave"
    )
    # Monday noon: the nurse's window covers it, but she is away; nobody else is scheduled, so the
    # other clinicians are told (not the one on leave).
    alert = _raise(world)
    assert set(_notices(alert).values_list("staff_id", flat=True)) == {team["evenings"].pk}


def test_everyone_away_still_tells_every_clinician(world, team, clock):
    for member in (team["on_duty"], team["evenings"]):
        TimeOffFactory(staff_member=member, starts_at=local(2027, 3, 1, 0), ends_at=local(2027, 3, 2, 0))
    alert = _raise(world)
    assert set(_notices(alert).values_list("staff_id", flat=True)) == {team["on_duty"].pk, team["evenings"].pk}


@pytest.mark.parametrize("severity", [Alert.Severity.CRITICAL, Alert.Severity.WARNING])
def test_raising_an_alert_is_audited_by_the_system(world, severity):
    alert = _raise(world, severity=severity)
    event = AuditEvent.objects.get(object_type="alert", object_id=str(alert.pk))
    assert (event.action, event.actor_id, event.actor_kind) == ("create", None, "system")
    assert (event.clinic_id, event.patient_id) == (world.clinic.pk, world.patient.pk)
    assert event.changed_fields == ["kind", "severity"]
