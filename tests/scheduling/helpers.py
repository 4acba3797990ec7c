"""Shared helpers of the scheduling tests: the frozen clock, approving a patient, booking over HTTP."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from clinic.access import Role
from clinic.models import CandidacyStatus, Modality
from tests.factories.clinic import ClinicFactory, PatientFactory, RoomFactory
from tests.factories.scheduling import ClinicianFactory, TreatmentTypeFactory

NY = ZoneInfo("America/New_York")
NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=NY)


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=NY)


def approve(patient, *modalities: str, until: dt.datetime | None = None):
    patient.candidacy_status = CandidacyStatus.APPROVED
    patient.candidacy_modalities = list(modalities or Modality.values)
    patient.candidacy_expires_at = until or NOW + dt.timedelta(days=365)
    patient.rems_patient_id = patient.rems_patient_id or "REMS-1"
    patient.save()
    return patient


@dataclass
class World:
    clinic: object
    room: object
    nurse: object
    iv: object
    esketamine: object
    patient: object
    front_desk: object
    front_desk_member: object

    def new_patient(self, **kwargs):
        return approve(PatientFactory(clinic=self.clinic, **kwargs))


def build_world(make_staff, client_for, *, name: str = "Scheduling clinic", address: str = "") -> World:
    """A bookable clinic: New York, open 08-20, one chair, a nurse, an IV and an esketamine
    treatment type, and an approved patient."""
    clinic = ClinicFactory(name=name, address_line1=address)
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


def book(client, world_or_patient, treatment_type, start: dt.datetime, **extra):
    patient = getattr(world_or_patient, "patient", world_or_patient)
    body = {"patient": patient.pk, "treatment_type": treatment_type.pk, "start": start.isoformat(), **extra}
    headers = {}
    if "idempotency_key" in body:
        headers["HTTP_IDEMPOTENCY_KEY"] = body.pop("idempotency_key")
    return client.post("/api/v1/sessions/", body, format="json", **headers)
