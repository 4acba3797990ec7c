"""Each rule that needs a measurement judges the latest reading carrying it, and a dose cannot be
dated so as to dodge the pre-dose checks or the 2-hour rule.

A monitor's upload is often SpO2 and pulse only: such a reading must not hide the blood pressure
taken just before it, neither at the dose gate, nor as the baseline of a post-dose rise, nor at
discharge.
"""

from __future__ import annotations

from monitoring.models import Dose, MonitoringRecord
from tests.monitoring.conftest import at
from tests.monitoring.test_session_flow import DISCHARGE, dose, open_record, vitals


def _opened(ward) -> int:
    session = ward.session()
    ward.clock.move_to(at(9))
    return open_record(ward, session)


def _discharge(ward, record_id, client=None, **changes):
    return (client or ward.nurse_client).post(
        f"/api/v1/monitoring/{record_id}/discharge/", {**DISCHARGE, **changes}, format="json"
    )


# --- the dose gate ----------------------------------------------------------------------------------


def test_a_later_spo2_only_reading_does_not_hide_an_elevated_bp(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=160, diastolic=100, heart_rate=80, spo2=98)
    ward.clock.move_to(at(9, 5))
    assert vitals(ward, record_id, spo2=97, heart_rate=78).status_code == 201  # the pulse oximeter's upload
    ward.clock.move_to(at(9, 10))
    refused = dose(ward, record_id)
    assert refused.status_code == 422, refused.content
    assert refused.json()["code"] == "predose_bp_elevated"
    assert "160/100" in refused.json()["detail"]
    assert not Dose.objects.exists()


def test_a_rechecked_normal_bp_lets_the_dose_through(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=160, diastolic=100, heart_rate=80, spo2=98)
    ward.clock.move_to(at(9, 8))
    vitals(ward, record_id, systolic=132, diastolic=84, heart_rate=76, spo2=98)  # rested, rechecked
    vitals(ward, record_id, spo2=97)
    ward.clock.move_to(at(9, 10))
    assert dose(ward, record_id).status_code == 201


def test_no_first_dose_without_a_predose_blood_pressure(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, spo2=98, heart_rate=70)
    ward.clock.move_to(at(9, 10))
    refused = dose(ward, record_id)
    assert refused.status_code == 422
    assert refused.json()["code"] == "predose_bp_missing"
    # Not a judgement call a prescriber can override: take the blood pressure.
    overridden = dose(ward, record_id, client=ward.prescriber_client, override_reason="Cuff broken")
    assert overridden.status_code == 422
    assert overridden.json()["code"] == "predose_bp_missing"
    assert not Dose.objects.exists()


def test_a_reading_taken_after_the_dose_time_is_not_its_baseline(ward):
    record_id = _opened(ward)
    ward.clock.move_to(at(9, 6))
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    refused = dose(ward, record_id, administered_at=at(9, 2).isoformat())
    assert refused.status_code == 422
    assert refused.json()["code"] == "baseline_vitals_missing"


# --- the post-dose rise baseline ---------------------------------------------------------------------


def test_the_rise_baseline_is_the_last_predose_bp_not_the_last_predose_row(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=110, diastolic=70, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 5))
    vitals(ward, record_id, spo2=97)
    ward.clock.move_to(at(9, 10))
    assert dose(ward, record_id).status_code == 201
    ward.clock.move_to(at(9, 50))
    raised = vitals(ward, record_id, systolic=150, diastolic=80, heart_rate=80, spo2=97).json()
    [alert] = raised["alerts"]
    assert alert["severity"] == "warning"
    assert "40 mmHg above the pre-dose value of 110" in alert["message"]
    assert raised["vitals"][0]["findings"][0]["code"] == "systolic_rise"


