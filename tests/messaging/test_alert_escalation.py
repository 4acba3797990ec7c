"""Alerts nobody answers are escalated by the beat sweep, through the outbox, exactly once per step.

A dangerous reading posted through the monitoring API tells the clinicians on duty at once (not the
off-duty ones, not another clinic's). A missed vital-sign check is raised as a warning by the
monitoring sweep; still unacknowledged 10 minutes later it becomes critical and tells the clinicians
on duty; a critical alert still unacknowledged 10 minutes after they were told sends a second notice
to them and to the prescribers and administrators. Acknowledging stops every further step; re-runs
and two racing sweeps send nothing twice. Every step is audited with the system actor, and every
notice stays discreet.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.db import connection, connections

from clinic.access import Role
from clinic.messaging.sms import LocmemSmsBackend
from clinic.models import Alert, AuditEvent, OutboundMessage
from clinic.services import alerts as alert_services
from clinic.services.alerts import alerts_escalate
from clinic.tasks import escalate_alerts
from monitoring.tasks import raise_overdue_vitals_alerts
from tests.factories.clinic import AlertFactory, ClinicFactory, PatientFactory, StaffMemberFactory
from tests.factories.scheduling import ClinicianFactory
from tests.messaging.helpers import Kind, Status, dispatch, rows_about, running_worker, wait_until
from tests.messaging.test_discreet import forbidden_in
from tests.monitoring.conftest import at
from tests.monitoring.conftest import ward as monitoring_ward  # noqa: F401  (a fixture, registered by its import)
from tests.monitoring.test_session_flow import dose, open_record, vitals
from tests.scheduling.helpers import NOW

FIRST = "alert-notice:"
SECOND = "alert-escalation:2:"


@pytest.fixture
def ward(db, request):
    """The monitoring tests' clinic on a frozen clock, where ``ward.session()`` checks a patient in."""
    return request.getfixturevalue("monitoring_ward")


@pytest.fixture
def staff(ward):
    """Who could be told. 2027-03-02 is a Tuesday; the ward's nurse (work phone) and prescriber are
    scheduled 08-20 every day. Off duty: a nurse scheduled on Saturdays only. Never told: front desk
    staff. Told only when an alert is ignored: the administrator. Another clinic's nurse, on duty
    there, is never told of this clinic's alerts."""
    other_clinic = ClinicFactory(name="Other clinic")
    return {
        "nurse": ward.nurse,
        "prescriber": ward.prescriber,
        "off_duty": ClinicianFactory(clinic=ward.clinic, windows=[(5, dt.time(8), dt.time(20))], phone="+12025550122"),
        "desk": StaffMemberFactory(clinic=ward.clinic, roles=[Role.FRONT_DESK], phone="+12025550133"),
        "admin": StaffMemberFactory(clinic=ward.clinic, roles=[Role.CLINIC_ADMIN], phone="+12025550144"),
        "elsewhere": ClinicianFactory(clinic=other_clinic, phone="+12025550155"),
    }


def _notices(alert_id: int, prefix: str = ""):
    rows = rows_about("alert", alert_id, Kind.ALERT_NOTICE)
    return rows.filter(dedupe_key__startswith=prefix) if prefix else rows


def _told(alert_id: int, prefix: str) -> set[int]:
    return set(_notices(alert_id, prefix).values_list("staff_id", flat=True))


def _dosed_esketamine_session(ward) -> int:
    """A checked-in esketamine session with its pre-dose reading at 09:00 and the first device at 09:10."""
    session = ward.session()
    ward.clock.move_to(at(9, 0))
    record_id = open_record(ward, session)
    assert vitals(ward, record_id, systolic=124, diastolic=80, heart_rate=72, spo2=98).status_code == 201
    ward.clock.move_to(at(9, 10))
    assert dose(ward, record_id).status_code == 201
    dispatch()  # the booking's own messages to the patient, out of the way
    mail.outbox.clear()
    LocmemSmsBackend.outbox.clear()
    return record_id


def _beat(ward, start: dt.datetime, minutes: int) -> dict[dt.datetime, alert_services.Escalation]:
    """Run both sweeps once a minute, as beat does, from ``start`` for ``minutes``; what escalated when."""
    escalated = {}
    for minute in range(minutes + 1):
        now = start + dt.timedelta(minutes=minute)
        ward.clock.move_to(now)
        raise_overdue_vitals_alerts()
        done = alerts_escalate()
        if done:
            escalated[now] = done
    return escalated


