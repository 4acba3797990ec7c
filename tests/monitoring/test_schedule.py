"""The vital-sign check schedule: due, overdue and done checks, matching readings, earliest discharge.

Pure functions: no database, no Django fixtures.
"""

from __future__ import annotations

import itertools
import pickle
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.schedule import (
    DEFAULT_CONFIGS,
    DONE,
    DUE,
    OVERDUE,
    UPCOMING,
    DueCheck,
    ScheduleConfig,
    ScheduleConfigError,
    SessionTimes,
    earliest_discharge,
    expected_checks,
    has_recent_reading,
    minutes_since,
    next_due,
    overdue,
    resolve_config,
)

NY = ZoneInfo("America/New_York")
ESK = DEFAULT_CONFIGS["esketamine_nasal"]
IV = DEFAULT_CONFIGS["iv_ketamine"]
IM = DEFAULT_CONFIGS["im_ketamine"]


def at(hhmm: str, day: int = 4) -> datetime:
    """A wall time in New York on 4 March 2025 (EST)."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(2025, 3, day, hour, minute, tzinfo=NY)


def by_key(checks: list[DueCheck]) -> dict[str, DueCheck]:
    return {check.key: check for check in checks}


# --- esketamine -----------------------------------------------------------------------------------


class TestEsketamine:
    def test_predose_is_due_before_the_dose(self):
        times = SessionTimes(checked_in_at=at("09:45"), first_dose_at=None)
        checks = expected_checks(ESK, times, [], now=at("09:50"))
        assert [(c.key, c.label, c.due_at, c.state) for c in checks] == [("predose", "Before the dose", None, DUE)]
        assert next_due(checks) == checks[0]
        assert overdue(checks) == []

    def test_predose_reading_after_check_in_satisfies_it(self):
        times = SessionTimes(checked_in_at=at("09:45"), first_dose_at=None)
        checks = expected_checks(ESK, times, [at("09:40"), at("09:50")], now=at("09:55"))
        assert checks[0].state == DONE
        assert checks[0].satisfied_by == at("09:50")
        # A reading before check-in belongs to another visit.
        checks = expected_checks(ESK, times, [at("09:40")], now=at("09:55"))
        assert checks[0].state == DUE

    def test_after_the_dose_the_schedule_is_predose_then_40_minutes(self):
        times = SessionTimes(checked_in_at=at("09:45"), first_dose_at=at("10:00"))
        checks = expected_checks(ESK, times, [at("09:55")], now=at("10:10"), until=at("13:00"))
        assert [c.key for c in checks] == ["predose", "dose+40"]
        predose, forty = checks
        assert (predose.state, predose.due_at, predose.satisfied_by) == (DONE, at("10:00"), at("09:55"))
        assert forty.label == "40 minutes after the first device"
        assert (forty.due_at, forty.state) == (at("10:40"), UPCOMING)

    def test_a_reading_at_the_dose_is_a_predose_reading(self):
        times = SessionTimes(checked_in_at=None, first_dose_at=at("10:00"))
        checks = by_key(expected_checks(ESK, times, [at("10:00")], now=at("10:01")))
        assert checks["predose"].satisfied_by == at("10:00")
        assert checks["dose+40"].satisfied_by is None

    @pytest.mark.parametrize(
        ("reading", "counts"),
        [("10:34", False), ("10:35", True), ("10:38", True), ("10:40", True), ("10:44", True), ("11:30", True)],
    )
    def test_dose_40_early_tolerance_and_late(self, reading, counts):
        # Early tolerance 5: from 10:35. There is no later check, so any later reading makes it up.
        times = SessionTimes(checked_in_at=at("09:45"), first_dose_at=at("10:00"))
        checks = by_key(expected_checks(ESK, times, [at("09:50"), at(reading)], now=at("11:45")))
        assert (checks["dose+40"].state == DONE) is counts
        assert checks["dose+40"].satisfied_by == (at(reading) if counts else None)

    @pytest.mark.parametrize(
        ("now", "state"),
        [("10:30", UPCOMING), ("10:40", DUE), ("10:44", DUE), ("10:45", DUE), ("10:46", OVERDUE)],
    )
    def test_dose_40_state_with_grace(self, now, state):
        times = SessionTimes(checked_in_at=at("09:45"), first_dose_at=at("10:00"))
        checks = expected_checks(ESK, times, [at("09:50")], now=at(now))
        assert by_key(checks)["dose+40"].state == state
        assert [c.key for c in overdue(checks)] == (["dose+40"] if state == OVERDUE else [])

    def test_reading_in_the_future_does_not_count_yet(self):
        times = SessionTimes(checked_in_at=at("09:45"), first_dose_at=at("10:00"))
        checks = by_key(expected_checks(ESK, times, [at("09:50"), at("10:41")], now=at("10:40")))
        assert checks["dose+40"].state == DUE

    def test_earliest_discharge_is_two_hours_after_the_first_device(self):
        times = SessionTimes(checked_in_at=at("09:45"), first_dose_at=at("10:00"))
        assert earliest_discharge(ESK, times) == at("12:00")
        assert earliest_discharge(ESK, SessionTimes(checked_in_at=at("09:45"), first_dose_at=None)) is None

    def test_missed_predose_is_overdue_once_dosed_and_stops_being_next(self):
        times = SessionTimes(checked_in_at=at("09:45"), first_dose_at=at("10:00"))
        checks = expected_checks(ESK, times, [], now=at("10:06"))
        assert [c.key for c in overdue(checks)] == ["predose"]
        assert checks[0].closes_at == at("10:00")
        # Without ``now`` the literal rule: overdue first.
        assert next_due(checks).key == "predose"
        # With ``now``: a pre-dose reading can no longer be taken, so the 40-minute one is next.
        assert next_due(checks, now=at("10:06")).key == "dose+40"
        # A reading taken after the dose does not make up the pre-dose one.
        checks = expected_checks(ESK, times, [at("10:07")], now=at("10:08"))
        assert by_key(checks)["predose"].state == OVERDUE

    def test_no_checks_after_discharge(self):
        times = SessionTimes(checked_in_at=at("09:45"), first_dose_at=at("10:00"), discharged_at=at("10:30"))
        checks = expected_checks(ESK, times, [at("09:50"), at("10:35")], now=at("11:00"))
        assert [c.key for c in checks] == ["predose"]


# --- IV ketamine ----------------------------------------------------------------------------------


class TestIV:
    times = SessionTimes(checked_in_at=at("09:40"), first_dose_at=at("10:00"), infusion_end_at=at("10:40"))

    def test_during_every_10_then_after_every_15(self):
        checks = expected_checks(IV, self.times, [], now=at("10:00"), until=at("11:40"))
        assert [(c.key, c.due_at.astimezone(NY).strftime("%H:%M")) for c in checks] == [
            ("predose", "10:00"),
            ("infusion+10", "10:10"),
            ("infusion+20", "10:20"),
            ("infusion+30", "10:30"),
            # The end of the infusion is a during check (and the BP peak); it appears once.
            ("infusion+40", "10:40"),
            ("after+15", "10:55"),
            ("after+30", "11:10"),
            ("after+45", "11:25"),
            ("after+60", "11:40"),
        ]
        labels = by_key(checks)
        assert labels["infusion+40"].label == "40 minutes into the infusion"
        assert labels["after+15"].label == "15 minutes after the end of the infusion"

    def test_end_point_appears_exactly_once(self):
        checks = expected_checks(IV, self.times, [], now=at("10:00"), until=at("12:00"))
        ends = [c for c in checks if c.due_at == at("10:40")]
        assert len(ends) == 1
        assert len({c.key for c in checks}) == len(checks)

    def test_infusion_ending_between_marks(self):
        times = replace(self.times, infusion_end_at=at("10:43"))
        checks = expected_checks(IV, times, [], now=at("10:00"), until=at("11:15"))
        assert [c.key for c in checks][-3:] == ["infusion+40", "after+15", "after+30"]
        assert by_key(checks)["after+15"].due_at == at("10:58")

    def test_earliest_discharge_counts_from_the_end_of_the_infusion(self):
        assert earliest_discharge(IV, self.times) == at("11:40")
        assert earliest_discharge(replace(IV, minimum_monitoring_minutes=90), self.times) == at("12:10")
        assert earliest_discharge(IV, replace(self.times, infusion_end_at=None)) is None

    def test_open_ended_infusion_keeps_generating_10_minute_checks(self):
        times = replace(self.times, infusion_end_at=None)
        checks = expected_checks(IV, times, [], now=at("10:50"))
        assert [c.key for c in checks][1:] == [f"infusion+{m}" for m in range(10, 110 + 1, 10)]
        assert checks[-1].due_at == at("11:50")  # default until: now + 60
        longer = expected_checks(IV, times, [], now=at("10:50"), until=at("12:30"))
        assert longer[-1].key == "infusion+150"

    def test_overdue_during_checks_and_a_late_reading(self):
        readings = [at("09:50"), at("10:09"), at("10:24")]
        checks = by_key(expected_checks(IV, self.times, readings, now=at("10:26")))
        assert checks["infusion+10"].satisfied_by == at("10:09")
        # 10:24 is within [10:15, 10:25) of the 10:20 check: late but counts.
        assert checks["infusion+20"].satisfied_by == at("10:24")
        assert checks["infusion+30"].state == UPCOMING

    def test_missed_check_stays_overdue_once_the_next_window_opens(self):
        readings = [at("09:50"), at("10:26")]
        checks = expected_checks(IV, self.times, readings, now=at("10:27"))
        keyed = by_key(checks)
        # 10:26 falls in the 10:30 check's early window, not the missed 10:20 one.
        assert keyed["infusion+20"].state == OVERDUE
        assert keyed["infusion+30"].satisfied_by == at("10:26")
        assert [c.key for c in overdue(checks)] == ["infusion+10", "infusion+20"]
        assert next_due(checks).key == "infusion+10"
        assert next_due(checks, now=at("10:27")).key == "infusion+40"

    def test_after_window_allows_a_late_reading_until_the_next_opens(self):
        # after+15 at 10:55: window [10:50, 11:05); overdue from 11:00.
        readings = [at("09:50"), *(at(f"10:{m}") for m in (10, 20, 30, 40))]
        before = by_key(expected_checks(IV, self.times, readings, now=at("11:01")))
        assert before["after+15"].state == OVERDUE
        later = by_key(expected_checks(IV, self.times, [*readings, at("11:03")], now=at("11:04")))
        assert later["after+15"].state == DONE
        assert later["after+15"].satisfied_by == at("11:03")
        assert later["after+15"].closes_at == at("11:05")

    def test_default_until_is_capped_at_discharge(self):
        times = replace(self.times, discharged_at=at("11:15"))
        checks = expected_checks(IV, times, [], now=at("11:00"))
        assert checks[-1].key == "after+30"


# --- IM ketamine ----------------------------------------------------------------------------------


class TestIM:
    times = SessionTimes(checked_in_at=at("09:50"), first_dose_at=at("10:00"))

    def test_every_15_after_the_injection(self):
        checks = expected_checks(IM, self.times, [], now=at("10:00"), until=at("11:00"))
        assert [c.key for c in checks] == ["predose", "after+15", "after+30", "after+45", "after+60"]
        assert by_key(checks)["after+15"].label == "15 minutes after the injection"
        assert by_key(checks)["after+30"].due_at == at("10:30")

    def test_infusion_settings_are_ignored(self):
        config = replace(IM, during_infusion_every=10)
        times = replace(self.times, infusion_end_at=at("10:05"))
        checks = expected_checks(config, times, [], now=at("10:00"), until=at("10:30"))
        assert [c.key for c in checks] == ["predose", "after+15", "after+30"]
        assert earliest_discharge(config, times) == at("10:30")

    def test_earliest_discharge_is_30_minutes_after_the_injection(self):
        assert earliest_discharge(IM, self.times) == at("10:30")


# --- matching rules -------------------------------------------------------------------------------


class TestMatching:
    def test_a_reading_counts_for_one_check_only(self):
        # Fixed 40 and every 15: checks at 15, 30, 40, 45. One reading at 10:41 serves only 10:40.
        config = replace(IM, fixed_minutes_after_dose=(40,))
        times = SessionTimes(checked_in_at=None, first_dose_at=at("10:00"))
        checks = by_key(expected_checks(config, times, [at("10:41")], now=at("10:42")))
        assert checks["dose+40"].satisfied_by == at("10:41")
        assert checks["after+45"].satisfied_by is None
        # A second reading in the overlap goes to the next check.
        checks = by_key(expected_checks(config, times, [at("10:41"), at("10:43")], now=at("10:44")))
        assert checks["after+45"].satisfied_by == at("10:43")

    def test_coinciding_checks_are_merged(self):
        config = replace(IM, fixed_minutes_after_dose=(45,))
        times = SessionTimes(checked_in_at=None, first_dose_at=at("10:00"))
        checks = expected_checks(config, times, [], now=at("10:00"), until=at("11:00"))
        assert [c.key for c in checks] == ["predose", "after+15", "after+30", "dose+45", "after+60"]
        assert by_key(checks)["dose+45"].label == "45 minutes after the injection"

    def test_late_reading_turns_an_alerted_check_done(self):
        """The sweep raised dose+40 at 10:46 (dedupe key = the check's key); a reading at 10:50 then
        satisfies it late. The check is done from then on, the alert stays on record, and since the
        key does not change, a later sweep never raises it again."""
        times = SessionTimes(checked_in_at=None, first_dose_at=at("10:00"))
        first = expected_checks(ESK, times, [at("09:55")], now=at("10:46"))
        assert [c.key for c in overdue(first)] == ["dose+40"]
        second = expected_checks(ESK, times, [at("09:55"), at("10:50")], now=at("10:51"))
        assert by_key(second)["dose+40"].state == DONE
        assert overdue(second) == []

    def test_readings_may_come_in_any_order_and_zone(self):
        times = SessionTimes(checked_in_at=at("09:40"), first_dose_at=at("10:00"), infusion_end_at=at("10:40"))
        readings = [at("10:20").astimezone(UTC), at("09:50"), at("10:10").astimezone(ZoneInfo("Asia/Tokyo"))]
        checks = by_key(expected_checks(IV, times, readings, now=at("10:21")))
        assert checks["infusion+10"].satisfied_by == at("10:10")
        assert checks["infusion+20"].satisfied_by is readings[0]

    def test_naive_datetimes_are_refused(self):
        naive = datetime(2025, 3, 4, 10, 0)
        with pytest.raises(ValueError, match="timezone-aware"):
            SessionTimes(checked_in_at=None, first_dose_at=naive)
        times = SessionTimes(checked_in_at=None, first_dose_at=at("10:00"))
        with pytest.raises(ValueError, match="timezone-aware"):
            expected_checks(ESK, times, [naive], now=at("10:30"))
        with pytest.raises(ValueError, match="timezone-aware"):
            expected_checks(ESK, times, [], now=naive)

    def test_across_the_fall_back(self):
        # 2 November 2025, New York: 01:59 EDT is followed by 01:00 EST. Checks keep real minutes.
        dose = datetime(2025, 11, 2, 1, 30, tzinfo=NY)  # fold=0: the EDT one, 05:30 UTC
        # Real-time arithmetic (in UTC): ``dose + 40 min`` on the New York datetime would be wall time.
        end = (dose.astimezone(UTC) + timedelta(minutes=40)).astimezone(NY)  # 01:10 EST
        times = SessionTimes(checked_in_at=None, first_dose_at=dose, infusion_end_at=end)
        checks = expected_checks(IV, times, [], now=dose, until=dose.astimezone(UTC) + timedelta(minutes=70))
        dues = [c.due_at for c in checks[1:]]
        steps = [b - a for a, b in itertools.pairwise(dues)]
        assert steps == [timedelta(minutes=10)] * 3 + [timedelta(minutes=15)] * 2
        assert dues[0] == datetime(2025, 11, 2, 5, 40, tzinfo=UTC)
        assert earliest_discharge(IV, times) == datetime(2025, 11, 2, 7, 10, tzinfo=UTC)  # 02:10 EST

    def test_until_does_not_change_the_shown_checks(self):
        times = SessionTimes(checked_in_at=None, first_dose_at=at("10:00"), infusion_end_at=at("10:40"))
        readings = [at("10:12"), at("10:50"), at("10:58")]
        short = expected_checks(IV, times, readings, now=at("11:00"), until=at("10:55"))
        long = expected_checks(IV, times, readings, now=at("11:00"), until=at("12:00"))
        assert long[: len(short)] == short


# --- helpers --------------------------------------------------------------------------------------


class TestHelpers:
    def test_has_recent_reading(self):
        readings = [at("11:40"), at("11:46")]
        assert has_recent_reading(readings, at("12:00"), 15)  # 11:46 is 14 minutes ago
        assert has_recent_reading(readings, at("12:01"), 15)  # 15 minutes ago: inclusive
        assert not has_recent_reading(readings, at("12:02"), 15)
        assert not has_recent_reading([at("12:05")], at("12:00"), 15)  # not after now
        assert not has_recent_reading([], at("12:00"), 15)

    def test_minutes_since(self):
        assert minutes_since(None, at("10:00")) is None
        assert minutes_since(at("10:00"), at("10:39") + timedelta(seconds=59)) == 39
        assert minutes_since(at("10:00"), at("10:40")) == 40
        assert minutes_since(at("10:00"), at("09:59") + timedelta(seconds=30)) == -1
        # Real minutes across the spring-forward gap (9 March 2025: 02:00 EST -> 03:00 EDT).
        assert minutes_since(datetime(2025, 3, 9, 1, 30, tzinfo=NY), datetime(2025, 3, 9, 3, 30, tzinfo=NY)) == 60

    def test_next_due_prefers_overdue_and_none_when_all_done(self):
        times = SessionTimes(checked_in_at=None, first_dose_at=at("10:00"))
        checks = expected_checks(IM, times, [at("09:55")], now=at("10:25"))
        assert next_due(checks).key == "after+15"
        assert next_due(checks).state == OVERDUE
        done = expected_checks(ESK, SessionTimes(None, at("10:00")), [at("09:55"), at("10:40")], now=at("10:41"))
        assert next_due(done) is None


# --- configuration --------------------------------------------------------------------------------


class TestConfig:
    def test_defaults(self):
        assert ESK.fixed_minutes_after_dose == (40,)
        assert ESK.minimum_monitoring_minutes == 120
        assert (ESK.predose_check, ESK.before_discharge) == (True, True)
        assert (ESK.during_infusion_every, ESK.after_dose_every) == (None, None)
        assert (IV.during_infusion_every, IV.after_dose_every, IV.minimum_monitoring_minutes) == (10, 15, 60)
        assert (IM.during_infusion_every, IM.after_dose_every, IM.minimum_monitoring_minutes) == (None, 15, 30)
        for modality, config in DEFAULT_CONFIGS.items():
            assert config.modality == modality
            assert (config.grace_minutes, config.early_tolerance_minutes) == (5, 5)
            assert config.discharge_reading_within_minutes == 15

    def test_as_dict_is_json_ready_and_round_trips(self):
        data = ESK.as_dict()
        assert data["fixed_minutes_after_dose"] == [40]
        assert resolve_config("esketamine_nasal", data) == ESK

    def test_resolve_layers_left_to_right(self):
        config = resolve_config(
            "iv_ketamine",
            {"minimum_monitoring_minutes": 90, "grace_minutes": 10},
            None,
            {"minimum_monitoring_minutes": 75, "fixed_minutes_after_dose": [40, 40, 20]},
        )
        assert config.minimum_monitoring_minutes == 75
        assert config.grace_minutes == 10
        assert config.fixed_minutes_after_dose == (20, 40)
        assert config.during_infusion_every == 10
        assert resolve_config("im_ketamine") == IM
        assert resolve_config("im_ketamine", {"after_dose_every": None}).after_dose_every is None

    def test_resolve_collects_every_error(self):
        with pytest.raises(ScheduleConfigError) as info:
            resolve_config(
                "iv_ketamine",
                {"colour": "blue", "grace_minutes": True, "after_dose_every": "15"},
                {"minimum_monitoring_minutes": -5, "fixed_minutes_after_dose": [0, 40], "predose_check": 1},
                {"grace_minutes": 3, "modality": "im_ketamine", "early_tolerance_minutes": 10_000},
            )
        errors = info.value.errors
        assert set(errors) == {
            "colour",
            "grace_minutes",
            "after_dose_every",
            "minimum_monitoring_minutes",
            "fixed_minutes_after_dose",
            "predose_check",
            "modality",
            "early_tolerance_minutes",
        }
        assert errors["colour"] == ["Unknown setting."]
        assert errors["minimum_monitoring_minutes"] == ["Must not be negative."]
        assert errors["fixed_minutes_after_dose"] == ["Must be between 1 and 1440 minutes."]
        assert "grace_minutes" in str(info.value)
        assert isinstance(info.value, ValueError)

    def test_unknown_modality(self):
        with pytest.raises(ScheduleConfigError) as info:
            resolve_config("oral_ketamine")
        assert list(info.value.errors) == ["modality"]

    def test_esketamine_minimum_cannot_go_below_the_rems_two_hours(self):
        with pytest.raises(ScheduleConfigError) as info:
            resolve_config("esketamine_nasal", {"minimum_monitoring_minutes": 90})
        assert "REMS" in info.value.errors["minimum_monitoring_minutes"][0]
        assert resolve_config("esketamine_nasal", {"minimum_monitoring_minutes": 150}).minimum_monitoring_minutes == 150
        # The same clinic-wide value is fine for IV and IM.
        assert resolve_config("iv_ketamine", {"minimum_monitoring_minutes": 90}).minimum_monitoring_minutes == 90

    def test_a_layer_must_be_a_mapping(self):
        with pytest.raises(TypeError):
            resolve_config("iv_ketamine", [("grace_minutes", 3)])  # type: ignore[arg-type]

    def test_direct_construction_is_validated(self):
        with pytest.raises(ScheduleConfigError):
            ScheduleConfig(modality="iv_ketamine", during_infusion_every=0)
        with pytest.raises(ScheduleConfigError):
            ScheduleConfig(modality="im_ketamine", fixed_minutes_after_dose=40)  # type: ignore[arg-type]
        assert ScheduleConfig(modality="im_ketamine", fixed_minutes_after_dose=[30, 10]).fixed_minutes_after_dose == (
            10,
            30,
        )

    def test_error_pickles(self):
        error = ScheduleConfigError({"grace_minutes": ["Must not be negative."]})
        assert pickle.loads(pickle.dumps(error)).errors == error.errors  # noqa: S301 - our own bytes


# --- properties -----------------------------------------------------------------------------------

# The fall-back night in New York (00:30 EDT): moments are built in real time (UTC) and shown in New
# York, so some fall in the repeated hour (fold=1). Same-zone comparisons ignore fold, so the
# assertions below compare in UTC.
BASE = datetime(2025, 11, 2, 4, 30, tzinfo=UTC)


def ny(moment: datetime) -> datetime:
    return moment.astimezone(NY)


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


configs = st.builds(
    lambda modality, fixed, during, after, grace, tolerance, predose: resolve_config(
        modality,
        {
            "fixed_minutes_after_dose": fixed,
            "during_infusion_every": during if modality == "iv_ketamine" else None,
            "after_dose_every": after,
            "grace_minutes": grace,
            "early_tolerance_minutes": tolerance,
            "predose_check": predose,
            "minimum_monitoring_minutes": 120,
        },
    ),
    st.sampled_from(sorted(DEFAULT_CONFIGS)),
    st.lists(st.integers(1, 150), max_size=3),
    st.none() | st.integers(1, 30),
    st.none() | st.integers(1, 30),
    st.integers(0, 15),
    st.integers(0, 15),
    st.booleans(),
)


@st.composite
def sessions(draw):
    check_in = BASE + timedelta(minutes=draw(st.integers(0, 10)))  # UTC arithmetic, then New York
    dose = draw(st.none() | st.integers(0, 30).map(lambda m: check_in + timedelta(minutes=m)))
    end = discharged = None
    if dose is not None:
        end = draw(st.none() | st.integers(0, 90).map(lambda m: dose + timedelta(minutes=m)))
        discharged = draw(st.none() | st.integers(0, 240).map(lambda m: dose + timedelta(minutes=m)))
    return SessionTimes(
        checked_in_at=ny(check_in),
        first_dose_at=dose and ny(dose),
        infusion_end_at=end and ny(end),
        discharged_at=discharged and ny(discharged),
    )


# Seconds over four hours from BASE, so readings land between the minute marks too.
moments = st.integers(-600, 4 * 3600).map(lambda s: ny(BASE + timedelta(seconds=s)))


@settings(max_examples=300, deadline=None)
@given(config=configs, times=sessions(), readings=st.lists(moments, max_size=25), now=moments, extra=moments)
def test_properties(config, times, readings, now, extra):
    checks = expected_checks(config, times, readings, now=now, until=utc(now) + timedelta(minutes=90))
    grace = timedelta(minutes=config.grace_minutes)

    # Each reading satisfies at most one check (readings at the same instant count separately).
    used = Counter(utc(c.satisfied_by) for c in checks if c.satisfied_by is not None)
    available = Counter(utc(r) for r in readings)
    assert all(used[moment] <= available[moment] for moment in used)

    # In time order, keys unique, the pre-dose check first.
    dues = [c.due_at for c in checks if c.due_at is not None]
    assert dues == sorted(dues)
    assert len(dues) == len(set(dues))
    assert len({c.key for c in checks}) == len(checks)
    assert all(c.key == "predose" for c in checks if c.due_at is None)

    # done <=> satisfied; a satisfying reading is not in the future and not too early.
    tolerance = timedelta(minutes=config.early_tolerance_minutes)
    for check in checks:
        assert (check.state == DONE) == (check.satisfied_by is not None)
        if check.satisfied_by is not None:
            assert utc(check.satisfied_by) <= utc(now)
            if check.key != "predose":
                assert utc(check.satisfied_by) >= check.due_at - tolerance
                assert check.closes_at is None or utc(check.satisfied_by) < check.closes_at

    # overdue is a subset of the checks not done whose grace has run out.
    late = [c for c in checks if c.state != DONE and c.due_at is not None and c.due_at + grace < now]
    assert all(check in late for check in overdue(checks))
    assert [c.key for c in overdue(checks)] == [c.key for c in late]

    # No check after discharge.
    if times.discharged_at is not None:
        assert all(c.due_at <= utc(times.discharged_at) for c in checks if c.due_at is not None)

    # Adding a reading never turns a done check into not done.
    more = by_key(expected_checks(config, times, [*readings, extra], now=now, until=utc(now) + timedelta(minutes=90)))
    for check in checks:
        if check.state == DONE:
            assert more[check.key].state == DONE

    # next_due is a not-done check, or None only when all are done.
    upcoming = next_due(checks)
    assert (upcoming is None) == all(c.state == DONE for c in checks)


@settings(max_examples=150, deadline=None)
@given(
    config=configs, times=sessions(), readings=st.lists(moments, max_size=20), now=moments, minutes=st.integers(0, 200)
)
def test_until_only_truncates(config, times, readings, now, minutes):
    short = expected_checks(config, times, readings, now=now, until=utc(now) + timedelta(minutes=minutes))
    long = expected_checks(config, times, readings, now=now, until=utc(now) + timedelta(minutes=minutes + 120))
    assert long[: len(short)] == short
