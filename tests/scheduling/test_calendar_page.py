"""``scheduling.calendar_page``: the calendar's count and page statements around the filters' WHERE."""

from __future__ import annotations

import datetime as dt

import pytest

from scheduling.api.entries import instant
from scheduling.calendar_page import CalendarRows
from scheduling.models import Session
from tests.factories.clinic import RoomFactory
from tests.factories.scheduling import SessionFactory
from tests.scheduling.helpers import local


def test_pages_follow_each_other_by_start_then_id_and_a_page_past_the_end_is_404(world):
    rooms = [world.room, *(RoomFactory(clinic=world.clinic, name=f"Chair {n}") for n in (2, 3))]
    # Created out of order; three share 09:00 (so the id breaks the tie), each in its own chair.
    placed = [
        (local(2027, 3, 3, 8), 0),
        (local(2027, 3, 2, 9), 0),
        (local(2027, 3, 2, 9), 1),
        (local(2027, 3, 1, 14), 0),
        (local(2027, 3, 2, 9), 2),
    ]
    created = [
        SessionFactory(clinic=world.clinic, treatment_type=world.iv, room=rooms[room], starts_at=start)
        for start, room in placed
    ]
    expected = [s.pk for s in sorted(created, key=lambda s: (s.starts_at, s.pk))]

    seen, url = [], "/api/v1/sessions/?page_size=2"
    while url:
        body = world.front_desk.get(url).json()
        assert body["count"] == 5
        seen += [entry["id"] for entry in body["results"]]
        url = body["next"]
    assert seen == expected
    assert world.front_desk.get("/api/v1/sessions/?page_size=2&page=4").status_code == 404


def test_a_filter_on_another_tables_column_is_refused_rather_than_silently_dropped(world):
    rows = CalendarRows(Session.objects.filter(clinic=world.clinic, patient__last_name="Doe"))
    with pytest.raises(ValueError, match="clinic_patient"):
        rows.count()


@pytest.mark.parametrize("scope", ["no_clinic", "none"])
def test_a_scope_that_can_match_nothing_sends_no_statement(db, scope, django_assert_num_queries):
    sessions = Session.objects.filter(clinic_id__in=[]) if scope == "no_clinic" else Session.objects.none()
    rows = CalendarRows(sessions)
    with django_assert_num_queries(0):
        assert rows.count() == 0
        assert rows[0:50] == []


def test_raw_sql_in_the_filters_is_refused_because_its_tables_cannot_be_checked(db):
    with pytest.raises(ValueError, match=r"\?"):
        CalendarRows(Session.objects.extra(where=["1 = 1"])).count()


def test_a_timestamp_is_read_as_utc_whether_or_not_it_names_its_offset():
    assert instant("2027-03-02 14:00:00+00") == dt.datetime(2027, 3, 2, 14, tzinfo=dt.UTC)
    assert instant("2027-03-02 14:00:00.250000") == dt.datetime(2027, 3, 2, 14, 0, 0, 250000, tzinfo=dt.UTC)
    assert instant("2027-03-02 09:00:00-05:00") == dt.datetime(2027, 3, 2, 14, tzinfo=dt.UTC)
    assert instant(dt.datetime(2027, 3, 2, 14)) == dt.datetime(2027, 3, 2, 14, tzinfo=dt.UTC)  # SQLite's
