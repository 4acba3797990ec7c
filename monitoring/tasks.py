"""Periodic monitoring work: raise an alert for every missed vital-sign check. Thin and idempotent."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task
def raise_overdue_vitals_alerts() -> int:
    from monitoring.services.discharge import overdue_checks_sweep

    return overdue_checks_sweep()
