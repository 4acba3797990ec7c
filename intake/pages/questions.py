"""Questionnaire definitions as HTML form fields, and posted HTML form data as answers.

This module only translates between encodings; it never decides whether an answer is valid.
Posted strings are converted to the JSON types the engine expects where the conversion is
unambiguous ("true" -> True, "12" -> 12, an option's value); anything else is passed through
unchanged, so ``intake.engine.clean_answers`` (run by ``form_draft_save`` / ``form_submit``)
refuses it with its own message, exactly as it would refuse the same value from the JSON API.

Field names: a top-level question posts under its linkId; a question in a repeating group posts
under ``<group>.<row>.<linkId>`` (the engine's error path, so errors map back to fields 1:1), and
each rendered row posts ``_row.<group>=<row>`` so that a row left blank still exists on re-render.
linkIds cannot contain ".", so these names never collide with a question.

Visibility uses ``engine.is_enabled`` on cleaned answers, walking in document order with the
parent's state, which is how the engine itself decides what is hidden.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict
from django.utils import formats
from django.utils.translation import gettext_lazy as _

from intake import engine

# One HTML form's worth of answers as strings: a question's key maps to its posted values; a
# repeating group's linkId maps to its rows, each a dict of child linkId -> posted values.
State = dict[str, Any]

MAX_ROWS = 200  # far above any maxRepeats; bounds the work a crafted POST can cause
_INT_RE = re.compile(r"[+-]?[0-9]{1,15}")
_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]{1,15}(?:\.[0-9]{0,15})?|\.[0-9]{1,15})")
ROW_MARKER = "_row."


def _is_repeating_group(item: Mapping[str, Any]) -> bool:
    return item["type"] == "group" and bool(item.get("repeats"))


def _answerable(items: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Questions and repeating groups answered at this level, looking through plain groups."""
    for item in items:
        if item["type"] == "group" and not item.get("repeats"):
            yield from _answerable(item["item"])
        elif item["type"] != "display":
            yield item


# --- posted data <-> state -------------------------------------------------------------------------


def state_from_post(definition: Mapping[str, Any], data: QueryDict) -> State:
    state: State = {}
    for item in _answerable(definition["item"]):
        link_id = item["linkId"]
        if _is_repeating_group(item):
            state[link_id] = _rows_from_post(item, data)
        else:
            values = [v for v in data.getlist(link_id) if v != ""]
            if values:
                state[link_id] = values
    return state


def _rows_from_post(group: Mapping[str, Any], data: QueryDict) -> list[dict[str, list[str]]]:
    prefix = f"{group['linkId']}."
    indexes: set[int] = set()
    for value in data.getlist(f"{ROW_MARKER}{group['linkId']}"):
        if value.isdigit() and len(value) < 6:
            indexes.add(int(value))
    for key in data:
        if key.startswith(prefix):
            head = key[len(prefix) :].split(".", 1)[0]
            if head.isdigit() and len(head) < 6:
                indexes.add(int(head))
    rows = []
    for index in sorted(indexes)[:MAX_ROWS]:
        row: dict[str, list[str]] = {}
        for child in _answerable(group["item"]):
            values = [v for v in data.getlist(f"{prefix}{index}.{child['linkId']}") if v != ""]
            if values:
                row[child["linkId"]] = values
        rows.append(row)
    return rows


def _to_strings(value: Any) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, list):
        return [s for v in value for s in _to_strings(v)]
    if value is None:
        return []
    return [str(value)]


def state_from_answers(definition: Mapping[str, Any], answers: Mapping[str, Any]) -> State:
    state: State = {}
    for item in _answerable(definition["item"]):
        link_id = item["linkId"]
        if link_id not in answers:
            continue
        if _is_repeating_group(item):
            rows = answers[link_id] if isinstance(answers[link_id], list) else []
            state[link_id] = [{k: _to_strings(v) for k, v in row.items()} for row in rows if isinstance(row, Mapping)]
        else:
            state[link_id] = _to_strings(answers[link_id])
    return state


def _coerce(item: Mapping[str, Any], values: list[str]) -> Any:
    """Posted strings as the JSON value the engine expects; unrecognised input passes unchanged."""
    kind = item["type"]
    if kind == "choice":
        options = item["answerOption"]

        def option_value(raw: str) -> Any:
            return next((o["value"] for o in options if str(o["value"]) == raw), raw)

        if item.get("repeats"):
            return [option_value(v) for v in values]
        return option_value(values[0])
    raw = values[0]
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    text = raw.strip()
    if kind == "integer" and _INT_RE.fullmatch(text):
        return int(text)
    if kind == "decimal" and _DECIMAL_RE.fullmatch(text):
        number = float(text)
        return int(number) if _INT_RE.fullmatch(text) else number
    return raw


