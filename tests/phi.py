"""A registry of the personal values a test created, so the log scan can look for them."""

from __future__ import annotations

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