def _patient_details(patient) -> list[str]:
    return [patient.first_name, patient.last_name, patient.email, str(patient.phone), patient.date_of_birth.isoformat()]


def _assert_discreet(texts: list[str], patient) -> None:
    assert texts
    for text in texts:
        assert forbidden_in(text) == [], text
        for detail in _patient_details(patient):
            assert detail not in text


# --- a critical reading through the API --------------------------------------------------------


def test_a_dangerous_reading_tells_the_clinicians_on_duty_of_this_clinic_only(ward, staff, sms_outbox):
    record_id = _dosed_esketamine_session(ward)
    ward.clock.move_to(at(9, 50))  # 40 minutes after the first device: the blood-pressure peak
    response = vitals(ward, record_id, systolic=186, diastolic=112, heart_rate=96, spo2=97, respiratory_rate=16)
    assert response.status_code == 201, response.content
    [raised] = response.json()["alerts"]
    assert (raised["kind"], raised["severity"]) == ("vitals", "critical")

    notices = _notices(raised["id"])
    assert set(notices.values_list("staff_id", "channel")) == {
        (staff["nurse"].pk, "email"),
        (staff["nurse"].pk, "sms"),
        (staff["prescriber"].pk, "email"),
    }  # not the off-duty nurse, the front desk, the administrator, nor the other clinic's nurse
    assert {n.scheduled_for for n in notices} == {at(9, 50)}
    assert {n.patient_id for n in notices} == {None}
    assert AuditEvent.objects.filter(
        object_type="alert", object_id=str(raised["id"]), action="create", actor__isnull=True, actor_kind="system"
    ).exists()

    outcome = dispatch()
    assert sorted(outcome.sent) == sorted(notices.values_list("pk", flat=True))
    assert sorted(m.to[0] for m in mail.outbox) == sorted([staff["nurse"].user.email, staff["prescriber"].user.email])
    assert [m.to for m in sms_outbox] == ["+12025550111"]
    assert f"Critical alert {raised['id']} at 09:50" in sms_outbox[0].body
    _assert_discreet([m.body for m in sms_outbox] + [p for m in mail.outbox for p in (m.subject, m.body)], ward.patient)
    assert "186" not in sms_outbox[0].body + mail.outbox[0].body  # the reading stays in the app


# --- a missed check escalates ------------------------------------------------------------------


def test_a_missed_check_escalates_to_critical_then_to_the_seniors_once_each(ward, staff, sms_outbox):
    record_id = _dosed_esketamine_session(ward)
    # dose+40 is due at 09:50 and overdue from 09:55; nobody takes the reading or answers the alert.
    escalated = _beat(ward, at(9, 50), minutes=40)
    alert = Alert.objects.get(kind="vitals_overdue", scope_id=record_id)
    assert alert.opened_at == at(9, 56)
    # Critical 10 minutes after the warning, the second notice 10 minutes after the first; once each.
    assert {when: (done.to_critical, done.second_notice) for when, done in escalated.items()} == {
        at(10, 6): ([alert.pk], []),
        at(10, 16): ([], [alert.pk]),
    }
    alert.refresh_from_db()
    assert (alert.severity, alert.is_open) == ("critical", True)

    assert _told(alert.pk, FIRST) == {staff["nurse"].pk, staff["prescriber"].pk}
    # The off-duty nurse is neither on duty nor senior; the administrator hears of it now.
    assert _told(alert.pk, SECOND) == {staff["nurse"].pk, staff["prescriber"].pk, staff["admin"].pk}
    assert set(_notices(alert.pk, FIRST).values_list("created_at", flat=True)) == {at(10, 6)}
    assert set(_notices(alert.pk, SECOND).values_list("created_at", flat=True)) == {at(10, 16)}
    assert _notices(alert.pk).count() == 3 + 5  # nurse email+sms, prescriber email; again, and the admin's two

    audits = AuditEvent.objects.filter(patient=ward.patient, actor__isnull=True, actor_kind="system")
    assert sorted(
        audits.filter(object_type__in=["alert", "alert_escalation"]).values_list(
            "object_type", "object_id", "action", "changed_fields"
        )
    ) == [
        ("alert", str(alert.pk), "create", ["kind", "severity"]),
        ("alert", str(alert.pk), "update", ["severity"]),
        ("alert_escalation", f"{alert.pk}:2", "create", []),
    ]

    # An hour on: the alert stays open, nothing more is sent or recorded.
    ward.clock.move_to(at(11, 30))
    assert escalate_alerts() == 0
    assert _notices(alert.pk).count() == 8
    assert audits.filter(object_type="alert_escalation").count() == 1

    outcome = dispatch()
    assert len(outcome.sent) == 8
    second = [m for m in sms_outbox if "still not acknowledged" in m.body]
    assert sorted(m.to for m in second) == ["+12025550111", "+12025550144"]
    assert f"Critical alert {alert.pk} of 09:56 is still not acknowledged" in second[0].body
    escalation_mail = [m for m in mail.outbox if "still waiting" in m.subject]
    assert sorted(m.to[0] for m in escalation_mail) == sorted(
        [staff["nurse"].user.email, staff["prescriber"].user.email, staff["admin"].user.email]
    )
    _assert_discreet([m.body for m in sms_outbox] + [p for m in mail.outbox for p in (m.subject, m.body)], ward.patient)
    assert dispatch().sent == []


