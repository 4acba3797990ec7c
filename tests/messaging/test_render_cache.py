"""A delivery batch renders each message template once per language and fixed values, and every
message's text is still exactly what ``render_to_string`` gives for it (clinic.messaging.render.TextCache)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Engine
from django.template.loader import render_to_string
from django.test.signals import template_rendered
from django.utils import translation

from clinic.messaging import render as rendering

TEMPLATES = sorted(p.name for p in (Path(settings.BASE_DIR) / "clinic" / "templates" / "messages").iterdir())
LANGUAGES = [code for code, _ in settings.LANGUAGES]

# Values that escaping, percent formatting or whitespace handling could garble.
NAMES = ["Robin", "O'Brien & <Co>", "100% Ana", "  Jo\n Lee  ", ""]
VARIANTS = [
    {"fasting": True, "course_count": None, "clinic_address": "1 Main St", "escalated": False, "alert_id": 7},
    {"fasting": False, "course_count": 3, "clinic_address": "", "escalated": True, "alert_id": 8},
    {"fasting": False, "course_count": 1, "clinic_address": "A & B", "escalated": False, "alert_id": 7},
]


def _context(name: str, variant: dict, n: int) -> dict:
    return {
        "first_name": name,
        "clinic_name": "Riverside & Co" if n % 2 else "Riverside clinic",
        "clinic_phone": f"+1 212 555 01{n:02d}",
        "when": f"Tuesday {n} March at 10:00",
        "expires": f"Friday {n} March",
        "link": f"http://x.test/forms/tok{n}/?a=1&b=<2>",
        "escort": True,
        **variant,
    }


def _plain(name: str, context: dict, language: str) -> str:
    with translation.override(language):
        return render_to_string(name, context, using=rendering.MESSAGE_TEMPLATES)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_as_render_to_string_does(template, language):
    texts = rendering.TextCache()  # one for all the contexts: most of them are served from it
    name = f"messages/{template}"
    for n, (first_name, variant) in enumerate(itertools.product(NAMES, VARIANTS)):
        context = _context(first_name, variant, n % 3)
        assert texts.render(name, context, language) == _plain(name, context, language), (template, context)


def test_a_batch_renders_each_template_once_per_language_and_fixed_values():
    rendered: list[str] = []

    def count(sender, template, context, **kwargs):
        rendered.append(template.name)

    template_rendered.connect(count)
    try:
        texts = rendering.TextCache()
        contexts = [_context(name, VARIANTS[0], 1) for name in NAMES] + [_context("Ana", VARIANTS[1], 1)]
        outputs = [
            rendering.render("session_reminder", {**context, "language": language}, channel="email", texts=texts)
            for context in contexts
            for language in LANGUAGES
        ]
    finally:
        template_rendered.disconnect(count)
    # Whatever the number of names: the body once per language and variant (it reads ``fasting`` and the
    # address), the subject once per language (it reads neither).
    assert sorted(rendered) == ["messages/session_reminder.subject.txt"] * 2 + ["messages/session_reminder.txt"] * 4
    # Plain text: nothing is HTML-escaped.
    assert "Hello O'Brien & <Co>," in outputs[2].text
    assert "Hola, O'Brien & <Co>:" in outputs[3].text


def test_a_value_holding_the_marker_character_is_rendered_in_full():
    texts = rendering.TextCache()
    context = _context("Ro\x00first_name\x00bin", VARIANTS[0], 1)
    name = "messages/session_reminder.txt"
    assert texts.render(name, context, "en") == _plain(name, context, "en")
    other = _context("Ana", VARIANTS[0], 1)
    assert texts.render(name, other, "en") == _plain(name, other, "en")


def _shape(source: str):
    engine = Engine(libraries={"i18n": "django.templatetags.i18n"})
    return rendering._shape(engine.from_string(source).nodelist)


def test_only_values_pasted_as_they_are_are_filled_in_later():
    shape = _shape(
        "{% load i18n %}{{ a }} {{ b|upper }} {% if c %}{{ c }}{% endif %}"
        "{% blocktranslate with x=d count n=e %}{{ x }} {{ f }}{% plural %}{{ n }} {{ x }}{% endblocktranslate %}"
        "{% translate g %}{{ h.i }}"
    )
    assert shape.pasted - shape.other == {"a", "d", "f"}
    assert shape.other >= {"b", "c", "e", "g", "h"}


@pytest.mark.parametrize(
    "source",
    [
        "{% for x in xs %}{{ x }}{% endfor %}",
        "{% with x=a %}{{ x }}{% endwith %}",
        "{% load i18n %}{% translate 'a' as b %}",
    ],
)
def test_a_template_with_other_tags_is_rendered_in_full(source):
    assert _shape(source) is None
