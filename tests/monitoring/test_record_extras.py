"""Overdue checks, amendments, the REMS form and its queue, the chair board, policies and permissions."""

from __future__ import annotations

import csv
import io

import pytest

from clinic.access import Role
from clinic.models import Alert, AuditEvent
from monitoring.models import MonitoringPolicy, VitalSign
from monitoring.tasks import raise_overdue_vitals_alerts
from scheduling.models import Session
from tests.factories.clinic import PatientFactory
from tests.monitoring.conftest import at, open_checks
from tests.monitoring.test_session_flow import DISCHARGE, dose, open_record, vitals
from tests.scheduling.helpers import approve


def _started(ward, patient=None, start=None, treatment_type=None):
    session = ward.session(patient=patient, start=start, treatment_type=treatment_type)
    ward.clock.move_to(start or at(9))
    record_id = open_record(ward, session)
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=70, spo2=98)
    return record_id


# --- overdue checks ----------------------------------------------------------------------------


def test_a_missed_check_raises_one_overdue_alert(ward):
    record_id = _started(ward)
    ward.clock.move_to(at(9, 10))
    dose(ward, record_id)
    ward.clock.move_to(at(9, 54))  # dose+40 is due at 09:50, overdue after 09:55
    assert raise_overdue_vitals_alerts() == 0
    ward.clock.move_to(at(9, 56))
    assert raise_overdue_vitals_alerts() == 1
    assert raise_overdue_vitals_alerts() == 0  # once per missed check, however often the sweep runs
    alert = Alert.objects.get(kind="vitals_overdue")
    assert "40 minutes" in alert.message and "09:50" in alert.message
    ward.clock.move_to(at(9, 58))
    vitals(ward, record_id, systolic=130, diastolic=82, spo2=97)  # late, but it satisfies the check
    assert raise_overdue_vitals_alerts() == 0
    assert Alert.objects.filter(kind="vitals_overdue").count() == 1


def test_iv_cadence_every_ten_minutes_during_the_infusion(ward):
    record_id = _started(ward, start=at(10), treatment_type=ward.iv)
    ward.clock.move_to(at(10, 2))
    dose(ward, record_id, dose_mg="40.00")
    ward.clock.move_to(at(10, 12))
    vitals(ward, record_id, systolic=125, diastolic=80, heart_rate=72, spo2=98)
    ward.clock.move_to(at(10, 38))  # infusion+20 (10:22) and +30 (10:32) were missed
    assert raise_overdue_vitals_alerts() == 2
    status = ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/").json()
    states = {check["key"]: check["state"] for check in status["checks"]}
    assert states["predose"] == "done"
    assert states["infusion+10"] == "done"
    assert states["infusion+20"] == "overdue"


def test_discharged_sessions_are_not_swept(ward):
    record_id = _started(ward)
    ward.clock.move_to(at(9, 10))
    dose(ward, record_id)
    ward.clock.move_to(at(11, 15))
    vitals(ward, record_id, systolic=120, diastolic=80, heart_rate=72, spo2=98)
    ward.prescriber_client.post(
        f"/api/v1/monitoring/{record_id}/discharge/",
        {**DISCHARGE, "override_reason": "Checks done on paper"},
        format="json",
    )
    ward.clock.move_to(at(14))
    before = Alert.objects.filter(kind="vitals_overdue").count()
    raise_overdue_vitals_alerts()
    assert Alert.objects.filter(kind="vitals_overdue").count() == before


# --- amendments ---------------------------------------------------------------------------------


def test_an_amendment_keeps_the_original_and_the_timeline_shows_both(ward):
    record_id = _started(ward)
    reading = VitalSign.objects.get()
    response = ward.nurse_client.post(
        f"/api/v1/monitoring/{record_id}/amendments/",
        {
            "target_type": "vital_sign",
            "target_id": reading.pk,
            "field": "systolic",
            "new_value": 112,
            "reason": "Transcription error: cuff read 112.",
        },
        format="json",
    )
    assert response.status_code == 201
    assert (response.json()["old_value"], response.json()["new_value"]) == (120, 112)
    reading.refresh_from_db()
    assert reading.systolic == 120  # never edited
    timeline = ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/").json()["timeline"]
    vitals_event = next(e for e in timeline if e["type"] == "vitals")
    assert vitals_event["data"]["systolic"] == 120
    assert vitals_event["amendments"][0]["new_value"] == 112
    assert any(e["type"] == "amendment" for e in timeline)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target_type": "vital_sign", "field": "systolic", "new_value": 500, "reason": "x"}, "new_value"),
        ({"target_type": "vital_sign", "field": "recorded_by", "new_value": 1, "reason": "x"}, "field"),
        ({"target_type": "vital_sign", "field": "systolic", "new_value": 110, "reason": " "}, "reason"),
        ({"target_type": "alert", "field": "message", "new_value": "x", "reason": "x"}, "target_type"),
    ],
)
def test_bad_amendments_are_refused(ward, body, field):
    record_id = _started(ward)
    body = {"target_id": VitalSign.objects.get().pk, **body}
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/amendments/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_amendment_of_another_records_value_is_refused(ward):
    first = _started(ward)
    other = _started(ward, patient=approve(PatientFactory(clinic=ward.clinic)), start=at(13))
    foreign = VitalSign.objects.filter(record_id=other).get()
    response = ward.nurse_client.post(
        f"/api/v1/monitoring/{first}/amendments/",
        {"target_type": "vital_sign", "target_id": foreign.pk, "field": "systolic", "new_value": 110, "reason": "x"},
        format="json",
    )
    assert response.status_code == 400


