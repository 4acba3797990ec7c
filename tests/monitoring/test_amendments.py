"""Corrections are checked by the type of the field they correct, dose times are never corrected, and
the REMS form never fails, nor misreads a value, because of a correction."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from monitoring.models import AdverseEvent, Amendment, Dose, MonitoringRecord, ScaleScore, VitalSign
from tests.monitoring.conftest import at
from tests.monitoring.test_record_extras import _finished_esketamine
from tests.monitoring.test_session_flow import dose, open_record, scale, vitals


def _amend(ward, record_id, target_type, target_id, field, new_value, client=None):
    return (client or ward.nurse_client).post(
        f"/api/v1/monitoring/{record_id}/amendments/",
        {
            "target_type": target_type,
            "target_id": target_id,
            "field": field,
            "new_value": new_value,
            "reason": "Transcription error.",
        },
        format="json",
    )


@pytest.fixture
def session_record(ward):
    """A dosed esketamine record with one of everything that can be corrected."""
    session = ward.session()
    ward.clock.move_to(at(9))
    record_id = open_record(ward, session)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    scale(ward, record_id, "moaas", 5)
    ward.clock.move_to(at(9, 10))
    assert dose(ward, record_id).status_code == 201
    ward.clock.move_to(at(9, 20))
    event = ward.nurse_client.post(
        f"/api/v1/monitoring/{record_id}/adverse-events/",
        {
            "type": "nausea",
            "severity": "mild",
            "serious": False,
            "onset_at": at(9, 18).isoformat(),
            "outcome": "resolved",
        },
        format="json",
    )
    assert event.status_code == 201
    return record_id


def _target(target_type: str, record_id: int) -> int:
    model = {
        "vital_sign": VitalSign,
        "dose": Dose,
        "scale_score": ScaleScore,
        "adverse_event": AdverseEvent,
    }.get(target_type)
    return record_id if model is None else model.objects.filter(record_id=record_id).first().pk


@pytest.mark.parametrize(
    ("target_type", "field", "new_value"),
    [
        ("vital_sign", "taken_at", "2027-03-02T09:00:00"),  # naive: which zone?
        ("vital_sign", "taken_at", "ten past nine"),
        ("vital_sign", "taken_at", 1_800_000_000),
        ("vital_sign", "taken_at", "2027-03-02T12:00:00-05:00"),  # in the future
        ("vital_sign", "systolic", "120"),  # a string, not a number
        ("vital_sign", "systolic", True),
        ("vital_sign", "systolic", 120.5),
        ("vital_sign", "spo2", 101),
        ("vital_sign", "temperature_c", "hot"),
        ("vital_sign", "systolic", None),  # half a blood pressure
        ("scale_score", "value", 7),  # MOAA/S runs 0-5
        ("scale_score", "value", "5"),
        ("adverse_event", "serious", "false"),  # the string is truthy: refused
        ("adverse_event", "serious", 0),
        ("adverse_event", "severity", "catastrophic"),
        ("adverse_event", "outcome", None),
        ("adverse_event", "onset_at", "2027-03-02T23:00:00-05:00"),
        ("adverse_event", "description", ["not", "text"]),
        ("monitoring_record", "benzodiazepines", "false"),
        ("monitoring_record", "first_rems_treatment", "no"),
        ("monitoring_record", "pregnancy_test", "maybe"),
        ("monitoring_record", "weight_kg", "heavy"),
        ("monitoring_record", "weight_kg", 5),
        ("monitoring_record", "hours_since_food", "3.25"),
        ("dose", "lot_number", ""),
        ("dose", "lot_number", 12345),
        ("dose", "dose_mg", 56),  # one esketamine device is 28 mg
    ],
)
def test_a_new_value_of_the_wrong_type_is_refused_naming_new_value(ward, session_record, target_type, field, new_value):
    response = _amend(ward, session_record, target_type, _target(target_type, session_record), field, new_value)
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["new_value"]
    assert not Amendment.objects.exists()


@pytest.mark.parametrize(
    ("target_type", "field", "new_value", "stored"),
    [
        ("vital_sign", "taken_at", "2027-03-02T08:58:00-05:00", "2027-03-02T08:58:00-05:00"),
        ("vital_sign", "systolic", 118, 118),
        ("vital_sign", "temperature_c", "36.8", "36.8"),
        ("scale_score", "value", 4, 4),
        ("adverse_event", "serious", True, True),
        ("adverse_event", "severity", "moderate", "moderate"),
        ("monitoring_record", "benzodiazepines", True, True),
        ("monitoring_record", "weight_kg", 82, "82.0"),
        ("dose", "lot_number", " LOT-9 ", "LOT-9"),
    ],
)
def test_a_well_typed_correction_is_stored_normalised(ward, session_record, target_type, field, new_value, stored):
    response = _amend(ward, session_record, target_type, _target(target_type, session_record), field, new_value)
    assert response.status_code == 201, response.content
    assert response.json()["new_value"] == stored


@pytest.mark.parametrize("field", ["administered_at", "infusion_ended_at"])
def test_dose_times_are_never_corrected(ward, session_record, field):
    """They start the clock of the 2-hour rule: moving them could end monitoring early."""
    record = MonitoringRecord.objects.get(pk=session_record)
    first_dose_at = record.first_dose_at
    response = _amend(ward, session_record, "dose", _target("dose", session_record), field, at(8, 0).isoformat())
    assert response.status_code == 400
    assert "field" in response.json()["errors"]
    assert "minimum monitoring" in response.json()["errors"]["field"][0]
    assert not Amendment.objects.exists()
    record.refresh_from_db()
    assert record.first_dose_at == first_dose_at
    detail = ward.nurse_client.get(f"/api/v1/monitoring/{session_record}/").json()
    assert dt.datetime.fromisoformat(detail["earliest_discharge"]) == at(11, 10)  # first device + 2 hours


def test_the_rems_form_reads_corrections_as_their_types(ward):
    record_id = _finished_esketamine(ward)
    record = MonitoringRecord.objects.get(pk=record_id)
    assert _amend(ward, record_id, "monitoring_record", record_id, "first_rems_treatment", False).status_code == 201
    assert _amend(ward, record_id, "monitoring_record", record_id, "maois", True).status_code == 201
    at_40 = VitalSign.objects.get(record=record, taken_at=at(9, 50))
    moved = _amend(ward, record_id, "vital_sign", at_40.pk, "taken_at", "2027-03-02T09:48:00-05:00")
    assert moved.status_code == 201
    fields = ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/rems-form/").json()["fields"]
    assert fields["first_treatment"] == "N"
    assert fields["concomitant_maois"] == "Y"
    assert fields["bp_at_40_minutes"] == "138/86"


def test_a_legacy_bad_correction_never_breaks_the_rems_form(ward):
    """Corrections stored before values were checked: the form falls back to the original value."""
    record_id = _finished_esketamine(ward)
    record = MonitoringRecord.objects.get(pk=record_id)
    reading = VitalSign.objects.filter(record=record).first()
    device = Dose.objects.filter(record=record).first()
    for target_type, target_id, field, new_value in [
        ("monitoring_record", record_id, "benzodiazepines", "false"),
        ("monitoring_record", record_id, "first_rems_treatment", "no"),
        ("vital_sign", reading.pk, "taken_at", "2027-03-02T09:00:00"),  # naive
        ("vital_sign", reading.pk, "systolic", "abc"),
        ("dose", device.pk, "lot_number", 12345),
    ]:
        Amendment.objects.create(
            record=record,
            target_type=target_type,
            target_id=target_id,
            field=field,
            old_value=None,
            new_value=new_value,
            reason="legacy",
            amended_by=ward.nurse.user,
        )
    response = ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/rems-form/")
    assert response.status_code == 200, response.content
    fields = response.json()["fields"]
    assert fields["concomitant_benzodiazepines"] == "N"  # not bool("false")
    assert fields["first_treatment"] == "Y"
    assert fields["bp_before_dosing"] == "120/80"
    assert fields["lot_numbers"] == "LOT-7"
    as_csv = ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/rems-form/?format=csv")
    assert as_csv.status_code == 200
    assert dict(csv.reader(io.StringIO(as_csv.content.decode())))["concomitant_benzodiazepines"] == "N"
