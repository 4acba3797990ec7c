"""The candidacy status front desk sees, derived from links, assessments and decisions."""

from __future__ import annotations

import datetime as dt

import time_machine
from django.utils import timezone

from clinic.access import Actor, Role
from intake.services.decisions import add_months, assessment_decide
from intake.services.forms import form_draft_save, form_submit
from intake.services.invitations import intake_invitation_issue, invitation_revoke
from tests.factories.clinic import PatientFactory, StaffMemberFactory
from tests.intake.answers import clean_intake


@time_machine.travel(dt.datetime(2027, 1, 10, 8, 0, tzinfo=dt.UTC))
def test_status_walks_through_every_state(clinic):
    patient = PatientFactory(clinic=clinic)
    front_desk = Actor.for_user(StaffMemberFactory(clinic=clinic, roles=[Role.FRONT_DESK]).user)
    prescriber = Actor.for_user(StaffMemberFactory(clinic=clinic, roles=[Role.PRESCRIBER]).user)

    def status() -> str:
        patient.refresh_from_db()
        return patient.candidacy_status_now()

    assert status() == "not_started"
    issued = intake_invitation_issue(actor=front_desk, patient=patient)
    assert status() == "invited"
    form_draft_save(invitation=issued.invitation, code="phq9", answers={"phq9-1": 1})
    assert status() == "in_progress"
    for code, answers in clean_intake().items():
        form_draft_save(invitation=issued.invitation, code=code, answers=answers)
    assessment = form_submit(invitation=issued.invitation).assessment
    assert status() == "submitted"
    assessment_decide(actor=prescriber, assessment=assessment, decision="needs_info", modalities=[], rationale="r")
    assert status() == "needs_info"

    second = intake_invitation_issue(actor=front_desk, patient=patient)
    assert status() == "invited"
    invitation_revoke(actor=front_desk, invitation=second.invitation)
    assert status() == "needs_info"

    assessment_decide(actor=prescriber, assessment=assessment, decision="declined", modalities=[], rationale="r")
    assert status() == "declined"
    # Approved at a known instant (after everything above), so the expiry is exact: the default 12 months.
    decided_at = dt.datetime(2027, 1, 11, 10, 0, tzinfo=dt.UTC)
    expires_at = dt.datetime(2028, 1, 11, 10, 0, tzinfo=dt.UTC)
    with time_machine.travel(decided_at, tick=False):
        assessment_decide(
            actor=prescriber, assessment=assessment, decision="approved", modalities=["iv_ketamine"], rationale=""
        )
        assert status() == "approved"
    assert patient.candidacy_expires_at == expires_at
    assert patient.candidacy_modalities == ["iv_ketamine"]

    # A re-assessment under way does not hide a valid approval from front desk.
    with time_machine.travel(decided_at + dt.timedelta(hours=1)):
        intake_invitation_issue(actor=front_desk, patient=patient)
        assert status() == "approved"
    with time_machine.travel(expires_at - dt.timedelta(minutes=1)):
        assert patient.candidacy_status_now() == "approved"
    with time_machine.travel(expires_at):
        assert patient.candidacy_status_now() == "expired"


def test_clinic_configured_approval_period_sets_the_exact_expiry(clinic):
    clinic.candidacy_approval_valid_months = 3
    clinic.save()
    patient = PatientFactory(clinic=clinic)
    prescriber = Actor.for_user(StaffMemberFactory(clinic=clinic, roles=[Role.PRESCRIBER]).user)
    from tests.intake.flows import submit_intake

    with time_machine.travel(dt.datetime(2027, 11, 30, 16, 45, tzinfo=dt.UTC), tick=False):
        assessment = submit_intake(patient)
        decision = assessment_decide(
            actor=prescriber, assessment=assessment, decision="approved", modalities=["iv_ketamine"], rationale=""
        )
    # 30 November + 3 months: 29 February 2028 (a leap year), same time of day.
    assert decision.expires_at == dt.datetime(2028, 2, 29, 16, 45, tzinfo=dt.UTC)
    patient.refresh_from_db()
    assert patient.candidacy_expires_at == decision.expires_at
    with time_machine.travel(dt.datetime(2028, 2, 29, 16, 44, tzinfo=dt.UTC)):
        assert patient.candidacy_status_now() == "approved"
    with time_machine.travel(dt.datetime(2028, 2, 29, 16, 45, tzinfo=dt.UTC)):
        assert patient.candidacy_status_now() == "expired"


def test_add_months_clamps_to_month_end():
    jan31 = dt.datetime(2027, 1, 31, 12, tzinfo=dt.UTC)
    assert add_months(jan31, 1) == dt.datetime(2027, 2, 28, 12, tzinfo=dt.UTC)
    assert add_months(jan31, 12) == dt.datetime(2028, 1, 31, 12, tzinfo=dt.UTC)
    assert add_months(dt.datetime(2027, 11, 15, tzinfo=dt.UTC), 3) == dt.datetime(2028, 2, 15, tzinfo=dt.UTC)


def test_under_18_is_not_eligible_anywhere(clinic):
    today = timezone.localdate()
    patient = PatientFactory(clinic=clinic, date_of_birth=dt.date(today.year - 17, today.month, min(today.day, 28)))
    from tests.intake.flows import submit_intake

    assessment = submit_intake(patient)
    assert assessment.recommendation == "not_eligible"
    assert all(r["recommendation"] == "not_eligible" for r in assessment.modality_results.values())
