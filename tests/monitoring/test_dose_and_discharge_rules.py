"""One focused test per dose and discharge rule: devices, REMS, overrides, IV amounts, who gave the
dose, running infusions, discharge criteria, open critical alerts, the REMS queue (filter, query cost), and
adverse events reported after the patient left."""

from __future__ import annotations

import pytest

from clinic.access import Role
from clinic.models import Alert
from monitoring.models import AdverseEvent, Discharge, Dose
from tests.factories.clinic import StaffMemberFactory
from tests.monitoring.conftest import at
from tests.monitoring.test_session_flow import DISCHARGE, dose, open_record, vitals

NORMAL = {"systolic": 120, "diastolic": 80, "heart_rate": 72, "spo2": 98}
IV_OPEN = {"prescriber_on_site": None, "rems_enrollment_confirmed": False}


def _opened(ward, treatment_type=None, **changes) -> int:
    session = ward.session(treatment_type=treatment_type)
    ward.clock.move_to(at(9))
    record_id = open_record(ward, session, **changes)
    assert vitals(ward, record_id, **NORMAL).status_code == 201
    return record_id


def _dosed(ward) -> int:
    """Esketamine 56 mg: devices at 09:10 and 09:15."""
    record_id = _opened(ward)
    for minute in (10, 15):
        ward.clock.move_to(at(9, minute))
        assert dose(ward, record_id).status_code == 201
    return record_id


def _infusing(ward) -> tuple[int, int]:
    record_id = _opened(ward, ward.iv, **IV_OPEN)
    ward.clock.move_to(at(9, 5))
    started = dose(ward, record_id, dose_mg="40.00")
    assert started.status_code == 201, started.content
    return record_id, started.json()["id"]


def _discharge(ward, record_id, client=None, **changes):
    client = client or ward.nurse_client
    return client.post(f"/api/v1/monitoring/{record_id}/discharge/", {**DISCHARGE, **changes}, format="json")


# --- dosing ---------------------------------------------------------------------------------------


def test_esketamine_is_given_in_28_mg_devices_only(ward):
    record_id = _opened(ward)
    ward.clock.move_to(at(9, 10))
    whole = dose(ward, record_id, dose_mg="56.00")  # a total is not a device
    assert whole.status_code == 400
    assert "28 mg" in whole.json()["errors"]["dose_mg"][0]
    assert not Dose.objects.exists()
    assert dose(ward, record_id, dose_mg="28.00").status_code == 201
    ward.clock.move_to(at(9, 15))
    assert dose(ward, record_id).status_code == 201
    assert [str(d) for d in Dose.objects.values_list("dose_mg", flat=True)] == ["28.00", "28.00"]
    form = ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/rems-form/").json()
    assert form["fields"]["dose"] == "56 mg"


def test_rems_requirements_unmet_is_not_overridable(ward):
    record_id = _opened(ward, rems_enrollment_confirmed=False)
    ward.clock.move_to(at(9, 10))
    for client, reason in ((ward.nurse_client, None), (ward.prescriber_client, "Enrollment faxed this morning.")):
        body = {"override_reason": reason} if reason else {}
        refused = dose(ward, record_id, client=client, **body)
        assert refused.status_code == 422
        assert refused.json()["code"] == "rems_requirements_unmet"
    assert not Dose.objects.exists()


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_prescribers_dose_override_without_a_reason_names_the_field(ward, reason):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=152, diastolic=96, heart_rate=80, spo2=98)
    ward.clock.move_to(at(9, 10))
    body = {} if reason is None else {"override_reason": reason}
    refused = dose(ward, record_id, client=ward.prescriber_client, **body)
    assert refused.status_code == 422
    assert refused.json()["code"] == "predose_bp_elevated"
    assert "reason" in refused.json()["errors"]["override_reason"][0]
    assert not Dose.objects.exists()


def test_a_nurses_override_reason_is_refused_naming_the_field(ward):
    record_id = _opened(ward)
    vitals(ward, record_id, systolic=152, diastolic=96, heart_rate=80, spo2=98)
    ward.clock.move_to(at(9, 10))
    plain = dose(ward, record_id)
    assert plain.status_code == 422 and "errors" not in plain.json()  # no override was attempted
    attempted = dose(ward, record_id, override_reason="Patient anxious")
    assert attempted.status_code == 422
    assert "prescriber" in attempted.json()["errors"]["override_reason"][0]


@pytest.mark.parametrize("reason", [None, "  "])
def test_a_prescribers_discharge_override_without_a_reason_names_the_field(ward, reason):
    record_id = _dosed(ward)
    ward.clock.move_to(at(10, 40))  # before 11:10
    vitals(ward, record_id, **NORMAL)
    body = {} if reason is None else {"override_reason": reason}
    refused = _discharge(ward, record_id, client=ward.prescriber_client, **body)
    assert refused.status_code == 422
    assert refused.json()["code"] == "minimum_monitoring_not_met"
    assert "reason" in refused.json()["errors"]["override_reason"][0]
    assert not Discharge.objects.exists()


