"""The patient's HTML pages for a link, through Django's test client.

Every state of a link, the headers, CSRF, prefetch safety, the token never leaving the welcome
URL, enableWhen decided on the server, messages beside their question, resume, review, the risk
page, the problem pages, and one patient's session never showing another's answers.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.html import escape

from clinic.access import Actor, Role
from clinic.logfilters import LinkTokenRedactionFilter, redact_link_tokens
from clinic.models import Alert, AuditEvent
from intake.models import FormInvitation, QuestionnaireResponse
from intake.pages import questions
from intake.services.forms import form_draft_save
from intake.services.invitations import (
    intake_invitation_issue,
    invitation_revoke,
    invitation_token_mint,
    set_questionnaires,
)
from intake.services.questionnaires import SURVEY_CODES, questionnaire_set
from tests.factories.clinic import PatientFactory, StaffMemberFactory
from tests.factories.intake import FormInvitationFactory, QuestionnaireFactory
from tests.intake.answers import MEDICAL_HISTORY_CLEAR, MEDICATIONS_NONE, clean_intake, phq9
from tests.intake.flows import submit_intake

SESSION_STEP = "/forms/session/step/{}/"
REVIEW = "/forms/session/review/"
DONE = "/forms/session/done/"
MISSING = "/forms/session/open-your-link/"
# Words that must not appear in the page chrome (phones are read by others).
INDISCREET = re.compile(r"ketamine|esketamine|spravato|depress|diagnos|infusion|treatment|psychiatr", re.I)


@pytest.fixture
def front_desk(clinic):
    return Actor.for_user(StaffMemberFactory(clinic=clinic, roles=[Role.FRONT_DESK]).user)


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic)


@pytest.fixture
def issued(front_desk, patient):
    return intake_invitation_issue(actor=front_desk, patient=patient)


@pytest.fixture
def token(issued) -> str:
    return issued.token


@pytest.fixture
def invitation(issued) -> FormInvitation:
    return issued.invitation


def welcome_url(token: str) -> str:
    return f"/forms/{token}/"


def start(client: Client, token: str):
    response = client.post(f"/forms/{token}/start/")
    assert response.status_code == 303, response.content
    return response


def text(response) -> str:
    return response.content.decode()


def as_form(answers: dict) -> dict[str, str | list[str]]:
    """Answers as an HTML form would post them."""
    data: dict[str, str | list[str]] = {}
    for key, value in answers.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for index, row in enumerate(value):
                data[f"_row.{key}"] = [*data.get(f"_row.{key}", []), str(index)]
                for child, child_value in row.items():
                    data[f"{key}.{index}.{child}"] = questions._to_strings(child_value)
        else:
            data[key] = questions._to_strings(value)
    return data


def shown(client: Client, number: int) -> str:
    """The page's own list of the questions it shows (what forms.js keeps up to date)."""
    return re.search(r'name="_shown" value="([^"]*)"', text(client.get(SESSION_STEP.format(number)))).group(1)


def post_step(client: Client, number: int, answers: dict, *, action: str = "continue", shown_keys: str | None = None):
    data = {**as_form(answers), "action": action}
    data["_shown"] = shown_keys if shown_keys is not None else shown(client, number)
    return client.post(SESSION_STEP.format(number), data)


def saved(invitation: FormInvitation, code: str) -> dict:
    response = QuestionnaireResponse.objects.filter(invitation=invitation, questionnaire__code=code).first()
    return response.answers if response else {}


def fill_all(invitation: FormInvitation, answers: dict[str, dict] | None = None) -> None:
    for code, values in (answers or clean_intake()).items():
        form_draft_save(invitation=invitation, code=code, answers=values)


def container(html: str, key: str) -> str:
    """The opening tag of a question's container."""
    return re.search(rf'<[a-z]+ [^>]*id="q-{re.escape(key)}"[^>]*>', html).group(0)


# --- the welcome page and redeeming the link ------------------------------------------------------


