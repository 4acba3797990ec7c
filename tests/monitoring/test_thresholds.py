"""Alert thresholds and plausibility (monitoring.thresholds): pure functions, no database."""

from __future__ import annotations

import math
import pickle
from dataclasses import FrozenInstanceError, replace
from decimal import Decimal
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring.thresholds import (
    DEFAULTS,
    PLAUSIBLE_RANGES,
    Finding,
    Reading,
    Severity,
    ThresholdConfigError,
    Thresholds,
    evaluate_cadss,
    evaluate_moaas,
    evaluate_vitals,
    plausibility_errors,
    predose_bp_elevated,
    resolve,
    worst,
)

W, C = Severity.WARNING, Severity.CRITICAL
RANK = {None: 0, W: 1, C: 2}

# A clinic layer then a treatment-type layer; every value differs from its default so a test that
# passes with both sets really follows the configured number.
CLINIC_LAYER = {
    "predose_systolic_max": 150,
    "predose_diastolic_max": 95,
    "systolic_critical": 175,
    "diastolic_critical": 105,
    "systolic_rise_warning": 30,
    "spo2_warning_below": 92,
    "spo2_critical_below": 88,
    "heart_rate_warning_above": 100,
    "heart_rate_warning_below": 55,
    "heart_rate_critical_above": 140,
    "heart_rate_critical_below": 45,
    "respiratory_rate_warning_below": 12,
    "respiratory_rate_warning_above": 20,
    "respiratory_rate_critical_below": 9,
    "moaas_critical_at_or_below": 3,
    "cadss_dissociation_above": 6,
}
TREATMENT_LAYER = {"systolic_critical": 170, "diastolic_rise_warning": 20}
CUSTOM = resolve(CLINIC_LAYER, TREATMENT_LAYER)
THRESHOLD_SETS = {"defaults": DEFAULTS, "custom": CUSTOM}


def field_finding(findings: list[Finding], field: str) -> tuple[str, Severity] | None:
    matching = [f for f in findings if f.field == field]
    assert len(matching) <= 1
    return (matching[0].code, matching[0].severity) if matching else None


def field_severity(findings: list[Finding], field: str) -> Severity | None:
    found = field_finding(findings, field)
    return found[1] if found else None


# --- defaults ------------------------------------------------------------------------------------


def test_defaults_are_the_documented_values():
    assert DEFAULTS.as_dict() == {
        "predose_systolic_max": 140,
        "predose_diastolic_max": 90,
        "systolic_critical": 180,
        "diastolic_critical": 110,
        "systolic_rise_warning": 40,
        "diastolic_rise_warning": 25,
        "spo2_warning_below": 94,
        "spo2_critical_below": 90,
        "heart_rate_warning_above": 110,
        "heart_rate_warning_below": 50,
        "heart_rate_critical_above": 130,
        "heart_rate_critical_below": 40,
        "respiratory_rate_warning_below": 10,
        "respiratory_rate_warning_above": 24,
        "respiratory_rate_critical_below": 8,
        "moaas_critical_at_or_below": 2,
        "cadss_dissociation_above": 4,
    }
    assert Thresholds() == DEFAULTS


def test_thresholds_and_findings_are_frozen():
    with pytest.raises(FrozenInstanceError):
        DEFAULTS.spo2_warning_below = 80  # type: ignore[misc]
    finding = evaluate_moaas(0, baseline=5)[0]
    with pytest.raises(FrozenInstanceError):
        finding.severity = W  # type: ignore[misc]


def test_custom_set_layers_as_configured():
    assert CUSTOM.systolic_critical == 170  # treatment type beats clinic
    assert CUSTOM.predose_systolic_max == 150  # clinic kept
    assert CUSTOM.diastolic_rise_warning == 20  # treatment type over the default


# --- every threshold at, one below and one above its boundary ------------------------------------


class VitalRule(NamedTuple):
    key: str
    field: str
    # expected (code, severity) for that field at limit - 1, limit, limit + 1
    below: tuple[str, Severity] | None
    at: tuple[str, Severity] | None
    above: tuple[str, Severity] | None


SYS_CRIT = ("systolic_critical", C)
DIA_CRIT = ("diastolic_critical", C)
SYS_RISE = ("systolic_rise", W)
DIA_RISE = ("diastolic_rise", W)
SPO2_W, SPO2_C = ("spo2_low", W), ("spo2_low", C)
HR_HIGH_W, HR_HIGH_C = ("heart_rate_high", W), ("heart_rate_high", C)
HR_LOW_W, HR_LOW_C = ("heart_rate_low", W), ("heart_rate_low", C)
RR_LOW_W, RR_LOW_C = ("respiratory_rate_low", W), ("respiratory_rate_low", C)
RR_HIGH_W = ("respiratory_rate_high", W)

