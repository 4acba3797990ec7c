"""Patient-link requirements end to end: hashed tokens, the clinic's link lifetime, crisis text,
version pinning, the alert a submit raises being acknowledged, and an all-or-nothing submit."""

from __future__ import annotations

import datetime as dt
import hashlib
from io import StringIO

import pytest
import time_machine
from django.apps import apps
from django.test import Client
from rest_framework.test import APIClient

from clinic.access import Actor, Role
from clinic.models import Alert, AuditEvent, Patient
from intake.models import Assessment, FormInvitation, InvitationToken, Questionnaire, QuestionnaireResponse
from intake.services.forms import form_draft_save, form_submit
from intake.services.invitations import intake_invitation_issue
from tests.factories.clinic import PatientFactory
from tests.factories.intake import (
    CUSTOM_DEFINITION,
    FormInvitationFactory,
    InvitationQuestionnaireFactory,
    InvitationTokenFactory,
    QuestionnaireFactory,
)
from tests.intake.answers import clean_intake, phq9
from tests.intake.flows import submit_intake

RISKY = clean_intake(phq9=phq9(1, 1, 1, 1, 0, 0, 0, 0, 2))


@pytest.fixture
def front_desk(clinic, make_staff, client_for):
    return client_for(make_staff(clinic, Role.FRONT_DESK))


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic)


def issue(front_desk, patient) -> str:
    response = front_desk.post(f"/api/v1/patients/{patient.pk}/intake-invitations/")
    assert response.status_code == 201, response.content
    return response.json()["url"].rstrip("/").rsplit("/", 1)[-1]


def form(token: str) -> str:
    return f"/api/v1/forms/{token}/"


def fill_all(client: APIClient, token: str, answers: dict[str, dict]) -> None:
    for code, values in answers.items():
        response = client.put(f"{form(token)}responses/{code}/", {"answers": values}, format="json")
        assert response.status_code == 200, (code, response.content)


# --- the token ---------------------------------------------------------------------------------------


def test_link_token_is_stored_only_as_its_hash(front_desk, patient, api_client):
    token = issue(front_desk, patient)
    assert len(token) >= 43  # 256 bits, URL-safe
    assert api_client.get(form(token)).status_code == 200
    fill_all(api_client, token, {"phq9": {"phq9-1": 1}})

    stored = InvitationToken.objects.get(invitation__patient=patient)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # No row of any table (invitations, tokens, the outbox, audit, sessions...) holds the token.
    found = []
    for model in apps.get_models(include_auto_created=True):
        for row in model._default_manager.values():
            if any(token in str(value) for value in row.values()):
                found.append(model._meta.label)
    assert found == []


# --- the clinic's link lifetime ----------------------------------------------------------------------


def test_link_lifetime_follows_the_clinic_setting(front_desk, patient, clinic, api_client):
    clinic.intake_link_valid_days = 3
    clinic.save()
    token = issue(front_desk, patient)
    invitation = FormInvitation.objects.get(patient=patient)
    assert invitation.expires_at == invitation.created_at + dt.timedelta(days=3)
    three_days = invitation.created_at + dt.timedelta(days=3)

    with time_machine.travel(three_days - dt.timedelta(minutes=1), tick=False):
        assert api_client.get(form(token)).status_code == 200
        fill_all(api_client, token, clean_intake())
    with time_machine.travel(three_days + dt.timedelta(minutes=1), tick=False):
        opened = api_client.get(form(token))
        assert opened.status_code == 410
        assert opened.json()["code"] == "link_expired"
        # Everything was filled in before the deadline, but the submit comes too late.
        submitted = api_client.post(f"{form(token)}submit/")
        assert submitted.status_code == 410
        assert submitted.json()["code"] == "link_expired"
    assert not Assessment.objects.exists()
    assert not QuestionnaireResponse.objects.filter(status="submitted").exists()
    assert FormInvitation.objects.get(pk=invitation.pk).submitted_at is None


