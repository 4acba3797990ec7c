"""``clinic.rows``: rows of several models in one statement, stored as bulk_create would; array literals
that PostgreSQL reads back exactly."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clinic.models import AuditEvent, OutboundMessage
from clinic.rows import Rows, array_literal, insert_rows
from tests.factories.clinic import ClinicFactory, PatientFactory, StaffMemberFactory


def _message(clinic, patient, key: str) -> OutboundMessage:
    return OutboundMessage(
        clinic=clinic,
        patient=patient,
        kind=OutboundMessage.Kind.SESSION_REMINDER,
        channel="email",
        recipient="pat@example.org",
        subject_type="session",
        subject_id=7,
        scheduled_for=timezone.now() + dt.timedelta(hours=2),
        dedupe_key=key,
    )


def _audit(clinic, patient, user, object_id: str) -> AuditEvent:
    return AuditEvent(
        actor=user,
        actor_kind=AuditEvent.ActorKind.STAFF,
        action=AuditEvent.Action.CREATE,
        object_type="session",
        object_id=object_id,
        clinic_id=clinic.pk,
        patient_id=patient.pk,
        changed_fields=["starts_at"],
    )


def _stored(model, **filters) -> list[dict]:
    """The rows as stored, without their ids and the times taken from the clock at insert."""
    skip = {model._meta.pk.attname, "occurred_at", "created_at", "scheduled_for"}
    rows = model.objects.filter(**filters).order_by("pk").values()
    return [{k: v for k, v in row.items() if k not in skip} for row in rows]


@pytest.mark.postgres
def test_rows_of_several_models_go_in_one_statement_as_bulk_create_would_store_them(db, django_assert_num_queries):
    clinic = ClinicFactory()
    patient = PatientFactory(clinic=clinic)
    user = StaffMemberFactory(clinic=clinic).user
    with django_assert_num_queries(1):
        insert_rows(
            Rows([_audit(clinic, patient, user, "ours-1"), _audit(clinic, patient, user, "ours-2")]),
            Rows([_message(clinic, patient, "ours:a"), _message(clinic, patient, "ours:b")], ignore_conflicts=True),
        )
    AuditEvent.objects.bulk_create([_audit(clinic, patient, user, "ours-1"), _audit(clinic, patient, user, "ours-2")])
    OutboundMessage.objects.bulk_create([_message(clinic, patient, "ref:a"), _message(clinic, patient, "ref:b")])
    audit = _stored(AuditEvent, object_type="session")
    assert len(audit) == 4 and audit[:2] == audit[2:]
    messages = _stored(OutboundMessage)
    assert [{**m, "dedupe_key": m["dedupe_key"][-1]} for m in messages[:2]] == [
        {**m, "dedupe_key": m["dedupe_key"][-1]} for m in messages[2:]
    ]
    assert all(e.occurred_at is not None for e in AuditEvent.objects.all())


@pytest.mark.postgres
def test_ignored_conflicts_skip_only_the_duplicate_and_any_other_failure_inserts_nothing(db):
    clinic = ClinicFactory()
    patient = PatientFactory(clinic=clinic)
    user = StaffMemberFactory(clinic=clinic).user
    insert_rows(Rows([_message(clinic, patient, "rows:dup")]))
    insert_rows(
        Rows([_audit(clinic, patient, user, "kept")]),
        Rows([_message(clinic, patient, "rows:dup"), _message(clinic, patient, "rows:new")], ignore_conflicts=True),
    )
    assert sorted(OutboundMessage.objects.values_list("dedupe_key", flat=True)) == ["rows:dup", "rows:new"]
    assert AuditEvent.objects.filter(object_id="kept").count() == 1
    # Without ignore_conflicts the duplicate fails the whole statement: the audit row does not land either.
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Rows([_audit(clinic, patient, user, "lost")]), Rows([_message(clinic, patient, "rows:dup")]))
    assert not AuditEvent.objects.filter(object_id="lost").exists()


def test_nothing_to_insert_sends_nothing(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        insert_rows(Rows([]), Rows([], ignore_conflicts=True))


@pytest.mark.postgres
def test_an_array_literal_reads_back_as_the_values_it_was_built_from(db):
    awkward = ["plain", 'say "hi"', "back\\slash\\", "{braces}, commas", "", "NULL", " spaced ", "ñandú ☂", None]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::text[], %s::bigint[], %s::boolean[], %s::jsonb[]",
            [
                array_literal(awkward),
                array_literal([1, None, -7, 2**40]),
                array_literal([True, False, None]),
                array_literal(['{"a": "x\\"y", "b": [1, 2]}', "[]"]),
            ],
        )
        texts, numbers, flags, documents = cursor.fetchone()
    assert texts == awkward
    assert numbers == [1, None, -7, 2**40]
    assert flags == [True, False, None]
    assert [json.loads(d) for d in documents] == [{"a": 'x"y', "b": [1, 2]}, []]  # Django loads jsonb as text


@pytest.mark.postgres
def test_array_literals_of_the_vitals_columns_read_back_exactly(db):
    """The vitals INSERT's own column types: instants in any zone with microseconds, decimals in any
    notation, small integers (a bool among them is 1 or 0), and bytes refused rather than mangled."""
    moments = [
        dt.datetime(2027, 3, 2, 14, 0, 0, 123456, tzinfo=dt.UTC),
        dt.datetime(2027, 3, 2, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        None,
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::timestamptz[], %s::numeric[], %s::smallint[]",
            [
                array_literal(moments),
                array_literal([Decimal("36.6"), Decimal("1E+1"), 37.25, None]),
                array_literal([120, True, False, None]),
            ],
        )
        instants, decimals, smalls = cursor.fetchone()
    assert instants == moments
    assert decimals == [Decimal("36.6"), Decimal("10"), Decimal("37.25"), None]
    assert smalls == [120, 1, 0, None]
    with pytest.raises(TypeError):
        array_literal([b"raw"])
    assert array_literal([]) == "{}"


@pytest.mark.postgres
def test_a_value_that_is_an_expression_goes_through_djangos_compiler(db):
    from django.db.models.functions import Now

    clinic = ClinicFactory()
    patient = PatientFactory(clinic=clinic)
    message = _message(clinic, patient, "expr-1")
    message.scheduled_for = Now()
    insert_rows(Rows([message]), Rows([_message(clinic, patient, "plain-1")]))
    stored = OutboundMessage.objects.get(dedupe_key="expr-1")
    assert abs(stored.scheduled_for - timezone.now()) < dt.timedelta(minutes=1)
    assert OutboundMessage.objects.filter(dedupe_key="plain-1").exists()


@pytest.mark.postgres
def test_rows_whose_ids_were_taken_beforehand_keep_them(db):
    clinic = ClinicFactory()
    patient = PatientFactory(clinic=clinic)
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('clinic_outboundmessage', 'id'))")
        [taken] = cursor.fetchone()
    message = _message(clinic, patient, "taken-1")
    message.pk = taken
    insert_rows(Rows([message]), Rows([_message(clinic, patient, "untaken-1")]))
    assert OutboundMessage.objects.get(pk=taken).dedupe_key == "taken-1"
    assert OutboundMessage.objects.get(dedupe_key="untaken-1").pk > taken


def test_rows_of_one_model_take_every_id_or_none(db):
    clinic = ClinicFactory()
    patient = PatientFactory(clinic=clinic)
    with_id, without = _message(clinic, patient, "half-1"), _message(clinic, patient, "half-2")
    with_id.pk = 10**9
    with pytest.raises(ValueError, match="every row its id or none"):
        insert_rows(Rows([with_id, without]))


@pytest.mark.postgres
def test_values_are_written_in_exactly_as_psycopgs_client_side_binding_writes_them(db):
    """The INSERT is sent with its values as literals (``_bound``): each one quoted by psycopg's own
    adapters, so the text is the one psycopg's client-side binding would have sent."""
    import ipaddress
    import uuid

    from django.db.backends.postgresql.psycopg_any import Jsonb
    from psycopg import ClientCursor

    from clinic.rows import _bound

    sql = "SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '100%%'"
    params = (
        "O'Brien \\ 50% done; DROP TABLE x; --",
        None,
        dt.datetime(2027, 3, 2, 9, 30, 15, 123456, tzinfo=dt.UTC),
        dt.date(2027, 3, 2),
        Decimal("37.55"),
        True,
        12345678901,
        Jsonb({"note": 'café "quoted"', "n": [1, 2]}),
        ipaddress.ip_address("10.0.0.7"),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "multi\nline\ttext ☃",
    )
    connection.ensure_connection()
    raw = connection.connection
    bound = _bound(sql, params, raw)
    assert bound.decode() == ClientCursor(raw).mogrify(sql, params)
    with connection.cursor() as cursor:
        cursor.execute(bound)
        row = cursor.fetchone()
    assert row[0] == params[0] and row[1] is None and row[2] == params[2] and row[4] == params[4]
    assert json.loads(row[7]) == {"note": 'café "quoted"', "n": [1, 2]} and row[-2] == params[-1] and row[-1] == "100%"


