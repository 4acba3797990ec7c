"""A newer intake overrides an older approval where it reveals a contraindication, over HTTP.

An approval is made on one assessment. When the patient submits a newer intake, every approved
modality that the new assessment rules out (``not_eligible``) is withdrawn at once, in the submit's
transaction, and front desk can no longer book it; a decision on the superseded assessment is
refused. Modalities the newer intake still allows keep their approval until it expires.
"""

from __future__ import annotations

import pytest
import time_machine

from clinic.access import Actor, Role
from clinic.errors import Conflict
from clinic.models import AuditEvent
from intake import selectors
from intake.models import Assessment, CandidacyDecision, FormInvitation
from intake.services.invitations import invitation_revoke
from tests.factories.clinic import PatientFactory, RoomFactory
from tests.factories.scheduling import ClinicianFactory, TreatmentTypeFactory
from tests.intake.answers import clean_intake
from tests.scheduling.helpers import NOW, book, local

ALL = ["esketamine_nasal", "im_ketamine", "iv_ketamine"]


@pytest.fixture(autouse=True)
def _clock():
    # Ticking, so each submit and decision is strictly later than the one before it.
    with time_machine.travel(NOW):
        yield


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic, rems_patient_id="REMS-77")


@pytest.fixture
def front_desk(clinic, make_staff, client_for):
    return client_for(make_staff(clinic, Role.FRONT_DESK))


@pytest.fixture
def prescriber(clinic, make_staff, client_for):
    return client_for(make_staff(clinic, Role.PRESCRIBER))


@pytest.fixture
def bookable(clinic):
    """A chair, a nurse and the two kinds of treatment, so booking refusals are about candidacy only."""
    RoomFactory(clinic=clinic, name="Chair 1")
    ClinicianFactory(clinic=clinic)
    return {
        "iv_ketamine": TreatmentTypeFactory(clinic=clinic, modality="iv_ketamine", min_hours_between=0),
        "esketamine_nasal": TreatmentTypeFactory(
            clinic=clinic,
            name="Esketamine",
            modality="esketamine_nasal",
            duration_minutes=135,
            requires_rems_enrollment=True,
            min_hours_between=0,
        ),
    }


def submit_over_http(front_desk, api_client, patient, answers: dict) -> Assessment:
    """Issue a link as front desk, fill it in and submit it as the patient: the newest assessment."""
    issued = front_desk.post(f"/api/v1/patients/{patient.pk}/intake-invitations/")
    assert issued.status_code == 201, issued.content
    token = issued.json()["url"].rstrip("/").rsplit("/", 1)[-1]
    for code, values in answers.items():
        saved = api_client.put(f"/api/v1/forms/{token}/responses/{code}/", {"answers": values}, format="json")
        assert saved.status_code == 200, (code, saved.content)
    submitted = api_client.post(f"/api/v1/forms/{token}/submit/")
    assert submitted.status_code == 200, submitted.content
    return Assessment.objects.filter(patient=patient).latest("submitted_at", "id")


def decide(client, assessment, **body):
    return client.post(f"/api/v1/assessments/{assessment.pk}/decision/", body, format="json")


def status_of(front_desk, patient) -> tuple[str, list[str]]:
    body = front_desk.get(f"/api/v1/patients/{patient.pk}/").json()
    patient.refresh_from_db()
    return body["candidacy_status"], sorted(patient.candidacy_modalities)


def test_new_contraindication_withdraws_the_approval_and_blocks_booking_and_old_decisions(
    patient, front_desk, prescriber, api_client, bookable
):
    first = submit_over_http(front_desk, api_client, patient, clean_intake())
    approved = decide(prescriber, first, decision="approved", modalities=["esketamine_nasal"], rationale="")
    assert approved.status_code == 201, approved.content
    assert status_of(front_desk, patient) == ("approved", ["esketamine_nasal"])
    booked = book(front_desk, patient, bookable["esketamine_nasal"], local(2027, 3, 2, 10))
    assert booked.status_code == 201, booked.content  # the control: the approval did allow booking

    second = submit_over_http(front_desk, api_client, patient, clean_intake(medical_history={"mh-aneurysm": True}))
    assert second.modality_results["esketamine_nasal"]["recommendation"] == "not_eligible"

    # Nothing approved is left: the patient waits for a prescriber's decision on the new intake.
    assert status_of(front_desk, patient) == ("submitted", [])
    refused = book(front_desk, patient, bookable["esketamine_nasal"], local(2027, 3, 4, 10))
    assert refused.status_code == 422
    assert refused.json()["code"] == "candidacy_not_approved"
    withdrawal = AuditEvent.objects.get(object_type="patient", action="update", patient=patient)
    assert withdrawal.actor is None and withdrawal.actor_kind == "system"
    assert set(withdrawal.changed_fields) == {"candidacy_status", "candidacy_modalities", "candidacy_expires_at"}

    # The superseded assessment can no longer be decided, in either direction.
    again = decide(prescriber, first, decision="approved", modalities=["esketamine_nasal"], rationale="")
    assert again.status_code == 409
    assert again.json()["code"] == "assessment_superseded"
    assert again.json()["superseded_by"] == second.pk
    assert str(second.pk) in again.json()["detail"]
    declined = decide(prescriber, first, decision="declined", modalities=[], rationale="old intake")
    assert declined.status_code == 409
    assert CandidacyDecision.objects.count() == 1
    assert status_of(front_desk, patient) == ("submitted", [])

    # The new assessment is the one to decide, and the label contraindication still holds there.
    on_new = decide(prescriber, second, decision="approved", modalities=["esketamine_nasal"], rationale="x")
    assert on_new.status_code == 422
    assert on_new.json()["code"] == "absolute_contraindication"


