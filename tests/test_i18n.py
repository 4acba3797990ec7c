"""Translations: strings are extractable, the shipped catalogue is complete and compiled, and a clinic's
language reaches its patients' pages and messages.

``makemessages`` runs for real (xgettext) on a copy of the sources, so a string that cannot be
extracted (a ``{% translate variable %}``, an f-string message) fails here. The Spanish catalogue
must translate every patient-facing string and its committed ``.mo`` must match its ``.po``.
Questionnaire texts are deliberately not translated (licensed, validated instruments): the pages
show them as written, in every language. Needs GNU gettext (``msgfmt``, ``xgettext``): skipped
without it locally, a failure in CI.
"""

from __future__ import annotations

import datetime as dt
import gettext as gettext_module
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.test import Client, override_settings

from clinic.access import Actor, Role
from intake.services.invitations import intake_invitation_issue, invitation_token_mint, set_questionnaires
from tests.factories.clinic import ClinicFactory, PatientFactory, StaffMemberFactory
from tests.factories.intake import FormInvitationFactory, QuestionnaireFactory
from tests.messaging.helpers import build_world, dispatch, emails_to
from tests.scheduling.helpers import NOW, book, local

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "locale"
SOURCES = ("clinic", "intake", "scheduling", "monitoring", "config")
# Where patient-facing strings live. Alert notices go to clinicians, in LANGUAGE_CODE.
PATIENT_FACING = (
    "intake/engine.py",
    "intake/pages/",
    "intake/services/forms.py",
    "intake/templates/forms/",
    "scheduling/messages.py",
    "clinic/templates/messages/booking_confirmation",
    "clinic/templates/messages/intake_invitation",
    "clinic/templates/messages/session_reminder",
    "clinic/templates/messages/survey_invitation",
    "clinic/templates/messages/survey_reminder",
)
PATIENT_TEMPLATES = [
    *sorted((ROOT / "intake/templates/forms").glob("*.html")),
    *sorted((ROOT / "clinic/templates/messages").glob("*.txt")),
]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is missing: apt-get install -y gettext"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the catalogue checks must run)", pytrace=False)
        pytest.skip(reason)
    return path


# --- reading .po files ---------------------------------------------------------------------------


def _unquote(chunks: list[str]) -> str:
    return "".join(chunk[1:-1] for chunk in chunks).encode("latin-1", "backslashreplace").decode("unicode_escape")


def po_entries(path: Path) -> dict[tuple[str | None, str], dict]:
    """``(msgctxt, msgid) -> {"plural", "msgstr": [...], "refs": [...], "fuzzy"}`` (the header left out)."""
    entries: dict[tuple[str | None, str], dict] = {}
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, list[str]] = {}
        refs: list[str] = []
        fuzzy = False
        current = None
        for line in block.splitlines():
            if line.startswith("#:"):
                refs += line[2:].split()
            elif line.startswith("#,"):
                fuzzy = fuzzy or "fuzzy" in line
            elif line.startswith("#"):
                continue
            elif line.startswith('"') and current:
                fields[current].append(line.strip())
            elif " " in line:
                current, rest = line.split(" ", 1)
                fields[current] = [rest.strip()]
        if "msgid" not in fields:
            continue
        msgid = _unquote(fields["msgid"])
        if not msgid:
            continue
        context = _unquote(fields["msgctxt"]) if "msgctxt" in fields else None
        strings = [_unquote(v) for k, v in sorted(fields.items()) if k.startswith("msgstr")]
        plural = _unquote(fields["msgid_plural"]) if "msgid_plural" in fields else None
        entries[(context, msgid)] = {"plural": plural, "msgstr": strings, "refs": refs, "fuzzy": fuzzy}
    return entries


def _patient_facing(entry: dict) -> bool:
    return any(ref.startswith(PATIENT_FACING) for ref in entry["refs"])


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> dict[tuple[str | None, str], dict]:
    """What ``makemessages`` extracts from a copy of the sources (so nothing is written to locale/)."""
    _tool("xgettext")
    _tool("msgmerge")
    workdir = tmp_path_factory.mktemp("makemessages")
    for source in SOURCES:
        shutil.copytree(
            ROOT / source, workdir / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "migrations")
        )
    locale = workdir / "locale"
    previous_cwd = Path.cwd()
    os.chdir(workdir)  # makemessages reads the current directory
    try:
        with override_settings(LOCALE_PATHS=[locale]):
            call_command("makemessages", locale=["es"], add_location="file", no_obsolete=True, verbosity=0)
    finally:
        os.chdir(previous_cwd)
    return po_entries(locale / "es" / "LC_MESSAGES" / "django.po")


# --- extraction and the catalogue ----------------------------------------------------------------