@pytest.mark.postgres
def test_an_insert_of_our_own_shape_is_prepared_once_per_connection_then_executed(db, settings):
    """The first INSERT of a shape on a connection PREPAREs it in the same string; later ones only
    EXECUTE it with their values. A compiled (expression) INSERT, or PREPARED_STATEMENTS off,
    sends the INSERT itself, and stores the same rows."""
    from django.test.utils import CaptureQueriesContext

    from clinic import prepared

    clinic = ClinicFactory()
    patient = PatientFactory(clinic=clinic)
    user = StaffMemberFactory(clinic=clinic).user
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # whatever earlier tests prepared on this connection
    prepared._PREPARED.pop(connection.connection, None)

    def nine(tag: str) -> list[Rows]:
        return [Rows([_audit(clinic, patient, user, f"{tag}-{i}") for i in range(9)])]

    with CaptureQueriesContext(connection) as captured:
        insert_rows(*nine("first"))
        insert_rows(*nine("second"))
    first, second = (q["sql"] for q in captured.captured_queries)
    assert first.startswith("PREPARE clinic_rows_") and "EXECUTE clinic_rows_" in first
    assert second.startswith("EXECUTE clinic_rows_") and "INSERT" not in second
    assert _stored(AuditEvent, object_id__startswith="first-") == [
        {**row, "object_id": row["object_id"].replace("second", "first")}
        for row in _stored(AuditEvent, object_id__startswith="second-")
    ]

    # A duplicate key refuses the statement, not the prepared statements: the next string only
    # executes (a string that fails for any other reason starts the next from DEALLOCATE ALL:
    # tests/clinic/test_prepared.py).
    insert_rows(Rows([_message(clinic, patient, "prep:dup")]))
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Rows([_message(clinic, patient, "prep:dup")]))
    with CaptureQueriesContext(connection) as captured:
        insert_rows(*nine("third"))
    assert captured[0]["sql"].startswith("EXECUTE clinic_rows_")
    assert AuditEvent.objects.filter(object_id__startswith="third-").count() == 9

    from django.db.models.functions import Now

    timed = _message(clinic, patient, "prep:now")
    timed.scheduled_for = Now()
    with CaptureQueriesContext(connection) as captured:
        insert_rows(Rows([timed]))
    assert captured[0]["sql"].startswith("INSERT")

    settings.PREPARED_STATEMENTS = False
    with CaptureQueriesContext(connection) as captured:
        insert_rows(*nine("fourth"))
    assert captured[0]["sql"].startswith("INSERT")
    # The plain INSERT stores what the prepared one stored.
    assert _stored(AuditEvent, object_id__startswith="fourth-") == [
        {**row, "object_id": row["object_id"].replace("second", "fourth")}
        for row in _stored(AuditEvent, object_id__startswith="second-")
    ]


