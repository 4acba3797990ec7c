"""A first dose charted late, dated back to when the device was used: the readings and scores entered
in between are post-dose after all. They are judged and alert as post-dose, and the REMS form does not
take them for the "before dosing" values. Also: a post-dose MOAA/S below 5 with no pre-dose score asks
a clinician, and the chair board shows the next check that can still be taken."""

from __future__ import annotations

import datetime as dt

from clinic.models import Alert
from monitoring.models import ScaleScore, VitalSign
from tests.monitoring.conftest import at
from tests.monitoring.test_clinical_rules import _acknowledge_all, _opened
from tests.monitoring.test_session_flow import DISCHARGE, dose, scale, vitals


def _rems(ward, record_id) -> dict:
    return ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/rems-form/").json()["fields"]


def test_readings_entered_before_a_late_charted_dose_become_post_dose(ward):
    record_id = _opened(ward)
    ward.clock.move_to(at(9, 5))
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    # 09:50: the nurse charts the 40-minute reading and a CADSS before charting the devices.
    ward.clock.move_to(at(9, 50))
    assert vitals(ward, record_id, systolic=150, diastolic=95, heart_rate=84, spo2=97).status_code == 201
    assert scale(ward, record_id, "cadss", 20).status_code == 201
    late_bp = VitalSign.objects.get(record_id=record_id, systolic=150)
    cadss = ScaleScore.objects.get(record_id=record_id, scale="cadss")
    assert late_bp.pre_dose and cadss.pre_dose and not Alert.objects.filter(kind="dissociation").exists()

    for minute in (10, 15):  # the devices, dated when they were used
        assert dose(ward, record_id, administered_at=at(9, minute).isoformat()).status_code == 201

    late_bp.refresh_from_db()
    cadss.refresh_from_db()
    assert not late_bp.pre_dose and not cadss.pre_dose
    assert (late_bp.systolic, late_bp.diastolic) == (150, 95)  # what was measured never changes
    assert [f["code"] for f in cadss.findings] == ["dissociation_review"]
    assert Alert.objects.filter(kind="dissociation", source_type="scale_score", source_id=cadss.pk).exists()
    # A second CADSS of 20 is compared with no pre-dose total, not with the first one.
    assert scale(ward, record_id, "cadss", 20).json()["score"]["findings"][0]["code"] == "dissociation_review"

    _acknowledge_all(ward)
    ward.clock.move_to(at(11, 20))
    vitals(ward, record_id, systolic=124, diastolic=80, heart_rate=72, spo2=98)
    discharged = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/discharge/", DISCHARGE, format="json")
    assert discharged.status_code == 201, discharged.content
    fields = _rems(ward, record_id)
    assert fields["bp_before_dosing"] == "120/80"
    assert fields["bp_at_40_minutes"] == "150/95"
    assert fields["dissociation"] == "Y"


def test_a_moaas_below_5_after_the_dose_without_a_predose_score_asks_a_clinician(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 10))
    assert dose(ward, record_id).status_code == 201
    ward.clock.move_to(at(9, 30))
    body = scale(ward, record_id, "moaas", 3).json()
    assert [f["code"] for f in body["score"]["findings"]] == ["sedation_review"]
    alert = Alert.objects.get(kind="sedation")
    assert alert.severity == "warning"
    assert scale(ward, record_id, "moaas", 5).json()["score"]["findings"] == []


def test_with_a_predose_moaas_a_drop_is_sedation_not_a_review(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    scale(ward, record_id, "moaas", 4)
    ward.clock.move_to(at(9, 10))
    assert dose(ward, record_id).status_code == 201
    ward.clock.move_to(at(9, 30))
    assert scale(ward, record_id, "moaas", 4).json()["score"]["findings"] == []
    assert [f["code"] for f in scale(ward, record_id, "moaas", 3).json()["score"]["findings"]] == ["sedation"]


def test_the_board_shows_the_next_check_that_can_still_be_taken(ward):
    session = ward.session(treatment_type=ward.iv)
    ward.clock.move_to(at(9))
    record_id = ward.nurse_client.post(
        f"/api/v1/sessions/{session.pk}/monitoring/",
        {**_iv_checks(ward)},
        format="json",
    ).json()["id"]
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    assert dose(ward, record_id, dose_mg="40.00").status_code == 201  # infusion from 09:00
    for minute in (20, 30):  # the 09:10 check was missed
        ward.clock.move_to(at(9, minute))
        vitals(ward, record_id, systolic=124, diastolic=82, heart_rate=72, spo2=98)
    ward.clock.move_to(at(9, 35))
    [row] = ward.nurse_client.get("/api/v1/monitoring/board/").json()
    due = dt.datetime.fromisoformat(row["next_check_due"])
    assert due == at(9, 40), row["next_check"]


def _iv_checks(ward) -> dict:
    from tests.monitoring.conftest import open_checks

    return open_checks(ward, prescriber_on_site=None, rems_enrollment_confirmed=False)


def test_a_reading_that_already_alerted_does_not_page_again_when_the_dose_is_charted(ward):
    record_id = _opened(ward)
    ward.clock.move_to(at(9, 5))
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 50))
    vitals(ward, record_id, systolic=122, diastolic=80, heart_rate=70, spo2=84)  # critical as entered
    scale(ward, record_id, "moaas", 1)  # critical as entered
    assert Alert.objects.count() == 2
    for minute in (10, 15):
        assert dose(ward, record_id, administered_at=at(9, minute).isoformat()).status_code == 201
    assert Alert.objects.count() == 2
    assert not VitalSign.objects.get(record_id=record_id, spo2=84).pre_dose
