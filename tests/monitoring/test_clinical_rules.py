"""Sedation before the dose, dissociation without a baseline, and what the REMS form says about
respiratory depression and the vitals before dosing."""

from __future__ import annotations

from clinic.models import Alert
from tests.monitoring.conftest import at
from tests.monitoring.test_session_flow import DISCHARGE, dose, open_record, scale, vitals


def _opened(ward) -> int:
    session = ward.session()
    ward.clock.move_to(at(9))
    return open_record(ward, session)


# --- scales ---------------------------------------------------------------------------------------


def test_a_predose_moaas_of_2_raises_the_critical_sedation_alert(ward):
    record_id = _opened(ward)
    response = scale(ward, record_id, "moaas", 2)
    assert response.status_code == 201
    [alert] = response.json()["alerts"]
    assert (alert["kind"], alert["severity"]) == ("sedation", "critical")
    assert response.json()["score"]["pre_dose"] is True


def test_a_predose_moaas_of_0_is_loss_of_consciousness(ward):
    record_id = _opened(ward)
    [alert] = scale(ward, record_id, "moaas", 0).json()["alerts"]
    assert alert["severity"] == "critical"
    assert "loss of consciousness" in alert["message"]


def test_a_predose_moaas_of_3_or_more_alerts_nothing(ward):
    record_id = _opened(ward)
    assert scale(ward, record_id, "moaas", 3).json()["alerts"] == []  # no baseline to drop from yet


def test_cadss_without_a_predose_total_asks_a_clinician(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 10))
    dose(ward, record_id)
    ward.clock.move_to(at(9, 50))
    response = scale(ward, record_id, "cadss", 12)
    [alert] = response.json()["alerts"]
    assert (alert["kind"], alert["severity"]) == ("dissociation", "warning")
    assert "no pre-dose total" in alert["message"]
    assert response.json()["score"]["findings"][0]["code"] == "dissociation_review"
    assert scale(ward, record_id, "cadss", 4).json()["alerts"] == []  # not above 4: nothing to judge


def test_a_predose_cadss_is_the_baseline_not_an_alert(ward):
    record_id = _opened(ward)
    assert scale(ward, record_id, "cadss", 12).json()["alerts"] == []


# --- the REMS form ----------------------------------------------------------------------------------


def _acknowledge_all(ward):
    for alert in Alert.objects.filter(acknowledged_at__isnull=True, severity="critical"):
        response = ward.prescriber_client.post(
            f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "Seen at the chair; managed."}, format="json"
        )
        assert response.status_code == 200, response.content


def _finish(ward, record_id, *, post_dose_readings=()):
    """Two devices at 09:10 and 09:15, the 40-minute reading, any extra readings, discharge at 11:12."""
    ward.clock.move_to(at(9, 10))
    assert dose(ward, record_id).status_code == 201
    ward.clock.move_to(at(9, 15))
    assert dose(ward, record_id).status_code == 201
    ward.clock.move_to(at(9, 50))
    vitals(ward, record_id, systolic=134, diastolic=84, heart_rate=80, spo2=97)
    for minute, values in post_dose_readings:
        ward.clock.move_to(at(10, minute))
        assert vitals(ward, record_id, **values).status_code == 201
    _acknowledge_all(ward)
    ward.clock.move_to(at(11, 12))
    vitals(ward, record_id, systolic=126, diastolic=80, heart_rate=72, spo2=98, respiratory_rate=14)
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/discharge/", DISCHARGE, format="json")
    assert response.status_code == 201, response.content
    return ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/rems-form/").json()["fields"]


def test_a_critical_spo2_after_the_dose_is_respiratory_depression_on_the_form(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    fields = _finish(ward, record_id, post_dose_readings=[(5, {"spo2": 86, "heart_rate": 88})])
    assert fields["respiratory_depression"] == "Y"
    assert "SpO2 86%" in fields["respiratory_depression_detail"]
    assert "10:05" in fields["respiratory_depression_detail"]


def test_a_critical_respiratory_rate_after_the_dose_is_respiratory_depression_on_the_form(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98, respiratory_rate=14)
    fields = _finish(ward, record_id, post_dose_readings=[(5, {"respiratory_rate": 7, "spo2": 95})])
    assert fields["respiratory_depression"] == "Y"
    assert "Respiratory rate 7" in fields["respiratory_depression_detail"]


def test_a_warning_spo2_alone_is_not_respiratory_depression(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    fields = _finish(ward, record_id, post_dose_readings=[(5, {"spo2": 92})])
    assert fields["respiratory_depression"] == "N"


def test_a_low_predose_spo2_makes_the_vitals_unacceptable_before_dosing(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=86)
    fields = _finish(ward, record_id)
    assert fields["vitals_acceptable_before_dosing"] == "N"
    assert fields["respiratory_depression"] == "N"  # before the drug: not its respiratory depression
    assert fields["bp_before_dosing"] == "120/80"


def test_a_rechecked_predose_spo2_makes_the_vitals_acceptable_again(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=86)
    ward.clock.move_to(at(9, 5))
    vitals(ward, record_id, spo2=97)  # probe repositioned
    fields = _finish(ward, record_id)
    assert fields["vitals_acceptable_before_dosing"] == "Y"


def test_a_predose_sedation_alert_is_not_the_drugs_sedation_on_the_form(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    scale(ward, record_id, "moaas", 2)
    _acknowledge_all(ward)
    fields = _finish(ward, record_id)
    assert fields["sedation"] == "N"
