"""The Celery application: configured from Django settings (``CELERY_*``), tasks autodiscovered.

Tasks take ids, never personal data, and are safe to run twice (acks late). Scheduled messages
are outbox rows swept by beat, never long broker countdowns (see DESIGN.md section 4).
"""

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# The embedded mode's broker (``CELERY_BROKER_URL = "clinicfs://"``, see clinic.broker).
TRANSPORT_ALIASES.setdefault("clinicfs", "clinic.broker:Transport")

app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
