"""Candidacy screening: recommend, per treatment modality, whether an intake looks eligible.

From a patient's submitted intake answers (medical history, current medications, antidepressant
trials), the instrument scores and the age on the submission day, each rule below produces
reasons for each modality (IV ketamine, IM ketamine, esketamine nasal spray). A modality is

* ``not_eligible`` when any of its reasons is ``absolute`` (a label contraindication or project stop);
* ``clinician_review`` when any is ``relative`` (a prescriber must make a reasoned decision);
* ``eligible`` otherwise: ``info`` reasons are shown to the prescriber but never change the result.

This is a recommendation only: a prescriber decides afterwards. Every rule names its own source
(label section, CLINICAL.md entry, consensus paper); the thresholds are defaults a clinic's medical
director signs off. The module is pure (standard library only) so it can run anywhere and be
tested without a database.

Messages never copy the patient's free text (reaction details, medication names, "other"): they
are clinician-facing summaries and may be shown where the answers themselves are not; the
prescriber reads the answers for the detail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "ADEQUATE_TRIAL_MIN_WEEKS",
    "MIN_ADEQUATE_FAILED_TRIALS",
    "MODALITIES",
    "RULES",
    "CandidacyInput",
    "ModalityResult",
    "Reason",
    "Recommendation",
    "Rule",
    "Severity",
    "Trigger",
    "adequate_failed_trials",
    "evaluate",
    "overall",
]


class Severity(StrEnum):
    ABSOLUTE = "absolute"
    RELATIVE = "relative"
    INFO = "info"


class Recommendation(StrEnum):
    ELIGIBLE = "eligible"
    CLINICIAN_REVIEW = "clinician_review"
    NOT_ELIGIBLE = "not_eligible"


IV = "iv_ketamine"
IM = "im_ketamine"
ESKETAMINE = "esketamine_nasal"
MODALITIES: tuple[str, ...] = (IV, IM, ESKETAMINE)
RACEMIC: tuple[str, ...] = (IV, IM)

# Questionnaire codes (fixed; the questionnaires themselves are defined elsewhere).
MEDICAL_HISTORY = "medical-history"
MEDICATIONS = "current-medications"
TRIALS = "antidepressant-trials"

ADULT_AGE = 18

# An adequate antidepressant trial is commonly at least 6 weeks at an adequate dose: the MGH ATRQ
# used to confirm treatment resistance in the esketamine TRD trials, and clinic referral criteria
# ("six to eight weeks"), use 6 weeks as the floor [U: recalled, verify against the ATRQ itself].
# A default a clinic's medical director may change.
ADEQUATE_TRIAL_MIN_WEEKS = 6

# Treatment-resistant depression: at least 2 failed antidepressant trials of adequate dose and
# duration in the current episode (CLINICAL.md candidacy paragraph; EMA definition).
MIN_ADEQUATE_FAILED_TRIALS = 2

# "Failed" = no or only partial improvement. Side effects (intolerance) and a trial still running
# are not failures of an adequate trial; the prescriber may still count them after review.
_FAILED_OUTCOMES = frozenset({"no_improvement", "some_improvement"})

_SEVERITY_ORDER = {Severity.ABSOLUTE: 0, Severity.RELATIVE: 1, Severity.INFO: 2}
# Higher is better; used by overall() and by the "never improves" invariant.
_RECOMMENDATION_RANK = {
    Recommendation.NOT_ELIGIBLE: 0,
    Recommendation.CLINICIAN_REVIEW: 1,
    Recommendation.ELIGIBLE: 2,
}


# --- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """The answer that made a rule fire."""

    questionnaire: str
    link_id: str
    answer: object

    def as_dict(self) -> dict:
        return {"questionnaire": self.questionnaire, "link_id": self.link_id, "answer": self.answer}


@dataclass(frozen=True)
class Reason:
    code: str
    severity: Severity
    message: str
    # None only when no single answer fired it: age, a missing questionnaire, a trial count, scores.
    trigger: Trigger | None

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "trigger": self.trigger.as_dict() if self.trigger else None,
        }


@dataclass(frozen=True)
class CandidacyInput:
    age_years: int
    # questionnaire code -> {linkId: answer}; repeating groups (e.g. "trial") are lists of dicts.
    responses: Mapping[str, Mapping[str, object]]
    # instrument -> {"total": int, "flags": [...], ...}
    scores: Mapping[str, Mapping] = field(default_factory=dict)


@dataclass(frozen=True)
class ModalityResult:
    recommendation: Recommendation
    reasons: tuple[Reason, ...]

    def as_dict(self) -> dict:
        return {
            "recommendation": self.recommendation.value,
            "reasons": [reason.as_dict() for reason in self.reasons],
        }


Finding = tuple[str, Reason]  # (modality, reason)


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    source: str  # where the rule comes from: label section, CLINICAL.md entry, consensus paper
    evaluate: Callable[[CandidacyInput], Iterable[Finding]]


# --- reading answers -----------------------------------------------------------------------------


def _questionnaire(data: CandidacyInput, code: str) -> Mapping[str, object] | None:
    """The answers of one questionnaire, or None when it was not part of the intake.

    An empty answer set counts as missing: nothing in it could be screened.
    """
    answers = data.responses.get(code)
    if not isinstance(answers, Mapping) or not answers:
        return None
    return answers


def _answer(data: CandidacyInput, code: str, link_id: str) -> object:
    answers = _questionnaire(data, code)
    return None if answers is None else answers.get(link_id)


def _yes(data: CandidacyInput, code: str, link_id: str) -> bool:
    # Only a real True counts: answers are typed booleans, and a stray "false" string must not fire.
    return _answer(data, code, link_id) is True


def _each(modalities: Iterable[str], reason: Reason) -> Iterator[Finding]:
    for modality in modalities:
        yield modality, reason


def _same_for_all(
    code: str, severity: Severity, message: str, trigger: Trigger | None, modalities: Iterable[str] = MODALITIES
) -> Iterator[Finding]:
    return _each(modalities, Reason(code, severity, message, trigger))


def _mh_flag(data: CandidacyInput, link_id: str, code: str, severity: Severity, message: str) -> Iterator[Finding]:
    """A medical-history yes/no question that fires the same reason for every modality."""
    if _yes(data, MEDICAL_HISTORY, link_id):
        yield from _same_for_all(code, severity, message, Trigger(MEDICAL_HISTORY, link_id, True))


def _med_flag(data: CandidacyInput, link_id: str, code: str, severity: Severity, message: str) -> Iterator[Finding]:
    if _yes(data, MEDICATIONS, link_id):
        yield from _same_for_all(code, severity, message, Trigger(MEDICATIONS, link_id, True))


def _esketamine_contraindication(data: CandidacyInput, link_id: str, code: str, condition: str) -> Iterator[Finding]:
    """Absolute for esketamine (label contraindication); relative for racemic ketamine.

    The racemic ketamine label contraindicates it where a significant rise in blood pressure would
    be a serious hazard, which these conditions may be; off-label use is the prescriber's call.
    """
    if not _yes(data, MEDICAL_HISTORY, link_id):
        return
    trigger = Trigger(MEDICAL_HISTORY, link_id, True)
    yield (
        ESKETAMINE,
        Reason(code, Severity.ABSOLUTE, f"Reports {condition}: a contraindication on the esketamine label.", trigger),
    )
    racemic = Reason(
        code,
        Severity.RELATIVE,
        f"Reports {condition}: ketamine's blood-pressure rise may be a serious hazard; prescriber to decide.",
        trigger,
    )
    yield from _each(RACEMIC, racemic)


# --- antidepressant trials -----------------------------------------------------------------------


def _is_adequate_failed(row: Mapping) -> bool:
    weeks = row.get("trial-weeks")
    # bool is an int subclass; True weeks is a data error, not 1 week.
    if not isinstance(weeks, int) or isinstance(weeks, bool):
        return False
    return (
        row.get("trial-dose-adequate") == "yes"
        and weeks >= ADEQUATE_TRIAL_MIN_WEEKS
        and row.get("trial-outcome") in _FAILED_OUTCOMES
        and row.get("trial-current-episode") is True
    )


def adequate_failed_trials(rows: Iterable[Mapping]) -> int:
    """How many different antidepressants failed an adequate trial in the current episode.

    Adequate: dose adequate "yes" (an "unsure" dose is not counted), at least
    ``ADEQUATE_TRIAL_MIN_WEEKS`` weeks, no or some improvement, in the current episode. Treatment
    resistance means two *different* antidepressants failed, so two rows naming the same drug
    (case and spacing ignored) count once; rows without a drug name each count, since they cannot
    be matched. Brand and generic names of one drug are not matched: the prescriber verifies.
    """
    drugs: set[str] = set()
    unnamed = 0
    for row in rows:
        if not isinstance(row, Mapping) or not _is_adequate_failed(row):
            continue
        name = row.get("trial-drug")
        key = " ".join(name.split()).casefold() if isinstance(name, str) else ""
        if key:
            drugs.add(key)
        else:
            unnamed += 1
    return len(drugs) + unnamed


def _trial_rows(answers: Mapping[str, object]) -> list[Mapping]:
    rows = answers.get("trial")
    if not isinstance(rows, list | tuple):
        return []
    return [row for row in rows if isinstance(row, Mapping)]


def _trial_count(data: CandidacyInput) -> int | None:
    """Adequate failed trials counted, or None when the trials questionnaire is missing."""
    answers = _questionnaire(data, TRIALS)
    if answers is None:
        return None
    return adequate_failed_trials(_trial_rows(answers))


def _trials_phrase(count: int) -> str:
    return f"{count} adequate failed antidepressant trial{'' if count == 1 else 's'}"


# --- rules ---------------------------------------------------------------------------------------
# Each rule is a generator of (modality, reason) pairs and emits only reasons with its own code.


def under_18(data: CandidacyInput) -> Iterator[Finding]:
    """Under 18 on the submission day: not eligible for any modality."""
    if data.age_years < ADULT_AGE:
        yield from _same_for_all(
            "under_18",
            Severity.ABSOLUTE,
            f"Age {data.age_years}: under 18 is not eligible; no product is approved for depression in minors.",
            None,
        )


def aneurysmal_vascular_disease(data: CandidacyInput) -> Iterator[Finding]:
    """Aneurysmal vascular disease (intracranial, thoracic or abdominal aorta, arterial)."""
    yield from _esketamine_contraindication(
        data, "mh-aneurysm", "aneurysmal_vascular_disease", "aneurysmal vascular disease"
    )


def arteriovenous_malformation(data: CandidacyInput) -> Iterator[Finding]:
    """Arteriovenous malformation."""
    yield from _esketamine_contraindication(
        data, "mh-avm", "arteriovenous_malformation", "an arteriovenous malformation"
    )


def intracerebral_hemorrhage(data: CandidacyInput) -> Iterator[Finding]:
    """History of intracerebral haemorrhage."""
    yield from _esketamine_contraindication(
        data, "mh-brain-bleed", "intracerebral_hemorrhage", "a history of intracerebral haemorrhage"
    )


def ketamine_hypersensitivity(data: CandidacyInput) -> Iterator[Finding]:
    """Hypersensitivity to ketamine or esketamine: contraindicated on both labels."""
    yield from _mh_flag(
        data,
        "mh-ketamine-allergy",
        "ketamine_hypersensitivity",
        Severity.ABSOLUTE,
        "Reports an allergy to ketamine or esketamine: a contraindication on both labels.",
    )


def prior_ketamine_reaction(data: CandidacyInput) -> Iterator[Finding]:
    """A previous adverse reaction to ketamine (not an allergy): the prescriber reviews what happened."""
    if not _yes(data, MEDICAL_HISTORY, "mh-ketamine-reaction"):
        return
    details = _answer(data, MEDICAL_HISTORY, "mh-ketamine-reaction-details")
    has_details = isinstance(details, str) and details.strip()
    # The details are the patient's free text: point to them rather than copy them.
    follow_up = "review the details given." if has_details else "no details given; ask the patient."
    yield from _same_for_all(
        "prior_ketamine_reaction",
        Severity.RELATIVE,
        f"Reports a previous adverse reaction to ketamine: {follow_up}",
        Trigger(MEDICAL_HISTORY, "mh-ketamine-reaction", True),
    )


def psychosis_history(data: CandidacyInput) -> Iterator[Finding]:
    """History of psychosis: ketamine can worsen psychotic symptoms."""
    yield from _mh_flag(
        data,
        "mh-psychosis",
        "psychosis_history",
        Severity.RELATIVE,
        "Reports a history of psychosis: ketamine may worsen psychotic symptoms.",
    )


def bipolar_without_mood_stabiliser(data: CandidacyInput) -> Iterator[Finding]:
    """Bipolar disorder without a mood stabiliser (or the question unanswered): risk of switching to mania."""
    if not _yes(data, MEDICAL_HISTORY, "mh-bipolar"):
        return
    on_stabiliser = _answer(data, MEDICAL_HISTORY, "mh-mood-stabiliser")
    if on_stabiliser is True:
        return
    if on_stabiliser is None:
        # Unanswered is treated as "not on one": the safe reading; the trigger is the diagnosis.
        message = "Reports bipolar disorder; mood stabiliser not answered: risk of manic switch."
        trigger = Trigger(MEDICAL_HISTORY, "mh-bipolar", True)
    else:
        message = "Reports bipolar disorder without a mood stabiliser: risk of manic switch."
        trigger = Trigger(MEDICAL_HISTORY, "mh-mood-stabiliser", on_stabiliser)
    yield from _same_for_all("bipolar_without_mood_stabiliser", Severity.RELATIVE, message, trigger)


def bipolar_on_mood_stabiliser(data: CandidacyInput) -> Iterator[Finding]:
    """Bipolar disorder treated with a mood stabiliser: noted for the prescriber."""
    if _yes(data, MEDICAL_HISTORY, "mh-bipolar") and _yes(data, MEDICAL_HISTORY, "mh-mood-stabiliser"):
        yield from _same_for_all(
            "bipolar_on_mood_stabiliser",
            Severity.INFO,
            "Reports bipolar disorder, on a mood stabiliser.",
            Trigger(MEDICAL_HISTORY, "mh-mood-stabiliser", True),
        )


def substance_use_recent(data: CandidacyInput) -> Iterator[Finding]:
    """Substance use disorder active within 12 months (or recency unanswered): misuse risk."""
    if not _yes(data, MEDICAL_HISTORY, "mh-substance-use"):
        return
    recent = _answer(data, MEDICAL_HISTORY, "mh-substance-use-recent")
    if recent is True:
        message = "Reports a substance use disorder active in the last 12 months: risk of ketamine misuse."
        trigger = Trigger(MEDICAL_HISTORY, "mh-substance-use-recent", True)
    elif recent is None:
        # Cannot tell active from past: treated as possibly active.
        message = "Reports a substance use disorder; whether active in the last 12 months not answered."
        trigger = Trigger(MEDICAL_HISTORY, "mh-substance-use", True)
    else:
        return
    yield from _same_for_all("substance_use_recent", Severity.RELATIVE, message, trigger)


def substance_use_history(data: CandidacyInput) -> Iterator[Finding]:
    """A past substance use disorder, not active in the last 12 months: monitor for misuse."""
    if (
        _yes(data, MEDICAL_HISTORY, "mh-substance-use")
        and _answer(data, MEDICAL_HISTORY, "mh-substance-use-recent") is False
    ):
        yield from _same_for_all(
            "substance_use_history",
            Severity.INFO,
            "Reports a past substance use disorder (not in the last 12 months): monitor for misuse.",
            Trigger(MEDICAL_HISTORY, "mh-substance-use", True),
        )


def uncontrolled_hypertension(data: CandidacyInput) -> Iterator[Finding]:
    """Hypertension not known to be controlled: ketamine raises blood pressure (peak near 40 min)."""
    if not _yes(data, MEDICAL_HISTORY, "mh-hypertension"):
        return
    controlled = _answer(data, MEDICAL_HISTORY, "mh-hypertension-controlled")
    if controlled == "yes":
        return
    if controlled in ("no", "unsure"):
        trigger = Trigger(MEDICAL_HISTORY, "mh-hypertension-controlled", controlled)
        state = "not controlled" if controlled == "no" else "unsure whether controlled"
    else:
        # Unanswered (or an unexpected value) reads as "unsure".
        trigger = Trigger(MEDICAL_HISTORY, "mh-hypertension", True)
        state = "control not answered"
    yield from _same_for_all(
        "uncontrolled_hypertension",
        Severity.RELATIVE,
        f"Reports high blood pressure, {state}: ketamine raises blood pressure; check before dosing.",
        trigger,
    )


def controlled_hypertension(data: CandidacyInput) -> Iterator[Finding]:
    """Hypertension reported as controlled: pre-dose blood pressure check still applies."""
    if _yes(data, MEDICAL_HISTORY, "mh-hypertension") and (
        _answer(data, MEDICAL_HISTORY, "mh-hypertension-controlled") == "yes"
    ):
        yield from _same_for_all(
            "controlled_hypertension",
            Severity.INFO,
            "Reports high blood pressure, controlled: confirm at the pre-dose check.",
            Trigger(MEDICAL_HISTORY, "mh-hypertension-controlled", "yes"),
        )


def recent_cardiac_event(data: CandidacyInput) -> Iterator[Finding]:
    """Heart disease with a recent event (e.g. myocardial infarction, unstable angina), or recency unanswered."""
    if not _yes(data, MEDICAL_HISTORY, "mh-heart-disease"):
        return
    recent = _answer(data, MEDICAL_HISTORY, "mh-heart-recent")
    if recent is True:
        message = "Reports heart disease with a recent cardiac event: ketamine raises heart rate and blood pressure."
        trigger = Trigger(MEDICAL_HISTORY, "mh-heart-recent", True)
    elif recent is None:
        # Cannot tell stable from recent: treated as possibly recent.
        message = "Reports heart disease; whether there was a recent cardiac event not answered."
        trigger = Trigger(MEDICAL_HISTORY, "mh-heart-disease", True)
    else:
        return
    yield from _same_for_all("recent_cardiac_event", Severity.RELATIVE, message, trigger)


def heart_disease(data: CandidacyInput) -> Iterator[Finding]:
    """Heart disease without a recent event: noted for monitoring."""
    if _yes(data, MEDICAL_HISTORY, "mh-heart-disease") and _answer(data, MEDICAL_HISTORY, "mh-heart-recent") is False:
        yield from _same_for_all(
            "heart_disease",
            Severity.INFO,
            "Reports heart disease, no recent cardiac event: monitor blood pressure and heart rate.",
            Trigger(MEDICAL_HISTORY, "mh-heart-disease", True),
        )


def raised_intracranial_pressure(data: CandidacyInput) -> Iterator[Finding]:
    """Raised intracranial pressure: ketamine may raise it further."""
    yield from _mh_flag(
        data,
        "mh-intracranial-pressure",
        "raised_intracranial_pressure",
        Severity.RELATIVE,
        "Reports raised intracranial pressure: ketamine may raise it further.",
    )


def pregnancy(data: CandidacyInput) -> Iterator[Finding]:
    """Pregnant or unsure: embryo-fetal toxicity."""
    answer = _answer(data, MEDICAL_HISTORY, "mh-pregnant")
    if answer not in ("yes", "unsure"):
        return
    state = "pregnant" if answer == "yes" else "unsure whether pregnant"
    yield from _same_for_all(
        "pregnancy",
        Severity.RELATIVE,
        f"Reports being {state}: risk of embryo-fetal toxicity; consider a pregnancy test.",
        Trigger(MEDICAL_HISTORY, "mh-pregnant", answer),
    )


def breastfeeding(data: CandidacyInput) -> Iterator[Finding]:
    """Breastfeeding: the drug passes into breast milk; not recommended on the esketamine label."""
    yield from _mh_flag(
        data,
        "mh-breastfeeding",
        "breastfeeding",
        Severity.RELATIVE,
        "Reports breastfeeding: ketamine passes into breast milk.",
    )


def concomitant_benzodiazepine(data: CandidacyInput) -> Iterator[Finding]:
    """Takes a benzodiazepine: may blunt the antidepressant response and adds sedation."""
    yield from _med_flag(
        data,
        "med-benzodiazepine",
        "concomitant_benzodiazepine",
        Severity.RELATIVE,
        "Takes a benzodiazepine: may blunt the response and adds sedation.",
    )


def concomitant_psychostimulant(data: CandidacyInput) -> Iterator[Finding]:
    """Takes a psychostimulant: raises blood pressure on top of ketamine's rise."""
    yield from _med_flag(
        data,
        "med-psychostimulant",
        "concomitant_psychostimulant",
        Severity.RELATIVE,
        "Takes a psychostimulant: adds to ketamine's blood-pressure rise; monitor closely.",
    )


