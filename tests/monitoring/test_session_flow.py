"""A nurse runs whole sessions through the API: esketamine and IV, from check-in to discharge."""

from __future__ import annotations

import pytest

from clinic.models import Alert, AuditEvent
from monitoring.models import Dose, MonitoringRecord, VitalSign
from scheduling.models import Session
from tests.monitoring.conftest import at, open_checks


def open_record(ward, session, **changes) -> int:
    response = ward.nurse_client.post(
        f"/api/v1/sessions/{session.pk}/monitoring/", open_checks(ward, **changes), format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def vitals(ward, record_id, client=None, **values):
    return (client or ward.nurse_client).post(f"/api/v1/monitoring/{record_id}/vitals/", values, format="json")


def dose(ward, record_id, client=None, **values):
    body = {"lot_number": "LOT-7", **values}
    return (client or ward.nurse_client).post(f"/api/v1/monitoring/{record_id}/doses/", body, format="json")


def scale(ward, record_id, name, value):
    return ward.nurse_client.post(
        f"/api/v1/monitoring/{record_id}/scales/", {"scale": name, "value": value}, format="json"
    )


def test_a_complete_esketamine_session(ward):
    session = ward.session()
    ward.clock.move_to(at(9, 0))
    record_id = open_record(ward, session)
    assert (
        vitals(ward, record_id, systolic=128, diastolic=82, heart_rate=72, spo2=98, respiratory_rate=14).status_code
        == 201
    )
    scale(ward, record_id, "moaas", 5)
    scale(ward, record_id, "cadss", 0)

    ward.clock.move_to(at(9, 10))
    first = dose(ward, record_id)
    assert first.status_code == 201, first.content
    assert (first.json()["device_number"], first.json()["dose_mg"]) == (1, 28.0)
    assert Session.objects.get(pk=session.pk).status == "in_progress"
    ward.clock.move_to(at(9, 13))
    too_soon = dose(ward, record_id)
    assert too_soon.status_code == 422
    assert too_soon.json()["code"] == "device_interval_too_short"
    ward.clock.move_to(at(9, 15))
    assert dose(ward, record_id).status_code == 201
    ward.clock.move_to(at(9, 20))
    assert dose(ward, record_id).json()["device_number"] == 3  # 84 mg
    ward.clock.move_to(at(9, 26))
    assert dose(ward, record_id).json()["code"] == "dose_complete"

    ward.clock.move_to(at(9, 50))  # 40 minutes after the first device: the blood-pressure peak
    critical = vitals(ward, record_id, systolic=186, diastolic=112, heart_rate=96, spo2=97, respiratory_rate=16)
    assert critical.status_code == 201
    [alert] = critical.json()["alerts"]
    assert (alert["kind"], alert["severity"]) == ("vitals", "critical")
    assert "186" in alert["message"]

    ward.clock.move_to(at(10, 30))
    early = ward.nurse_client.post(
        f"/api/v1/monitoring/{record_id}/discharge/",
        {"alert_and_oriented": True, "able_to_walk": True, "escort_present": True, "ready_minutes_without_rule": 90},
        format="json",
    )
    assert early.status_code == 422
    assert early.json()["code"] == "open_critical_alerts"
    ack = ward.prescriber_client.post(
        f"/api/v1/alerts/{alert['id']}/acknowledge/",
        {"note": "Rechecked at 10:00, falling; labetalol not needed."},
        format="json",
    )
    assert ack.status_code == 200
    vitals(ward, record_id, systolic=142, diastolic=88, heart_rate=80, spo2=98, respiratory_rate=14)
    too_early = ward.nurse_client.post(
        f"/api/v1/monitoring/{record_id}/discharge/",
        {"alert_and_oriented": True, "able_to_walk": True, "escort_present": True, "ready_minutes_without_rule": 90},
        format="json",
    )
    assert too_early.status_code == 422
    assert too_early.json()["code"] == "minimum_monitoring_not_met"

    ward.clock.move_to(at(11, 5))
    vitals(ward, record_id, systolic=130, diastolic=84, heart_rate=74, spo2=98, respiratory_rate=14)
    scale(ward, record_id, "moaas", 5)
    ward.clock.move_to(at(11, 12))
    done = ward.nurse_client.post(
        f"/api/v1/monitoring/{record_id}/discharge/",
        {"alert_and_oriented": True, "able_to_walk": True, "escort_present": True, "ready_minutes_without_rule": 90},
        format="json",
    )
    assert done.status_code == 201, done.content
    assert done.json()["overridden"] == []
    assert Session.objects.get(pk=session.pk).status == "completed"

    form = ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/rems-form/").json()
    assert form["missing"] == [], form["missing"]
    fields = form["fields"]
    assert fields["dose"] == "84 mg"
    assert fields["bp_before_dosing"] == "128/82"
    assert fields["bp_at_40_minutes"] == "186/112"
    assert fields["bp_before_leaving"] == "130/84"
    assert fields["minutes_first_device_to_end_of_monitoring"] == 122
    assert fields["minutes_until_ready_without_two_hour_rule"] == 90
    assert fields["vitals_acceptable_before_dosing"] == "Y"
    assert fields["pulse_oximetry_used"] == "Y"
    assert fields["first_treatment"] == "Y"
    assert fields["due_by"] == "2027-03-09"

    timeline = ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/").json()["timeline"]
    types = [event["type"] for event in timeline]
    assert types[0] == "record_opened" and types[-1] == "discharge"
    assert types.count("dose") == 3 and "alert" in types


def test_a_complete_iv_session(ward):
    session = ward.session(ward.iv, start=at(10))
    ward.clock.move_to(at(10))
    record_id = open_record(ward, session, prescriber_on_site=None, rems_enrollment_confirmed=False)
    vitals(ward, record_id, systolic=122, diastolic=78, heart_rate=70, spo2=99)
    mismatch = dose(ward, record_id, dose_mg="40.00", dose_mg_per_kg="0.600")
    assert mismatch.status_code == 400
    assert "dose_mg_per_kg" in mismatch.json()["errors"]
    ward.clock.move_to(at(10, 5))
    started = dose(ward, record_id, dose_mg="40.00", dose_mg_per_kg="0.500")
    assert started.status_code == 201, started.content
    assert started.json()["dose_mg_per_kg"] == 0.5
    dose_id = started.json()["id"]
    for minute in (15, 25, 35, 45):
        ward.clock.move_to(at(10, minute))
        assert vitals(ward, record_id, systolic=130, diastolic=80, heart_rate=76, spo2=98).json()["alerts"] == []
    ward.clock.move_to(at(10, 45))
    ended = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/doses/{dose_id}/infusion-end/", {}, format="json")
    assert ended.status_code == 200
    again = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/doses/{dose_id}/infusion-end/", {}, format="json")
    assert again.status_code == 409
    ward.clock.move_to(at(11, 0))
    vitals(ward, record_id, systolic=126, diastolic=80, heart_rate=72, spo2=98)
    body = {"alert_and_oriented": True, "able_to_walk": True, "escort_present": True}
    refused = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/discharge/", body, format="json")
    assert refused.json()["code"] == "minimum_monitoring_not_met"
    ward.clock.move_to(at(11, 46))  # infusion end 10:45 + 60 minutes of observation
    vitals(ward, record_id, systolic=124, diastolic=78, heart_rate=70, spo2=99)
    assert ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/discharge/", body, format="json").status_code == 201
    assert ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/rems-form/").status_code == 404


# --- the dose gate ----------------------------------------------------------------------------------


def _opened(ward, **changes):
    session = ward.session()
    ward.clock.move_to(at(9))
    return open_record(ward, session, **changes)


def test_no_dose_without_baseline_vitals(ward):
    record_id = _opened(ward)
    response = dose(ward, record_id)
    assert response.status_code == 422
    assert response.json()["code"] == "baseline_vitals_missing"


def test_elevated_predose_bp_needs_a_prescriber_override(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=152, diastolic=96, heart_rate=80, spo2=98)
    refused = dose(ward, record_id)
    assert refused.status_code == 422
    assert refused.json()["code"] == "predose_bp_elevated"
    nurse_reason = dose(ward, record_id, override_reason="Patient anxious")
    assert nurse_reason.status_code == 422, "a nurse cannot override"
    overridden = dose(ward, record_id, client=ward.prescriber_client, override_reason="White-coat; home BP 128/80.")
    assert overridden.status_code == 201, overridden.content
    assert overridden.json()["overridden"] == ["predose_bp_elevated"]
    assert Dose.objects.get().override_by == ward.prescriber


def test_bp_at_the_gate_is_allowed(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=140, diastolic=90, heart_rate=80, spo2=98)
    assert dose(ward, record_id).status_code == 201


def test_positive_pregnancy_test_and_missing_escort(ward):
    record_id = _opened(ward, pregnancy_test="positive")
    vitals(ward, record_id, systolic=120, diastolic=80)
    assert dose(ward, record_id).json()["code"] == "pregnancy_test_positive"
    from tests.factories.clinic import PatientFactory
    from tests.scheduling.helpers import approve

    other = ward.session(patient=approve(PatientFactory(clinic=ward.clinic)), start=at(13))
    ward.clock.move_to(at(13))
    other_id = open_record(ward, other, escort_confirmed=False)
    vitals(ward, other_id, systolic=120, diastolic=80)
    refused = dose(ward, other_id, client=ward.prescriber_client, override_reason="x")
    assert refused.json()["code"] == "escort_not_confirmed", "escort is not a clinical judgement: no override"


def test_esketamine_needs_a_prescriber_on_site(ward):
    session = ward.session()
    ward.clock.move_to(at(9))
    response = ward.nurse_client.post(
        f"/api/v1/sessions/{session.pk}/monitoring/", open_checks(ward, prescriber_on_site=None), format="json"
    )
    assert response.status_code == 400
    assert "prescriber_on_site" in response.json()["errors"]


def test_record_needs_a_checked_in_session_and_opens_once(ward):
    from tests.factories.scheduling import SessionFactory

    booked = SessionFactory(
        clinic=ward.clinic,
        treatment_type=ward.esketamine,
        clinician=ward.nurse,
        starts_at=at(15),
        ends_at=at(17, 20),
        occupied_until=at(17, 35),
    )
    response = ward.nurse_client.post(f"/api/v1/sessions/{booked.pk}/monitoring/", open_checks(ward), format="json")
    assert response.json()["code"] == "invalid_transition"
    record_id = _opened(ward)
    again = ward.nurse_client.post(
        f"/api/v1/sessions/{MonitoringRecord.objects.get(pk=record_id).session_id}/monitoring/",
        open_checks(ward),
        format="json",
    )
    assert again.json()["code"] == "already_open"


# --- vitals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"systolic": 400, "diastolic": 80}, "systolic"),
        ({"systolic": 120, "diastolic": 130}, "diastolic"),
        ({"heart_rate": 300}, "heart_rate"),
        ({"spo2": 101}, "spo2"),
        ({"respiratory_rate": 2}, "respiratory_rate"),
        ({"temperature_c": "45.0"}, "temperature_c"),
        ({"systolic": 120}, "diastolic"),
    ],
)
def test_impossible_values_are_refused_naming_the_field(ward, values, field):
    record_id = _opened(ward)
    response = vitals(ward, record_id, **values)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not VitalSign.objects.exists()