def answers_from_state(definition: Mapping[str, Any], state: State) -> dict[str, Any]:
    """The answers to hand to ``form_draft_save``; blank rows stay so error paths keep their index."""
    answers: dict[str, Any] = {}
    for item in _answerable(definition["item"]):
        link_id = item["linkId"]
        if link_id not in state:
            continue
        if _is_repeating_group(item):
            children = {c["linkId"]: c for c in _answerable(item["item"])}
            answers[link_id] = [
                {k: _coerce(children[k], v) for k, v in row.items() if k in children and v} for row in state[link_id]
            ]
        elif state[link_id]:
            answers[link_id] = _coerce(item, state[link_id])
    return answers


def without_refused(definition: Mapping[str, Any], answers: dict[str, Any], errors: Mapping[str, Any]) -> dict:
    """``answers`` minus the values the service refused (error paths without the ``answers.`` prefix).

    Lets the valid rest of a page be saved while the refused values are shown back with their
    message: the patient loses nothing they typed correctly.
    """
    pruned = json.loads(json.dumps(answers))
    groups = {i["linkId"]: i for i in _answerable(definition["item"]) if _is_repeating_group(i)}
    for path in errors:
        parts = path.split(".")
        head = parts[0]
        if len(parts) == 1:
            if head in groups and isinstance(pruned.get(head), list) and groups[head].get("maxRepeats"):
                pruned[head] = pruned[head][: groups[head]["maxRepeats"]]
            else:
                pruned.pop(head, None)
        elif len(parts) >= 2 and isinstance(pruned.get(head), list) and parts[1].isdigit():
            index = int(parts[1])
            if index < len(pruned[head]):
                if len(parts) == 2:
                    pruned[head][index] = {}
                elif isinstance(pruned[head][index], dict):
                    pruned[head][index].pop(parts[2], None)
    return pruned


def add_row(state: State, group: str) -> int:
    rows = state.setdefault(group, [])
    rows.append({})
    return len(rows) - 1


def remove_row(state: State, group: str, index: int) -> None:
    rows = state.get(group)
    if isinstance(rows, list) and 0 <= index < len(rows):
        del rows[index]


def first_question_key(definition: Mapping[str, Any], group: str, index: int) -> str | None:
    """The field key of a row's first question, to put the cursor in a row just added."""
    for item in _answerable(definition["item"]):
        if item["linkId"] == group:
            first = next(_answerable(item["item"]), None)
            return f"{group}.{index}.{first['linkId']}" if first else None
    return None


def repeating_groups(definition: Mapping[str, Any]) -> set[str]:
    return {i["linkId"] for i in _answerable(definition["item"]) if _is_repeating_group(i)}


# --- visibility ------------------------------------------------------------------------------------


@dataclass
class _Visibility:
    """Cleaned answers to test enableWhen against: the top level, and each posted row by its index."""

    top: dict[str, Any]
    rows: dict[str, list[dict[str, Any]]]

    @classmethod
    def of(cls, definition: dict, answers: dict[str, Any]) -> _Visibility:
        top = engine.clean_answers(definition, answers, complete=False).answers
        rows: dict[str, list[dict[str, Any]]] = {}
        for group in repeating_groups(definition):
            raw_rows = answers.get(group)
            if not isinstance(raw_rows, list):
                continue
            others = {k: v for k, v in answers.items() if k != group}
            cleaned_rows = []
            for raw_row in raw_rows:
                # One row at a time, so a blank row dropped by the engine does not shift the others.
                cleaned = engine.clean_answers(definition, {**others, group: [raw_row]}, complete=False).answers
                cleaned_rows.append((cleaned.get(group) or [{}])[0])
            rows[group] = cleaned_rows
        return cls(top=top, rows=rows)

    def enabled(self, item: Mapping[str, Any], row: dict[str, Any] | None) -> bool:
        return engine.is_enabled(item, self.top, row)


# --- rendering -------------------------------------------------------------------------------------


@dataclass
class Option:
    id: str
    value: str
    json: str
    display: str
    checked: bool


@dataclass
class Row:
    group: str
    index: int
    id: str
    children: list[Node]
    autofocus: bool = False

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def remove_action(self) -> str:
        return f"remove:{self.group}:{self.index}"


