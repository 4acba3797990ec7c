"""Which thresholds and check schedule apply to a session: defaults, then clinic, then treatment type.

A layer is only ever used combined with the others, so every write validates the combinations it
affects, not the layer alone: a treatment type's layer over the clinic's, and a clinic's layer
under every treatment type of the clinic (and under each modality's defaults, for treatment types
added later). A policy that exists can therefore always be resolved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import JSONField, OuterRef, Q, Subquery

from clinic.access import Actor, Perm
from clinic.errors import InvalidInput
from clinic.models import AuditEvent, Clinic
from clinic.services.audit import audit_record
from monitoring import schedule, thresholds
from monitoring.models import MonitoringPolicy
from scheduling.models import TreatmentType


@dataclass(frozen=True)
class Policy:
    thresholds: thresholds.Thresholds
    schedule: schedule.ScheduleConfig


def _layers(row_clinic: MonitoringPolicy | None, row_type: MonitoringPolicy | None) -> list[MonitoringPolicy]:
    return [row for row in (row_clinic, row_type) if row is not None]


def policy_from_layers(treatment_type: TreatmentType, layers: list[MonitoringPolicy]) -> Policy:
    return Policy(
        thresholds=thresholds.resolve(*(row.thresholds for row in layers)),
        schedule=schedule.resolve_config(treatment_type.modality, *(row.schedule for row in layers)),
    )


def policy_layers(treatment_types: Iterable[TreatmentType]) -> dict[int, list[MonitoringPolicy]]:
    """One query: per treatment type, its layers in order (the clinic's row, then the type's own)."""
    types = {tt.pk: tt for tt in treatment_types}
    if not types:
        return {}
    clinic_ids = {tt.clinic_id for tt in types.values()}
    rows = list(
        MonitoringPolicy.objects.filter(
            Q(treatment_type__isnull=True, clinic_id__in=clinic_ids) | Q(treatment_type_id__in=list(types))
        )
    )
    clinic_rows = {row.clinic_id: row for row in rows if row.treatment_type_id is None}
    type_rows = {row.treatment_type_id: row for row in rows if row.treatment_type_id is not None}
    result = {}
    for pk, tt in types.items():
        own = type_rows.get(pk)
        if own is not None and own.clinic_id != tt.clinic_id:
            own = None  # a row filed under another clinic is not this type's policy
        result[pk] = _layers(clinic_rows.get(tt.clinic_id), own)
    return result


def threshold_layers(treatment_type: str) -> dict[str, Subquery]:
    """Annotations that bring a row's threshold layers along in its own query (no query of their own).

    ``treatment_type`` is the path from the annotated model to the treatment type. The layers are
    the ones ``policy_layers`` finds: the clinic's row (of the treatment type's clinic), then the
    type's own row if it is filed under that clinic. See ``thresholds_of``.
    """
    clinic = OuterRef(f"{treatment_type}__clinic_id")
    rows = MonitoringPolicy.objects.filter(clinic_id=clinic).values("thresholds")
    return {
        "clinic_thresholds": Subquery(rows.filter(treatment_type__isnull=True)[:1], output_field=JSONField()),
        "type_thresholds": Subquery(
            rows.filter(treatment_type_id=OuterRef(f"{treatment_type}__pk"))[:1], output_field=JSONField()
        ),
    }


def thresholds_of(row: Any) -> thresholds.Thresholds:
    """The thresholds in force for a row annotated with ``threshold_layers`` (no layer: None)."""
    return thresholds.resolve(row.clinic_thresholds, row.type_thresholds)


def policies_for(treatment_types: Iterable[TreatmentType]) -> dict[int, Policy]:
    """The policy of each treatment type, keyed by its id, in one query however many types there are."""
    types = {tt.pk: tt for tt in treatment_types}
    return {pk: policy_from_layers(types[pk], layers) for pk, layers in policy_layers(types.values()).items()}


def policy_for(treatment_type: TreatmentType) -> Policy:
    """One query: the clinic's policy row and the treatment type's, layered over the defaults."""
    return policies_for([treatment_type])[treatment_type.pk]


def _combination_errors(
    modality: str,
    layers: list[tuple[Mapping[str, Any], Mapping[str, Any]]],
    *,
    context: str,
) -> dict[str, list[str]]:
    """Errors of one combination: ``layers`` are (thresholds, schedule) pairs, lowest first."""
    errors: dict[str, list[str]] = {}
    prefix = f"{context}: " if context else ""
    try:
        thresholds.resolve(*(t for t, _ in layers))
    except thresholds.ThresholdConfigError as exc:
        for key, messages in exc.errors.items():
            errors.setdefault(f"thresholds.{key}", []).extend(prefix + m for m in messages)
    try:
        schedule.resolve_config(modality, *(s for _, s in layers))
    except schedule.ScheduleConfigError as exc:
        for key, messages in exc.errors.items():
            errors.setdefault(f"schedule.{key}", []).extend(prefix + m for m in messages)
    return errors


def policy_errors(
    *,
    clinic_id: int,
    treatment_type: TreatmentType | None,
    thresholds_overrides: object = None,
    schedule_overrides: object = None,
) -> dict[str, list[str]]:
    """Why a write of these overrides would leave a policy that cannot be resolved; empty if none.

    ``None`` keeps the stored value of that part. The result names ``thresholds.<key>`` and
    ``schedule.<key>``; a message from a combination with another layer says which one.
    """
    errors: dict[str, list[str]] = {}
    for name, value in (("thresholds", thresholds_overrides), ("schedule", schedule_overrides)):
        if value is not None and not isinstance(value, Mapping):
            errors[name] = ["Must be an object of overrides."]
    if treatment_type is not None and treatment_type.clinic_id != clinic_id:
        errors["treatment_type"] = ["Choose a treatment type of this clinic."]
    if errors:
        return errors

    stored = {row.treatment_type_id: row for row in MonitoringPolicy.objects.filter(clinic_id=clinic_id)}

    def pair(row: MonitoringPolicy | None) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        return (row.thresholds if row else {}, row.schedule if row else {})

    written_key = treatment_type.pk if treatment_type is not None else None
    current = pair(stored.get(written_key))
    new = (
        current[0] if thresholds_overrides is None else thresholds_overrides,
        current[1] if schedule_overrides is None else schedule_overrides,
    )
    clinic_layer = new if treatment_type is None else pair(stored.get(None))

    def merge(found: dict[str, list[str]]) -> None:
        for key, messages in found.items():
            bucket = errors.setdefault(key, [])
            bucket.extend(m for m in messages if m not in bucket)

    if treatment_type is not None:
        # Only this type's combination changes: the clinic layer under it, then the new layer.
        merge(_combination_errors(treatment_type.modality, [clinic_layer, new], context=""))
        return errors
    # A clinic layer: alone (under each modality's defaults, for treatment types without a layer
    # or added later), then under every treatment type's own layer.
    for modality in schedule.MODALITIES:
        merge(_combination_errors(modality, [clinic_layer], context=""))
    for tt in TreatmentType.objects.filter(clinic_id=clinic_id).order_by("pk"):
        row = stored.get(tt.pk)
        if row is None:
            continue
        merge(
            _combination_errors(
                tt.modality, [clinic_layer, pair(row)], context=f"combined with the policy of {tt.name!r}"
            )
        )
    return errors


@transaction.atomic
def policy_update(
    *,
    actor: Actor,
    clinic_id: int,
    treatment_type: TreatmentType | None,
    thresholds_overrides: Mapping[str, Any] | None = None,
    schedule_overrides: Mapping[str, Any] | None = None,
) -> MonitoringPolicy:
    """Replace the overrides of a clinic (or of one of its treatment types), validated in combination first."""
    actor.require(Perm.SCHEDULING_CONFIGURE, clinic_id)
    # Writers of the same clinic's layers are serialised on the clinic row (it exists even before
    # the clinic's first layer does), so two writes each valid alone cannot together leave a
    # combination that no one validated.
    # FOR NO KEY UPDATE: it excludes other policy writers but not the KEY SHARE locks that every
    # insert referencing the clinic takes, so a record opened meanwhile is not held up or deadlocked.
    Clinic.objects.select_for_update(no_key=True).filter(pk=clinic_id).values_list("pk", flat=True).first()
    errors = policy_errors(
        clinic_id=clinic_id,
        treatment_type=treatment_type,
        thresholds_overrides=thresholds_overrides,
        schedule_overrides=schedule_overrides,
    )
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