def test_makemessages_extracts_the_engine_messages_page_strings_and_message_templates(extracted):
    by_id = {msgid: entry for (_, msgid), entry in extracted.items()}
    for msgid in ("This question is required.", "Enter a whole number.", "Must be at most %(maximum)s."):
        assert "intake/engine.py" in by_id[msgid]["refs"], msgid
    assert by_id["Must be at most %(count)s character."]["plural"] == "Must be at most %(count)s characters."
    assert "intake/templates/forms/welcome.html" in by_id["A few questions from %(clinic)s"]["refs"]
    assert "intake/templates/forms/step.html" in by_id["Save and continue"]["refs"]
    assert "intake/templates/forms/problem.html" in by_id["This link has expired"]["refs"]
    reminder = "This is a reminder of your appointment at %(clinic)s on %(when)s."
    assert "clinic/templates/messages/session_reminder.txt" in by_id[reminder]["refs"]
    # A message with its value inside (the old f-string) would have been extracted, if at all, per value.
    assert not [msgid for msgid in by_id if re.search(r"\d", msgid) and msgid.startswith("Must be at")]


def test_patient_templates_translate_literals_only():
    """``{% translate message %}`` looks a variable up at run time: no extractor sees it, no catalogue has it."""
    for template in PATIENT_TEMPLATES:
        found = re.findall(r"{%\s*(?:translate|trans)\s+[A-Za-z_][\w.]*(?:\s[^%]*)?%}", template.read_text())
        assert not found, (template.name, found)


def test_the_spanish_catalogue_translates_every_patient_facing_string(extracted):
    shipped = po_entries(LOCALE / "es" / "LC_MESSAGES" / "django.po")
    missing = []
    for key, entry in extracted.items():
        if not _patient_facing(entry):
            continue
        translation = shipped.get(key)
        if translation is None or translation["fuzzy"] or not all(translation["msgstr"]):
            missing.append(key[1])
    assert not missing, (
        f"untranslated patient-facing strings in locale/es (run makemessages, translate, msgfmt; see "
        f"locale/README.md): {missing}"
    )


def _catalog(mo: Path) -> tuple[dict, str]:
    with mo.open("rb") as handle:
        translations = gettext_module.GNUTranslations(handle)
    return translations._catalog, translations._info.get("plural-forms", "")


