"""Turning an outbox row into text at send time, through renderers the owning apps register.

Each kind has one renderer: it loads the subjects of a whole batch in a few queries, says
whether the reason for the message still holds (a cancelled session sends nothing) and fills
the templates in ``clinic/templates/messages/``. Patient messages are discreet by rule: clinic,
time and what to bring, never a drug, diagnosis or treatment word (a test scans the templates).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    should no longer be sent."""

    template: str
    load: Callable[[list[Any]], dict[int, Any]]
    context: Callable[[Any, Any], dict[str, Any] | None]


RENDERERS: dict[str, Renderer] = {}


def register(kind: str, renderer: Renderer) -> None:
    RENDERERS[kind] = renderer


def render(template: str, context: dict[str, Any], *, channel: str) -> Rendered:
    """Render the channel's templates only: an email needs a subject and a body, an SMS one line.

    (Rendering all three for every message was a quarter of a large reminder run.)
    """
    with translation.override(context.get("language") or "en"):
        if channel == "sms":
            return Rendered(sms=" ".join(render_to_string(f"messages/{template}.sms.txt", context).split()))
        return Rendered(
            subject=render_to_string(f"messages/{template}.subject.txt", context).strip(),
            text=render_to_string(f"messages/{template}.txt", context).strip() + "\n",
        )