def test_nothing_clinical_can_be_edited_or_deleted(ward):
    record_id = _started(ward)
    for method in ("put", "patch", "delete"):
        for path in ("", "vitals/", "doses/", "amendments/"):
            response = getattr(ward.nurse_client, method)(f"/api/v1/monitoring/{record_id}/{path}", {}, format="json")
            assert response.status_code == 405, (method, path)


# --- the REMS form --------------------------------------------------------------------------------


def _finished_esketamine(ward, patient=None, start=None):
    record_id = _started(ward, patient=patient, start=start)
    base = start or at(9)
    ward.clock.move_to(base.replace(minute=10))
    dose(ward, record_id)
    ward.clock.move_to(base.replace(minute=15))
    dose(ward, record_id)
    ward.clock.move_to(base.replace(minute=50))
    vitals(ward, record_id, systolic=138, diastolic=86, spo2=97)
    ward.clock.move_to(base.replace(hour=base.hour + 2, minute=12))
    vitals(ward, record_id, systolic=126, diastolic=80, heart_rate=72, spo2=98)
    response = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/discharge/", DISCHARGE, format="json")
    assert response.status_code == 201, response.content
    return record_id


def test_rems_form_lists_what_is_missing(ward):
    for clinician in (ward.nurse, ward.prescriber):
        clinician.phone = ""
        clinician.save()
    record_id = _finished_esketamine(ward)
    form = ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/rems-form/").json()
    assert form["fields"]["dose"] == "56 mg"
    assert form["fields"]["bp_at_40_minutes"] == "138/86"
    assert form["missing"] == ["monitoring_clinician_phone"]
    assert form["complete"] is False


