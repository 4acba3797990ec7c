"""``clinic.prepared.KeyedQuery``: compiled once, it gives what the ORM gives for every key."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from django.db.models import Exists, JSONField, OuterRef, Subquery, Value
from django.test.utils import CaptureQueriesContext

from clinic.models import Patient, StaffMember
from clinic.prepared import KeyedQuery, ServerStatement, execute_statements
from tests.factories.clinic import ClinicFactory, PatientFactory, StaffMemberFactory


def _build(patient_id: int):
    return (
        Patient.objects.only("id", "clinic_id", "first_name", "date_of_birth")
        .annotate(
            has_staff=Exists(StaffMember.objects.filter(clinic_id=OuterRef("clinic_id"))),
            settings=Subquery(
                Patient.objects.filter(pk=OuterRef("pk")).values(doc=Value({"a": [1, 2]}, JSONField()))[:1],
                output_field=JSONField(),
            ),
        )
        .filter(pk=patient_id)
    )


def test_every_key_gives_what_the_orm_gives_and_compiles_once(db):
    lone, staffed = ClinicFactory(), ClinicFactory()
    StaffMemberFactory(clinic=staffed)
    patients = [PatientFactory(clinic=lone), PatientFactory(clinic=staffed), PatientFactory(clinic=staffed)]
    query = KeyedQuery(_build)
    for patient in patients:
        expected = _build(patient.pk).get()
        got = query.first(patient.pk)
        assert isinstance(got, Patient) and got.pk == patient.pk
        assert (got.clinic_id, got.first_name, got.date_of_birth) == (
            expected.clinic_id,
            expected.first_name,
            expected.date_of_birth,
        )
        assert got.has_staff is expected.has_staff is (patient.clinic_id == staffed.pk)
        assert got.settings == expected.settings == {"a": [1, 2]}  # the JSON field's converter ran
        assert got.get_deferred_fields() == expected.get_deferred_fields()
    with CaptureQueriesContext(connection) as ctx:
        assert query.first(patients[0].pk).last_name == patients[0].last_name  # a deferred field loads itself
    assert len(ctx) == 2


def test_a_key_with_no_row_gives_none(db):
    query = KeyedQuery(_build)
    assert query.first(10**12) is None
    assert query.first(2**70) is None  # out of a bigint's range: no row, as the ORM says, not an error


@pytest.mark.django_db(transaction=True)
def test_each_thread_compiles_its_own_and_gets_the_right_rows():
    patients = [PatientFactory(), PatientFactory()]
    query = KeyedQuery(_build)
    found: dict[int, int | None] = {}

    def read(patient: Patient) -> None:
        try:
            row = query.first(patient.pk)
            found[patient.pk] = row.pk if row is not None else None
        finally:
            connection.close()

    threads = [threading.Thread(target=read, args=(p,)) for p in patients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == {p.pk: p.pk for p in patients}


def test_only_one_model_is_read(db):
    with pytest.raises(ValueError, match="select_related"):
        KeyedQuery(lambda pk: Patient.objects.select_related("clinic").filter(pk=pk)).first(1)
    with pytest.raises(ValueError, match="not among"):
        KeyedQuery(lambda pk: Patient.objects.filter(pk=1)).first(1)


# --- ModelColumns ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_model_columns_build_what_the_orm_builds(db):
    from clinic.models import Clinic
    from clinic.prepared import ModelColumns

    patient = PatientFactory(phone="+14155550123", candidacy_modalities=["iv", "im"])
    patients, clinics = ModelColumns(Patient, "p"), ModelColumns(Clinic, "c")
    sql = (
        f"SELECT {patients.select_list(connection)}, {clinics.select_list(connection)}"  # noqa: S608
        " FROM clinic_patient p JOIN clinic_clinic c ON c.id = p.clinic_id WHERE p.id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [patient.pk])
        row = cursor.fetchone()
    got_patient = patients.instance(row[: len(patients)], connection)
    got_clinic = clinics.instance(row[len(patients) :], connection)
    expected = Patient.objects.select_related("clinic").get(pk=patient.pk)
    for got, want in ((got_patient, expected), (got_clinic, expected.clinic)):
        assert type(got) is type(want) and got._state.adding is False and got._state.db == "default"
        assert {f.attname: getattr(got, f.attname) for f in want._meta.concrete_fields} == {
            f.attname: getattr(want, f.attname) for f in want._meta.concrete_fields
        }
    assert got_patient.candidacy_modalities == ["iv", "im"]  # the JSON field's converter ran
    assert str(got_patient.phone) == "+14155550123"  # and the phone field's


# --- ServerStatement ------------------------------------------------------------------------------


def _prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


_SQUARES = ServerStatement(
    lambda: "SELECT n, n * n, %(label)s || ' ' || (n %% 7) FROM generate_series(1, %(upto)s) AS n ORDER BY n",
    {"label": "text", "upto": "int"},
)
_LOCK_CLINIC = ServerStatement(
    lambda: "SELECT name FROM clinic_clinic WHERE id = %(clinic)s FOR NO KEY UPDATE", {"clinic": "bigint"}
)


@pytest.mark.postgres
def test_a_statement_is_prepared_once_per_connection_then_executed_by_name(db):
    # A text no earlier test can have prepared on this connection, whatever the order tests run in.
    marker = uuid.uuid4().hex
    fresh = ServerStatement(
        lambda: (
            f"/* {marker} */ SELECT n, n * n, %(label)s || ' ' || (n %% 7)"  # noqa: S608 (a hex comment)
            " FROM generate_series(1, %(upto)s) AS n ORDER BY n"
        ),
        {"label": "text", "upto": "int"},
    )
    expected = [(n, n * n, f"sq {n % 7}") for n in range(1, 11)]
    name = fresh._parts().name
    assert name not in _prepared_names()
    with CaptureQueriesContext(connection) as captured:
        for upto in (10, 10, 3):
            with connection.cursor() as cursor:
                execute_statements(cursor, [fresh], {"label": "sq", "upto": upto})
                assert cursor.fetchall() == expected[:upto]
    sent = [q["sql"] for q in captured.captured_queries]
    assert sent[0].startswith(f"PREPARE {name}") and all(s.startswith(f"EXECUTE {name}") for s in sent[1:])
    assert name in _prepared_names()


@pytest.mark.postgres
def test_several_statements_answer_in_order_in_one_round_trip(db):
    clinic = ClinicFactory(name="Lakeside")
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        execute_statements(cursor, [_LOCK_CLINIC, _SQUARES], {"clinic": clinic.pk, "label": "x", "upto": 2})
        assert cursor.fetchall() == [("Lakeside",)]
        assert cursor.nextset()
        assert cursor.fetchall() == [(1, 1, "x 1"), (2, 4, "x 2")]
        assert not cursor.nextset()
    assert len(captured) == 1


@pytest.mark.postgres
def test_a_string_that_failed_part_way_starts_the_next_from_a_clean_slate(db):
    from django.db import DataError, transaction

    dividing = ServerStatement(lambda: "SELECT 10 / %(by)s", {"by": "int"})
    fresh = ServerStatement(lambda: "SELECT 'fresh ' || %(word)s", {"word": "text"})
    with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:
        execute_statements(cursor, [fresh, dividing], {"word": "a", "by": 0})  # both PREPAREd, then it fails
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        execute_statements(cursor, [fresh, dividing], {"word": "b", "by": 5})
        assert cursor.fetchall() == [("fresh b",)]
        cursor.nextset()
        assert cursor.fetchall() == [(2,)]
    assert captured[0]["sql"].startswith("DEALLOCATE ALL")


@pytest.mark.postgres
def test_a_statement_gone_stale_is_prepared_again_after_its_error(db):
    """A migration that changes a selected column's type leaves a prepared statement failing on
    every run ("cached plan must not change result type") on a healthy connection: after the
    error, the connection's next string deallocates and prepares again."""
    from django.db import DatabaseError, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE stale_probe (v int)")
        cursor.execute("INSERT INTO stale_probe VALUES (7)")
    probe = ServerStatement(lambda: "SELECT v FROM stale_probe WHERE v = %(v)s", {"v": "int"})
    with connection.cursor() as cursor:
        execute_statements(cursor, [probe], {"v": 7})
        assert cursor.fetchall() == [(7,)]
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE stale_probe ALTER COLUMN v TYPE bigint")
    with pytest.raises(DatabaseError, match="cached plan"), transaction.atomic(), connection.cursor() as cursor:
        execute_statements(cursor, [probe], {"v": 7})
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        execute_statements(cursor, [probe], {"v": 7})
        assert cursor.fetchall() == [(7,)]
    assert captured[0]["sql"].startswith("DEALLOCATE ALL")


