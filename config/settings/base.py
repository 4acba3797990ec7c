"""Settings shared by every environment, read from the process environment.

Each environment module (local, test, production) imports this one and changes only what differs.
Defaults are safe for a first local run: SQLite and an embedded (filesystem) Celery broker, so
nothing but Python is needed. Setting ``DATABASE_URL`` and ``REDIS_URL`` switches to PostgreSQL
and Redis.
"""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Local state of the embedded defaults (SQLite file, broker folders).
RUN_DIR = Path(environ.Env().str("RUN_DIR", default=str(BASE_DIR / ".run")))

env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default="insecure-local-only-key-change-me-in-production-0123456789")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "clinic",
    "intake",
    "scheduling",
    "monitoring",
]

MIDDLEWARE = [
    "clinic.request_context.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "clinic.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
    # Patient and staff messages are plain text (email bodies, subjects, SMS): nothing in them is
    # HTML, so nothing is HTML-escaped ("O'Brien", not "O&#x27;Brien"). clinic.messaging.render
    # renders them with this engine; it finds the same app templates.
    {
        "NAME": "messages",
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"autoescape": False},
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{RUN_DIR / 'clinic.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Django's PostgreSQL backend, checking a reused connection only when it has been idle a while.
PROJECT_DB_BACKENDS = {"django.db.backends.postgresql": "clinic.db.postgresql"}
DATABASES["default"]["ENGINE"] = PROJECT_DB_BACKENDS.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # SQLite serialises writers; IMMEDIATE transactions take the write lock at BEGIN, so two
    # bookings can never interleave their check and insert (see scheduling services).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The hottest fixed statements are prepared once per connection (clinic.prepared.ServerStatement).
# Off behind a pooler in transaction mode: a connection's prepared statements do not follow a client.
PREPARED_STATEMENTS = env.bool("PREPARED_STATEMENTS", default=True)

# --- Redis, cache and Celery ----------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # Fail fast when Redis is down: publishing is best effort (the beat sweep catches up).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 2, "socket_timeout": 5}
else:
    # kombu's filesystem transport (writing each message file whole: ``clinic.broker``): a real
    # broker in a few folders, so the worker and beat run with nothing installed. Good for one
    # machine; production sets REDIS_URL.
    _broker_dir = RUN_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "clinicfs://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # kombu's default is ./control
        "store_processed": False,
    }

# Tasks carry ids only and return nothing worth keeping, so no result backend: nothing a task
# touched lingers in Redis.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # every task is idempotent, so redelivery after a crash is safe
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 30
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(RUN_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-messages": {"task": "clinic.tasks.dispatch_due_messages", "schedule": timedelta(minutes=1)},
    "escalate-open-alerts": {"task": "clinic.tasks.escalate_alerts", "schedule": timedelta(minutes=1)},
    "raise-overdue-vitals-alerts": {
        "task": "monitoring.tasks.raise_overdue_vitals_alerts",
        "schedule": timedelta(minutes=1),
    },
    "schedule-weekly-surveys": {"task": "intake.tasks.schedule_weekly_surveys", "schedule": timedelta(hours=6)},
    "purge-expired-auth-tokens": {
        "task": "clinic.tasks.purge_expired_auth_tokens",
        "schedule": timedelta(hours=1),
    },
}

# --- Auth -----------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # must come first: refuses locked-out credentials
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    # One clinic shift; a new login is needed the next day. Not auto-refreshed, so a stolen
    # token has a hard end.
    "TOKEN_TTL": timedelta(hours=env.int("AUTH_TOKEN_TTL_HOURS", default=12)),
    "AUTO_REFRESH": False,
    "TOKEN_LIMIT_PER_USER": None,
}

# Repeated failed logins lock out the username and, separately, the client address.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "clinic.request_context.client_address"
AXES_LOCKOUT_CALLABLE = "clinic.api.errors.lockout_response"
AXES_VERBOSE = False  # our own auth log lines carry ids, not usernames
# The number of reverse proxies in front of the app that append to X-Forwarded-For; 0 means the
# socket peer address is the client.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

SESSION_COOKIE_AGE = 8 * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True