def test_a_lifetime_set_through_the_clinic_api_governs_new_links_on_api_and_page(
    front_desk, patient, clinic, make_staff, client_for, api_client
):
    admin = client_for(make_staff(clinic, Role.CLINIC_ADMIN))
    changed = admin.patch(f"/api/v1/clinics/{clinic.pk}/", {"intake_link_valid_days": 2}, format="json")
    assert changed.status_code == 200, changed.content
    issued = front_desk.post(f"/api/v1/patients/{patient.pk}/intake-invitations/")
    assert issued.status_code == 201
    token = issued.json()["url"].rstrip("/").rsplit("/", 1)[-1]
    invitation = FormInvitation.objects.get(patient=patient)
    expires_at = invitation.created_at + dt.timedelta(days=2)
    assert (invitation.expires_at, issued.json()["expires_at"]) == (expires_at, api_datetime(expires_at))

    with time_machine.travel(expires_at + dt.timedelta(seconds=1), tick=False):
        refused = api_client.get(form(token))
        assert (refused.status_code, refused["Content-Type"]) == (410, "application/problem+json")
        assert refused.json()["code"] == "link_expired"
        page = Client().get(f"/forms/{token}/")
        assert page.status_code == 410
        assert "<h1>This link has expired</h1>" in page.content.decode()
        assert Client().post(f"/forms/{token}/start/").status_code == 410
    assert FormInvitation.objects.get(pk=invitation.pk).first_saved_at is None


def api_datetime(value: dt.datetime) -> str:
    from rest_framework.fields import DateTimeField

    return DateTimeField().to_representation(value)


# --- risk ----------------------------------------------------------------------------------------------


def test_submit_shows_the_clinics_own_crisis_resources(front_desk, patient, clinic, api_client):
    clinic.crisis_resources = "Call the Riverside crisis team on 202-555-0177, day or night, or go to the nearest ER."
    clinic.save()
    token = issue(front_desk, patient)
    fill_all(api_client, token, RISKY)
    body = api_client.post(f"{form(token)}submit/").json()
    assert body["risk_signalled"] is True
    assert body["crisis_resources"] == clinic.crisis_resources


def test_the_alert_a_submit_raises_is_acknowledged_by_a_clinician(
    front_desk, patient, clinic, api_client, make_staff, client_for
):
    token = issue(front_desk, patient)
    fill_all(api_client, token, RISKY)
    assert api_client.post(f"{form(token)}submit/").json()["risk_signalled"] is True
    alert = Alert.objects.get(patient=patient)
    response_id = QuestionnaireResponse.objects.get(patient=patient, questionnaire__code="phq9").pk
    assert (alert.source_type, alert.source_id) == ("questionnaire_response", str(response_id))

    nurse_member = make_staff(clinic, Role.NURSE)
    nurse = client_for(nurse_member)
    open_alerts = nurse.get("/api/v1/alerts/").json()["results"]
    assert [(a["id"], a["kind"], a["severity"], a["open"]) for a in open_alerts] == [
        (alert.pk, "suicide_risk", "critical", True)
    ]
    missing_note = nurse.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {}, format="json")
    assert missing_note.status_code == 400
    assert "note" in missing_note.json()["errors"]

    done = nurse.post(
        f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "Called the patient; safety plan agreed."}, format="json"
    )
    assert done.status_code == 200, done.content
    assert done.json()["open"] is False
    assert done.json()["acknowledged_by"] == nurse_member.user.username
    assert nurse.get("/api/v1/alerts/").json()["results"] == []
    alert.refresh_from_db()
    assert alert.acknowledged_by == nurse_member.user
    assert alert.acknowledgement_note == "Called the patient; safety plan agreed."


# PHQ-9 item 9 decides, whatever the total (CLINICAL.md): a minimal total with item 9 at 1 is a risk,
# a severe total with item 9 at 0 is not.
ITEM9_ONLY = clean_intake(phq9=phq9(0, 0, 0, 0, 0, 0, 0, 0, 1))
SEVERE_WITHOUT_ITEM9 = clean_intake(phq9=phq9(3, 3, 3, 3, 3, 3, 3, 3, 0))
CLINIC_CRISIS_TEXT = "Call the Riverside crisis team on 202-555-0177.\nOr walk in to St. Jude's ER, open all night."
CRISIS_CASES = [
    pytest.param(ITEM9_ONLY, True, id="item9-positive-minimal-total"),
    pytest.param(SEVERE_WITHOUT_ITEM9, False, id="item9-zero-severe-total"),
]


