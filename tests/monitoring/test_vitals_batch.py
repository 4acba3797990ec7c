"""The vitals upload's fast paths: input parsing, the one-statement insert, the hand-built answer,
the record found and locked with its threshold layers in one statement.

Each fast path is held to what it replaced: the serializer's validated data and errors, the declared
output fields, the stored rows, the policy layers ``policy_for`` resolves.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from rest_framework.exceptions import ValidationError
from rest_framework.utils.encoders import JSONEncoder

from clinic.models import Alert
from monitoring.api.serializers import VitalSignSerializer, VitalsInputSerializer, vitals_input
from monitoring.models import MonitoringPolicy, VitalSign
from monitoring.services.policy import policy_for
from tests.factories.clinic import PatientFactory
from tests.monitoring.conftest import at
from tests.monitoring.test_session_flow import DISCHARGE, _dosed, _opened, dose, open_record, vitals
from tests.scheduling.helpers import approve

ROW = {"taken_at": "2027-03-02T09:20:00-05:00", "systolic": 120, "diastolic": 80, "heart_rate": 72, "spo2": 98}


def _reference(data):
    """What ``VitalsInputSerializer`` alone makes of ``data``: (readings, None) or (None, errors)."""
    many = isinstance(data, list)
    serializer = VitalsInputSerializer(data=data, many=many)
    if not serializer.is_valid():
        return None, serializer.errors
    validated = serializer.validated_data if many else [serializer.validated_data]
    return [dict(v) for v in validated], None


WELL_FORMED = [
    ROW,
    [ROW, {**ROW, "taken_at": "2027-03-02T14:21:00Z", "respiratory_rate": None, "spo2": None}],
    [{"systolic": 120, "diastolic": 80}, {"spo2": 97, "heart_rate": 64}],
    # Values the serializer coerces: they take the field's own parsing, with the same result.
    [{**ROW, "systolic": "121", "temperature_c": 36.6}, {**ROW, "temperature_c": 37, "heart_rate": 71.0}],
    {**ROW, "temperature_c": "36.5"},
    [],
]

MALFORMED = [
    [ROW, {**ROW, "systolic": "high"}],
    [ROW, ROW, {**ROW, "heart_rate": True}],
    [ROW, {**ROW, "sytolic": 120}],
    [ROW, {**ROW, "taken_at": "2027-03-02T09:20:00"}],  # no UTC offset
    [ROW, {**ROW, "taken_at": None}],
    [ROW, {**ROW, "temperature_c": "warm"}],
    [ROW, {**ROW, "temperature_c": 36.66}],
    [ROW, "120/80"],
    [ROW, None],
    {**ROW, "spo2": 97.5},
    "120/80",
]


@pytest.mark.parametrize("data", WELL_FORMED)
def test_the_fast_input_path_gives_what_the_serializer_gives(data):
    readings, many = vitals_input(data)
    expected, errors = _reference(data)
    assert errors is None
    assert readings == expected
    assert many == isinstance(data, list)
    for reading, reference in zip(readings, expected, strict=True):
        assert {k: type(v) for k, v in reading.items()} == {k: type(v) for k, v in reference.items()}


@pytest.mark.parametrize("data", MALFORMED)
def test_a_malformed_reading_gets_the_serializers_own_errors(data):
    _, expected = _reference(data)
    assert expected
    with pytest.raises(ValidationError) as raised:
        vitals_input(data)
    assert raised.value.detail == expected


def test_every_wrong_value_in_a_batch_is_named_with_its_index(ward):
    record_id = _opened(ward)
    batch = [{**ROW, "taken_at": at(8, 40 + i).isoformat()} for i in range(20)]
    batch[3] = {**batch[3], "heart_rate": True}
    batch[7] = {**batch[7], "systolic": "high"}
    batch[12] = {**batch[12], "spo2": 97.5}
    batch[19] = {**batch[19], "sytolic": 120}
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/vitals/", batch, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert sorted(response.json()["errors"]) == ["12.spo2", "19.sytolic", "3.heart_rate", "7.systolic"]
    assert not VitalSign.objects.exists()


def test_another_clinics_record_answers_404_before_any_word_on_the_input(ward, other_ward):
    record_id = _opened(other_ward)
    stored = VitalSign.objects.count()
    for body in ([ROW, ROW], [ROW, {**ROW, "systolic": "high"}], {"sytolic": 1}):
        response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/vitals/", body, format="json")
        assert response.status_code == 404, (body, response.content)
    not_json = ward.nurse_client.post(
        f"/api/v1/monitoring/{record_id}/vitals/", "{not json", content_type="application/json"
    )
    assert not_json.status_code == 404, not_json.content
    assert VitalSign.objects.count() == stored


def test_the_batch_is_stored_as_sent_and_answered_as_the_declared_fields_say(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 10))
    dose(ward, record_id)
    ward.clock.move_to(at(9, 40))
    batch = [
        {"taken_at": at(9, 30).isoformat(), "systolic": 190, "diastolic": 115, "heart_rate": 90, "spo2": 97},
        {"taken_at": at(9, 5).isoformat(), "systolic": 124, "diastolic": 82, "temperature_c": "36.6"},  # pre-dose
        {"taken_at": at(9, 20).isoformat(), "spo2": 93, "heart_rate": 75, "respiratory_rate": None},
        {"taken_at": at(9, 20).isoformat(), "systolic": 165, "diastolic": 84, "temperature_c": 37},
    ]
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/vitals/", batch, format="json")
    assert response.status_code == 201, response.content
    answered = response.json()["vitals"]
    # In time order, each answer is the stored row, formatted as the declared fields format it.
    assert [v["taken_at"] for v in answered] == sorted(v["taken_at"] for v in answered)
    rows = {row.pk: row for row in VitalSign.objects.filter(pk__in=[v["id"] for v in answered])}
    assert len(rows) == 4
    serializer = VitalSignSerializer()
    for item in answered:
        row = rows[item["id"]]
        fast, reference = serializer.to_representation(row), serializer.field_driven_representation(row)
        assert fast == reference
        assert list(fast) == list(reference)  # same keys in the same order
        assert item == json.loads(json.dumps(reference, cls=JSONEncoder))
    by_time = sorted(rows.values(), key=lambda r: (r.taken_at, r.pk))
    assert [(r.systolic, r.temperature_c, r.pre_dose, r.source) for r in by_time] == [
        (124, Decimal("36.6"), True, "monitor"),
        (None, None, False, "monitor"),
        (165, Decimal("37.0"), False, "monitor"),
        (190, None, False, "monitor"),
    ]
    assert [f["code"] for f in by_time[1].findings] == ["spo2_low"]
    assert [f["code"] for f in by_time[2].findings] == ["systolic_rise"]  # 124 was the baseline
    assert [f["code"] for f in by_time[3].findings] == ["systolic_critical", "diastolic_critical"]
    assert all(r.recorded_by_id == ward.nurse.user.pk for r in by_time)
    # Each alert points at its own reading.
    alerted = Alert.objects.filter(source_type="vital_sign").values_list("source_id", flat=True)
    assert sorted(alerted) == sorted(str(r.pk) for r in by_time[1:])


def test_alerts_use_the_clinic_and_treatment_type_layers(ward, other_ward):
    MonitoringPolicy.objects.create(clinic=ward.clinic, thresholds={"spo2_warning_below": 97})
    MonitoringPolicy.objects.create(
        clinic=ward.clinic, treatment_type=ward.esketamine, thresholds={"spo2_critical_below": 96}
    )
    # Neither another clinic's layer nor a row filed under another clinic for this type applies.
    MonitoringPolicy.objects.create(clinic=other_ward.clinic, thresholds={"spo2_critical_below": 99})
    MonitoringPolicy.objects.create(
        clinic=other_ward.clinic, treatment_type=ward.iv, thresholds={"spo2_critical_below": 99}
    )
    iv_session = ward.session(treatment_type=ward.iv, patient=approve(PatientFactory(clinic=ward.clinic)))
    record_id = _opened(ward)
    ward.clock.move_to(at(9, 1))
    readings = [
        {"taken_at": at(9, 0).isoformat(), "spo2": 96},  # warning: below the clinic's 97
        {"taken_at": at(9, 1).isoformat(), "spo2": 95},  # critical: below the type's 96
    ]
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/vitals/", readings, format="json")
    assert response.status_code == 201, response.content
    assert [f["code"] for v in response.json()["vitals"] for f in v["findings"]] == ["spo2_low", "spo2_low"]
    assert [f["severity"] for v in response.json()["vitals"] for f in v["findings"]] == ["warning", "critical"]
    gate = policy_for(ward.esketamine).thresholds
    assert (gate.spo2_warning_below, gate.spo2_critical_below) == (97, 96)

    iv_record = open_record(ward, iv_session, prescriber_on_site=None, rems_enrollment_confirmed=False)
    response = ward.nurse_client.post(
        f"/api/v1/monitoring/{iv_record}/vitals/", [{"spo2": 95}, {"spo2": 98}], format="json"
    )
    assert response.status_code == 201, response.content
    # The IV type has no layer of this clinic: the clinic's 97 warns, the other clinic's 99 does not apply.
    assert [[f["severity"] for f in v["findings"]] for v in response.json()["vitals"]] == [["warning"], []]


def test_a_discharged_record_refuses_a_batch(ward):
    record_id = _dosed(ward)
    ward.clock.move_to(at(11, 15))
    vitals(ward, record_id, systolic=122, diastolic=80, heart_rate=72, spo2=98)
    discharged = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/discharge/", DISCHARGE, format="json")
    assert discharged.status_code == 201, discharged.content
    stored = VitalSign.objects.count()
    late = [{**ROW, "taken_at": (at(11, 14) + dt.timedelta(seconds=i)).isoformat()} for i in range(3)]
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/vitals/", late, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "record_closed"
    assert VitalSign.objects.count() == stored
