"""Treatment protocols: the shipped data, its validation, and expansion into local session times.

Pure functions: no database, no Django fixtures.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.protocols import (
    MAX_SERIES_DAYS,
    MODALITIES,
    PROTOCOLS,
    PROTOCOLS_FILE,
    Phase,
    Protocol,
    ProtocolError,
    expand,
    get_protocol,
    load_protocols,
    local_datetime,
    parse_protocols,
)

NEW_YORK = ZoneInfo("America/New_York")
TEN = time(10)
MONDAY = date(2027, 3, 1)  # a Monday, two weeks before the US spring-forward on 2027-03-14
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def week_of(moment: datetime) -> date:
    day = moment.date()
    return day - timedelta(days=day.weekday())


def gaps(series: list[datetime]) -> list[int]:
    return [(b.date() - a.date()).days for a, b in itertools.pairwise(series)]


def per_week_counts(series: list[datetime]) -> list[int]:
    counts = Counter(week_of(moment) for moment in series)
    return [counts[week] for week in sorted(counts)]


def expand_code(code: str, first_date: date = MONDAY, **kwargs) -> list[datetime]:
    return expand(get_protocol(code), first_date=first_date, time_of_day=TEN, tz=NEW_YORK, **kwargs)


# --- shipped data ----------------------------------------------------------------------------------


def test_shipped_protocols_load_and_validate():
    raw = json.loads(PROTOCOLS_FILE.read_text(encoding="utf-8"))
    assert isinstance(raw, list)
    protocols = load_protocols()
    assert set(protocols) >= {
        "iv-induction",
        "esketamine-trd-induction",
        "esketamine-mdsi",
        "iv-booster",
        "esketamine-maintenance",
        "im-induction",
    }
    assert len(protocols) == len(raw)
    for code, protocol in protocols.items():
        assert protocol.code == code
        assert protocol.modality in MODALITIES
        assert protocol.source.strip()
        assert protocol.total_sessions >= 1


def test_protocols_mapping_equals_load_and_is_cached():
    assert load_protocols() == PROTOCOLS
    # Parsed once: the same Protocol objects every time.
    assert load_protocols()["iv-induction"] is load_protocols()["iv-induction"] is PROTOCOLS["iv-induction"]
    # A caller editing its copy does not change the shared definitions.
    mine = load_protocols()
    del mine["iv-induction"]
    assert "iv-induction" in load_protocols()
    with pytest.raises(TypeError):
        PROTOCOLS["x"] = PROTOCOLS["iv-induction"]  # type: ignore[index]


def test_get_protocol_unknown_is_key_error():
    with pytest.raises(KeyError):
        get_protocol("no-such-protocol")


@pytest.mark.parametrize(
    ("code", "modality", "weekdays", "phases"),
    [
        ("iv-induction", "iv_ketamine", (MON, WED, FRI), (Phase(6, 3, 2),)),
        ("im-induction", "im_ketamine", (MON, WED, FRI), (Phase(6, 3, 2),)),
        ("esketamine-trd-induction", "esketamine_nasal", (MON, THU), (Phase(8, 2, 2), Phase(4, 1))),
        ("esketamine-mdsi", "esketamine_nasal", (MON, THU), (Phase(8, 2, 2),)),
        ("iv-booster", "iv_ketamine", None, (Phase(1, 1),)),
        ("esketamine-maintenance", "esketamine_nasal", (MON,), (Phase(4, 1, interval_weeks=2),)),
    ],
)
def test_shipped_protocol_shapes(code, modality, weekdays, phases):
    protocol = get_protocol(code)
    assert protocol.modality == modality
    assert protocol.phases == phases
    if weekdays is not None:
        assert protocol.default_weekdays == weekdays


def test_im_induction_says_it_is_a_clinic_protocol():
    assert "clinic protocol" in get_protocol("im-induction").source.lower()


def test_as_dict_round_trips_through_the_parser():
    data = [protocol.as_dict() for protocol in PROTOCOLS.values()]
    assert json.loads(json.dumps(data)) == data
    assert parse_protocols(data) == load_protocols()
    assert get_protocol("esketamine-trd-induction").as_dict()["phases"][1] == {
        "sessions": 4,
        "per_week": 1,
        "min_gap_days": 1,
        "interval_weeks": 1,
    }


def test_total_sessions():
    assert get_protocol("esketamine-trd-induction").total_sessions == 12
    assert get_protocol("iv-booster").total_sessions == 1


# --- validation ------------------------------------------------------------------------------------


def _valid() -> dict:
    return copy.deepcopy(get_protocol("esketamine-trd-induction").as_dict())


def _phase_defaults_omitted() -> dict:
    data = _valid()
    data["phases"] = [{"sessions": 3, "per_week": 1}]
    return data


def test_optional_phase_keys_default():
    (protocol,) = parse_protocols([_phase_defaults_omitted()]).values()
    assert protocol.phases == (Phase(sessions=3, per_week=1, min_gap_days=1, interval_weeks=1),)


def _set(path: list, value):
    def mutate(data: dict) -> dict:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return data

    return mutate


def _drop(key: str):
    def mutate(data: dict) -> dict:
        del data[key]
        return data

    return mutate


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (_set(["phases", 0, "sessions"], 0), "phases[0].sessions"),
        (_set(["phases", 1, "per_week"], 0), "phases[1].per_week"),
        (_set(["phases", 0, "per_week"], 8), "phases[0].per_week"),
        (_set(["phases", 0, "min_gap_days"], 0), "phases[0].min_gap_days"),
        (_set(["phases", 0, "interval_weeks"], -1), "phases[0].interval_weeks"),
        (_set(["phases", 0, "sessions"], True), "phases[0].sessions"),
        (_set(["phases", 0, "sessions"], "8"), "phases[0].sessions"),
        (_set(["phases", 0, "weeks"], 4), "phases[0].weeks"),
        (_set(["phases", 0], [8, 2]), "phases[0]"),
        (_set(["phases"], []), "phases"),
        (_set(["default_weekdays"], [0, 7]), "default_weekdays"),
        (_set(["default_weekdays"], [-1]), "default_weekdays"),
        (_set(["default_weekdays"], []), "default_weekdays"),
        (_set(["default_weekdays"], [0, 0]), "default_weekdays"),
        (_set(["default_weekdays"], "0,3"), "default_weekdays"),
        (_set(["modality"], "oral_ketamine"), "modality"),
        (_set(["name"], ""), "name"),
        (_set(["code"], "Bad Code"), "code"),
        (_set(["colour"], "blue"), "colour"),
        (_drop("source"), "source"),
    ],
)
def test_malformed_protocol_raises_naming_protocol_and_field(mutate, field):
    data = mutate(_valid())
    with pytest.raises(ProtocolError) as caught:
        parse_protocols([data], origin="test.json")
    message = str(caught.value)
    assert "test.json" in message
    assert field in message
    if field != "code":
        assert "'esketamine-trd-induction'" in message


def test_missing_phase_key_is_named():
    data = _valid()
    del data["phases"][0]["per_week"]
    with pytest.raises(ProtocolError, match=r"'esketamine-trd-induction'.*phases\[0\]\.per_week"):
        parse_protocols([data])


def test_protocol_without_code_is_named_by_position():
    data = _valid()
    del data["code"]
    with pytest.raises(ProtocolError, match=r"protocol #1: code"):
        parse_protocols([_phase_defaults_omitted(), data])


def test_duplicate_code_is_rejected():
    with pytest.raises(ProtocolError, match=r"'esketamine-trd-induction'.*code.*twice"):
        parse_protocols([_valid(), _valid()])


def test_top_level_must_be_a_list():
    with pytest.raises(ProtocolError, match="list"):
        parse_protocols({"iv-induction": _valid()})


def test_protocol_that_cannot_fit_is_rejected_at_load():
    data = _valid()
    data["phases"] = [{"sessions": 200, "per_week": 1, "interval_weeks": 1}]
    with pytest.raises(ProtocolError, match=r"'esketamine-trd-induction'.*phases\[0\].*does not fit"):
        parse_protocols([data])


def test_phase_and_protocol_validate_when_built_in_code():
    with pytest.raises(ProtocolError, match="sessions"):
        Phase(sessions=0, per_week=1)
    with pytest.raises(ProtocolError, match="per_week"):
        Phase(sessions=1, per_week=0)
    with pytest.raises(ProtocolError, match="default_weekdays"):
        Protocol("x", "X", "iv_ketamine", "d", "s", (9,), (Phase(1, 1),))
    # Lists are accepted and stored as tuples so the protocol stays immutable and hashable.
    built = Protocol("x", "X", "iv_ketamine", "d", "s", [2, 0], [Phase(1, 1)])  # type: ignore[arg-type]
    assert built.default_weekdays == (0, 2)
    assert built.phases == (Phase(1, 1),)
    assert hash(built)


# --- expansion: shipped protocols ------------------------------------------------------------------


def test_iv_induction_mon_wed_fri_from_a_monday():
    series = expand_code("iv-induction")
    assert [moment.date() for moment in series] == [
        date(2027, 3, 1),
        date(2027, 3, 3),
        date(2027, 3, 5),
        date(2027, 3, 8),
        date(2027, 3, 10),
        date(2027, 3, 12),
    ]
    assert per_week_counts(series) == [3, 3]
    assert min(gaps(series)) >= 2


def test_iv_induction_tue_thu_only_takes_three_weeks():
    series = expand_code("iv-induction", weekdays=[TUE, THU])
    assert len(series) == 6
    assert len({week_of(moment) for moment in series}) == 3
    assert series[0].date() == MONDAY
    assert all(moment.weekday() in {TUE, THU} for moment in series[1:])
    assert min(gaps(series)) >= 2  # Monday's first session blocks the Tuesday after it


def test_first_date_on_a_non_preferred_weekday_still_counts():
    tuesday = date(2027, 3, 2)
    series = expand_code("iv-induction", first_date=tuesday)
    assert series[0].date() == tuesday
    assert len(series) == 6
    assert all(moment.weekday() in {MON, WED, FRI} for moment in series[1:])
    assert min(gaps(series)) >= 2


def test_first_date_on_a_weekend():
    sunday = date(2027, 2, 28)
    series = expand_code("esketamine-mdsi", first_date=sunday)
    assert series[0].date() == sunday
    assert len(series) == 8
    assert series[1].date() == date(2027, 3, 4)  # Monday is only one day later: too soon


def test_weekdays_are_deduplicated():
    assert expand_code("iv-induction", weekdays=[FRI, MON, WED, MON]) == expand_code("iv-induction")


def test_esketamine_trd_induction():
    series = expand_code("esketamine-trd-induction")
    assert len(series) == 12
    weeks = sorted({week_of(moment) for moment in series})
    assert weeks == [MONDAY + timedelta(weeks=n) for n in range(8)]
    assert per_week_counts(series) == [2, 2, 2, 2, 1, 1, 1, 1]
    assert min(gaps(series[:8])) >= 2
    assert all(moment.weekday() in {MON, THU} for moment in series)


def test_weekly_phase_starts_the_week_after_the_twice_weekly_one_ends():
    # From a Thursday: Thu | Mon Thu | Mon Thu | Mon Thu | Mon -> the induction ends on a Monday;
    # the weekly phase must not take that week's Thursday.
    thursday = date(2027, 3, 4)
    series = expand_code("esketamine-trd-induction", first_date=thursday)
    induction, weekly = series[:8], series[8:]
    assert week_of(weekly[0]) == week_of(induction[-1]) + timedelta(weeks=1)
    assert per_week_counts(weekly) == [1, 1, 1, 1]


def test_esketamine_mdsi_eight_in_four_weeks():
    series = expand_code("esketamine-mdsi")
    assert len(series) == 8
    assert per_week_counts(series) == [2, 2, 2, 2]
    assert min(gaps(series)) >= 2


def test_one_weekday_is_slower_but_possible():
    series = expand_code("esketamine-mdsi", weekdays=[MON])
    assert len(series) == 8
    assert per_week_counts(series) == [1] * 8


def test_maintenance_every_other_week():
    series = expand_code("esketamine-maintenance")
    assert len(series) == 4
    assert gaps(series) == [14, 14, 14]
    assert all(moment.weekday() == MON for moment in series)


def test_booster_is_one_session():
    series = expand_code("iv-booster", first_date=date(2027, 3, 6))
    assert [moment.date() for moment in series] == [date(2027, 3, 6)]


def test_invalid_weekdays_argument():
    for weekdays in ([], [7], [-1], [True], "0"):
        with pytest.raises(ProtocolError, match="weekdays"):
            expand_code("iv-induction", weekdays=weekdays)


def test_course_that_does_not_fit_is_refused():
    protocol = Protocol("long", "Long", "iv_ketamine", "d", "s", (MON,), (Phase(1, 1), Phase(150, 1, interval_weeks=2)))
    with pytest.raises(ProtocolError, match=r"'long'.*phases\[1\].*does not fit"):
        expand(protocol, first_date=MONDAY, time_of_day=TEN, tz=UTC)


def test_datetime_first_date_or_aware_time_is_refused():
    with pytest.raises(ValueError, match="first_date"):
        expand(get_protocol("iv-booster"), first_date=datetime(2027, 3, 1, 10), time_of_day=TEN, tz=UTC)
    with pytest.raises(ValueError, match="wall-clock"):
        expand(get_protocol("iv-booster"), first_date=MONDAY, time_of_day=time(10, tzinfo=UTC), tz=UTC)


# --- time zones ------------------------------------------------------------------------------------


def test_series_across_spring_forward_keeps_local_time():
    series = expand_code("esketamine-trd-induction")  # 2027-03-01 .. 2027-04-19
    assert all(moment.time() == TEN and moment.tzinfo is NEW_YORK for moment in series)
    offsets = [moment.utcoffset() for moment in series]
    before = [o for m, o in zip(series, offsets, strict=True) if m.date() < date(2027, 3, 14)]
    after = [o for m, o in zip(series, offsets, strict=True) if m.date() > date(2027, 3, 14)]
    assert before and after
    assert set(before) == {timedelta(hours=-5)}
    assert set(after) == {timedelta(hours=-4)}
    # Same wall time, so the UTC instant moves an hour earlier.
    assert {moment.astimezone(UTC).hour for moment in series} == {14, 15}


def test_series_across_fall_back_keeps_local_time():
    series = expand_code("esketamine-mdsi", first_date=date(2027, 10, 25))  # Monday; 2027-11-07 falls back
    assert all(moment.time() == TEN for moment in series)
    assert [moment.isoformat() for moment in series][:4] == [
        "2027-10-25T10:00:00-04:00",
        "2027-10-28T10:00:00-04:00",
        "2027-11-01T10:00:00-04:00",
        "2027-11-04T10:00:00-04:00",
    ]
    assert {moment.utcoffset() for moment in series[4:]} == {timedelta(hours=-5)}
    assert series[4].isoformat() == "2027-11-08T10:00:00-05:00"


def test_local_datetime_in_the_spring_gap_moves_forward():
    moved = local_datetime(date(2027, 3, 14), time(2, 30), NEW_YORK)
    assert moved.isoformat() == "2027-03-14T03:30:00-04:00"
    assert moved.tzname() == "EDT"
    assert moved.astimezone(UTC) == datetime(2027, 3, 14, 7, 30, tzinfo=UTC)


def test_local_datetime_ambiguous_takes_the_first():
    first = local_datetime(date(2027, 11, 7), time(1, 30), NEW_YORK)
    assert first.fold == 0
    assert first.isoformat() == "2027-11-07T01:30:00-04:00"


def test_local_datetime_ordinary():
    assert local_datetime(date(2027, 7, 1), TEN, NEW_YORK).isoformat() == "2027-07-01T10:00:00-04:00"
    assert local_datetime(date(2027, 7, 1), TEN, UTC).isoformat() == "2027-07-01T10:00:00+00:00"


def test_series_starting_in_a_gap_lands_after_it():
    protocol = Protocol("x", "X", "iv_ketamine", "d", "s", (SUN,), (Phase(2, 1),))
    series = expand(protocol, first_date=date(2027, 3, 7), time_of_day=time(2, 30), tz=NEW_YORK)
    assert [moment.isoformat() for moment in series] == ["2027-03-07T02:30:00-05:00", "2027-03-14T03:30:00-04:00"]


# --- properties ------------------------------------------------------------------------------------

ZONES = [ZoneInfo(name) for name in ("America/New_York", "Europe/London", "Australia/Sydney", "UTC")]

phases_strategy = st.lists(
    st.builds(
        Phase,
        sessions=st.integers(1, 10),
        per_week=st.integers(1, 7),
        min_gap_days=st.integers(1, 6),
        interval_weeks=st.integers(1, 3),
    ),
    min_size=1,
    max_size=3,
)
weekdays_strategy = st.lists(st.integers(0, 6), min_size=1, max_size=10)
# 05:00-23:59 is never inside a DST gap in these zones (their gaps are in the small hours).
times_strategy = st.builds(time, st.integers(5, 23), st.sampled_from([0, 15, 30, 45]))


@settings(max_examples=300, deadline=None)
@given(
    phases=phases_strategy,
    weekdays=weekdays_strategy,
    first_date=st.dates(date(2020, 1, 1), date(2035, 12, 31)),
    time_of_day=times_strategy,
    tz=st.sampled_from(ZONES),
)
def test_expansion_properties(phases, weekdays, first_date, time_of_day, tz):
    protocol = Protocol("prop", "Prop", "iv_ketamine", "d", "s", (MON,), tuple(phases))
    series = expand(protocol, first_date=first_date, time_of_day=time_of_day, tz=tz, weekdays=weekdays)

    assert len(series) == protocol.total_sessions
    assert all(later > earlier for earlier, later in itertools.pairwise(series))
    assert series[0].date() == first_date
    assert all(moment.weekday() in set(weekdays) for moment in series[1:])
    for moment in series:
        assert moment.tzinfo is tz
        assert moment.time() == time_of_day
        # The wall time exists: it survives a round trip through UTC unchanged.
        assert moment.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == moment.replace(tzinfo=None)
    assert series[-1].date() - first_date <= timedelta(days=MAX_SERIES_DAYS)

    start = 0
    previous: tuple[Phase, datetime] | None = None
    for phase in phases:
        block = series[start : start + phase.sessions]
        start += phase.sessions
        assert max(Counter(week_of(moment) for moment in block).values()) <= phase.per_week
        assert all(gap >= phase.min_gap_days for gap in gaps(block))
        first_week = week_of(block[0])
        assert all(((week_of(moment) - first_week).days // 7) % phase.interval_weeks == 0 for moment in block)
        if previous is not None:
            previous_phase, previous_last = previous
            # A later phase starts in a later week, and the hand-over keeps both phases' spacing.
            assert week_of(block[0]) > week_of(previous_last)
            hand_over = (block[0].date() - previous_last.date()).days
            assert hand_over >= max(phase.min_gap_days, previous_phase.min_gap_days)
        previous = (phase, block[-1])


@settings(max_examples=100, deadline=None)
@given(
    day=st.dates(date(2000, 1, 1), date(2040, 12, 31)),
    at=st.times(),
    tz=st.sampled_from([*ZONES, ZoneInfo("America/Santiago"), ZoneInfo("Australia/Lord_Howe")]),
)
def test_local_datetime_is_the_wall_time_or_just_after_a_gap(day, at, tz):
    result = local_datetime(day, at, tz)
    assert result.tzinfo is tz
    # The result always exists as a wall time.
    assert result.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == result.replace(tzinfo=None)
    wanted = datetime.combine(day, at)
    shift = result.replace(tzinfo=None) - wanted
    # Either exactly the wall time asked for, or moved forward by at most the gap (at most 1 hour
    # in these zones; Lord Howe's is 30 minutes).
    assert timedelta(0) <= shift <= timedelta(hours=1)
    if shift:
        assert result.fold == 0