VITAL_RULES = [
    VitalRule("systolic_critical", "systolic", None, SYS_CRIT, SYS_CRIT),  # >= 180
    VitalRule("diastolic_critical", "diastolic", None, DIA_CRIT, DIA_CRIT),  # >= 110
    VitalRule("systolic_rise_warning", "systolic", None, SYS_RISE, SYS_RISE),  # rise >= 40
    VitalRule("diastolic_rise_warning", "diastolic", None, DIA_RISE, DIA_RISE),  # rise >= 25
    VitalRule("spo2_warning_below", "spo2", SPO2_W, None, None),  # < 94
    VitalRule("spo2_critical_below", "spo2", SPO2_C, SPO2_W, SPO2_W),  # < 90 (else still < 94)
    VitalRule("heart_rate_warning_above", "heart_rate", None, None, HR_HIGH_W),  # > 110
    VitalRule("heart_rate_critical_above", "heart_rate", HR_HIGH_W, HR_HIGH_W, HR_HIGH_C),  # > 130
    VitalRule("heart_rate_warning_below", "heart_rate", HR_LOW_W, None, None),  # < 50
    VitalRule("heart_rate_critical_below", "heart_rate", HR_LOW_C, HR_LOW_W, HR_LOW_W),  # < 40
    VitalRule("respiratory_rate_warning_below", "respiratory_rate", RR_LOW_W, None, None),  # < 10
    VitalRule("respiratory_rate_warning_above", "respiratory_rate", None, None, RR_HIGH_W),  # > 24
    VitalRule("respiratory_rate_critical_below", "respiratory_rate", RR_LOW_C, RR_LOW_W, RR_LOW_W),  # < 8
]
BASELINE = Reading(systolic=120, diastolic=70, heart_rate=75, spo2=98, respiratory_rate=14)


def boundary_reading(rule: VitalRule, value: int, t: Thresholds) -> tuple[Reading, Reading | None]:
    """A plausible reading putting ``value`` on the rule's field with nothing else firing."""
    if rule.key == "systolic_rise_warning":
        return Reading(systolic=BASELINE.systolic + value, diastolic=BASELINE.diastolic), BASELINE
    if rule.key == "diastolic_rise_warning":
        return Reading(systolic=BASELINE.systolic, diastolic=BASELINE.diastolic + value), BASELINE
    if rule.field == "systolic":
        return Reading(systolic=value, diastolic=60), None
    if rule.field == "diastolic":
        companion = t.systolic_critical - 1
        assert companion > value + 1
        return Reading(systolic=companion, diastolic=value), None
    return Reading(**{rule.field: value}), None


@pytest.mark.parametrize("set_name", THRESHOLD_SETS)
@pytest.mark.parametrize("rule", VITAL_RULES, ids=lambda r: r.key)
@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["below", "at", "above"])
def test_vital_boundaries(set_name, rule, offset):
    t = THRESHOLD_SETS[set_name]
    limit = getattr(t, rule.key)
    reading, baseline = boundary_reading(rule, limit + offset, t)
    assert plausibility_errors(reading) == {}
    findings = evaluate_vitals(reading, baseline=baseline, thresholds=t)
    expected = {-1: rule.below, 0: rule.at, 1: rule.above}[offset]
    assert field_finding(findings, rule.field) == expected
    # nothing else in the reading fires
    assert [f.field for f in findings] == ([rule.field] if expected else [])


@pytest.mark.parametrize("set_name", THRESHOLD_SETS)
@pytest.mark.parametrize("component", ["systolic", "diastolic"])
@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["below", "at", "above"])
def test_predose_boundaries(set_name, component, offset):
    t = THRESHOLD_SETS[set_name]
    limit = getattr(t, f"predose_{component}_max")
    if component == "systolic":
        reading = Reading(systolic=limit + offset, diastolic=80)
    else:
        reading = Reading(systolic=130, diastolic=limit + offset)
    finding = predose_bp_elevated(reading, t)
    if offset <= 0:  # "> max": at the limit the dose goes ahead
        assert finding is None
    else:
        assert finding is not None
        assert (finding.code, finding.severity, finding.field) == ("predose_bp_elevated", W, component)
        assert (finding.value, finding.limit) == (limit + 1, limit)


@pytest.mark.parametrize("set_name", THRESHOLD_SETS)
@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["below", "at", "above"])
def test_moaas_boundary(set_name, offset):
    t = THRESHOLD_SETS[set_name]
    limit = t.moaas_critical_at_or_below
    findings = evaluate_moaas(limit + offset, baseline=5, thresholds=t)
    expected = ("sedation", W) if offset > 0 else ("deep_sedation", C)
    assert field_finding(findings, "moaas") == expected