def test_an_iv_dose_above_1_mg_per_kg_is_refused_even_with_an_override(ward):
    record_id = _opened(ward, ward.iv, **IV_OPEN)  # 80 kg
    ward.clock.move_to(at(9, 5))
    for client, body in (
        (ward.nurse_client, {}),
        (ward.prescriber_client, {"override_reason": "Loading dose"}),
    ):
        refused = dose(ward, record_id, client=client, dose_mg="88.00", **body)  # 1.1 mg/kg
        assert refused.status_code == 400
        assert "1.0 mg/kg" in refused.json()["errors"]["dose_mg"][0]
    assert not Dose.objects.exists()
    at_limit = dose(ward, record_id, dose_mg="80.00")  # exactly 1.0 mg/kg
    assert at_limit.status_code == 201, at_limit.content
    assert at_limit.json()["dose_mg_per_kg"] == 1.0


def test_the_mg_per_kg_check_uses_the_corrected_weight(ward):
    record_id = _opened(ward, ward.iv, **IV_OPEN)  # entered as 80 kg
    corrected = ward.nurse_client.post(
        f"/api/v1/monitoring/{record_id}/amendments/",
        {
            "target_type": "monitoring_record",
            "target_id": record_id,
            "field": "weight_kg",
            "new_value": "50.0",
            "reason": "Weighed again: 50 kg.",
        },
        format="json",
    )
    assert corrected.status_code == 201, corrected.content
    ward.clock.move_to(at(9, 5))
    refused = dose(ward, record_id, dose_mg="60.00")  # 0.75 mg/kg of 80 kg, but 1.2 of 50
    assert refused.status_code == 400
    assert "1.200 mg/kg" in refused.json()["errors"]["dose_mg"][0]
    given = dose(ward, record_id, dose_mg="25.00")
    assert given.status_code == 201, given.content
    assert given.json()["dose_mg_per_kg"] == 0.5


@pytest.mark.parametrize("who", ["other_clinics_nurse", "front_desk", "inactive_nurse"])
def test_administered_by_must_be_an_active_clinician_of_this_clinic(ward, other_ward, who):
    member = {
        "other_clinics_nurse": lambda: other_ward.nurse,
        "front_desk": lambda: StaffMemberFactory(clinic=ward.clinic, roles=[Role.FRONT_DESK]),
        "inactive_nurse": lambda: StaffMemberFactory(clinic=ward.clinic, roles=[Role.NURSE], active=False),
    }[who]()
    record_id = _opened(ward)
    ward.clock.move_to(at(9, 10))
    refused = dose(ward, record_id, administered_by=member.pk)
    assert refused.status_code == 400
    assert list(refused.json()["errors"]) == ["administered_by"]
    assert not Dose.objects.exists()
    given = dose(ward, record_id, administered_by=ward.prescriber.pk)
    assert given.status_code == 201
    assert given.json()["administered_by"] == ward.prescriber.user.username


# --- discharge ------------------------------------------------------------------------------------


def test_iv_discharge_is_refused_while_the_infusion_has_no_end(ward):
    record_id, dose_id = _infusing(ward)
    ward.clock.move_to(at(11))  # long past any observation period, but no end recorded
    vitals(ward, record_id, **NORMAL)
    for client, body in (
        (ward.nurse_client, {}),
        (ward.prescriber_client, {"override_reason": "Transfer to the ED."}),
    ):
        refused = _discharge(ward, record_id, client=client, **body)
        assert refused.status_code == 422
        assert refused.json()["code"] == "minimum_monitoring_not_met"
        assert "no recorded end" in refused.json()["detail"]
    assert not Discharge.objects.exists()
    ended = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/doses/{dose_id}/infusion-end/", {}, format="json")
    assert ended.status_code == 200
    # Now the observation period after the end is the (overridable) refusal.
    assert _discharge(ward, record_id).json()["code"] == "minimum_monitoring_not_met"
    done = _discharge(ward, record_id, client=ward.prescriber_client, override_reason="Transfer to the ED.")
    assert done.status_code == 201, done.content
    assert done.json()["overridden"] == ["minimum_monitoring_not_met"]


@pytest.mark.parametrize(
    ("field", "label", "others"),
    [
        ("escort_present", "escort present", ("alert and oriented", "able to walk")),
        ("alert_and_oriented", "alert and oriented", ("escort present", "able to walk")),
    ],
)
def test_criteria_unmet_names_the_missing_escort_or_orientation(ward, field, label, others):
    record_id = _dosed(ward)
    ward.clock.move_to(at(11, 15))
    vitals(ward, record_id, **NORMAL)
    refused = _discharge(ward, record_id, **{field: False})
    assert refused.status_code == 422
    assert refused.json()["code"] == "criteria_unmet"
    assert label in refused.json()["detail"]
    assert not any(other in refused.json()["detail"] for other in others)
    assert not Discharge.objects.exists()
    assert _discharge(ward, record_id).status_code == 201


