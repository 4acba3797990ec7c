"""Candidacy screening (intake.candidacy): pure rules over intake answers, no database."""

from __future__ import annotations

import copy
import inspect
import json
from itertools import pairwise
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake import candidacy
from intake.candidacy import (
    ADEQUATE_TRIAL_MIN_WEEKS,
    MODALITIES,
    RULES,
    CandidacyInput,
    ModalityResult,
    Reason,
    Recommendation,
    Rule,
    Severity,
    Trigger,
    adequate_failed_trials,
    evaluate,
    overall,
)

MH = "medical-history"
MEDS = "current-medications"
TRIALS = "antidepressant-trials"
IV, IM, ESK = MODALITIES

ABS, REL, INF = Severity.ABSOLUTE, Severity.RELATIVE, Severity.INFO
ALL_ABSOLUTE = dict.fromkeys(MODALITIES, ABS)
ALL_RELATIVE = dict.fromkeys(MODALITIES, REL)
ALL_INFO = dict.fromkeys(MODALITIES, INF)
ESKETAMINE_ONLY_ABSOLUTE = {IV: REL, IM: REL, ESK: ABS}

RANK = {Recommendation.NOT_ELIGIBLE: 0, Recommendation.CLINICIAN_REVIEW: 1, Recommendation.ELIGIBLE: 2}
SEVERITY_RANK = {ABS: 0, REL: 1, INF: 2}
RULE_INDEX = {rule.code: index for index, rule in enumerate(RULES)}

MH_BOOLEANS = (
    "mh-aneurysm",
    "mh-avm",
    "mh-brain-bleed",
    "mh-ketamine-allergy",
    "mh-ketamine-reaction",
    "mh-psychosis",
    "mh-bipolar",
    "mh-substance-use",
    "mh-hypertension",
    "mh-heart-disease",
    "mh-intracranial-pressure",
    "mh-breastfeeding",
)
MED_BOOLEANS = ("med-benzodiazepine", "med-sedative-hypnotic", "med-psychostimulant", "med-maoi", "med-opioid")


def trial(drug: str = "sertraline", **overrides: object) -> dict[str, object]:
    """One adequate failed trial in the current episode, changed by ``overrides`` (linkIds)."""
    row: dict[str, object] = {
        "trial-drug": drug,
        "trial-dose-adequate": "yes",
        "trial-weeks": 8,
        "trial-outcome": "no_improvement",
        "trial-current-episode": True,
    }
    row.update({key.replace("_", "-"): value for key, value in overrides.items()})
    return row


def clean_responses() -> dict[str, dict[str, object]]:
    """An adult with nothing to report and two adequate failed trials."""
    return {
        MH: {**dict.fromkeys(MH_BOOLEANS, False), "mh-pregnant": "no"},
        MEDS: dict.fromkeys(MED_BOOLEANS, False),
        TRIALS: {
            "trials-any": True,
            "trial": [trial("sertraline"), trial("bupropion", trial_outcome="some_improvement", trial_weeks=12)],
        },
    }


def make(
    *,
    age: int = 40,
    responses: dict | None = None,
    scores: dict | None = None,
    **answers: dict[str, object],
) -> CandidacyInput:
    """The clean intake, with ``answers`` merged per questionnaire (``medical_history={...}``)."""
    merged = clean_responses() if responses is None else responses
    for key, updates in answers.items():
        merged[key.replace("_", "-")].update(updates)
    return CandidacyInput(age_years=age, responses=merged, scores=scores or {})


def codes(result: ModalityResult) -> list[str]:
    return [reason.code for reason in result.reasons]


def only_reason(results: dict[str, ModalityResult], modality: str, code: str) -> Reason:
    matching = [reason for reason in results[modality].reasons if reason.code == code]
    assert len(matching) == 1, f"{code} on {modality}: {codes(results[modality])}"
    return matching[0]


