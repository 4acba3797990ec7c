"""``clinic.db.postgresql``: a reused connection is health-checked only when it has been idle; its
timestamps load as Django's own loader loads them.

Each test drives a connection of its own the way Django's request signals do: the
``close_if_unusable_or_obsolete`` call that ``request_started`` and ``request_finished`` make,
and a query in between. ``is_usable`` is Django's health check (a ``SELECT 1``).
"""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import OperationalError, connection, connections

from clinic.db.postgresql import base as backend

pytestmark = pytest.mark.postgres


@pytest.fixture
def own_connection(db):
    conn = connections.create_connection("default")
    conn.settings_dict = {**conn.settings_dict, "CONN_MAX_AGE": 600, "CONN_HEALTH_CHECKS": True}
    assert isinstance(conn, backend.DatabaseWrapper)
    yield conn
    conn.close()


@contextmanager
def request(conn, *, query: bool = True):
    conn.close_if_unusable_or_obsolete()  # request_started
    if query:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 42")
            assert cursor.fetchone() == (42,)
    yield
    conn.close_if_unusable_or_obsolete()  # request_finished


def _idle(conn, seconds: float) -> None:
    conn._answered_at -= seconds


def test_a_connection_that_answered_a_moment_ago_is_not_checked_again(own_connection):
    conn = own_connection
    with mock.patch.object(conn, "is_usable", wraps=conn.is_usable) as checked:
        with request(conn):  # connects: a new connection needs no check
            pass
        for _ in range(3):
            with request(conn):
                pass
        assert checked.call_count == 0
        _idle(conn, backend.HEALTH_CHECK_DELAY + 0.5)
        with request(conn):
            pass
        assert checked.call_count == 1  # idle past the delay: checked before its first query


def test_a_request_busy_elsewhere_after_its_last_query_leaves_the_connection_checked(own_connection):
    """What counts is when the connection last answered, not when the request ended: a request
    that queried and then waited on, say, an SMTP server for a while does not vouch for it."""
    conn = own_connection
    with request(conn):
        pass
    with mock.patch.object(conn, "is_usable", wraps=conn.is_usable) as checked:
        with request(conn):
            conn._queried_at -= backend.HEALTH_CHECK_DELAY + 0.5  # ... then busy elsewhere
        with request(conn):
            pass
    assert checked.call_count == 1


def test_a_request_that_did_not_use_the_connection_does_not_vouch_for_it(own_connection):
    conn = own_connection
    with request(conn):
        pass
    _idle(conn, backend.HEALTH_CHECK_DELAY + 0.5)
    with mock.patch.object(conn, "is_usable", wraps=conn.is_usable) as checked:
        with request(conn, query=False):
            pass
        with request(conn):
            pass
    assert checked.call_count == 1


def test_an_idle_connection_the_server_dropped_is_replaced_before_the_query(own_connection):
    conn = own_connection
    with request(conn):
        pid = conn.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])  # waits until it is gone
    _idle(conn, backend.HEALTH_CHECK_DELAY + 0.5)
    with request(conn):  # the check finds it dead; Django reconnects and the query runs
        assert conn.connection.info.backend_pid != pid


def test_what_the_delay_gives_up_one_failed_request_then_a_new_connection(own_connection):
    """Documented trade-off: a server restart inside the delay fails the next request on that
    connection (an error, never a wrong answer); Django closes it and the one after reconnects."""
    conn = own_connection
    with request(conn):
        pid = conn.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])  # waits until it is gone
    with pytest.raises(OperationalError), request(conn):
        pass
    conn.close_if_unusable_or_obsolete()  # request_finished after the error: the connection goes
    assert conn.connection is None
    with request(conn):
        assert conn.connection.info.backend_pid != pid


def test_timestamps_load_exactly_as_djangos_loader_loads_them(db):
    """psycopg's compiled loader on the connection, Django's Python loader on one cursor: the same
    datetimes, UTC ``tzinfo`` included, for values across eras, offsets and precisions; and Django
    does not swap its own loader back in for every cursor."""
    import datetime as dt

    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format

    from clinic.db.postgresql.loaders import UtcTimestamptzLoader

    values = [
        "2027-03-02 10:00:00+00",
        "2027-03-02 10:00:00.000001-05",
        "2026-11-01 01:30:00.5+13:45",
        "1970-01-01 00:00:00+00",
        "0001-01-01 00:00:00+00",
        "9999-12-31 23:59:59.999999+00",
        "2024-02-29 23:59:59.123456+02",
    ]
    sql = "SELECT " + ", ".join(f"'{v}'::timestamptz" for v in values)  # literals of this test only
    connection.ensure_connection()
    assert connection.connection.info.parameter_status("TimeZone") == "UTC"
    with connection.cursor() as cursor:
        loader = cursor.cursor.adapters.get_loader(1184, Format.TEXT)
        assert loader is UtcTimestamptzLoader  # Django kept the connection's loader for the cursor
        cursor.execute(sql)
        ours = cursor.fetchone()
    with connection.cursor() as cursor:
        register_tzloader(dt.UTC, cursor.cursor)  # Django's own, on this cursor only
        assert cursor.cursor.adapters.get_loader(1184, Format.TEXT) is not UtcTimestamptzLoader
        cursor.execute(sql)
        djangos = cursor.fetchone()
    assert ours == djangos
    assert all(value.tzinfo is dt.UTC for value in ours + djangos)


def test_json_values_load_as_the_standard_library_loads_them_and_jsonb_stays_text(db):
    import json

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT j, j::text, '{\"a\": [1, 2]}'::jsonb FROM (SELECT json_build_object("
            "'ids', json_build_array(1, 9007199254740993, -4), 'name', 'Zoë \"Z\" \\ ☂', 'rate', 0.1,"
            " 'small', 1e-7, 'none', null, 'nested', json_build_array(json_build_array(), true)) AS j) AS t"
        )
        loaded, text, jsonb = cursor.fetchone()
    assert loaded == json.loads(text)
    assert loaded["ids"][1] == 9007199254740993 and loaded["name"].startswith('Zoë "Z"')
    assert jsonb == '{"a": [1, 2]}'  # Django decodes jsonb in its fields
