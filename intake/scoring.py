"""Scoring of the shipped instruments (PHQ-9, GAD-7, PCL-5) and of treatment outcomes.

Pure functions over a mapping of ``linkId -> answer value``: standard library only, no Django, so
the questionnaire engine, the API, reports and exports all score the same way and the rules can
be tested without a database.

Sources (the ``scoring`` sections of ``instruments/*.json`` and CLINICAL.md):

- PHQ-9: total 0-27; cut-points 5, 10, 15, 20 for mild, moderate, moderately severe, severe
  (Kroenke, Spitzer & Williams, J Gen Intern Med 2001;16:606-613). The item 9 flag is this
  project's clinical policy (any answer above 0 needs same-day clinician follow-up), not part of
  the published scoring.
- GAD-7: total 0-21; cut-points 5, 10, 15 for mild, moderate, severe, and 10 or more as the point
  for further evaluation (Spitzer, Kroenke, Williams & Loewe, Arch Intern Med 2006;166:1092-1097).
- PCL-5: total 0-80; clusters B 1-5, C 6-7, D 8-14, E 15-20; an item rated 2 or more is
  endorsed; provisional DSM-5 diagnosis needs at least 1 B, 1 C, 2 D and 2 E; provisional PTSD
  cut-off "between 31-33" (VA National Center for PTSD, "Using the PCL-5"; Weathers et al. 2013).
  The VA publishes no severity bands, so PCL-5 has none here.
- Outcomes: response is a drop of at least 50 % from baseline; remission is PHQ-9 < 5 (CLINICAL.md,
  "Outcomes").

None of the published forms gives a rule for missing items. The project rule is that a total is
computed only when every scored item is answered, so a partial response raises
``IncompleteResponse`` instead of returning a total that would understate severity.

Every threshold here is a default a clinic's medical director may change; where the source gives
a range (the PCL-5 cut-off) or a convention (GAD-7 remission) the value is a parameter.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Band = tuple[int, int, str]

PHQ9_ITEMS: tuple[str, ...] = tuple(f"phq9-{n}" for n in range(1, 10))
GAD7_ITEMS: tuple[str, ...] = tuple(f"gad7-{n}" for n in range(1, 8))
PCL5_ITEMS: tuple[str, ...] = tuple(f"pcl5-{n}" for n in range(1, 21))

PHQ9_MAX_ITEM = 3
GAD7_MAX_ITEM = 3
PCL5_MAX_ITEM = 4

# (min, max, label), inclusive on both ends, in increasing severity: the index is the severity rank.
PHQ9_BANDS: tuple[Band, ...] = (
    (0, 4, "minimal"),
    (5, 9, "mild"),
    (10, 14, "moderate"),
    (15, 19, "moderately severe"),
    (20, 27, "severe"),
)
GAD7_BANDS: tuple[Band, ...] = (
    (0, 4, "minimal"),
    (5, 9, "mild"),
    (10, 14, "moderate"),
    (15, 21, "severe"),
)

PHQ9_ITEM9 = "phq9-9"
GAD7_FURTHER_EVALUATION_AT = 10  # Spitzer 2006: recommended cut point when screening for an anxiety disorder

PCL5_ENDORSED_AT = 2  # "Moderately" or higher counts as a symptom endorsed (VA scoring guidance)
PCL5_CUTOFF_MIN = 31
PCL5_CUTOFF_MAX = 33
PCL5_DEFAULT_CUTOFF = 33  # top of the VA range: fewer false positives; a clinic may choose 31 or 32
# cluster -> (items, endorsed items required for a provisional DSM-5 diagnosis)
PCL5_CLUSTERS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("B", PCL5_ITEMS[0:5], 1),
    ("C", PCL5_ITEMS[5:7], 1),
    ("D", PCL5_ITEMS[7:14], 2),
    ("E", PCL5_ITEMS[14:20], 2),
)

DEFAULT_REMISSION_BELOW = 5  # PHQ-9 < 5 (CLINICAL.md); also the common GAD-7 convention; MADRS uses 10


class IncompleteResponse(ValueError):
    """One or more scored items were not answered; ``missing`` lists their linkIds in form order."""

    def __init__(self, missing: Sequence[str], instrument: str | None = None) -> None:
        self.missing: list[str] = list(missing)
        self.instrument = instrument
        prefix = f"{instrument}: " if instrument else ""
        super().__init__(f"{prefix}scored items not answered: {', '.join(self.missing)}")

    def __reduce__(self):
        # Keep the structured fields when the exception crosses a process boundary (pickling).
        return (type(self), (self.missing, self.instrument))


class InvalidAnswer(ValueError):
    """An answer is not an int (bool is refused) or lies outside the item's range."""

    def __init__(self, link_id: str, value: object, max_value: int) -> None:
        self.link_id = link_id
        self.value = value
        self.max_value = max_value
        # Name the type, not the value, for non-ints: a stray string could be free text from a
        # patient, and exception messages end up in logs.
        got = repr(value) if isinstance(value, int) else type(value).__name__
        super().__init__(f"{link_id}: expected an int 0..{max_value}, got {got}")

    def __reduce__(self):
        return (type(self), (self.link_id, self.value, self.max_value))


