"""A registry of the personal values a test created, so the log scan can look for them.

Values get here three ways: factories call ``register_phi``; and ``install_phi_hooks`` (called once
from conftest) listens to ``post_save`` of patients, questionnaire responses and risk assessments,
so a patient registered through the API, a draft saved through a link, or a clinician's note is
watched too, whoever wrote it. The hooks are test-only plumbing (the product uses no signals) and
cost no query: they read only the saved instance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

_registry: set[str] = set()

# linkIds of free-text items ("string", "text"), across every definition seen: responses do not
# always carry their loaded questionnaire, and looking it up would add a query to counted tests.
FREE_TEXT_TYPES = ("string", "text")
_free_text_link_ids: set[str] = set()


def register_phi(*values: object) -> None:
    for value in values:
        text = str(value or "").strip()
        if len(text) >= 4:
            _registry.add(text)


def registered_phi() -> frozenset[str]:
    return frozenset(_registry)


def clear_phi() -> None:
    _registry.clear()


def find_phi_leaks(texts: Iterable[tuple[str, str]], values: Iterable[str]) -> list[tuple[str, str]]:
    """``(logger, value)`` for every registered value found as a whole token in a log text."""
    texts = list(texts)
    values = list(values)
    if not texts or not values:
        return []
    leaks = []
    for value in values:
        pattern = re.compile(rf"(?<![\w@.+-]){re.escape(value)}(?![\w@.-])", re.IGNORECASE)
        leaks += [(name, value) for name, text in texts if pattern.search(text)]
    return sorted(set(leaks))


# --- hooks: values written by any code path --------------------------------------------------------


def free_text_link_ids(items: Iterable[dict[str, Any]]) -> Iterator[str]:
    for item in items or ():
        if not isinstance(item, dict):
            continue
        if item.get("type") in FREE_TEXT_TYPES and isinstance(item.get("linkId"), str):
            yield item["linkId"]
        yield from free_text_link_ids(item.get("item") or ())


def learn_definition(definition: Any) -> None:
    if isinstance(definition, dict):
        _free_text_link_ids.update(free_text_link_ids(definition.get("item") or ()))


def free_text_answers(answers: Any) -> Iterator[str]:
    """The values of free-text questions, including those inside repeating groups."""
    if isinstance(answers, dict):
        for key, value in answers.items():
            if key in _free_text_link_ids and isinstance(value, str):
                yield value
            else:
                yield from free_text_answers(value)
    elif isinstance(answers, list):
        for value in answers:
            yield from free_text_answers(value)


def register_patient(patient: Any) -> None:
    dob = patient.date_of_birth
    register_phi(
        patient.first_name,
        patient.last_name,
        patient.email,
        str(patient.phone or ""),
        dob.isoformat() if hasattr(dob, "isoformat") else dob,
        patient.emergency_contact_name,
        str(patient.emergency_contact_phone or ""),
    )


def _patient_saved(sender, instance, **kwargs) -> None:
    register_patient(instance)


def _questionnaire_saved(sender, instance, **kwargs) -> None:
    learn_definition(instance.definition)


def _response_saved(sender, instance, **kwargs) -> None:
    cached = instance._state.fields_cache.get("questionnaire")
    if cached is not None:
        learn_definition(cached.definition)
    register_phi(*free_text_answers(instance.answers))


def _risk_assessment_saved(sender, instance, **kwargs) -> None:
    register_phi(instance.note)


def install_phi_hooks() -> None:
    """Connect the registry to saves (idempotent), and learn the shipped definitions' free-text items."""
    from django.db.models.signals import post_save

    from clinic.models import Patient
    from intake.instruments import shipped_definitions
    from intake.models import Questionnaire, QuestionnaireResponse, RiskAssessment

    for definition in shipped_definitions():
        learn_definition(definition)
    post_save.connect(_patient_saved, sender=Patient, dispatch_uid="phi-patient")
    post_save.connect(_questionnaire_saved, sender=Questionnaire, dispatch_uid="phi-questionnaire")
    post_save.connect(_response_saved, sender=QuestionnaireResponse, dispatch_uid="phi-response")
    post_save.connect(_risk_assessment_saved, sender=RiskAssessment, dispatch_uid="phi-risk-assessment")
