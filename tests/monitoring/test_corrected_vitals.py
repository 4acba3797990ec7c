"""A corrected vital sign is judged as corrected: by the pre-dose gate, by a new alert when the
correction makes it worse, and by the discharge criteria; the stored row keeps what was entered."""

from __future__ import annotations

import pytest

from clinic.models import Alert
from monitoring.models import VitalSign
from tests.monitoring.conftest import at
from tests.monitoring.test_amendments import _amend
from tests.monitoring.test_session_flow import DISCHARGE, dose, open_record, scale, vitals


def _reading(ward, record_id, **values) -> int:
    response = vitals(ward, record_id, **values)
    assert response.status_code == 201, response.content
    return VitalSign.objects.filter(record_id=record_id).latest("id").pk


@pytest.fixture
def opened(ward):
    session = ward.session()
    ward.clock.move_to(at(9))
    record_id = open_record(ward, session)
    scale(ward, record_id, "moaas", 5)
    return record_id


def test_a_pre_dose_bp_corrected_above_the_gate_blocks_the_dose(ward, opened):
    reading = _reading(ward, opened, systolic=128, diastolic=84, heart_rate=70, spo2=98)
    assert _amend(ward, opened, "vital_sign", reading, "systolic", 168).status_code == 201
    assert _amend(ward, opened, "vital_sign", reading, "diastolic", 104).status_code == 201
    ward.clock.move_to(at(9, 10))
    refused = dose(ward, opened)
    assert refused.status_code == 422
    assert "predose_bp_elevated" in refused.content.decode()
    # The original row is untouched: only the amendment says 168/104.
    assert VitalSign.objects.values_list("systolic", "diastolic").get(pk=reading) == (128, 84)


def test_a_pre_dose_bp_corrected_below_the_gate_lets_the_dose_go(ward, opened):
    reading = _reading(ward, opened, systolic=158, diastolic=84, heart_rate=70, spo2=98)
    assert _amend(ward, opened, "vital_sign", reading, "systolic", 128).status_code == 201
    ward.clock.move_to(at(9, 10))
    assert dose(ward, opened).status_code == 201


def test_a_reading_corrected_into_danger_alerts_and_holds_the_discharge(ward, opened):
    _reading(ward, opened, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 10))
    assert dose(ward, opened).status_code == 201
    ward.clock.move_to(at(11, 15))
    late = _reading(ward, opened, systolic=122, diastolic=80, heart_rate=72, spo2=98)
    assert not Alert.objects.filter(source_type="vital_sign", source_id=late).exists()

    assert _amend(ward, opened, "vital_sign", late, "systolic", 190).status_code == 201
    alert = Alert.objects.get(source_type="vital_sign", source_id=late)
    assert alert.severity == Alert.Severity.CRITICAL
    ward.nurse_client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "Rechecked."}, format="json")
    refused = ward.nurse_client.post(f"/api/v1/monitoring/{opened}/discharge/", DISCHARGE, format="json")
    assert refused.status_code == 422, refused.content
    assert "within limits" in refused.content.decode()


def test_correcting_an_alerting_reading_to_another_dangerous_value_pages_once(ward, opened):
    _reading(ward, opened, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 10))
    assert dose(ward, opened).status_code == 201
    ward.clock.move_to(at(9, 50))
    high = _reading(ward, opened, systolic=192, diastolic=116, heart_rate=90, spo2=97)
    assert Alert.objects.filter(source_type="vital_sign", source_id=high).count() == 1
    assert _amend(ward, opened, "vital_sign", high, "systolic", 188).status_code == 201
    assert Alert.objects.filter(source_type="vital_sign", source_id=high).count() == 1


@pytest.mark.parametrize("field", ["weight_kg", "hours_since_food"])
def test_a_huge_number_is_a_400_naming_new_value(ward, opened, field):
    response = _amend(ward, opened, "monitoring_record", opened, field, "1e30")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["new_value"]


def test_a_second_correction_of_an_alerting_reading_does_not_page_again(ward, opened):
    _reading(ward, opened, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 10))
    assert dose(ward, opened).status_code == 201
    ward.clock.move_to(at(9, 50))
    reading = _reading(ward, opened, systolic=122, diastolic=80, heart_rate=72, spo2=97)
    assert _amend(ward, opened, "vital_sign", reading, "spo2", 84).status_code == 201
    assert Alert.objects.filter(source_type="vital_sign", source_id=reading).count() == 1
    assert _amend(ward, opened, "vital_sign", reading, "spo2", 83).status_code == 201
    assert Alert.objects.filter(source_type="vital_sign", source_id=reading).count() == 1
