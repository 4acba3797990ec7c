"""``clinic.db.folded``: a transaction whose BEGIN and COMMIT travel with its first and last
statements is still one transaction: its locks are held, its rows commit together or not at all,
nothing runs outside it, and the connection is left as atomic leaves it (PostgreSQL, real commits)."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, OperationalError, ProgrammingError, connection, connections, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from psycopg.pq import TransactionStatus

from clinic.db.folded import commit_suffix, folded_atomic

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def probe():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE folded_probe (n integer PRIMARY KEY)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE folded_probe")


def _elsewhere(sql: str):
    """Run ``sql`` on another connection (another thread) and return its rows or its error."""
    out: dict = {}

    def run():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql)
                out["rows"] = cursor.fetchall()
        except Exception as exc:  # the caller asserts on it
            out["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    return out.get("rows", out.get("error"))


def _committed() -> list[int]:
    return sorted(n for (n,) in _elsewhere("SELECT n FROM folded_probe"))


def _insert(cursor, n: int, *, last: bool = False) -> None:
    cursor.execute(f"INSERT INTO folded_probe VALUES ({n:d})" + (commit_suffix() if last else ""))  # noqa: S608


def _left_as_atomic_leaves_it() -> None:
    assert connection.get_autocommit() and connection.connection.autocommit
    assert connection.connection.pgconn.transaction_status == TransactionStatus.IDLE
    assert not connection.in_atomic_block and getattr(connection, "folded_transaction", None) is None


def test_begin_rides_on_the_first_statement_and_commit_on_the_last(probe, sent_commands):
    with CaptureQueriesContext(connection) as captured, folded_atomic(), connection.cursor() as cursor:
        _insert(cursor, 1)
        _insert(cursor, 2, last=True)
    assert sent_commands == []  # no BEGIN and no COMMIT of their own
    statements = [q["sql"] for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]
    assert statements[0].startswith("BEGIN;") and statements[1].endswith("COMMIT")
    assert _committed() == [1, 2]
    _left_as_atomic_leaves_it()


def test_without_a_folded_commit_the_block_commits_as_atomic_does(probe, sent_commands):
    with folded_atomic(), connection.cursor() as cursor:
        _insert(cursor, 1)
        _insert(cursor, 2)
    assert sent_commands == ["COMMIT"]
    assert _committed() == [1, 2]
    _left_as_atomic_leaves_it()


def test_the_first_statement_is_inside_the_transaction_its_lock_held_to_the_end(probe):
    with connection.cursor() as cursor:
        _insert(cursor, 1)
    with folded_atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT n FROM folded_probe WHERE n = 1 FOR UPDATE")
        blocked = _elsewhere("SELECT n FROM folded_probe WHERE n = 1 FOR UPDATE NOWAIT")
        _insert(cursor, 2, last=True)
    assert isinstance(blocked, OperationalError) and "lock" in str(blocked)
    assert _elsewhere("SELECT n FROM folded_probe WHERE n = 1 FOR UPDATE NOWAIT") == [(1,)]


def test_orm_and_select_for_update_work_inside(probe, clinic):
    from clinic.models import Clinic

    with folded_atomic():
        locked = Clinic.objects.select_for_update().get(pk=clinic.pk)  # the block's first statement
        blocked = _elsewhere(f"SELECT id FROM clinic_clinic WHERE id = {locked.pk:d} FOR UPDATE NOWAIT")  # noqa: S608
    assert isinstance(blocked, OperationalError) and "lock" in str(blocked)
    _left_as_atomic_leaves_it()


def test_an_exception_rolls_everything_back(probe, sent_commands):
    with pytest.raises(RuntimeError), folded_atomic(), connection.cursor() as cursor:
        _insert(cursor, 1)
        _insert(cursor, 2)
        raise RuntimeError("a rule refused it")
    assert sent_commands == ["ROLLBACK"]
    assert _committed() == []
    _left_as_atomic_leaves_it()


def test_a_failing_last_string_rolls_back_and_leaves_the_connection_usable(probe, sent_commands):
    with pytest.raises(IntegrityError, match="duplicate key"), folded_atomic(), connection.cursor() as cursor:
        _insert(cursor, 1)
        _insert(cursor, 1, last=True)  # a duplicate key: the INSERT fails, its COMMIT never runs
    assert sent_commands == ["ROLLBACK"] and _committed() == []
    _left_as_atomic_leaves_it()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def test_a_failing_first_string_rolls_back(probe):
    with pytest.raises(ProgrammingError), folded_atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO folded_probe (missing) VALUES (1)")
    _left_as_atomic_leaves_it()
    assert _committed() == []


def test_a_statement_after_the_folded_commit_is_refused_not_run_alone(probe):
    with pytest.raises(TransactionManagementError), folded_atomic(), connection.cursor() as cursor:
        _insert(cursor, 1, last=True)
        _insert(cursor, 2)
    assert _committed() == [1]  # the transaction that committed stands; nothing ran after it
    _left_as_atomic_leaves_it()


def test_an_executemany_first_gets_psycopgs_own_begin(probe, sent_commands):
    with folded_atomic(), connection.cursor() as cursor:
        cursor.executemany("INSERT INTO folded_probe VALUES (%s)", [(1,), (2,)])
        _insert(cursor, 3)
    assert sent_commands == ["BEGIN", "COMMIT"]
    assert _committed() == [1, 2, 3]
    _left_as_atomic_leaves_it()


def test_on_commit_runs_after_the_folded_commit(probe):
    seen = []
    with folded_atomic(), connection.cursor() as cursor:
        transaction.on_commit(lambda: seen.append(_committed()))
        _insert(cursor, 1, last=True)
        assert seen == []
    assert seen == [[1]]


def test_inside_a_callers_transaction_nothing_is_folded(probe, sent_commands):
    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured, folded_atomic(), connection.cursor() as cursor:
            assert commit_suffix() == ""
            _insert(cursor, 1, last=True)
        assert not any(q["sql"].startswith("BEGIN;") for q in captured.captured_queries)
        assert connection.in_atomic_block
    assert sent_commands == ["BEGIN", "COMMIT"]  # the caller's transaction, as atomic sends it
    assert _committed() == [1]


def test_no_folded_commit_with_a_savepoint_open_or_a_rollback_pending(probe):
    with folded_atomic(), connection.cursor() as cursor:
        _insert(cursor, 1)
        with transaction.atomic():  # a savepoint: releasing it needs the transaction open
            assert commit_suffix() == ""
        assert commit_suffix() == ";\nCOMMIT"
        transaction.set_rollback(True)
        assert commit_suffix() == ""
    assert _committed() == []


def test_outside_any_block_there_is_nothing_to_commit_with():
    assert commit_suffix() == ""


def test_a_nested_block_does_not_commit_its_callers_transaction(probe, sent_commands):
    with folded_atomic(), connection.cursor() as cursor:
        _insert(cursor, 1)
        with folded_atomic():
            assert commit_suffix() == ""  # its last statement is not the caller's
            _insert(cursor, 2, last=True)
        _insert(cursor, 3, last=True)  # the caller's is
    assert sent_commands == [] and _committed() == [1, 2, 3]
    _left_as_atomic_leaves_it()


def test_with_autocommit_off_nothing_is_folded(probe, sent_commands):
    transaction.set_autocommit(False)
    try:
        with folded_atomic(), connection.cursor() as cursor:
            assert commit_suffix() == ""
            _insert(cursor, 1, last=True)
        transaction.commit()
    finally:
        transaction.set_autocommit(True)
    assert sent_commands == ["BEGIN", "COMMIT"] and _committed() == [1]


def test_a_server_side_cursor_first_gets_psycopgs_own_begin(probe, clinic, sent_commands):
    from clinic.models import Clinic

    with folded_atomic(), connection.cursor() as cursor:
        assert [c.pk for c in Clinic.objects.filter(pk=clinic.pk).iterator(chunk_size=10)] == [clinic.pk]
        _insert(cursor, 1)
    assert sent_commands == ["BEGIN", "COMMIT"] and _committed() == [1]
    _left_as_atomic_leaves_it()