@dataclass(frozen=True)
class Score:
    instrument: str
    total: int
    band: str | None
    flags: tuple[str, ...] = ()
    # A dict is unhashable; leave it out of the hash so a Score stays hashable like other frozen values.
    details: dict[str, Any] = field(default_factory=dict, hash=False)

    def as_dict(self) -> dict[str, Any]:
        # Deep copy: the caller may mutate the result (e.g. add ids before saving) without
        # changing this frozen Score.
        return {
            "instrument": self.instrument,
            "total": self.total,
            "band": self.band,
            "flags": list(self.flags),
            "details": copy.deepcopy(self.details),
        }


def band_for(total: int, bands: Sequence[Band]) -> str:
    """The label of the band holding ``total``; ``ValueError`` if none does (never guess a band)."""
    for low, high, label in bands:
        if low <= total <= high:
            return label
    raise ValueError(f"total {total} is outside every band")


def _item_values(instrument: str, answers: Mapping[str, object], items: Sequence[str], max_value: int) -> list[int]:
    """Validated values of the scored items, in form order. Keys not in ``items`` are ignored."""
    # None is "not answered": a form may submit every linkId with empty ones left as null.
    missing = [link_id for link_id in items if answers.get(link_id) is None]
    if missing:
        raise IncompleteResponse(missing, instrument)
    values: list[int] = []
    for link_id in items:
        value = answers[link_id]
        # bool is an int subclass; True would silently score 1, so refuse it.
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= max_value:
            raise InvalidAnswer(link_id, value, max_value)
        values.append(int(value))
    return values


def score_phq9(answers: Mapping[str, object]) -> Score:
    """PHQ-9: sum of items 1-9 (0-3 each); the difficulty question is not scored and is ignored."""
    values = _item_values("phq9", answers, PHQ9_ITEMS, PHQ9_MAX_ITEM)
    total = sum(values)
    item9 = values[PHQ9_ITEMS.index(PHQ9_ITEM9)]
    # Item 9 (thoughts of death or self-harm) is flagged whatever the total: a low total must not hide it.
    flags = ("item9_positive",) if item9 > 0 else ()
    return Score("phq9", total, band_for(total, PHQ9_BANDS), flags, {"item9": item9})


def score_gad7(answers: Mapping[str, object]) -> Score:
    """GAD-7: sum of the 7 items (0-3 each); flags a total of 10 or more for further evaluation."""
    values = _item_values("gad7", answers, GAD7_ITEMS, GAD7_MAX_ITEM)
    total = sum(values)
    flags = ("further_evaluation",) if total >= GAD7_FURTHER_EVALUATION_AT else ()
    return Score("gad7", total, band_for(total, GAD7_BANDS), flags, {})


