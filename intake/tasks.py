"""Periodic intake work: weekly mood surveys during an active course. Thin and idempotent."""

from celery import shared_task


@shared_task
def schedule_weekly_surveys() -> int:
    from intake.messages import weekly_surveys_schedule

    return weekly_surveys_schedule()