@pytest.mark.parametrize("set_name", THRESHOLD_SETS)
@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["below", "at", "above"])
def test_cadss_boundary(set_name, offset):
    t = THRESHOLD_SETS[set_name]
    limit = t.cadss_dissociation_above
    findings = evaluate_cadss(limit + offset, baseline=0, thresholds=t)
    assert field_finding(findings, "cadss") == (("dissociation", W) if offset > 0 else None)


def test_every_threshold_has_a_boundary_test():
    covered = {r.key for r in VITAL_RULES} | {
        "predose_systolic_max",
        "predose_diastolic_max",
        "moaas_critical_at_or_below",
        "cadss_dissociation_above",
    }
    assert covered == set(DEFAULTS.as_dict())


# --- evaluate_vitals -----------------------------------------------------------------------------


def test_critical_level_hides_the_rise():
    findings = evaluate_vitals(Reading(systolic=185, diastolic=80), baseline=Reading(systolic=120, diastolic=70))
    assert [(f.code, f.severity) for f in findings] == [("systolic_critical", C)]


def test_rise_reported_when_level_is_not_critical():
    findings = evaluate_vitals(Reading(systolic=165, diastolic=96), baseline=Reading(systolic=120, diastolic=70))
    assert [(f.code, f.field, f.value, f.limit) for f in findings] == [
        ("systolic_rise", "systolic", 165, 160),
        ("diastolic_rise", "diastolic", 96, 95),
    ]
    assert findings[0].message == (
        "Systolic 165 mmHg is 45 mmHg above the pre-dose value of 120 (warning at a rise of 40 or more)."
    )


def test_rises_need_a_baseline():
    reading = Reading(systolic=170, diastolic=105)
    assert evaluate_vitals(reading, baseline=None) == []
    assert evaluate_vitals(reading, baseline=Reading(heart_rate=70)) == []  # no BP in the baseline
    assert len(evaluate_vitals(reading, baseline=Reading(systolic=120, diastolic=70))) == 2


def test_a_drop_below_baseline_is_not_a_rise():
    assert evaluate_vitals(Reading(systolic=90, diastolic=50), baseline=Reading(systolic=160, diastolic=100)) == []


def test_messages_and_values():
    findings = evaluate_vitals(
        Reading(systolic=186, diastolic=100, heart_rate=135, spo2=92, respiratory_rate=7), baseline=None
    )
    by_code = {f.code: f for f in findings}
    assert by_code["systolic_critical"].message == "Systolic 186 mmHg is at or above the critical limit of 180."
    assert by_code["heart_rate_high"].message == "Heart rate 135/min is above the critical limit of 130/min."
    assert by_code["spo2_low"].message == "SpO2 92% is below the warning limit of 94%."
    assert by_code["respiratory_rate_low"].message == "Respiratory rate 7/min is below the critical limit of 8/min."
    assert by_code["heart_rate_high"].as_dict() == {
        "code": "heart_rate_high",
        "severity": "critical",
        "field": "heart_rate",
        "value": 135,
        "limit": 130,
        "message": "Heart rate 135/min is above the critical limit of 130/min.",
    }


def test_sorted_critical_first_then_field_order():
    reading = Reading(systolic=150, diastolic=112, heart_rate=45, spo2=85, respiratory_rate=30, temperature_c=39.5)
    findings = evaluate_vitals(reading, baseline=Reading(systolic=105, diastolic=70))
    assert [(f.field, f.severity) for f in findings] == [
        ("diastolic", C),
        ("spo2", C),
        ("systolic", W),
        ("heart_rate", W),
        ("respiratory_rate", W),
    ]
    assert worst(findings) is C


def test_normal_and_empty_readings_are_fine():
    normal = Reading(systolic=120, diastolic=80, heart_rate=70, spo2=98, respiratory_rate=14, temperature_c=36.8)
    assert evaluate_vitals(normal, baseline=normal) == []
    assert evaluate_vitals(Reading(), baseline=None) == []


def test_temperature_has_no_alert_default():
    assert evaluate_vitals(Reading(temperature_c=42.5), baseline=None) == []


@pytest.mark.parametrize(
    ("reading", "baseline"),
    [
        (Reading(systolic=310, diastolic=80), None),
        (Reading(systolic=120), None),
        (Reading(systolic=120, diastolic=80), Reading(spo2=40)),
    ],
)
def test_implausible_input_is_refused_not_judged(reading, baseline):
    with pytest.raises(ValueError, match="not plausible"):
        evaluate_vitals(reading, baseline=baseline)


def test_refusal_message_carries_no_values():
    with pytest.raises(ValueError) as excinfo:
        evaluate_vitals(Reading(systolic=310, diastolic=80), baseline=None)
    assert "310" not in str(excinfo.value)
    assert "systolic" in str(excinfo.value)


# --- pre-dose gate -------------------------------------------------------------------------------


