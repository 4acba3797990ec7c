"""Transactions whose BEGIN and COMMIT travel with their first and last statements.

In Django's ``atomic`` on PostgreSQL, psycopg sends ``BEGIN`` as a round trip of its own before
the transaction's first statement, and Django's commit sends ``COMMIT`` as another. A booking's
transaction is two statement strings (its locks and reads, then its INSERT), so those two waits
for nothing were two of the request's five round trips. ``folded_atomic`` is ``atomic`` with
both folded in: ``BEGIN`` goes at the head of the first statement string, and the last one can
end with ``COMMIT`` (``commit_suffix``).

How, and what keeps it safe:

* Only a block that opens the transaction folds (PostgreSQL, no transaction open, Django in
  autocommit, no isolation level or read-only mode set on the connection, which psycopg would
  write into its own BEGIN). Nested in a caller's transaction (a test case, a series) it is
  ``atomic(savepoint=False)``, and its last statement does not commit the caller's.
* Django is in its atomic block as usual (``select_for_update``, ``on_commit`` and rollback on an
  exception behave as in ``atomic``); only psycopg's connection is in autocommit mode, so it
  sends no BEGIN of its own. psycopg commits and rolls back whenever the server has a
  transaction open, and does nothing when it has none.
* A guard on every statement Django sends in the block writes ``BEGIN`` in front of the first
  one (an ``executemany`` or a server-side cursor instead gets psycopg's own BEGIN back), so no
  query made through Django's cursors runs outside the transaction, whatever sends the first.
  (Statements sent on the psycopg connection directly bypass Django, and the guard. A
  server-side cursor opened in the block is declared WITH HOLD, as Django declares it for an
  autocommit connection: it works, and materialises its rows at COMMIT.)
* After a folded COMMIT, a further statement in the block is an error
  (``TransactionManagementError``), not a silent second transaction.
"""

from __future__ import annotations

from contextlib import contextmanager

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.transaction import TransactionManagementError
from psycopg.pq import TransactionStatus

_IDLE = TransactionStatus.IDLE


class _Fold:
    """One folded transaction: the guard on its statements, and whether it has committed."""

    def __init__(self, db) -> None:
        self.db = db
        self.committed = False

    def __call__(self, execute, sql, params, many, context):
        raw = self.db.connection
        if raw.pgconn.transaction_status != _IDLE:
            result = execute(sql, params, many, context)
        elif self.committed:
            raise TransactionManagementError("a statement after the transaction's folded COMMIT, in the same block")
        elif many or isinstance(context["cursor"].cursor, psycopg.ServerCursor):
            # One statement run many times, or a server-side cursor's DECLARE: psycopg sends
            # its own BEGIN before it.
            raw.autocommit = False
            return execute(sql, params, many, context)
        else:
            result = execute((b"BEGIN;\n" if isinstance(sql, bytes) else "BEGIN;\n") + sql, params, many, context)
            context["cursor"].nextset()  # past BEGIN's empty answer, to the statement's own
        # Only a COMMIT at the end of the string leaves the server with no transaction open.
        self.committed = raw.pgconn.transaction_status == _IDLE
        return result


@contextmanager
def folded_atomic(using: str = DEFAULT_DB_ALIAS):
    """``transaction.atomic`` whose BEGIN rides on the first statement string and whose COMMIT
    may ride on the last (``commit_suffix``); see the module docstring."""
    db = connections[using]
    if db.vendor != "postgresql" or db.in_atomic_block or not db.get_autocommit():
        outer, db.folded_transaction = getattr(db, "folded_transaction", None), None
        try:
            with transaction.atomic(using=using, savepoint=False):
                yield
        finally:
            db.folded_transaction = outer  # the caller's own last statement may still commit it
        return
    with transaction.atomic(using=using):
        raw = db.connection
        if raw.isolation_level is not None or raw.read_only is not None or raw.deferrable is not None:
            yield  # psycopg's BEGIN would carry these: leave it to send its own
            return
        raw.autocommit = True  # allowed: psycopg has sent nothing in this transaction yet
        fold = _Fold(db)
        db.folded_transaction = fold
        try:
            with db.execute_wrapper(fold):
                yield
        finally:
            db.folded_transaction = None


def commit_suffix(using: str = DEFAULT_DB_ALIAS) -> str:
    """``";\\nCOMMIT"`` for the caller to end the transaction's last statement string with, when
    that is safe (a folded block not yet committed, no savepoint inside it, nothing marked for
    rollback); else ``""``, and the block commits as ``atomic`` does. Nothing may be sent in the
    block after that string, and its caller must be the last thing the outermost folded block
    does: an exception raised after the COMMIT still reaches the client as an error, for work
    that is already committed."""
    db = connections[using]
    fold = getattr(db, "folded_transaction", None)
    if fold is None or fold.committed or db.needs_rollback or any(db.savepoint_ids):
        return ""
    return ";\nCOMMIT"