# --- API ------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clinic.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny by default: a view must name the permission it needs (see clinic.access).
    "DEFAULT_PERMISSION_CLASSES": ["clinic.permissions.HasClinicPermission"],
    "DEFAULT_RENDERER_CLASSES": [
        "clinic.api.renderers.JSONRenderer",  # DRF's output, encoded by orjson
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "clinic.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clinic.api.errors.problem_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login": env("LOGIN_THROTTLE_RATE", default="30/min"),
        # Patient links: generous for autosave, low enough to make guessing tokens pointless.
        "patient_link": env("PATIENT_LINK_THROTTLE_RATE", default="240/min"),
    },
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": False,
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Ketamine clinic API",
    "DESCRIPTION": (
        "Backend for ketamine and esketamine therapy clinics: intake, scheduling, in-session "
        "monitoring and follow-up. Errors are RFC 9457 problem details."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["clinic.permissions.IsClinicStaff"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "clinic.access.Role.choices",
        "RoomKindEnum": "clinic.api.schema.ROOM_KIND_CHOICES",
        "AlertKindEnum": "clinic.api.schema.ALERT_KIND_CHOICES",
        "QuestionnaireKindEnum": "intake.api.schema.QUESTIONNAIRE_KIND_CHOICES",
        "AssessmentStatusEnum": "intake.api.schema.ASSESSMENT_STATUS_CHOICES",
        "ModalityEnum": "clinic.api.schema.MODALITY_CHOICES",
        "ChannelEnum": "clinic.api.schema.CHANNEL_CHOICES",
        "SessionStatusEnum": "scheduling.api.schema.SESSION_STATUS_CHOICES",
        "AdverseEventSeverityEnum": "monitoring.api.schema.ADVERSE_EVENT_SEVERITY_CHOICES",
        "AlertSeverityEnum": "clinic.api.schema.ALERT_SEVERITY_CHOICES",
    },
    "AUTHENTICATION_WHITELIST": [
        "clinic.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
}

# --- Email ----------------------------------------------------------------------------------------
if "EMAIL_URL" in env:
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
    EMAIL_HOST = env("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
# Seconds an SMTP connect, read or write may take: a hung mail server fails the send (retried with
# backoff) instead of holding a worker until its time limit.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="clinic@localhost")
# SMS goes through a pluggable backend (clinic.messaging.sms); the console one prints messages.
SMS_BACKEND = env("SMS_BACKEND", default="clinic.messaging.sms.ConsoleSmsBackend")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- I18N, time, static ---------------------------------------------------------------------------
# The default language: the staff API and admin, and any clinic that has not chosen another.
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"  # everything is stored in UTC; each clinic has its own IANA zone
USE_I18N = True
# The languages a clinic may choose for its patient pages and patient messages (Clinic.language).
# Adding one: add it here, then extract, translate and compile its catalogue in locale/ (see
# locale/README.md; no migration needed).
# No LocaleMiddleware: the language follows the clinic, not the browser.
LANGUAGES = [
    ("en", "English"),
    ("es", "Español"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

# The patient pages' stylesheet and script (intake/static/forms/). runserver (DEBUG) and the
# test live server serve them through staticfiles; in production `collectstatic` copies them to
# STATIC_ROOT and the reverse proxy in front of gunicorn serves /static/ from there.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Public base URL of the site, used in links sent to patients.
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

# --- Logging --------------------------------------------------------------------------------------
# Log lines are event names with ids (see clinic.logging). Never names, birth dates, answers,
# vitals or tokens.
# Paths of patient links carry the link token: the redact_link_tokens filter (clinic.logfilters)
# rewrites them to /forms/[link] on the loggers that print paths (runserver's django.server,
# gunicorn's access log, django.request) and on the console handler for everything else.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "clinic.request_context.RequestIdLogFilter"},
        "redact_link_tokens": {"()": "clinic.logfilters.LinkTokenRedactionFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_context", "redact_link_tokens"],
        },
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django logs every 4xx with its path; paths carry only ids, but the noise hides events.
        "django.request": {"level": "ERROR", "filters": ["redact_link_tokens"]},
        # Access logs: our console handler replaces their own (which would print the raw path).
        "django.server": {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
            "filters": ["redact_link_tokens"],
        },
        "gunicorn.access": {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
            "filters": ["redact_link_tokens"],
        },
    },
}

CSRF_FAILURE_VIEW = "clinic.api.errors.csrf_failure_view"
PHONENUMBER_DEFAULT_REGION = env("PHONENUMBER_DEFAULT_REGION", default="US")