def expected_recommendation(reasons: tuple[Reason, ...]) -> Recommendation:
    severities = {reason.severity for reason in reasons}
    if ABS in severities:
        return Recommendation.NOT_ELIGIBLE
    if REL in severities:
        return Recommendation.CLINICIAN_REVIEW
    return Recommendation.ELIGIBLE


# --- the clean baseline --------------------------------------------------------------------------


@pytest.fixture
def clean() -> CandidacyInput:
    return make()


def test_clean_intake_is_eligible_everywhere_with_only_treatment_resistant(clean):
    results = evaluate(clean)
    assert set(results) == set(MODALITIES)
    for modality in MODALITIES:
        assert results[modality].recommendation == Recommendation.ELIGIBLE
        assert codes(results[modality]) == ["treatment_resistant"]
        assert results[modality].reasons[0].severity == INF
    assert overall(results) == Recommendation.ELIGIBLE


# --- one case per answer-triggered rule ----------------------------------------------------------


class Case(NamedTuple):
    code: str
    questionnaire: str
    answers: dict[str, object]
    severities: dict[str, Severity]
    trigger: Trigger


def mh_case(code: str, answers: dict[str, object], severities: dict, link_id: str, value: object) -> Case:
    return Case(code, MH, answers, severities, Trigger(MH, link_id, value))


def med_case(code: str, link_id: str, severity: Severity) -> Case:
    return Case(code, MEDS, {link_id: True}, dict.fromkeys(MODALITIES, severity), Trigger(MEDS, link_id, True))


ANSWER_CASES = [
    mh_case("aneurysmal_vascular_disease", {"mh-aneurysm": True}, ESKETAMINE_ONLY_ABSOLUTE, "mh-aneurysm", True),
    mh_case("arteriovenous_malformation", {"mh-avm": True}, ESKETAMINE_ONLY_ABSOLUTE, "mh-avm", True),
    mh_case("intracerebral_hemorrhage", {"mh-brain-bleed": True}, ESKETAMINE_ONLY_ABSOLUTE, "mh-brain-bleed", True),
    mh_case("ketamine_hypersensitivity", {"mh-ketamine-allergy": True}, ALL_ABSOLUTE, "mh-ketamine-allergy", True),
    mh_case(
        "prior_ketamine_reaction",
        {"mh-ketamine-reaction": True, "mh-ketamine-reaction-details": "panic attack"},
        ALL_RELATIVE,
        "mh-ketamine-reaction",
        True,
    ),
    mh_case("prior_ketamine_reaction", {"mh-ketamine-reaction": True}, ALL_RELATIVE, "mh-ketamine-reaction", True),
    mh_case("psychosis_history", {"mh-psychosis": True}, ALL_RELATIVE, "mh-psychosis", True),
    mh_case(
        "bipolar_without_mood_stabiliser",
        {"mh-bipolar": True, "mh-mood-stabiliser": False},
        ALL_RELATIVE,
        "mh-mood-stabiliser",
        False,
    ),
    # Unanswered follow-up: read as "not on one"; the diagnosis is the trigger.
    mh_case("bipolar_without_mood_stabiliser", {"mh-bipolar": True}, ALL_RELATIVE, "mh-bipolar", True),
    mh_case(
        "bipolar_on_mood_stabiliser",
        {"mh-bipolar": True, "mh-mood-stabiliser": True},
        ALL_INFO,
        "mh-mood-stabiliser",
        True,
    ),
    mh_case(
        "substance_use_recent",
        {"mh-substance-use": True, "mh-substance-use-recent": True},
        ALL_RELATIVE,
        "mh-substance-use-recent",
        True,
    ),
    mh_case("substance_use_recent", {"mh-substance-use": True}, ALL_RELATIVE, "mh-substance-use", True),
    mh_case(
        "substance_use_history",
        {"mh-substance-use": True, "mh-substance-use-recent": False},
        ALL_INFO,
        "mh-substance-use",
        True,
    ),
    mh_case(
        "uncontrolled_hypertension",
        {"mh-hypertension": True, "mh-hypertension-controlled": "no"},
        ALL_RELATIVE,
        "mh-hypertension-controlled",
        "no",
    ),
    mh_case(
        "uncontrolled_hypertension",
        {"mh-hypertension": True, "mh-hypertension-controlled": "unsure"},
        ALL_RELATIVE,
        "mh-hypertension-controlled",
        "unsure",
    ),
    mh_case("uncontrolled_hypertension", {"mh-hypertension": True}, ALL_RELATIVE, "mh-hypertension", True),
    mh_case(
        "controlled_hypertension",
        {"mh-hypertension": True, "mh-hypertension-controlled": "yes"},
        ALL_INFO,
        "mh-hypertension-controlled",
        "yes",
    ),
    mh_case(
        "recent_cardiac_event",
        {"mh-heart-disease": True, "mh-heart-recent": True},
        ALL_RELATIVE,
        "mh-heart-recent",
        True,
    ),
    mh_case("recent_cardiac_event", {"mh-heart-disease": True}, ALL_RELATIVE, "mh-heart-disease", True),
    mh_case("heart_disease", {"mh-heart-disease": True, "mh-heart-recent": False}, ALL_INFO, "mh-heart-disease", True),
    mh_case(
        "raised_intracranial_pressure",
        {"mh-intracranial-pressure": True},
        ALL_RELATIVE,
        "mh-intracranial-pressure",
        True,
    ),
    mh_case("pregnancy", {"mh-pregnant": "yes"}, ALL_RELATIVE, "mh-pregnant", "yes"),
    mh_case("pregnancy", {"mh-pregnant": "unsure"}, ALL_RELATIVE, "mh-pregnant", "unsure"),
    mh_case("breastfeeding", {"mh-breastfeeding": True}, ALL_RELATIVE, "mh-breastfeeding", True),
    med_case("concomitant_benzodiazepine", "med-benzodiazepine", REL),
    med_case("concomitant_psychostimulant", "med-psychostimulant", REL),
    med_case("concomitant_maoi", "med-maoi", REL),
    med_case("concomitant_sedative_hypnotic", "med-sedative-hypnotic", INF),
    med_case("concomitant_opioid", "med-opioid", INF),
]


