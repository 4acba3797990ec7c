"""Querysets compiled once per thread and run again with another key, and models' columns for
fixed SQL statements: for the hottest reads.

Django compiles a queryset into SQL every time it is evaluated. For a read whose SQL depends only
on one id (a monitor's upload reads its record, with annotations, on every batch) the compiling
costs more CPU than PostgreSQL spends running the statement. ``KeyedQuery`` builds the queryset
for a placeholder key, compiles it once per thread, and afterwards only puts the key in the
placeholder's place among the parameters; the rows become model instances exactly as the ORM
makes them (``from_db``, the fields' converters, annotations as attributes).

The queryset stays the single statement of the read (filters, annotations, ``only``): nothing is
written twice in SQL. Use it only for querysets of one model without ``select_related`` or
``prefetch_related`` whose shape does not depend on the key, and keep the build function free of
anything else that varies per call.

``ModelColumns`` is for the statements no queryset can say in one round trip (a token with its
user and memberships, a booking's locks and reads): a model's columns as a SELECT list written
from its own metadata, and the row back as the instance the ORM would build.
"""

from __future__ import annotations

import hashlib
import operator
import re
import threading
import weakref
from collections.abc import Callable
from typing import Generic, NamedTuple, TypeVar

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)

# A key no row has (negative, inside a 64-bit key's range): where it lands among the compiled
# parameters, the key goes.
PLACEHOLDER = -(2**62) + 7919
_KEY_RANGE = range(-(2**63), 2**63)


class KeyedQuery(Generic[M]):
    """``build(key)`` as a queryset, compiled once per thread; ``first(key)`` runs it."""

    def __init__(self, build: Callable[[int], QuerySet[M]]) -> None:
        self._build = build
        self._local = threading.local()

    def _compiled(self, using: str):
        compiled = getattr(self._local, using, None)
        if compiled is None:
            queryset = self._build(PLACEHOLDER)
            if queryset.query.select_related or queryset._prefetch_related_lookups:
                raise ValueError("KeyedQuery reads one model: no select_related or prefetch_related")
            compiler = queryset.query.get_compiler(using=using)
            try:
                sql, params = compiler.as_sql()
            except EmptyResultSet:
                raise ValueError("the key must be a 64-bit integer column (BigAutoField)") from None
            if compiler.has_extra_select:
                raise ValueError("KeyedQuery rows are the model's columns and annotations only")
            slots = [i for i, value in enumerate(params) if value == PLACEHOLDER]
            if not slots:
                raise ValueError("the key is not among the query's parameters")
            compiled = (compiler, sql, list(params), slots)
            setattr(self._local, using, compiled)
        return compiled

    def first(self, key: int, using: str = "default") -> M | None:
        """The first row for ``key`` as a model instance (annotations set), or None."""
        key = operator.index(key)
        if key not in _KEY_RANGE:
            return None  # as the ORM: no row has it (PostgreSQL would refuse it as a bigint)
        compiler, sql, params, slots = self._compiled(using)
        params = list(params)
        for slot in slots:
            params[slot] = key
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchmany(1)
        if not rows:
            return None
        [row] = compiler.results_iter(results=[rows])
        klass_info = compiler.klass_info
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        attnames = [column[0].target.attname for column in compiler.select[start:end]]
        instance = klass_info["model"].from_db(using, attnames, row[start:end])
        for name, position in compiler.annotation_col_map.items():
            setattr(instance, name, row[position])
        return instance


class ModelColumns(Generic[M]):
    """Every concrete column of ``model`` under a table alias, and rows back as instances.

    ``select_list`` is the SQL (identifiers from the model's metadata, quoted); ``instance`` takes
    the values in that order and builds what the ORM builds: each field's converters (a JSON field
    decoded, a phone number parsed) and then ``from_db``.
    """

    def __init__(self, model: type[M], alias: str) -> None:
        self.model, self.alias = model, alias
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]
        self._converters: dict[str, list] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def select_list(self, connection: BaseDatabaseWrapper) -> str:
        q = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{q(f.column)}" for f in self.fields)

    def _converters_for(self, connection: BaseDatabaseWrapper) -> list[tuple[int, object, list]]:
        found = self._converters.get(connection.alias)
        if found is None:
            found = []
            for i, f in enumerate(self.fields):
                col = f.cached_col
                convs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if convs:
                    found.append((i, col, convs))
            self._converters[connection.alias] = found
        return found

    def instance(self, values, connection: BaseDatabaseWrapper) -> M:
        values = list(values)
        for i, col, convs in self._converters_for(connection):
            for convert in convs:
                values[i] = convert(values[i], col, connection)
        return self.model.from_db(connection.alias, self.attnames, values)


# --- statements prepared on the server ------------------------------------------------------------


