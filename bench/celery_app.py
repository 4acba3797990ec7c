"""The project's Celery app with counters for the sweep scenario: tasks run per name, and what each
dispatch returned, kept in Redis (the bench's own db index). Start: ``celery -A bench.celery_app worker``."""

from __future__ import annotations

import os

import redis
from celery.signals import task_postrun, task_prerun

from config.celery import app

__all__ = ["app"]

_redis = redis.Redis.from_url(os.environ["REDIS_URL"])


@task_prerun.connect
def _count_task(task=None, **kwargs) -> None:
    _redis.incr(f"bench:tasks:{task.name}")


@task_postrun.connect
def _record_dispatch(task=None, retval=None, **kwargs) -> None:
    if task.name.endswith("dispatch_due_messages"):
        _redis.rpush("bench:dispatched", int(retval or 0))
