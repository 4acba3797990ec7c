"""Shared helpers of the scheduling tests: the frozen clock, approving a patient, booking over HTTP."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from clinic.models import CandidacyStatus, Modality
from tests.factories.clinic import PatientFactory

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


def book(client, world_or_patient, treatment_type, start: dt.datetime, **extra):
    patient = getattr(world_or_patient, "patient", world_or_patient)
    body = {"patient": patient.pk, "treatment_type": treatment_type.pk, "start": start.isoformat(), **extra}
    headers = {}
    if "idempotency_key" in body:
        headers["HTTP_IDEMPOTENCY_KEY"] = body.pop("idempotency_key")
    return client.post("/api/v1/sessions/", body, format="json", **headers)