def test_a_batch_takes_each_baseline_measurement_from_the_latest_reading_carrying_it(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=110, diastolic=70, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 10))
    dose(ward, record_id)
    ward.clock.move_to(at(9, 30))
    batch = [
        {"taken_at": at(9, 5).isoformat(), "spo2": 97, "heart_rate": 72},  # entered late, still pre-dose
        {"taken_at": at(9, 25).isoformat(), "systolic": 152, "diastolic": 80, "heart_rate": 75, "spo2": 97},
    ]
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/vitals/", batch, format="json")
    assert response.status_code == 201
    [alert] = response.json()["alerts"]
    assert "pre-dose value of 110" in alert["message"]


# --- discharge judges the latest reading carrying each measurement -----------------------------------


def _dosed(ward) -> int:
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 10))
    dose(ward, record_id)
    ward.clock.move_to(at(9, 15))
    dose(ward, record_id)
    return record_id


def test_a_last_spo2_only_reading_does_not_hide_a_raised_bp_at_discharge(ward):
    record_id = _dosed(ward)
    ward.clock.move_to(at(11, 10))
    raised = vitals(ward, record_id, systolic=165, diastolic=90, heart_rate=80, spo2=97)  # +45: a warning
    assert raised.json()["alerts"][0]["severity"] == "warning"
    ward.clock.move_to(at(11, 12))
    vitals(ward, record_id, spo2=98, heart_rate=76)
    ward.clock.move_to(at(11, 16))
    refused = _discharge(ward, record_id)
    assert refused.status_code == 422, refused.content
    assert refused.json()["code"] == "criteria_unmet"
    assert "the latest vital signs within limits" in refused.json()["detail"]
    override = _discharge(
        ward, record_id, client=ward.prescriber_client, override_reason="BP falling; reviewed at the chair."
    )
    assert override.status_code == 201
    assert override.json()["vitals_within_limits"] is False


def test_discharge_needs_a_recent_blood_pressure_not_just_any_reading(ward):
    record_id = _dosed(ward)
    ward.clock.move_to(at(11, 0))
    vitals(ward, record_id, systolic=124, diastolic=80, heart_rate=72, spo2=98)
    ward.clock.move_to(at(11, 14))
    vitals(ward, record_id, spo2=98, heart_rate=70)
    ward.clock.move_to(at(11, 20))  # the last blood pressure is 20 minutes old
    refused = _discharge(ward, record_id)
    assert refused.status_code == 422
    assert refused.json()["code"] == "criteria_unmet"
    assert "a reading of blood pressure in the last 15 minutes" in refused.json()["detail"]
    vitals(ward, record_id, systolic=122, diastolic=80)
    assert _discharge(ward, record_id).status_code == 201


def test_discharge_needs_each_measurement_the_contract_requires(ward):
    record_id = _dosed(ward)
    ward.clock.move_to(at(11, 15))
    vitals(ward, record_id, systolic=122, diastolic=80)
    refused = _discharge(ward, record_id)
    assert refused.json()["code"] == "criteria_unmet"
    assert "heart rate, SpO2" in refused.json()["detail"]


# --- the time of a dose -----------------------------------------------------------------------------


def test_a_dose_cannot_be_dated_before_the_record_was_opened(ward):
    record_id = _opened(ward)  # opened at 09:00
    vitals(ward, record_id, taken_at=at(8, 40).isoformat(), systolic=120, diastolic=80, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 5))
    backdated = dose(ward, record_id, administered_at=at(8, 50).isoformat())
    assert backdated.status_code == 400
    assert "administered_at" in backdated.json()["errors"]
    assert MonitoringRecord.objects.get(pk=record_id).first_dose_at is None


def test_backdating_cannot_bring_the_two_hour_rule_forward(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    ward.clock.move_to(at(11, 5))  # two hours after the record was opened
    backdated = dose(ward, record_id, administered_at=at(8, 59).isoformat())
    assert backdated.status_code == 400
    assert dose(ward, record_id).status_code == 201  # now: the clock starts at 11:05
    ward.clock.move_to(at(11, 15))
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    assert _discharge(ward, record_id).json()["code"] == "minimum_monitoring_not_met"