def test_acknowledging_the_warning_stops_the_escalation(ward, staff, sms_outbox):
    record_id = _dosed_esketamine_session(ward)
    _beat(ward, at(9, 50), minutes=6)
    alert = Alert.objects.get(kind="vitals_overdue", scope_id=record_id)
    ward.clock.move_to(at(10, 0))
    done = ward.nurse_client.post(
        f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "Reading taken at 09:59, stable."}, format="json"
    )
    assert done.status_code == 200, done.content
    assert _beat(ward, at(10, 0), minutes=60) == {}
    alert.refresh_from_db()
    assert alert.severity == "warning"
    assert not _notices(alert.pk).exists()
    assert dispatch().sent == []


def test_a_missed_check_taken_late_is_not_escalated(ward, staff, sms_outbox):
    record_id = _dosed_esketamine_session(ward)
    _beat(ward, at(9, 50), minutes=6)
    alert = Alert.objects.get(kind="vitals_overdue", scope_id=record_id)
    # The nurse takes the reading at 09:58 and dates it 09:52, when she measured; nobody acknowledges.
    ward.clock.move_to(at(9, 58))
    late = vitals(ward, record_id, taken_at=at(9, 52).isoformat(), systolic=126, diastolic=82, heart_rate=70, spo2=98)
    assert late.status_code == 201, late.content
    assert _beat(ward, at(9, 58), minutes=30) == {}
    alert.refresh_from_db()
    assert (alert.severity, alert.is_open) == ("warning", True)  # kept as the record of a late check
    assert not _notices(alert.pk).exists()


def test_a_reading_charted_late_but_dated_before_the_check_does_not_stop_the_escalation(ward, staff, sms_outbox):
    record_id = _dosed_esketamine_session(ward)
    _beat(ward, at(9, 50), minutes=6)
    alert = Alert.objects.get(kind="vitals_overdue", scope_id=record_id)
    # At 09:58 the nurse charts a reading from 09:30: the 09:50 check is still missing.
    ward.clock.move_to(at(9, 58))
    old = vitals(ward, record_id, taken_at=at(9, 30).isoformat(), systolic=126, diastolic=82, heart_rate=70, spo2=98)
    assert old.status_code == 201, old.content
    escalated = _beat(ward, at(9, 58), minutes=10)
    assert [done.to_critical for done in escalated.values()] == [[alert.pk]]


def test_a_missed_check_of_a_discharged_patient_is_not_escalated(ward, staff, sms_outbox):
    from monitoring.models import Discharge

    record_id = _dosed_esketamine_session(ward)
    _beat(ward, at(9, 50), minutes=6)
    alert = Alert.objects.get(kind="vitals_overdue", scope_id=record_id)
    # Discharged (by a prescriber's override, say) while the warning was open: written directly,
    # since what matters here is only that the record has a discharge.
    Discharge.objects.create(
        record_id=record_id,
        discharged_at=at(9, 57),
        discharged_by=staff["prescriber"].user,
        alert_and_oriented=True,
        able_to_walk=True,
        escort_present=True,
        vitals_within_limits=True,
    )
    assert alerts_escalate(now=at(10, 30)).to_critical == []
    alert.refresh_from_db()
    assert alert.severity == "warning"


