"""New rows of several models in one INSERT statement (PostgreSQL), for a write that adds a few
rows to several tables in one transaction: a booking's event, audit row and messages; and
``array_literal``, for the INSERTs that take a batch of one model's rows as ``unnest`` arrays.

Each model's values are prepared as Django's INSERT compiler prepares them (``pre_save`` with
``add=True``, then ``get_db_prep_save``; ``ON CONFLICT DO NOTHING`` when asked) into a statement
shape built once per model and row count (the compiler itself for expressions and fields with
their own placeholders), and the statements are chained as data-modifying CTEs, so they cost one
round trip instead of one each. The values are written into the text as literals, quoted by
psycopg's own adapters (``_literals``), and a shape of our own is prepared once per connection
and then executed by name (``_prepared``); ``last_statement`` lets a folded transaction's COMMIT
ride along (``clinic.db.folded``). Nothing is read back: the instances get no
primary key and no signals are sent, so use it only for append-only rows whose ids the caller does
not need, or whose ids it took from the sequence beforehand (rows with their primary key set are
inserted with it). Elsewhere (SQLite) each model's rows go through ``bulk_create``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import Field, Model
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery
from psycopg.adapt import Transformer

from clinic.db import folded
from clinic.prepared import run_prepared, statement_name


@dataclass(frozen=True)
class Rows:
    """Unsaved instances of one model; ``ignore_conflicts`` skips rows a unique key already has."""

    objs: Sequence[Model]
    ignore_conflicts: bool = False


@cache
def _insert_fields(model: type[Model], with_pk: bool) -> tuple[Field, ...]:
    opts = model._meta
    return tuple(f for f in opts.concrete_fields if (with_pk or f is not opts.auto_field) and not f.generated)


@cache
def _plain_types(model: type[Model], with_pk: bool) -> tuple[Callable[[object], bool] | None, ...]:
    """For each insert field, a test for the values its ``get_db_prep_save`` hands back unchanged
    on PostgreSQL, or None: those values skip the call. Only Django's own field
    classes whose preparation is plain: text is text (``to_python`` returns any str, an enum
    member too), an aware datetime is itself (the backend adapts it as is), a bool a bool, and
    an int an auto key or a key to one (the integer fields' values are wrapped in psycopg's
    ``Int2``/``Int8``, so they keep the call, as every other field does). A test in
    tests/clinic/test_rows.py holds each skipped value equal to Django's own preparation."""
    return tuple(_plain_test(f) for f in _insert_fields(model, with_pk))


def _plain_test(field: Field) -> Callable[[object], bool] | None:
    kind = type(field)
    if kind in (models.ForeignKey, models.OneToOneField):
        kind = type(field.target_field)
    if kind in (models.CharField, models.TextField):
        return lambda v: v is None or isinstance(v, str)
    if kind is models.DateTimeField:
        return lambda v: v is None or (type(v) is dt.datetime and v.utcoffset() is not None)
    if kind is models.BooleanField:  # not None: Django refuses it for a field that is not null
        return lambda v: type(v) is bool
    if kind in (models.AutoField, models.BigAutoField):
        return lambda v: v is None or type(v) is int
    return None


@lru_cache(maxsize=128)
def _values_template(model: type[Model], with_pk: bool, n_rows: int, ignore_conflicts: bool) -> str | None:
    """``INSERT INTO t (...) VALUES (%s, ...), ...`` for ``n_rows`` rows, or None when a field
    writes its own placeholder (Django's compiler handles those)."""
    fields = _insert_fields(model, with_pk)
    if any(hasattr(f, "get_placeholder") for f in fields):
        return None
    q = connection.ops.quote_name
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # Identifiers from the model's metadata, quoted; every value is a parameter.
    return (
        f"INSERT INTO {q(model._meta.db_table)} ({', '.join(q(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES {', '.join([row] * n_rows)}{' ON CONFLICT DO NOTHING' if ignore_conflicts else ''}"
    )