@pytest.mark.postgres
def test_a_statement_the_data_refused_leaves_the_prepared_statements_alone(db):
    """A constraint's refusal (a booking's 409) in a string that prepared nothing keeps the
    connection's prepared statements: the next string only executes."""
    from django.db import IntegrityError, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE refusal_probe (v int PRIMARY KEY)")
    insert = ServerStatement(lambda: "INSERT INTO refusal_probe VALUES (%(v)s)", {"v": "int"})
    with connection.cursor() as cursor:
        execute_statements(cursor, [insert], {"v": 1})  # prepared here
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        execute_statements(cursor, [insert], {"v": 1})
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        execute_statements(cursor, [insert], {"v": 2})
    assert captured[0]["sql"].startswith("EXECUTE")


@pytest.mark.postgres
def test_a_refused_string_that_prepared_starts_the_next_from_a_clean_slate(db):
    """The same refusal in the string that PREPAREd the statement (a connection's first booking
    answering 409): the server keeps the statement though the string failed, so the next string
    must not PREPARE it again as if it were new ("already exists"): it starts with DEALLOCATE ALL."""
    from django.db import IntegrityError, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE refused_first (v int PRIMARY KEY)")
        cursor.execute("INSERT INTO refused_first VALUES (1)")
    insert = ServerStatement(lambda: "INSERT INTO refused_first VALUES (%(v)s)", {"v": "int"})
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        execute_statements(cursor, [insert], {"v": 1})  # PREPARE and EXECUTE in one string; refused
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        execute_statements(cursor, [insert], {"v": 2})
    assert captured[0]["sql"].startswith("DEALLOCATE ALL")
    with connection.cursor() as cursor:
        cursor.execute("SELECT v FROM refused_first ORDER BY v")
        assert cursor.fetchall() == [(1,), (2,)]


@pytest.mark.postgres
def test_without_prepared_statements_the_text_itself_is_sent(db, settings):
    settings.PREPARED_STATEMENTS = False
    plain = ServerStatement(lambda: "SELECT %(a)s::int + 1", {"a": "int"})
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        execute_statements(cursor, [plain], {"a": 41})
        assert cursor.fetchone() == (42,)
    assert captured[0]["sql"].startswith("SELECT")
    assert plain._parts().name not in _prepared_names()


def test_every_parameter_needs_a_type():
    with pytest.raises(ValueError, match="parameters"):
        ServerStatement(lambda: "SELECT %(a)s, %(b)s", {"a": "int"})._parts()