@pytest.mark.parametrize("case", ANSWER_CASES, ids=lambda case: f"{case.code}:{case.trigger.link_id}")
def test_answer_rule_fires_with_severity_per_modality_and_trigger(case: Case):
    data = make()
    data.responses[case.questionnaire].update(case.answers)
    results = evaluate(data)
    for modality in MODALITIES:
        reason = only_reason(results, modality, case.code)
        assert reason.severity == case.severities[modality]
        assert reason.trigger == case.trigger
        assert reason.message
        # Nothing else fires beyond the clean baseline's treatment_resistant.
        assert set(codes(results[modality])) == {case.code, "treatment_resistant"}
        assert results[modality].recommendation == expected_recommendation(results[modality].reasons)


@pytest.mark.parametrize(
    ("questionnaire", "answers"),
    [
        (MH, {"mh-pregnant": "not_applicable"}),
        (MH, {"mh-pregnant": "no"}),
        (MH, {"mh-bipolar": False, "mh-mood-stabiliser": False}),  # stray follow-up without the diagnosis
        (MH, {"mh-hypertension": False, "mh-hypertension-controlled": "no"}),
        (MH, {"mh-heart-disease": False, "mh-heart-recent": True}),
        (MH, {"mh-substance-use": False, "mh-substance-use-recent": True}),
        (MH, {"mh-other": "hay fever", "mh-ketamine-reaction-details": "none"}),
        (MEDS, {"med-benzodiazepine-names": "lorazepam", "med-other": "vitamin D"}),  # names without the yes
        (MH, {"mh-psychosis": "true"}),  # only a real True counts
    ],
)
def test_answers_that_are_not_findings_fire_nothing(questionnaire: str, answers: dict):
    data = make()
    data.responses[questionnaire].update(answers)
    for result in evaluate(data).values():
        assert codes(result) == ["treatment_resistant"]
        assert result.recommendation == Recommendation.ELIGIBLE