def test_predose_message_names_the_whole_pressure():
    finding = predose_bp_elevated(Reading(systolic=150, diastolic=95))
    assert finding is not None
    assert finding.field == "systolic"  # systolic named first when both are over
    assert finding.message == (
        "Pre-dose blood pressure 150/95 mmHg is above 140/90: dose only with a prescriber's override and a reason."
    )


def test_predose_without_blood_pressure_is_none():
    assert predose_bp_elevated(Reading(heart_rate=80)) is None
    with pytest.raises(ValueError):
        predose_bp_elevated(Reading(systolic=150))


def test_predose_age_adjusted_layer():
    # The trials allowed SBP up to 150 at age >= 65: a clinic adds that as one more layer.
    older = resolve(None, None, {"predose_systolic_max": 150})
    assert predose_bp_elevated(Reading(systolic=150, diastolic=85), older) is None
    assert predose_bp_elevated(Reading(systolic=151, diastolic=85), older) is not None


# --- MOAA/S --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "baseline", "expected"),
    [
        (0, 5, ("unresponsive", C)),
        (0, None, ("unresponsive", C)),
        (0, 0, ("unresponsive", C)),
        (1, 5, ("deep_sedation", C)),
        (2, None, ("deep_sedation", C)),
        (2, 2, ("deep_sedation", C)),
        (3, 5, ("sedation", W)),
        (4, 5, ("sedation", W)),
        (3, 4, ("sedation", W)),
        (5, 5, None),
        (4, 4, None),
        (4, 3, None),  # better than before
        (3, None, None),  # no baseline: no drop can be shown
        (4, None, None),
    ],
)
def test_moaas_rules(score, baseline, expected):
    findings = evaluate_moaas(score, baseline=baseline)
    assert field_finding(findings, "moaas") == expected


def test_moaas_messages():
    assert evaluate_moaas(0, baseline=5)[0].message == (
        "MOAA/S 0: no response to a painful stimulus (loss of consciousness)."
    )
    sedation = evaluate_moaas(3, baseline=5)[0]
    assert (sedation.value, sedation.limit) == (3, 5)
    assert sedation.message == "MOAA/S 3 is below the pre-dose score of 5: sedation."


@pytest.mark.parametrize("bad", [-1, 6, True, 2.0, "3", None])
def test_moaas_out_of_range(bad):
    with pytest.raises(ValueError, match="0 to 5"):
        evaluate_moaas(bad, baseline=5)


@pytest.mark.parametrize("bad", [-1, 6, False])
def test_moaas_baseline_out_of_range(bad):
    with pytest.raises(ValueError, match="0 to 5"):
        evaluate_moaas(3, baseline=bad)


# --- CADSS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "baseline", "code"),
    [
        (5, 0, "dissociation"),
        (92, 91, "dissociation"),
        (12, 11, "dissociation"),
        (12, 12, None),  # no rise
        (12, 20, None),  # lower than before
        (4, 0, None),  # not above 4
        (0, 0, None),
        # No baseline: no rise can be shown or ruled out, and CLINICAL.md gives no absolute
        # threshold, so above 4 a clinician is asked to judge (a warning), never silence.
        (30, None, "dissociation_review"),
        (5, None, "dissociation_review"),
        (4, None, None),
        (0, None, None),
    ],
)
def test_cadss_rules(total, baseline, code):
    findings = evaluate_cadss(total, baseline=baseline)
    assert field_finding(findings, "cadss") == ((code, W) if code else None)


def test_cadss_without_baseline_says_why():
    [finding] = evaluate_cadss(9, baseline=None)
    assert (finding.value, finding.limit, finding.severity) == (9, 4, W)
    assert "no pre-dose total" in finding.message and "clinician" in finding.message


def test_cadss_message():
    finding = evaluate_cadss(12, baseline=2)[0]
    assert (finding.value, finding.limit) == (12, 4)
    assert finding.message == "CADSS total 12 is above 4 and above the pre-dose total of 2: dissociation."


@pytest.mark.parametrize("bad", [-1, 93, True, 4.5])
def test_cadss_out_of_range(bad):
    with pytest.raises(ValueError, match="0 to 92"):
        evaluate_cadss(bad, baseline=0)
    with pytest.raises(ValueError, match="0 to 92"):
        evaluate_cadss(10, baseline=bad)


# --- worst ---------------------------------------------------------------------------------------


def test_worst():
    warning = evaluate_moaas(4, baseline=5)
    critical = evaluate_moaas(0, baseline=5)
    assert worst([]) is None
    assert worst(warning) is W
    assert worst(warning + critical) is C
    assert worst(iter(critical + warning)) is C


# --- plausibility --------------------------------------------------------------------------------

