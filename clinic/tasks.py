"""Periodic housekeeping of the clinic app. Thin: each task calls a service and is safe to rerun."""

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
        ids = outbox.claim(limit=CLAIM_BATCH)
        if not ids:
            break
        for start in range(0, len(ids), IDS_PER_TASK):
            send_messages.delay(ids[start : start + IDS_PER_TASK])
        total += len(ids)
    if total:
        logger.info("outbox.dispatched", extra={"count": total})
    return total


@shared_task
def send_messages(ids: list[int]) -> int:
    """Deliver claimed messages. Safe to run twice: only rows still ``sending`` are touched."""
    from clinic.messaging import outbox

    return len(outbox.deliver(ids).sent)