def _insert_sql(rows: Rows) -> tuple[str, tuple, bool]:
    """The group's INSERT. Each value is prepared as Django's compiler prepares it (``pre_save``
    with ``add=True``, then ``get_db_prep_save``) into a statement shape built once per model and
    row count: compiling a new InsertQuery for every booking cost more CPU than running it. A
    value that is an expression, or a field with its own placeholder, goes through the compiler.
    The flag says which: a shape of our own (True) is one a connection can keep prepared."""
    model = type(rows.objs[0])
    # The primary key is left to its sequence, unless the caller took every row's id already.
    with_pk = all(obj.pk is not None for obj in rows.objs)
    if not with_pk and any(obj.pk is not None for obj in rows.objs):
        raise ValueError(f"{model.__name__} rows: give every row its id or none (they share one INSERT)")
    fields = _insert_fields(model, with_pk)
    template = _values_template(model, with_pk, len(rows.objs), rows.ignore_conflicts)
    if template is not None:
        values = [f.pre_save(obj, True) for obj in rows.objs for f in fields]
        if not any(hasattr(v, "resolve_expression") for v in values):
            row_fields = fields * len(rows.objs)
            row_plain = _plain_types(model, with_pk) * len(rows.objs)
            # The connection itself, not django.db.connection: every attribute read through that
            # proxy looks the connection up again, and a booking prepares about a hundred values.
            db = connections[DEFAULT_DB_ALIAS]
            prepared = tuple(
                v if plain is not None and plain(v) else f.get_db_prep_save(v, db)
                for f, plain, v in zip(row_fields, row_plain, values, strict=True)
            )
            return template, prepared, True
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE if rows.ignore_conflicts else None)
    query.insert_values(list(fields), rows.objs)
    [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    return sql, tuple(params), False


def insert_rows(*groups: Rows, last_statement: bool = False) -> None:
    """INSERT every group's rows; one statement on PostgreSQL, whatever the number of models.

    ``last_statement``: nothing else is sent in the transaction after this, so in a
    ``folded_atomic`` block its COMMIT goes in the same string (``clinic.db.folded``)."""
    groups = tuple(g for g in groups if g.objs)
    if not groups:
        return
    if connection.vendor != "postgresql":
        for group in groups:
            type(group.objs[0])._default_manager.bulk_create(group.objs, ignore_conflicts=group.ignore_conflicts)
        return
    parts = [_insert_sql(g) for g in groups]
    *leading, (last_sql, last_params, _) = parts
    ctes = ", ".join(f"insert_{n} AS ({sql})" for n, (sql, _, _) in enumerate(leading))
    params = [p for _, group_params, _ in leading for p in group_params] + list(last_params)
    sql = f"WITH {ctes} {last_sql}" if ctes else last_sql
    suffix = (folded.commit_suffix() if last_statement else "").encode()
    with connection.cursor() as cursor:
        if all(ours for _, _, ours in parts) and getattr(settings, "PREPARED_STATEMENTS", True):
            name, prepare = _prepared(sql)
            literals = b", ".join(_literals(params, cursor.connection))
            run_prepared(cursor, [(name, prepare)], b"EXECUTE %b(%b)%b" % (name.encode(), literals, suffix))
        else:
            cursor.execute(_bound(sql, params, cursor.connection) + suffix)


@lru_cache(maxsize=64)
def _prepared(sql: str) -> tuple[str, str]:
    """The statement's name and its ``PREPARE`` (parameter types taken from the target columns).

    PostgreSQL parses, analyses and plans an INSERT of several tables every time it receives its
    text (about 0.1 ms of the database's CPU for a booking's); prepared, it runs the plan. The
    shapes are few (a model's row counts), each prepared once per connection (``run_prepared``).
    """
    name = statement_name(sql, prefix="clinic_rows_")
    numbers = itertools.count(1)
    return name, f"PREPARE {name} AS " + _PLACEHOLDER.sub(lambda _: f"${next(numbers)}", sql)


_PLACEHOLDER = re.compile(r"%s")


def _literals(params: Sequence, raw) -> tuple[bytes, ...]:
    """Each value as an SQL literal, quoted by psycopg's adapters exactly as its client-side
    binding (Django's default cursor) quotes it.

    The INSERT is sent with them written in rather than as parameters: psycopg caches how it
    splits a statement at its placeholders only for statements of at most 50 parameters, a
    booking's INSERT has about a hundred, and splitting it afresh was the largest single cost of
    the request in Python. Written in by Python's %-formatting (``%%`` a literal percent sign, as
    psycopg reads it), the text is sent without parameters, so psycopg does not parse it at all.
    """
    tx = _transformer(raw)
    return tuple(b"NULL" if p is None else tx.as_literal(p) for p in params)


def _transformer(raw) -> Transformer:
    """The connection's transformer: it keeps the dumper it found for each value type, and a new
    one for every INSERT looked them all up again. It reads only the connection's adapters and
    encoding, which stay as they are for the connection's life. Kept on the psycopg connection
    itself, so it goes when the connection goes (it holds the connection: a cache keyed weakly by
    the connection would never have let go of it)."""
    tx = getattr(raw, "_clinic_rows_transformer", None)
    if tx is None:
        tx = raw._clinic_rows_transformer = Transformer.from_context(raw)
    return tx


def _bound(sql: str, params: Sequence, raw) -> bytes:
    """``sql`` with ``params`` written in as literals (see ``_literals``)."""
    return sql.encode() % _literals(params, raw)


def array_literal(values: Iterable[object]) -> str:
    """``values`` as one PostgreSQL array literal (``{1,"a \\"b\\"",NULL}``) for an ``unnest(%s::type[])``
    parameter: integers as digits (booleans as 1 or 0, which PostgreSQL reads as true and false),
    anything else as its ``str`` quoted (backslashes and quotes escaped), None as NULL.

    psycopg dumps a list parameter element by element; for a calendar page's 200 audit rows that
    cost more than the INSERT itself. The literal is one string, parsed by PostgreSQL.
    """
    items = []
    for value in values:
        if value is None:
            items.append("NULL")
        elif isinstance(value, int):  # digits only, whatever the subclass: a bool is 1 or 0
            items.append(f"{value:d}")
        elif isinstance(value, bytes | bytearray):
            raise TypeError("array_literal takes text, not bytes")
        else:
            items.append('"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(items) + "}"