def test_welcome_names_the_clinic_and_changes_nothing(client, token, invitation, clinic, patient):
    audits = AuditEvent.objects.count()
    response = client.get(welcome_url(token))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = text(response)
    assert f"A few questions from {clinic.name}" in html
    assert "a few questions" in html
    assert patient.first_name not in html and patient.last_name not in html
    assert not INDISCREET.search(html)
    assert f'action="/forms/{token}/start/"' in html and 'method="post"' in html
    assert "Start" in html and "Continue" not in html
    # A mail scanner's prefetch (GET or HEAD) redeems nothing and starts no session.
    assert client.head(welcome_url(token)).status_code == 200
    invitation.refresh_from_db()
    assert invitation.state() == "open" and invitation.first_saved_at is None
    assert AuditEvent.objects.count() == audits
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert client.get(SESSION_STEP.format(1)).status_code == 303


def test_start_needs_a_post(client, token):
    assert client.get(f"/forms/{token}/start/").status_code == 405


def test_start_redeems_into_a_fresh_session_and_drops_the_token(client, token, invitation, user):
    client.force_login(user)  # e.g. a staff login in the same browser
    before = client.session.session_key
    response = start(client, token)
    assert response["Location"] == SESSION_STEP.format(1)
    assert token not in response["Location"]
    session = client.session
    assert session.session_key != before
    assert "_auth_user_id" not in session, "a patient session carries nothing of an earlier login"
    assert session["patient_form"] == {"invitation": invitation.pk}
    page = client.get(response["Location"])
    assert page.status_code == 200 and token not in text(page)
    assert AuditEvent.objects.filter(
        object_type="form_invitation", object_id=str(invitation.pk), action=AuditEvent.Action.READ
    ).exists()


def test_every_page_sends_the_privacy_headers(client, token, invitation):
    pages = [client.get(welcome_url(token)), client.get("/forms/not-a-real-token/"), client.get(MISSING)]
    start(client, token)
    pages += [client.get(SESSION_STEP.format(1)), client.get(REVIEW)]
    pages.append(client.post(SESSION_STEP.format(1) + "autosave/", {}))
    fill_all(invitation)
    client.post("/forms/session/submit/")
    pages.append(client.get(DONE))
    pages.append(client.get(welcome_url(token)))  # now 409
    for response in pages:
        assert response["Referrer-Policy"] == "no-referrer"
        assert response["X-Robots-Tag"] == "noindex, nofollow"
        assert response["Cache-Control"] == "no-store"
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        if response["Content-Type"].startswith("text/html"):
            html = text(response)
            assert '<meta name="robots" content="noindex, nofollow">' in html
            # No third-party request: every src and href is on this site (or a tel: link).
            assert not re.search(r'(?:src|href|action)="(?:https?:)?//', html)
            assert "<script>" not in html and " style=" not in html and "onclick=" not in html


def test_the_token_appears_in_no_redirect(client, token, invitation):
    locations = [start(client, token)["Location"]]
    locations.append(client.get("/forms/session/").get("Location"))
    locations.append(post_step(client, 1, MEDICAL_HISTORY_CLEAR)["Location"])
    fill_all(invitation)
    locations.append(client.post("/forms/session/submit/")["Location"])
    locations.append(client.get(SESSION_STEP.format(1))["Location"])
    assert all(loc and token not in loc for loc in locations), locations
    assert locations[-1] == DONE


# --- CSRF -----------------------------------------------------------------------------------------


def test_every_form_is_csrf_protected(token, invitation):
    client = Client(enforce_csrf_checks=True)
    html = text(client.get(welcome_url(token)))
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    refused = client.post(f"/forms/{token}/start/")
    assert refused.status_code == 403
    assert "This page has expired" in text(refused) and refused["Referrer-Policy"] == "no-referrer"
    assert (
        client.post(
            f"/forms/{token}/start/", {"csrfmiddlewaretoken": csrf}, HTTP_ORIGIN="https://evil.example"
        ).status_code
        == 403
    )
    # Under Referrer-Policy: no-referrer browsers send "Origin: null": accepted only from this origin.
    assert client.post(f"/forms/{token}/start/", {"csrfmiddlewaretoken": csrf}, HTTP_ORIGIN="null").status_code == 403
    assert (
        client.post(
            f"/forms/{token}/start/",
            {"csrfmiddlewaretoken": csrf},
            HTTP_ORIGIN="null",
            HTTP_SEC_FETCH_SITE="cross-site",
        ).status_code
        == 403
    )
    started = client.post(
        f"/forms/{token}/start/", {"csrfmiddlewaretoken": csrf}, HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="same-origin"
    )
    assert started.status_code == 303

    # The session pages' forms: a missing token is refused, the page's own token accepted.
    step = text(client.get(started["Location"]))
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', step).group(1)
    for url in (SESSION_STEP.format(1), SESSION_STEP.format(1) + "autosave/", "/forms/session/submit/"):
        assert client.post(url, {"mh-aneurysm": "false"}).status_code == 403, url
    assert saved(invitation, "medical-history") == {}
    ok = client.post(
        SESSION_STEP.format(1) + "autosave/",
        {"csrfmiddlewaretoken": csrf, "mh-aneurysm": "false"},
        HTTP_ACCEPT="application/json",
    )
    assert ok.status_code == 200
    assert saved(invitation, "medical-history") == {"mh-aneurysm": False}