def test_an_override_cannot_bypass_an_open_critical_alert(ward):
    record_id = _dosed(ward)
    ward.clock.move_to(at(9, 50))
    [alert] = vitals(ward, record_id, systolic=186, diastolic=112, heart_rate=96, spo2=97).json()["alerts"]
    assert alert["severity"] == "critical"
    ward.clock.move_to(at(11, 15))
    vitals(ward, record_id, **NORMAL)
    reason = {"override_reason": "BP now normal; patient wants to leave."}
    refused = _discharge(ward, record_id, client=ward.prescriber_client, **reason)
    assert refused.status_code == 422
    assert refused.json()["code"] == "open_critical_alerts"
    assert not Discharge.objects.exists()
    ack = ward.prescriber_client.post(
        f"/api/v1/alerts/{alert['id']}/acknowledge/", {"note": "Rechecked; settled."}, format="json"
    )
    assert ack.status_code == 200
    assert _discharge(ward, record_id, client=ward.prescriber_client).status_code == 201


@pytest.mark.parametrize("value", ["submitted", "all", "DUE", ""])
def test_the_rems_queue_accepts_only_status_due(ward, value):
    refused = ward.nurse_client.get(f"/api/v1/monitoring/rems-forms/?status={value}")
    assert refused.status_code == 400
    assert refused["Content-Type"].startswith("application/problem+json")
    assert list(refused.json()["errors"]) == ["status"]
    assert ward.nurse_client.get("/api/v1/monitoring/rems-forms/?status=due").status_code == 200


def test_an_adverse_event_is_accepted_after_discharge_and_still_alerts(ward):
    """Deliberate: a reaction noticed that evening belongs to this session and must page someone."""
    record_id = _dosed(ward)
    ward.clock.move_to(at(11, 15))
    vitals(ward, record_id, **NORMAL)
    assert _discharge(ward, record_id).status_code == 201
    ward.clock.move_to(at(18))
    assert vitals(ward, record_id, **NORMAL).json()["code"] == "record_closed"  # vitals are not
    body = {
        "type": "hypertension",
        "description": "Called in: severe headache at home.",
        "severity": "severe",
        "serious": True,
        "onset_at": at(17, 30).isoformat(),
        "actions_taken": "Advised the ED.",
        "outcome": "transferred",
    }
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/adverse-events/", body, format="json")
    assert response.status_code == 201, response.content
    [alert] = response.json()["alerts"]
    assert (alert["kind"], alert["severity"]) == ("adverse_event", "critical")
    event = AdverseEvent.objects.get()
    assert event.record_id == record_id
    assert Alert.objects.filter(
        scope_type="monitoring_record", scope_id=record_id, source_type="adverse_event", source_id=event.pk
    ).exists()


def test_the_rems_queue_costs_the_same_queries_for_one_form_or_six(ward, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories.clinic import PatientFactory
    from tests.scheduling.helpers import approve

    def treated_and_sent_on(hour: int, patients: list) -> None:
        """Sessions at ``hour`` in separate chairs, each patient dosed and then sent on (say, to the
        ED) by a prescriber's override: each leaves a form to send."""
        ward.clock.move_to(at(hour - 1, 55))
        sessions = [ward.session(start=at(hour), patient=patient) for patient in patients]
        ward.clock.move_to(at(hour))
        for session in sessions:
            record_id = open_record(ward, session)
            vitals(ward, record_id, **NORMAL)
            assert dose(ward, record_id).status_code == 201
            sent_on = _discharge(ward, record_id, client=ward.prescriber_client, override_reason="Sent to the ED.")
            assert sent_on.status_code == 201, sent_on.content

    def new_patients(n: int) -> list:
        return [approve(PatientFactory(clinic=ward.clinic)) for _ in range(n)]

    treated_and_sent_on(9, [ward.patient])
    with CaptureQueriesContext(connection) as one:
        assert len(ward.nurse_client.get("/api/v1/monitoring/rems-forms/").json()) == 1
    one_form = len(one)  # now: the captured list is read from the connection's log, which later requests reset
    assert one_form > 0
    ward.clock.move_to(at(8, 55))  # the other two chairs at 09:00, then all three at 12:00
    treated_and_sent_on(9, new_patients(2))
    treated_and_sent_on(12, new_patients(3))
    with django_assert_max_num_queries(one_form):
        rows = ward.nurse_client.get("/api/v1/monitoring/rems-forms/").json()
    assert len(rows) == 6


def test_a_patient_who_left_before_any_dose_leaves_no_rems_form_to_send(ward):
    record_id = _opened(ward)  # esketamine, pre-dose reading taken; the patient then declines
    left = _discharge(ward, record_id)
    assert left.status_code == 201, left.content
    assert ward.nurse_client.get("/api/v1/monitoring/rems-forms/").json() == []