@pytest.fixture
def own_crisis_text(clinic):
    clinic.crisis_resources = CLINIC_CRISIS_TEXT
    clinic.save(update_fields=["crisis_resources"])
    return CLINIC_CRISIS_TEXT


@pytest.mark.parametrize(("answers", "risky"), CRISIS_CASES)
def test_api_submit_shows_the_clinics_crisis_text_exactly_when_item9_is_positive(
    answers, risky, own_crisis_text, front_desk, patient, api_client
):
    token = issue(front_desk, patient)
    fill_all(api_client, token, answers)
    body = api_client.post(f"{form(token)}submit/").json()
    assert (body["risk_signalled"], body["crisis_resources"]) == (risky, own_crisis_text if risky else None)
    assert Alert.objects.filter(patient=patient, kind="suicide_risk").count() == (1 if risky else 0)


@pytest.mark.parametrize(("answers", "risky"), CRISIS_CASES)
def test_done_page_shows_the_clinics_crisis_text_exactly_when_item9_is_positive(
    answers, risky, own_crisis_text, clinic, patient, make_staff
):
    from django.utils.html import escape

    from clinic.models import DEFAULT_CRISIS_RESOURCES

    actor = Actor.for_user(make_staff(clinic, Role.FRONT_DESK).user)
    issued = intake_invitation_issue(actor=actor, patient=patient)
    for code, values in answers.items():
        form_draft_save(invitation=issued.invitation, code=code, answers=values)
    browser = Client()
    assert browser.post(f"/forms/{issued.token}/start/").status_code == 303
    assert browser.post("/forms/session/submit/")["Location"] == "/forms/session/done/"
    html = browser.get("/forms/session/done/").content.decode()

    first_line, second_line = (escape(line) for line in own_crisis_text.split("\n"))
    assert (f"{first_line}<br>{second_line}" in html) is risky
    assert ('class="crisis"' in html) is risky
    assert escape(DEFAULT_CRISIS_RESOURCES[:40]) not in html  # the clinic's text replaces the default


ACK_MATRIX = [
    ("nurse", 200, None),
    ("prescriber", 200, None),
    ("front_desk", 403, "permission_denied"),
    ("clinic_admin", 403, "permission_denied"),
    ("other_nurse", 404, "not_found"),
    ("other_prescriber", 404, "not_found"),
    ("anonymous", 401, "not_authenticated"),
]


@pytest.mark.parametrize(("who", "expected", "code"), ACK_MATRIX, ids=[row[0] for row in ACK_MATRIX])
def test_the_alert_a_submit_raises_follows_the_role_matrix(
    who, expected, code, front_desk, patient, clinic, other_clinic, make_staff, client_for
):
    token = issue(front_desk, patient)
    fill_all(APIClient(), token, RISKY)
    assert APIClient().post(f"{form(token)}submit/").json()["risk_signalled"] is True
    alert = Alert.objects.get(patient=patient, kind="suicide_risk")

    member = None
    if who == "anonymous":
        client = APIClient()
    else:
        member = make_staff(other_clinic if who.startswith("other_") else clinic, who.removeprefix("other_"))
        client = client_for(member)
    assert client.get(f"/api/v1/alerts/{alert.pk}/").status_code == expected
    acknowledged = client.post(
        f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "Called the patient; safety plan agreed."}, format="json"
    )
    assert acknowledged.status_code == expected, acknowledged.content

    alert.refresh_from_db()
    updates = AuditEvent.objects.filter(object_type="alert", object_id=str(alert.pk), action="update")
    if expected == 200:
        assert (alert.is_open, alert.acknowledged_by) == (False, member.user)
        assert acknowledged.json()["open"] is False
        assert [e.actor_id for e in updates] == [member.user.pk]
    else:
        assert acknowledged.json()["code"] == code
        assert (alert.is_open, alert.acknowledged_by, alert.acknowledgement_note) == (True, None, "")
        assert not updates.exists()