def test_esketamine_contraindication_message_names_the_label():
    results = evaluate(make(medical_history={"mh-aneurysm": True}))
    assert (
        "contraindication on the esketamine label" in only_reason(results, ESK, "aneurysmal_vascular_disease").message
    )
    assert results[ESK].recommendation == Recommendation.NOT_ELIGIBLE
    assert results[IV].recommendation == Recommendation.CLINICIAN_REVIEW
    assert results[IM].recommendation == Recommendation.CLINICIAN_REVIEW
    assert overall(results) == Recommendation.CLINICIAN_REVIEW


def test_prior_reaction_message_points_to_details_without_copying_them():
    results = evaluate(make(medical_history={"mh-ketamine-reaction": True, "mh-ketamine-reaction-details": "Xq7 rash"}))
    message = only_reason(results, IV, "prior_ketamine_reaction").message
    assert "Xq7" not in message
    assert "details" in message


# --- rules without an answer trigger -------------------------------------------------------------


@pytest.mark.parametrize("age", [0, 12, 17])
def test_under_18_is_absolute_everywhere(age: int):
    results = evaluate(make(age=age))
    for modality in MODALITIES:
        reason = only_reason(results, modality, "under_18")
        assert reason.severity == ABS
        assert reason.trigger is None
        assert str(age) in reason.message
        assert results[modality].recommendation == Recommendation.NOT_ELIGIBLE
    assert overall(results) == Recommendation.NOT_ELIGIBLE


@pytest.mark.parametrize("age", [18, 19, 90])
def test_adults_do_not_fire_under_18(age: int):
    assert all("under_18" not in codes(result) for result in evaluate(make(age=age)).values())


@pytest.mark.parametrize("missing", [None, {}])
def test_missing_medical_history_needs_review(missing):
    responses = clean_responses()
    if missing is None:
        del responses[MH]
    else:
        responses[MH] = missing
    results = evaluate(make(responses=responses))
    for modality in MODALITIES:
        reason = only_reason(results, modality, "medical_history_missing")
        assert (reason.severity, reason.trigger) == (REL, None)
        assert set(codes(results[modality])) == {"medical_history_missing", "treatment_resistant"}
        assert results[modality].recommendation == Recommendation.CLINICIAN_REVIEW


def test_missing_medications_questionnaire_fires_nothing():
    responses = clean_responses()
    del responses[MEDS]
    for result in evaluate(make(responses=responses)).values():
        assert codes(result) == ["treatment_resistant"]


def test_missing_trials_questionnaire_fires_treatment_history_missing_instead():
    responses = clean_responses()
    del responses[TRIALS]
    results = evaluate(make(responses=responses))
    for modality in MODALITIES:
        reason = only_reason(results, modality, "treatment_history_missing")
        assert (reason.severity, reason.trigger) == (REL, None)
        assert codes(results[modality]) == ["treatment_history_missing"]
        assert results[modality].recommendation == Recommendation.CLINICIAN_REVIEW


@pytest.mark.parametrize(
    ("trials", "count"),
    [
        ({"trials-any": False}, 0),
        ({"trials-any": True, "trial": []}, 0),
        ({"trials-any": True, "trial": [trial("sertraline")]}, 1),
        ({"trials-any": True, "trial": [trial("sertraline"), trial("bupropion", trial_weeks=5)]}, 1),
        ({"trials-any": True, "trial": [trial("sertraline"), trial("Sertraline ")]}, 1),
    ],
)
def test_fewer_than_two_adequate_failed_trials_is_not_treatment_resistant(trials: dict, count: int):
    responses = clean_responses()
    responses[TRIALS] = trials
    results = evaluate(make(responses=responses))
    for modality in MODALITIES:
        reason = only_reason(results, modality, "not_treatment_resistant")
        assert (reason.severity, reason.trigger) == (REL, None)
        assert reason.message.startswith(f"{count} adequate failed antidepressant trial")
        assert codes(results[modality]) == ["not_treatment_resistant"]
        assert results[modality].recommendation == Recommendation.CLINICIAN_REVIEW