def concomitant_maoi(data: CandidacyInput) -> Iterator[Finding]:
    """Takes an MAOI: raises blood pressure on top of ketamine's rise."""
    yield from _med_flag(
        data,
        "med-maoi",
        "concomitant_maoi",
        Severity.RELATIVE,
        "Takes an MAOI: adds to ketamine's blood-pressure rise; monitor closely.",
    )


def concomitant_sedative_hypnotic(data: CandidacyInput) -> Iterator[Finding]:
    """Takes a non-benzodiazepine sedative-hypnotic: a CNS depressant, more sedation."""
    yield from _med_flag(
        data,
        "med-sedative-hypnotic",
        "concomitant_sedative_hypnotic",
        Severity.INFO,
        "Takes a sedative-hypnotic: a CNS depressant; watch sedation and breathing.",
    )


def concomitant_opioid(data: CandidacyInput) -> Iterator[Finding]:
    """Takes an opioid: a CNS depressant, more sedation and respiratory depression."""
    yield from _med_flag(
        data,
        "med-opioid",
        "concomitant_opioid",
        Severity.INFO,
        "Takes an opioid: a CNS depressant; watch sedation and breathing.",
    )


def not_treatment_resistant(data: CandidacyInput) -> Iterator[Finding]:
    """Fewer than 2 adequate failed antidepressant trials in the current episode."""
    count = _trial_count(data)
    if count is None or count >= MIN_ADEQUATE_FAILED_TRIALS:
        return
    yield from _same_for_all(
        "not_treatment_resistant",
        Severity.RELATIVE,
        f"{_trials_phrase(count)} counted in the current episode; treatment resistance needs "
        f"{MIN_ADEQUATE_FAILED_TRIALS} (adequate dose, {ADEQUATE_TRIAL_MIN_WEEKS}+ weeks, no or partial improvement).",
        None,
    )