def test_rems_form_as_csv(ward):
    record_id = _finished_esketamine(ward)
    response = ward.nurse_client.get(f"/api/v1/monitoring/{record_id}/rems-form/?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = dict(csv.reader(io.StringIO(response.content.decode())))
    assert rows["dose"] == "56 mg"
    assert rows["treatment_date"] == "2027-03-02"


def test_rems_queue_until_marked_submitted(ward):
    record_id = _finished_esketamine(ward)
    due = ward.nurse_client.get("/api/v1/monitoring/rems-forms/?status=due").json()
    assert [(row["record"], row["due_by"], row["overdue"]) for row in due] == [(record_id, "2027-03-09", False)]
    submitted = ward.nurse_client.post(
        f"/api/v1/monitoring/{record_id}/rems-form/submitted/", {"confirmation": "PMF-123"}, format="json"
    )
    assert submitted.status_code == 201
    assert submitted.json()["submitted_at"]
    assert ward.nurse_client.get("/api/v1/monitoring/rems-forms/").json() == []
    assert AuditEvent.objects.filter(object_type="rems_form", action="create").count() == 1
    again = ward.nurse_client.post(f"/api/v1/monitoring/{record_id}/rems-form/submitted/", {}, format="json")
    assert again.status_code == 409


# --- the chair board ------------------------------------------------------------------------------


def _board_session(ward, treatment_type, patient=None, *, policy: dict | None = None) -> int:
    session = ward.session(treatment_type=treatment_type, patient=patient, start=at(9))
    if policy is not None:
        MonitoringPolicy.objects.create(clinic=ward.clinic, treatment_type=treatment_type, schedule=policy)
    return session


def test_board_query_count_is_constant_in_chairs_and_treatment_types(ward):
    """One session of one treatment type, then four sessions of four treatment types (each with its
    own policy layer): the board costs the same number of queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories.clinic import RoomFactory
    from tests.factories.scheduling import TreatmentTypeFactory

    for _ in range(2):
        RoomFactory(clinic=ward.clinic)
    MonitoringPolicy.objects.create(clinic=ward.clinic, thresholds={"spo2_warning_below": 93})
    types = [ward.esketamine] + [
        TreatmentTypeFactory(
            clinic=ward.clinic,
            name=f"Esketamine {n}",
            modality="esketamine_nasal",
            duration_minutes=140,
            requires_rems_enrollment=True,
            min_hours_between=48,
        )
        for n in (2, 3, 4)
    ]
    patients = [ward.patient] + [approve(PatientFactory(clinic=ward.clinic)) for _ in range(3)]
    sessions = [
        _board_session(ward, tt, patient, policy={"fixed_minutes_after_dose": [20 * (i + 1)]} if i else None)
        for i, (tt, patient) in enumerate(zip(types, patients, strict=True))
    ]
    ward.clock.move_to(at(9))
    records = []
    for session in sessions:
        records.append(open_record(ward, session))
        vitals(ward, records[-1], systolic=120, diastolic=80, heart_rate=70, spo2=98)
    ward.clock.move_to(at(9, 5))
    for record_id in records:
        dose(ward, record_id)
    ward.clock.move_to(at(9, 25))
    # A dangerous reading on the first chair: its open alert shows on the board.
    vitals(ward, records[0], systolic=186, diastolic=112, heart_rate=96, spo2=97)
    ward.clock.move_to(at(9, 30))

    def board(visible: int) -> tuple[int, list[dict]]:
        # Only the first ``visible`` sessions are active: the others wait, checked out of the board.
        Session.objects.filter(pk__in=[s.pk for s in sessions[visible:]]).update(status=Session.Status.BOOKED)
        Session.objects.filter(pk__in=[s.pk for s in sessions[:visible]]).update(status=Session.Status.IN_PROGRESS)
        with CaptureQueriesContext(connection) as queries:
            response = ward.nurse_client.get("/api/v1/monitoring/board/")
        assert response.status_code == 200
        return len(queries), response.json()

    one_count, one = board(1)
    four_count, four = board(4)
    assert len(one) == 1 and len(four) == 4
    assert one_count == four_count, (one_count, four_count)
    assert four_count <= 10
    rows = {row["session"]: row for row in four}
    first = rows[sessions[0].pk]
    assert first["room"] == sessions[0].room.name
    assert first["open_alerts"] == {"critical": 1}
    assert all(rows[s.pk]["open_alerts"] == {} for s in sessions[1:])
    assert {row["room"] for row in four} == {s.room.name for s in sessions}
    assert first["phase"] == "monitoring"
    assert first["minutes_since_first_dose"] == 25
    assert first["earliest_discharge"].startswith("2027-03-02T11:05")
    assert len(first["patient_initials"]) == 2
    # Each treatment type's own schedule layer replaces the default 40-minute check: 40, 60, 80.
    due = [rows[s.pk]["next_check_due"][11:16] for s in sessions]
    assert due == ["09:45", "09:45", "10:05", "10:25"]
    assert rows[sessions[3].pk]["next_check"] == "80 minutes after the first device"


# --- policies -------------------------------------------------------------------------------------


def test_clinic_policy_changes_thresholds_for_a_treatment_type(ward, make_staff, client_for):
    admin = client_for(make_staff(ward.clinic, Role.CLINIC_ADMIN))
    url = f"/api/v1/treatment-types/{ward.esketamine.pk}/monitoring-policy/"
    assert admin.get(url).json()["thresholds"]["predose_systolic_max"] == 140
    response = admin.put(url, {"thresholds": {"predose_systolic_max": 150}}, format="json")
    assert response.status_code == 200
    bad = admin.put(url, {"thresholds": {"spo2_critical_below": 99}}, format="json")
    assert bad.status_code == 400
    record_id = _started(ward)
    vitals(ward, record_id, systolic=148, diastolic=88, spo2=98)
    ward.clock.move_to(at(9, 10))
    assert dose(ward, record_id).status_code == 201  # 148 passes a 150 gate
    assert ward.nurse_client.get(url).status_code == 403


# --- permissions ----------------------------------------------------------------------------------


ENDPOINTS = [
    ("get", "monitoring/{record}/", None),
    ("post", "monitoring/{record}/vitals/", {"systolic": 120, "diastolic": 80}),
    ("post", "monitoring/{record}/scales/", {"scale": "moaas", "value": 5}),
    ("get", "monitoring/{record}/rems-form/", None),
    ("get", "monitoring/board/", None),
    ("get", "monitoring/rems-forms/", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_front_desk_and_admins_are_refused(ward, make_staff, client_for, method, path, body):
    record_id = _started(ward)
    for role in (Role.FRONT_DESK, Role.CLINIC_ADMIN):
        client = client_for(make_staff(ward.clinic, role))
        response = getattr(client, method)(f"/api/v1/{path.format(record=record_id)}", body, format="json")
        assert response.status_code == 403, (role, path)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_other_clinic_and_anonymous(ward, make_staff, client_for, other_clinic, api_client, method, path, body):
    record_id = _started(ward)
    outsider = client_for(make_staff(other_clinic, Role.NURSE))
    response = getattr(outsider, method)(f"/api/v1/{path.format(record=record_id)}", body, format="json")
    if "{record}" in path:
        assert response.status_code == 404
    else:
        assert response.status_code == 200 and response.json() == []
    assert (
        getattr(api_client, method)(f"/api/v1/{path.format(record=record_id)}", body, format="json").status_code == 401
    )


def test_prescriber_may_open_and_record_too(ward):
    session = ward.session()
    ward.clock.move_to(at(9))
    response = ward.prescriber_client.post(
        f"/api/v1/sessions/{session.pk}/monitoring/", open_checks(ward), format="json"
    )
    assert response.status_code == 201