def test_over_https_a_same_origin_post_without_referer_is_accepted(token):
    client = Client(enforce_csrf_checks=True)
    html = text(client.get(welcome_url(token), secure=True))
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    data = {"csrfmiddlewaretoken": csrf}
    assert client.post(f"/forms/{token}/start/", data, secure=True).status_code == 403  # no Referer, no signal
    response = client.post(f"/forms/{token}/start/", data, secure=True, HTTP_SEC_FETCH_SITE="same-origin")
    assert response.status_code == 303


# --- session pages --------------------------------------------------------------------------------


def test_a_page_reached_without_the_session_explains_how_to_get_back(client):
    for url in (SESSION_STEP.format(1), REVIEW, DONE, "/forms/session/"):
        response = client.get(url)
        assert response.status_code == 303 and response["Location"] == MISSING
    page = client.get(MISSING)
    assert page.status_code == 200 and "Please open your link again" in text(page)
    autosave = client.post(SESSION_STEP.format(1) + "autosave/", {}, HTTP_ACCEPT="application/json")
    assert autosave.status_code == 403 and autosave.json()["location"] == MISSING


def test_enable_when_is_decided_on_the_server(client, token, invitation):
    start(client, token)
    html = text(client.get(SESSION_STEP.format(1)))
    assert " hidden" in container(html, "mh-mood-stabiliser")
    assert "data-enable-when=" in container(html, "mh-mood-stabiliser")

    # "Yes" without JavaScript: the follow-up now shows, with its message, and the page stays.
    response = post_step(client, 1, {**MEDICAL_HISTORY_CLEAR, "mh-bipolar": True})
    assert response.status_code == 200
    html = text(response)
    assert " hidden" not in container(html, "mh-mood-stabiliser")
    assert 'aria-describedby="e-mh-mood-stabiliser"' in container(html, "mh-mood-stabiliser")
    assert re.search(r'id="e-mh-mood-stabiliser">.*?This question is required\.', html)

    # An answer to a question that "no" hides is dropped by the service, not stored.
    post_step(client, 1, {**MEDICAL_HISTORY_CLEAR, "mh-bipolar": False, "mh-mood-stabiliser": True})
    assert "mh-mood-stabiliser" not in saved(invitation, "medical-history")
    html = text(client.get(SESSION_STEP.format(1)))
    assert " hidden" in container(html, "mh-mood-stabiliser")


def test_a_follow_up_that_appeared_is_shown_before_moving_on(client, token, invitation):
    start(client, token)
    before = shown(client, 1)
    answers = {**MEDICAL_HISTORY_CLEAR, "mh-ketamine-reaction": True}
    stay = post_step(client, 1, answers, shown_keys=before)
    assert stay.status_code == 200
    assert "More questions appeared" in text(stay)
    assert " hidden" not in container(text(stay), "mh-ketamine-reaction-details")
    moved = post_step(client, 1, answers, shown_keys=f"{before} mh-ketamine-reaction-details")
    assert moved.status_code == 303 and moved["Location"] == SESSION_STEP.format(2)