# --- a response keeps its definition version -------------------------------------------------------------


def test_response_stays_on_the_version_it_answered_after_a_new_one_is_published(
    clinic, patient, make_staff, client_for, api_client
):
    v1 = QuestionnaireFactory(clinic=clinic, code="clinic-sleep", version="1", in_intake=True)
    invitation = FormInvitationFactory(clinic=clinic, patient=patient, purpose=FormInvitation.Purpose.SURVEY)
    InvitationQuestionnaireFactory(invitation=invitation, questionnaire=v1, position=0)
    token = "a-known-link-token-for-this-test-0123456789abcdef"
    InvitationTokenFactory(invitation=invitation, token=token)
    fill_all(api_client, token, {"clinic-sleep": {"sleep-hours": 6}})

    admin = client_for(make_staff(clinic, Role.CLINIC_ADMIN))
    v2_definition = {
        **CUSTOM_DEFINITION,
        "version": "2",
        "item": [{**CUSTOM_DEFINITION["item"][0], "text": "Hours of sleep on an average night this week"}],
    }
    published = admin.post("/api/v1/questionnaires/", {"definition": v2_definition, "in_intake": True}, format="json")
    assert published.status_code == 201, published.content
    v2 = Questionnaire.objects.get(pk=published.json()["id"])

    # The open link still shows, and stores against, the version it was issued with.
    shown = api_client.get(form(token)).json()["questionnaires"]
    assert [(q["code"], q["version"], q["items"][0]["text"]) for q in shown] == [
        ("clinic-sleep", "1", "Hours of sleep last night")
    ]
    assert api_client.post(f"{form(token)}submit/").status_code == 200
    response = QuestionnaireResponse.objects.get(invitation=invitation)
    assert (response.questionnaire_id, response.status, response.answers) == (v1.pk, "submitted", {"sleep-hours": 6})
    v1.refresh_from_db()
    assert v1.definition["item"][0]["text"] == "Hours of sleep last night"

    # A link issued now asks the new version.
    front_desk = client_for(make_staff(clinic, Role.FRONT_DESK))
    other = PatientFactory(clinic=clinic)
    assert front_desk.post(f"/api/v1/patients/{other.pk}/intake-invitations/").status_code == 201
    asked = FormInvitation.objects.get(patient=other).questionnaires.filter(code="clinic-sleep")
    assert [q.pk for q in asked] == [v2.pk]


# --- all or nothing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["alert_raise", "candidacy_refresh", "_assess"])
def test_submit_rolls_back_everything_when_a_later_step_fails(step, clinic, patient, make_staff, monkeypatch):
    actor = Actor.for_user(make_staff(clinic, Role.FRONT_DESK).user)
    invitation = intake_invitation_issue(actor=actor, patient=patient).invitation
    for code, answers in RISKY.items():
        form_draft_save(invitation=invitation, code=code, answers=answers)
    patient.refresh_from_db()
    status_before = patient.candidacy_status
    audit_before = AuditEvent.objects.count()

    def fail(*args, **kwargs):
        raise RuntimeError(f"{step} failed")

    monkeypatch.setattr(f"intake.services.forms.{step}", fail)
    with pytest.raises(RuntimeError, match=step):
        form_submit(invitation=invitation)

    assert FormInvitation.objects.get(pk=invitation.pk).submitted_at is None
    assert not QuestionnaireResponse.objects.filter(invitation=invitation, status="submitted").exists()
    assert not QuestionnaireResponse.objects.filter(invitation=invitation, score__isnull=False).exists()
    assert not Assessment.objects.exists()
    assert not Alert.objects.exists()
    assert Patient.objects.get(pk=patient.pk).candidacy_status == status_before == "in_progress"
    assert AuditEvent.objects.count() == audit_before

    monkeypatch.undo()
    result = form_submit(invitation=invitation)  # nothing half-done blocks a retry
    assert result.risk_signalled is True
    assert Alert.objects.filter(patient=patient).count() == 1


