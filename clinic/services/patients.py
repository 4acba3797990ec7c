"""Registering patients, updating their details, archiving them (never deleting)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.access import Actor, Perm
from clinic.errors import Conflict
from clinic.models import AuditEvent, Patient, generate_mrn

from .audit import audit_record
from .common import full_clean_or_invalid, model_update

logger = logging.getLogger(__name__)

PATIENT_FIELDS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "sex_at_birth",
    "email",
    "phone",
    "preferred_channel",
    "email_opt_out",
    "sms_opt_out",
    "rems_patient_id",
    "emergency_contact_name",
    "emergency_contact_phone",
)
_MRN_ATTEMPTS = 5


@transaction.atomic
def patient_create(*, actor: Actor, clinic_id: int, data: Mapping[str, Any]) -> Patient:
    actor.require(Perm.PATIENT_MANAGE, clinic_id)
    patient = Patient(clinic_id=clinic_id, **{k: v for k, v in data.items() if k in PATIENT_FIELDS})
    full_clean_or_invalid(patient, exclude=["clinic", "mrn"])
    for attempt in range(_MRN_ATTEMPTS):
        try:
            with transaction.atomic():
                patient.save()
            break
        except IntegrityError:
            # A random MRN collided (about 1 in 34 billion per existing patient); draw again.
            if attempt == _MRN_ATTEMPTS - 1:
                raise
            patient.pk = None
            patient.mrn = generate_mrn()
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        object_type="patient",
        object_id=patient.pk,
        clinic_id=clinic_id,
        patient_id=patient.pk,
    )
    logger.info("patient.created", extra={"patient_id": patient.pk, "clinic_id": clinic_id})
    return patient


@transaction.atomic
def patient_update(*, actor: Actor, patient: Patient, data: Mapping[str, Any]) -> Patient:
    actor.require(Perm.PATIENT_MANAGE, patient.clinic_id)
    if patient.is_archived:
        raise Conflict("This patient is archived; restore the record first.", code="patient_archived")
    changed = model_update(patient, data=data, fields=PATIENT_FIELDS)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        object_type="patient",
        object_id=patient.pk,
        clinic_id=patient.clinic_id,
        patient_id=patient.pk,
        changed_fields=changed,
    )
    return patient


@transaction.atomic
def patient_archive(*, actor: Actor, patient: Patient) -> Patient:
    """Archive instead of delete: the record stays, hidden from lists and closed to booking."""
    actor.require(Perm.PATIENT_MANAGE, patient.clinic_id)
    if patient.is_archived:
        return patient
    patient.archived_at = timezone.now()
    patient.save(update_fields=["archived_at", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditEvent.Action.ARCHIVE,
        object_type="patient",
        object_id=patient.pk,
        clinic_id=patient.clinic_id,
        patient_id=patient.pk,
    )
    return patient


@transaction.atomic
def patient_restore(*, actor: Actor, patient: Patient) -> Patient:
    actor.require(Perm.PATIENT_MANAGE, patient.clinic_id)
    if not patient.is_archived:
        return patient
    patient.archived_at = None
    patient.save(update_fields=["archived_at", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        object_type="patient",
        object_id=patient.pk,
        clinic_id=patient.clinic_id,
        patient_id=patient.pk,
        changed_fields=["archived_at"],
    )
    return patient