def treatment_history_missing(data: CandidacyInput) -> Iterator[Finding]:
    """No antidepressant-trials questionnaire: treatment resistance cannot be assessed."""
    if _questionnaire(data, TRIALS) is None:
        yield from _same_for_all(
            "treatment_history_missing",
            Severity.RELATIVE,
            "No antidepressant treatment history: treatment resistance cannot be assessed.",
            None,
        )


def treatment_resistant(data: CandidacyInput) -> Iterator[Finding]:
    """At least 2 adequate failed antidepressant trials in the current episode: the indication is met."""
    count = _trial_count(data)
    if count is not None and count >= MIN_ADEQUATE_FAILED_TRIALS:
        yield from _same_for_all(
            "treatment_resistant",
            Severity.INFO,
            f"{_trials_phrase(count)} in the current episode: meets the treatment-resistance definition.",
            None,
        )


def suicidal_ideation_reported(data: CandidacyInput) -> Iterator[Finding]:
    """PHQ-9 item 9 positive: the prescriber sees it here too (the risk alert is raised elsewhere)."""
    phq9 = data.scores.get("phq9")
    flags = phq9.get("flags") if isinstance(phq9, Mapping) else None
    if isinstance(flags, list | tuple | set | frozenset) and "item9_positive" in flags:
        yield from _same_for_all(
            "suicidal_ideation_reported",
            Severity.INFO,
            "PHQ-9 item 9 positive (thoughts of death or self-harm): same-day clinician follow-up.",
            None,
        )


