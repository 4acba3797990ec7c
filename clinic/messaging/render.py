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

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.template.base import FilterExpression, TextNode, TokenType, Variable, VariableNode
from django.template.defaulttags import CommentNode, IfNode, LoadNode, TemplateLiteral
from django.template.loader import get_template
from django.template.smartif import TokenBase
from django.templatetags.i18n import BlockTranslateNode, TranslateNode
from django.utils import translation
from django.utils.html import conditional_escape


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
        if translation.get_language() == language:  # most messages: no switching back and forth
            built = context(message, subject)
        else:
            with translation.override(language):
                built = context(message, subject)
        if built is not None:
            built.setdefault("language", language)
        return built

    in_language.__wrapped__ = context  # type: ignore[attr-defined]
    return in_language


def render(template: str, context: dict[str, Any], *, channel: str, texts: TextCache | None = None) -> Rendered:
    """Render the channel's templates only: an email needs a subject and a body, an SMS one line.

    (Rendering all three for every message was a quarter of a large reminder run.) With ``texts``
    (one per delivery batch), each template is rendered once per language and fixed values; see
    ``TextCache``.
    """
    language = context.get("language") or settings.LANGUAGE_CODE
    texts = texts or TextCache()
    if channel == "sms":
        return Rendered(sms=" ".join(texts.render(f"messages/{template}.sms.txt", context, language).split()))
    return Rendered(
        subject=texts.render(f"messages/{template}.subject.txt", context, language).strip(),
        text=texts.render(f"messages/{template}.txt", context, language).strip() + "\n",
    )


# The template engine of messages: plain text, not HTML, so values are not HTML-escaped (settings).
MESSAGE_TEMPLATES = "messages"

# --- rendering a batch ------------------------------------------------------------------------------

_MISSING = object()
_SIMPLE = (str, int, bool, type(None))  # values whose equality means the same text in a template
_MARK = "\x00"
_SLOT = re.compile(f"{_MARK}([^{_MARK}]*){_MARK}")


@dataclass(frozen=True)
class _Shape:
    """How a template uses its context: the names it only pastes into the text as they are
    (``pasted``), and the names it uses in any other way (conditions, counters, filters)."""

    pasted: frozenset[str]
    other: frozenset[str]


class TextCache:
    """Renders the messages of one batch, each template once per language and per fixed values.

    Most of a message's text is the same for the whole batch: the clinic, its language, whether
    to fast. Only a few values differ per message (the name, the time, the link), and a template
    pastes those into the text unchanged (escaped only if the engine autoescapes). So a template is
    rendered once with a marker in place of each such value, and every message of the same
    language and the same other values gets that text with its own values put in. The text is
    exactly what ``render_to_string`` returns for the message (``tests/messaging/test_render_cache.py``
    compares both on every message template).

    A value is put in this way only if the template never uses it otherwise (in a condition, a
    counter, a filter) and it is a plain string; every other value the template reads is part of
    the cache key. A template using any tag besides text, variables, ``if``, ``translate``,
    ``blocktranslate`` and ``load`` is rendered in full for every message, as is a message whose
    fixed values are not plain strings, numbers, booleans or None.

    One per batch: nothing rendered for one delivery is kept after it.
    """

    def __init__(self) -> None:
        self._templates: dict[str, tuple[Any, _Shape | None]] = {}
        self._texts: dict[tuple, list[str] | None] = {}

    def render(self, name: str, context: dict[str, Any], language: str) -> str:
        template, shape = self._template(name)
        if shape is None:
            return self._full(template, context, language)
        fixed: list[Any] = []
        pasted: dict[str, str] = {}
        for key in sorted(shape.pasted | shape.other):
            value = context.get(key, _MISSING)
            if type(value) is str and key not in shape.other:
                pasted[key] = value
                fixed.append((key, None))
            elif value is _MISSING or type(value) in _SIMPLE:
                fixed.append((key, type(value), value))
            else:
                return self._full(template, context, language)
        cache_key = (name, language, tuple(fixed))
        if cache_key not in self._texts:
            self._texts[cache_key] = self._parts(template, context, language, pasted)
        parts = self._texts[cache_key]
        if parts is None:
            return self._full(template, context, language)
        escape = template.backend.engine.autoescape
        return "".join(
            part if i % 2 == 0 else (conditional_escape(pasted[part]) if escape else pasted[part])
            for i, part in enumerate(parts)
        )

    def _template(self, name: str) -> tuple[Any, _Shape | None]:
        if name not in self._templates:
            template = get_template(name, using=MESSAGE_TEMPLATES)
            self._templates[name] = (template, _shape(template.template.nodelist))
        return self._templates[name]

    @staticmethod
    def _full(template: Any, context: dict[str, Any], language: str) -> str:
        with translation.override(language):
            return template.render(context)

    def _parts(self, template: Any, context: dict[str, Any], language: str, pasted: dict[str, str]) -> list[str] | None:
        """The text split at the markers: literal text at even positions, a pasted name at odd ones
        (None if the text holds the marker character of its own: render those messages in full)."""
        marked = self._full(template, {**context, **{key: f"{_MARK}{key}{_MARK}" for key in pasted}}, language)
        parts = _SLOT.split(marked)
        if any(part not in pasted for part in parts[1::2]) or any(_MARK in part for part in parts[::2]):
            return None
        return parts


def _shape(nodelist) -> _Shape | None:
    """What ``TextCache`` needs to know of a template, or None if it uses a tag it does not know."""
    pasted: set[str] = set()
    other: set[str] = set()

    def names(expression: FilterExpression) -> None:
        variables = [expression.var, *(arg for _, args in expression.filters for is_lookup, arg in args if is_lookup)]
        other.update(v.lookups[0] for v in variables if isinstance(v, Variable) and v.lookups)

    def use(expression: FilterExpression) -> None:
        var = expression.var
        if (
            not expression.filters
            and isinstance(var, Variable)
            and var.lookups is not None
            and len(var.lookups) == 1
            and not var.translate
        ):
            pasted.add(var.lookups[0])
        else:
            names(expression)

    def condition(node) -> bool:
        if isinstance(node, TemplateLiteral):
            names(node.value)
            return True
        if isinstance(node, TokenBase):
            return all(condition(part) for part in (node.first, node.second) if part is not None)
        return False

    def block(node: BlockTranslateNode) -> None:
        local = set(node.extra_context)
        for expression in node.extra_context.values():
            use(expression)
        if node.counter is not None:
            names(node.counter)
            local.add(node.countervar)
        if node.message_context is not None:
            names(node.message_context)
        for token in [*node.singular, *(node.plural or [])]:
            if token.token_type == TokenType.VAR and token.contents not in local:
                pasted.add(token.contents)

    def walk(nodes) -> bool:
        for node in nodes:
            if isinstance(node, (TextNode, LoadNode, CommentNode)):
                continue
            if isinstance(node, VariableNode):
                use(node.filter_expression)
            elif isinstance(node, TranslateNode) and not node.asvar:
                names(node.filter_expression)
                if node.message_context is not None:
                    names(node.message_context)
            elif isinstance(node, BlockTranslateNode) and not node.asvar:
                block(node)
            elif isinstance(node, IfNode):
                branches = node.conditions_nodelists
                if not all((test is None or condition(test)) and walk(branch) for test, branch in branches):
                    return False
            else:
                return False
        return True

    return _Shape(frozenset(pasted), frozenset(other)) if walk(nodelist) else None