RANGE_MESSAGES = {
    "systolic": "Must be between 50 and 300 mmHg.",
    "diastolic": "Must be between 20 and 200 mmHg.",
    "heart_rate": "Must be between 20 and 250 beats per minute.",
    "spo2": "Must be between 50 and 100%.",
    "respiratory_rate": "Must be between 4 and 60 breaths per minute.",
    "temperature_c": "Must be between 30.0 and 43.0 °C.",
}


def reading_with(field: str, value) -> Reading:
    if field == "systolic":
        return Reading(systolic=value, diastolic=20)
    if field == "diastolic":
        return Reading(systolic=300, diastolic=value)
    return Reading(**{field: value})


PLAUSIBILITY_CASES = []
for _field, (_low, _high) in PLAUSIBLE_RANGES.items():
    _step = 1 if isinstance(_low, int) else 1.0
    PLAUSIBILITY_CASES += [(_field, _low, True), (_field, _high, True)]
    PLAUSIBILITY_CASES += [(_field, _low - _step, False), (_field, _high + _step, False)]
PLAUSIBILITY_CASES += [("temperature_c", 29.9, False), ("temperature_c", 43.1, False)]
PLAUSIBILITY_CASES += [("temperature_c", 30, True), ("temperature_c", Decimal("36.6"), True)]


@pytest.mark.parametrize(("field", "value", "ok"), PLAUSIBILITY_CASES)
def test_plausible_range(field, value, ok):
    expected = {} if ok else {field: [RANGE_MESSAGES[field]]}
    assert plausibility_errors(reading_with(field, value)) == expected


@pytest.mark.parametrize(("systolic", "diastolic"), [(120, 120), (120, 121), (60, 200), (50, 50)])
def test_diastolic_must_be_below_systolic(systolic, diastolic):
    assert plausibility_errors(Reading(systolic=systolic, diastolic=diastolic)) == {
        "diastolic": ["Must be below the systolic pressure."]
    }


def test_diastolic_one_below_systolic_is_fine():
    assert plausibility_errors(Reading(systolic=120, diastolic=119)) == {}


def test_order_check_skipped_when_a_number_is_out_of_range():
    assert plausibility_errors(Reading(systolic=40, diastolic=45)) == {"systolic": [RANGE_MESSAGES["systolic"]]}


def test_blood_pressure_needs_both_numbers():
    assert plausibility_errors(Reading(systolic=120)) == {
        "diastolic": ["A blood pressure needs both numbers: enter the diastolic too."]
    }
    assert plausibility_errors(Reading(diastolic=80, heart_rate=70)) == {
        "systolic": ["A blood pressure needs both numbers: enter the systolic too."]
    }
    # a lone out-of-range systolic reports both problems
    assert set(plausibility_errors(Reading(systolic=400))) == {"systolic", "diastolic"}


def test_all_none_is_fine():
    assert plausibility_errors(Reading()) == {}


@pytest.mark.parametrize(
    ("reading", "field", "message"),
    [
        (Reading(heart_rate=True), "heart_rate", "Must be a whole number."),
        (Reading(spo2=97.5), "spo2", "Must be a whole number."),
        (Reading(respiratory_rate="12"), "respiratory_rate", "Must be a whole number."),
        (Reading(temperature_c=math.nan), "temperature_c", "Must be a number."),
        (Reading(temperature_c=math.inf), "temperature_c", "Must be a number."),
        (Reading(temperature_c=Decimal("NaN")), "temperature_c", "Must be a number."),
        (Reading(temperature_c=False), "temperature_c", "Must be a number."),
        (Reading(temperature_c="37"), "temperature_c", "Must be a number."),
    ],
)
def test_wrong_types_are_input_errors(reading, field, message):
    assert plausibility_errors(reading) == {field: [message]}


# --- resolve() -----------------------------------------------------------------------------------


def test_resolve_without_layers_is_the_defaults():
    assert resolve() == DEFAULTS
    assert resolve(None, {}, None) == DEFAULTS


def test_resolve_layers_left_to_right():
    clinic = {"spo2_warning_below": 92, "heart_rate_warning_above": 100}
    treatment = {"spo2_warning_below": 95}
    assert resolve(clinic, treatment).spo2_warning_below == 95
    assert resolve(treatment, clinic).spo2_warning_below == 92
    resolved = resolve(clinic, treatment)
    assert resolved.heart_rate_warning_above == 100  # clinic value survives
    assert resolved.systolic_critical == 180  # default survives
    assert resolve(None, treatment) == resolve(treatment)


def test_resolve_does_not_mutate_inputs_or_defaults():
    layer = {"spo2_warning_below": 95}
    resolve(layer)
    assert layer == {"spo2_warning_below": 95}
    assert DEFAULTS.spo2_warning_below == 94


