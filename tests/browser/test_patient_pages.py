"""A patient's intake and survey in a real browser on a phone-sized screen.

(a) a whole intake by clicks and keyboard, with a follow-up question appearing and disappearing
live and the repeating antidepressant-trial group; (b) leaving mid-way and resuming from the link;
(c) a risky PHQ-9 answer shows the crisis resources; (d) an expired link shows the clinic's phone;
(e) axe-core finds no serious or critical violation on the welcome, questionnaire, error, review,
confirmation and expired-link pages, and the questionnaire, error, confirmation and expired-link
pages reflow (no sideways scrolling) at 320 px and at 200 % zoom. Every page visited is saved as a
screenshot in test-artifacts/browser/.
"""

from __future__ import annotations

import datetime as dt
import os
import re

import pytest
from django.utils import timezone

from clinic.access import Actor, Role
from intake.models import Assessment, FormInvitation, QuestionnaireResponse
from intake.services.forms import form_draft_save
from intake.services.invitations import intake_invitation_issue, invitation_token_mint, set_questionnaires
from intake.services.questionnaires import SURVEY_CODES, questionnaire_set, questionnaires_sync
from tests.browser.conftest import PHONE
from tests.factories.clinic import ClinicFactory, PatientFactory, StaffMemberFactory
from tests.factories.intake import FormInvitationFactory
from tests.intake.answers import clean_intake, phq9

try:
    from playwright.sync_api import expect
except ImportError:
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("the playwright package is missing: pip install -e '.[dev]'", allow_module_level=True)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLINIC_PHONE = "(202) 555-0100"


@pytest.fixture
def clinic(transactional_db):
    questionnaires_sync()  # an earlier transactional test may have flushed the shipped definitions
    return ClinicFactory(name="Harbour Wellness")


def issue_intake(clinic) -> tuple[FormInvitation, str]:
    patient = PatientFactory(clinic=clinic)
    front_desk = StaffMemberFactory(clinic=clinic, roles=[Role.FRONT_DESK])
    issued = intake_invitation_issue(actor=Actor.for_user(front_desk.user), patient=patient)
    return issued.invitation, issued.token


def link(live_server, token: str) -> str:
    return f"{live_server.url}/forms/{token}/"


def choose(page, key: str, value: str) -> None:
    page.locator(f'input[name="{key}"][value="{value}"]').check()


def answer_all(page, keys: list[str], value: str) -> None:
    for key in keys:
        choose(page, key, value)


def sideways_scroll_at_narrow_widths(tab, name: str) -> list[tuple[int, str]]:
    """The (width, zoom) pairs at which the page scrolls sideways (WCAG 1.4.10 Reflow); then back to the phone.

    320 px is the reflow criterion's width; a 720 px window zoomed to 200 % lays out like the 360 px
    phone with every text twice as large (1.4.4 Resize text).
    """
    page = tab.page
    failures = []
    for width, zoom in ((320, "100%"), (720, "200%")):
        page.set_viewport_size({"width": width, "height": 740})
        page.evaluate(f"document.body.style.zoom = '{zoom}'")
        if not page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"):
            failures.append((width, zoom))
        if zoom != "100%":
            tab.shot(f"{name}-zoomed")
    page.evaluate("document.body.style.zoom = ''")
    page.set_viewport_size(PHONE)
    return failures


def wait_saved(page) -> None:
    expect(page.locator("#save-status")).to_contain_text("saved")