@pytest.mark.parametrize("count", [2, 3])
def test_treatment_resistant_is_info_with_the_count(count: int):
    responses = clean_responses()
    responses[TRIALS]["trial"] = [trial(f"drug {n}") for n in range(count)]
    results = evaluate(make(responses=responses))
    for modality in MODALITIES:
        reason = only_reason(results, modality, "treatment_resistant")
        assert (reason.severity, reason.trigger) == (INF, None)
        assert reason.message.startswith(f"{count} adequate failed antidepressant trials")
        assert results[modality].recommendation == Recommendation.ELIGIBLE


def test_suicidal_ideation_is_info_for_all():
    results = evaluate(make(scores={"phq9": {"total": 18, "flags": ["item9_positive"]}}))
    for modality in MODALITIES:
        reason = only_reason(results, modality, "suicidal_ideation_reported")
        assert (reason.severity, reason.trigger) == (INF, None)
        assert results[modality].recommendation == Recommendation.ELIGIBLE


@pytest.mark.parametrize(
    "scores",
    [
        {},
        {"phq9": {"total": 18, "flags": []}},
        {"phq9": {"total": 3}},
        {"gad7": {"total": 9, "flags": ["item9_positive"]}},
    ],
)
def test_suicidal_ideation_needs_the_phq9_flag(scores: dict):
    assert all("suicidal_ideation_reported" not in codes(result) for result in evaluate(make(scores=scores)).values())


def test_every_rule_has_a_firing_test():
    covered = {case.code for case in ANSWER_CASES} | {
        "under_18",
        "medical_history_missing",
        "treatment_history_missing",
        "not_treatment_resistant",
        "treatment_resistant",
        "suicidal_ideation_reported",
    }
    assert covered == {rule.code for rule in RULES}


# --- aggregation ---------------------------------------------------------------------------------


def test_absolute_beats_relative_and_comes_first():
    results = evaluate(
        make(
            medical_history={"mh-psychosis": True, "mh-ketamine-allergy": True},
            current_medications={"med-opioid": True},
        )
    )
    for result in results.values():
        assert result.recommendation == Recommendation.NOT_ELIGIBLE
        assert codes(result) == [
            "ketamine_hypersensitivity",
            "psychosis_history",
            "concomitant_opioid",
            "treatment_resistant",
        ]
    assert overall(results) == Recommendation.NOT_ELIGIBLE


def test_relative_beats_info():
    results = evaluate(make(current_medications={"med-maoi": True, "med-opioid": True}))
    assert all(result.recommendation == Recommendation.CLINICIAN_REVIEW for result in results.values())


def test_info_alone_stays_eligible():
    data = make(
        medical_history={"mh-bipolar": True, "mh-mood-stabiliser": True, "mh-hypertension": True},
        current_medications={"med-opioid": True, "med-sedative-hypnotic": True},
        scores={"phq9": {"total": 12, "flags": ["item9_positive"]}},
    )
    data.responses[MH]["mh-hypertension-controlled"] = "yes"
    for result in evaluate(data).values():
        assert {reason.severity for reason in result.reasons} == {INF}
        assert len(result.reasons) == 6
        assert result.recommendation == Recommendation.ELIGIBLE


def test_reasons_are_ordered_by_severity_then_rule_order():
    data = make(
        age=16,
        medical_history={
            "mh-aneurysm": True,
            "mh-ketamine-allergy": True,
            "mh-pregnant": "yes",
            "mh-heart-disease": True,
            "mh-heart-recent": False,
        },
        current_medications={"med-opioid": True, "med-benzodiazepine": True},
    )
    results = evaluate(data)
    assert codes(results[ESK]) == [
        "under_18",
        "aneurysmal_vascular_disease",
        "ketamine_hypersensitivity",
        "pregnancy",
        "concomitant_benzodiazepine",
        "heart_disease",
        "concomitant_opioid",
        "treatment_resistant",
    ]
    assert codes(results[IV]) == [
        "under_18",
        "ketamine_hypersensitivity",
        "aneurysmal_vascular_disease",
        "pregnancy",
        "concomitant_benzodiazepine",
        "heart_disease",
        "concomitant_opioid",
        "treatment_resistant",
    ]


