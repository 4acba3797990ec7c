"""Instrument scoring and outcomes (intake.scoring): pure functions, no database."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Sequence
from dataclasses import FrozenInstanceError
from itertools import pairwise
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.scoring import (
    GAD7_BANDS,
    GAD7_ITEMS,
    PCL5_CLUSTERS,
    PCL5_ITEMS,
    PHQ9_BANDS,
    PHQ9_ITEMS,
    SCORERS,
    IncompleteResponse,
    InvalidAnswer,
    Score,
    band_for,
    outcome,
    score,
    score_gad7,
    score_pcl5,
    score_phq9,
)


class Spec(NamedTuple):
    code: str
    items: tuple[str, ...]
    max_value: int
    bands: tuple[tuple[int, int, str], ...] | None
    scorer: Callable[..., Score]


PHQ9 = Spec("phq9", PHQ9_ITEMS, 3, PHQ9_BANDS, score_phq9)
GAD7 = Spec("gad7", GAD7_ITEMS, 3, GAD7_BANDS, score_gad7)
PCL5 = Spec("pcl5", PCL5_ITEMS, 4, None, score_pcl5)
SPECS = (PHQ9, GAD7, PCL5)


def summing_to(items: Sequence[str], max_value: int, total: int) -> dict[str, int]:
    """A complete answer set over ``items`` whose values add up to ``total`` (filled greedily)."""
    assert 0 <= total <= max_value * len(items)
    answers = {}
    for link_id in items:
        answers[link_id] = min(max_value, total)
        total -= answers[link_id]
    return answers


def zeros(items: Sequence[str]) -> dict[str, int]:
    return dict.fromkeys(items, 0)


def band_index(label: str, bands) -> int:
    return [b[2] for b in bands].index(label)


# --- band tables ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("bands", "top"), [(PHQ9_BANDS, 27), (GAD7_BANDS, 21)])
def test_bands_cover_the_range_without_gaps_or_overlap(bands, top):
    assert bands[0][0] == 0
    assert bands[-1][1] == top
    for (_, high, _), (low, _, _) in pairwise(bands):
        assert low == high + 1


@pytest.mark.parametrize(("bands", "total"), [(PHQ9_BANDS, -1), (PHQ9_BANDS, 28), (GAD7_BANDS, -1), (GAD7_BANDS, 22)])
def test_band_for_refuses_a_total_outside_every_band(bands, total):
    with pytest.raises(ValueError, match="outside every band"):
        band_for(total, bands)


# --- PHQ-9 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately severe"),
        (19, "moderately severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_band_boundaries(total, band):
    result = score_phq9(summing_to(PHQ9_ITEMS, 3, total))
    assert result.instrument == "phq9"
    assert result.total == total
    assert result.band == band


@pytest.mark.parametrize("item9", [0, 1, 2, 3])
@pytest.mark.parametrize("others", [0, 4, 12, 24])
def test_phq9_item9_flag_whatever_the_total(item9, others):
    answers = summing_to(PHQ9_ITEMS[:8], 3, others) | {"phq9-9": item9}
    result = score_phq9(answers)
    assert result.total == others + item9
    assert result.details == {"item9": item9}
    assert result.flags == (("item9_positive",) if item9 > 0 else ())


def test_phq9_item9_flag_with_a_minimal_total():
    # The point of the flag: a total of 1 is "minimal", yet item 9 needs same-day follow-up.
    result = score_phq9(zeros(PHQ9_ITEMS) | {"phq9-9": 1})
    assert result.band == "minimal"
    assert result.flags == ("item9_positive",)


def test_phq9_ignores_the_difficulty_question_and_unknown_keys():
    answers = summing_to(PHQ9_ITEMS, 3, 7) | {"phq9-difficulty": 3, "note": "free text", "gad7-1": 99}
    assert score_phq9(answers).total == 7


def test_phq9_difficulty_alone_does_not_make_a_score():
    with pytest.raises(IncompleteResponse) as excinfo:
        score_phq9({"phq9-difficulty": 2})
    assert excinfo.value.missing == list(PHQ9_ITEMS)


# --- GAD-7 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_band_boundaries(total, band):
    result = score_gad7(summing_to(GAD7_ITEMS, 3, total))
    assert result.instrument == "gad7"
    assert result.total == total
    assert result.band == band
    assert result.flags == (("further_evaluation",) if total >= 10 else ())
    assert result.details == {}


@pytest.mark.parametrize(("total", "flagged"), [(9, False), (10, True)])
def test_gad7_further_evaluation_at_10(total, flagged):
    assert ("further_evaluation" in score_gad7(summing_to(GAD7_ITEMS, 3, total)).flags) is flagged


# --- PCL-5 ---------------------------------------------------------------------------------------


def pcl5(values: dict[int, int]) -> dict[str, int]:
    """Answers with item numbers -> values; every other item 0."""
    return zeros(PCL5_ITEMS) | {f"pcl5-{n}": v for n, v in values.items()}


def test_pcl5_cluster_sums_and_endorsement_counts():
    # B: 0 1 2 3 4 ; C: 4 1 ; D: 2 2 2 0 0 1 3 ; E: 0 0 0 0 1 1
    values = [0, 1, 2, 3, 4, 4, 1, 2, 2, 2, 0, 0, 1, 3, 0, 0, 0, 0, 1, 1]
    result = score_pcl5(dict(zip(PCL5_ITEMS, values, strict=True)))
    clusters = result.details["clusters"]
    assert result.total == sum(values) == 27
    assert result.band is None
    assert clusters["B"] == {"severity": 10, "endorsed": 3, "required": 1, "met": True}
    assert clusters["C"] == {"severity": 5, "endorsed": 1, "required": 1, "met": True}
    assert clusters["D"] == {"severity": 10, "endorsed": 4, "required": 2, "met": True}
    assert clusters["E"] == {"severity": 2, "endorsed": 0, "required": 2, "met": False}
    assert result.details["dsm5_criteria_met"] is False
    assert result.flags == ()


def test_pcl5_cluster_membership():
    assert {name: (items[0], items[-1], len(items), required) for name, items, required in PCL5_CLUSTERS} == {
        "B": ("pcl5-1", "pcl5-5", 5, 1),
        "C": ("pcl5-6", "pcl5-7", 2, 1),
        "D": ("pcl5-8", "pcl5-14", 7, 2),
        "E": ("pcl5-15", "pcl5-20", 6, 2),
    }


# The minimum that meets the DSM-5 rule: exactly 1 B, 1 C, 2 D and 2 E items at 2 ("Moderately").
MINIMAL_DSM = {1: 2, 6: 2, 8: 2, 9: 2, 15: 2, 16: 2}
ITEM_CLUSTER = {1: "B", 6: "C", 8: "D", 9: "D", 15: "E", 16: "E"}


def test_pcl5_dsm_rule_met_at_the_minimum():
    result = score_pcl5(pcl5(MINIMAL_DSM))
    assert result.total == 12
    assert all(c["met"] and c["endorsed"] == c["required"] for c in result.details["clusters"].values())
    assert result.details["dsm5_criteria_met"] is True
    # Meeting the symptom pattern does not make the total reach the cut-off: the two are separate.
    assert result.flags == ("dsm5_criteria_met",)


@pytest.mark.parametrize("lowered", sorted(MINIMAL_DSM))
def test_pcl5_dsm_rule_not_met_when_one_needed_item_is_1(lowered):
    # "A little bit" (1) is not endorsed, even with every unrelated item at 1.
    answers = pcl5(dict.fromkeys(range(1, 21), 1) | MINIMAL_DSM | {lowered: 1})
    result = score_pcl5(answers)
    clusters = result.details["clusters"]
    assert clusters[ITEM_CLUSTER[lowered]]["met"] is False
    assert [name for name, c in clusters.items() if not c["met"]] == [ITEM_CLUSTER[lowered]]
    assert result.details["dsm5_criteria_met"] is False
    assert "dsm5_criteria_met" not in result.flags


@pytest.mark.parametrize("value", [2, 3, 4])
def test_pcl5_endorsed_at_2_and_above(value):
    result = score_pcl5(pcl5({1: value}))
    assert result.details["clusters"]["B"]["endorsed"] == 1


@pytest.mark.parametrize("cutoff", [31, 32, 33])
@pytest.mark.parametrize("offset", [-1, 0])
def test_pcl5_provisional_cutoff(cutoff, offset):
    total = cutoff + offset
    answers = summing_to(PCL5_ITEMS, 4, total)
    result = score_pcl5(answers, provisional_cutoff=cutoff)
    assert result.total == total
    assert result.details["provisional_cutoff"] == cutoff
    assert ("provisional_ptsd" in result.flags) is (offset == 0)


def test_pcl5_default_cutoff_is_33():
    assert "provisional_ptsd" not in score_pcl5(summing_to(PCL5_ITEMS, 4, 32)).flags
    result = score_pcl5(summing_to(PCL5_ITEMS, 4, 33))
    assert "provisional_ptsd" in result.flags
    assert result.details["provisional_cutoff"] == 33


@pytest.mark.parametrize("cutoff", [30, 34, 38, 0, -33, True, 32.0, "32", None])
def test_pcl5_cutoff_outside_the_va_range_is_refused(cutoff):
    with pytest.raises(ValueError, match="provisional_cutoff"):
        score_pcl5(zeros(PCL5_ITEMS), provisional_cutoff=cutoff)


def test_pcl5_both_flags_sorted():
    result = score_pcl5(dict.fromkeys(PCL5_ITEMS, 4))
    assert result.total == 80
    assert result.flags == ("dsm5_criteria_met", "provisional_ptsd")


def test_pcl5_ignores_the_worst_event_line():
    assert score_pcl5(zeros(PCL5_ITEMS) | {"pcl5-worst-event": "a car accident"}).total == 0


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.code)
def test_missing_items_all_listed_in_form_order(spec):
    answers = zeros(spec.items)
    for link_id in (spec.items[-1], spec.items[0], spec.items[2]):
        del answers[link_id]
    with pytest.raises(IncompleteResponse) as excinfo:
        spec.scorer(answers)
    assert excinfo.value.missing == [spec.items[0], spec.items[2], spec.items[-1]]
    assert excinfo.value.instrument == spec.code
    assert spec.items[2] in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


def test_none_counts_as_not_answered():
    with pytest.raises(IncompleteResponse) as excinfo:
        score_gad7(zeros(GAD7_ITEMS) | {"gad7-4": None})
    assert excinfo.value.missing == ["gad7-4"]


def test_empty_answers_list_every_item():
    with pytest.raises(IncompleteResponse) as excinfo:
        score_pcl5({})
    assert excinfo.value.missing == list(PCL5_ITEMS)


@pytest.mark.parametrize("value", [True, False, -1, 4, 2.0, "2", [2], 10**9])
def test_phq9_invalid_answer_names_the_link_id(value):
    with pytest.raises(InvalidAnswer, match="phq9-5") as excinfo:
        score_phq9(zeros(PHQ9_ITEMS) | {"phq9-5": value})
    assert excinfo.value.link_id == "phq9-5"
    assert isinstance(excinfo.value, ValueError)


def test_pcl5_accepts_4_and_refuses_5():
    assert score_pcl5(zeros(PCL5_ITEMS) | {"pcl5-20": 4}).total == 4
    with pytest.raises(InvalidAnswer, match="pcl5-20"):
        score_pcl5(zeros(PCL5_ITEMS) | {"pcl5-20": 5})


def test_invalid_answer_message_does_not_echo_free_text():
    # Exception text reaches logs; a stray string could be something the patient typed.
    with pytest.raises(InvalidAnswer) as excinfo:
        score_gad7(zeros(GAD7_ITEMS) | {"gad7-1": "Jane Doe 555-0100"})
    assert "Jane" not in str(excinfo.value)
    assert "str" in str(excinfo.value)


def test_missing_is_reported_before_invalid():
    answers = zeros(GAD7_ITEMS) | {"gad7-1": "x"}
    del answers["gad7-2"]
    with pytest.raises(IncompleteResponse):
        score_gad7(answers)


def test_exceptions_survive_pickling():
    missing = pickle.loads(pickle.dumps(IncompleteResponse(["phq9-1"], "phq9")))  # noqa: S301 - own object
    assert (missing.missing, missing.instrument) == (["phq9-1"], "phq9")
    invalid = pickle.loads(pickle.dumps(InvalidAnswer("phq9-1", 7, 3)))  # noqa: S301 - own object
    assert (invalid.link_id, invalid.value, invalid.max_value) == ("phq9-1", 7, 3)


# --- Score and dispatch --------------------------------------------------------------------------


def test_score_is_frozen_hashable_and_json_serialisable():
    result = score_pcl5(dict.fromkeys(PCL5_ITEMS, 2))
    with pytest.raises(FrozenInstanceError):
        result.total = 0  # type: ignore[misc]
    hash(result)
    data = result.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["flags"] == ["dsm5_criteria_met", "provisional_ptsd"]
    data["details"]["clusters"]["B"]["severity"] = -1
    assert result.details["clusters"]["B"]["severity"] == 10


def test_phq9_as_dict():
    assert score_phq9(summing_to(PHQ9_ITEMS, 3, 27)).as_dict() == {
        "instrument": "phq9",
        "total": 27,
        "band": "severe",
        "flags": ["item9_positive"],
        "details": {"item9": 3},
    }


def test_dispatch():
    assert set(SCORERS) == {"phq9", "gad7", "pcl5"}
    assert score("phq9", summing_to(PHQ9_ITEMS, 3, 12)) == score_phq9(summing_to(PHQ9_ITEMS, 3, 12))
    assert score("gad7", zeros(GAD7_ITEMS)).band == "minimal"
    result = score("pcl5", summing_to(PCL5_ITEMS, 4, 31), provisional_cutoff=31)
    assert "provisional_ptsd" in result.flags


def test_dispatch_unknown_instrument():
    with pytest.raises(KeyError, match="madrs"):
        score("madrs", {})


def test_dispatch_refuses_options_a_scorer_does_not_take():
    with pytest.raises(TypeError):
        score("phq9", zeros(PHQ9_ITEMS), provisional_cutoff=33)


# --- properties ----------------------------------------------------------------------------------


def complete_answers(spec: Spec) -> st.SearchStrategy[dict[str, int]]:
    return st.fixed_dictionaries({link_id: st.integers(0, spec.max_value) for link_id in spec.items})


specs = st.sampled_from(SPECS)


@given(data=st.data(), spec=specs)
def test_total_is_the_sum_and_within_range(data, spec):
    answers = data.draw(complete_answers(spec))
    result = spec.scorer(answers)
    assert result.total == sum(answers.values())
    assert 0 <= result.total <= spec.max_value * len(spec.items)
    if spec.bands is not None:
        assert result.band == band_for(result.total, spec.bands)
    assert result.flags == tuple(sorted(result.flags))
    json.dumps(result.as_dict())


@given(data=st.data(), spec=st.sampled_from((PHQ9, GAD7)))
def test_band_is_monotonic_in_total(data, spec):
    first = spec.scorer(data.draw(complete_answers(spec)))
    second = spec.scorer(data.draw(complete_answers(spec)))
    low, high = sorted((first, second), key=lambda s: s.total)
    assert band_index(low.band, spec.bands) <= band_index(high.band, spec.bands)


@given(low=st.integers(0, 27), high=st.integers(0, 27))
def test_phq9_band_for_is_monotonic(low, high):
    low, high = sorted((low, high))
    assert band_index(band_for(low, PHQ9_BANDS), PHQ9_BANDS) <= band_index(band_for(high, PHQ9_BANDS), PHQ9_BANDS)


@given(data=st.data(), spec=specs)
def test_removing_any_item_names_it(data, spec):
    answers = data.draw(complete_answers(spec))
    removed = data.draw(st.sampled_from(spec.items))
    del answers[removed]
    with pytest.raises(IncompleteResponse) as excinfo:
        spec.scorer(answers)
    assert excinfo.value.missing == [removed]


def bad_values(max_value: int) -> st.SearchStrategy[object]:
    return st.one_of(
        st.integers(max_value=-1),
        st.integers(min_value=max_value + 1),
        st.booleans(),
        st.floats(allow_nan=True),
        st.text(),
        st.decimals(allow_nan=False),
    )


@given(data=st.data(), spec=specs)
def test_an_out_of_range_value_is_refused(data, spec):
    answers = data.draw(complete_answers(spec))
    target = data.draw(st.sampled_from(spec.items))
    answers[target] = data.draw(bad_values(spec.max_value))
    with pytest.raises(InvalidAnswer) as excinfo:
        spec.scorer(answers)
    assert excinfo.value.link_id == target


@given(answers=complete_answers(PCL5), cutoff=st.integers(31, 33))
def test_pcl5_details_agree_with_the_answers(answers, cutoff):
    result = score_pcl5(answers, provisional_cutoff=cutoff)
    clusters = result.details["clusters"]
    assert sum(c["severity"] for c in clusters.values()) == result.total
    for name, items, required in PCL5_CLUSTERS:
        assert clusters[name]["severity"] == sum(answers[i] for i in items)
        assert clusters[name]["endorsed"] == sum(answers[i] >= 2 for i in items)
        assert clusters[name]["met"] is (clusters[name]["endorsed"] >= required)
    assert result.details["dsm5_criteria_met"] is all(c["met"] for c in clusters.values())
    assert ("dsm5_criteria_met" in result.flags) is result.details["dsm5_criteria_met"]
    assert ("provisional_ptsd" in result.flags) is (result.total >= cutoff)


@given(answers=complete_answers(PHQ9))
def test_phq9_item9_flag_property(answers):
    result = score_phq9(answers)
    assert ("item9_positive" in result.flags) is (answers["phq9-9"] > 0)


# --- outcomes ------------------------------------------------------------------------------------


def test_outcome_exact_half_is_a_response():
    result = outcome(20, 10)
    assert (result.change, result.percent_change, result.response) == (-10, -50.0, True)
    assert result.remission is False


def test_outcome_49_percent_is_not_a_response():
    result = outcome(100, 51)
    assert (result.change, result.percent_change, result.response) == (-49, -49.0, False)


@pytest.mark.parametrize(
    ("baseline", "latest", "response"),
    [(21, 10, True), (21, 11, False), (11, 5, True), (11, 6, False), (27, 13, True), (27, 14, False), (1, 0, True)],
)
def test_outcome_response_on_odd_baselines(baseline, latest, response):
    assert outcome(baseline, latest).response is response


@pytest.mark.parametrize(("latest", "remission"), [(4, True), (5, False), (0, True)])
def test_outcome_remission_boundary(latest, remission):
    assert outcome(15, latest).remission is remission


def test_outcome_remission_threshold_is_a_parameter():
    # MADRS remission is < 10.
    assert outcome(30, 9, remission_below=10).remission is True
    assert outcome(30, 10, remission_below=10).remission is False


def test_outcome_missing_baseline():
    result = outcome(None, 3)
    assert (result.baseline, result.latest, result.change, result.percent_change) == (None, 3, None, None)
    assert result.response is False
    # Remission is a state of the latest score; it does not need a baseline.
    assert result.remission is True


def test_outcome_missing_latest():
    result = outcome(18, None)
    assert (result.change, result.percent_change, result.response, result.remission) == (None, None, False, False)


def test_outcome_zero_baseline():
    result = outcome(0, 0)
    assert (result.change, result.percent_change, result.response, result.remission) == (0, None, False, True)


def test_outcome_worsening():
    result = outcome(8, 12)
    assert (result.change, result.percent_change, result.response) == (4, 50.0, False)


def test_outcome_percent_change_is_rounded_to_one_decimal():
    assert outcome(3, 2).percent_change == -33.3
    assert outcome(3, 1).percent_change == -66.7


@pytest.mark.parametrize(("baseline", "latest"), [(-1, 3), (3, -1), (True, 3), (3, 2.5), ("10", 3)])
def test_outcome_refuses_scores_that_are_not_non_negative_ints(baseline, latest):
    with pytest.raises(ValueError, match="must be a non-negative int"):
        outcome(baseline, latest)


@given(baseline=st.integers(0, 80), latest=st.integers(0, 80))
def test_outcome_properties(baseline, latest):
    result = outcome(baseline, latest)
    assert result.change == latest - baseline
    assert result.response is (baseline > 0 and latest * 2 <= baseline)
    if baseline:
        assert abs(result.percent_change - (latest - baseline) * 100 / baseline) <= 0.05 + 1e-9
        assert (result.percent_change <= -50.0) is result.response
    else:
        assert result.percent_change is None
