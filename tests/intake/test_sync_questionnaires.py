"""``manage.py sync_questionnaires``: idempotent, and never changes a published version's content.

A shipped definition is published once per ``code`` and ``version``. Loading again changes
nothing; a file whose content changed under the same version is refused (the operator must
publish a new version), and the refusal leaves the whole run undone.
"""

from __future__ import annotations

import copy
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from intake.instruments import shipped_definitions
from intake.models import Questionnaire

WRITES = ("INSERT", "UPDATE", "DELETE")


def sync() -> str:
    out = StringIO()
    call_command("sync_questionnaires", stdout=out)
    return out.getvalue()


def shipped_rows() -> list[dict]:
    return list(Questionnaire.objects.filter(clinic__isnull=True).order_by("pk").values())


def with_phq9(**changes) -> list[dict]:
    """The shipped definitions, with PHQ-9's first item reworded and ``changes`` applied to it."""
    definitions = shipped_definitions()
    phq9 = next(d for d in definitions if d["code"] == "phq9")
    phq9["item"][0]["text"] = "Reworded: little interest or pleasure in doing things"
    phq9.update(changes)
    return definitions


def test_a_second_run_writes_nothing(db):
    shipped = {d["code"]: d for d in shipped_definitions()}
    before = shipped_rows()
    assert sorted((r["code"], r["version"]) for r in before) == sorted((c, d["version"]) for c, d in shipped.items())

    with CaptureQueriesContext(connection) as queries:
        assert "0 definition(s) loaded: none" in sync()
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)]
    assert writes == []
    assert shipped_rows() == before  # same ids, definitions, flags and creation times


def test_a_missing_definition_is_restored_once(db):
    shipped = {d["code"]: d for d in shipped_definitions()}
    Questionnaire.objects.filter(clinic__isnull=True, code="gad7").delete()

    assert f"1 definition(s) loaded: gad7:{shipped['gad7']['version']}" in sync()
    restored = shipped_rows()
    assert "0 definition(s) loaded: none" in sync()
    assert shipped_rows() == restored
    row = Questionnaire.objects.get(clinic__isnull=True, code="gad7")
    assert row.definition == shipped["gad7"]
    assert (row.scoring, row.in_intake, row.active) == ("gad7", True, True)


def test_a_stored_copy_edited_in_place_is_refused_and_kept(db):
    row = Questionnaire.objects.get(clinic__isnull=True, code="phq9")
    edited = {**row.definition, "title": "PHQ-9, edited in place"}
    Questionnaire.objects.filter(pk=row.pk).update(definition=edited)

    with pytest.raises(CommandError, match=r"phq9 v1 differs from the stored copy; bump its version"):
        sync()
    assert Questionnaire.objects.filter(code="phq9").count() == 1
    assert Questionnaire.objects.get(pk=row.pk).definition == edited  # nothing overwritten either


def test_a_file_changed_under_a_published_version_is_refused_and_the_run_undone(db, monkeypatch):
    before = shipped_rows()
    definitions = with_phq9()  # same version "1", different wording
    # A brand-new definition ahead of the changed one: refusing must undo it too.
    newcomer = copy.deepcopy(next(d for d in definitions if d["code"] == "gad7"))
    newcomer.update(code="sleep-diary", title="Sleep diary")
    monkeypatch.setattr("intake.services.questionnaires.shipped_definitions", lambda: [newcomer, *definitions])

    with pytest.raises(CommandError, match=r"phq9 v1 .*bump its version"):
        sync()
    assert shipped_rows() == before
    assert not Questionnaire.objects.filter(code="sleep-diary").exists()


def test_a_new_version_is_published_beside_the_old_one(db, monkeypatch):
    v1 = Questionnaire.objects.get(clinic__isnull=True, code="phq9")
    v1_definition = copy.deepcopy(v1.definition)
    definitions = with_phq9(version="2")
    monkeypatch.setattr("intake.services.questionnaires.shipped_definitions", lambda: definitions)

    assert "1 definition(s) loaded: phq9:2" in sync()
    assert "0 definition(s) loaded: none" in sync()
    v1.refresh_from_db()
    assert v1.definition == v1_definition
    v2 = Questionnaire.objects.get(clinic__isnull=True, code="phq9", version="2")
    assert v2.items[0]["text"] == "Reworded: little interest or pleasure in doing things"
    assert (v2.scoring, v2.in_intake, v2.active) == ("phq9", True, True)