def test_overall_takes_the_best_modality():
    def result(recommendation: Recommendation) -> ModalityResult:
        return ModalityResult(recommendation, ())

    ne, cr, el = Recommendation.NOT_ELIGIBLE, Recommendation.CLINICIAN_REVIEW, Recommendation.ELIGIBLE
    assert overall({IV: result(ne), IM: result(ne), ESK: result(ne)}) == ne
    assert overall({IV: result(ne), IM: result(cr), ESK: result(ne)}) == cr
    assert overall({IV: result(cr), IM: result(ne), ESK: result(el)}) == el
    with pytest.raises(ValueError, match="No modality"):
        overall({})


def test_as_dict_is_json_ready():
    results = evaluate(make(age=17, medical_history={"mh-pregnant": "unsure"}))
    payload = results[ESK].as_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert payload["recommendation"] == "not_eligible"
    assert payload["reasons"][0] == {
        "code": "under_18",
        "severity": "absolute",
        "message": payload["reasons"][0]["message"],
        "trigger": None,
    }
    assert payload["reasons"][1]["trigger"] == {
        "questionnaire": MH,
        "link_id": "mh-pregnant",
        "answer": "unsure",
    }
    assert payload["reasons"][1]["severity"] == "relative"


# --- adequate_failed_trials ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, 1),
        ({"trial_weeks": ADEQUATE_TRIAL_MIN_WEEKS}, 1),
        ({"trial_weeks": ADEQUATE_TRIAL_MIN_WEEKS - 1}, 0),
        ({"trial_weeks": 5}, 0),
        ({"trial_weeks": 6}, 1),
        ({"trial_weeks": None}, 0),
        ({"trial_weeks": True}, 0),  # a bool is not a week count
        ({"trial_dose_adequate": "unsure"}, 0),
        ({"trial_dose_adequate": "no"}, 0),
        ({"trial_outcome": "some_improvement"}, 1),
        ({"trial_outcome": "improved"}, 0),
        ({"trial_outcome": "side_effects"}, 0),
        ({"trial_outcome": "still_taking"}, 0),
        ({"trial_current_episode": False}, 0),
        ({"trial_current_episode": None}, 0),
    ],
)
def test_adequate_failed_trial_edges(overrides: dict, expected: int):
    assert adequate_failed_trials([trial(**overrides)]) == expected


def test_adequate_failed_trials_counts_different_drugs():
    assert adequate_failed_trials([]) == 0
    assert adequate_failed_trials([trial("sertraline"), trial("escitalopram")]) == 2
    # The same antidepressant twice (e.g. retried at a higher dose) is one drug, not two.
    assert adequate_failed_trials([trial("sertraline"), trial("  SERTRALINE")]) == 1
    # Unnamed rows cannot be matched to each other, so each counts.
    assert adequate_failed_trials([trial(""), trial("")]) == 2
    assert adequate_failed_trials([{}, trial("sertraline", trial_weeks=3), trial("venlafaxine")]) == 1


def test_adequate_trial_minimum_is_six_weeks():
    assert ADEQUATE_TRIAL_MIN_WEEKS == 6


# --- the registry --------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.code)
def test_rule_is_documented_and_registered_by_name(rule: Rule):
    assert rule.code.strip()
    assert rule.title.strip()
    assert rule.source.strip()
    assert inspect.getdoc(rule.evaluate)
    assert rule.evaluate.__name__ == rule.code
    assert getattr(candidacy, rule.code) is rule.evaluate


def test_rule_codes_are_unique():
    all_codes = [rule.code for rule in RULES]
    assert len(all_codes) == len(set(all_codes))