def test_acknowledging_a_critical_alert_stops_the_second_notice(ward, staff, sms_outbox):
    record_id = _dosed_esketamine_session(ward)
    escalated = _beat(ward, at(9, 50), minutes=16)
    alert = Alert.objects.get(kind="vitals_overdue", scope_id=record_id)
    assert list(escalated) == [at(10, 6)]
    ward.clock.move_to(at(10, 12))
    done = ward.prescriber_client.post(
        f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "Nurse back at the chair, reading normal."}, format="json"
    )
    assert done.status_code == 200, done.content
    assert _beat(ward, at(10, 12), minutes=60) == {}
    assert not _notices(alert.pk, SECOND).exists()
    # The first notices, not yet sent, are cancelled at send time: the reason no longer holds.
    outcome = dispatch()
    assert outcome.sent == []
    assert sorted(outcome.cancelled["no_longer_applies"]) == sorted(_notices(alert.pk).values_list("pk", flat=True))
    assert not AuditEvent.objects.filter(object_type="alert_escalation").exists()


def test_a_reading_raised_critical_gets_its_second_notice_ten_minutes_after_the_first(ward, staff):
    record_id = _dosed_esketamine_session(ward)
    ward.clock.move_to(at(9, 50))
    raised = vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=80, spo2=87, respiratory_rate=14)
    [alert] = raised.json()["alerts"]
    assert alert["severity"] == "critical"
    ward.clock.move_to(at(9, 59))
    assert alerts_escalate().second_notice == []
    ward.clock.move_to(at(10, 0))
    assert alerts_escalate().second_notice == [alert["id"]]
    assert alerts_escalate().second_notice == []
    assert _told(alert["id"], SECOND) == {staff["nurse"].pk, staff["prescriber"].pk, staff["admin"].pk}


def test_ordinary_warnings_are_never_escalated(ward, staff):
    record_id = _dosed_esketamine_session(ward)
    ward.clock.move_to(at(9, 50))
    raised = vitals(ward, record_id, systolic=128, diastolic=84, heart_rate=80, spo2=93, respiratory_rate=14)
    [alert] = raised.json()["alerts"]
    assert (alert["kind"], alert["severity"]) == ("vitals", "warning")
    ward.clock.move_to(at(12))
    assert len(alerts_escalate()) == 0
    assert Alert.objects.get(pk=alert["id"]).severity == "warning"
    assert not _notices(alert["id"]).exists()


def test_the_delays_are_settings(ward, staff, settings):
    settings.ALERT_OVERDUE_ESCALATION_MINUTES = 5
    settings.ALERT_SECOND_NOTICE_MINUTES = 3
    _dosed_esketamine_session(ward)
    escalated = _beat(ward, at(9, 50), minutes=20)
    assert sorted(escalated) == [at(10, 1), at(10, 4)]


def test_nobody_to_tell_on_duty_still_reaches_the_seniors_on_the_next_sweep(ward, staff):
    """With no clinician reachable at the first step, the second notice does not wait another 10 minutes."""
    for member in (ward.nurse, ward.prescriber, staff["off_duty"]):
        member.user.email = ""
        member.user.save()
        member.phone = ""
        member.save()
    _dosed_esketamine_session(ward)
    escalated = _beat(ward, at(9, 50), minutes=20)
    alert = Alert.objects.get(kind="vitals_overdue")
    assert {when: (d.to_critical, d.second_notice) for when, d in escalated.items()} == {
        at(10, 6): ([alert.pk], []),
        at(10, 7): ([], [alert.pk]),
    }
    assert _told(alert.pk, SECOND) == {staff["admin"].pk}


def test_the_beat_runs_the_sweep_every_minute_without_arguments():
    entry = settings.CELERY_BEAT_SCHEDULE["escalate-open-alerts"]
    assert entry["task"] == escalate_alerts.name == "clinic.tasks.escalate_alerts"
    assert entry["schedule"] == dt.timedelta(minutes=1)
    assert "args" not in entry and "kwargs" not in entry