def test_a_batch_is_all_or_nothing_and_names_the_row(ward):
    record_id = _opened(ward)
    batch = [
        {"taken_at": at(8, 58).isoformat(), "systolic": 120, "diastolic": 80, "spo2": 98},
        {"taken_at": at(8, 59).isoformat(), "systolic": 121, "diastolic": 80, "spo2": 140},
    ]
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/vitals/", batch, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["1.spo2"]
    assert not VitalSign.objects.exists()


def test_a_batch_evaluates_every_reading(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 10))
    dose(ward, record_id)
    ward.clock.move_to(at(9, 30))
    batch = [
        {"taken_at": at(9, 20).isoformat(), "systolic": 125, "diastolic": 82, "heart_rate": 75, "spo2": 98},
        {"taken_at": at(9, 25).isoformat(), "systolic": 130, "diastolic": 84, "heart_rate": 118, "spo2": 96},
        {"taken_at": at(9, 28).isoformat(), "systolic": 128, "diastolic": 83, "heart_rate": 80, "spo2": 88},
    ]
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/vitals/", batch, format="json")
    assert response.status_code == 201
    assert len(response.json()["vitals"]) == 3
    assert sorted(a["severity"] for a in response.json()["alerts"]) == ["critical", "warning"]
    assert VitalSign.objects.filter(source="monitor").count() == 3