def test_unknown_key():
    with pytest.raises(ThresholdConfigError) as excinfo:
        resolve({"spo2_warnign_below": 95, 7: 1})
    assert excinfo.value.errors == {"spo2_warnign_below": ["Unknown threshold."], "7": ["Unknown threshold."]}
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize("bad", ["140", 140.0, 140.5, True, None, [140]])
def test_wrong_type(bad):
    with pytest.raises(ThresholdConfigError) as excinfo:
        resolve({"predose_systolic_max": bad})
    assert excinfo.value.errors == {"predose_systolic_max": ["Must be a whole number."]}


def test_non_mapping_layer():
    with pytest.raises(TypeError):
        resolve([("spo2_warning_below", 95)])  # type: ignore[arg-type]


@pytest.mark.parametrize("key", list(DEFAULTS.as_dict()))
def test_negative_values(key):
    with pytest.raises(ThresholdConfigError) as excinfo:
        resolve({key: -1})
    assert excinfo.value.errors[key] == ["Must not be negative."]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("systolic_critical", 1800),  # a typo that would switch the alert off
        ("systolic_critical", 301),
        ("spo2_critical_below", 50),  # nothing plausible is below 50
        ("spo2_warning_below", 101),
        ("heart_rate_warning_above", 250),
        ("respiratory_rate_critical_below", 4),
        ("systolic_rise_warning", 0),  # a rise of 0 would flag every reading
        ("diastolic_rise_warning", 181),
        ("moaas_critical_at_or_below", 5),  # would call every score critical
        ("cadss_dissociation_above", 92),
    ],
)
def test_values_where_a_rule_never_fires_or_always_fires(key, value):
    with pytest.raises(ThresholdConfigError) as excinfo:
        resolve({key: value})
    assert list(excinfo.value.errors) == [key]
    assert excinfo.value.errors[key][0].startswith("Must be between ")


@pytest.mark.parametrize(
    ("layer", "keys"),
    [
        ({"spo2_critical_below": 95}, {"spo2_critical_below", "spo2_warning_below"}),
        ({"spo2_warning_below": 89}, {"spo2_critical_below", "spo2_warning_below"}),
        ({"heart_rate_critical_above": 105}, {"heart_rate_critical_above", "heart_rate_warning_above"}),
        ({"heart_rate_critical_below": 55}, {"heart_rate_critical_below", "heart_rate_warning_below"}),
        (
            {"respiratory_rate_critical_below": 11},
            {"respiratory_rate_critical_below", "respiratory_rate_warning_below"},
        ),
        (
            {"heart_rate_warning_below": 120, "heart_rate_critical_below": 40, "heart_rate_critical_above": 140},
            {"heart_rate_warning_below", "heart_rate_warning_above"},
        ),
        ({"respiratory_rate_warning_below": 25}, {"respiratory_rate_warning_below", "respiratory_rate_warning_above"}),
        ({"predose_systolic_max": 180}, {"predose_systolic_max", "systolic_critical"}),
        ({"predose_diastolic_max": 115}, {"predose_diastolic_max", "diastolic_critical"}),
    ],
)
def test_incoherent_pairs_name_both_keys(layer, keys):
    with pytest.raises(ThresholdConfigError) as excinfo:
        resolve(layer)
    assert set(excinfo.value.errors) == keys


def test_incoherent_message():
    with pytest.raises(ThresholdConfigError) as excinfo:
        resolve({"spo2_critical_below": 95})
    assert excinfo.value.errors["spo2_critical_below"] == [
        "Must be at most spo2_warning_below (94): a critical limit cannot be less strict than its warning limit."
    ]


def test_equal_warning_and_critical_is_coherent():
    # The warning band is then empty: every breach is critical. Stricter, not incoherent.
    t = resolve({"spo2_critical_below": 94, "heart_rate_critical_above": 110})
    assert field_finding(evaluate_vitals(Reading(spo2=93), baseline=None, thresholds=t), "spo2") == SPO2_C
    assert field_finding(evaluate_vitals(Reading(heart_rate=111), baseline=None, thresholds=t), "heart_rate") == (
        HR_HIGH_C
    )


def test_coherence_is_judged_on_the_final_result():
    # incoherent after the clinic layer alone, fixed by the treatment-type layer
    t = resolve({"spo2_critical_below": 95}, {"spo2_warning_below": 96})
    assert (t.spo2_critical_below, t.spo2_warning_below) == (95, 96)
    # coherent after the clinic layer, broken by the treatment-type layer
    with pytest.raises(ThresholdConfigError) as excinfo:
        resolve({"spo2_critical_below": 92}, {"spo2_warning_below": 91})
    assert set(excinfo.value.errors) == {"spo2_critical_below", "spo2_warning_below"}


def test_errors_from_every_layer_are_collected():
    with pytest.raises(ThresholdConfigError) as excinfo:
        resolve(
            {"cadss_dissociation_above": "4", "bogus": 1},
            {"cadss_dissociation_above": 5, "moaas_critical_at_or_below": -2},
        )
    assert excinfo.value.errors == {
        "cadss_dissociation_above": ["Must be a whole number."],  # the clinic layer is still broken
        "bogus": ["Unknown threshold."],
        "moaas_critical_at_or_below": ["Must not be negative."],
    }