V2_WORDING = "Reworded for version 2: little interest or pleasure in doing things"


def publish_phq9_v2(monkeypatch) -> Questionnaire:
    """Ship a second PHQ-9 version, reworded, through the same path a release uses."""
    from django.core.management import call_command

    from intake.instruments import shipped_definitions

    definitions = shipped_definitions()
    phq9_v2 = next(d for d in definitions if d["code"] == "phq9")
    phq9_v2.update(version="2", title="PHQ-9, version 2")
    phq9_v2["item"][0]["text"] = V2_WORDING
    monkeypatch.setattr("intake.services.questionnaires.shipped_definitions", lambda: definitions)
    call_command("sync_questionnaires", stdout=StringIO())
    return Questionnaire.objects.get(clinic__isnull=True, code="phq9", version="2")


def shown_phq9(body: dict) -> tuple:
    [entry] = [q for q in body if q["code"] == "phq9"]
    return entry["version"], entry["title"], entry["items"][0]["text"]


def test_scored_responses_keep_their_version_after_a_new_one_is_published(
    front_desk, clinic, make_staff, client_for, api_client, monkeypatch
):
    v1 = Questionnaire.objects.get(clinic__isnull=True, code="phq9", version="1")
    v1_shown = ("1", v1.title, v1.items[0]["text"])
    prescriber = client_for(make_staff(clinic, Role.PRESCRIBER))

    # Submitted before the new version: total 13 with item 9 positive.
    first = PatientFactory(clinic=clinic)
    submitted_before = submit_intake(first, clean_intake(phq9=phq9(2, 2, 2, 2, 1, 1, 1, 1, 1)))
    # Opened and filled in before the new version, submitted after it: total 12.
    second = PatientFactory(clinic=clinic)
    open_token = issue(front_desk, second)
    fill_all(api_client, open_token, clean_intake())

    v2 = publish_phq9_v2(monkeypatch)

    # The old response shows the wording the patient answered, and keeps its score.
    detail = prescriber.get(f"/api/v1/assessments/{submitted_before.pk}/").json()
    assert shown_phq9(detail["responses"]) == v1_shown
    [old] = [r for r in detail["responses"] if r["code"] == "phq9"]
    assert (old["score"]["total"], old["score"]["band"], old["answers"]["phq9-9"]) == (13, "moderate", 1)
    outcomes = prescriber.get(f"/api/v1/patients/{first.pk}/outcomes/").json()["instruments"]["phq9"]
    assert outcomes["baseline"]["total"] == 13

    # The link opened before the new version still asks, stores and scores against version 1.
    assert shown_phq9(api_client.get(form(open_token)).json()["questionnaires"]) == v1_shown
    submitted = api_client.post(f"{form(open_token)}submit/")
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["risk_signalled"] is False
    response = QuestionnaireResponse.objects.get(patient=second, questionnaire__code="phq9")
    assert (response.questionnaire_id, response.total, response.score["band"]) == (v1.pk, 12, "moderate")
    later = Assessment.objects.get(patient=second)
    assert shown_phq9(prescriber.get(f"/api/v1/assessments/{later.pk}/").json()["responses"]) == v1_shown

    # A link issued now asks version 2; its answers score the same way and show the new wording.
    third = PatientFactory(clinic=clinic)
    new_token = issue(front_desk, third)
    assert shown_phq9(api_client.get(form(new_token)).json()["questionnaires"]) == ("2", "PHQ-9, version 2", V2_WORDING)
    fill_all(api_client, new_token, clean_intake(phq9=phq9(2, 2, 2, 2, 1, 1, 1, 1, 1)))
    assert api_client.post(f"{form(new_token)}submit/").json()["risk_signalled"] is True
    newest = QuestionnaireResponse.objects.get(patient=third, questionnaire__code="phq9")
    assert (newest.questionnaire_id, newest.total) == (v2.pk, 13)

    # Nothing about the earlier responses moved.
    assert QuestionnaireResponse.objects.get(patient=first, questionnaire__code="phq9").questionnaire_id == v1.pk
    v1.refresh_from_db()
    assert v1.items[0]["text"] == v1_shown[2]
