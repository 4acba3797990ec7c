"""The calendar entry's hand-built representation equals what the declared fields produce."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from clinic.access import Actor
from scheduling.api.serializers import SessionSerializer
from scheduling.models import Course, Session
from scheduling.selectors import session_list
from tests.factories.scheduling import SessionFactory
from tests.scheduling.helpers import local


def test_every_field_matches_the_field_driven_output(world):
    start = local(2027, 3, 2, 9)
    plain = SessionFactory(clinic=world.clinic, treatment_type=world.iv, room=world.room, clinician=world.nurse)
    SessionFactory(
        clinic=world.clinic,
        treatment_type=world.iv,
        room=world.room,
        clinician=world.nurse,
        starts_at=start,
        ends_at=start + dt.timedelta(minutes=90),
        occupied_until=start + dt.timedelta(minutes=105),
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
        course=Course.objects.create(
            clinic=world.clinic,
            patient=plain.patient,
            treatment_type=world.iv,
            protocol="iv-induction-6",
            time_of_day=dt.time(9, 0),
        ),
        sequence=2,
        starts_at=later,
        ends_at=later + dt.timedelta(minutes=90),
        occupied_until=later + dt.timedelta(minutes=105),
        status=Session.Status.CANCELLED,
        cancelled_at=timezone.now(),
        cancel_reason="Unwell",
        late_cancellation=True,
    )
    world.nurse.user.first_name = ""
    world.nurse.user.last_name = ""
    world.nurse.user.save()

    sessions = list(session_list(actor=Actor.for_user(world.front_desk_member.user)))
    assert len(sessions) == 3
    for session in sessions:
        serializer = SessionSerializer()
        fast, reference = serializer.to_representation(session), serializer.field_driven_representation(session)
        assert fast == reference
        assert list(fast) == list(reference)  # same keys in the same order
