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
