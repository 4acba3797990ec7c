"""Complete, valid answer sets for the shipped questionnaires, for tests to start from."""

from __future__ import annotations

from typing import Any


def phq9(*values: int) -> dict[str, int]:
    values = values or (0,) * 9
    return {f"phq9-{i}": v for i, v in enumerate(values, start=1)}


def gad7(*values: int) -> dict[str, int]:
    values = values or (0,) * 7
    return {f"gad7-{i}": v for i, v in enumerate(values, start=1)}


def pcl5(*values: int) -> dict[str, int]:
    values = values or (0,) * 20
    return {f"pcl5-{i}": v for i, v in enumerate(values, start=1)}


MEDICAL_HISTORY_CLEAR = {
    "mh-aneurysm": False,
    "mh-avm": False,
    "mh-brain-bleed": False,
    "mh-ketamine-allergy": False,
    "mh-ketamine-reaction": False,
    "mh-psychosis": False,
    "mh-bipolar": False,
    "mh-substance-use": False,
    "mh-hypertension": False,
    "mh-heart-disease": False,
    "mh-intracranial-pressure": False,
    "mh-pregnant": "no",
    "mh-breastfeeding": False,
}

MEDICATIONS_NONE = {
    "med-benzodiazepine": False,
    "med-sedative-hypnotic": False,
    "med-psychostimulant": False,
    "med-maoi": False,
    "med-opioid": False,
}


def trial(drug: str, *, weeks: int = 8, outcome: str = "no_improvement") -> dict[str, Any]:
    return {
        "trial-drug": drug,
        "trial-dose-adequate": "yes",
        "trial-weeks": weeks,
        "trial-outcome": outcome,
        "trial-current-episode": True,
    }


TWO_FAILED_TRIALS = {"trials-any": True, "trial": [trial("sertraline"), trial("bupropion")]}


def clean_intake(**overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An adult with no contraindication and two adequate failed trials; ``overrides`` merge per code."""
    answers = {
        "medical-history": dict(MEDICAL_HISTORY_CLEAR),
        "current-medications": dict(MEDICATIONS_NONE),
        "antidepressant-trials": dict(TWO_FAILED_TRIALS),
        "phq9": phq9(2, 2, 2, 2, 1, 1, 1, 1, 0),
        "gad7": gad7(1, 1, 1, 1, 1, 1, 1),
        "pcl5": pcl5(),
    }
    for code, changes in overrides.items():
        answers[code.replace("_", "-")] = {**answers[code.replace("_", "-")], **changes}
    return answers