def test_a_bad_value_does_not_cause_a_spurious_coherence_error():
    with pytest.raises(ThresholdConfigError) as excinfo:
        resolve({"spo2_warning_below": "91", "spo2_critical_below": 92})
    assert excinfo.value.errors == {"spo2_warning_below": ["Must be a whole number."]}


def test_direct_construction_is_validated_too():
    with pytest.raises(ThresholdConfigError) as excinfo:
        Thresholds(heart_rate_critical_above=100)
    assert set(excinfo.value.errors) == {"heart_rate_critical_above", "heart_rate_warning_above"}


def test_config_error_pickles():
    error = ThresholdConfigError({"spo2_warning_below": ["Must not be negative."]})
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert copy.errors == error.errors
    assert str(copy) == str(error) == "Invalid thresholds: spo2_warning_below: Must not be negative."


# --- properties ----------------------------------------------------------------------------------


@st.composite
def thresholds(draw) -> Thresholds:
    """Any coherent configuration a clinic could sign off."""

    def ordered(n: int, low: int, high: int, *, distinct: bool = False) -> list[int]:
        values = st.lists(st.integers(low, high), min_size=n, max_size=n, unique=distinct)
        return sorted(draw(values))

    predose_s, crit_s = ordered(2, 51, 299, distinct=True)
    predose_d, crit_d = ordered(2, 21, 199, distinct=True)
    spo2_c, spo2_w = ordered(2, 51, 100)
    hr_cb, hr_wb, hr_wa, hr_ca = ordered(4, 21, 249)
    rr_cb, rr_wb, rr_wa = ordered(3, 5, 59)
    return Thresholds(
        predose_systolic_max=predose_s,
        predose_diastolic_max=predose_d,
        systolic_critical=crit_s,
        diastolic_critical=crit_d,
        systolic_rise_warning=draw(st.integers(1, 250)),
        diastolic_rise_warning=draw(st.integers(1, 180)),
        spo2_warning_below=spo2_w,
        spo2_critical_below=spo2_c,
        heart_rate_warning_above=hr_wa,
        heart_rate_warning_below=hr_wb,
        heart_rate_critical_above=hr_ca,
        heart_rate_critical_below=hr_cb,
        respiratory_rate_warning_below=rr_wb,
        respiratory_rate_warning_above=rr_wa,
        respiratory_rate_critical_below=rr_cb,
        moaas_critical_at_or_below=draw(st.integers(0, 4)),
        cadss_dissociation_above=draw(st.integers(0, 91)),
    )


any_thresholds = st.one_of(st.just(DEFAULTS), st.just(CUSTOM), thresholds())


def optional(strategy):
    return st.none() | strategy


@st.composite
def plausible_readings(draw, *, with_bp: bool | None = None) -> Reading:
    has_bp = draw(st.booleans()) if with_bp is None else with_bp
    systolic = diastolic = None
    if has_bp:
        systolic = draw(st.integers(50, 300))
        diastolic = draw(st.integers(20, min(systolic - 1, 200)))
    return Reading(
        systolic=systolic,
        diastolic=diastolic,
        heart_rate=draw(optional(st.integers(20, 250))),
        spo2=draw(optional(st.integers(50, 100))),
        respiratory_rate=draw(optional(st.integers(4, 60))),
        temperature_c=draw(optional(st.floats(30.0, 43.0))),
    )


@given(thresholds())
def test_generated_thresholds_round_trip_through_resolve(t):
    assert resolve(t.as_dict()) == t


@given(plausible_readings(), optional(plausible_readings()), any_thresholds)
def test_evaluate_vitals_never_raises_and_reports_each_field_once(reading, baseline, t):
    assert plausibility_errors(reading) == {}
    findings = evaluate_vitals(reading, baseline=baseline, thresholds=t)
    fields = [f.field for f in findings]
    assert len(fields) == len(set(fields))
    assert all(getattr(reading, f) is not None for f in fields)
    order = list(Reading.__dataclass_fields__)
    assert findings == sorted(findings, key=lambda f: (-RANK[f.severity], order.index(f.field)))
    assert worst(findings) == max((f.severity for f in findings), key=RANK.get, default=None)


def assert_not_less_severe(low_findings, high_findings, field):
    """``high_findings`` (the more extreme value) is at least as severe, for the field and overall."""
    assert RANK[field_severity(high_findings, field)] >= RANK[field_severity(low_findings, field)]
    assert RANK[worst(high_findings)] >= RANK[worst(low_findings)]