class ServerStatement:
    """A fixed SQL statement that each connection plans once: ``PREPARE``d there by name the first
    time it runs on it, then ``EXECUTE``d (PostgreSQL).

    PostgreSQL plans a statement every time it receives its text; a booking's context read cost
    more to plan (0.5 ms) than to run. A prepared statement is planned for its first executions
    and then runs its generic plan, unplanned. The text is written with ``%(name)s`` parameters,
    each given a type; the name comes from the text, so a new version of it is a new statement.

    With ``PREPARED_STATEMENTS = False`` (a pooler in transaction mode, where a connection's
    prepared statements do not follow the client) the same text is sent every time.
    """

    def __init__(self, sql: Callable[[], str], types: dict[str, str]) -> None:
        self._sql, self._types = sql, types
        self._compiled: _Compiled | None = None

    def _parts(self) -> _Compiled:
        if self._compiled is None:
            text = self._sql()
            order: list[str] = []

            def positional(match: re.Match) -> str:
                if match.group(1) not in order:
                    order.append(match.group(1))
                return f"${order.index(match.group(1)) + 1}"

            body = _PARAM.sub(positional, text)
            if set(order) != set(self._types):
                raise ValueError(f"parameters {sorted(order)} but types for {sorted(self._types)}")
            name = statement_name(text)
            types = ", ".join(self._types[p] for p in order)
            # Sent with the parameters like the text itself, so a literal % stays written as %%.
            prepare = f"PREPARE {name}({types}) AS {body}"
            execute = f"EXECUTE {name}({', '.join(f'%({p})s::{self._types[p]}' for p in order)})"
            self._compiled = _Compiled(name, prepare, execute, text)
        return self._compiled

    @property
    def text(self) -> str:
        return self._parts().text


class _Compiled(NamedTuple):
    name: str  # of the prepared statement: from the text's hash
    prepare: str  # PREPARE name(types) AS the text with $n parameters
    execute: str  # EXECUTE name(%(param)s::type, ...)
    text: str  # as written, sent as is without prepared statements


_PARAM = re.compile(r"%\((\w+)\)s")
# Per live connection (psycopg's), the statements prepared on it; a connection whose last string
# failed is "unsure" until it starts again from a clean slate.
_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_UNSURE: weakref.WeakSet = weakref.WeakSet()


def statement_name(text: str, prefix: str = "clinic_") -> str:
    """A prepared statement's name, from its text: a new version of the text is a new statement,
    so a connection never runs an old plan under a new text's name."""
    return prefix + hashlib.sha256(text.encode()).hexdigest()[:16]


def execute_statements(cursor, statements: list[ServerStatement], params: dict) -> None:
    """Run ``statements`` one after the other in one round trip; ``cursor`` is then on the first
    one's result and ``nextset()`` moves to the next. Each runs with its own snapshot.

    A connection's first time prepares them in the same string (``run_prepared``).
    """
    parts = [s._parts() for s in statements]
    if not getattr(settings, "PREPARED_STATEMENTS", True):
        cursor.execute(";\n".join(part.text for part in parts), params)
        return
    run_prepared(
        cursor, [(part.name, part.prepare) for part in parts], ";\n".join(part.execute for part in parts), params
    )


def run_prepared(cursor, statements: list[tuple[str, str]], body: str | bytes, params: dict | None = None) -> None:
    """Send ``body`` (EXECUTEs of the named ``statements``), preceded in the same string by the
    ``PREPARE`` of each one this connection has not prepared yet; ``cursor`` is then on the
    body's first result. ``params`` as psycopg takes them, or None for a body with its values
    written in (the PREPAREs are then sent as they are, without %-escaping).

    After a failure the connection's next string starts with ``DEALLOCATE ALL`` and prepares
    again: a string that failed part-way may have prepared only some, and a prepared statement
    can go stale for good (a migration that changes a selected column's type: "cached plan must
    not change result type") while the connection itself stays healthy. The one exception: a
    string that prepared nothing and whose statement the data refused (a constraint, a deadlock,
    a lock or a serialization failure: a booking's 409), which leaves every statement as it was.
    The project prepares statements only here.
    """
    raw = cursor.db.connection
    prepared = _PREPARED.setdefault(raw, set())
    leading = []
    if raw in _UNSURE:
        leading.append("DEALLOCATE ALL")
        prepared.clear()
    leading += [prepare for name, prepare in statements if name not in prepared]
    if isinstance(body, bytes):
        text = b";\n".join([*(part.encode() for part in leading), body])
    else:
        text = ";\n".join([*leading, body])
    try:
        if params is None:
            cursor.execute(text)
        else:
            cursor.execute(text, params)
    except BaseException as exc:
        if leading or not _refused_by_the_data(exc):
            _UNSURE.add(raw)
        raise
    _UNSURE.discard(raw)
    prepared.update(name for name, _ in statements)
    for _ in leading:  # PREPARE and DEALLOCATE answer with no rows: step past them
        cursor.nextset()


# SQLSTATEs of a statement that ran and was refused for its data or its timing: integrity
# constraints (class 23), transaction rollbacks (class 40: serialization failure, deadlock),
# lock not available, query cancelled. None of them touches a prepared statement.
_REFUSALS = ("23", "40", "55P03", "57014")


def _refused_by_the_data(exc: BaseException) -> bool:
    sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
    return sqlstate.startswith(_REFUSALS)