def score_pcl5(answers: Mapping[str, object], *, provisional_cutoff: int = PCL5_DEFAULT_CUTOFF) -> Score:
    """PCL-5: total 0-80, cluster severities and endorsement counts, the provisional DSM-5 rule
    and the provisional PTSD cut-off. A screen, not a diagnosis."""
    # Only the VA's published range is accepted: a value outside it (e.g. the superseded 38) is a
    # configuration mistake, not a clinic choice.
    if (
        isinstance(provisional_cutoff, bool)
        or not isinstance(provisional_cutoff, int)
        or not PCL5_CUTOFF_MIN <= provisional_cutoff <= PCL5_CUTOFF_MAX
    ):
        raise ValueError(
            f"provisional_cutoff must be an int {PCL5_CUTOFF_MIN}..{PCL5_CUTOFF_MAX}, got {provisional_cutoff!r}"
        )
    values = dict(zip(PCL5_ITEMS, _item_values("pcl5", answers, PCL5_ITEMS, PCL5_MAX_ITEM), strict=True))
    total = sum(values.values())

    clusters: dict[str, dict[str, Any]] = {}
    for name, items, required in PCL5_CLUSTERS:
        endorsed = sum(1 for link_id in items if values[link_id] >= PCL5_ENDORSED_AT)
        clusters[name] = {
            "severity": sum(values[link_id] for link_id in items),
            "endorsed": endorsed,
            "required": required,
            "met": endorsed >= required,
        }
    dsm5_criteria_met = all(cluster["met"] for cluster in clusters.values())

    flags = []
    if total >= provisional_cutoff:
        flags.append("provisional_ptsd")
    if dsm5_criteria_met:
        flags.append("dsm5_criteria_met")
    details = {"clusters": clusters, "dsm5_criteria_met": dsm5_criteria_met, "provisional_cutoff": provisional_cutoff}
    return Score("pcl5", total, None, tuple(sorted(flags)), details)


SCORERS: dict[str, Callable[..., Score]] = {
    "phq9": score_phq9,
    "gad7": score_gad7,
    "pcl5": score_pcl5,
}


def score(instrument: str, answers: Mapping[str, object], **options: Any) -> Score:
    """Score ``answers`` with the scorer for ``instrument``; ``KeyError`` for an unknown code."""
    try:
        scorer = SCORERS[instrument]
    except KeyError:
        raise KeyError(f"no scorer for instrument {instrument!r}; known: {', '.join(sorted(SCORERS))}") from None
    return scorer(answers, **options)


@dataclass(frozen=True)
class Outcome:
    baseline: int | None
    latest: int | None
    change: int | None  # latest - baseline: negative is improvement on these scales
    percent_change: float | None  # 100 * change / baseline, 1 decimal; None without a non-zero baseline
    response: bool  # a drop of at least 50 % from baseline
    remission: bool  # latest below ``remission_below``


def _check_score(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int or None, got {value!r}")


def outcome(baseline: int | None, latest: int | None, *, remission_below: int = DEFAULT_REMISSION_BELOW) -> Outcome:
    """Change from ``baseline`` to ``latest`` on the same instrument.

    Response is ``latest <= baseline / 2``, compared in integers (``2 * latest <= baseline``) so an
    exact 50 % drop is never lost to float rounding. Remission is ``latest < remission_below``:
    5 is the PHQ-9 definition in CLINICAL.md and the common convention for GAD-7 too (not a
    published GAD-7 rule); pass 10 for MADRS. Remission needs only the latest score.
    """
    _check_score("baseline", baseline)
    _check_score("latest", latest)
    _check_score("remission_below", remission_below)

    both = baseline is not None and latest is not None
    change = latest - baseline if both else None
    # A zero baseline has no percentage and nothing to drop from: neither a change % nor a response.
    percent_change = round((latest - baseline) * 100 / baseline, 1) if both and baseline else None
    response = bool(both and baseline and 2 * latest <= baseline)
    remission = latest is not None and latest < remission_below
    return Outcome(baseline, latest, change, percent_change, response, remission)
