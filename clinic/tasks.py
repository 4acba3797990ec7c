"""Periodic housekeeping of the clinic app. Thin: each task calls a service and is safe to rerun."""

import datetime as dt
import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task
def purge_expired_auth_tokens() -> int:
    from clinic.services.auth import auth_tokens_purge_expired

    deleted = auth_tokens_purge_expired()
    logger.info("auth.tokens.purged", extra={"count": deleted})
    return deleted


CLAIM_BATCH = 500
IDS_PER_TASK = 250  # 10,000 due messages fan out as 40 broker messages
MAX_PER_RUN = 50_000


@shared_task
def dispatch_due_messages() -> int:
    """Claim due outbox rows and hand them to workers in batches (beat: every minute)."""
    from clinic.messaging import outbox

    total = 0
    while total < MAX_PER_RUN:
        claimed = outbox.claim(limit=CLAIM_BATCH)
        if not (claimed.ids or claimed.failed):
            break
        if claimed.ids:
            lease = claimed.lease.isoformat()
            for start in range(0, len(claimed.ids), IDS_PER_TASK):
                send_messages.delay(claimed.ids[start : start + IDS_PER_TASK], lease)
        total += len(claimed.ids)
    if total:
        logger.info("outbox.dispatched", extra={"count": total})
    return total


# Well inside the outbox lease (5 minutes), which ``deliver`` renews as it starts: a task is
# stopped long before a sweep could take its rows back and send them a second time.
@shared_task(soft_time_limit=120, time_limit=150)
def send_messages(ids: list[int], lease: str) -> int:
    """Deliver the messages of one claim: ids and the claim's lease (an ISO timestamp), nothing else.

    Safe to run twice and safe to run late: only rows still holding that lease are touched.
    """
    from clinic.messaging import outbox

    return len(outbox.deliver(ids, lease=dt.datetime.fromisoformat(lease)).sent)


@shared_task
def escalate_alerts() -> int:
    """Escalate open alerts nobody acknowledged in time (beat: every minute). No arguments, safe to run twice."""
    from clinic.services.alerts import alerts_escalate

    return len(alerts_escalate())
