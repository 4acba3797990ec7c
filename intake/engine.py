"""The questionnaire engine: checks definitions, decides which items show, cleans and scores answers.

A definition is a FHIR-Questionnaire-shaped dict (``code``, ``version``, ``title``, ``item``, ...);
answers are a dict of ``linkId -> value``. Children of a non-repeating group are answered at the
top level (the group is only a heading); a repeating group is answered with a list of row dicts.
Nested repeating groups are not supported: no shipped or planned form needs them, and a flat
``"<group>.<row>.<child>"`` error path keeps the API's error shape simple.

Rules that the rest of the app relies on:

* ``enableWhen`` may only refer to a question that comes earlier in document order, so one pass in
  document order over the answers, evaluating each condition against the answers already cleaned,
  both decides visibility and makes hiding cascade (a hidden question counts as unanswered).
* An unanswered question satisfies no condition except ``exists false``; in particular ``!=`` is
  false until the patient has answered, so a follow-up never shows ahead of its question.
* Comparisons are type-strict: ``True`` never equals ``1`` and ``"1"`` never equals ``1``, because
  JSON keeps those apart and a PHQ-9 answer of ``true`` is a client bug, not a score of 1.

No ORM, no I/O: it runs on every autosave, so it must be fast and deterministic. The one Django
import is ``django.utils.translation``: the messages about answers are shown to patients, so they
are lazy translations (evaluated in the language active where they are shown, i.e. the clinic's on
the patient pages, ``LANGUAGE_CODE`` in the API), with named placeholders that ``makemessages``
extracts. They still compare equal to their English text when no other language is active. The
messages about definitions are for the staff and developers who write them, and stay English.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from operator import ge, gt, le, lt
from typing import Any

from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

ITEM_TYPES = ("display", "group", "boolean", "choice", "integer", "decimal", "string", "text", "date")
QUESTION_TYPES = frozenset(ITEM_TYPES) - {"display", "group"}
OPERATORS = ("exists", "=", "!=", ">", "<", ">=", "<=")
ORDERING_OPERATORS = frozenset({">", "<", ">=", "<="})
KINDS = ("instrument", "candidacy", "custom")
SCORINGS = ("phq9", "gad7", "pcl5")

# Free text has to end somewhere: these caps bound what a patient link can store when a definition
# sets no maxLength of its own.
DEFAULT_MAX_LENGTH = {"string": 1000, "text": 10000}

# What a patient reads beside a question (and what the API returns in ``errors``).
REQUIRED = _("This question is required.")
UNKNOWN = _("Unknown question.")
CHOOSE_ONE = _("Choose one of the options.")
CHOOSE_SOME = _("Choose one or more of the options.")
CHOOSE_LISTED = _("Choose only from the options.")
YES_NO = _("Answer yes or no.")
WHOLE_NUMBER = _("Enter a whole number.")
NUMBER = _("Enter a number.")
TEXT = _("Enter text.")
BAD_CHARACTERS = _("Remove the characters that cannot be saved.")
DATE = _("Enter a date as YYYY-MM-DD.")
ENTRIES = _("Enter a list of entries.")
ENTRY = _("Answer the questions for this entry.")
AT_LEAST = _("Must be at least %(minimum)s.")
AT_MOST = _("Must be at most %(maximum)s.")
ANSWERS_OBJECT = _("Answers must be an object.")
# Plurals: "count" names the placeholder that picks the form, as ngettext_lazy expects.
AT_MOST_CHARACTERS = ngettext_lazy(
    "Must be at most %(count)s character.", "Must be at most %(count)s characters.", "count"
)
NO_MORE_ENTRIES = ngettext_lazy("Add no more than %(count)s entry.", "Add no more than %(count)s entries.", "count")
AT_LEAST_ENTRIES = ngettext_lazy("Add at least %(count)s entry.", "Add at least %(count)s entries.", "count")


def _interpolate(message: Any, values: dict[str, Any]) -> str:
    return message % values


# ``lazy_message % values`` would translate at once, in whatever language is active when the
# engine runs; this keeps both the translation and the interpolation until the text is shown.
_formatted = lazy(_interpolate, str)

_TOP_KEYS = frozenset(
    {"code", "version", "title", "description", "kind", "scoring", "loinc", "licence", "sources", "item"}
)
_ITEM_KEYS = frozenset(
    {
        "linkId",
        "type",
        "text",
        "required",
        "repeats",
        "answerOption",
        "minValue",
        "maxValue",
        "maxLength",
        "minRepeats",
        "maxRepeats",
        "enableWhen",
        "enableBehavior",
        "item",
        "code",
        "help",
    }
)
# Matches the columns that store a definition's identity (intake.models.Questionnaire).
_TOP_STRING_LIMITS = {"code": 60, "version": 20, "title": 200}
_OPTION_KEYS = frozenset({"value", "display", "score", "code"})
_CONDITION_KEYS = frozenset({"question", "operator", "answer"})

_CODE_RE = re.compile(r"[a-z0-9-]+")
# No '.': it separates the parts of a row error path ("trial.0.trial-drug").
_LINK_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,100}")
# [0-9], not \d: \d also matches non-ASCII digits, which date.fromisoformat would then reject or misread.
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class DefinitionError(ValueError):
    """A questionnaire definition is malformed; ``errors`` is what ``validate_definition`` returned."""

    def __init__(self, message: str, errors: Mapping[str, list[str]] | None = None) -> None:
        self.errors: dict[str, list[str]] = dict(errors or {})
        detail = "; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in self.errors.items())
        super().__init__(f"{message} ({detail})" if detail else message)


# --- small predicates ------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value)


def _is_iso_date(value: Any) -> bool:
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_answered(value: Any) -> bool:
    """Whether a raw or cleaned value counts as an answer (blank text and empty lists do not)."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple):
        return bool(value)
    return True


