"""Which thresholds and check schedule apply to a session: defaults, then clinic, then treatment type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q

from clinic.access import Actor, Perm
from clinic.errors import InvalidInput
from clinic.models import AuditEvent
from clinic.services.audit import audit_record
from monitoring import schedule, thresholds
from monitoring.models import MonitoringPolicy
from scheduling.models import TreatmentType


@dataclass(frozen=True)
class Policy:
    thresholds: thresholds.Thresholds
    schedule: schedule.ScheduleConfig


def policy_for(treatment_type: TreatmentType) -> Policy:
    """One query: the clinic's policy row and the treatment type's, layered over the defaults."""
    rows = {
        row.treatment_type_id: row
        for row in MonitoringPolicy.objects.filter(
            Q(treatment_type__isnull=True) | Q(treatment_type=treatment_type), clinic_id=treatment_type.clinic_id
        )
    }
    clinic_row, type_row = rows.get(None), rows.get(treatment_type.pk)
    layers = [row for row in (clinic_row, type_row) if row is not None]
    return Policy(
        thresholds=thresholds.resolve(*(row.thresholds for row in layers)),
        schedule=schedule.resolve_config(treatment_type.modality, *(row.schedule for row in layers)),
    )


@transaction.atomic
def policy_update(
    *,
    actor: Actor,
    clinic_id: int,
    treatment_type: TreatmentType | None,
    thresholds_overrides: Mapping[str, Any] | None = None,
    schedule_overrides: Mapping[str, Any] | None = None,
) -> MonitoringPolicy:
    """Replace the overrides of a clinic (or of one of its treatment types), validated first."""
    actor.require(Perm.SCHEDULING_CONFIGURE, clinic_id)
    errors: dict[str, list[str]] = {}
    if thresholds_overrides is not None:
        try:
            thresholds.resolve(dict(thresholds_overrides))
        except thresholds.ThresholdConfigError as exc:
            errors.update({f"thresholds.{k}": v for k, v in exc.errors.items()})
    if schedule_overrides is not None:
        modality = treatment_type.modality if treatment_type else "esketamine_nasal"
        try:
            schedule.resolve_config(modality, dict(schedule_overrides))
        except schedule.ScheduleConfigError as exc:
            errors.update({f"schedule.{k}": v for k, v in exc.errors.items()})
    if errors:
        raise InvalidInput(errors=errors)
    policy, _ = MonitoringPolicy.objects.get_or_create(clinic_id=clinic_id, treatment_type=treatment_type)
    changed = []
    if thresholds_overrides is not None:
        policy.thresholds = dict(thresholds_overrides)
        changed.append("thresholds")
    if schedule_overrides is not None:
        policy.schedule = dict(schedule_overrides)
        changed.append("schedule")
    policy.updated_by = actor.user
    policy.save()
    audit_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        object_type="monitoring_policy",
        object_id=policy.pk,
        clinic_id=clinic_id,
        changed_fields=changed,
    )
    return policy