def test_rise_over_baseline_warns(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=110, diastolic=70)
    ward.clock.move_to(at(9, 10))
    dose(ward, record_id)
    ward.clock.move_to(at(9, 50))
    [alert] = vitals(ward, record_id, systolic=150, diastolic=80).json()["alerts"]
    assert alert["severity"] == "warning"


def test_dangerous_reading_before_the_dose_still_alerts(ward):
    record_id = _opened(ward)
    [alert] = vitals(ward, record_id, systolic=120, diastolic=80, spo2=86).json()["alerts"]
    assert alert["severity"] == "critical"


# --- scales and events ------------------------------------------------------------------------------


def test_sedation_and_dissociation_scales(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80)
    scale(ward, record_id, "moaas", 5)
    scale(ward, record_id, "cadss", 1)
    ward.clock.move_to(at(9, 10))
    dose(ward, record_id)
    ward.clock.move_to(at(9, 30))
    assert scale(ward, record_id, "moaas", 4).json()["alerts"][0]["severity"] == "warning"
    deep = scale(ward, record_id, "moaas", 2).json()["alerts"][0]
    assert (deep["kind"], deep["severity"]) == ("sedation", "critical")
    dissociation = scale(ward, record_id, "cadss", 12).json()["alerts"][0]
    assert (dissociation["kind"], dissociation["severity"]) == ("dissociation", "warning")
    assert scale(ward, record_id, "moaas", 7).status_code == 400


