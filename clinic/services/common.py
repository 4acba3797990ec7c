"""Helpers shared by services: validated partial updates that report what changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from clinic.errors import InvalidInput


def full_clean_or_invalid(instance: models.Model, *, exclude: Iterable[str] | None = None) -> None:
    """Run model validation and raise it as a 400 with per-field messages."""
    try:
        instance.full_clean(exclude=list(exclude or []))
    except ValidationError as exc:
        raise InvalidInput(
            errors={("non_field_errors" if k == "__all__" else k): v for k, v in exc.message_dict.items()}
        ) from exc


def model_update(instance: models.Model, *, data: Mapping[str, Any], fields: Iterable[str]) -> list[str]:
    """Set the allowed ``fields`` present in ``data``, validate, save only what changed.

    Returns the names of the fields that changed (for the audit row: names, never values).
    """
    changed = []
    for name in fields:
        if name in data and getattr(instance, name) != data[name]:
            setattr(instance, name, data[name])
            changed.append(name)
    if changed:
        full_clean_or_invalid(instance)
        update_fields = [*changed, "updated_at"] if hasattr(instance, "updated_at") else changed
        instance.save(update_fields=update_fields)
    return changed
