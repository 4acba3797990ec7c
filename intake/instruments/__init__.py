"""The questionnaires shipped with the product, as definitions for ``intake.engine``.

PHQ-9, GAD-7 and PCL-5 are kept in ``source/`` exactly as published in the project's instrument
files (wording, labels, scores, LOINC codes, licences, and the notes on where printings differ) and
converted to the engine's format when loaded, so the verbatim text has one home and cannot drift.
The candidacy questionnaires (medical history, current medications, antidepressant trials) are
written in the engine's format directly, next to this module.

Choices made while converting, following the source files' notes:

* The option ``value`` is both the stored value and the score; PHQ-9's difficulty question keeps its
  0-3 values as storage ordinals with no score, is optional and shows only when some item is above 0.
* The paper-only parts (tick instructions, office coding lines) are not in the sources, so they are
  not shown either.
* PCL-5 uses the August 2023 instructions. Its phrase "select one of the numbers to the right"
  describes the paper layout; on screen the answers are labelled buttons, so, as CamCOPS does, it
  reads "choose one of the answers". The recall stem follows the instructions, and the optional
  "Your worst event:" line comes after the 20 items so that the stem leads straight into item 1.
* Items the source gives no LOINC code carry no ``code``; options without one carry ``code: null``.
* The LOINC copyright notice stays in the shipped source files; ``licence`` is the instrument's own.

Definitions are loaded once and handed out as copies, so a caller that edits one cannot change
what the next caller sees.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from intake.engine import DefinitionError, validate_definition

INSTRUMENT_CODES = ("phq9", "gad7", "pcl5")
CANDIDACY_CODES = ("medical-history", "current-medications", "antidepressant-trials")

# The 2023 PCL-5 instructions speak of the paper layout; see the module docstring.
_PCL5_PAPER_PHRASE = "select one of the numbers to the right"
_PCL5_SCREEN_PHRASE = "choose one of the answers"
# The only enableWhen the instrument sources describe, in words: PHQ-9's "If you checked off any problems".
_ANY_ITEM_ABOVE_ZERO = "at least one of"


def _read_json(*parts: str) -> dict[str, Any]:
    with resources.files(__package__).joinpath(*parts).open("r", encoding="utf-8") as handle:
        return json.load(handle)


def _options(source_options: list[dict[str, Any]], *, scored: bool) -> list[dict[str, Any]]:
    return [
        {
            "value": option["value"],
            "display": option["label"],
            "score": option["value"] if scored else None,
            "code": option.get("loinc"),
        }
        for option in source_options
    ]


def _with_code(item: dict[str, Any], loinc: str | None) -> dict[str, Any]:
    if loinc is not None:
        item["code"] = loinc
    return item


def _extra_item(extra: dict[str, Any], scored_link_ids: list[str], code: str) -> dict[str, Any]:
    if extra.get("scored"):
        raise DefinitionError(f"{code}: scored extra item {extra['linkId']!r} is not supported")
    item: dict[str, Any] = {
        "linkId": extra["linkId"],
        "type": extra.get("type", "choice"),
        "text": extra["text"],
        "required": extra["required"],
    }
    _with_code(item, extra.get("loinc"))
    if "answer_options" in extra:
        item["answerOption"] = _options(extra["answer_options"], scored=False)
    if "enable_when" in extra:
        if not extra["enable_when"].startswith(_ANY_ITEM_ABOVE_ZERO):
            raise DefinitionError(f"{code}: unsupported enable_when {extra['enable_when']!r}")
        item["enableWhen"] = [{"question": link_id, "operator": ">", "answer": 0} for link_id in scored_link_ids]
        item["enableBehavior"] = "any"
    return item


def _description(source: dict[str, Any]) -> str:
    parts = []
    if "instructions" in source:
        if _PCL5_PAPER_PHRASE not in source["instructions"]:
            raise DefinitionError(f"{source['code']}: instructions changed; review the on-screen wording")
        parts.append(source["instructions"].replace(_PCL5_PAPER_PHRASE, _PCL5_SCREEN_PHRASE))
    parts.append(source["recall_period"])
    return "\n\n".join(parts)


def convert_instrument(source: dict[str, Any]) -> dict[str, Any]:
    """Turn one verbatim instrument file into an engine definition."""
    code = source["code"]
    scored = source["scoring"]["items_scored"]
    if [item["linkId"] for item in source["items"]] != scored:
        raise DefinitionError(f"{code}: the scored items are not the listed items")
    items = [
        _with_code(
            {
                "linkId": item["linkId"],
                "type": "choice",
                "text": item["text"],
                "required": True,
                "answerOption": _options(source["answer_options"], scored=True),
            },
            item.get("loinc"),
        )
        for item in source["items"]
    ]
    items += [_extra_item(extra, scored, code) for extra in source.get("extra_items", [])]
    return {
        "code": code,
        "version": source["version"],
        "title": source["title"],
        "description": _description(source),
        "kind": "instrument",
        "scoring": code,
        "loinc": dict(source["loinc"]),
        "licence": source["licence"],
        "sources": list(source["sources"]),
        "item": items,
    }


def _checked(definition: dict[str, Any]) -> dict[str, Any]:
    errors = validate_definition(definition)
    if errors:
        raise DefinitionError(f"Shipped definition {definition.get('code')!r} is invalid", errors)
    return definition


@cache
def _definitions() -> dict[str, dict[str, Any]]:
    loaded = {code: _checked(convert_instrument(_read_json("source", f"{code}.json"))) for code in INSTRUMENT_CODES}
    loaded |= {code: _checked(_read_json(f"{code}.json")) for code in CANDIDACY_CODES}
    for code, definition in loaded.items():
        if definition["code"] != code:
            raise DefinitionError(f"{code}.json declares code {definition['code']!r}")
    return loaded


def shipped_definitions() -> list[dict[str, Any]]:
    """The six shipped definitions (instruments, then candidacy questionnaires), each a fresh copy."""
    return [copy.deepcopy(definition) for definition in _definitions().values()]


def instrument_definition(code: str) -> dict[str, Any]:
    """A fresh copy of one shipped definition by code; ``KeyError`` for a code that is not shipped."""
    return copy.deepcopy(_definitions()[code])
