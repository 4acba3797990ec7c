"""The reminder sweep scenario: wake the seed's due reminders, publish ``dispatch_due_messages`` once
(or twice at the same moment: two sweeps racing, as two beat instances or a nudge plus beat would),
and time until every due row is ``sent``.

The Celery worker (``bench.celery_app``, prefork, 2 processes) counts every task it runs in Redis,
so "broker messages" is what actually went through the broker: the dispatch tasks plus every
``send_messages`` batch they fanned out. The stubbed email provider records each message id it
was handed, so "exactly once" is checked at the provider: every due id once, none twice, no other.
Finally one more sweep runs after completion and must send nothing.

Usage (run.py does this, with the worker running): ``python -m bench.sweep --racers 2 --out out.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import django
import redis

from bench import stubs


def _wait(predicate, timeout: float, interval: float = 0.02) -> bool:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def run(racers: int, timeout: float) -> dict:
    from django.db.models import Count

    from clinic.models import OutboundMessage
    from clinic.tasks import dispatch_due_messages
    from config.celery import app

    r = redis.Redis.from_url(os.environ["REDIS_URL"])
    app.control.purge()
    r.delete(stubs.SENT_KEY, "bench:dispatched", *r.keys("bench:tasks:*"))
    due = OutboundMessage.objects.filter(dedupe_key__startswith="bench:due:")
    due_ids = set(due.values_list("id", flat=True))
    pending_due = due.filter(status="pending").count()

    def sent() -> int:
        return due.filter(status="sent").count()

    t0 = time.perf_counter()
    for _ in range(racers):
        dispatch_due_messages.delay()
    # Watch the provider's list (one Redis LLEN) until it has every message, and only then the
    # table: counting the 10,000 rows' statuses costs PostgreSQL 6 ms, and polled every 20 ms for
    # the whole sweep it took a quarter of a core from the system being measured.
    _wait(lambda: r.llen(stubs.SENT_KEY) >= len(due_ids), timeout)
    done = _wait(lambda: sent() >= len(due_ids), max(timeout - (time.perf_counter() - t0), 1))
    elapsed = time.perf_counter() - t0
    # Let in-flight tasks finish before reading the counters.
    _wait(lambda: r.llen("bench:dispatched") >= racers, 10)
    time.sleep(0.5)
    tasks = {key.decode().split(":", 2)[2]: int(r.get(key)) for key in r.keys("bench:tasks:*")}
    dispatched = [int(x) for x in r.lrange("bench:dispatched", 0, -1)]
    provider = [int(x) for x in r.lrange(stubs.SENT_KEY, 0, -1)]
    statuses = dict(due.values("status").annotate(n=Count("id")).values_list("status", "n"))

    # A sweep after completion must find nothing to send.
    before = r.llen(stubs.SENT_KEY)
    dispatch_due_messages.delay()
    _wait(lambda: r.llen("bench:dispatched") >= racers + 1, 10)
    time.sleep(0.3)
    rerun_sent = r.llen(stubs.SENT_KEY) - before

    messages = sum(tasks.values())
    return {
        "racers": racers,
        "due": len(due_ids),
        "pending_due_at_start": pending_due,
        "completed": done,
        "seconds": elapsed,
        "per_second": len(due_ids) / elapsed if elapsed else None,
        "statuses": statuses,
        "broker_messages": messages,
        "tasks": tasks,
        "dispatch_claims": dispatched[:racers],
        "provider_sends": len(provider),
        "provider_unique": len(set(provider)),
        "duplicates": len(provider) - len(set(provider)),
        "missing": len(due_ids - set(provider)),
        "unexpected": len(set(provider) - due_ids),
        "rerun_sent": rerun_sent,
        "exactly_once": done and len(provider) == len(due_ids) and set(provider) == due_ids,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--racers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    django.setup()
    result = run(args.racers, args.timeout)
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
