"""The log scan that guards every test finds personal values and ignores look-alikes."""

import logging

from tests.phi import find_phi_leaks, register_phi


def test_scan_finds_a_name_an_email_and_a_birth_date():
    texts = [
        ("app", "patient.created id=4 name=Ingrid"),
        ("app", "mail to ingrid@mail.test failed"),
        ("app", "dob=1985-04-03"),
    ]
    assert find_phi_leaks(texts, ["Ingrid", "ingrid@mail.test", "1985-04-03"]) == [
        ("app", "1985-04-03"),
        ("app", "Ingrid"),
        ("app", "ingrid@mail.test"),
    ]


def test_scan_ignores_substrings_of_other_words():
    assert find_phi_leaks([("app", "Leeds office; sleep; 1985-04-031")], ["Lee", "Leed", "1985-04-03"]) == []


def test_guard_sees_extra_fields_of_records(phi_log_guard):
    register_phi("Zebulon")
    logging.getLogger("clinic.test").info("event.name", extra={"note": "hello"})
    assert any("note=hello" in text for _, text in phi_log_guard.texts)