def test_messages_sit_beside_their_question_and_the_rest_is_saved(client, token, invitation):
    start(client, token)
    answers = {
        "trials-any": True,
        "trial": [{"trial-drug": "sertraline", "trial-dose-adequate": "yes", "trial-weeks": "a few"}],
    }
    response = post_step(client, 3, answers, action="continue")
    assert response.status_code == 200
    html = text(response)
    assert '<div class="error-summary" role="alert"' in html
    assert 'href="#f-trial.0.trial-weeks"' in html
    field = re.search(r'<input id="f-trial\.0\.trial-weeks"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in field
    assert 'aria-describedby="h-trial.0.trial-weeks e-trial.0.trial-weeks"' in field
    assert 'value="a few"' in field, "what the patient typed is shown back"
    assert re.search(r'id="e-trial\.0\.trial-weeks">.*?Enter a whole number\.', html)
    assert html.index('id="e-trial.0.trial-weeks"') < html.index('id="f-trial.0.trial-weeks"')
    assert saved(invitation, "antidepressant-trials") == {
        "trials-any": True,
        "trial": [{"trial-drug": "sertraline", "trial-dose-adequate": "yes"}],
    }


def test_autosave_answers_with_json(client, token, invitation):
    start(client, token)
    url = SESSION_STEP.format(1) + "autosave/"
    ok = client.post(url, as_form({"mh-aneurysm": False, "mh-bipolar": False}), HTTP_ACCEPT="application/json")
    assert ok.status_code == 200
    assert ok.json() == {"saved": True, "errors": {}, "cleared": []}
    assert saved(invitation, "medical-history") == {"mh-aneurysm": False, "mh-bipolar": False}
    invitation.refresh_from_db()
    assert invitation.state() == "in_progress"

    cleared = client.post(url, as_form({"mh-bipolar": False, "mh-mood-stabiliser": True}))
    assert cleared.json()["cleared"] == ["mh-mood-stabiliser"]
    bad = client.post(url, {"mh-aneurysm": "perhaps", "mh-psychosis": "false"})
    assert bad.json() == {"saved": True, "errors": {"mh-aneurysm": ["Answer yes or no."]}, "cleared": []}
    assert saved(invitation, "medical-history") == {"mh-psychosis": False}


def test_rows_are_added_and_removed_without_javascript(client, token, invitation):
    start(client, token)
    first = {"trial-drug": "sertraline", "trial-dose-adequate": "yes", "trial-weeks": 8}
    added = post_step(client, 3, {"trials-any": True, "trial": [first]}, action="add:trial")
    assert added.status_code == 200
    html = text(added)
    assert "Entry 2" in html
    assert re.search(r'<input id="f-trial\.1\.trial-drug"[^>]*autofocus', html)
    # The first button of the form (the one Enter presses) is "Save and continue".
    form = html[html.index('<form method="post" action="/forms/session/step/3/"') :]
    assert re.search(r'<button type="submit"[^>]*>', form).group(0).count('value="continue"') == 1

    second = {"trial-drug": "bupropion", "trial-dose-adequate": "no"}
    post_step(client, 3, {"trials-any": True, "trial": [first, second]}, action="save")
    assert [t["trial-drug"] for t in saved(invitation, "antidepressant-trials")["trial"]] == ["sertraline", "bupropion"]
    removed = post_step(client, 3, {"trials-any": True, "trial": [first, second]}, action="remove:trial:0")
    assert removed.status_code == 200
    assert "Entry 2" not in text(removed)
    assert re.search(r'id="add-trial"[^>]*autofocus', text(removed))
    assert saved(invitation, "antidepressant-trials")["trial"] == [second]


def test_resume_goes_to_the_first_unfinished_questionnaire(client, token, invitation):
    answers = clean_intake()
    form_draft_save(invitation=invitation, code="medical-history", answers=answers["medical-history"])
    form_draft_save(invitation=invitation, code="current-medications", answers=answers["current-medications"])
    form_draft_save(invitation=invitation, code="phq9", answers={"phq9-1": 1})
    welcome = text(client.get(welcome_url(token)))
    assert "Continue" in welcome and "continue where you left off" in welcome
    assert start(client, token)["Location"] == SESSION_STEP.format(3)
    # Back on the phq9 page the saved answer is there.
    html = text(client.get(SESSION_STEP.format(4)))
    assert re.search(r'<input type="radio" id="f-phq9-1-1" name="phq9-1" value="1" data-json="1" checked', html)
    assert "Step 4 of 7" in html


def test_pre_filled_answers_must_be_confirmed(client, clinic, patient, front_desk):
    submit_intake(patient)
    issued = intake_invitation_issue(actor=front_desk, patient=patient)
    assert "filled in from your last visit" in text(client.get(welcome_url(issued.token)))
    assert start(client, issued.token)["Location"] == SESSION_STEP.format(1)
    html = text(client.get(SESSION_STEP.format(1)))
    assert "We filled in your answers from your last visit" in html
    assert 'id="f-mh-aneurysm-1" name="mh-aneurysm" value="false" data-json="false" checked' in html

    review = text(client.get(REVIEW))
    assert "Please check these answers from your last visit" in review
    fill_all(issued.invitation, {k: v for k, v in clean_intake().items() if k in ("phq9", "gad7", "pcl5")})
    refused = client.post("/forms/session/submit/")
    assert refused.status_code == 200 and "Some answers are missing or need a change" in text(refused)

    for number in (1, 2, 3):  # "Save and continue" on each confirms it
        assert post_step(client, number, _current(client, number)).status_code == 303
    assert not QuestionnaireResponse.objects.filter(invitation=issued.invitation, prefilled=True).exists()
    assert client.post("/forms/session/submit/")["Location"] == DONE


def _current(client: Client, number: int) -> dict:
    """What the page shows now, as answers (for re-posting a pre-filled page unchanged)."""
    html = text(client.get(SESSION_STEP.format(number)))
    answers: dict = {}
    for name, value in re.findall(r'<input type="radio" id="[^"]+" name="([^"]+)" value="([^"]*)"[^>]*checked', html):
        answers[name] = {"true": True, "false": False}.get(value, value)
    for name, value in re.findall(r'<input id="[^"]+" name="([^"]+)" type="text" value="([^"]*)"', html):
        if value:
            answers[name] = value
    rows: dict = {}
    for key in list(answers):
        if "." in key:
            group, index, child = key.split(".")
            rows.setdefault(group, {}).setdefault(int(index), {})[child] = answers.pop(key)
    for group, by_index in rows.items():
        answers[group] = [by_index[i] for i in sorted(by_index)]
    return answers


def test_review_lists_the_answers_then_submit_thanks_the_patient(client, token, invitation):
    fill_all(invitation)
    start(client, token)
    review = client.get(REVIEW)
    html = text(review)
    assert "Check your answers" in html and "Step 7 of 7" in html
    assert "sertraline" in html and "bupropion" in html
    assert html.count("Complete") >= 6
    assert 'href="/forms/session/step/3/#q-trial"' in html
    submitted = client.post("/forms/session/submit/")
    assert submitted.status_code == 303 and submitted["Location"] == DONE
    done = client.get(DONE)
    assert done.status_code == 200 and "Thank you" in text(done) and 'role="alert"' not in text(done)
    invitation.refresh_from_db()
    assert invitation.submitted_at is not None
    # Reload, back button, second click: the confirmation again, never an error.
    assert client.post("/forms/session/submit/")["Location"] == DONE
    assert client.get(SESSION_STEP.format(2))["Location"] == DONE


def test_submitting_with_answers_missing_points_to_them(client, token, invitation):
    fill_all(invitation, {k: v for k, v in clean_intake().items() if k != "gad7"})
    start(client, token)
    response = client.post("/forms/session/submit/")
    assert response.status_code == 200
    html = text(response)
    assert "Some answers are missing or need a change" in html
    assert 'href="/forms/session/step/5/?check=1"' in html
    invitation.refresh_from_db()
    assert invitation.submitted_at is None
    fix = text(client.get("/forms/session/step/5/?check=1"))
    assert re.search(r'id="e-gad7-1">.*?This question is required\.', fix)


def test_a_risky_answer_shows_the_crisis_resources_at_the_top(client, token, invitation, clinic):
    fill_all(invitation, clean_intake(phq9=phq9(1, 1, 1, 1, 1, 1, 1, 1, 2)))
    other_tab = Client()
    start(client, token)
    start(other_tab, token)
    client.post("/forms/session/submit/")
    html = text(client.get(DONE))
    main = html[html.index("<main") :]
    assert main.index('role="alert"') < main.index("Thank you")
    assert escape(clinic.crisis_resources.split(".")[0]) in html
    assert 'href="tel:+12025550100"' in main
    assert Alert.objects.filter(kind=Alert.Kind.SUICIDE_RISK, patient=invitation.patient).exists()
    # A second tab that did not see the submit's result still shows them.
    assert other_tab.post("/forms/session/submit/")["Location"] == DONE
    assert 'role="alert"' in text(other_tab.get(DONE))


# --- links that can no longer be used -------------------------------------------------------------


def _assert_problem(response, status: int, heading: str, *, clinic=None) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    html = text(response)
    assert f"<h1>{heading}</h1>" in html
    assert "Traceback" not in html
    if clinic is not None:
        assert clinic.name in html and "(202) 555-0100" in html
    else:
        assert "tel:" not in html


def test_expired_revoked_used_and_unknown_links(client, clinic, patient, front_desk, invitation, token):
    _assert_problem(client.get("/forms/no-such-token/"), 404, "This link does not work")
    _assert_problem(client.post("/forms/no-such-token/start/"), 404, "This link does not work")

    _, expired_token = FormInvitationFactory.with_token(
        clinic=clinic, patient=patient, expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    _assert_problem(client.get(welcome_url(expired_token)), 410, "This link has expired", clinic=clinic)
    _assert_problem(client.post(f"/forms/{expired_token}/start/"), 410, "This link has expired", clinic=clinic)

    invitation_revoke(actor=front_desk, invitation=invitation)
    _assert_problem(client.get(welcome_url(token)), 410, "This link is no longer active", clinic=clinic)

    used = intake_invitation_issue(actor=front_desk, patient=patient)
    fill_all(used.invitation)
    start(client, used.token)
    client.post("/forms/session/submit/")
    fresh = Client()
    _assert_problem(fresh.get(welcome_url(used.token)), 409, "Your answers have already been sent", clinic=clinic)
    for response in (client.get(welcome_url(token)), fresh.get(welcome_url(used.token))):
        assert not INDISCREET.search(text(response))


def test_a_link_that_expires_mid_way(client, token, invitation, clinic):
    start(client, token)
    FormInvitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    _assert_problem(client.get(SESSION_STEP.format(1)), 410, "This link has expired", clinic=clinic)
    _assert_problem(post_step(client, 1, {}, shown_keys=""), 410, "This link has expired", clinic=clinic)
    autosave = client.post(SESSION_STEP.format(1) + "autosave/", {"mh-aneurysm": "false"})
    assert autosave.status_code == 409 and autosave.json()["location"] == "/forms/session/"


def test_a_session_shows_only_its_own_patients_answers(clinic, front_desk):
    alice, bob = PatientFactory(clinic=clinic), PatientFactory(clinic=clinic)
    link_a = intake_invitation_issue(actor=front_desk, patient=alice)
    link_b = intake_invitation_issue(actor=front_desk, patient=bob)
    form_draft_save(invitation=link_a.invitation, code="medical-history", answers={"mh-other": "Alpha knee note"})
    form_draft_save(invitation=link_b.invitation, code="medical-history", answers={"mh-other": "Bravo hip note"})

    a, b = Client(), Client()
    start(a, link_a.token)
    start(b, link_b.token)
    for url in (SESSION_STEP.format(1), REVIEW):
        assert "Alpha knee note" in text(a.get(url)) and "Bravo hip note" not in text(a.get(url))
        assert "Bravo hip note" in text(b.get(url)) and "Alpha knee note" not in text(b.get(url))
    # B's session saves only to B's invitation, whatever it posts.
    b.post(SESSION_STEP.format(1) + "autosave/", {"mh-other": "Changed by B"})
    assert saved(link_a.invitation, "medical-history") == {"mh-other": "Alpha knee note"}
    # Another patient's session cookie value is the only way in; a new link replaces the old one.
    start(a, link_b.token)
    assert "Alpha knee note" not in text(a.get(SESSION_STEP.format(1)))


def test_too_many_link_requests_are_throttled(client, token):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "patient_link": "3/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        statuses = [client.get(f"/forms/guess-{i}/").status_code for i in range(3)]
        throttled = client.get(welcome_url(token))
    assert statuses == [404, 404, 404]
    _assert_problem(throttled, 429, "Please wait a moment")


def test_with_the_cache_down_the_pages_still_work(client, token, caplog):
    """The throttle's Redis is unreachable: the link opens anyway, with a warning that names no token."""
    closed_port = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    with override_settings(CACHES=closed_port), caplog.at_level(logging.WARNING, logger="intake.pages.security"):
        welcome = client.get(welcome_url(token))
        started = client.post(f"/forms/{token}/start/")
        step = client.get(SESSION_STEP.format(1))
    assert welcome.status_code == 200 and "A few questions from" in text(welcome)
    assert started.status_code == 303 and started["Location"] == SESSION_STEP.format(1)
    assert step.status_code == 200 and "Save and continue" in text(step)
    warnings = [r for r in caplog.records if r.getMessage() == "form_page.throttle_unavailable"]
    assert len(warnings) == 2  # the welcome page and the start, the two requests that carry the token
    assert warnings[0].levelno == logging.WARNING and warnings[0].error == "ConnectionError"
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert token not in logged and "/forms/" not in logged


# --- surveys and a clinic's own questionnaires ----------------------------------------------------


def test_a_follow_up_survey(client, clinic, patient):
    invitation = FormInvitationFactory(clinic=clinic, patient=patient, purpose=FormInvitation.Purpose.SURVEY)
    set_questionnaires(invitation, questionnaire_set(clinic_id=clinic.pk, codes=SURVEY_CODES))
    token = invitation_token_mint(invitation)
    assert "There are 2 short sections" in text(client.get(welcome_url(token)))
    start(client, token)
    assert post_step(client, 1, phq9())["Location"] == SESSION_STEP.format(2)
    assert post_step(client, 2, {f"gad7-{i}": 0 for i in range(1, 8)})["Location"] == REVIEW
    assert client.post("/forms/session/submit/")["Location"] == DONE
    invitation.refresh_from_db()
    assert invitation.submitted_at is not None


CLINIC_DEFINITION = {
    "code": "clinic-wellbeing",
    "version": "1",
    "title": "About this week",
    "kind": "custom",
    "scoring": None,
    "item": [
        {"linkId": "intro", "type": "display", "text": "A few questions about your week."},
        {
            "linkId": "sleep",
            "type": "group",
            "text": "Sleep",
            "item": [
                {"linkId": "hours", "type": "decimal", "text": "Hours of sleep", "required": True, "maxValue": 24},
                {
                    "linkId": "naps",
                    "type": "integer",
                    "text": "Naps this week",
                    "enableWhen": [{"question": "hours", "operator": "<", "answer": 6}],
                },
            ],
        },
        {
            "linkId": "activities",
            "type": "choice",
            "repeats": True,
            "text": "What did you do?",
            "answerOption": [
                {"value": "walk", "display": "A walk"},
                {"value": "swim", "display": "A swim"},
                {"value": 3, "display": "Something else"},
            ],
        },
        {"linkId": "when", "type": "date", "text": "When did you last feel rested?"},
        {"linkId": "notes", "type": "text", "text": "Anything else?", "help": "Optional notes."},
    ],
}


def test_a_clinics_own_questionnaire_renders_and_saves(client, clinic, patient):
    questionnaire = QuestionnaireFactory(clinic=clinic, code="clinic-wellbeing", definition=CLINIC_DEFINITION)
    invitation = FormInvitationFactory(clinic=clinic, patient=patient, purpose=FormInvitation.Purpose.SURVEY)
    set_questionnaires(invitation, [questionnaire])
    token = invitation_token_mint(invitation)
    start(client, token)
    html = text(client.get(SESSION_STEP.format(1)))
    assert "A few questions about your week." in html
    assert '<h2 id="q-sleep-title">Sleep</h2>' in html
    assert '<label class="question-text" for="f-hours">Hours of sleep</label>' in html
    assert 'inputmode="decimal"' in html
    assert re.search(r'<fieldset class="question" id="q-activities"[^>]*>\s*<legend', html)
    assert 'type="checkbox" id="f-activities-2" name="activities" value="3" data-json="3"' in html
    assert '<input id="f-when" name="when" type="date"' in html
    assert " hidden" in container(html, "naps")

    answers = {"hours": "5.5", "naps": "2", "activities": ["swim", "3"], "when": "2026-03-01", "notes": "ok"}
    response = client.post(
        SESSION_STEP.format(1), {**answers, "action": "continue", "_shown": "hours activities when notes"}
    )
    assert response.status_code == 200 and "More questions appeared" in text(response)  # naps
    assert saved(invitation, "clinic-wellbeing") == {
        "hours": 5.5,
        "naps": 2,
        "activities": ["swim", 3],
        "when": "2026-03-01",
        "notes": "ok",
    }
    shown_keys = "hours naps activities when notes"
    response = client.post(
        SESSION_STEP.format(1), {**answers, "hours": "30", "action": "continue", "_shown": shown_keys}
    )
    assert re.search(r'id="e-hours">.*?Must be at most 24\.', text(response))
    # The refused value is not kept (the page showed it back with its message); the rest is.
    review = text(client.get(REVIEW))
    assert "A swim, Something else" in review and "March 1, 2026" in review
    assert re.search(r"<dt>Hours of sleep</dt>\s*<dd>\s*<span class=\"unanswered\">Not answered", review)


# --- pieces ---------------------------------------------------------------------------------------


def test_posted_strings_become_the_engines_types_or_pass_through():
    definition = {
        "item": [
            {"linkId": "b", "type": "boolean", "text": "b"},
            {"linkId": "i", "type": "integer", "text": "i"},
            {"linkId": "d", "type": "decimal", "text": "d"},
            {"linkId": "c", "type": "choice", "text": "c", "answerOption": [{"value": 1, "display": "one"}]},
        ]
    }
    coerce = questions.answers_from_state
    assert coerce(definition, {"b": ["true"], "i": ["-3"], "d": ["2"], "c": ["1"]}) == {
        "b": True,
        "i": -3,
        "d": 2,
        "c": 1,
    }
    # Anything else goes to the engine unchanged, so its own message explains the problem.
    assert coerce(definition, {"b": ["maybe"], "i": ["1_000"], "d": ["nan"], "c": ["2"]}) == {
        "b": "maybe",
        "i": "1_000",
        "d": "nan",
        "c": "2",
    }


# --- the token never reaches the logs --------------------------------------------------------------


def test_link_tokens_are_redacted_from_log_paths():
    assert redact_link_tokens('"GET /forms/Abc-12_x/ HTTP/1.1" 200 512') == '"GET /forms/[link]/ HTTP/1.1" 200 512'
    assert redact_link_tokens("Not Found: /api/v1/forms/Abc-12_x/submit/") == "Not Found: /api/v1/forms/[link]/submit/"
    assert redact_link_tokens("https://clinic.example/forms/Abc?x") == "https://clinic.example/forms/[link]?x"
    for untouched in ("/forms/session/step/2/", "/static/forms/forms.css", "/forms/session/"):
        assert redact_link_tokens(untouched) == untouched


@pytest.mark.parametrize("logger_name", ["django.server", "django.request", "gunicorn.access"])
def test_the_loggers_that_print_paths_redact_tokens(logger_name, token):
    logger = logging.getLogger(logger_name)
    assert any(isinstance(f, LinkTokenRedactionFilter) for f in logger.filters)
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(self.format(record))

    handler = Keep()
    logger.addHandler(handler)
    try:
        if logger_name == "gunicorn.access":  # gunicorn passes its atoms as a dict
            logger.error('%(h)s "%(r)s" %(s)s', {"h": "10.0.0.1", "r": f"GET /forms/{token}/ HTTP/1.1", "s": "200"})
        else:
            logger.error('"%s" %s', f"POST /forms/{token}/start/ HTTP/1.1", 303)
    finally:
        logger.removeHandler(handler)
    assert seen and token not in seen[0] and "/forms/[link]/" in seen[0]


def test_the_console_handler_redacts_tokens_from_any_logger(token):
    console = logging.getLogger().handlers
    filters = [f for h in console for f in h.filters if isinstance(f, LinkTokenRedactionFilter)]
    assert filters, "the root console handler carries the redaction filter"
    record = logging.makeLogRecord({"msg": "Forbidden (CSRF): %s", "args": (f"/forms/{token}/start/",)})
    filters[0].filter(record)
    assert record.getMessage() == "Forbidden (CSRF): /forms/[link]/start/"


def test_a_whole_flow_logs_no_token(client, token, invitation, caplog):
    caplog.set_level(logging.DEBUG)
    client.get(welcome_url(token))
    start(client, token)
    post_step(client, 1, MEDICAL_HISTORY_CLEAR)
    post_step(client, 2, MEDICATIONS_NONE)
    client.post(f"/forms/{token}/start/", HTTP_ORIGIN="https://evil.example")
    assert caplog.records
    assert all(token not in r.getMessage() for r in caplog.records)
