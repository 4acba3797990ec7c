"""A bookable clinic: New York time, open 08:00-20:00, one chair, one nurse, an approved patient.

The clock is frozen on Monday 2027-03-01 12:00 New York time (17:00 UTC) unless a test moves it.
"""

from __future__ import annotations

import pytest
import time_machine

from clinic.access import Role
from tests.factories.clinic import ClinicFactory, PatientFactory, RoomFactory
from tests.factories.scheduling import ClinicianFactory, TreatmentTypeFactory
from tests.scheduling.helpers import NOW, World, approve


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def world(db, frozen_now, make_staff, client_for) -> World:
    clinic = ClinicFactory(name="Scheduling clinic")
    member = make_staff(clinic, Role.FRONT_DESK)
    return World(
        clinic=clinic,
        room=RoomFactory(clinic=clinic, name="Chair 1"),
        nurse=ClinicianFactory(clinic=clinic, max_concurrent_sessions=2),
        iv=TreatmentTypeFactory(
            clinic=clinic, name="IV ketamine", modality="iv_ketamine", duration_minutes=100, min_hours_between=24
        ),
        esketamine=TreatmentTypeFactory(
            clinic=clinic,
            name="Esketamine",
            modality="esketamine_nasal",
            duration_minutes=135,
            requires_rems_enrollment=True,
            min_hours_between=48,
        ),
        patient=approve(PatientFactory(clinic=clinic)),
        front_desk=client_for(member),
        front_desk_member=member,
    )