@dataclass
class Node:
    """One item of a definition as the template draws it."""

    item: Mapping[str, Any]
    key: str
    hidden: bool
    row: int | None = None
    group: str | None = None
    errors: list[str] = field(default_factory=list)
    value: str = ""
    options: list[Option] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    autofocus: bool = False

    @property
    def kind(self) -> str:
        kind = self.item["type"]
        if kind == "group":
            return "repeat" if self.item.get("repeats") else "section"
        if kind == "choice" and self.item.get("repeats"):
            return "multi"
        return kind

    @property
    def link_id(self) -> str:
        return self.item["linkId"]

    @property
    def text(self) -> str:
        return self.item.get("text") or ""

    @property
    def help(self) -> str:
        return self.item.get("help") or ""

    @property
    def required(self) -> bool:
        return bool(self.item.get("required"))

    @property
    def container_id(self) -> str:
        return f"q-{self.key}"

    @property
    def input_id(self) -> str:
        return f"f-{self.key}"

    @property
    def error_id(self) -> str:
        return f"e-{self.key}"

    @property
    def help_id(self) -> str:
        return f"h-{self.key}"

    @property
    def anchor(self) -> str:
        """The element an error summary link moves focus to."""
        if self.options:
            return self.options[0].id
        if self.kind in ("section", "repeat", "display"):
            return self.container_id
        return self.input_id

    @property
    def is_question(self) -> bool:
        return self.kind not in ("section", "display", "repeat")

    @property
    def is_group_of_choices(self) -> bool:
        return self.kind in ("boolean", "choice", "multi")

    @property
    def describedby(self) -> str:
        ids = []
        if self.help:
            ids.append(self.help_id)
        if self.errors:
            ids.append(self.error_id)
        return " ".join(ids)

    @property
    def enable_when(self) -> str:
        conditions = self.item.get("enableWhen")
        return json.dumps(conditions, separators=(",", ":")) if conditions else ""

    @property
    def enable_behavior(self) -> str:
        return self.item.get("enableBehavior", "all")

    @property
    def max_length(self) -> int | None:
        if self.kind in ("string", "text"):
            return self.item.get("maxLength", engine.DEFAULT_MAX_LENGTH[self.kind])
        return None

    @property
    def min_value(self) -> Any:
        return self.item.get("minValue")

    @property
    def max_value(self) -> Any:
        return self.item.get("maxValue")

    @property
    def input_mode(self) -> str:
        return {"integer": "numeric", "decimal": "decimal"}.get(self.kind, "")


BOOLEAN_OPTIONS = ((True, _("Yes")), (False, _("No")))


@dataclass
class _Builder:
    errors: Mapping[str, list[str]]
    visibility: _Visibility
    focus: str | None
    all_nodes: list[Node] = field(default_factory=list)

    def nodes(
        self, items: Sequence[Mapping[str, Any]], values: Mapping[str, Any], *, parent_enabled: bool, row: tuple | None
    ) -> list[Node]:
        built = []
        for item in items:
            built.append(self.node(item, values, parent_enabled=parent_enabled, row=row))
        return built

    def node(
        self, item: Mapping[str, Any], values: Mapping[str, Any], *, parent_enabled: bool, row: tuple | None
    ) -> Node:
        group, index, cleaned_row = row if row else (None, None, None)
        prefix = f"{group}.{index}." if group is not None else ""
        link_id = item.get("linkId", "")
        key = f"{prefix}{link_id}"
        enabled = parent_enabled and self.visibility.enabled(item, cleaned_row)
        node = Node(item=item, key=key, hidden=not enabled, row=index, group=group)
        node.errors = [str(m) for m in self.errors.get(key, ())]
        self.all_nodes.append(node)
        kind = node.kind
        if kind == "section":
            node.children = self.nodes(item["item"], values, parent_enabled=enabled, row=row)
        elif kind == "repeat":
            node.rows = self.rows(item, values.get(link_id) or [], enabled=enabled)
        elif kind in ("boolean", "choice", "multi"):
            chosen = set(values.get(link_id) or ())
            pairs = BOOLEAN_OPTIONS if kind == "boolean" else [(o["value"], o["display"]) for o in item["answerOption"]]
            node.options = [
                Option(
                    id=f"f-{key}-{i}",
                    value=_to_strings(value)[0],
                    json=json.dumps(value),
                    display=str(display),
                    checked=_to_strings(value)[0] in chosen,
                )
                for i, (value, display) in enumerate(pairs)
            ]
        elif kind != "display":
            node.value = (values.get(link_id) or [""])[0]
        # A repeating group "focuses" its Add button (after a row was removed).
        node.autofocus = self.focus is not None and self.focus == (f"{key}.add" if kind == "repeat" else key)
        return node

    def rows(self, group: Mapping[str, Any], rows: list[dict], *, enabled: bool) -> list[Row]:
        link_id = group["linkId"]
        if not rows:
            rows = [{}]  # an empty first entry to fill in, not stored until something is typed
        cleaned_rows = self.visibility.rows.get(link_id, [])
        built = []
        for index, values in enumerate(rows):
            cleaned = cleaned_rows[index] if index < len(cleaned_rows) else {}
            children = self.nodes(group["item"], values, parent_enabled=enabled, row=(link_id, index, cleaned))
            built.append(Row(group=link_id, index=index, id=f"r-{link_id}.{index}", children=children))
        return built