def continue_to(tab, heading: str, shot: str | None = None) -> None:
    """Press "Save and continue", wait for the next page, and keep a screenshot of it."""
    tab.page.get_by_role("button", name="Save and continue").first.click()
    tab.page.get_by_role("heading", level=1, name=heading).wait_for()
    tab.shot(shot or re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")[:40])


MEDICAL_NO = [
    "mh-aneurysm",
    "mh-avm",
    "mh-brain-bleed",
    "mh-ketamine-allergy",
    "mh-ketamine-reaction",
    "mh-psychosis",
    "mh-substance-use",
    "mh-hypertension",
    "mh-heart-disease",
    "mh-intracranial-pressure",
    "mh-breastfeeding",
]
MEDICATIONS = ["med-benzodiazepine", "med-sedative-hypnotic", "med-psychostimulant", "med-maoi", "med-opioid"]


def fill_trial(page, index: int, drug: str, weeks: str) -> None:
    prefix = f"trial.{index}."
    page.locator(f'[id="f-{prefix}trial-drug"]').fill(drug)
    choose(page, f"{prefix}trial-dose-adequate", "yes")
    page.locator(f'[id="f-{prefix}trial-weeks"]').fill(weeks)
    choose(page, f"{prefix}trial-outcome", "no_improvement")
    choose(page, f"{prefix}trial-current-episode", "true")


def test_complete_an_intake_by_clicks_and_keyboard(open_tab, live_server, clinic):
    invitation, token = issue_intake(clinic)
    tab = open_tab()
    page = tab.page

    response = page.goto(link(live_server, token))
    assert response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    page.get_by_role("heading", name="A few questions from Harbour Wellness").wait_for()
    tab.shot("welcome")
    page.get_by_role("button", name="Start").click()

    # 1. Health history: the follow-up appears live on "yes" and goes away on "no".
    page.get_by_role("heading", level=1, name="Your health history").wait_for()
    assert token not in page.url
    assert page.get_by_text("Step 1 of 7").is_visible()
    follow_up = page.locator("#q-mh-mood-stabiliser")
    assert follow_up.is_hidden()
    choose(page, "mh-bipolar", "true")
    assert follow_up.is_visible()
    tab.shot("follow-up-shown")
    choose(page, "mh-bipolar", "false")
    assert follow_up.is_hidden()
    choose(page, "mh-bipolar", "true")
    choose(page, "mh-mood-stabiliser", "true")
    answer_all(page, MEDICAL_NO, "false")
    choose(page, "mh-pregnant", "not_applicable")
    tab.shot("health-history")
    continue_to(tab, "Medicines you take now")

    # 2. Medicines, by keyboard only: Space picks the focused option, Enter presses the button.
    for key in MEDICATIONS:
        page.locator(f'[id="f-{key}-1"]').focus()
        page.keyboard.press("Space")
    assert page.locator('[id="f-med-maoi-1"]').is_checked()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused option must show a visible focus indicator"
    tab.shot("medicines")
    page.get_by_role("button", name="Save and continue").first.focus()
    page.keyboard.press("Enter")

    # 3. Antidepressants: the repeating group appears with "yes"; a server message sits beside
    # the question it concerns; "Add another entry" adds a row and puts the cursor in it.
    page.get_by_role("heading", level=1, name="Antidepressants you have tried").wait_for()
    tab.shot("antidepressants")
    assert page.locator("#q-trial").is_hidden()
    choose(page, "trials-any", "true")
    assert page.locator("#q-trial").is_visible()
    fill_trial(page, 0, "sertraline", "many")
    page.locator('[id="f-trial.0.trial-weeks"]').press("Tab")
    message = page.locator('[id="e-trial.0.trial-weeks"]')
    message.wait_for(state="visible")
    assert "Enter a whole number." in message.inner_text()
    assert page.locator('[id="f-trial.0.trial-weeks"]').get_attribute("aria-invalid") == "true"
    tab.shot("server-message")
    page.locator('[id="f-trial.0.trial-weeks"]').fill("8")
    page.locator('[id="f-trial.0.trial-weeks"]').press("Tab")
    message.wait_for(state="hidden")
    page.get_by_role("button", name="Add another entry").click()
    page.get_by_text("Entry 2", exact=True).wait_for()
    assert page.evaluate("document.activeElement.id") == "f-trial.1.trial-drug"
    fill_trial(page, 1, "bupropion", "10")
    tab.shot("trials")
    # Enter in a text field submits with "Save and continue" (not "Add another" or "Remove").
    page.locator('[id="f-trial.1.trial-weeks"]').press("Enter")

    # 4-6. The symptom questionnaires.
    page.get_by_role("heading", level=1, name="Patient Health Questionnaire-9 (PHQ-9)").wait_for()
    answer_all(page, [f"phq9-{i}" for i in range(1, 10)], "0")
    tab.shot("phq9")
    continue_to(tab, "Generalized Anxiety Disorder 7-item (GAD-7)")
    answer_all(page, [f"gad7-{i}" for i in range(1, 8)], "0")
    continue_to(tab, "PTSD Checklist for DSM-5 (PCL-5)")
    answer_all(page, [f"pcl5-{i}" for i in range(1, 21)], "0")

    # Review, change one answer, submit.
    continue_to(tab, "Check your answers", "review")
    assert page.get_by_text("sertraline").is_visible() and page.get_by_text("bupropion").is_visible()
    assert page.get_by_text("Step 7 of 7").is_visible()
    page.get_by_role("link", name="Change Do you take a mood stabilizer").click()
    page.get_by_role("heading", level=1, name="Your health history").wait_for()
    tab.shot("change-an-answer")
    choose(page, "mh-mood-stabiliser", "false")
    wait_saved(page)
    page.goto(f"{live_server.url}/forms/session/review/")
    tab.shot("review-again")
    page.get_by_role("button", name="Send my answers").click()
    page.get_by_role("heading", level=1, name="Thank you").wait_for()
    assert page.locator(".crisis").count() == 0
    tab.shot("confirmation")

    invitation.refresh_from_db()
    assert invitation.submitted_at is not None
    history = QuestionnaireResponse.objects.get(invitation=invitation, questionnaire__code="medical-history")
    assert history.answers["mh-bipolar"] is True and history.answers["mh-mood-stabiliser"] is False
    trials = QuestionnaireResponse.objects.get(invitation=invitation, questionnaire__code="antidepressant-trials")
    assert [t["trial-drug"] for t in trials.answers["trial"]] == ["sertraline", "bupropion"]
    assert Assessment.objects.filter(invitation=invitation).exists()


def test_leave_midway_and_resume_from_the_link(open_tab, live_server, clinic):
    invitation, token = issue_intake(clinic)
    tab = open_tab()
    page = tab.page
    page.goto(link(live_server, token))
    page.get_by_role("button", name="Start").click()
    page.get_by_role("heading", level=1, name="Your health history").wait_for()
    answer_all(page, MEDICAL_NO[:4], "false")
    page.locator("#f-mh-other").fill("Knee surgery in 2019")
    page.locator("#f-mh-other").press("Tab")
    wait_saved(page)
    tab.shot("before-leaving")
    page.close()

    # Another browser altogether (no cookies): the link resumes where the patient stopped.
    again = open_tab()
    page = again.page
    page.goto(link(live_server, token))
    page.get_by_text("You have already answered some of the questions").wait_for()
    again.shot("welcome-continue")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", level=1, name="Your health history").wait_for()
    assert page.locator('[id="f-mh-aneurysm-1"]').is_checked()
    assert page.locator('[id="f-mh-ketamine-allergy-1"]').is_checked()
    assert not page.locator('[id="f-mh-avm-0"]').is_checked()
    assert page.locator("#f-mh-other").input_value() == "Knee surgery in 2019"
    again.shot("resumed")

    # Continuing from an incomplete page shows the messages beside the questions, and the
    # summary at the top links to them.
    page.get_by_role("button", name="Save and continue").first.click()
    summary = page.locator(".error-summary")
    summary.wait_for()
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    assert page.locator("#e-mh-psychosis").inner_text().endswith("This question is required.")
    again.shot("errors")
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "f-mh-ketamine-reaction-0"
    again.shot("error-link-followed")
    invitation.refresh_from_db()
    assert invitation.state() == "in_progress"


def prefill(invitation: FormInvitation, answers: dict[str, dict], *, skip: tuple[str, ...] = ()) -> None:
    for code, values in answers.items():
        if code not in skip:
            form_draft_save(invitation=invitation, code=code, answers=values)


def test_a_risky_answer_shows_the_crisis_resources(open_tab, live_server, clinic):
    invitation, token = issue_intake(clinic)
    prefill(invitation, clean_intake(), skip=("phq9",))
    tab = open_tab()
    page = tab.page
    page.goto(link(live_server, token))
    tab.shot("welcome")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", level=1, name="Patient Health Questionnaire-9 (PHQ-9)").wait_for()
    assert page.get_by_text("Step 4 of 7").is_visible()
    answer_all(page, [f"phq9-{i}" for i in range(1, 9)], "1")
    choose(page, "phq9-9", "2")
    # Any answer above 0 brings the "how difficult" question, live.
    page.locator("#q-phq9-difficulty").wait_for()
    choose(page, "phq9-difficulty", "1")
    tab.shot("phq9")
    continue_to(tab, "Generalized Anxiety Disorder 7-item (GAD-7)")
    continue_to(tab, "PTSD Checklist for DSM-5 (PCL-5)")
    continue_to(tab, "Check your answers", "review")
    page.get_by_role("button", name="Send my answers").click()

    crisis = page.get_by_role("alert")
    crisis.wait_for()
    assert "988" in crisis.inner_text()
    assert CLINIC_PHONE in crisis.inner_text()
    assert page.locator(".crisis").bounding_box()["y"] < 200, "the crisis resources come first"
    tab.shot("crisis-resources")
    # A reload shows them again rather than an error.
    page.reload()
    page.get_by_role("alert").wait_for()


def test_an_expired_link_shows_the_clinic_phone(open_tab, live_server, clinic, axe_check):
    invitation, token = FormInvitationFactory.with_token(
        clinic=clinic, expires_at=timezone.now() - dt.timedelta(hours=1)
    )
    set_questionnaires(invitation, questionnaire_set(clinic_id=clinic.pk))
    # axe is injected as a script, which the pages' CSP forbids: this context bypasses CSP.
    tab = open_tab(bypass_csp=True)
    page = tab.page
    response = page.goto(link(live_server, token))
    assert response.status == 410
    page.get_by_role("heading", level=1, name="This link has expired").wait_for()
    assert CLINIC_PHONE in page.locator("main").inner_text()
    assert page.get_by_role("link", name=CLINIC_PHONE).first.get_attribute("href") == "tel:+12025550100"
    tab.shot("expired")
    assert axe_check(page) == []
    assert sideways_scroll_at_narrow_widths(tab, "expired") == []


def test_a_follow_up_survey_end_to_end(open_tab, live_server, clinic):
    invitation = FormInvitationFactory(clinic=clinic, purpose=FormInvitation.Purpose.SURVEY)
    set_questionnaires(invitation, questionnaire_set(clinic_id=clinic.pk, codes=SURVEY_CODES))
    token = invitation_token_mint(invitation)
    tab = open_tab()
    page = tab.page
    page.goto(link(live_server, token))
    tab.shot("welcome")
    page.get_by_role("button", name="Start").click()
    page.get_by_role("heading", level=1, name="Patient Health Questionnaire-9 (PHQ-9)").wait_for()
    assert page.get_by_text(f"Step 1 of {len(SURVEY_CODES) + 1}").is_visible()
    answer_all(page, [f"phq9-{i}" for i in range(1, 10)], "0")
    tab.shot("phq9")
    continue_to(tab, "Generalized Anxiety Disorder 7-item (GAD-7)")
    answer_all(page, [f"gad7-{i}" for i in range(1, 8)], "1")
    continue_to(tab, "Check your answers", "review")
    page.get_by_role("button", name="Send my answers").click()
    page.get_by_role("heading", level=1, name="Thank you").wait_for()
    tab.shot("survey-done")
    invitation.refresh_from_db()
    assert invitation.submitted_at is not None


def test_no_serious_accessibility_violations(open_tab, live_server, clinic, axe_check):
    invitation, token = issue_intake(clinic)
    prefill(invitation, clean_intake(phq9=phq9(1, 1, 1, 1, 1, 1, 1, 1, 1)))
    # axe is injected as a script, which the pages' CSP forbids: this context bypasses CSP.
    tab = open_tab(bypass_csp=True)
    page = tab.page
    found = {}

    page.goto(link(live_server, token))
    tab.shot("welcome")
    found["welcome"] = axe_check(page)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", level=1, name="Check your answers").wait_for()
    tab.shot("review")
    found["review"] = axe_check(page)

    page.goto(f"{live_server.url}/forms/session/step/3/")
    tab.shot("questionnaire")
    found["questionnaire"] = axe_check(page)
    # Reflow on a questionnaire page with a repeating group (the widest content), with and without
    # its error messages.
    reflow = {"questionnaire": sideways_scroll_at_narrow_widths(tab, "questionnaire")}
    page.locator('[id="f-trial.0.trial-weeks"]').fill("")
    page.get_by_role("button", name="Save and continue").first.click()
    page.locator(".error-summary").wait_for()
    tab.shot("questionnaire-errors")
    found["questionnaire with errors"] = axe_check(page)
    reflow["questionnaire with errors"] = sideways_scroll_at_narrow_widths(tab, "questionnaire-errors")
    page.goto(f"{live_server.url}/forms/session/step/4/")  # the PHQ-9: long option labels in a row
    reflow["phq9"] = sideways_scroll_at_narrow_widths(tab, "phq9")
    page.goto(f"{live_server.url}/forms/session/step/3/")
    page.locator('[id="f-trial.0.trial-weeks"]').fill("8")
    page.get_by_role("button", name="Save and continue").first.click()
    page.get_by_role("heading", level=1, name="Patient Health Questionnaire-9 (PHQ-9)").wait_for()

    page.goto(f"{live_server.url}/forms/session/review/")
    page.get_by_role("button", name="Send my answers").click()
    page.get_by_role("alert").wait_for()
    tab.shot("confirmation")
    found["confirmation"] = axe_check(page)
    reflow["confirmation"] = sideways_scroll_at_narrow_widths(tab, "confirmation")

    assert not any(found.values()), found
    assert not any(reflow.values()), reflow