# --- concurrency, with real connections ----------------------------------------------------------

ESCALATING = 4
IGNORED = 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_racing_sweeps_escalate_each_alert_once(monkeypatch):
    """Two sweeps at once (threads, one PostgreSQL connection each), both holding row locks at the
    same moment: every alert is escalated by exactly one of them, and each notice and audit row
    exists once."""
    assert connection.vendor == "postgresql"
    with time_machine.travel(NOW, tick=False) as clock:
        clinic = ClinicFactory(name="Riverside clinic")
        nurse = ClinicianFactory(clinic=clinic, phone="+12025550111")
        prescriber = ClinicianFactory(clinic=clinic, roles=[Role.PRESCRIBER])
        admin = StaffMemberFactory(clinic=clinic, roles=[Role.CLINIC_ADMIN])
        patient = PatientFactory(clinic=clinic)
        overdue = [
            AlertFactory(clinic=clinic, patient=patient, kind="vitals_overdue", severity="warning", dedupe_key=f"o{n}")
            for n in range(ESCALATING)
        ]
        ignored = [AlertFactory(clinic=clinic, patient=patient) for _ in range(IGNORED)]
        clock.move_to(NOW + dt.timedelta(minutes=11))

        in_step = threading.Barrier(2, timeout=30)
        real_lock = alert_services._lock_open
        local = threading.local()

        def lock_in_step(alert_id, **state):
            alert = real_lock(alert_id, **state)
            if alert is not None and not getattr(local, "waited", False):
                local.waited = True
                in_step.wait()  # holding this alert's row lock until the other sweep holds one too
            return alert

        monkeypatch.setattr(alert_services, "_lock_open", lock_in_step)
        results: list[alert_services.Escalation] = []
        errors: list[BaseException] = []

        def sweep() -> None:
            try:
                results.append(alerts_escalate())
            except BaseException as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

        assert errors == []
        assert not in_step.broken, "both sweeps held a row lock at the same time"
        first, second = results
        assert first.to_critical and second.to_critical, "both sweeps took part"
        assert sorted(first.to_critical + second.to_critical) == sorted(a.pk for a in overdue)
        assert sorted(first.second_notice + second.second_notice) == sorted(a.pk for a in ignored)

        assert set(Alert.objects.filter(pk__in=[a.pk for a in overdue]).values_list("severity", flat=True)) == {
            "critical"
        }
        for alert in overdue:
            assert _told(alert.pk, FIRST) == {nurse.pk, prescriber.pk}
            assert _notices(alert.pk, FIRST).count() == 3
            assert not _notices(alert.pk, SECOND).exists()
        for alert in ignored:
            assert _told(alert.pk, SECOND) == {nurse.pk, prescriber.pk, admin.pk}
            assert _notices(alert.pk, SECOND).count() == 4
        system = AuditEvent.objects.filter(actor_kind="system")
        assert system.filter(object_type="alert", action="update").count() == ESCALATING
        assert system.filter(object_type="alert_escalation").count() == IGNORED

        # And again, now that both committed: nothing left to do.
        assert len(alerts_escalate()) == 0


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_sweep_from_the_broker():
    with time_machine.travel(NOW, tick=False):
        clinic = ClinicFactory(name="Riverside clinic")
        nurse = ClinicianFactory(clinic=clinic)
        alert = AlertFactory(clinic=clinic, kind="vitals_overdue", severity="warning", dedupe_key="overdue:1:dose+40")
    with time_machine.travel(NOW + dt.timedelta(minutes=10, seconds=5), tick=True), running_worker(concurrency=1):
        escalate_alerts.delay()
        assert wait_until(lambda: Alert.objects.get(pk=alert.pk).severity == "critical")
        assert wait_until(lambda: _notices(alert.pk).exists())
    assert set(_notices(alert.pk).values_list("staff_id", "status")) <= {
        (nurse.pk, Status.PENDING),
        (nurse.pk, Status.SENDING),
        (nurse.pk, Status.SENT),
    }
    assert OutboundMessage.objects.filter(kind=Kind.ALERT_NOTICE).count() == 1  # the nurse has email only
