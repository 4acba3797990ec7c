"""The shared parts of the per-app role-matrix tests (DESIGN.md section 4): an endpoint's row, the
four roles, and how a row is called with a world's ids filled in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from clinic.access import Role

FD, NURSE, PRESCRIBER, ADMIN = Role.FRONT_DESK, Role.NURSE, Role.PRESCRIBER, Role.CLINIC_ADMIN
ALL_ROLES = [FD, NURSE, PRESCRIBER, ADMIN]


@dataclass
class Endpoint:
    name: str
    method: str
    path: str  # formatted with the world's ids
    allowed: list[str]
    success: int
    body: dict[str, Any] | None = None
    cross_clinic_status: int = 404
    tags: list[str] = field(default_factory=list)
    cross_clinic_sees: str | None = None  # the world's record a list must show the other clinic


def _format(value, ids):
    if isinstance(value, str):
        formatted = value.format(**ids)
        return int(formatted) if value.startswith("{") and formatted.isdigit() else formatted
    if isinstance(value, dict):
        return {k: _format(v, ids) for k, v in value.items()}
    return value


def call(client, endpoint: Endpoint, world: dict):
    """Send ``endpoint``'s request, its path and body filled in with the ids of ``world``'s records."""
    ids = {k: v.pk for k, v in world.items()}
    body = _format(endpoint.body, ids) if endpoint.body is not None else None
    return getattr(client, endpoint.method)(endpoint.path.format(**ids), body, format="json")


def cases(endpoints: list[Endpoint]) -> list:
    """One parametrized case per endpoint and role."""
    return [pytest.param(endpoint, role, id=f"{endpoint.name}-{role}") for endpoint in endpoints for role in ALL_ROLES]
