"""Questionnaire definitions: loading the shipped ones, and a clinic's own.

A definition row is never edited: a changed definition is a new version, so every stored
response keeps pointing at exactly the text and options the patient saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from clinic.access import Actor, Perm
from clinic.errors import Conflict, InvalidInput
from clinic.models import AuditEvent
from clinic.services.audit import audit_record
from intake import engine
from intake.instruments import CANDIDACY_CODES, INSTRUMENT_CODES, shipped_definitions
from intake.models import Questionnaire

# The standard candidacy intake: medical history, medicines, antidepressant history and the
# three symptom instruments. A clinic adds its own definitions with ``in_intake``.
INTAKE_CODES = ("medical-history", "current-medications", "antidepressant-trials", "phq9", "gad7", "pcl5")
SURVEY_CODES = ("phq9", "gad7")


class ShippedDefinitionChanged(RuntimeError):
    """A shipped file changed without a new version: stored responses would silently change meaning."""


@transaction.atomic
def questionnaires_sync(model=Questionnaire) -> list[str]:
    """Load the shipped definitions; idempotent. Returns the ``code:version`` keys created.

    All or nothing: a changed definition refuses the whole run, so no file loaded before it in
    the same run is left behind. ``model`` lets the data migration pass its historical model.
    """
    created = []
    for definition in shipped_definitions():
        existing = model.objects.filter(
            clinic__isnull=True, code=definition["code"], version=definition["version"]
        ).first()
        if existing is not None:
            if existing.definition != definition:
                raise ShippedDefinitionChanged(
                    f"{definition['code']} v{definition['version']} differs from the stored copy; bump its version."
                )
            continue
        model.objects.create(
            clinic=None,
            code=definition["code"],
            version=definition["version"],
            title=definition["title"],
            kind=definition["kind"],
            scoring=definition.get("scoring") or "",
            definition=definition,
            in_intake=definition["code"] in INTAKE_CODES,
            active=True,
        )
        created.append(f"{definition['code']}:{definition['version']}")
    return created


def shipped_codes() -> frozenset[str]:
    """Codes the product owns: those of the shipped files and of any shipped row in the database.

    A clinic may not reuse one. ``questionnaire_set`` would otherwise ask the clinic's version in
    place of the product's, and an unscored "phq9" has no item-9 alert and no scores.
    """
    stored = Questionnaire.objects.filter(clinic__isnull=True).values_list("code", flat=True).distinct()
    return _reserved(stored)


def _reserved(stored_codes) -> frozenset[str]:
    return frozenset(code.lower() for code in (*INSTRUMENT_CODES, *CANDIDACY_CODES, *stored_codes))


def _definition_errors(definition: Mapping[str, Any]) -> dict[str, list[str]]:
    errors = {f"definition.{path}": messages for path, messages in engine.validate_definition(dict(definition)).items()}
    code = definition.get("code")
    if isinstance(code, str) and code.lower() in shipped_codes():
        errors.setdefault("definition.code", []).append(
            f"{code!r} is the code of a questionnaire shipped with the product; choose another code."
        )
    return errors


@transaction.atomic
def questionnaire_create(
    *, actor: Actor, clinic_id: int, definition: dict[str, Any], in_intake: bool = False
) -> Questionnaire:
    """A clinic's own definition (for example a C-SSRS it holds a licence for), validated first.

    Its code must not be a shipped one (see ``shipped_codes``): a clinic adds questionnaires, it
    never replaces the scored instruments or the candidacy questionnaires the rules read.
    """
    actor.require(Perm.QUESTIONNAIRE_MANAGE, clinic_id)
    errors = _definition_errors(definition)
    if errors:
        raise InvalidInput(errors=errors)
    kind = definition.get("kind", Questionnaire.Kind.CUSTOM)
    if kind != Questionnaire.Kind.CUSTOM or definition.get("scoring"):
        raise InvalidInput(
            errors={"definition.kind": ["A clinic's own questionnaire is kind 'custom' with no scoring rule."]}
        )
    questionnaire = Questionnaire(
        clinic_id=clinic_id,
        code=definition["code"],
        version=str(definition["version"]),
        title=definition["title"],
        kind=Questionnaire.Kind.CUSTOM,
        scoring="",
        definition={**definition, "kind": Questionnaire.Kind.CUSTOM, "scoring": None},
        in_intake=in_intake,
        created_by=actor.user,
    )
    try:
        with transaction.atomic():
            questionnaire.save()
    except IntegrityError as exc:
        raise Conflict(
            "This clinic already has this code and version; publish a new version.", code="questionnaire_exists"
        ) from exc
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        object_type="questionnaire",
        object_id=questionnaire.pk,
        clinic_id=clinic_id,
    )
    return questionnaire


@transaction.atomic
def questionnaire_update_flags(
    *, actor: Actor, questionnaire: Questionnaire, data: Mapping[str, bool]
) -> Questionnaire:
    """Only ``active`` and ``in_intake`` change; the definition itself never does."""
    if questionnaire.clinic_id is None:
        raise Conflict("Shipped questionnaires are managed by the product.", code="shipped_questionnaire")
    actor.require(Perm.QUESTIONNAIRE_MANAGE, questionnaire.clinic_id)
    changed = [name for name in ("active", "in_intake") if name in data and getattr(questionnaire, name) != data[name]]
    for name in changed:
        setattr(questionnaire, name, data[name])
    if changed:
        questionnaire.save(update_fields=changed)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.UPDATE,
        object_type="questionnaire",
        object_id=questionnaire.pk,
        clinic_id=questionnaire.clinic_id,
        changed_fields=changed,
    )
    return questionnaire


def questionnaire_set(*, clinic_id: int, codes: tuple[str, ...] | None = None) -> list[Questionnaire]:
    """The definitions a new link asks for: per code, the newest active version.

    A shipped code always gets the shipped definition: a clinic row with that code (possible only
    for rows stored before ``questionnaire_create`` refused them) is ignored, because the scoring,
    the item-9 alert and the candidacy rules depend on the product's definition.
    ``codes=None`` means the intake: the standard codes plus the clinic's own ``in_intake`` ones.
    """
    candidates = list(
        Questionnaire.objects.filter(Q(clinic__isnull=True) | Q(clinic_id=clinic_id), active=True).order_by(
            "code", "-created_at", "-id"
        )
    )
    reserved = _reserved(q.code for q in candidates if q.clinic_id is None)  # no extra query
    chosen: dict[str, Questionnaire] = {}
    for q in candidates:
        if q.clinic_id is not None and q.code.lower() in reserved:
            continue
        chosen.setdefault(q.code, q)  # ordered newest first per code
    if codes is None:
        wanted = [code for code in INTAKE_CODES if code in chosen]
        wanted += sorted(code for code, q in chosen.items() if q.in_intake and code not in INTAKE_CODES)
    else:
        wanted = [code for code in codes if code in chosen]
    return [chosen[code] for code in wanted]