def test_serious_and_respiratory_events_raise_critical_alerts(ward):
    record_id = _opened(ward)
    body = {
        "type": "respiratory_depression",
        "description": "RR 7, SpO2 89; stimulated, jaw thrust",
        "severity": "severe",
        "serious": False,
        "onset_at": at(9, 0).isoformat(),
        "actions_taken": "Oxygen 2 L",
        "outcome": "resolved",
    }
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/adverse-events/", body, format="json")
    assert response.status_code == 201
    assert response.json()["alerts"][0]["kind"] == "respiratory_depression"
    mild = {**body, "type": "nausea", "severity": "mild", "description": ""}
    assert (
        ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/adverse-events/", mild, format="json").json()["alerts"]
        == []
    )
    other = {**mild, "type": "other"}
    assert (
        ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/adverse-events/", other, format="json").status_code
        == 400
    )


# --- discharge --------------------------------------------------------------------------------------


def _dosed(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=72, spo2=98)
    ward.clock.move_to(at(9, 10))
    dose(ward, record_id)
    ward.clock.move_to(at(9, 15))
    dose(ward, record_id)
    return record_id


DISCHARGE = {"alert_and_oriented": True, "able_to_walk": True, "escort_present": True, "ready_minutes_without_rule": 75}


def test_criteria_unmet_is_refused_until_a_prescriber_overrides_with_a_reason(ward):
    record_id = _dosed(ward)
    ward.clock.move_to(at(11, 15))
    vitals(ward, record_id, systolic=122, diastolic=80, heart_rate=72, spo2=98)
    refused = ward.nurse_client.post(
        f"/api/v1/monitoring/{record_id}/discharge/", {**DISCHARGE, "able_to_walk": False}, format="json"
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "criteria_unmet"
    assert "able to walk" in refused.json()["detail"]
    overridden = ward.prescriber_client.post(
        f"/api/v1/monitoring/{record_id}/discharge/",
        {**DISCHARGE, "able_to_walk": False, "override_reason": "Uses a wheelchair at baseline; escort present."},
        format="json",
    )
    assert overridden.status_code == 201
    assert overridden.json()["overridden"] == ["criteria_unmet"]


def test_early_discharge_only_with_a_prescribers_reason(ward):
    record_id = _dosed(ward)
    ward.clock.move_to(at(10, 40))
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=72, spo2=98)
    nurse = ward.nurse_client.post(
        f"/api/v1/monitoring/{record_id}/discharge/", {**DISCHARGE, "override_reason": "Wants to go"}, format="json"
    )
    assert nurse.json()["code"] == "minimum_monitoring_not_met"
    no_reason = ward.prescriber_client.post(f"/api/v1/monitoring/{record_id}/discharge/", DISCHARGE, format="json")
    assert no_reason.status_code == 422
    done = ward.prescriber_client.post(
        f"/api/v1/monitoring/{record_id}/discharge/",
        {**DISCHARGE, "override_reason": "Transferred to the ED for chest pain evaluation."},
        format="json",
    )
    assert done.status_code == 201
    assert done.json()["overridden"] == ["minimum_monitoring_not_met"]
    form = ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/rems-form/").json()
    assert any("under 120" in item for item in form["missing"])


