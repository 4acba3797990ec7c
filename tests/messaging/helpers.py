"""Helpers of the outbox tests: one dispatcher sweep, the rows about a subject, what was sent."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import kombu.pools
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.core import mail
from django.db import connections
from rest_framework.test import APIClient

from clinic.messaging import outbox
from clinic.models import OutboundMessage
from config.celery import app
from scheduling.models import Session
from tests.factories.clinic import token_for
from tests.scheduling.helpers import World
from tests.scheduling.helpers import build_world as scheduling_world

Kind = OutboundMessage.Kind
Status = OutboundMessage.Status
LINK = re.compile(r"/forms/([^/\s]+)/")


def build_world(make_staff, client_for, *, name: str = "Riverside clinic") -> World:
    """The scheduling tests' bookable clinic, with a street address for the messages to show."""
    return scheduling_world(make_staff, client_for, name=name, address="1 Main St")


def client_of(member) -> APIClient:
    """A client with a fresh token (API tokens expire while the clock travels days ahead)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(getattr(member, 'user', member))}")
    return client


def desk(world: World) -> APIClient:
    return client_of(world.front_desk_member)


def dispatch(now: dt.datetime | None = None) -> outbox.Outcome:
    """One sweep as the worker runs it (claim the due rows, deliver them), without Celery."""
    claimed = outbox.claim(now=now)
    return outbox.deliver(claimed.ids, lease=claimed.lease, now=now)


def rows_about(subject_type: str, subject_id: int, kind: str | None = None):
    rows = OutboundMessage.objects.filter(subject_type=subject_type, subject_id=subject_id)
    return rows.filter(kind=kind) if kind else rows


def session_rows(session_id: int, kind: str | None = None):
    return rows_about("session", session_id, kind)


def reminders(session_id: int) -> list[OutboundMessage]:
    return list(session_rows(session_id, Kind.SESSION_REMINDER).order_by("scheduled_for"))


def session(session_id: int) -> Session:
    return Session.objects.get(pk=session_id)


def emails_to(address: str) -> list:
    return [m for m in mail.outbox if m.to == [address]]


def link_token(text: str) -> str:
    found = LINK.search(text)
    assert found, f"no /forms/ link in {text!r}"
    return found.group(1)


def answer_survey(token: str, answers: dict[str, dict]):
    """Open the link as the patient would, save every questionnaire, submit; returns the submit response."""
    patient = APIClient()
    opened = patient.get(f"/api/v1/forms/{token}/")
    assert opened.status_code == 200, opened.content
    assert [q["code"] for q in opened.json()["questionnaires"]] == list(answers)
    for code, values in answers.items():
        saved = patient.put(f"/api/v1/forms/{token}/responses/{code}/", {"answers": values}, format="json")
        assert saved.status_code == 200, saved.content
    return patient.post(f"/api/v1/forms/{token}/submit/")


# --- a real worker, a real broker ----------------------------------------------------------------


@contextmanager
def running_worker(concurrency: int = 2) -> Iterator[None]:
    """A real Celery worker (threads pool) consuming the real Redis broker in this process.

    Leftover tasks from earlier tests (best-effort nudges nobody consumed) are purged first. Each task
    closes its thread's database connections, so the test database can be flushed and dropped.
    """
    app.control.purge()

    def close_connections(**_kwargs) -> None:
        connections.close_all()

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    task_postrun.connect(close_connections, weak=False)
    try:
        with start_worker(app, pool="threads", concurrency=concurrency, perform_ping_check=False, shutdown_timeout=30):
            # Starting a worker the first time in a process also re-applies Django's LOGGING
            # (dropping the test's handlers, the PHI guard among them): put them back.
            root.handlers[:], root.level = handlers, level
            yield
    finally:
        task_postrun.disconnect(close_connections)
        root.handlers[:] = handlers
        root.setLevel(level)


def wait_until(condition: Callable[[], bool], *, seconds: float = 30) -> bool:
    """Poll ``condition`` (real time, whatever the test clock says) until true or the bound passes."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _reset_broker_pools() -> None:
    """Forget every cached broker connection, so the next publish connects to the configured URL."""
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker_unreachable(url: str = "redis://127.0.0.1:1/0") -> Iterator[None]:
    """Point the Celery app's broker at a closed port, with short timeouts, then put it back."""
    conf = app.conf
    keys = ("broker_url", "broker_write_url", "broker_connection_timeout", "broker_transport_options")
    saved = {key: conf[key] for key in keys}
    conf.broker_url = conf.broker_write_url = url
    conf.broker_connection_timeout = 0.5
    conf.broker_transport_options = {
        **(saved["broker_transport_options"] or {}),
        "socket_connect_timeout": 0.5,
        "max_retries": 0,
    }
    _reset_broker_pools()
    try:
        yield
    finally:
        for key, value in saved.items():
            conf[key] = value
        _reset_broker_pools()
