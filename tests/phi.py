"""A registry of the personal values a test created, so the log scan can look for them."""

from __future__ import annotations

import re
from collections.abc import Iterable

_registry: set[str] = set()


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
    leaks = []
    for value in values:
        pattern = re.compile(rf"(?<![\w@.+-]){re.escape(value)}(?![\w@.-])", re.IGNORECASE)
        leaks += [(name, value) for name, text in texts if pattern.search(text)]
    return sorted(set(leaks))
