"""The Celery application: configured from Django settings (``CELERY_*``), tasks autodiscovered.

Tasks take ids, never personal data, and are safe to run twice (acks late). Scheduled messages
are outbox rows swept by beat, never long broker countdowns (see DESIGN.md section 4).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
