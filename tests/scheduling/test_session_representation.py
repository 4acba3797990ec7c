"""The calendar entry's hand-built representations (one session, a page of rows) equal what the declared
fields produce."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from clinic.access import Actor
from scheduling.api.entries import calendar_entries
from scheduling.api.serializers import SessionSerializer
from scheduling.calendar_page import CALENDAR_ROW
from scheduling.models import Session
from scheduling.selectors import calendar_rows, session_list
from tests.factories.clinic import ClinicFactory, StaffMemberFactory
from tests.factories.scheduling import CourseFactory, SessionFactory
from tests.scheduling.helpers import local


def _varied_sessions(world) -> None:
    """A plain session, a checked-in one with an escort, a late cancellation in a course, and a
    clinician without a name: every field of the entry takes a non-trivial value somewhere."""
    start = local(2027, 3, 2, 9)
    SessionFactory(clinic=world.clinic, treatment_type=world.iv, room=world.room, clinician=world.nurse)
    SessionFactory(
        clinic=world.clinic,
        treatment_type=world.esketamine,
        room=world.room,
        clinician=world.nurse,
        starts_at=start,
        ends_at=start + dt.timedelta(minutes=135),
        occupied_until=start + dt.timedelta(minutes=150),
        status=Session.Status.CHECKED_IN,
        checked_in_at=timezone.now(),
        escort_name="Sam Driver",
        escort_phone="+12125550123",
    )
    later = start + dt.timedelta(days=2)
    SessionFactory(
        clinic=world.clinic,
        treatment_type=world.iv,
        room=world.room,
        clinician=world.nurse,
        course=CourseFactory(clinic=world.clinic, treatment_type=world.iv),
        sequence=3,
        starts_at=later,
        ends_at=later + dt.timedelta(minutes=100),
        occupied_until=later + dt.timedelta(minutes=115),
        status=Session.Status.CANCELLED,
        cancelled_at=timezone.now() - dt.timedelta(microseconds=1500),
        cancel_reason="Unwell",
        late_cancellation=True,
    )
    world.nurse.user.first_name = ""
    world.nurse.user.last_name = ""
    world.nurse.user.save()


def test_every_field_matches_the_field_driven_output(world):
    _varied_sessions(world)
    sessions = list(session_list(actor=Actor.for_user(world.front_desk_member.user)))
    assert len(sessions) == 3
    for session in sessions:
        serializer = SessionSerializer()
        fast, reference = serializer.to_representation(session), serializer.field_driven_representation(session)
        assert fast == reference
        assert list(fast) == list(reference)  # same keys in the same order


def test_calendar_rows_give_the_field_driven_entries(world, make_staff, client_for):
    """The week calendar's row path (no model instances) equals the declared fields, entry by entry,
    for sessions of two clinics in different zones, a clinician without a name, a checked-in session
    with an escort and a cancelled one in a course; and the API's page is exactly those entries."""
    tokyo = ClinicFactory(name="Tokyo", timezone="Asia/Tokyo")
    StaffMemberFactory(clinic=tokyo, user=world.front_desk_member.user)
    SessionFactory(clinic=tokyo, starts_at=local(2027, 3, 2, 9, 30))
    _varied_sessions(world)

    sessions = session_list(actor=Actor.for_user(world.front_desk_member.user))
    reference = [SessionSerializer().field_driven_representation(session) for session in sessions]
    rows = calendar_rows(sessions)[:100]
    # Timestamps arrive as PostgreSQL's text, to be parsed once per distinct value (the loader is in use).
    assert {type(row[CALENDAR_ROW.index("starts_at")]) for row in rows} == {str}
    entries = calendar_entries(rows)
    assert len(entries) == 4
    assert {e["clinic"] for e in entries} == {world.clinic.pk, tokyo.pk}
    assert entries == reference
    assert [list(e) for e in entries] == [list(r) for r in reference]  # same keys in the same order
    assert [list(e) for e in entries] == [list(SessionSerializer().fields)] * 4

    response = world.front_desk.get("/api/v1/sessions/", {"page_size": 200})
    assert response.status_code == 200
    assert response.json()["count"] == 4
    assert response.json()["results"] == reference
