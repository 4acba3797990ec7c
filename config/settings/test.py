"""Settings for the test suite.

The suite runs on PostgreSQL and Redis (``DATABASE_URL`` and ``REDIS_URL``); the defaults point at
the loopback services the project's machines run. In CI (``CI=true``) nothing falls back: if
PostgreSQL is unreachable the suite fails (see tests/conftest.py).
"""

import os

from .base import *

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/clinic")}
DATABASES["default"]["ENGINE"] = PROJECT_DB_BACKENDS.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default=None)}
DATABASES["default"]["CONN_MAX_AGE"] = 0

# Each pytest-xdist worker gets its own Redis database (15, 14, ...), so one worker's cache
# flush or broker queue never touches another's.
_redis_base = env("REDIS_URL", default="redis://127.0.0.1:6379/15").rsplit("/", 1)[0]
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
# TEST_REDIS_DB moves the range down (TEST_REDIS_DB, TEST_REDIS_DB - 1, ...), for several suites
# run side by side on one machine; each worker still has a database of its own.
REDIS_URL = f"{_redis_base}/{(env.int('TEST_REDIS_DB', default=15) - int(_worker or 0)) % 16}"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 2, "socket_timeout": 5}
SMS_BACKEND = "clinic.messaging.sms.LocmemSmsBackend"

# Fast hashing keeps the suite quick; production uses Django's default PBKDF2.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
AXES_FAILURE_LIMIT = 5

LOGGING["root"]["level"] = "DEBUG"