@given(st.data(), plausible_readings(with_bp=False), optional(plausible_readings(with_bp=True)), any_thresholds)
def test_raising_systolic_never_lowers_severity(data, rest, baseline, t):
    diastolic = data.draw(st.integers(20, 199))
    low = data.draw(st.integers(max(diastolic + 1, 50), 300))
    high = data.draw(st.integers(low, 300))
    before = evaluate_vitals(replace(rest, systolic=low, diastolic=diastolic), baseline=baseline, thresholds=t)
    after = evaluate_vitals(replace(rest, systolic=high, diastolic=diastolic), baseline=baseline, thresholds=t)
    assert_not_less_severe(before, after, "systolic")


@given(st.data(), plausible_readings(with_bp=False), optional(plausible_readings(with_bp=True)), any_thresholds)
def test_raising_diastolic_never_lowers_severity(data, rest, baseline, t):
    systolic = data.draw(st.integers(50, 300))
    low = data.draw(st.integers(20, min(systolic - 1, 200)))
    high = data.draw(st.integers(low, min(systolic - 1, 200)))
    before = evaluate_vitals(replace(rest, systolic=systolic, diastolic=low), baseline=baseline, thresholds=t)
    after = evaluate_vitals(replace(rest, systolic=systolic, diastolic=high), baseline=baseline, thresholds=t)
    assert_not_less_severe(before, after, "diastolic")


@given(st.data(), plausible_readings(), any_thresholds)
def test_raising_heart_rate_above_the_normal_range_never_lowers_severity(data, rest, t):
    low = data.draw(st.integers(t.heart_rate_warning_below, 250))
    high = data.draw(st.integers(low, 250))
    before = evaluate_vitals(replace(rest, heart_rate=low), baseline=None, thresholds=t)
    after = evaluate_vitals(replace(rest, heart_rate=high), baseline=None, thresholds=t)
    assert_not_less_severe(before, after, "heart_rate")


@given(st.data(), plausible_readings(), any_thresholds)
def test_lowering_heart_rate_below_the_normal_range_never_lowers_severity(data, rest, t):
    high = data.draw(st.integers(20, t.heart_rate_warning_above))
    low = data.draw(st.integers(20, high))
    before = evaluate_vitals(replace(rest, heart_rate=high), baseline=None, thresholds=t)
    after = evaluate_vitals(replace(rest, heart_rate=low), baseline=None, thresholds=t)
    assert_not_less_severe(before, after, "heart_rate")


@given(st.data(), plausible_readings(), any_thresholds)
def test_lowering_spo2_never_lowers_severity(data, rest, t):
    high = data.draw(st.integers(50, 100))
    low = data.draw(st.integers(50, high))
    before = evaluate_vitals(replace(rest, spo2=high), baseline=None, thresholds=t)
    after = evaluate_vitals(replace(rest, spo2=low), baseline=None, thresholds=t)
    assert_not_less_severe(before, after, "spo2")


@given(st.data(), plausible_readings(), any_thresholds)
def test_lowering_respiratory_rate_never_lowers_severity(data, rest, t):
    high = data.draw(st.integers(4, t.respiratory_rate_warning_above))
    low = data.draw(st.integers(4, high))
    before = evaluate_vitals(replace(rest, respiratory_rate=high), baseline=None, thresholds=t)
    after = evaluate_vitals(replace(rest, respiratory_rate=low), baseline=None, thresholds=t)
    assert_not_less_severe(before, after, "respiratory_rate")


@given(st.data(), optional(st.integers(0, 5)), any_thresholds)
def test_a_lower_moaas_is_never_less_severe(data, baseline, t):
    high = data.draw(st.integers(0, 5))
    low = data.draw(st.integers(0, high))
    before = evaluate_moaas(high, baseline=baseline, thresholds=t)
    after = evaluate_moaas(low, baseline=baseline, thresholds=t)
    assert len(before) <= 1
    assert len(after) <= 1
    assert RANK[worst(after)] >= RANK[worst(before)]


@given(st.data(), optional(st.integers(0, 92)), any_thresholds)
def test_a_higher_cadss_is_never_less_severe(data, baseline, t):
    low = data.draw(st.integers(0, 92))
    high = data.draw(st.integers(low, 92))
    before = evaluate_cadss(low, baseline=baseline, thresholds=t)
    after = evaluate_cadss(high, baseline=baseline, thresholds=t)
    assert RANK[worst(after)] >= RANK[worst(before)]
    if baseline is None:
        expected = "dissociation_review" if high > t.cadss_dissociation_above else None
        assert [f.code for f in after] == ([expected] if expected else [])


@given(plausible_readings(), any_thresholds)
def test_predose_gate_matches_its_definition(reading, t):
    finding = predose_bp_elevated(reading, t)
    elevated = reading.systolic is not None and (
        reading.systolic > t.predose_systolic_max or reading.diastolic > t.predose_diastolic_max
    )
    assert (finding is not None) == elevated
