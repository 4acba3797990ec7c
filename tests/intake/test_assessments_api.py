"""Clinician review: scored, reasoned recommendations; a prescriber's decision; front desk sees status only."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from clinic.access import Role
from clinic.models import AuditEvent
from intake.models import CandidacyDecision
from tests.factories.clinic import PatientFactory
from tests.intake.answers import clean_intake
from tests.intake.flows import submit_intake


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic)


@pytest.fixture
def prescriber(clinic, make_staff, client_for):
    return client_for(make_staff(clinic, Role.PRESCRIBER))


def decide(client, assessment, **body):
    return client.post(f"/api/v1/assessments/{assessment.pk}/decision/", body, format="json")


def test_detail_shows_scores_reasons_answers_and_is_audited(patient, prescriber):
    assessment = submit_intake(patient, clean_intake(current_medications={"med-benzodiazepine": True}))
    response = prescriber.get(f"/api/v1/assessments/{assessment.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["recommendation"] == "clinician_review"
    assert body["modalities"] == {m: "clinician_review" for m in ("iv_ketamine", "im_ketamine", "esketamine_nasal")}
    benzo = next(r for r in body["reasons"] if r["code"] == "concomitant_benzodiazepine")
    assert benzo["severity"] == "relative"
    assert sorted(benzo["modalities"]) == ["esketamine_nasal", "im_ketamine", "iv_ketamine"]
    assert body["scores"]["phq9"]["band"] == "moderate"
    assert {r["code"] for r in body["responses"]} == {
        "medical-history",
        "current-medications",
        "antidepressant-trials",
        "phq9",
        "gad7",
        "pcl5",
    }
    assert body["risk_level"] == "not_assessed"
    assert AuditEvent.objects.filter(object_type="assessment", action="read", object_id=str(assessment.pk)).exists()


def test_approving_an_absolute_contraindication_is_refused(patient, prescriber):
    assessment = submit_intake(patient, clean_intake(medical_history={"mh-aneurysm": True}))
    assert assessment.modality_results["esketamine_nasal"]["recommendation"] == "not_eligible"
    response = decide(prescriber, assessment, decision="approved", modalities=["esketamine_nasal"], rationale="x")
    assert response.status_code == 422
    assert response.json()["code"] == "absolute_contraindication"
    assert response.json()["contraindications"] == {"esketamine_nasal": ["aneurysmal_vascular_disease"]}
    assert not CandidacyDecision.objects.exists()


def test_relative_flags_need_a_rationale(patient, prescriber):
    assessment = submit_intake(patient, clean_intake(medical_history={"mh-aneurysm": True}))
    refused = decide(prescriber, assessment, decision="approved", modalities=["iv_ketamine"])
    assert refused.status_code == 422
    assert refused.json()["code"] == "rationale_required"
    approved = decide(
        prescriber,
        assessment,
        decision="approved",
        modalities=["iv_ketamine"],
        rationale="Aneurysm repaired 2019, cleared by vascular surgeon; BP monitored closely.",
    )
    assert approved.status_code == 201
    event = AuditEvent.objects.get(action="create", object_type="candidacy_decision")
    assert (event.actor.username, event.object_id, event.patient_id, event.clinic_id) == (
        CandidacyDecision.objects.get().decided_by.username,
        str(approved.json()["id"]),
        patient.pk,
        patient.clinic_id,
    )
    # The refused attempt wrote no decision and no audit row of one.
    assert AuditEvent.objects.filter(object_type="candidacy_decision").count() == 1
    patient.refresh_from_db()
    assert patient.candidacy_status == "approved"
    assert patient.candidacy_modalities == ["iv_ketamine"]


def test_eligible_modalities_approve_without_rationale(patient, prescriber):
    assessment = submit_intake(patient)
    response = decide(prescriber, assessment, decision="approved", modalities=["esketamine_nasal", "iv_ketamine"])
    assert response.status_code == 201, response.content
    assert response.json()["modalities"] == ["esketamine_nasal", "iv_ketamine"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "approved", "modalities": []}, "modalities"),
        ({"decision": "declined"}, "rationale"),
        ({"decision": "needs_info", "modalities": ["iv_ketamine"], "rationale": "x"}, "modalities"),
        ({"decision": "maybe"}, "decision"),
    ],
)
def test_malformed_decisions_name_the_field(patient, prescriber, body, field):
    assessment = submit_intake(patient)
    response = decide(prescriber, assessment, **body)
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.parametrize(
    ("months", "decided_at", "expires_at"),
    [
        # The default: twelve months to the minute.
        (None, dt.datetime(2026, 3, 10, 15, 30, tzinfo=dt.UTC), dt.datetime(2027, 3, 10, 15, 30, tzinfo=dt.UTC)),
        # A clinic's own period, ending on a shorter month: clamped to its last day.
        (6, dt.datetime(2026, 8, 31, 9, 0, tzinfo=dt.UTC), dt.datetime(2027, 2, 28, 9, 0, tzinfo=dt.UTC)),
    ],
)
def test_approval_expires_after_the_clinic_period(months, decided_at, expires_at, patient, prescriber, clinic):
    if months is not None:
        clinic.candidacy_approval_valid_months = months
        clinic.save()
    else:
        assert clinic.candidacy_approval_valid_months == 12
    with time_machine.travel(decided_at - dt.timedelta(hours=1), tick=False):
        assessment = submit_intake(patient)
    with time_machine.travel(decided_at, tick=False):
        response = decide(prescriber, assessment, decision="approved", modalities=["iv_ketamine"])
    assert response.status_code == 201, response.content
    assert dt.datetime.fromisoformat(response.json()["expires_at"]) == expires_at
    patient.refresh_from_db()
    assert patient.candidacy_expires_at == expires_at
    with time_machine.travel(expires_at - dt.timedelta(minutes=1)):
        assert patient.candidacy_status_now() == "approved"
    with time_machine.travel(expires_at):
        assert patient.candidacy_status_now() == "expired"


def test_decisions_are_append_only_and_the_latest_governs(patient, prescriber, make_staff, clinic, client_for):
    assessment = submit_intake(patient)
    decide(prescriber, assessment, decision="needs_info", rationale="Need records of the second trial.")
    patient.refresh_from_db()
    assert patient.candidacy_status == "needs_info"
    decide(prescriber, assessment, decision="approved", modalities=["iv_ketamine"])
    patient.refresh_from_db()
    assert patient.candidacy_status == "approved"
    history = prescriber.get(f"/api/v1/assessments/{assessment.pk}/").json()["decisions"]
    assert [d["decision"] for d in history] == ["needs_info", "approved"]
    front_desk = client_for(make_staff(clinic, Role.FRONT_DESK))
    shown = front_desk.get(f"/api/v1/patients/{patient.pk}/").json()
    assert shown["candidacy_status"] == "approved"
    assert "scores" not in shown and "reasons" not in shown


@pytest.mark.parametrize(
    ("role", "read", "decide_status"),
    [
        (Role.FRONT_DESK, 403, 403),
        (Role.CLINIC_ADMIN, 403, 403),
        (Role.NURSE, 200, 403),
        (Role.PRESCRIBER, 200, 201),
    ],
)
def test_role_matrix(role, read, decide_status, patient, clinic, make_staff, client_for):
    assessment = submit_intake(patient)
    client = client_for(make_staff(clinic, role))
    assert client.get("/api/v1/assessments/").status_code == read
    assert client.get(f"/api/v1/assessments/{assessment.pk}/").status_code == read
    assert decide(client, assessment, decision="approved", modalities=["iv_ketamine"]).status_code == decide_status


def test_other_clinic_and_anonymous(patient, other_clinic, make_staff, client_for, api_client):
    assessment = submit_intake(patient)
    outsider = client_for(make_staff(other_clinic, Role.PRESCRIBER))
    assert outsider.get(f"/api/v1/assessments/{assessment.pk}/").status_code == 404
    assert decide(outsider, assessment, decision="approved", modalities=["iv_ketamine"]).status_code == 404
    assert outsider.get("/api/v1/assessments/").json()["count"] == 0
    assert api_client.get("/api/v1/assessments/").status_code == 401


@pytest.mark.parametrize("count", [2, 12])
def test_assessment_list_query_count_is_constant(count, clinic, prescriber, django_assert_max_num_queries):
    for _ in range(count):
        assessment = submit_intake(PatientFactory(clinic=clinic))
        CandidacyDecision.objects.create(
            assessment=assessment, decision="needs_info", rationale="x", decided_by=assessment.invitation.created_by
        )
    # token, memberships, count, page, decisions, risk assessments, audit insert
    with django_assert_max_num_queries(8):
        response = prescriber.get("/api/v1/assessments/")
    assert response.json()["count"] == count


def test_filters(patient, prescriber, clinic):
    first = submit_intake(patient)
    submit_intake(PatientFactory(clinic=clinic))
    decide(prescriber, first, decision="declined", rationale="Active psychosis.")
    body = prescriber.get("/api/v1/assessments/?status=pending_review").json()
    assert first.pk not in [row["id"] for row in body["results"]]
    assert [row["id"] for row in prescriber.get(f"/api/v1/assessments/?patient={patient.pk}").json()["results"]] == [
        first.pk
    ]


def test_risk_assessment_high_opens_alert_and_shows_in_assessment(patient, prescriber, clinic, make_staff, client_for):
    assessment = submit_intake(patient)
    response = prescriber.post(
        f"/api/v1/patients/{patient.pk}/risk-assessments/",
        {"level": "high", "method": "Clinical interview", "note": "Plan and intent.", "assessment": assessment.pk},
        format="json",
    )
    assert response.status_code == 201
    assert patient.alerts.get().kind == "suicide_risk"
    created = AuditEvent.objects.get(action="create", object_type="risk_assessment")
    assert (created.object_id, created.patient_id, created.clinic_id, created.actor_kind) == (
        str(response.json()["id"]),
        patient.pk,
        clinic.pk,
        "staff",
    )
    assert prescriber.get(f"/api/v1/assessments/{assessment.pk}/").json()["risk_level"] == "high"
    front_desk = client_for(make_staff(clinic, Role.FRONT_DESK))
    assert (
        front_desk.post(
            f"/api/v1/patients/{patient.pk}/risk-assessments/", {"level": "low", "method": "x"}, format="json"
        ).status_code
        == 403
    )
    assert front_desk.get(f"/api/v1/patients/{patient.pk}/risk-assessments/").status_code == 403


def test_assessment_list_audits_each_assessment_shown(clinic, prescriber):
    shown = [submit_intake(PatientFactory(clinic=clinic)) for _ in range(3)]
    response = prescriber.get("/api/v1/assessments/?page_size=2", HTTP_X_REQUEST_ID="queue-1")
    assert response.status_code == 200
    on_page = {row["id"] for row in response.json()["results"]}
    assert len(on_page) == 2 and on_page <= {a.pk for a in shown}
    events = AuditEvent.objects.filter(request_id="queue-1")
    assert {(e.action, e.object_type) for e in events} == {("read", "assessment")}
    assert {int(e.object_id) for e in events} == on_page
    by_id = {a.pk: a for a in shown}
    assert {(e.patient_id, e.clinic_id) for e in events} == {(by_id[i].patient_id, clinic.pk) for i in on_page}


def test_reading_risk_assessments_audits_each_one_in_one_insert(patient, clinic, make_staff, client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories.intake import RiskAssessmentFactory

    records = RiskAssessmentFactory.create_batch(3, clinic=clinic, patient=patient)
    nurse = client_for(make_staff(clinic, Role.NURSE))
    with CaptureQueriesContext(connection) as queries:
        response = nurse.get(f"/api/v1/patients/{patient.pk}/risk-assessments/", HTTP_X_REQUEST_ID="risk-read")
    assert response.status_code == 200
    assert len(response.json()) == 3
    reads = AuditEvent.objects.filter(request_id="risk-read", object_type="risk_assessment")
    assert sorted((e.action, e.object_id, e.patient_id) for e in reads) == sorted(
        ("read", str(r.pk), patient.pk) for r in records
    )
    statements = [q["sql"].strip().replace('"', "") for q in queries.captured_queries]
    audit_inserts = [sql for sql in statements if sql.startswith("INSERT INTO clinic_auditevent")]
    assert len(audit_inserts) == 2  # the patient read, and every risk assessment shown in one statement
