"""A session holds its chair for at most a day, and the calendar reads rely on it.

The context's SQL finds the sessions overlapping a window with an index range on their start,
bounded below by the window's start minus a day. These tests hold the rule in the database and in
validation, and the SQL equal to the portable loader (plain overlap, no bound) at the window's
edges, where a wrong bound would lose a session.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from scheduling.models import MAX_CHAIR_MINUTES
from scheduling.selectors import _load_orm, _load_sql, _Query
from tests.factories.clinic import PatientFactory, RoomFactory
from tests.factories.scheduling import SessionFactory, TreatmentTypeFactory
from tests.scheduling.helpers import local


def _session(world, start: dt.datetime, minutes: int, *, patient=None, room=None, turnover: int = 15):
    return SessionFactory(
        clinic=world.clinic,
        patient=patient or PatientFactory(clinic=world.clinic),
        treatment_type=world.iv,
        room=room or RoomFactory(clinic=world.clinic),
        clinician=world.nurse,
        starts_at=start,
        ends_at=start + dt.timedelta(minutes=minutes),
        occupied_until=start + dt.timedelta(minutes=minutes + turnover),
    )


@pytest.mark.postgres
def test_the_context_finds_every_session_overlapping_its_window_as_a_plain_overlap_would(world):
    lo, hi = local(2027, 3, 10, 0), local(2027, 3, 12, 0)
    longest = MAX_CHAIR_MINUTES - 15
    kept = [
        # The patient's: a whole day with its turnover, ending 10 minutes into the window.
        _session(world, lo - dt.timedelta(minutes=MAX_CHAIR_MINUTES - 25), longest, patient=world.patient),
        _session(world, lo - dt.timedelta(hours=20), 20 * 60 + 30),  # began the day before, overlaps lo
        _session(world, lo - dt.timedelta(minutes=MAX_CHAIR_MINUTES - 1), longest),  # holds its chair to lo + 1 min
        _session(world, hi - dt.timedelta(minutes=1), 100),  # starts just inside
    ]
    _session(world, lo - dt.timedelta(minutes=longest + 1), longest - 15)  # freed its chair just before lo
    _session(world, hi, 100)  # starts at hi: outside (half-open)
    query = _Query(world.clinic, lo, hi, world.patient, lo, hi, [])
    got, expected = _load_sql(query), _load_orm(query)
    assert sorted(s.id for s in got.sessions) == sorted(s.id for s in expected.sessions) == sorted(s.pk for s in kept)
    assert got.patient_sessions == expected.patient_sessions == [(kept[0].starts_at, kept[0].ends_at)]


@pytest.mark.postgres
def test_the_database_refuses_a_session_holding_its_chair_for_more_than_a_day(world):
    start = local(2027, 3, 2, 8)  # (no daylight-saving change in the days these sessions span)
    _session(world, start, MAX_CHAIR_MINUTES - 15)  # exactly a day with its turnover: allowed
    with pytest.raises(IntegrityError, match="session_holds_chair_at_most_a_day"), transaction.atomic():
        _session(world, start + dt.timedelta(days=3), MAX_CHAIR_MINUTES - 14)


def test_a_treatment_type_longer_than_a_day_with_its_turnover_is_refused(world):
    """The API caps chair time well below a day; the model and the database hold the day for any
    other writer (the admin, a shell, a data migration)."""
    from django.core.exceptions import ValidationError

    from scheduling.models import TreatmentType

    too_long = TreatmentType(
        clinic=world.clinic, name="Long", modality="iv_ketamine", duration_minutes=MAX_CHAIR_MINUTES - 10
    )
    with pytest.raises(ValidationError) as refused:
        too_long.full_clean()
    assert "at most 1440 minutes" in refused.value.message_dict["duration_minutes"][0]
    too_long.turnover_minutes = 10
    too_long.full_clean()  # exactly a day with its turnover
    with pytest.raises(IntegrityError, match="treatment_type_chair_at_most_a_day"), transaction.atomic():
        TreatmentTypeFactory(clinic=world.clinic, duration_minutes=MAX_CHAIR_MINUTES, turnover_minutes=1)