def test_only_the_ruled_out_modality_is_withdrawn(patient, front_desk, prescriber, api_client, bookable):
    first = submit_over_http(front_desk, api_client, patient, clean_intake())
    approved = decide(prescriber, first, decision="approved", modalities=ALL, rationale="")
    assert approved.status_code == 201, approved.content
    expires_at = CandidacyDecision.objects.get().expires_at

    submit_over_http(front_desk, api_client, patient, clean_intake(medical_history={"mh-aneurysm": True}))

    assert status_of(front_desk, patient) == ("approved", ["im_ketamine", "iv_ketamine"])
    assert patient.candidacy_expires_at == expires_at
    withdrawal = AuditEvent.objects.get(object_type="patient", action="update", patient=patient)
    assert withdrawal.changed_fields == ["candidacy_modalities"]
    assert book(front_desk, patient, bookable["esketamine_nasal"], local(2027, 3, 2, 10)).json()["code"] == (
        "candidacy_not_approved"
    )
    assert book(front_desk, patient, bookable["iv_ketamine"], local(2027, 3, 2, 10)).status_code == 201
    # Issuing yet another link recomputes the status: the withdrawal is not undone.
    assert front_desk.post(f"/api/v1/patients/{patient.pk}/intake-invitations/").status_code == 201
    assert status_of(front_desk, patient) == ("approved", ["im_ketamine", "iv_ketamine"])


def test_a_newer_intake_that_is_still_eligible_keeps_the_approval(
    patient, front_desk, prescriber, api_client, bookable
):
    first = submit_over_http(front_desk, api_client, patient, clean_intake())
    assert decide(prescriber, first, decision="approved", modalities=ALL, rationale="").status_code == 201

    second = submit_over_http(front_desk, api_client, patient, clean_intake())
    assert {result["recommendation"] for result in second.modality_results.values()} == {"eligible"}

    assert status_of(front_desk, patient) == ("approved", ALL)
    assert book(front_desk, patient, bookable["esketamine_nasal"], local(2027, 3, 2, 10)).status_code == 201
    assert not AuditEvent.objects.filter(object_type="patient", action="update").exists()
    # Still, the old assessment is superseded: a new decision is made on the new one.
    assert decide(prescriber, first, decision="declined", modalities=[], rationale="r").status_code == 409
    assert decide(prescriber, second, decision="approved", modalities=ALL, rationale="").status_code == 201


def test_revoking_a_submitted_link_is_a_conflict(patient, front_desk, api_client):
    submit_over_http(front_desk, api_client, patient, clean_intake())
    invitation = FormInvitation.objects.get(patient=patient)
    response = front_desk.post(f"/api/v1/intake-invitations/{invitation.pk}/revoke/")
    assert response.status_code == 409
    assert response.json()["code"] == "already_submitted"
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_revoke_rereads_the_link_it_was_handed(clinic, patient, front_desk, make_staff, api_client):
    """The view reads the link, then the patient submits before the revoke writes: the revoke must see it."""
    actor = Actor.for_user(make_staff(clinic, Role.FRONT_DESK).user)
    issued = front_desk.post(f"/api/v1/patients/{patient.pk}/intake-invitations/")
    token = issued.json()["url"].rstrip("/").rsplit("/", 1)[-1]
    invitation = FormInvitation.objects.get(patient=patient)
    stale = selectors.invitation_get(actor=actor, invitation_id=invitation.pk)
    for code, values in clean_intake().items():
        api_client.put(f"/api/v1/forms/{token}/responses/{code}/", {"answers": values}, format="json")
    assert api_client.post(f"/api/v1/forms/{token}/submit/").status_code == 200
    assert stale.submitted_at is None

    with pytest.raises(Conflict) as refused:
        invitation_revoke(actor=actor, invitation=stale)
    assert refused.value.code == "already_submitted"
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    assert not AuditEvent.objects.filter(object_type="form_invitation", action="update").exists()
