"""Checks shared by the config sections: a mapping where one is expected, known and
required keys, and the entries of a section (each a mapping, `name: null` skipped). Every
mistake is a ValueError that names the key."""
from __future__ import annotations

from typing import Any, Mapping


def mapping(raw: Any, where: str) -> Mapping:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"config {where} must be a mapping")
    return raw


def keys(value: Mapping, where: str, allowed: set[str], required: set[str]) -> None:
    unknown = set(value) - allowed
    if unknown:
        raise ValueError(f"config {where}: unknown keys {', '.join(sorted(unknown))}")
    missing = required - set(value)
    if missing:
        raise ValueError(f"config {where}: missing {', '.join(sorted(missing))}")


def entries(raw: Any, section: str):
    """(name, "section.name", mapping) for each entry of a section; `name: null` (an
    overlay removing an entry) is skipped."""
    for name, value in mapping(raw, section).items():
        if value is not None:
            where = f"{section}.{name}"
            yield name, where, mapping(value, where)
