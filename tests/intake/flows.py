"""Run the real intake services end to end, for tests that need a submitted, assessed intake."""

from __future__ import annotations

from clinic.access import Actor, Role
from clinic.models import Patient
from intake.models import Assessment
from intake.services.forms import form_draft_save, form_submit
from intake.services.invitations import intake_invitation_issue
from tests.factories.clinic import StaffMemberFactory
from tests.intake.answers import clean_intake


def submit_intake(patient: Patient, answers: dict | None = None) -> Assessment:
    front_desk = StaffMemberFactory(clinic=patient.clinic, roles=[Role.FRONT_DESK])
    issued = intake_invitation_issue(actor=Actor.for_user(front_desk.user), patient=patient)
    for code, values in (answers or clean_intake()).items():
        form_draft_save(invitation=issued.invitation, code=code, answers=values)
    result = form_submit(invitation=issued.invitation)
    return result.assessment
