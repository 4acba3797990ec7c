"""Database chores of the harness (psycopg only, no Django): create, reset, check, and find the
PostgreSQL processes whose CPU a slice is charged with."""

from __future__ import annotations

import datetime as dt
import subprocess

import psycopg

from bench import common

ACTIVE = "('booked', 'checked_in', 'in_progress')"


def admin_connect() -> psycopg.Connection:
    return psycopg.connect(common.dsn("postgres"), autocommit=True)


def exists(db: str) -> bool:
    with admin_connect() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone() is not None


def recreate(db: str) -> None:
    if db not in common.DATABASES.values():
        raise ValueError(f"refusing to drop {db}: not a benchmark database")
    with admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')


def meta(db: str) -> dict | None:
    if not exists(db):
        return None
    with psycopg.connect(common.dsn(db)) as conn:
        return common.read_meta(conn)


def reset(db: str, meta: dict, *, vacuum: bool = True) -> float:
    """Trim every table the write scenarios touch back to the seed's high-water marks, so every
    slice starts with the same rows and index sizes (research section 6, rule 1). Returns seconds."""
    started = dt.datetime.now(dt.UTC)
    marks = meta["watermarks"]
    with psycopg.connect(common.dsn(db), autocommit=True) as conn:
        # The audit table refuses DELETE through a trigger (append-only); a benchmark database may
        # drop its own rows, so triggers are off for this session (FK triggers too: order matters).
        conn.execute("SET session_replication_role = replica")
        for table in (
            "scheduling_sessionevent",
            "clinic_outboundmessage",
            "clinic_auditevent",
            "clinic_idempotencykey",
            "clinic_alert",
            "monitoring_vitalsign",
            "scheduling_session",
        ):
            conn.execute(f"DELETE FROM {table} WHERE id > %s", [marks[table]])
        for raw, mark in (("bench_raw_session", "scheduling_session"), ("bench_raw_vitals", "monitoring_vitalsign")):
            conn.execute(f"DELETE FROM {raw} WHERE id > %s", [marks[mark]])
        conn.execute("RESET session_replication_role")
        if vacuum:
            for table in (
                "scheduling_session",
                "scheduling_sessionevent",
                "clinic_outboundmessage",
                "clinic_auditevent",
                "monitoring_vitalsign",
                "clinic_alert",
                "bench_raw_session",
                "bench_raw_vitals",
            ):
                conn.execute(f"VACUUM ANALYZE {table}")
    return (dt.datetime.now(dt.UTC) - started).total_seconds()


def wake_due(db: str, meta: dict) -> int:
    """Make the seed's due reminders due now (they wait parked in 2099 between sweeps)."""
    with psycopg.connect(common.dsn(db), autocommit=True) as conn:
        conn.execute(
            "UPDATE clinic_outboundmessage SET status = 'pending', scheduled_for = now() - interval '10 minutes' "
            "- (id % 3600) * interval '1 second', attempts = 0, lease_expires_at = NULL, sent_at = NULL, "
            "last_error = '', cancel_reason = '' WHERE dedupe_key LIKE 'bench:due:%%'"
        )
        conn.execute("VACUUM ANALYZE clinic_outboundmessage")
        return conn.execute(
            "SELECT count(*) FROM clinic_outboundmessage WHERE status = 'pending' AND scheduled_for <= now()"
        ).fetchone()[0]


def park_due(db: str) -> None:
    with psycopg.connect(common.dsn(db), autocommit=True) as conn:
        conn.execute(
            "UPDATE clinic_outboundmessage SET status = 'pending', scheduled_for = '2099-01-01', attempts = 0, "
            "lease_expires_at = NULL, sent_at = NULL, last_error = '', cancel_reason = '' "
            "WHERE dedupe_key LIKE 'bench:due:%%'"
        )


def integrity(db: str, since_id: int = 0) -> dict:
    """Double bookings among active sessions (at least one side newer than ``since_id``)."""
    checks = {
        "room_overlaps": "a.room_id = b.room_id AND tstzrange(a.starts_at, a.occupied_until) && "
        "tstzrange(b.starts_at, b.occupied_until)",
        "patient_overlaps": "a.patient_id = b.patient_id AND tstzrange(a.starts_at, a.ends_at) && "
        "tstzrange(b.starts_at, b.ends_at)",
        # Every clinician of the dataset supervises at most one session at a time.
        "clinician_over_limit": "a.clinician_id = b.clinician_id AND tstzrange(a.starts_at, a.ends_at) && "
        "tstzrange(b.starts_at, b.ends_at)",
        # The service's rule (not the database's): two sessions of a patient start >= 24 h apart.
        "patient_gap_violations": "a.patient_id = b.patient_id AND abs(extract(epoch FROM a.starts_at - "
        "b.starts_at)) < 24 * 3600",
    }
    out = {}
    with psycopg.connect(common.dsn(db)) as conn:
        for name, condition in checks.items():
            out[name] = conn.execute(
                f"SELECT count(*) FROM scheduling_session a JOIN scheduling_session b ON a.id <> b.id AND {condition} "
                f"WHERE a.id > %s AND a.status IN {ACTIVE} AND b.status IN {ACTIVE} AND (b.id <= %s OR a.id > b.id)",
                [since_id, since_id],
            ).fetchone()[0]
        out["new_sessions"] = conn.execute(
            "SELECT count(*) FROM scheduling_session WHERE id > %s", [since_id]
        ).fetchone()[0]
    return out


def server_pids(db_names: list[str]) -> list[int]:
    """PostgreSQL processes a slice is charged with: our databases' backends and the background
    workers (WAL writer, checkpointer, autovacuum), not other databases' sessions."""
    with admin_connect() as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE (datname = ANY(%s) OR backend_type <> 'client backend') "
            "AND pid <> pg_backend_pid()",
            [db_names],
        ).fetchall()
    return [r[0] for r in rows]


def busy_backends(db: str) -> int:
    """Sessions of ``db`` (other than this one) running a statement or holding a transaction open."""
    with admin_connect() as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')",
            [db],
        ).fetchone()[0]


def redis_pid() -> int | None:
    try:
        out = subprocess.run(
            ["redis-cli", "-u", common.REDIS_URL, "info", "server"],
            check=False,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        if line.startswith("process_id:"):
            return int(line.split(":")[1])
    return None
