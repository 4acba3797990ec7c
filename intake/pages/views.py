"""The patient's pages for a link: welcome, one page per questionnaire, review, confirmation.

Flow. ``GET /forms/<token>/`` only shows a welcome page naming the clinic (a mail scanner that
prefetches the link changes nothing). Pressing Start POSTs to ``/forms/<token>/start/``, which
redeems the link into a fresh Django session (the key is rotated and any earlier session data,
including a staff login in the same browser, is dropped) holding only the invitation id. Every
later page lives under ``/forms/session/`` and carries no token, so the token appears in no URL,
history entry or Referer after redemption.

Writes go through ``intake.services.forms`` only (``form_draft_save``, ``form_submit``), the same
services as the JSON API: validation messages come from the engine, keyed by answer path, and are
shown beside the question they concern. A page's answers are saved on every change (``forms.js``
POSTs the form to the autosave endpoint) and by "Save and continue" without JavaScript. When some
values are refused, the rest of the page is saved anyway and the refused ones are shown back with
their message.

Every response carries the headers of ``security.PAGE_HEADERS`` and every form the CSRF check of
``security.PatientPageCsrf``. A link that cannot be used any more answers with an HTML page naming
the clinic and its phone number (404 unknown, 409 already sent, 410 expired or withdrawn), never
JSON or a stack trace.

Language. Every page is rendered in its clinic's language (``Clinic.language``), activated with
``translation.override`` once the clinic is known (the welcome page, the problem pages of a known
link, every session page); before that (an unknown link, a lost session) in ``LANGUAGE_CODE``.
The engine's messages are lazy, so they come out in the same language. Questionnaire texts are
shown as the definitions hold them (see ``locale/README.md``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from clinic.errors import ApplicationError, InvalidInput
from clinic.models import Alert, AuditEvent, Clinic
from clinic.services.audit import audit_record
from intake import engine, selectors
from intake.models import FormInvitation, Questionnaire, QuestionnaireResponse
from intake.services import forms as form_services

from . import questions as q
from .security import add_page_headers, link_throttled, page_headers, patient_csrf

logger = logging.getLogger(__name__)

SESSION_KEY = "patient_form"


class SeeOther(HttpResponseRedirect):
    """303: after a POST the browser GETs the next page (no resubmission on reload)."""

    status_code = 303


# --- rendering helpers ---------------------------------------------------------------------------


def clinic_context(clinic: Clinic | None) -> dict[str, Any]:
    if clinic is None:
        return {"clinic_name": "", "phone_display": "", "phone_tel": ""}
    phone = clinic.phone
    return {
        "clinic_name": clinic.patient_facing_name,
        "phone_display": phone.as_national if phone else "",
        "phone_tel": phone.as_e164 if phone else "",
    }


def clinic_language(clinic: Clinic | None) -> str:
    """The language of ``clinic``'s patient pages; the site's default before a clinic is known."""
    code = (clinic.language if clinic is not None else "") or settings.LANGUAGE_CODE
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:  # a language since removed from settings.LANGUAGES
        return settings.LANGUAGE_CODE


@contextmanager
def in_language_of(clinic: Clinic | None) -> Iterator[None]:
    with translation.override(clinic_language(clinic)):
        yield


def render_page(request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    """Render in the active language (the caller activates the clinic's) and say which one it is."""
    response = render(request, f"forms/{template}", context, status=status)
    response["Content-Language"] = translation.get_language()
    return add_page_headers(response)


# Problem pages: (status, template block). The texts live in forms/problem.html.
PROBLEMS = {
    "link_invalid": 404,
    "link_expired": 410,
    "link_revoked": 410,
    "already_submitted": 409,
    "session_missing": 200,
    "session_expired": 403,
    "throttled": 429,
}


def render_problem(
    request: HttpRequest, code: str, *, clinic: Clinic | None = None, status: int | None = None
) -> HttpResponse:
    context = {"code": code, **clinic_context(clinic)}
    with in_language_of(clinic):
        return render_page(request, "problem.html", context, status=status or PROBLEMS.get(code, 400))


def _problem_for(request: HttpRequest, exc: ApplicationError, clinic: Clinic | None) -> HttpResponse:
    code = exc.code if exc.code in PROBLEMS else "link_invalid"
    return render_problem(request, code, clinic=None if code == "link_invalid" else clinic)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


# --- the link (token) pages ----------------------------------------------------------------------


def _open_invitation(request: HttpRequest, token: str) -> FormInvitation | HttpResponse:
    if link_throttled(request):
        return render_problem(request, "throttled")
    try:
        invitation = selectors.invitation_for_token(token)
    except ApplicationError as exc:
        return _problem_for(request, exc, None)
    try:
        form_services.ensure_open(invitation)
    except ApplicationError as exc:
        return _problem_for(request, exc, invitation.clinic)
    return invitation


@page_headers
@require_http_methods(["GET", "HEAD"])
def welcome(request: HttpRequest, token: str) -> HttpResponse:
    """Names the clinic and offers Start (or Continue). Changes nothing: redeeming needs the POST."""
    invitation = _open_invitation(request, token)
    if isinstance(invitation, HttpResponse):
        return invitation
    contents = selectors.form_contents(invitation)
    clinic = invitation.clinic
    context = {
        **clinic_context(clinic),
        "token": token,
        "resuming": invitation.state() == "in_progress",
        "prefilled": any(r is not None and r.prefilled for _, r in contents),
        "sections": len(contents),
        "expires_at": timezone.localtime(invitation.expires_at, clinic.tz),
    }
    with in_language_of(clinic):
        return render_page(request, "welcome.html", context)


@page_headers
@patient_csrf
@require_POST
def start(request: HttpRequest, token: str) -> HttpResponse:
    """Redeem the link into this browser's session, then continue on token-free URLs."""
    invitation = _open_invitation(request, token)
    if isinstance(invitation, HttpResponse):
        return invitation
    # A new session: no fixation, and nothing of an earlier session (another link, a staff login).
    request.session.flush()
    request.session[SESSION_KEY] = {"invitation": invitation.pk}
    audit_record(
        actor=None,
        actor_kind=AuditEvent.ActorKind.PATIENT_LINK,
        action=AuditEvent.Action.READ,
        object_type="form_invitation",
        object_id=invitation.pk,
        clinic_id=invitation.clinic_id,
        patient_id=invitation.patient_id,
    )
    logger.info("form_page.started", extra={"invitation_id": invitation.pk})
    return SeeOther(_resume_url(selectors.form_contents(invitation)))


# --- the session pages ---------------------------------------------------------------------------


@dataclass
class Bound:
    """The invitation this browser's session redeemed, and whether its submit here signalled risk."""

    invitation: FormInvitation
    risk: bool

    @property
    def clinic(self) -> Clinic:
        return self.invitation.clinic


def _bound(request: HttpRequest) -> Bound | None:
    data = request.session.get(SESSION_KEY)
    if not isinstance(data, dict) or not isinstance(data.get("invitation"), int):
        return None
    # Scoped to the one invitation this session redeemed: the page shows only that patient's answers.
    invitation = FormInvitation.objects.select_related("clinic").filter(pk=data["invitation"]).first()
    if invitation is None:
        return None
    return Bound(invitation=invitation, risk=bool(data.get("risk")))


def session_page(view: Callable) -> Callable:
    """Run ``view(request, bound, ...)`` for a redeemed session; otherwise explain how to get back in."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        bound = _bound(request)
        if bound is None:
            lost = reverse("forms:session-missing")
            if _wants_json(request):
                return add_page_headers(JsonResponse({"saved": False, "location": lost}, status=403))
            return add_page_headers(SeeOther(lost))
        # Messages built while the view runs (lazy or not) come out in the clinic's language.
        with in_language_of(bound.clinic):
            return add_page_headers(view(request, bound, *args, **kwargs))

    return wrapper


def _closed(request: HttpRequest, bound: Bound) -> HttpResponse | None:
    """None while the link can still be used; else the confirmation or the page that explains why not."""
    try:
        form_services.ensure_open(bound.invitation)
    except ApplicationError as exc:
        if bound.invitation.submitted_at:
            # Sent from this session (a reload, a second click, the back button): thank them again.
            return SeeOther(reverse("forms:done"))
        return _problem_for(request, exc, bound.clinic)
    return None


def _closed_json(request: HttpRequest, bound: Bound) -> JsonResponse | None:
    if _closed(request, bound) is None:
        return None
    return JsonResponse({"saved": False, "location": reverse("forms:resume")}, status=409)


def _is_done(questionnaire: Questionnaire, response: QuestionnaireResponse | None) -> bool:
    """Visited, confirmed and complete: where resuming does not need to take the patient."""
    if response is None or response.prefilled:
        return False
    return not engine.clean_answers(questionnaire.definition, response.answers, complete=True).errors


def _resume_url(contents: list[tuple[Questionnaire, QuestionnaireResponse | None]]) -> str:
    for number, (questionnaire, response) in enumerate(contents, start=1):
        if not _is_done(questionnaire, response):
            return reverse("forms:step", args=[number])
    return reverse("forms:review")


@require_safe
@session_page
def resume(request: HttpRequest, bound: Bound) -> HttpResponse:
    closed = _closed(request, bound)
    if closed is not None:
        return closed
    return SeeOther(_resume_url(selectors.form_contents(bound.invitation)))


@require_safe
@page_headers
def session_missing(request: HttpRequest) -> HttpResponse:
    return render_problem(request, "session_missing")


@dataclass
class Saved:
    answers: dict[str, Any]
    errors: dict[str, list[str]]
    cleared: list[str]


def _save(invitation: FormInvitation, questionnaire: Questionnaire, answers: dict[str, Any]) -> Saved:
    """Save through the service; if it refuses some values, save the rest and report the refused ones.

    Raises the service's Conflict/Gone when the link can no longer be used.
    """
    try:
        result = form_services.form_draft_save(invitation=invitation, code=questionnaire.code, answers=answers)
        return Saved(answers=result.response.answers, errors={}, cleared=result.cleared)
    except InvalidInput as exc:
        errors = {k.removeprefix("answers."): [str(m) for m in v] for k, v in exc.errors.items()}
    rest = q.without_refused(questionnaire.definition, answers, errors)
    try:
        result = form_services.form_draft_save(invitation=invitation, code=questionnaire.code, answers=rest)
    except InvalidInput:
        return Saved(answers={}, errors=errors, cleared=[])
    return Saved(answers=result.response.answers, errors=errors, cleared=result.cleared)


def _step_context(
    bound: Bound,
    contents: list,
    number: int,
    page: q.Page,
    *,
    prefilled: bool,
    appeared: bool = False,
) -> dict[str, Any]:
    questionnaire, _ = contents[number - 1]
    errors = page.error_list()
    return {
        **clinic_context(bound.clinic),
        "number": number,
        "total": len(contents) + 1,
        "title": questionnaire.title,
        "description": questionnaire.definition.get("description", ""),
        "page": page,
        "errors": errors,
        "prefilled": prefilled,
        "appeared": appeared,
        "shown": " ".join(page.visible_keys()),
        "action_url": reverse("forms:step", args=[number]),
        "autosave_url": reverse("forms:autosave", args=[number]),
    }


def _current(bound: Bound, number: int):
    """The link's questionnaires, and the one at step ``number`` (None when out of range)."""
    contents = selectors.form_contents(bound.invitation)
    if not 1 <= number <= len(contents):
        return contents, None
    return contents, contents[number - 1]


@dataclass
class StepPage:
    """One questionnaire's page: shown (GET), or saved and then moved on from or shown again (POST)."""

    request: HttpRequest
    bound: Bound
    contents: list
    number: int
    questionnaire: Questionnaire
    response: QuestionnaireResponse | None

    @property
    def definition(self) -> dict:
        return self.questionnaire.definition

    def render(self, page: q.Page, *, prefilled: bool = False, appeared: bool = False) -> HttpResponse:
        context = _step_context(self.bound, self.contents, self.number, page, prefilled=prefilled, appeared=appeared)
        return render_page(self.request, "step.html", context)

    def show(self) -> HttpResponse:
        saved = self.response.answers if self.response else {}
        errors: dict[str, list[str]] = {}
        if self.request.GET.get("check"):  # sent here to finish: say what is missing at once
            errors = engine.clean_answers(self.definition, saved, complete=True).errors
        page = q.build_page(self.definition, q.state_from_answers(self.definition, saved), errors=errors)
        return self.render(page, prefilled=bool(self.response and self.response.prefilled))

    def _apply_row_action(self, action: str, state: q.State) -> str | None:
        """Add or remove a repeating-group row; return the field to put the cursor in."""
        groups = q.repeating_groups(self.definition)
        if action.startswith("add:") and action[4:] in groups:
            index = q.add_row(state, action[4:])
            return q.first_question_key(self.definition, action[4:], index)
        if action.startswith("remove:"):
            _, group, index = [*action.split(":"), "", ""][:3]
            if group in groups and index.isdigit():
                q.remove_row(state, group, int(index))
                return f"{group}.add"  # the "Add another" button, so focus does not fall to the top
        return None

    def post(self) -> HttpResponse:
        action = self.request.POST.get("action", "continue")
        state = q.state_from_post(self.definition, self.request.POST)
        focus = self._apply_row_action(action, state)
        answers = q.answers_from_state(self.definition, state)
        try:
            saved = _save(self.bound.invitation, self.questionnaire, answers)
        except ApplicationError:
            return _closed(self.request, self.bound) or SeeOther(reverse("forms:resume"))
        if saved.errors or action not in ("continue", "back"):
            return self.render(q.build_page(self.definition, state, errors=saved.errors, focus=focus))
        if action == "back":
            return SeeOther(
                reverse("forms:step", args=[self.number - 1]) if self.number > 1 else reverse("forms:review")
            )
        # Continue only from a complete page, and not past questions the patient has not seen
        # (without JavaScript a follow-up question appears only once the page is saved).
        missing = engine.clean_answers(self.definition, answers, complete=True).errors
        shown = set(self.request.POST.get("_shown", "").split())
        appeared = any(key not in shown for key in q.build_page(self.definition, state).visible_keys())
        if missing or appeared:
            page = q.build_page(self.definition, state, errors=missing)
            return self.render(page, appeared=appeared and not missing)
        if self.number < len(self.contents):
            return SeeOther(reverse("forms:step", args=[self.number + 1]))
        return SeeOther(reverse("forms:review"))


@require_http_methods(["GET", "HEAD", "POST"])
@patient_csrf
@session_page
def step(request: HttpRequest, bound: Bound, number: int) -> HttpResponse:
    closed = _closed(request, bound)
    if closed is not None:
        return closed
    contents, current = _current(bound, number)
    if current is None:
        return SeeOther(_resume_url(contents))
    page = StepPage(request, bound, contents, number, *current)
    return page.post() if request.method == "POST" else page.show()


@require_POST
@patient_csrf
@session_page
def autosave(request: HttpRequest, bound: Bound, number: int) -> HttpResponse:
    """What ``forms.js`` posts on each change: the whole page's form, answered with JSON."""
    closed = _closed_json(request, bound)
    if closed is not None:
        return closed
    _, current = _current(bound, number)
    if current is None:
        return JsonResponse({"saved": False, "location": reverse("forms:resume")}, status=404)
    questionnaire, _ = current
    answers = q.answers_from_state(questionnaire.definition, q.state_from_post(questionnaire.definition, request.POST))
    try:
        saved = _save(bound.invitation, questionnaire, answers)
    except ApplicationError:
        return _closed_json(request, bound) or JsonResponse({"saved": False}, status=409)
    return JsonResponse({"saved": True, "errors": saved.errors, "cleared": saved.cleared})


@dataclass
class ReviewSection:
    number: int
    title: str
    status: str  # complete | incomplete | confirm | not_started
    entries: list[q.Entry]
    errors: list[str]
    fix_url: str


def _review_sections(bound: Bound, submit_errors: dict[str, list[str]] | None = None) -> list[ReviewSection]:
    sections = []
    for number, (questionnaire, response) in enumerate(selectors.form_contents(bound.invitation), start=1):
        answers = response.answers if response else {}
        missing = engine.clean_answers(questionnaire.definition, answers, complete=True).errors
        if response is not None and response.prefilled:
            status = "confirm"
        elif missing:
            status = "not_started" if response is None else "incomplete"
        else:
            status = "complete"
        code = questionnaire.code
        errors = [
            str(message)
            for key, messages in (submit_errors or {}).items()
            if key == code or key.startswith(f"{code}.")
            for message in messages
        ]
        sections.append(
            ReviewSection(
                number=number,
                title=questionnaire.title,
                status=status,
                entries=q.review_entries(questionnaire.definition, answers),
                errors=errors,
                fix_url=reverse("forms:step", args=[number]) + "?check=1",
            )
        )
    return sections


def _review(request: HttpRequest, bound: Bound, submit_errors: dict | None = None) -> HttpResponse:
    sections = _review_sections(bound, submit_errors)
    return render_page(
        request,
        "review.html",
        {
            **clinic_context(bound.clinic),
            "sections": sections,
            "failed": bool(submit_errors),
            "ready": all(s.status == "complete" for s in sections),
            "number": len(sections) + 1,
            "total": len(sections) + 1,
        },
    )


@require_http_methods(["GET", "HEAD"])
@session_page
def review(request: HttpRequest, bound: Bound) -> HttpResponse:
    closed = _closed(request, bound)
    if closed is not None:
        return closed
    return _review(request, bound)


@require_POST
@patient_csrf
@session_page
def submit(request: HttpRequest, bound: Bound) -> HttpResponse:
    closed = _closed(request, bound)
    if closed is not None:
        return closed
    try:
        result = form_services.form_submit(invitation=bound.invitation)
    except InvalidInput as exc:
        return _review(request, bound, submit_errors=exc.errors)
    except ApplicationError:
        bound.invitation.refresh_from_db()
        return _closed(request, bound) or SeeOther(reverse("forms:resume"))
    request.session[SESSION_KEY] = {"invitation": bound.invitation.pk, "risk": result.risk_signalled}
    logger.info("form_page.submitted", extra={"invitation_id": bound.invitation.pk})
    return SeeOther(reverse("forms:done"))


@require_http_methods(["GET", "HEAD"])
@session_page
def done(request: HttpRequest, bound: Bound) -> HttpResponse:
    if not bound.invitation.submitted_at:
        return SeeOther(reverse("forms:resume"))
    clinic = bound.clinic
    risk = bound.risk or _risk_alert_raised(bound.invitation)
    return render_page(
        request,
        "done.html",
        {**clinic_context(clinic), "risk": risk, "crisis_resources": clinic.crisis_resources if risk else ""},
    )


def _risk_alert_raised(invitation: FormInvitation) -> bool:
    """Whether submitting raised a suicide-risk alert: the record of ``SubmitResult.risk_signalled``.

    Used when the session did not see the submit's own result (a second click that lost the race
    to the first), so the crisis resources are never missed.
    """
    response_ids = [str(pk) for pk in invitation.responses.values_list("pk", flat=True)]
    return Alert.objects.filter(
        patient_id=invitation.patient_id,
        kind=Alert.Kind.SUICIDE_RISK,
        source_type="questionnaire_response",
        source_id__in=response_ids,
    ).exists()
