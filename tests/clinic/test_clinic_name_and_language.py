"""The name patients see must be discreet, and the clinic's language is a setting its admin changes."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from clinic.access import Role
from clinic.models import Clinic


@pytest.fixture
def admin(clinic, make_staff, client_for):
    return client_for(make_staff(clinic, Role.CLINIC_ADMIN))


def _patch(admin, clinic, **data):
    return admin.patch(f"/api/v1/clinics/{clinic.pk}/", data, format="json")


def test_a_name_naming_the_treatment_needs_a_discreet_message_name(clinic, admin):
    refused = _patch(admin, clinic, name="Riverside Ketamine Center")
    assert refused.status_code == 400
    assert "ketamine" in refused.json()["errors"]["name"][0]
    clinic.refresh_from_db()
    assert clinic.name != "Riverside Ketamine Center"

    both = _patch(admin, clinic, name="Riverside Ketamine Center", message_name="Riverside Center")
    assert both.status_code == 200, both.content
    assert (both.json()["name"], both.json()["message_name"]) == ("Riverside Ketamine Center", "Riverside Center")
    clinic.refresh_from_db()
    assert clinic.patient_facing_name == "Riverside Center"


@pytest.mark.parametrize("message_name", ["Mind Therapy Rooms", "ESKETAMINE suite", "PTSD care"])
def test_a_message_name_that_names_a_treatment_is_refused_on_its_field(clinic, admin, message_name):
    refused = _patch(admin, clinic, message_name=message_name)
    assert refused.status_code == 400
    assert list(refused.json()["errors"]) == ["message_name"]
    clinic.refresh_from_db()
    assert clinic.message_name == ""


def test_the_admin_sets_the_clinics_language(clinic, admin):
    assert admin.get(f"/api/v1/clinics/{clinic.pk}/").json()["language"] == "en"
    assert _patch(admin, clinic, language="es").status_code == 200
    clinic.refresh_from_db()
    assert clinic.language == "es"
    refused = _patch(admin, clinic, language="fr")
    assert refused.status_code == 400
    assert list(refused.json()["errors"]) == ["language"]


def test_front_desk_and_other_clinics_cannot_change_them(clinic, other_clinic, make_staff, client_for):
    desk = client_for(make_staff(clinic, Role.FRONT_DESK))
    assert _patch(desk, clinic, language="es").status_code == 403
    outsider = client_for(make_staff(other_clinic, Role.CLINIC_ADMIN))
    assert _patch(outsider, clinic, message_name="Riverside Center").status_code == 404
    clinic.refresh_from_db()
    assert (clinic.language, clinic.message_name) == ("en", "")


def test_bootstrap_takes_a_message_name_for_a_name_that_names_the_treatment(db):
    args = ["--timezone=UTC", "--admin-username=k.admin", "--admin-password=long-enough-password-1"]
    with pytest.raises(CommandError, match="message_name"):
        call_command("bootstrap_clinic", "--name=Harbour Ketamine Clinic", *args)
    assert not Clinic.objects.exists()
    call_command("bootstrap_clinic", "--name=Harbour Ketamine Clinic", "--message-name=Harbour Clinic", *args)
    assert Clinic.objects.get().patient_facing_name == "Harbour Clinic"