def test_data_classes_are_frozen():
    reason = Reason("x", INF, "m", None)
    with pytest.raises(AttributeError):
        reason.code = "y"  # type: ignore[misc]


# --- properties ----------------------------------------------------------------------------------

OUTCOMES = ("no_improvement", "some_improvement", "improved", "side_effects", "still_taking")
TRIAL_ROWS = st.fixed_dictionaries(
    {
        "trial-drug": st.sampled_from(["sertraline", "bupropion", "venlafaxine", "", "Sertraline"]),
        "trial-dose-adequate": st.sampled_from(["yes", "no", "unsure"]),
        "trial-weeks": st.integers(0, 52),
        "trial-outcome": st.sampled_from(
            ["no_improvement", "some_improvement", "improved", "side_effects", "still_taking"]
        ),
        "trial-current-episode": st.booleans(),
    }
)


@st.composite
def intakes(draw: st.DrawFn) -> CandidacyInput:
    responses: dict[str, dict[str, object]] = {}
    if draw(st.booleans()):
        mh: dict[str, object] = draw(
            st.dictionaries(
                st.sampled_from((*MH_BOOLEANS, "mh-mood-stabiliser", "mh-substance-use-recent", "mh-heart-recent")),
                st.booleans(),
            )
        )
        mh.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "mh-hypertension-controlled": st.sampled_from(["yes", "no", "unsure"]),
                        "mh-pregnant": st.sampled_from(["yes", "no", "unsure", "not_applicable"]),
                    },
                )
            )
        )
        responses[MH] = mh
    if draw(st.booleans()):
        responses[MEDS] = draw(st.dictionaries(st.sampled_from(MED_BOOLEANS), st.booleans()))
    if draw(st.booleans()):
        responses[TRIALS] = {"trials-any": draw(st.booleans()), "trial": draw(st.lists(TRIAL_ROWS, max_size=5))}
    flags = draw(st.lists(st.sampled_from(["item9_positive", "other"]), max_size=2))
    scores = draw(st.sampled_from([{}, {"phq9": {"total": 10, "flags": flags}}]))
    return CandidacyInput(age_years=draw(st.integers(0, 110)), responses=responses, scores=scores)


@given(data=intakes())
def test_evaluate_is_total_and_consistent(data: CandidacyInput):
    results = evaluate(data)
    assert tuple(results) == MODALITIES
    for result in results.values():
        assert result.recommendation == expected_recommendation(result.reasons)
        keys = [(SEVERITY_RANK[reason.severity], RULE_INDEX[reason.code]) for reason in result.reasons]
        assert all(a <= b for a, b in pairwise(keys))
    assert overall(results) == max((r.recommendation for r in results.values()), key=RANK.__getitem__)


@given(data=intakes())
def test_each_rule_emits_only_its_own_code_for_known_modalities(data: CandidacyInput):
    for rule in RULES:
        for modality, reason in rule.evaluate(data):
            assert modality in MODALITIES
            assert reason.code == rule.code


ABSOLUTE_FINDINGS = {
    "mh-ketamine-allergy": MODALITIES,
    "mh-aneurysm": (ESK,),
    "mh-avm": (ESK,),
    "mh-brain-bleed": (ESK,),
    "age": MODALITIES,
}


@given(data=intakes(), finding=st.sampled_from(sorted(ABSOLUTE_FINDINGS)))
def test_adding_an_absolute_finding_never_improves_a_recommendation(data: CandidacyInput, finding: str):
    before = evaluate(data)
    responses = copy.deepcopy(dict(data.responses))
    age = data.age_years
    if finding == "age":
        age = min(age, 17)
    else:
        responses.setdefault(MH, {})[finding] = True
    after = evaluate(CandidacyInput(age_years=age, responses=responses, scores=data.scores))
    for modality in MODALITIES:
        assert RANK[after[modality].recommendation] <= RANK[before[modality].recommendation]
        if modality in ABSOLUTE_FINDINGS[finding]:
            assert after[modality].recommendation == Recommendation.NOT_ELIGIBLE