def test_a_stale_last_reading_is_unmet_criteria(ward):
    record_id = _dosed(ward)
    ward.clock.move_to(at(11, 30))  # last reading 09:00, no reading in the last 15 minutes
    refused = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/discharge/", DISCHARGE, format="json")
    assert refused.json()["code"] == "criteria_unmet"


def test_esketamine_discharge_asks_the_rems_question(ward):
    record_id = _dosed(ward)
    ward.clock.move_to(at(11, 15))
    vitals(ward, record_id, systolic=122, diastolic=80, heart_rate=72, spo2=98)
    body = {k: v for k, v in DISCHARGE.items() if k != "ready_minutes_without_rule"}
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/discharge/", body, format="json")
    assert response.status_code == 400
    assert "ready_minutes_without_rule" in response.json()["errors"]


def test_the_record_is_closed_after_discharge(ward):
    record_id = _dosed(ward)
    ward.clock.move_to(at(11, 15))
    vitals(ward, record_id, systolic=122, diastolic=80, heart_rate=72, spo2=98)
    ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/discharge/", DISCHARGE, format="json")
    late = vitals(ward, record_id, systolic=120, diastolic=80)
    assert late.json()["code"] == "record_closed"


def test_reads_and_writes_are_audited(ward):
    record_id = _dosed(ward)
    ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/")
    assert AuditEvent.objects.filter(object_type="monitoring_record", action="read").exists()
    assert AuditEvent.objects.filter(object_type="dose", action="create").count() == 2
    assert Alert.objects.count() == 0


def test_a_monitor_upload_costs_the_same_queries_however_long_the_session(ward, django_assert_max_num_queries):
    """Writes read the bare record, not the whole timeline: cost stays flat as readings pile up."""
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 10))
    dose(ward, record_id)

    def upload(minute: int) -> None:
        batch = [
            {"taken_at": at(9, minute).isoformat(), "systolic": 122, "diastolic": 80, "heart_rate": 72, "spo2": 97},
            {"taken_at": at(9, minute + 1).isoformat(), "systolic": 124, "diastolic": 81, "heart_rate": 74, "spo2": 97},
        ]
        response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/vitals/", batch, format="json")
        assert response.status_code == 201, response.content

    ward.clock.move_to(at(9, 59))
    for minute in range(11, 50, 2):
        upload(minute)
    # token, savepoint, the record's lock, the record (with the discharge and the policy layers;
    # read after the lock: test_closed_record_race.py), baseline, insert, audit, release
    with django_assert_max_num_queries(8):
        upload(55)
