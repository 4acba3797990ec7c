"""Minimal Django project for django-appointment 3.12.0 (the peer), on its own PostgreSQL database.

The wheel ships no migrations, so its tables are made with ``migrate --run-syncdb``. django-q is
not installed (it is optional: the package logs that it skips async email).
"""

import os

SECRET_KEY = "bench-peer-not-secret"  # noqa: S105 - a throwaway project on loopback
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "appointment",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "bench.peer.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("PEER_DB", "clinic_bench_peer"),
        "USER": os.environ.get("BENCH_PG_USER", "postgres"),
        "HOST": os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("BENCH_PG_PORT", "5432"),
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "America/New_York"  # the clinic's zone: the peer stores naive local dates and times
LANGUAGE_CODE = "en"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}}
APPOINTMENT_SLOT_DURATION = 15
APPOINTMENT_LEAD_TIME = (8, 0)
APPOINTMENT_FINISH_TIME = (20, 0)
APPOINTMENT_BUFFER_TIME = 0