@pytest.mark.postgres
def test_a_value_that_skips_djangos_preparation_is_what_django_would_have_prepared(db):
    """Every field of the models a booking inserts, with values of every kind it meets: where the
    INSERT skips ``get_db_prep_save`` (``_plain_types``), Django's own call gives the same value
    and type; the values it does not skip (wrapped integers, JSON, addresses, naive or lazy) go
    through the call."""
    from django.utils.translation import gettext_lazy

    from clinic.rows import _insert_fields, _plain_types
    from scheduling.models import Session, SessionEvent

    aware = dt.datetime(2027, 3, 2, 15, 0, tzinfo=dt.UTC)
    candidates = [
        None,
        "",
        "text",
        OutboundMessage.Status.PENDING,
        gettext_lazy("lazy"),
        0,
        7,
        2**40,
        True,
        False,
        aware,
        dt.datetime(2027, 3, 2, 15, 0),
        Decimal("1.5"),
        {"a": 1},
        [1, 2],
    ]
    connection.ensure_connection()
    skipped = 0
    for model in (Session, SessionEvent, AuditEvent, OutboundMessage):
        for with_pk in (False, True):
            for field, plain in zip(_insert_fields(model, with_pk), _plain_types(model, with_pk), strict=True):
                for value in candidates:
                    if plain is None or not plain(value):
                        continue
                    skipped += 1
                    django = field.get_db_prep_save(value, connection)
                    assert type(django) is type(value) and django == value, (model, field.name, value)
    assert skipped > 100
    # What keeps Django's call: sized integers (psycopg's Int2/Int8), JSON, addresses, lazy text.
    fields = _insert_fields(OutboundMessage, False) + _insert_fields(AuditEvent, False)
    tests = dict(
        zip(
            (f.name for f in fields),
            _plain_types(OutboundMessage, False) + _plain_types(AuditEvent, False),
            strict=True,
        )
    )
    assert tests["attempts"] is None and tests["subject_id"] is None
    assert tests["changed_fields"] is None and tests["client_address"] is None
    assert not tests["recipient"](gettext_lazy("lazy")) and not tests["sent_at"](dt.datetime(2027, 3, 2, 15, 0))


@pytest.mark.postgres
def test_each_connection_writes_literals_with_its_own_transformer(db):
    """The transformer is kept on the psycopg connection it reads: a new connection gets its own,
    and nothing else keeps a closed one."""
    from django.db import connections

    from clinic.rows import _transformer

    connection.ensure_connection()
    ours = _transformer(connection.connection)
    assert _transformer(connection.connection) is ours
    other = connections.create_connection("default")
    try:
        other.ensure_connection()
        theirs = _transformer(other.connection)
        assert theirs is not ours and other.connection._clinic_rows_transformer is theirs
    finally:
        other.close()
    assert not hasattr(connection, "_rows_transformer")  # not on Django's wrapper any more
