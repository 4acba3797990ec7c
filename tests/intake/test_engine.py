"""The questionnaire engine: definition checks, visibility, answer cleaning and option scores.

Pure functions, so no database: every test here runs on plain dicts.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.engine import (
    CleanResult,
    DefinitionError,
    clean_answers,
    is_enabled,
    iter_items,
    score_values,
    validate_definition,
)


def opt(value: Any, display: str | None = None, score: int | None = None) -> dict[str, Any]:
    return {"value": value, "display": display or str(value), "score": score, "code": None}


def when(question: str, operator: str, answer: Any) -> dict[str, Any]:
    return {"question": question, "operator": operator, "answer": answer}


def definition(*items: dict[str, Any], code: str = "sample") -> dict[str, Any]:
    return {"code": code, "version": "1", "title": "Sample", "kind": "custom", "scoring": None, "item": list(items)}


def q(link_id: str, item_type: str, **extra: Any) -> dict[str, Any]:
    return {"linkId": link_id, "type": item_type, "text": f"Question {link_id}", **extra}


# One of everything: each type, a heading group, a cascade, a multi-select and a repeating group.
SAMPLE = definition(
    q("intro", "display"),
    q("smoker", "boolean", required=True),
    q("cigarettes", "integer", required=True, minValue=1, maxValue=100, enableWhen=[when("smoker", "=", True)]),
    q("quit-tried", "boolean", enableWhen=[when("cigarettes", ">=", 10)]),
    q(
        "mood",
        "choice",
        required=True,
        answerOption=[opt(0, "Good", 0), opt(1, "Fair", 1), opt(2, "Poor", 2)],
    ),
    q(
        "symptoms",
        "choice",
        repeats=True,
        answerOption=[opt("headache"), opt("nausea"), opt("dizzy")],
    ),
    q("nausea-days", "integer", minValue=0, maxValue=31, enableWhen=[when("symptoms", "=", "nausea")]),
    {
        "linkId": "body",
        "type": "group",
        "text": "About your body",
        "enableWhen": [when("mood", "!=", 0)],
        "item": [
            q("weight", "decimal", minValue=20, maxValue=400.5),
            q("last-visit", "date"),
            q("name", "string", maxLength=10),
            q("notes", "text"),
        ],
    },
    {
        "linkId": "drugs",
        "type": "group",
        "text": "Each medicine",
        "repeats": True,
        "required": True,
        "minRepeats": 1,
        "maxRepeats": 3,
        "enableWhen": [when("smoker", "exists", True)],
        "item": [
            q("drug-name", "string", required=True, maxLength=50),
            q("drug-helped", "boolean", required=True),
            q("drug-why-not", "text", enableWhen=[when("drug-helped", "=", False)]),
            q("drug-cigs", "integer", enableWhen=[when("smoker", "=", True)]),
        ],
    },
)

VALID_COMPLETE = {
    "smoker": True,
    "cigarettes": 12,
    "quit-tried": False,
    "mood": 1,
    "symptoms": ["nausea"],
    "nausea-days": 3,
    "weight": 70.5,
    "last-visit": "2024-02-29",
    "name": "Sam",
    "notes": "Fine",
    "drugs": [{"drug-name": "sertraline", "drug-helped": False, "drug-why-not": "Sleepy", "drug-cigs": 2}],
}


def clean(answers: Mapping, *, complete: bool = False, defn: dict | None = None) -> CleanResult:
    return clean_answers(defn or SAMPLE, answers, complete=complete)


# --- definitions ---------------------------------------------------------------------------------


def test_sample_definition_is_valid() -> None:
    assert validate_definition(SAMPLE) == {}


def test_iter_items_walks_in_document_order_with_parents() -> None:
    walked = [(item["linkId"], parents) for item, parents in iter_items(SAMPLE)]
    assert walked[:3] == [("intro", ()), ("smoker", ()), ("cigarettes", ())]
    assert ("body", ()) in walked
    assert walked.index(("body", ())) + 1 == walked.index(("weight", ("body",)))
    assert walked[-1] == ("drug-cigs", ("drugs",))
    assert len(walked) == 17


def _with(item_index: int, **changes: Any) -> dict[str, Any]:
    broken = copy.deepcopy(SAMPLE)
    broken["item"][item_index].update(changes)
    return broken


@pytest.mark.parametrize(
    ("broken", "path", "fragment"),
    [
        ({k: v for k, v in SAMPLE.items() if k != "code"}, "code", "required"),
        ({k: v for k, v in SAMPLE.items() if k != "version"}, "version", "required"),
        ({k: v for k, v in SAMPLE.items() if k != "title"}, "title", "required"),
        ({k: v for k, v in SAMPLE.items() if k != "item"}, "item", "required"),
        ({**SAMPLE, "item": []}, "item", "non-empty"),
        ({**SAMPLE, "code": "PHQ 9"}, "code", "lowercase"),
        ({**SAMPLE, "code": "x" * 61}, "code", "at most 60"),
        ({**SAMPLE, "kind": "survey"}, "kind", "one of"),
        ({**SAMPLE, "scoring": "madrs"}, "scoring", "one of"),
        ({**SAMPLE, "loinc": {"panel": "1"}}, "loinc", "panel, total"),
        ({**SAMPLE, "sources": "a paper"}, "sources", "list of strings"),
        ({**SAMPLE, "items": []}, "items", "Unknown key"),
        (_with(1, type="yesno"), "item.1.type", "Must be one of"),
        (_with(1, linkId="intro"), "item.1.linkId", "Duplicate linkId 'intro'"),
        (_with(1, linkId="has.dot"), "item.1.linkId", "letters, digits"),
        (_with(1, text=""), "item.1.text", "non-empty"),
        (_with(1, required="yes"), "item.1.required", "true or false"),
        (_with(1, enableWhen=[when("smoker", "=", True)]), "item.1.enableWhen.0.question", "itself"),
        (_with(1, enableWhen=[when("mood", "=", 1)]), "item.1.enableWhen.0.question", "comes later"),
        (_with(1, enableWhen=[when("nothing", "=", 1)]), "item.1.enableWhen.0.question", "Unknown question"),
        (_with(1, enableWhen=[when("intro", "exists", True)]), "item.1.enableWhen.0.question", "not a question"),
        (_with(2, enableWhen=[when("smoker", "~", True)]), "item.2.enableWhen.0.operator", "Must be one of"),
        (_with(2, enableWhen=[{"question": "smoker", "operator": "="}]), "item.2.enableWhen.0.answer", "required"),
        (_with(2, enableWhen=[when("smoker", "=", "yes")]), "item.2.enableWhen.0.answer", "true or false"),
        (_with(2, enableWhen=[when("smoker", ">", True)]), "item.2.enableWhen.0.operator", "= or !="),
        (_with(2, enableWhen=[when("smoker", "exists", 1)]), "item.2.enableWhen.0.answer", "'exists'"),
        (_with(2, enableWhen=[]), "item.2.enableWhen", "non-empty"),
        (_with(2, enableBehavior="most"), "item.2.enableBehavior", "'all' or 'any'"),
        (_with(1, enableBehavior="any"), "item.1.enableBehavior", "Only meaningful"),
        (_with(3, enableWhen=[when("cigarettes", ">", 1.5)]), "item.3.enableWhen.0.answer", "whole number"),
        (_with(6, enableWhen=[when("symptoms", "=", "rash")]), "item.6.enableWhen.0.answer", "option values"),
        (_with(6, enableWhen=[when("symptoms", ">", "nausea")]), "item.6.enableWhen.0.operator", "Multiple-choice"),
        (_with(4, answerOption=[]), "item.4.answerOption", "non-empty list"),
        (_with(4, answerOption=None), "item.4.answerOption", "non-empty list"),
        (_with(4, answerOption=[opt(0), opt(0)]), "item.4.answerOption", "unique"),
        (_with(4, answerOption=[opt(True)]), "item.4.answerOption.0.value", "whole number or"),
        (_with(4, answerOption=[opt(" padded ")]), "item.4.answerOption.0.value", "unpadded"),
        (_with(4, answerOption=[{"value": 1, "display": ""}]), "item.4.answerOption.0.display", "non-empty"),
        (_with(4, answerOption=[{**opt(1), "score": "1"}]), "item.4.answerOption.0.score", "whole number"),
        (_with(4, answerOption=[{**opt(1), "weight": 2}]), "item.4.answerOption.0.weight", "Unknown key"),
        (_with(1, answerOption=[opt(0)]), "item.1.answerOption", "Only choice"),
        (_with(2, minValue=200), "item.2.minValue", "greater than maxValue"),
        (_with(2, minValue=0.5), "item.2.minValue", "whole number"),
        (_with(1, maxValue=3), "item.1.maxValue", "Only integer and decimal"),
        (_with(2, maxLength=3), "item.2.maxLength", "Only string and text"),
        (_with(2, repeats=True), "item.2.repeats", "Only groups and choice"),
        (_with(2, minRepeats=1), "item.2.minRepeats", "Only repeating groups"),
        (_with(0, required=True), "item.0.required", "display item"),
        (_with(7, required=True), "item.7.required", "repeating group"),
        (_with(7, item=[]), "item.7.item", "must contain items"),
        (_with(1, item=[q("child", "boolean")]), "item.1.item", "Only groups"),
        (_with(8, minRepeats=5), "item.8.minRepeats", "greater than maxRepeats"),
        (_with(8, maxRepeats=0), "item.8.maxRepeats", "at least 1"),
        (_with(1, colour="red"), "item.1.colour", "Unknown key"),
        (_with(7, item=[q("weight", "decimal", maxValue="heavy")]), "item.7.item.0.maxValue", "Must be a number"),
        (
            _with(7, item=[q("name", "string", maxLength=0)]),
            "item.7.item.0.maxLength",
            "at least 1",
        ),
    ],
)
def test_validate_definition_reports_errors_by_path(broken: dict, path: str, fragment: str) -> None:
    errors = validate_definition(broken)
    assert path in errors, errors
    assert any(fragment in message for message in errors[path]), errors[path]


def test_duplicate_link_id_inside_a_group_is_found() -> None:
    broken = copy.deepcopy(SAMPLE)
    broken["item"][8]["item"][1]["linkId"] = "smoker"
    assert "item.8.item.1.linkId" in validate_definition(broken)


def test_choice_without_options_is_refused() -> None:
    errors = validate_definition(definition(q("pick", "choice")))
    assert errors == {"item.0.answerOption": ["A choice question needs a non-empty list of options."]}


def test_enable_when_may_not_reach_into_a_repeating_group_from_outside() -> None:
    broken = copy.deepcopy(SAMPLE)
    broken["item"].append(q("after", "boolean", enableWhen=[when("drug-helped", "=", True)]))
    errors = validate_definition(broken)
    assert any("repeating group" in m for m in errors["item.9.enableWhen.0.question"])


def test_enable_when_from_one_repeating_group_into_another_is_refused() -> None:
    other = {
        "linkId": "other",
        "type": "group",
        "repeats": True,
        "item": [q("other-q", "boolean", enableWhen=[when("drug-helped", "=", True)])],
    }
    errors = validate_definition({**SAMPLE, "item": [*SAMPLE["item"], other]})
    assert "item.9.item.0.enableWhen.0.question" in errors


def test_nested_repeating_groups_are_refused() -> None:
    inner = {"linkId": "inner", "type": "group", "repeats": True, "item": [q("inner-q", "boolean")]}
    broken = copy.deepcopy(SAMPLE)
    broken["item"][8]["item"].append(inner)
    assert "item.8.item.4.repeats" in validate_definition(broken)


def test_non_object_definition_and_items() -> None:
    assert "definition" in validate_definition([])  # type: ignore[arg-type]
    assert "item.0" in validate_definition(definition("not an item"))  # type: ignore[arg-type]


def test_a_definition_error_carries_the_errors() -> None:
    broken = _with(1, type="yesno")
    with pytest.raises(DefinitionError) as raised:
        clean_answers(broken, {}, complete=False)
    assert "item.1.type" in raised.value.errors
    assert isinstance(raised.value, ValueError)
    with pytest.raises(DefinitionError):
        score_values(broken, {})


def test_condition_answers_are_type_checked_per_question_type() -> None:
    base = [
        q("n", "integer"),
        q("d", "decimal"),
        q("s", "string"),
        q("day", "date"),
        q("c", "choice", answerOption=[opt("a"), opt("b")]),
    ]
    good = definition(
        *base,
        q(
            "x",
            "boolean",
            enableWhen=[
                when("n", ">", 3),
                when("d", "<=", 2.5),
                when("s", "=", "yes"),
                when("day", ">=", "2024-01-01"),
                when("c", "!=", "a"),
            ],
        ),
    )
    assert validate_definition(good) == {}
    bad = definition(
        *base,
        q(
            "x",
            "boolean",
            enableWhen=[
                when("n", ">", "3"),
                when("d", "<=", math.nan),
                when("s", ">", "yes"),
                when("day", ">=", "01/01/2024"),
                when("c", ">", 1),
            ],
        ),
    )
    errors = validate_definition(bad)
    assert set(errors) == {
        "item.5.enableWhen.0.answer",
        "item.5.enableWhen.1.answer",
        "item.5.enableWhen.2.operator",
        "item.5.enableWhen.3.answer",
        "item.5.enableWhen.4.answer",
    }


# --- values of each type ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link_id", "value", "message"),
    [
        ("smoker", "yes", "Answer yes or no."),
        ("smoker", 1, "Answer yes or no."),
        ("mood", "1", "Choose one of the options."),
        ("mood", True, "Choose one of the options."),
        ("mood", 7, "Choose one of the options."),
        ("mood", 1.0, "Choose one of the options."),
        ("mood", [1], "Choose one of the options."),
        ("symptoms", "nausea", "Choose one or more of the options."),
        ("symptoms", ["nausea", "rash"], "Choose only from the options."),
        ("weight", "70", "Enter a number."),
        ("weight", True, "Enter a number."),
        ("weight", math.inf, "Enter a number."),
        ("weight", math.nan, "Enter a number."),
        ("weight", 19.9, "Must be at least 20."),
        ("weight", 401, "Must be at most 400.5."),
        ("last-visit", "2024-02-30", "Enter a date as YYYY-MM-DD."),
        ("last-visit", "29/02/2024", "Enter a date as YYYY-MM-DD."),
        ("last-visit", "2024-2-9", "Enter a date as YYYY-MM-DD."),
        ("last-visit", "\uff12\uff10\uff12\uff14-01-01", "Enter a date as YYYY-MM-DD."),  # full-width digits
        ("last-visit", 20240229, "Enter a date as YYYY-MM-DD."),
        ("name", "Samantha Jones", "Must be at most 10 characters."),
        ("name", 42, "Enter text."),
        ("name", "a\x00b", "Remove the characters that cannot be saved."),
        ("name", "\ud800", "Remove the characters that cannot be saved."),
        ("notes", "x" * 10001, "Must be at most 10000 characters."),
    ],
)
def test_invalid_values_get_a_patient_readable_message(link_id: str, value: Any, message: str) -> None:
    result = clean({"mood": 1, link_id: value})
    assert result.errors == {link_id: [message]}
    assert link_id not in result.answers


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "Must be at least 1."),
        (101, "Must be at most 100."),
        (2.0, "Enter a whole number."),
        (False, "Enter a whole number."),
        ("12", "Enter a whole number."),
    ],
)
def test_integer_values_and_bounds(value: Any, message: str) -> None:
    assert clean({"smoker": True, "cigarettes": value}).errors == {"cigarettes": [message]}


def test_valid_values_are_normalised() -> None:
    result = clean(
        {
            "smoker": False,
            "mood": 2,
            "symptoms": ["dizzy", " headache ", "dizzy"],
            "weight": 20,
            "last-visit": " 2024-02-29 ",
            "name": "  Sam  ",
            "notes": "\nline one\nline two\n",
        }
    )
    assert result.errors == {}
    assert result.answers == {
        "smoker": False,
        "mood": 2,
        "symptoms": ["headache", "dizzy"],  # option order, once each
        "weight": 20,
        "last-visit": "2024-02-29",
        "name": "Sam",
        "notes": "line one\nline two",
    }
    assert isinstance(result.answers["last-visit"], str)


def test_blank_answers_count_as_unanswered() -> None:
    result = clean({"smoker": None, "mood": 0, "symptoms": [], "name": "   ", "notes": ""}, complete=True)
    assert "name" not in result.answers
    assert "symptoms" not in result.answers
    assert result.errors == {"smoker": ["This question is required."]}


def test_unknown_link_ids_are_errors_in_both_modes() -> None:
    for complete in (False, True):
        result = clean(
            {**VALID_COMPLETE, "favourite-colour": "red", "intro": "hi", "body": 1, "drug-name": "x"}, complete=complete
        )
        assert result.errors == {
            "favourite-colour": ["Unknown question."],
            "intro": ["Unknown question."],
            "body": ["Unknown question."],
            "drug-name": ["Unknown question."],
        }


def test_required_only_when_complete() -> None:
    draft = clean({})
    assert draft.errors == {}
    assert draft.answers == {}
    submitted = clean({}, complete=True)
    assert submitted.errors == {"smoker": ["This question is required."], "mood": ["This question is required."]}


def test_a_complete_valid_answer_set_has_no_errors() -> None:
    result = clean(VALID_COMPLETE, complete=True)
    assert result.errors == {}
    assert result.cleared == []
    assert result.answers == VALID_COMPLETE


def test_clean_result_is_frozen_and_input_untouched() -> None:
    answers = copy.deepcopy(VALID_COMPLETE)
    result = clean(answers, complete=True)
    with pytest.raises(AttributeError):
        result.answers = {}  # type: ignore[misc]
    assert answers == VALID_COMPLETE
    result.answers["drugs"][0]["drug-name"] = "changed"
    assert answers["drugs"][0]["drug-name"] == "sertraline"


def test_answers_must_be_a_mapping() -> None:
    result = clean_answers(SAMPLE, ["smoker"], complete=False)  # type: ignore[arg-type]
    assert result.errors == {"answers": ["Answers must be an object."]}


# --- enableWhen ------------------------------------------------------------------------------------


def _item_when(*conditions: dict[str, Any], behavior: str | None = None) -> dict[str, Any]:
    item = q("target", "boolean", enableWhen=list(conditions))
    if behavior:
        item["enableBehavior"] = behavior
    return item


@pytest.mark.parametrize(
    ("operator", "expected", "value", "enabled"),
    [
        ("exists", True, 3, True),
        ("exists", True, None, False),
        ("exists", True, "  ", False),
        ("exists", True, [], False),
        ("exists", False, None, True),
        ("exists", False, 0, False),
        ("=", 3, 3, True),
        ("=", 3, 4, False),
        ("=", 3, None, False),
        ("=", 1, True, False),  # JSON-strict: true is not 1
        ("=", 3, 3.0, True),
        ("!=", 3, 4, True),
        ("!=", 3, 3, False),
        ("!=", 3, None, False),  # unanswered satisfies nothing but 'exists false'
        (">", 3, 4, True),
        (">", 3, 3, False),
        ("<", 3, 2, True),
        ("<", 3, 3, False),
        (">=", 3, 3, True),
        (">=", 3, 2, False),
        ("<=", 3, 3, True),
        ("<=", 3, 4, False),
        (">", 3, "4", False),  # no ordering across types
        (">", 3, None, False),
        (">=", "2024-01-01", "2024-03-01", True),
        ("<", "2024-01-01", "2023-12-31", True),
        ("=", "yes", " yes ", True),
        ("=", True, True, True),
        ("=", True, False, False),
        ("!=", True, False, True),
    ],
)
def test_is_enabled_operators(operator: str, expected: Any, value: Any, enabled: bool) -> None:
    item = _item_when(when("source", operator, expected))
    answers = {} if value is None else {"source": value}
    assert is_enabled(item, answers) is enabled


def test_is_enabled_with_no_conditions() -> None:
    assert is_enabled(q("x", "boolean"), {}) is True


@pytest.mark.parametrize(
    ("behavior", "answers", "enabled"),
    [
        (None, {"a": 1, "b": 1}, True),
        (None, {"a": 1, "b": 0}, False),
        ("all", {"a": 0, "b": 1}, False),
        ("any", {"a": 0, "b": 1}, True),
        ("any", {"a": 0, "b": 0}, False),
        ("any", {}, False),
    ],
)
def test_enable_behavior_any_and_all(behavior: str | None, answers: dict, enabled: bool) -> None:
    item = _item_when(when("a", ">", 0), when("b", ">", 0), behavior=behavior)
    assert is_enabled(item, answers) is enabled


def test_is_enabled_reads_the_row_first_then_the_top_level() -> None:
    item = _item_when(when("sibling", "=", True), when("top", "=", 1))
    assert is_enabled(item, {"top": 1}, {"sibling": True}) is True
    assert is_enabled(item, {"top": 1, "sibling": True}, {}) is True
    assert is_enabled(item, {"top": 2}, {"sibling": True}) is False


def test_multi_select_conditions_mean_includes() -> None:
    includes = _item_when(when("s", "=", "nausea"))
    excludes = _item_when(when("s", "!=", "nausea"))
    assert is_enabled(includes, {"s": ["headache", "nausea"]})
    assert not is_enabled(includes, {"s": ["headache"]})
    assert is_enabled(excludes, {"s": ["headache"]})
    assert not is_enabled(excludes, {"s": ["headache", "nausea"]})
    assert not is_enabled(excludes, {"s": []})


def test_hidden_answers_are_cleared_not_errors() -> None:
    for complete in (False, True):
        result = clean({"smoker": False, "cigarettes": 5, "mood": 0, "weight": 80, "notes": "x"}, complete=complete)
        assert result.errors == ({"drugs": ["This question is required."]} if complete else {})
        assert result.answers == {"smoker": False, "mood": 0}
        # The "body" group is hidden when mood is 0, and hiding a group hides what it holds.
        assert result.cleared == ["cigarettes", "weight", "notes"]


def test_hidden_invalid_answers_are_cleared_without_errors() -> None:
    result = clean({"smoker": False, "cigarettes": "lots", "mood": 0})
    assert result.errors == {}
    assert result.cleared == ["cigarettes"]


def test_hiding_cascades() -> None:
    # quit-tried depends on cigarettes, which depends on smoker.
    shown = clean({"smoker": True, "cigarettes": 20, "quit-tried": True, "mood": 0})
    assert shown.answers["quit-tried"] is True
    hidden = clean({"smoker": False, "cigarettes": 20, "quit-tried": True, "mood": 0}, complete=True)
    assert "quit-tried" not in hidden.answers
    assert hidden.cleared == ["cigarettes", "quit-tried"]
    assert "cigarettes" not in hidden.errors  # hidden, so not required


def test_an_invalid_controlling_answer_counts_as_unanswered() -> None:
    result = clean({"smoker": True, "cigarettes": 500, "quit-tried": True, "mood": 0})
    assert result.errors == {"cigarettes": ["Must be at most 100."]}
    assert result.cleared == ["quit-tried"]


def test_required_follow_up_only_when_shown() -> None:
    assert clean({"smoker": True, "mood": 1}, complete=True).errors["cigarettes"] == ["This question is required."]
    assert "cigarettes" not in clean({"smoker": False, "mood": 1}, complete=True).errors


def test_multi_select_drives_a_follow_up() -> None:
    assert clean({"mood": 0, "symptoms": ["nausea"], "nausea-days": 4}).answers["nausea-days"] == 4
    result = clean({"mood": 0, "symptoms": ["dizzy"], "nausea-days": 4})
    assert result.cleared == ["nausea-days"]


# --- repeating groups -----------------------------------------------------------------------------


def _drug(**values: Any) -> dict[str, Any]:
    return {"drug-name": "sertraline", "drug-helped": True, **values}


def test_rows_are_cleaned_one_by_one() -> None:
    result = clean(
        {"smoker": False, "mood": 0, "drugs": [_drug(**{"drug-name": "  a  "}), _drug(**{"drug-name": "b"})]}
    )
    assert result.errors == {}
    assert result.answers["drugs"] == [
        {"drug-name": "a", "drug-helped": True},
        {"drug-name": "b", "drug-helped": True},
    ]


def test_row_errors_are_keyed_by_group_row_and_child() -> None:
    rows = [_drug(), _drug(**{"drug-helped": "no", "extra": 1}), {"drug-name": "x" * 51}]
    result = clean({"smoker": False, "mood": 0, "drugs": rows}, complete=True)
    assert result.errors == {
        "drugs.1.extra": ["Unknown question."],
        "drugs.1.drug-helped": ["Answer yes or no."],
        "drugs.2.drug-name": ["Must be at most 50 characters."],
        "drugs.2.drug-helped": ["This question is required."],
    }
    # Valid parts of a draft are kept; a row with nothing valid is not.
    assert result.answers["drugs"] == [_drug(), {"drug-name": "sertraline"}]


def test_required_children_only_on_submit() -> None:
    draft = clean({"smoker": False, "mood": 0, "drugs": [{"drug-name": "a"}]})
    assert draft.errors == {}
    submitted = clean({"smoker": False, "mood": 0, "drugs": [{"drug-name": "a"}]}, complete=True)
    assert submitted.errors == {"drugs.0.drug-helped": ["This question is required."]}


def test_sibling_enable_when_within_a_row() -> None:
    rows = [_drug(**{"drug-why-not": "n/a"}), _drug(**{"drug-helped": False, "drug-why-not": "Sleepy"})]
    result = clean({"smoker": False, "mood": 0, "drugs": rows})
    assert result.answers["drugs"] == [_drug(), _drug(**{"drug-helped": False, "drug-why-not": "Sleepy"})]
    assert result.cleared == ["drugs.0.drug-why-not"]


def test_row_item_depending_on_a_top_level_question() -> None:
    shown = clean({"smoker": True, "cigarettes": 5, "mood": 0, "drugs": [_drug(**{"drug-cigs": 3})]})
    assert shown.answers["drugs"] == [_drug(**{"drug-cigs": 3})]
    hidden = clean({"smoker": False, "mood": 0, "drugs": [_drug(**{"drug-cigs": 3})]})
    assert hidden.answers["drugs"] == [_drug()]
    assert hidden.cleared == ["drugs.0.drug-cigs"]


def test_min_repeats_on_submit_only() -> None:
    assert clean({"smoker": False, "mood": 0}).errors == {}
    assert clean({"smoker": False, "mood": 0, "drugs": []}, complete=True).errors == {
        "drugs": ["This question is required."]
    }
    two = copy.deepcopy(SAMPLE)
    two["item"][8]["minRepeats"] = 2
    result = clean_answers(two, {"smoker": False, "mood": 0, "drugs": [_drug()]}, complete=True)
    assert result.errors == {"drugs": ["Add at least 2 entries."]}


def test_max_repeats_in_both_modes() -> None:
    rows = [_drug(**{"drug-name": str(n)}) for n in range(4)]
    for complete in (False, True):
        result = clean({"smoker": False, "mood": 0, "drugs": rows}, complete=complete)
        assert result.errors == {"drugs": ["Add no more than 3 entries."]}
        assert len(result.answers["drugs"]) == 3


def test_blank_rows_are_dropped() -> None:
    result = clean({"smoker": False, "mood": 0, "drugs": [{}, _drug(), {"drug-name": "  "}]}, complete=True)
    assert result.errors == {}
    assert result.answers["drugs"] == [_drug()]


def test_malformed_groups_and_rows() -> None:
    assert clean({"smoker": False, "mood": 0, "drugs": {"drug-name": "a"}}).errors == {
        "drugs": ["Enter a list of entries."]
    }
    assert clean({"smoker": False, "mood": 0, "drugs": ["a", _drug()]}).errors == {
        "drugs.0": ["Answer the questions for this entry."]
    }


def test_a_hidden_repeating_group_is_cleared_as_a_whole() -> None:
    result = clean({"mood": 0, "drugs": [_drug()]}, complete=True)
    assert result.cleared == ["drugs"]
    assert "drugs" not in result.answers
    assert result.errors == {"smoker": ["This question is required."]}


def test_a_heading_group_inside_a_row_is_answered_in_the_row() -> None:
    defn = definition(
        {
            "linkId": "people",
            "type": "group",
            "repeats": True,
            "item": [
                q("person", "string", required=True),
                {
                    "linkId": "contact",
                    "type": "group",
                    "text": "How to reach them",
                    "enableWhen": [when("person", "exists", True)],
                    "item": [q("phone", "string", required=True)],
                },
            ],
        }
    )
    assert validate_definition(defn) == {}
    result = clean_answers(defn, {"people": [{"person": "Ann", "phone": "555"}, {"person": "Bo"}]}, complete=True)
    assert result.answers == {"people": [{"person": "Ann", "phone": "555"}, {"person": "Bo"}]}
    assert result.errors == {"people.1.phone": ["This question is required."]}
    assert clean_answers(defn, {"people": [{"person": "Ann", "contact": 1}]}, complete=False).errors == {
        "people.0.contact": ["Unknown question."]
    }


# --- scores --------------------------------------------------------------------------------------


def test_score_values_uses_option_scores() -> None:
    assert score_values(SAMPLE, {"mood": 2, "symptoms": ["nausea"], "smoker": True}) == {"mood": 2}
    assert score_values(SAMPLE, {}) == {}
    assert score_values(SAMPLE, {"mood": "2"}) == {}  # not an option value


def test_score_values_skips_options_without_scores() -> None:
    defn = definition(
        q("a", "choice", answerOption=[opt(0, score=0), opt(1, score=5)]),
        q("b", "choice", answerOption=[opt(0), opt(1)]),
    )
    assert score_values(defn, {"a": 1, "b": 1}) == {"a": 5}


# --- properties ------------------------------------------------------------------------------------

_LINK_IDS = [item["linkId"] for item, _ in iter_items(SAMPLE)]
_ITEMS = {item["linkId"]: (item, parents) for item, parents in iter_items(SAMPLE)}
_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2024-02-29", "nausea", "dizzy", "0", " 1 "]),
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(_LINK_IDS) | st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


def _plausible(link_id: str) -> st.SearchStrategy:
    """Values of roughly the right type, so the properties also explore valid answers."""
    item, _ = _ITEMS[link_id]
    kinds = {
        "boolean": st.booleans(),
        "integer": st.integers(min_value=-5, max_value=120),
        "decimal": st.floats(min_value=0, max_value=500) | st.integers(0, 500),
        "string": st.text(max_size=15),
        "text": st.text(max_size=15),
        "date": st.dates().map(lambda d: d.isoformat()),
        "display": st.none(),
    }
    if item["type"] == "choice":
        values = st.sampled_from([o["value"] for o in item["answerOption"]])
        return st.lists(values, max_size=3) if item.get("repeats") else values
    if item["type"] == "group":
        row_keys = [child["linkId"] for child in item["item"]]
        row = st.dictionaries(st.sampled_from(row_keys), st.deferred(lambda: _json_values), max_size=4)
        plausible_row = st.fixed_dictionaries({}, optional={k: _plausible(k) for k in row_keys})
        return st.lists(plausible_row | row, max_size=5)
    return kinds[item["type"]]


_answers = st.dictionaries(
    st.sampled_from(_LINK_IDS) | st.text(max_size=6),
    _json_values,
    max_size=8,
) | st.fixed_dictionaries({}, optional={k: _plausible(k) for k in _LINK_IDS})


def _enabled_in(answers: Mapping, link_id: str, row: Mapping | None = None) -> bool:
    item, parents = _ITEMS[link_id]
    chain = [_ITEMS[p][0] for p in parents if not _ITEMS[p][0].get("repeats")] + [item]
    return all(is_enabled(i, answers, row) for i in chain)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=_answers, complete=st.booleans())
def test_cleaning_never_raises_keeps_only_enabled_answers_and_is_idempotent(answers: dict, complete: bool) -> None:
    result = clean_answers(SAMPLE, answers, complete=complete)
    for link_id, value in result.answers.items():
        assert _enabled_in(result.answers, link_id)
        if _ITEMS[link_id][0]["type"] == "group":
            for row in value:
                assert row
                for child_id in row:
                    assert _enabled_in(result.answers, child_id, row)

    again = clean_answers(SAMPLE, result.answers, complete=False)
    assert again.errors == {}
    assert again.cleared == []
    assert again.answers == result.answers
    if complete and not result.errors:
        assert clean_answers(SAMPLE, result.answers, complete=True).errors == {}


@settings(max_examples=200, deadline=None)
@given(answers=_answers)
def test_draft_errors_are_a_subset_of_submit_errors(answers: dict) -> None:
    draft = clean_answers(SAMPLE, answers, complete=False)
    submitted = clean_answers(SAMPLE, answers, complete=True)
    assert draft.answers == submitted.answers
    assert draft.cleared == submitted.cleared
    for key, messages in draft.errors.items():
        assert set(messages) <= set(submitted.errors[key])