def medical_history_missing(data: CandidacyInput) -> Iterator[Finding]:
    """No medical-history questionnaire: contraindications cannot be screened."""
    if _questionnaire(data, MEDICAL_HISTORY) is None:
        yield from _same_for_all(
            "medical_history_missing",
            Severity.RELATIVE,
            "No medical history: contraindications could not be screened.",
            None,
        )


_SPRAVATO_CONTRAINDICATIONS = "Spravato (esketamine) label, Contraindications"
_KETALAR_CONTRAINDICATIONS = (
    "ketamine HCl injection (Ketalar) label, Contraindications: where a significant rise in blood pressure "
    "would be a serious hazard"
)
_RELATIVE_FLAGS = "CLINICAL.md candidacy paragraph, relative flags"

RULES: tuple[Rule, ...] = (
    Rule(
        "under_18",
        "Under 18",
        "Project rule (absolute; CLINICAL.md lists age < 18 among relative flags); Spravato is indicated for adults "
        "only and no ketamine product is approved for depression in minors",
        under_18,
    ),
    Rule(
        "aneurysmal_vascular_disease",
        "Aneurysmal vascular disease",
        f"{_SPRAVATO_CONTRAINDICATIONS} (CLINICAL.md contraindications); racemic: {_KETALAR_CONTRAINDICATIONS}",
        aneurysmal_vascular_disease,
    ),
    Rule(
        "arteriovenous_malformation",
        "Arteriovenous malformation",
        f"{_SPRAVATO_CONTRAINDICATIONS} (CLINICAL.md contraindications); racemic: {_KETALAR_CONTRAINDICATIONS}",
        arteriovenous_malformation,
    ),
    Rule(
        "intracerebral_hemorrhage",
        "History of intracerebral haemorrhage",
        f"{_SPRAVATO_CONTRAINDICATIONS} (CLINICAL.md contraindications); racemic: {_KETALAR_CONTRAINDICATIONS}",
        intracerebral_hemorrhage,
    ),
    Rule(
        "ketamine_hypersensitivity",
        "Hypersensitivity to ketamine or esketamine",
        f"{_SPRAVATO_CONTRAINDICATIONS}; Ketalar label, Contraindications (hypersensitivity)",
        ketamine_hypersensitivity,
    ),
    Rule(
        "prior_ketamine_reaction",
        "Previous adverse reaction to ketamine",
        f"{_RELATIVE_FLAGS} (prior adverse reaction to ketamine)",
        prior_ketamine_reaction,
    ),
    Rule(
        "psychosis_history",
        "History of psychosis",
        f"{_RELATIVE_FLAGS}; Spravato label cautions (CLINICAL.md); APA consensus, Sanacora et al. 2017 [U]",
        psychosis_history,
    ),
    Rule(
        "bipolar_without_mood_stabiliser",
        "Bipolar disorder without a mood stabiliser",
        f"{_RELATIVE_FLAGS}; Osmind IV ketamine intake guide (domain-research 2.2)",
        bipolar_without_mood_stabiliser,
    ),
    Rule(
        "bipolar_on_mood_stabiliser",
        "Bipolar disorder on a mood stabiliser",
        "Osmind IV ketamine intake guide (domain-research 2.2): bipolar patients should be on a mood stabiliser",
        bipolar_on_mood_stabiliser,
    ),
    Rule(
        "substance_use_recent",
        "Substance use disorder in the last 12 months",
        f"{_RELATIVE_FLAGS} (active substance use disorder); Spravato label, Abuse and misuse",
        substance_use_recent,
    ),
    Rule(
        "substance_use_history",
        "Past substance use disorder",
        "Spravato label, Abuse and misuse: assess risk and monitor (CLINICAL.md cautions); APA consensus [U]",
        substance_use_history,
    ),
    Rule(
        "uncontrolled_hypertension",
        "Hypertension not known to be controlled",
        f"{_RELATIVE_FLAGS}; Spravato label 5.6 (increase in blood pressure); APA consensus [U]",
        uncontrolled_hypertension,
    ),
    Rule(
        "controlled_hypertension",
        "Controlled hypertension",
        "Spravato label 5.6: blood pressure before dosing (CLINICAL.md pre-dose gate)",
        controlled_hypertension,
    ),
    Rule(
        "recent_cardiac_event",
        "Recent cardiac event",
        f"{_RELATIVE_FLAGS} (recent myocardial infarction or unstable angina); APA consensus [U]",
        recent_cardiac_event,
    ),
    Rule(
        "heart_disease",
        "Heart disease without a recent event",
        "APA consensus, Sanacora et al. 2017 [U]: review cardiovascular status",
        heart_disease,
    ),
    Rule(
        "raised_intracranial_pressure",
        "Raised intracranial pressure",
        f"{_RELATIVE_FLAGS} (raised intracranial pressure)",
        raised_intracranial_pressure,
    ),
    Rule(
        "pregnancy",
        "Pregnancy",
        f"{_RELATIVE_FLAGS}; Spravato label, Embryo-fetal toxicity (CLINICAL.md cautions); APA consensus [U]",
        pregnancy,
    ),
    Rule(
        "breastfeeding",
        "Breastfeeding",
        f"{_RELATIVE_FLAGS}; Spravato label, Lactation (CLINICAL.md cautions)",
        breastfeeding,
    ),
    Rule(
        "concomitant_benzodiazepine",
        "Concomitant benzodiazepine",
        f"{_RELATIVE_FLAGS}; Spravato label, CNS depressants; REMS Patient Monitoring Form field",
        concomitant_benzodiazepine,
    ),
    Rule(
        "concomitant_psychostimulant",
        "Concomitant psychostimulant",
        f"{_RELATIVE_FLAGS}; Spravato label, psychostimulants (closer BP monitoring); REMS Patient Monitoring Form",
        concomitant_psychostimulant,
    ),
    Rule(
        "concomitant_maoi",
        "Concomitant MAOI",
        f"{_RELATIVE_FLAGS}; Spravato label, MAOIs (closer BP monitoring); REMS Patient Monitoring Form",
        concomitant_maoi,
    ),
    Rule(
        "concomitant_sedative_hypnotic",
        "Concomitant sedative-hypnotic",
        "Spravato label, CNS depressants (CLINICAL.md cautions); REMS Patient Monitoring Form field",
        concomitant_sedative_hypnotic,
    ),
    Rule(
        "concomitant_opioid",
        "Concomitant opioid",
        "Spravato label, CNS depressants (CLINICAL.md cautions); discharge advice (domain-research 2.1)",
        concomitant_opioid,
    ),
    Rule(
        "not_treatment_resistant",
        "Fewer than 2 adequate failed antidepressant trials",
        "CLINICAL.md candidacy paragraph (TRD definition); domain-research 2.2; MGH ATRQ 6-week floor [U]",
        not_treatment_resistant,
    ),
    Rule(
        "treatment_history_missing",
        "Antidepressant treatment history missing",
        "Project rule: the TRD definition (CLINICAL.md candidacy) cannot be checked without it",
        treatment_history_missing,
    ),
    Rule(
        "treatment_resistant",
        "Treatment-resistant depression",
        "CLINICAL.md candidacy paragraph (TRD definition); domain-research 2.2",
        treatment_resistant,
    ),
    Rule(
        "suicidal_ideation_reported",
        "Suicidal ideation on PHQ-9 item 9",
        "CLINICAL.md instruments: PHQ-9 item 9 > 0 needs same-day clinician follow-up",
        suicidal_ideation_reported,
    ),
    Rule(
        "medical_history_missing",
        "Medical history missing",
        "Project rule: contraindications (CLINICAL.md) cannot be screened without it",
        medical_history_missing,
    ),
)


