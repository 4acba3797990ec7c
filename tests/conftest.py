"""Fixtures shared by the whole suite: API clients per role, clinics, and the PHI log guard."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from clinic.access import Role
from tests.factories.clinic import ClinicFactory, StaffMemberFactory, UserFactory, token_for
from tests.phi import clear_phi, find_phi_leaks, install_phi_hooks, registered_phi


def pytest_configure(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    if os.environ.get("CI", "").lower() == "true" and not engine.endswith(".postgresql"):
        raise pytest.UsageError(f"CI runs the suite on PostgreSQL only; DATABASE_URL selects {engine}.")
    # Every patient saved (factory, API, service, command), free-text answer and risk note is watched.
    install_phi_hooks()


def pytest_collection_modifyitems(config, items):
    if settings.DATABASES["default"]["ENGINE"].endswith(".postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


# --- PHI never reaches the logs ------------------------------------------------------------------

# SQL debug logging (enabled only by query-counting fixtures) prints parameters by design; it is
# off in every deployed setting, so it is not part of the scan.
_IGNORED_LOGGERS = ("django.db.backends",)
_STANDARD_RECORD_KEYS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_IGNORED_LOGGERS):
            return
        parts = [record.getMessage()]
        parts += [f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD_RECORD_KEYS]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        self.texts.append((record.name, " ".join(parts)))


@pytest.fixture(autouse=True)
def phi_log_guard():
    """Fail any test whose log lines contain a patient's name, email, phone or birth date, or a
    free-text answer (values registered by the hooks of ``tests.phi`` and by the factories)."""
    clear_phi()
    capture = _Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
    leaks = find_phi_leaks(capture.texts, registered_phi())
    assert not leaks, f"PHI found in log lines: {leaks}"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and cached values must not leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()


# --- clients and people --------------------------------------------------------------------------


@pytest.fixture
def sent_commands(monkeypatch) -> list[str]:
    """BEGIN, COMMIT and ROLLBACK as psycopg sends them on their own on the default connection
    (a round trip each; a folded transaction sends them inside its statements instead). It spies
    on psycopg's private ``Connection._exec_command``, as bench/inproc.py does."""
    import psycopg
    from django.db import connection

    commands: list[str] = []
    original = psycopg.Connection._exec_command

    def exec_command(self, command, *args, **kwargs):
        if self is connection.connection:
            word = (command.decode() if isinstance(command, bytes) else command.as_string(self)).split()[0]
            if word in ("BEGIN", "COMMIT", "ROLLBACK"):  # not a server-side cursor's FETCH or CLOSE
                commands.append(word)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "_exec_command", exec_command)
    return commands


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def clinic(db):
    return ClinicFactory()


@pytest.fixture
def other_clinic(db):
    return ClinicFactory(name="Other clinic")


@pytest.fixture
def make_staff(db) -> Callable:
    """``make_staff(clinic, role, ...)`` -> StaffMember."""

    def make(clinic, *roles: str, **kwargs):
        return StaffMemberFactory(clinic=clinic, roles=list(roles or [Role.FRONT_DESK]), **kwargs)

    return make


@pytest.fixture
def client_for(db) -> Callable[..., APIClient]:
    """``client_for(user_or_member)`` -> an APIClient sending that user's bearer token."""

    def make(who) -> APIClient:
        user = getattr(who, "user", who)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
        return client

    return make


@pytest.fixture
def role_clients(clinic, other_clinic, make_staff, client_for) -> dict[str, APIClient]:
    """One client per role in ``clinic``, the same roles in ``other_clinic``, and anonymous."""
    clients = {role.value: client_for(make_staff(clinic, role)) for role in Role}
    clients.update({f"other_{role.value}": client_for(make_staff(other_clinic, role)) for role in Role})
    clients["anonymous"] = APIClient()
    return clients


@pytest.fixture
def user(db):
    return UserFactory()
