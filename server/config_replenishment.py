"""The `replenishment:` part of config.yaml: how often the replenishment worker checks
every pick face (the safety net behind the after-commit wake-ups), and pick-face levels
(min / max per location and SKU) the server applies at start to faces that have none set
yet (a supervisor's change through the API or a stock CSV wins: it is never overwritten).

    replenishment:
      sweep_every_seconds: 30        # the worker checks every pick face this often (0 = wake-ups only)
      levels:                        # warehouse/location/sku: {min: N, max: M}
        main/A-01-02-3/WP-TEE-BLK-M: {min: 12, max: 120}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config_checks import entries as _entries, keys as _keys, mapping as _mapping
from .domain.locations import parse_location


@dataclass(frozen=True)
class Level:
    warehouse: str
    location: str
    sku: str
    min_qty: int
    max_qty: int


@dataclass(frozen=True)
class ReplenishmentConfig:
    sweep_every_seconds: float = 30.0
    levels: tuple[Level, ...] = field(default_factory=tuple)


MAX_LEVEL = 2**31 - 1


def check_levels(min_qty: object, max_qty: object) -> str | None:
    """What is wrong with a min / max pair (None: nothing). max 0 means 'not set'."""
    for name, value in (("min", min_qty), ("max", max_qty)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LEVEL:
            return f"{name} must be a whole number from 0 to {MAX_LEVEL}"
    if max_qty and max_qty < min_qty:
        return f"max ({max_qty}) must be at least min ({min_qty}), or 0 (not set)"
    return None


def replenishment_config(raw: Any) -> ReplenishmentConfig:
    section = _mapping(raw, "replenishment")
    _keys(section, "replenishment", {"sweep_every_seconds", "levels"}, set())
    every = section.get("sweep_every_seconds", 30.0)
    if isinstance(every, bool) or not isinstance(every, (int, float)) or every < 0:
        raise ValueError("config replenishment.sweep_every_seconds: a number of seconds "
                         f"(0 = off), not {every!r}")
    levels = []
    for name, where, value in _entries(section.get("levels"), "replenishment.levels"):
        parts = str(name).split("/")
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise ValueError(f"config {where}: the key is warehouse/location/sku")
        try:
            loc = parse_location(parts[1]).code
        except ValueError as err:
            raise ValueError(f"config {where}: {err}") from None
        _keys(value, where, {"min", "max"}, {"min"})
        low, high = value.get("min"), value.get("max", 0)
        problem = check_levels(low, high)
        if problem:
            raise ValueError(f"config {where}: {problem}")
        levels.append(Level(parts[0].strip(), loc, parts[2].strip(), low, high))
    return ReplenishmentConfig(float(every), tuple(levels))