# --- aggregation ---------------------------------------------------------------------------------


def _recommend(reasons: Iterable[Reason]) -> Recommendation:
    severities = {reason.severity for reason in reasons}
    if Severity.ABSOLUTE in severities:
        return Recommendation.NOT_ELIGIBLE
    if Severity.RELATIVE in severities:
        return Recommendation.CLINICIAN_REVIEW
    return Recommendation.ELIGIBLE


def evaluate(data: CandidacyInput) -> dict[str, ModalityResult]:
    """Run every rule; one result per modality, reasons ordered absolute, relative, info, then rule order."""
    found: dict[str, list[tuple[int, Reason]]] = {modality: [] for modality in MODALITIES}
    for index, rule in enumerate(RULES):
        for modality, reason in rule.evaluate(data):
            if modality not in found:
                raise ValueError(f"Rule {rule.code} returned unknown modality {modality!r}.")
            found[modality].append((index, reason))
    results: dict[str, ModalityResult] = {}
    for modality, pairs in found.items():
        pairs.sort(key=lambda pair: (_SEVERITY_ORDER[pair[1].severity], pair[0]))
        reasons = tuple(reason for _, reason in pairs)
        results[modality] = ModalityResult(_recommend(reasons), reasons)
    return results


def overall(results: Mapping[str, ModalityResult]) -> Recommendation:
    """The best recommendation across modalities: eligible > clinician_review > not_eligible."""
    if not results:
        raise ValueError("No modality results to combine.")
    return max((result.recommendation for result in results.values()), key=_RECOMMENDATION_RANK.__getitem__)