@pytest.mark.parametrize("po", sorted(LOCALE.glob("*/LC_MESSAGES/django.po")), ids=lambda p: p.parts[-3])
def test_each_committed_mo_is_its_po_compiled(po, tmp_path):
    msgfmt = _tool("msgfmt")
    fresh = tmp_path / "django.mo"
    checked = subprocess.run(  # noqa: S603 - gettext's msgfmt on a file of this repository
        [msgfmt, "--check", "-o", str(fresh), str(po)], check=False, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    committed = po.with_suffix(".mo")
    assert committed.exists(), f"{committed} is missing: compile it (locale/README.md)"
    assert _catalog(committed) == _catalog(fresh), f"{committed} is stale: recompile it with msgfmt"


# --- a clinic's language reaches its patients ----------------------------------------------------

SLEEP = {
    "code": "sleep-check",
    "version": "1",
    "title": "About your sleep",
    "kind": "custom",
    "scoring": None,
    "item": [
        {"linkId": "hours", "type": "integer", "text": "Hours of sleep", "required": True, "maxValue": 24},
        {"linkId": "naps", "type": "integer", "text": "Naps this week"},
    ],
}


def _sleep_link(clinic) -> str:
    questionnaire = QuestionnaireFactory(clinic=clinic, code="sleep-check", definition=SLEEP)
    invitation = FormInvitationFactory(clinic=clinic, patient=PatientFactory(clinic=clinic))
    set_questionnaires(invitation, [questionnaire])
    return invitation_token_mint(invitation)


def _pages(clinic) -> dict[str, str]:
    """The welcome page, a step with a value out of range and one not a number, and the autosave reply."""
    token = _sleep_link(clinic)
    client = Client()
    welcome = client.get(f"/forms/{token}/")
    assert welcome.status_code == 200
    assert client.post(f"/forms/{token}/start/").status_code == 303
    step = client.post("/forms/session/step/1/", {"hours": "30", "naps": "many", "action": "continue"})
    missing = client.post("/forms/session/step/1/", {"action": "continue"})
    autosave = client.post("/forms/session/step/1/autosave/", {"hours": "30"}, HTTP_ACCEPT="application/json")
    return {
        "welcome": welcome.content.decode(),
        "language": welcome["Content-Language"],
        "step": step.content.decode(),
        "missing": missing.content.decode(),
        "autosave": autosave.json()["errors"]["hours"][0],
    }


def test_a_spanish_clinics_pages_and_messages_about_answers_are_in_spanish(db):
    clinic = ClinicFactory(name="Clínica Sol", language="es")
    pages = _pages(clinic)

    assert pages["language"] == "es" and '<html lang="es">' in pages["welcome"]
    assert "Unas preguntas de Clínica Sol" in pages["welcome"]
    assert "Empezar" in pages["welcome"] and "Start" not in pages["welcome"]
    assert "¿Preguntas? Llame a Clínica Sol" in pages["welcome"]
    assert re.search(r'id="e-hours">.*?Debe ser como máximo 24\.', pages["step"], re.S)
    assert re.search(r'id="e-naps">.*?Escriba un número entero\.', pages["step"], re.S)
    assert "Hay un problema" in pages["step"] and "Guardar y continuar" in pages["step"]
    assert re.search(r'id="e-hours">.*?Esta pregunta es obligatoria\.', pages["missing"], re.S)
    assert pages["autosave"] == "Debe ser como máximo 24."
    # The questionnaire itself is shown as written (instruments are validated texts).
    assert "Hours of sleep" in pages["step"]


def test_an_english_clinics_pages_are_unchanged(db):
    pages = _pages(ClinicFactory(name="Harbour Wellness"))

    assert pages["language"] == "en" and '<html lang="en">' in pages["welcome"]
    assert "A few questions from Harbour Wellness" in pages["welcome"] and "Start" in pages["welcome"]
    assert re.search(r'id="e-hours">.*?Must be at most 24\.', pages["step"], re.S)
    assert re.search(r'id="e-naps">.*?Enter a whole number\.', pages["step"], re.S)
    assert re.search(r'id="e-hours">.*?This question is required\.', pages["missing"], re.S)
    assert pages["autosave"] == "Must be at most 24."


def test_a_spanish_clinics_problem_page_is_in_spanish(db):
    clinic = ClinicFactory(name="Clínica Sol", language="es")
    _, token = FormInvitationFactory.with_token(clinic=clinic, expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    response = Client().get(f"/forms/{token}/")
    assert response.status_code == 410
    html = response.content.decode()
    assert "<h1>Este enlace ha caducado</h1>" in html and "Clínica Sol" in html


def test_the_forms_api_keeps_its_error_payload_for_a_spanish_clinic(db):
    clinic = ClinicFactory(language="es")
    token = _sleep_link(clinic)
    response = Client().put(
        f"/api/v1/forms/{token}/responses/sleep-check/",
        {"answers": {"hours": 30}},
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    # The API speaks the site's language (LANGUAGE_CODE), as it always did.
    assert body["errors"] == {"answers.hours": ["Must be at most 24."]}


# --- patient messages ----------------------------------------------------------------------------


def _reminder_for(make_staff, client_for, language: str):
    with time_machine.travel(NOW, tick=False) as clock:
        world = build_world(make_staff, client_for, name="Clínica Sol")
        world.clinic.language = language
        world.clinic.save(update_fields=["language"])
        start = local(2027, 3, 5, 10)
        assert book(world.front_desk, world.patient, world.iv, start).status_code == 201
        clock.move_to(local(2027, 3, 3, 10))
        dispatch()
        emails = emails_to(world.patient.email)
        assert len(emails) == 2
        # The confirmation, then the 48-hour reminder.
        return sorted(emails, key=lambda email: email.subject.startswith(("Reminder", "Recordatorio")))


def test_a_spanish_clinics_patient_gets_the_reminder_in_spanish(db, make_staff, client_for):
    confirmation, reminder = _reminder_for(make_staff, client_for, "es")

    assert confirmation.subject == "Su cita en Clínica Sol está reservada"
    assert reminder.subject == "Recordatorio: su cita en Clínica Sol el viernes 5 de marzo a las 10:00"
    assert "Le recordamos su cita en Clínica Sol el viernes 5 de marzo a las 10:00." in reminder.body
    assert "Venga con alguien que le lleve a casa" in reminder.body
    assert "Hola, " in reminder.body and "reminder" not in reminder.body.lower()


def test_an_english_clinics_patient_gets_the_reminder_in_english(db, make_staff, client_for):
    confirmation, reminder = _reminder_for(make_staff, client_for, "en")

    assert confirmation.subject == "Your appointment at Clínica Sol is booked"
    assert reminder.subject == "Reminder: your appointment at Clínica Sol on Friday 5 March at 10:00"
    assert "This is a reminder of your appointment at Clínica Sol on Friday 5 March at 10:00." in reminder.body


def test_an_intake_invitation_is_in_the_clinics_language(db):
    clinic = ClinicFactory(name="Clínica Sol", language="es")
    front_desk = Actor.for_user(StaffMemberFactory(clinic=clinic, roles=[Role.FRONT_DESK]).user)
    patient = PatientFactory(clinic=clinic)
    intake_invitation_issue(actor=front_desk, patient=patient)
    dispatch()
    [email] = mail.outbox
    assert email.subject == "Clínica Sol: unas preguntas antes de su primera visita"
    assert "Este enlace es solo para usted" in email.body