def _same(a: Any, b: Any) -> bool:
    """JSON-strict equality: bools, numbers and strings never equal each other."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    return False


def _fmt(number: float) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


# --- walking a definition --------------------------------------------------------------------------


def iter_items(definition: Mapping[str, Any]) -> Iterator[tuple[dict, tuple[str, ...]]]:
    """Yield ``(item, parent group linkIds)`` for every item, groups before their children."""

    def walk(items: Sequence[dict], parents: tuple[str, ...]) -> Iterator[tuple[dict, tuple[str, ...]]]:
        for item in items:
            yield item, parents
            if item.get("type") == "group":
                yield from walk(item.get("item") or (), (*parents, item.get("linkId", "")))

    yield from walk(definition.get("item") or (), ())


# --- definition validation -------------------------------------------------------------------------


@dataclass
class _Defined:
    """What enableWhen checks need to know about a question seen earlier in document order."""

    item: Mapping[str, Any]
    scope: str | None  # linkId of the enclosing repeating group; None at the top level


def _collect_link_ids(items: Any) -> set[str]:
    """Every linkId in a possibly malformed item tree (to tell a forward reference from a typo)."""
    found: set[str] = set()
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping):
            if isinstance(item.get("linkId"), str):
                found.add(item["linkId"])
            found |= _collect_link_ids(item.get("item"))
    return found


@dataclass
class _DefinitionChecker:
    errors: dict[str, list[str]] = field(default_factory=dict)
    all_link_ids: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    defined: dict[str, _Defined] = field(default_factory=dict)

    def add(self, path: str, message: str) -> None:
        messages = self.errors.setdefault(path, [])
        if message not in messages:
            messages.append(message)

    def check(self, definition: Any) -> dict[str, list[str]]:
        if not isinstance(definition, Mapping):
            self.add("definition", "A definition must be an object.")
            return self.errors
        self._check_top_required(definition)
        self._check_top_optional(definition)
        items = definition.get("item")
        if isinstance(items, list):
            self.all_link_ids = _collect_link_ids(items)
            self._check_items(items, "item", scope=None, in_repeating=False)
        return self.errors

    # -- top level

    def _check_top_required(self, d: Mapping[str, Any]) -> None:
        for key in d:
            if key not in _TOP_KEYS:
                self.add(str(key), "Unknown key.")
        for key, limit in _TOP_STRING_LIMITS.items():
            if key not in d:
                self.add(key, "This key is required.")
            elif not isinstance(d[key], str) or not d[key].strip():
                self.add(key, "Must be a non-empty string.")
            elif len(d[key]) > limit:
                self.add(key, f"Must be at most {limit} characters.")
        if isinstance(d.get("code"), str) and d["code"] and not _CODE_RE.fullmatch(d["code"]):
            self.add("code", "Use only lowercase letters, digits and hyphens.")
        if "item" not in d:
            self.add("item", "This key is required.")
        elif not isinstance(d["item"], list) or not d["item"]:
            self.add("item", "Must be a non-empty list of items.")

    def _check_top_optional(self, d: Mapping[str, Any]) -> None:
        for key in ("description", "licence"):
            if key in d and not isinstance(d[key], str):
                self.add(key, "Must be a string.")
        if "kind" in d and d["kind"] not in KINDS:
            self.add("kind", f"Must be one of {', '.join(KINDS)}.")
        if d.get("scoring") is not None and d["scoring"] not in SCORINGS:
            self.add("scoring", f"Must be null or one of {', '.join(SCORINGS)}.")
        loinc = d.get("loinc")
        if loinc is not None and not (
            isinstance(loinc, Mapping)
            and set(loinc) == {"panel", "total"}
            and all(isinstance(v, str) and v for v in loinc.values())
        ):
            self.add("loinc", "Must be null or {panel, total} with string codes.")
        sources = d.get("sources", [])
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            self.add("sources", "Must be a list of strings.")

    # -- items

    def _check_items(self, items: list, path: str, *, scope: str | None, in_repeating: bool) -> None:
        for index, item in enumerate(items):
            item_path = f"{path}.{index}"
            if not isinstance(item, Mapping):
                self.add(item_path, "An item must be an object.")
                continue
            self._check_item(item, item_path, scope=scope, in_repeating=in_repeating)

    def _check_item(self, item: Mapping[str, Any], path: str, *, scope: str | None, in_repeating: bool) -> None:
        link_id, item_type = self._check_identity(item, path)
        repeats = self._check_flags(item, path, item_type)
        self._check_options(item, path, item_type)
        self._check_value_bounds(item, path, item_type)
        self._check_max_length(item, path, item_type)
        self._check_repeat_bounds(item, path, item_type, repeats)
        self._check_enable_behavior(item, path)
        # Conditions are checked before this item counts as defined, so it cannot refer to itself.
        self._check_enable_when(item, path, link_id, scope)
        if item_type in QUESTION_TYPES and link_id is not None:
            self.defined[link_id] = _Defined(item=item, scope=scope)

        if item_type != "group":
            if "item" in item:
                self.add(f"{path}.item", "Only groups can contain items.")
            return
        children = item.get("item")
        if not isinstance(children, list) or not children:
            self.add(f"{path}.item", "A group must contain items.")
            return
        if repeats and in_repeating:
            self.add(f"{path}.repeats", "A repeating group cannot sit inside another repeating group.")
        child_scope = (link_id or "") if repeats else scope
        self._check_items(children, f"{path}.item", scope=child_scope, in_repeating=in_repeating or repeats)

    def _check_identity(self, item: Mapping[str, Any], path: str) -> tuple[str | None, str | None]:
        for key in item:
            if key not in _ITEM_KEYS:
                self.add(f"{path}.{key}", "Unknown key.")
        link_id = item.get("linkId")
        if not isinstance(link_id, str) or not _LINK_ID_RE.fullmatch(link_id):
            self.add(f"{path}.linkId", "Use 1-100 letters, digits, hyphens or underscores.")
            link_id = None
        elif link_id in self.seen:
            self.add(f"{path}.linkId", f"Duplicate linkId '{link_id}'.")
            link_id = None
        else:
            self.seen.add(link_id)
        item_type = item.get("type")
        if item_type not in ITEM_TYPES:
            self.add(f"{path}.type", f"Must be one of {', '.join(ITEM_TYPES)}.")
            item_type = None
        text = item.get("text")
        if item_type == "group":
            if text is not None and not isinstance(text, str):
                self.add(f"{path}.text", "Must be a string.")
        elif not isinstance(text, str) or not text.strip():
            self.add(f"{path}.text", "Must be a non-empty string.")
        for key in ("code", "help"):
            if key in item and not isinstance(item[key], str):
                self.add(f"{path}.{key}", "Must be a string.")
        return link_id, item_type

    def _check_flags(self, item: Mapping[str, Any], path: str, item_type: str | None) -> bool:
        """Check ``required`` and ``repeats``; return whether the item repeats."""
        flags = {}
        for key in ("required", "repeats"):
            flags[key] = item.get(key, False)
            if not isinstance(flags[key], bool):
                self.add(f"{path}.{key}", "Must be true or false.")
                flags[key] = False
        if flags["repeats"] and item_type not in (None, "group", "choice"):
            self.add(f"{path}.repeats", "Only groups and choice questions can repeat.")
        if flags["required"] and item_type == "display":
            self.add(f"{path}.required", "A display item cannot be required.")
        if flags["required"] and item_type == "group" and not flags["repeats"]:
            self.add(f"{path}.required", "Only a repeating group can be required.")
        return flags["repeats"]

    def _check_options(self, item: Mapping[str, Any], path: str, item_type: str | None) -> None:
        if item_type != "choice":
            if "answerOption" in item and item_type is not None:
                self.add(f"{path}.answerOption", "Only choice questions have options.")
            return
        options = item.get("answerOption")
        if not isinstance(options, list) or not options:
            self.add(f"{path}.answerOption", "A choice question needs a non-empty list of options.")
            return
        # Values are ints or strings, so (is it a string, value) tells them apart as JSON does.
        seen: set[tuple[bool, int | str]] = set()
        for index, option in enumerate(options):
            value = self._check_option(option, f"{path}.answerOption.{index}")
            if value is None:
                continue
            key = (isinstance(value, str), value)
            if key in seen:
                self.add(f"{path}.answerOption", "Option values must be unique.")
            seen.add(key)

    def _check_option(self, option: Any, path: str) -> int | str | None:
        """Check one option; return its value when usable."""
        if not isinstance(option, Mapping):
            self.add(path, "An option must be an object.")
            return None
        for key in option:
            if key not in _OPTION_KEYS:
                self.add(f"{path}.{key}", "Unknown key.")
        display = option.get("display")
        if not isinstance(display, str) or not display.strip():
            self.add(f"{path}.display", "Must be a non-empty string.")
        if option.get("score") is not None and not _is_int(option["score"]):
            self.add(f"{path}.score", "Must be a whole number or null.")
        if option.get("code") is not None and not isinstance(option["code"], str):
            self.add(f"{path}.code", "Must be a string or null.")
        value = option.get("value")
        # Answers are stripped before matching, so a padded option value could never be chosen.
        if _is_int(value) or (isinstance(value, str) and value and value == value.strip()):
            return value
        self.add(f"{path}.value", "Must be a whole number or a non-empty, unpadded string.")
        return None

    def _check_value_bounds(self, item: Mapping[str, Any], path: str, item_type: str | None) -> None:
        is_valid = {"integer": _is_int, "decimal": _is_number}.get(item_type or "")
        for key in ("minValue", "maxValue"):
            if key not in item or item_type is None:
                continue
            if is_valid is None:
                self.add(f"{path}.{key}", "Only integer and decimal questions have value bounds.")
            elif not is_valid(item[key]):
                self.add(f"{path}.{key}", "Must be a whole number." if item_type == "integer" else "Must be a number.")
        lo, hi = item.get("minValue"), item.get("maxValue")
        if _is_number(lo) and _is_number(hi) and lo > hi:
            self.add(f"{path}.minValue", "Must not be greater than maxValue.")

    def _check_max_length(self, item: Mapping[str, Any], path: str, item_type: str | None) -> None:
        if "maxLength" not in item or item_type is None:
            return
        if item_type not in ("string", "text"):
            self.add(f"{path}.maxLength", "Only string and text questions have a maximum length.")
        elif not _is_int(item["maxLength"]) or item["maxLength"] < 1:
            self.add(f"{path}.maxLength", "Must be a whole number of at least 1.")

    def _check_repeat_bounds(self, item: Mapping[str, Any], path: str, item_type: str | None, repeats: bool) -> None:
        for key, least in (("minRepeats", 0), ("maxRepeats", 1)):
            if key not in item:
                continue
            if item_type != "group" or not repeats:
                self.add(f"{path}.{key}", "Only repeating groups have repeat bounds.")
            elif not _is_int(item[key]) or item[key] < least:
                self.add(f"{path}.{key}", f"Must be a whole number of at least {least}.")
        lo, hi = item.get("minRepeats"), item.get("maxRepeats")
        if _is_int(lo) and _is_int(hi) and lo > hi:
            self.add(f"{path}.minRepeats", "Must not be greater than maxRepeats.")

    # -- enableWhen

    def _check_enable_behavior(self, item: Mapping[str, Any], path: str) -> None:
        if "enableBehavior" not in item:
            return
        if item["enableBehavior"] not in ("all", "any"):
            self.add(f"{path}.enableBehavior", "Must be 'all' or 'any'.")
        if "enableWhen" not in item:
            self.add(f"{path}.enableBehavior", "Only meaningful with enableWhen.")

    def _check_enable_when(self, item: Mapping[str, Any], path: str, link_id: str | None, scope: str | None) -> None:
        if "enableWhen" not in item:
            return
        conditions = item["enableWhen"]
        if not isinstance(conditions, list) or not conditions:
            self.add(f"{path}.enableWhen", "Must be a non-empty list of conditions.")
            return
        for index, condition in enumerate(conditions):
            self._check_condition(condition, f"{path}.enableWhen.{index}", link_id, scope)

    def _check_condition(self, condition: Any, path: str, link_id: str | None, scope: str | None) -> None:
        if not isinstance(condition, Mapping):
            self.add(path, "A condition must be an object.")
            return
        for key in condition:
            if key not in _CONDITION_KEYS:
                self.add(f"{path}.{key}", "Unknown key.")
        for key in sorted(_CONDITION_KEYS):
            if key not in condition:
                self.add(f"{path}.{key}", "This key is required.")
        operator = condition.get("operator")
        if operator not in OPERATORS:
            self.add(f"{path}.operator", f"Must be one of {', '.join(OPERATORS)}.")
            operator = None
        target = self._condition_target(condition.get("question"), path, link_id, scope)
        if target is not None and operator is not None and "answer" in condition:
            self._check_condition_answer(target.item, operator, condition["answer"], path)

    def _condition_target(self, question: Any, path: str, link_id: str | None, scope: str | None) -> _Defined | None:
        qpath = f"{path}.question"
        if not isinstance(question, str):
            self.add(qpath, "Must be a linkId.")
            return None
        if question == link_id:
            self.add(qpath, "An item cannot depend on itself.")
            return None
        target = self.defined.get(question)
        if target is None:
            if question in self.seen:
                self.add(qpath, f"'{question}' is not a question.")
            elif question in self.all_link_ids:
                self.add(qpath, f"'{question}' comes later; refer only to earlier questions.")
            else:
                self.add(qpath, f"Unknown question '{question}'.")
            return None
        if target.scope is not None and target.scope != scope:
            self.add(qpath, f"'{question}' is inside a repeating group this item is not part of.")
            return None
        return target

    def _check_condition_answer(self, target: Mapping[str, Any], operator: str, answer: Any, path: str) -> None:
        if operator == "exists":
            if not isinstance(answer, bool):
                self.add(f"{path}.answer", "Must be true or false for 'exists'.")
            return
        target_type = target.get("type")
        if target_type == "choice":
            self._check_choice_condition(target, operator, answer, path)
            return
        orderable, accepts, message = _CONDITION_ANSWERS[target_type]
        if operator in ORDERING_OPERATORS and not orderable:
            self.add(f"{path}.operator", "This kind of question compares only with = or !=.")
        elif not accepts(answer):
            self.add(f"{path}.answer", message)

    def _check_choice_condition(self, target: Mapping[str, Any], operator: str, answer: Any, path: str) -> None:
        values = [o.get("value") for o in target.get("answerOption") or () if isinstance(o, Mapping)]
        if operator not in ORDERING_OPERATORS:
            if not any(_same(answer, v) for v in values):
                self.add(f"{path}.answer", "Must be one of the question's option values.")
        elif target.get("repeats"):
            self.add(f"{path}.operator", "Multiple-choice questions compare only with = or !=.")
        elif not (all(_is_int(v) for v in values) and _is_int(answer)):
            self.add(f"{path}.answer", "Ordering needs numeric options and a whole-number answer.")


# For each non-choice question type: may it be ordered (>, <, ...), what a condition's answer must be.
_CONDITION_ANSWERS: dict[str, tuple[bool, Callable[[Any], bool], str]] = {
    "boolean": (False, lambda a: isinstance(a, bool), "Must be true or false."),
    "integer": (True, _is_int, "Must be a whole number."),
    "decimal": (True, _is_number, "Must be a number."),
    "string": (False, lambda a: isinstance(a, str) and bool(a.strip()), "Must be a non-empty string."),
    "text": (False, lambda a: isinstance(a, str) and bool(a.strip()), "Must be a non-empty string."),
    "date": (True, _is_iso_date, "Must be a date as YYYY-MM-DD."),
}


def validate_definition(definition: dict) -> dict[str, list[str]]:
    """Return ``{}`` for a sound definition, else messages keyed by path (``item.3.linkId``)."""
    return _DefinitionChecker().check(definition)


def _require_valid(definition: dict) -> None:
    errors = validate_definition(definition)
    if errors:
        code = definition.get("code") if isinstance(definition, Mapping) else None
        raise DefinitionError(f"Invalid questionnaire definition {code!r}", errors)


# --- visibility ------------------------------------------------------------------------------------


def _lookup(question: str, answers: Mapping, row: Mapping | None) -> Any:
    # linkIds are unique across a definition, so a row key can never shadow a top-level one.
    if row is not None and question in row:
        return row[question]
    return answers.get(question)


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {">": gt, "<": lt, ">=": ge, "<=": le}


def _test(value: Any, operator: str, expected: Any) -> bool:
    """One enableWhen condition against one (raw or cleaned) value."""
    value = _stripped(value)
    if operator == "exists":
        return _is_answered(value) is expected
    if not _is_answered(value):
        return False
    if isinstance(value, list | tuple):
        # A multi-select: '=' means "includes", '!=' means "does not include".
        if operator == "!=":
            return not any(_same(v, expected) for v in value)
        return any(_test(v, operator, expected) for v in value if not isinstance(v, list | tuple))
    if operator in ("=", "!="):
        return _same(value, expected) is (operator == "=")
    comparable = (_is_number(value) and _is_number(expected)) or (isinstance(value, str) and isinstance(expected, str))
    return comparable and _ORDERINGS[operator](value, expected)


def is_enabled(item: Mapping[str, Any], answers: Mapping, row: Mapping | None = None) -> bool:
    """Whether ``item``'s own enableWhen holds for ``answers`` (and the sibling ``row`` in a repeating group).

    Only the item's own conditions are evaluated: pass answers from which hidden questions have
    already been removed (as ``clean_answers`` does) to make hiding cascade, and check enclosing
    groups separately.
    """
    conditions = item.get("enableWhen")
    if not conditions:
        return True
    results = (_test(_lookup(c["question"], answers, row), c["operator"], c.get("answer")) for c in conditions)
    return any(results) if item.get("enableBehavior") == "any" else all(results)


# --- cleaning answers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanResult:
    """Answers ready to store, with per-question errors and the answers dropped because they were hidden."""

    answers: dict
    errors: dict[str, list[str]]
    cleared: list[str]


def _clean_text(item: Mapping[str, Any], raw: Any) -> tuple[Any, str | None]:
    if not isinstance(raw, str):
        return None, TEXT
    value = raw.strip()
    # PostgreSQL's jsonb refuses NUL, and lone surrogates cannot be encoded as UTF-8 at all.
    if "\x00" in value:
        return None, BAD_CHARACTERS
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None, BAD_CHARACTERS
    limit = item.get("maxLength", DEFAULT_MAX_LENGTH[item["type"]])
    if len(value) > limit:
        return None, _formatted(AT_MOST_CHARACTERS, {"count": limit})
    return value, None


def _check_range(item: Mapping[str, Any], value: float) -> str | None:
    if "minValue" in item and value < item["minValue"]:
        return _formatted(AT_LEAST, {"minimum": _fmt(item["minValue"])})
    if "maxValue" in item and value > item["maxValue"]:
        return _formatted(AT_MOST, {"maximum": _fmt(item["maxValue"])})
    return None


def _match_option(options: Sequence[Mapping[str, Any]], raw: Any) -> Mapping[str, Any] | None:
    # Option values are ints or strings; an answer must have the same JSON type (1.0 is not option 1).
    raw = _stripped(raw)
    for option in options:
        if type(raw) is type(option["value"]) and raw == option["value"]:
            return option
    return None


def _clean_boolean(item: Mapping[str, Any], raw: Any) -> tuple[Any, str | None]:
    return (raw, None) if isinstance(raw, bool) else (None, YES_NO)


def _clean_choice(item: Mapping[str, Any], raw: Any) -> tuple[Any, str | None]:
    options = item["answerOption"]
    if not item.get("repeats"):
        option = _match_option(options, raw)
        return (option["value"], None) if option is not None else (None, CHOOSE_ONE)
    if not isinstance(raw, list | tuple):
        return None, CHOOSE_SOME
    chosen = [_match_option(options, v) for v in raw]
    if any(option is None for option in chosen):
        return None, CHOOSE_LISTED
    # Option order, once each: the stored value does not depend on the order of clicks.
    return [o["value"] for o in options if any(o is c for c in chosen)], None


def _clean_integer(item: Mapping[str, Any], raw: Any) -> tuple[Any, str | None]:
    if not _is_int(raw):
        return None, WHOLE_NUMBER
    message = _check_range(item, raw)
    return (None, message) if message else (raw, None)


def _clean_decimal(item: Mapping[str, Any], raw: Any) -> tuple[Any, str | None]:
    if not _is_number(raw):
        return None, NUMBER
    message = _check_range(item, raw)
    return (None, message) if message else (raw, None)


def _clean_date(item: Mapping[str, Any], raw: Any) -> tuple[Any, str | None]:
    if isinstance(raw, str) and _is_iso_date(raw.strip()):
        return raw.strip(), None
    return None, DATE


# Each returns (normalised value, None) or (None, a patient-readable reason it cannot be used).
_CLEANERS: dict[str, Callable[[Mapping[str, Any], Any], tuple[Any, str | None]]] = {
    "boolean": _clean_boolean,
    "choice": _clean_choice,
    "integer": _clean_integer,
    "decimal": _clean_decimal,
    "string": _clean_text,
    "text": _clean_text,
    "date": _clean_date,
}


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _answerable(items: Sequence[Mapping[str, Any]]) -> set[str]:
    """linkIds answered at this level: questions and repeating groups, looking through plain groups."""
    found: set[str] = set()
    for item in items:
        if item["type"] == "group" and not item.get("repeats"):
            found |= _answerable(item["item"])
        elif item["type"] != "display":
            found.add(item["linkId"])
    return found


@dataclass
class _Cleaner:
    complete: bool
    answers: dict = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    cleared: list[str] = field(default_factory=list)

    def error(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    def unknown_keys(self, raw: Mapping, answerable: set[str], prefix: str) -> None:
        for key in raw:
            if key not in answerable:
                self.error(f"{prefix}{key}", UNKNOWN)

    def walk(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        raw: Mapping,
        out: dict,
        row: dict | None,
        prefix: str,
        parent_enabled: bool,
    ) -> None:
        """Clean one level in document order; ``out`` fills as we go, so later conditions see cleaned values."""
        for item in items:
            item_type = item["type"]
            enabled = parent_enabled and is_enabled(item, self.answers, row)
            if item_type == "display":
                continue
            if item_type == "group" and not item.get("repeats"):
                self.walk(item["item"], raw=raw, out=out, row=row, prefix=prefix, parent_enabled=enabled)
                continue
            link_id = item["linkId"]
            key = f"{prefix}{link_id}"
            answered = link_id in raw and _is_answered(raw[link_id])
            if not enabled:
                if answered:
                    self.cleared.append(key)
                continue
            if item_type == "group":
                self.group(item, raw.get(link_id), key)
            elif answered:
                value, message = _CLEANERS[item_type](item, raw[link_id])
                if message is None:
                    out[link_id] = value
                else:
                    self.error(key, message)
            elif self.complete and item.get("required"):
                self.error(key, REQUIRED)

    def group(self, item: Mapping[str, Any], raw: Any, key: str) -> None:
        if raw is not None and not isinstance(raw, list | tuple):
            self.error(key, ENTRIES)
            return
        children = item["item"]
        answerable = _answerable(children)
        rows: list[dict] = []
        for index, raw_row in enumerate(raw or ()):
            row_key = f"{key}.{index}"
            if not isinstance(raw_row, Mapping):
                self.error(row_key, ENTRY)
                continue
            # A row the patient added and left blank is dropped, not reported: it holds nothing to check.
            if not any(_is_answered(v) for v in raw_row.values()):
                continue
            self.unknown_keys(raw_row, answerable, f"{row_key}.")
            cleaned: dict = {}
            self.walk(children, raw=raw_row, out=cleaned, row=cleaned, prefix=f"{row_key}.", parent_enabled=True)
            if cleaned:
                rows.append(cleaned)

        maximum = item.get("maxRepeats")
        if maximum is not None and len(rows) > maximum:
            self.error(key, _formatted(NO_MORE_ENTRIES, {"count": maximum}))
            rows = rows[:maximum]
        if self.complete:
            minimum = max(item.get("minRepeats", 0), 1 if item.get("required") else 0)
            if not rows and item.get("required"):
                self.error(key, REQUIRED)
            elif len(rows) < minimum:
                self.error(key, _formatted(AT_LEAST_ENTRIES, {"count": minimum}))
        if rows:
            self.answers[item["linkId"]] = rows


def clean_answers(definition: dict, answers: Mapping, *, complete: bool) -> CleanResult:
    """Validate and normalise ``answers`` against ``definition``.

    ``complete=False`` is a draft (autosave): malformed values and unknown linkIds are errors, missing
    answers are not. ``complete=True`` is a submission: every enabled required question must also be
    answered and repeating groups must hold ``minRepeats`` rows. Answers to hidden questions are
    dropped and listed in ``cleared``. Invalid values are left out of ``answers`` (so the valid rest
    of a draft can still be saved); rows in a repeating group that are entirely blank are dropped,
    while error paths keep the row's index in the input.

    Raises ``DefinitionError`` if the definition itself is malformed.
    """
    _require_valid(definition)
    items = definition["item"]
    cleaner = _Cleaner(complete=complete)
    if not isinstance(answers, Mapping):
        cleaner.error("answers", ANSWERS_OBJECT)
        return CleanResult(answers={}, errors=cleaner.errors, cleared=[])
    cleaner.unknown_keys(answers, _answerable(items), "")
    cleaner.walk(items, raw=answers, out=cleaner.answers, row=None, prefix="", parent_enabled=True)
    return CleanResult(answers=cleaner.answers, errors=cleaner.errors, cleared=cleaner.cleared)


def score_values(definition: dict, answers: Mapping) -> dict[str, int]:
    """``linkId -> score`` for each answered single-choice question whose chosen option has a score.

    Expects answers already cleaned (so hidden questions are gone). Multi-select questions and
    questions inside repeating groups are not scored: no instrument needs them, and a per-row or
    per-choice score would need a different result shape.
    """
    _require_valid(definition)
    scores: dict[str, int] = {}
    for item in _top_level_questions(definition["item"]):
        if item["type"] != "choice" or item.get("repeats") or item["linkId"] not in answers:
            continue
        option = _match_option(item["answerOption"], answers[item["linkId"]])
        if option is not None and option.get("score") is not None:
            scores[item["linkId"]] = option["score"]
    return scores


def _top_level_questions(items: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for item in items:
        if item["type"] == "group":
            if not item.get("repeats"):
                yield from _top_level_questions(item["item"])
        elif item["type"] != "display":
            yield item
