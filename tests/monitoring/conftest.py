"""A checked-in session ready to monitor, with the clock frozen and movable.

Tuesday 2027-03-02 in New York: the session starts at 09:00; the clock starts at 08:55 and
tests move it with ``clock.move_to(...)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
import time_machine

from clinic.access import Actor, Role
from scheduling.services.booking import session_book
from scheduling.services.lifecycle import session_check_in
from tests.factories.clinic import ClinicFactory, PatientFactory, RoomFactory, StaffMemberFactory
from tests.factories.scheduling import ClinicianFactory, TreatmentTypeFactory
from tests.scheduling.helpers import approve, local


@dataclass
class Ward:
    clinic: object
    nurse: object
    prescriber: object
    nurse_client: object
    prescriber_client: object
    esketamine: object
    iv: object
    patient: object
    clock: object
    client_for: object

    def session(self, treatment_type=None, start=None, patient=None):
        desk = StaffMemberFactory(clinic=self.clinic, roles=[Role.FRONT_DESK])
        actor = Actor.for_user(desk.user)
        session = session_book(
            actor=actor,
            patient=patient or self.patient,
            treatment_type=treatment_type or self.esketamine,
            starts_at=start or local(2027, 3, 2, 9),
        )
        return session_check_in(actor=actor, session=session, escort_name="Pat Driver", escort_phone="+12025550177")


def build_ward(clock, client_for, name: str = "Monitoring clinic") -> Ward:
    """A clinic with three rooms, a nurse, a prescriber, an esketamine and an IV treatment type, and
    an approved patient (enrolled in the REMS)."""
    clinic = ClinicFactory(name=name, address_line1="1 Main St", postal_code="22150", region="VA")
    for _ in range(3):
        RoomFactory(clinic=clinic)
    nurse = ClinicianFactory(clinic=clinic, roles=[Role.NURSE], max_concurrent_sessions=4, phone="+12025550111")
    prescriber = ClinicianFactory(clinic=clinic, roles=[Role.PRESCRIBER], max_concurrent_sessions=4)
    return Ward(
        clinic=clinic,
        nurse=nurse,
        prescriber=prescriber,
        nurse_client=client_for(nurse),
        prescriber_client=client_for(prescriber),
        esketamine=TreatmentTypeFactory(
            clinic=clinic,
            name="Esketamine",
            modality="esketamine_nasal",
            duration_minutes=140,
            requires_rems_enrollment=True,
            min_hours_between=48,
        ),
        iv=TreatmentTypeFactory(clinic=clinic, name="IV", modality="iv_ketamine", duration_minutes=110),
        patient=approve(PatientFactory(clinic=clinic, rems_patient_id="REMS-42")),
        clock=clock,
        client_for=client_for,
    )


@pytest.fixture
def ward(db, client_for):
    with time_machine.travel(local(2027, 3, 2, 8, 55), tick=False) as clock:
        yield build_ward(clock, client_for)


@pytest.fixture
def other_ward(ward, client_for):
    """A second clinic on the same clock (for tenancy tests)."""
    return build_ward(ward.clock, client_for, name="Other monitoring clinic")


def open_checks(ward: Ward, **changes) -> dict:
    checks = {
        "hours_since_food": "3.0",
        "hours_since_liquids": "1.0",
        "escort_confirmed": True,
        "benzodiazepines": False,
        "sedative_hypnotics": False,
        "psychostimulants": False,
        "maois": False,
        "medications_confirmed": True,
        "pregnancy_test": "not_applicable",
        "weight_kg": "80.0",
        "rems_enrollment_confirmed": True,
        "prescriber_on_site": ward.prescriber.pk,
        "first_rems_treatment": True,
    }
    checks.update(changes)
    return checks


def at(hour: int, minute: int = 0) -> dt.datetime:
    return local(2027, 3, 2, hour, minute)
