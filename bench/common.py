"""Shared facts of the benchmark: databases, ports, the dataset's shape, subprocess environments.

Stdlib only, so the harness (``bench/run.py``), the Django-side helpers and the peer runner (its
own virtual environment) can all import it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
PEER_VENV = BENCH_DIR / ".peer-venv"
PEER_PYTHON = PEER_VENV / "bin" / "python"

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
# Never the project's own databases: the benchmark drops and recreates these at will.
DATABASES = {
    "base": "clinic_bench",
    "x10": "clinic_bench_10x",
    "smoke": "clinic_bench_smoke",
    "peer": "clinic_bench_peer",
}
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
PROJECT_PORT = int(os.environ.get("BENCH_PORT", "8191"))
BASELINE_PORT = PROJECT_PORT + 1

# --- the dataset (research section 7, "Common dataset D") ----------------------------------------
SEED = 42
SEED_VERSION = 3  # bump when the generator changes: cached databases are then rebuilt
CLINIC_TZ = "America/New_York"
CHAIRS = 12
ESKETAMINE_CHAIRS = 4
CLINICIANS = 8
OPEN_HOUR, CLOSE_HOUR = 8, 20
PATIENTS = 1_500
SESSIONS = 2_000
DAYS = 28
HISTORY_SESSIONS = 480  # completed sessions in the week before today, each with a closed record
HISTORY_DAYS = 7
VITALS_PER_RECORD = 24
OPEN_RECORDS = CLINICIANS  # sessions in progress now (one per clinician: limit 1), for the vitals scenario
OUTBOX_ROWS = 200_000
OUTBOX_DUE = 10_000
OUTBOX_SENT = 120_000
DURATION_MIN, TURNOVER_MIN = 45, 15  # "IM ketamine": chair busy 60 min, clinician 45 min
SLOT_STEP_MIN = 15
BOOKING_GAP_DAYS = 7  # bookings of the write scenarios start this long after the seeded window
IDS_PER_TASK = 250

SCALES = {"base": 1.0, "x10": 10.0, "smoke": 0.1}


def scaled(count: int, scale: float) -> int:
    return max(1, round(count * scale))


def window_days(scale: float) -> int:
    """The seeded window: 4 weeks, or 40 weeks for the 10x variant (same density, 10x the history)."""
    return round(DAYS * max(1.0, scale))


def next_monday(today: dt.date) -> dt.date:
    return today + dt.timedelta(days=(7 - today.weekday()) % 7 or 7)


def anchor_date(now: dt.datetime | None = None) -> dt.date:
    """Next Monday in the clinic's zone: the first day of the seeded window."""
    now = now or dt.datetime.now(dt.UTC)
    return next_monday(now.astimezone(ZoneInfo(CLINIC_TZ)).date())


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(CLINIC_TZ))


def fingerprint(scale: float, anchor: dt.date) -> str:
    return f"v{SEED_VERSION}-scale{scale:g}-anchor{anchor.isoformat()}"


def dsn(db: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"


def database_url(db: str) -> str:
    return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"


_SECRET = "bench-" + secrets.token_urlsafe(40)


def django_env(db: str, settings: str = "bench.settings", **extra: str) -> dict[str, str]:
    """The environment of every Django process of the run: production settings, loopback services."""
    env = {k: v for k, v in os.environ.items() if k not in {"EMAIL_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
        DATABASE_URL=database_url(db),
        REDIS_URL=REDIS_URL,
        SECRET_KEY=os.environ.get("BENCH_SECRET_KEY", _SECRET),
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        SECURE_SSL_REDIRECT="false",  # plain HTTP on loopback; production sits behind TLS
        LOG_LEVEL="WARNING",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{PROJECT_PORT}",
        # The provider is stubbed: the stub serialises each email and records its id in Redis.
        EMAIL_BACKEND="bench.stubs.CountingEmailBackend",
        SMS_BACKEND="bench.stubs.CountingSmsBackend",
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def read_meta(conn) -> dict | None:
    """The seed's facts (ids, watermarks, fingerprint), stored in the benchmark database itself."""
    exists = conn.execute("SELECT to_regclass('bench_meta') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    row = conn.execute("SELECT value FROM bench_meta WHERE key = 'meta'").fetchone()
    if row is None:
        return None
    return row[0] if isinstance(row[0], dict) else json.loads(row[0])
