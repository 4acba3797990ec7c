"""A real Celery worker consuming from the real Redis broker runs the clinic's periodic task."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone
from knox.models import AuthToken

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
