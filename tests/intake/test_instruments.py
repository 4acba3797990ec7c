"""The shipped questionnaires: verbatim instruments, the candidacy forms other modules read, and
that each one validates and accepts a complete set of answers. No database needed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.engine import clean_answers, is_enabled, iter_items, score_values, validate_definition
from intake.instruments import (
    CANDIDACY_CODES,
    INSTRUMENT_CODES,
    instrument_definition,
    shipped_definitions,
)

SOURCE_DIR = Path(__file__).resolve().parents[2] / "intake" / "instruments" / "source"
SHARED_DIR = Path("/work/shared/instruments")


def source(code: str) -> dict[str, Any]:
    return json.loads((SOURCE_DIR / f"{code}.json").read_text(encoding="utf-8"))


def items_by_id(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["linkId"]: item for item, _ in iter_items(definition)}


# --- all six -------------------------------------------------------------------------------------


def test_six_definitions_are_shipped_in_a_stable_order() -> None:
    assert [d["code"] for d in shipped_definitions()] == [*INSTRUMENT_CODES, *CANDIDACY_CODES]


@pytest.mark.parametrize("definition", shipped_definitions(), ids=lambda d: d["code"])
def test_each_shipped_definition_validates(definition: dict[str, Any]) -> None:
    assert validate_definition(definition) == {}
    assert definition["kind"] == ("instrument" if definition["code"] in INSTRUMENT_CODES else "candidacy")


@pytest.mark.parametrize("definition", shipped_definitions(), ids=lambda d: d["code"])
def test_definitions_survive_a_json_round_trip_unchanged(definition: dict[str, Any]) -> None:
    # They are stored in a JSONField and compared with the stored copy on every sync.
    assert json.loads(json.dumps(definition)) == definition


def test_callers_get_copies() -> None:
    first = instrument_definition("phq9")
    first["item"][0]["text"] = "changed"
    shipped_definitions()[0]["title"] = "changed"
    assert instrument_definition("phq9")["item"][0]["text"] == source("phq9")["items"][0]["text"]
    assert shipped_definitions()[0]["title"] == source("phq9")["title"]


def test_unknown_code() -> None:
    with pytest.raises(KeyError):
        instrument_definition("cssrs")


def test_instrument_definition_serves_every_shipped_code() -> None:
    for code in (*INSTRUMENT_CODES, *CANDIDACY_CODES):
        assert instrument_definition(code)["code"] == code


# --- instruments match their verbatim sources ------------------------------------------------------


@pytest.mark.parametrize("code", INSTRUMENT_CODES)
def test_source_copies_are_byte_identical_to_the_shared_files(code: str) -> None:
    shared = SHARED_DIR / f"{code}.json"
    if not shared.exists():
        pytest.skip("the shared instrument files are not on this machine")
    assert (SOURCE_DIR / f"{code}.json").read_bytes() == shared.read_bytes()


@pytest.mark.parametrize("code", INSTRUMENT_CODES)
def test_instrument_header_matches_source(code: str) -> None:
    src, definition = source(code), instrument_definition(code)
    assert definition["code"] == src["code"] == code
    assert definition["version"] == src["version"]
    assert definition["title"] == src["title"]
    assert definition["kind"] == "instrument"
    assert definition["scoring"] == code
    assert definition["loinc"] == src["loinc"]
    assert definition["licence"] == src["licence"]
    assert definition["sources"] == src["sources"]
    assert src["recall_period"] in definition["description"]


@pytest.mark.parametrize("code", INSTRUMENT_CODES)
def test_scored_items_match_source_exactly(code: str) -> None:
    src, definition = source(code), instrument_definition(code)
    items = items_by_id(definition)
    assert [i["linkId"] for i in src["items"]] == src["scoring"]["items_scored"]
    for src_item in src["items"]:
        item = items[src_item["linkId"]]
        assert item["type"] == "choice"
        assert item["text"] == src_item["text"]
        assert item.get("code") == src_item["loinc"]
        assert item["required"] is True
        assert "enableWhen" not in item
        assert [(o["value"], o["display"], o["score"], o["code"]) for o in item["answerOption"]] == [
            (o["value"], o["label"], o["value"], o.get("loinc")) for o in src["answer_options"]
        ]


@pytest.mark.parametrize("code", INSTRUMENT_CODES)
def test_every_source_item_and_nothing_else_is_asked(code: str) -> None:
    src = source(code)
    expected = [i["linkId"] for i in src["items"]] + [i["linkId"] for i in src["extra_items"]]
    assert [item["linkId"] for item, _ in iter_items(instrument_definition(code))] == expected


@pytest.mark.parametrize("code", INSTRUMENT_CODES)
def test_scores_are_the_option_values(code: str) -> None:
    definition = instrument_definition(code)
    top = source(code)["answer_options"][-1]["value"]
    answers = {link_id: top for link_id in source(code)["scoring"]["items_scored"]}
    cleaned = clean_answers(definition, answers, complete=True)
    assert cleaned.errors == {}
    assert sum(score_values(definition, cleaned.answers).values()) == source(code)["scoring"]["total_range"][1]


def test_paper_only_text_is_not_shown() -> None:
    for code in INSTRUMENT_CODES:
        shown = json.dumps([instrument_definition(code)["description"], instrument_definition(code)["item"]])
        assert "office coding" not in shown.lower()
        assert "\u2714" not in shown  # the paper form's tick mark


def test_phq9_item_8_keeps_its_mid_item_question_mark() -> None:
    text = items_by_id(instrument_definition("phq9"))["phq9-8"]["text"]
    assert "noticed? Or the opposite" in text


def test_phq9_difficulty_question() -> None:
    src_extra = source("phq9")["extra_items"][0]
    item = items_by_id(instrument_definition("phq9"))["phq9-difficulty"]
    assert item["type"] == "choice"
    assert item["required"] is False
    assert item["text"] == src_extra["text"]
    assert item["code"] == src_extra["loinc"] == "69722-7"
    assert [(o["value"], o["display"], o["score"], o["code"]) for o in item["answerOption"]] == [
        (o["value"], o["label"], None, o["loinc"]) for o in src_extra["answer_options"]
    ]
    # The LOINC notes warn that some public code swaps these two.
    codes = {o["display"]: o["code"] for o in item["answerOption"]}
    assert codes["Very difficult"] == "LA6575-0"
    assert codes["Extremely difficult"] == "LA6574-3"
    assert item["enableBehavior"] == "any"
    assert item["enableWhen"] == [{"question": f"phq9-{n}", "operator": ">", "answer": 0} for n in range(1, 10)]


@given(st.lists(st.integers(min_value=0, max_value=3), min_size=9, max_size=9))
def test_phq9_difficulty_shows_iff_some_item_is_above_zero(values: list[int]) -> None:
    definition = instrument_definition("phq9")
    answers = {f"phq9-{n}": v for n, v in enumerate(values, start=1)}
    item = items_by_id(definition)["phq9-difficulty"]
    assert is_enabled(item, answers) is any(v > 0 for v in values)
    result = clean_answers(definition, {**answers, "phq9-difficulty": 1}, complete=True)
    assert result.errors == {}
    if any(v > 0 for v in values):
        assert result.answers["phq9-difficulty"] == 1
        assert result.cleared == []
    else:
        assert "phq9-difficulty" not in result.answers
        assert result.cleared == ["phq9-difficulty"]
    # Not scored: it never shows up among the item scores.
    assert set(score_values(definition, result.answers)) == {f"phq9-{n}" for n in range(1, 10)}


def test_phq9_difficulty_is_optional_when_shown() -> None:
    answers = {f"phq9-{n}": 1 for n in range(1, 10)}
    assert clean_answers(instrument_definition("phq9"), answers, complete=True).errors == {}


def test_phq9_and_gad7_description_is_the_recall_stem() -> None:
    for code in ("phq9", "gad7"):
        assert instrument_definition(code)["description"] == source(code)["recall_period"]


def test_pcl5_description_uses_the_2023_instructions_worded_for_a_screen() -> None:
    src = source("pcl5")
    description = instrument_definition("pcl5")["description"]
    on_screen = src["instructions"].replace("select one of the numbers to the right", "choose one of the answers")
    assert description == f"{on_screen}\n\n{src['recall_period']}"
    assert "Keeping your worst event in mind" in description
    assert "numbers to the right" not in description


def test_pcl5_worst_event_is_optional_free_text() -> None:
    item = items_by_id(instrument_definition("pcl5"))["pcl5-worst-event"]
    assert item["type"] == "string"
    assert item["required"] is False
    assert item["text"] == source("pcl5")["extra_items"][0]["text"]
    assert "code" not in item
    answers = {f"pcl5-{n}": 0 for n in range(1, 21)}
    assert clean_answers(instrument_definition("pcl5"), answers, complete=True).errors == {}
    with_event = clean_answers(
        instrument_definition("pcl5"), {**answers, "pcl5-worst-event": " A crash "}, complete=True
    )
    assert with_event.answers["pcl5-worst-event"] == "A crash"


def test_pcl5_options_have_no_loinc_codes() -> None:
    for item, _ in iter_items(instrument_definition("pcl5")):
        for option in item.get("answerOption", []):
            assert option["code"] is None


@pytest.mark.parametrize("code", INSTRUMENT_CODES)
def test_a_missing_scored_item_is_required_on_submit(code: str) -> None:
    items = source(code)["scoring"]["items_scored"]
    answers = {link_id: 0 for link_id in items[1:]}
    result = clean_answers(instrument_definition(code), answers, complete=True)
    assert result.errors == {items[0]: ["This question is required."]}


# --- candidacy questionnaires ----------------------------------------------------------------------

# linkId -> (type, required, enableWhen) exactly as the candidacy rules read them.
MEDICAL_HISTORY = {
    "mh-aneurysm": ("boolean", True, None),
    "mh-avm": ("boolean", True, None),
    "mh-brain-bleed": ("boolean", True, None),
    "mh-ketamine-allergy": ("boolean", True, None),
    "mh-ketamine-reaction": ("boolean", True, None),
    "mh-ketamine-reaction-details": ("string", False, ("mh-ketamine-reaction", "=", True)),
    "mh-psychosis": ("boolean", True, None),
    "mh-bipolar": ("boolean", True, None),
    "mh-mood-stabiliser": ("boolean", True, ("mh-bipolar", "=", True)),
    "mh-substance-use": ("boolean", True, None),
    "mh-substance-use-recent": ("boolean", True, ("mh-substance-use", "=", True)),
    "mh-hypertension": ("boolean", True, None),
    "mh-hypertension-controlled": ("choice", True, ("mh-hypertension", "=", True)),
    "mh-heart-disease": ("boolean", True, None),
    "mh-heart-recent": ("boolean", True, ("mh-heart-disease", "=", True)),
    "mh-intracranial-pressure": ("boolean", True, None),
    "mh-pregnant": ("choice", True, None),
    "mh-breastfeeding": ("boolean", True, None),
    "mh-other": ("text", False, None),
}
MEDICATION_CLASSES = ("med-benzodiazepine", "med-sedative-hypnotic", "med-psychostimulant", "med-maoi", "med-opioid")
CURRENT_MEDICATIONS = {
    **{cls: ("boolean", True, None) for cls in MEDICATION_CLASSES},
    **{f"{cls}-names": ("string", False, (cls, "=", True)) for cls in MEDICATION_CLASSES},
    "med-other": ("text", False, None),
}
ANTIDEPRESSANT_TRIALS = {
    "trials-any": ("boolean", True, None),
    "trial": ("group", True, ("trials-any", "=", True)),
    "trial-drug": ("string", True, None),
    "trial-dose-adequate": ("choice", True, None),
    "trial-weeks": ("integer", True, None),
    "trial-outcome": ("choice", True, None),
    "trial-current-episode": ("boolean", True, None),
}
EXPECTED = {
    "medical-history": MEDICAL_HISTORY,
    "current-medications": CURRENT_MEDICATIONS,
    "antidepressant-trials": ANTIDEPRESSANT_TRIALS,
}
OPTIONS = {
    "mh-hypertension-controlled": ["yes", "no", "unsure"],
    "mh-pregnant": ["yes", "no", "unsure", "not_applicable"],
    "trial-dose-adequate": ["yes", "no", "unsure"],
    "trial-outcome": ["no_improvement", "some_improvement", "improved", "side_effects", "still_taking"],
}


@pytest.mark.parametrize("code", CANDIDACY_CODES)
def test_candidacy_link_ids_types_and_conditions(code: str) -> None:
    definition = instrument_definition(code)
    assert definition["version"] == "1"
    assert definition["scoring"] is None
    items = items_by_id(definition)
    assert set(items) == set(EXPECTED[code])
    for link_id, (item_type, required, condition) in EXPECTED[code].items():
        item = items[link_id]
        assert item["type"] == item_type, link_id
        assert item.get("required", False) is required, link_id
        if condition is None:
            assert "enableWhen" not in item, link_id
        else:
            question, operator, answer = condition
            assert item["enableWhen"] == [{"question": question, "operator": operator, "answer": answer}], link_id
        if link_id in OPTIONS:
            assert [o["value"] for o in item["answerOption"]] == OPTIONS[link_id]
            assert all(o["score"] is None for o in item["answerOption"])


def test_trial_group_shape() -> None:
    definition = instrument_definition("antidepressant-trials")
    group, parents = next((i, p) for i, p in iter_items(definition) if i["linkId"] == "trial")
    assert parents == ()
    assert group["repeats"] is True
    assert (group["minRepeats"], group["maxRepeats"]) == (1, 20)
    assert [child["linkId"] for child in group["item"]] == [
        "trial-drug",
        "trial-dose-adequate",
        "trial-weeks",
        "trial-outcome",
        "trial-current-episode",
    ]
    children = {child["linkId"]: child for child in group["item"]}
    assert children["trial-drug"]["maxLength"] == 200
    assert (children["trial-weeks"]["minValue"], children["trial-weeks"]["maxValue"]) == (0, 520)


def test_candidacy_wording_is_us_english() -> None:
    british = re.compile(
        r"\b(haemorrhage|stabiliser|tumour|behaviour|colour|anaesthe\w*|oesophag\w*|paediatric)\b", re.I
    )
    for code in CANDIDACY_CODES:
        definition = instrument_definition(code)
        texts = [definition["title"], definition["description"]]
        for item, _ in iter_items(definition):
            texts += [item.get("text", ""), item.get("help", "")]
            texts += [o["display"] for o in item.get("answerOption", [])]
        assert not [t for t in texts if british.search(t)], code


YES_TO_EVERYTHING = {
    "medical-history": {
        **{link_id: True for link_id, (t, _, _) in MEDICAL_HISTORY.items() if t == "boolean"},
        "mh-ketamine-reaction-details": "Felt faint after surgery",
        "mh-hypertension-controlled": "unsure",
        "mh-pregnant": "no",
        "mh-other": "Asthma",
    },
    "current-medications": {
        **{cls: True for cls in MEDICATION_CLASSES},
        **{f"{cls}-names": "one of them" for cls in MEDICATION_CLASSES},
        "med-other": "Vitamin D 1000 IU",
    },
    "antidepressant-trials": {
        "trials-any": True,
        "trial": [
            {
                "trial-drug": "sertraline",
                "trial-dose-adequate": "yes",
                "trial-weeks": 8,
                "trial-outcome": "no_improvement",
                "trial-current-episode": True,
            },
            {
                "trial-drug": "bupropion",
                "trial-dose-adequate": "unsure",
                "trial-weeks": 0,
                "trial-outcome": "side_effects",
                "trial-current-episode": False,
            },
        ],
    },
}
NO_TO_EVERYTHING = {
    "medical-history": {
        **{link_id: False for link_id, (t, req, cond) in MEDICAL_HISTORY.items() if t == "boolean" and cond is None},
        "mh-pregnant": "not_applicable",
    },
    "current-medications": {cls: False for cls in MEDICATION_CLASSES},
    "antidepressant-trials": {"trials-any": False},
}


@pytest.mark.parametrize("answers", [YES_TO_EVERYTHING, NO_TO_EVERYTHING], ids=["yes", "no"])
@pytest.mark.parametrize("code", CANDIDACY_CODES)
def test_a_complete_answer_set_cleans_without_errors(code: str, answers: dict[str, dict]) -> None:
    result = clean_answers(instrument_definition(code), answers[code], complete=True)
    assert result.errors == {}
    assert result.cleared == []
    assert result.answers == answers[code]


@pytest.mark.parametrize("code", CANDIDACY_CODES)
def test_follow_ups_are_hidden_by_a_no(code: str) -> None:
    answers = {**YES_TO_EVERYTHING[code], **NO_TO_EVERYTHING[code]}
    result = clean_answers(instrument_definition(code), answers, complete=True)
    assert result.errors == {}
    expected_cleared = [link_id for link_id, (_, _, cond) in EXPECTED[code].items() if cond is not None]
    assert result.cleared == expected_cleared


@pytest.mark.parametrize("code", CANDIDACY_CODES)
def test_nothing_answered_lists_every_required_top_level_question(code: str) -> None:
    result = clean_answers(instrument_definition(code), {}, complete=True)
    required = [link_id for link_id, (_, req, cond) in EXPECTED[code].items() if req and cond is None]
    if code == "antidepressant-trials":
        required = ["trials-any"]
    assert list(result.errors) == required
    assert all(messages == ["This question is required."] for messages in result.errors.values())


def test_trials_need_at_least_one_entry_when_the_patient_has_taken_antidepressants() -> None:
    definition = instrument_definition("antidepressant-trials")
    result = clean_answers(definition, {"trials-any": True}, complete=True)
    assert result.errors == {"trial": ["This question is required."]}
    row = dict(YES_TO_EVERYTHING["antidepressant-trials"]["trial"][0], **{"trial-weeks": 521})
    result = clean_answers(definition, {"trials-any": True, "trial": [row]}, complete=True)
    assert result.errors == {"trial.0.trial-weeks": ["Must be at most 520."]}
    many = [YES_TO_EVERYTHING["antidepressant-trials"]["trial"][0]] * 21
    assert clean_answers(definition, {"trials-any": True, "trial": many}, complete=False).errors == {
        "trial": ["Add no more than 20 entries."]
    }