@dataclass
class Page:
    nodes: list[Node]
    all_nodes: list[Node]

    def visible_keys(self) -> list[str]:
        return [n.key for n in self.all_nodes if not n.hidden and n.kind not in ("section", "display")]

    def error_list(self) -> list[tuple[Node, str]]:
        return [(n, m) for n in self.all_nodes for m in n.errors]


def build_page(
    definition: dict,
    state: State,
    *,
    errors: Mapping[str, list[str]] | None = None,
    focus: str | None = None,
) -> Page:
    """Nodes to render ``state``, hidden where enableWhen is false, with ``errors`` beside their field."""
    visibility = _Visibility.of(definition, answers_from_state(definition, state))
    builder = _Builder(errors=errors or {}, visibility=visibility, focus=focus)
    nodes = builder.nodes(definition["item"], state, parent_enabled=True, row=None)
    keys = {n.key for n in builder.all_nodes}
    # An error whose field is not on the page (e.g. a whole-questionnaire message) still shows.
    stray = [k for k in (errors or {}) if k not in keys]
    if stray:
        holder = Node(item={"linkId": "", "type": "display", "text": ""}, key="page", hidden=False)
        holder.errors = [str(m) for k in stray for m in (errors or {})[k]]
        builder.all_nodes.insert(0, holder)
    return Page(nodes=nodes, all_nodes=builder.all_nodes)


# --- review ----------------------------------------------------------------------------------------


@dataclass
class Entry:
    """One answered (or unanswered but shown) question on the review page."""

    key: str
    text: str
    answer: str
    answered: bool
    rows: list[list[Entry]] = field(default_factory=list)


def _display(item: Mapping[str, Any], value: Any) -> str:
    kind = item["type"]
    if kind == "boolean":
        return str(_("Yes") if value is True else _("No"))
    if kind == "choice":
        labels = {json.dumps(o["value"]): o["display"] for o in item["answerOption"]}
        values = value if isinstance(value, list) else [value]
        return ", ".join(labels.get(json.dumps(v), str(v)) for v in values)
    if kind == "date" and isinstance(value, str):
        try:
            return formats.date_format(dt.date.fromisoformat(value), "DATE_FORMAT")
        except ValueError:
            return value
    return str(value)


def review_entries(definition: dict, answers: Mapping[str, Any]) -> list[Entry]:
    """The questions the patient was shown, in order, with their saved answer."""
    entries: list[Entry] = []

    def walk(items, values, *, enabled_parent: bool, row: Mapping | None, prefix: str, out: list[Entry]):
        for item in items:
            enabled = enabled_parent and engine.is_enabled(item, answers, row)
            if not enabled or item["type"] == "display":
                continue
            if item["type"] == "group" and not item.get("repeats"):
                walk(item["item"], values, enabled_parent=True, row=row, prefix=prefix, out=out)
                continue
            key = f"{prefix}{item['linkId']}"
            value = values.get(item["linkId"])
            if item["type"] == "group":
                rows = []
                for index, row_values in enumerate(value or []):
                    row_entries: list[Entry] = []
                    walk(
                        item["item"],
                        row_values,
                        enabled_parent=True,
                        row=row_values,
                        prefix=f"{key}.{index}.",
                        out=row_entries,
                    )
                    rows.append(row_entries)
                out.append(Entry(key=key, text=item.get("text") or "", answer="", answered=bool(rows), rows=rows))
                continue
            answered = value is not None and value not in ([], "")
            out.append(
                Entry(
                    key=key,
                    text=item["text"],
                    answer=_display(item, value) if answered else "",
                    answered=answered,
                )
            )

    walk(definition["item"], answers, enabled_parent=True, row=None, prefix="", out=entries)
    return entries
