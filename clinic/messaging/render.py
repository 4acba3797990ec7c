"""Turning an outbox row into text at send time, through renderers the owning apps register.

Each kind has one renderer: it loads the subjects of a whole batch in a few queries, says
whether the reason for the message still holds (a cancelled session sends nothing) and fills
the templates in ``clinic/templates/messages/``. Patient messages are discreet by rule: clinic,
time and what to bring, never a drug, diagnosis or treatment word (a test scans the templates).

Language. A message to a patient is written in its clinic's language (``Clinic.language``, the
language of its patient pages); a notice to staff in ``LANGUAGE_CODE``, the language of the staff
API and admin. ``register`` wraps each renderer's ``context`` so that it runs in that language
(dates it formats come out in it too) and puts ``language`` in the context, which ``render`` then
activates for the templates. The dispatcher loads each message with its clinic, so this costs no
query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation


@dataclass(frozen=True)
class Rendered:
    """The text of one message; only the parts its channel uses are filled."""

    subject: str = ""
    text: str = ""
    sms: str = ""


@dataclass(frozen=True)
class Renderer:
    """``load(messages)`` returns each message's subject by message id, for a whole batch in a few
    queries; ``context(message, subject)`` returns the template context, or None when the message
    should no longer be sent, and has no side effect (the message may still wait for quiet hours).

    A message that carries something minted for it (a link) names ``mint(message, subject)``, called
    only once the message is really being sent, returning the extra context; and ``revoke(minted)``,
    called with that context if the send then fails, so no unseen link stays live."""

    template: str
    load: Callable[[list[Any]], dict[int, Any]]
    context: Callable[[Any, Any], dict[str, Any] | None]
    mint: Callable[[Any, Any], dict[str, Any]] | None = None
    revoke: Callable[[dict[str, Any]], None] | None = None


RENDERERS: dict[str, Renderer] = {}


def register(kind: str, renderer: Renderer) -> None:
    RENDERERS[kind] = replace(renderer, context=_in_message_language(renderer.context))


def message_language(message: Any) -> str:
    """The language ``message`` is written in: its clinic's for a patient, the default for staff."""
    code = settings.LANGUAGE_CODE
    if getattr(message, "patient_id", None) is not None and message.clinic.language:
        code = message.clinic.language
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:  # a language since removed from settings.LANGUAGES
        return settings.LANGUAGE_CODE


def _in_message_language(context: Callable[[Any, Any], dict[str, Any] | None]) -> Callable:
    def in_language(message: Any, subject: Any) -> dict[str, Any] | None:
        language = message_language(message)
        with translation.override(language):
            built = context(message, subject)
        if built is not None:
            built.setdefault("language", language)
        return built

    in_language.__wrapped__ = context  # type: ignore[attr-defined]
    return in_language


def render(template: str, context: dict[str, Any], *, channel: str) -> Rendered:
    """Render the channel's templates only: an email needs a subject and a body, an SMS one line.

    (Rendering all three for every message was a quarter of a large reminder run.)
    """
    with translation.override(context.get("language") or settings.LANGUAGE_CODE):
        if channel == "sms":
            return Rendered(sms=" ".join(render_to_string(f"messages/{template}.sms.txt", context).split()))
        return Rendered(
            subject=render_to_string(f"messages/{template}.subject.txt", context).strip(),
            text=render_to_string(f"messages/{template}.txt", context).strip() + "\n",
        )
