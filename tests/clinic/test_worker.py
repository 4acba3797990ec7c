"""The Celery setup: a real worker consuming the real Redis broker runs a periodic task; every task has
time limits; and whatever the project publishes carries ids and timestamps only, never personal data."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import re
import time

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import before_task_publish
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from clinic.messaging import outbox
from clinic.models import OutboundMessage
from clinic.tasks import purge_expired_auth_tokens
from config.celery import app


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_worker_runs_the_token_purge_from_the_broker(user, settings):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    expired, _ = AuthToken.objects.create(user=user, expiry=dt.timedelta(hours=1))
    AuthToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - dt.timedelta(minutes=5))
    AuthToken.objects.create(user=user, expiry=dt.timedelta(hours=1))

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        purge_expired_auth_tokens.delay()
        deadline = time.monotonic() + 20
        while AuthToken.objects.filter(pk=expired.pk).exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    assert not AuthToken.objects.filter(pk=expired.pk).exists()
    assert AuthToken.objects.filter(user=user).count() == 1


def test_beat_schedule_names_only_registered_tasks():
    app.loader.import_default_modules()  # what a worker does at start: discover every app's tasks
    registered = set(app.tasks)
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in registered


def test_celery_is_json_only_and_keeps_no_results():
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_ignore_result is True
    assert app.conf.task_acks_late is True


# --- time limits and what goes through the broker ----------------------------------------------

PROJECT_APPS = ("clinic", "intake", "scheduling", "monitoring", "config")
# A task argument is an id, a list of ids, or a timestamp (an outbox claim's lease): never a name,
# an address, a phone number or any text.
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(\+00:00|Z)$")
ALLOWED_PARAMETERS = {"ids": list[int], "lease": str}


def _project_tasks() -> dict:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.split(".")[0] in PROJECT_APPS}


def _allowed_value(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, list):
        return all(isinstance(item, int) and not isinstance(item, bool) for item in value)
    return isinstance(value, str) and bool(TIMESTAMP.match(value))


def test_every_task_has_soft_and_hard_time_limits():
    assert (app.conf.task_soft_time_limit, app.conf.task_time_limit) == (240, 300)
    tasks = _project_tasks()
    assert {"clinic.tasks.dispatch_due_messages", "clinic.tasks.send_messages"} <= set(tasks)
    for name, task in tasks.items():
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert 0 < soft < hard, name
    # A delivery is stopped well inside the outbox lease, so no sweep can take back rows it still sends.
    send = tasks["clinic.tasks.send_messages"]
    assert (send.soft_time_limit, send.time_limit) == (120, 150)
    assert dt.timedelta(seconds=send.time_limit) < outbox.LEASE - outbox.SEND_MARGIN


def test_task_signatures_take_only_ids_and_timestamps():
    for name, task in _project_tasks().items():
        for parameter in inspect.signature(task.run).parameters.values():
            assert parameter.name in ALLOWED_PARAMETERS, f"{name}({parameter.name})"
            assert parameter.annotation in (
                ALLOWED_PARAMETERS[parameter.name],
                repr(ALLOWED_PARAMETERS[parameter.name]),
            )


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_every_published_task_carries_only_ids_and_timestamps(django_capture_on_commit_callbacks):
    """Publish every task the way the project does (beat's schedule, the dispatcher's fan-out, the
    on-commit nudge) against the real broker, and read each message as it leaves."""
    from clinic.tasks import dispatch_due_messages
    from tests.factories.clinic import ClinicFactory, PatientFactory

    published: list[tuple[str, tuple, dict]] = []

    def record(sender=None, body=None, headers=None, **_kwargs) -> None:
        args, kwargs, _embed = body
        published.append((headers["task"], tuple(args), dict(kwargs)))

    clinic = ClinicFactory()
    patient = PatientFactory(clinic=clinic, first_name="Prudence", email="prudence@mail.test")
    for n in range(3):
        outbox.schedule(
            clinic=clinic,
            patient=patient,
            kind=OutboundMessage.Kind.INTAKE_INVITATION,
            subject=("form_invitation", 10_000 + n),
            scheduled_for=timezone.now(),
            dedupe_key=f"publish-test:{n}",
        )
    before_task_publish.connect(record, weak=False)
    try:
        tasks = _project_tasks()
        for entry in app.conf.beat_schedule.values():  # what beat publishes
            tasks[entry["task"]].apply_async(entry.get("args", ()), entry.get("kwargs", {}))
        assert dispatch_due_messages() == 3  # the sweep, run in place, fans out send_messages
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            outbox.nudge()  # a booking's nudge publishes from a background thread after commit
        deadline = time.monotonic() + 10
        while sum(name.endswith("dispatch_due_messages") for name, _, _ in published) < 2:
            assert time.monotonic() < deadline, published
            time.sleep(0.05)
    finally:
        before_task_publish.disconnect(record)
        app.control.purge()

    assert {name for name, _, _ in published} == set(tasks), "every task the project defines was published"
    [(_, (ids, lease), kwargs)] = [p for p in published if p[0] == "clinic.tasks.send_messages"]
    assert sorted(ids) == sorted(OutboundMessage.objects.values_list("pk", flat=True)) and kwargs == {}
    assert dt.datetime.fromisoformat(lease) == OutboundMessage.objects.values_list("lease_expires_at", flat=True)[0]
    for name, args, kwargs in published:
        for value in (*args, *kwargs.values()):
            assert _allowed_value(value), f"{name} was published with {value!r}"
        raw = json.dumps([args, kwargs])
        for detail in ("Prudence", "prudence@mail.test", patient.last_name, str(patient.phone)):
            assert detail not in raw
