"""Warehouse layout (aisles, bays, cross aisles, depot) and the walking-distance model.

Aisle k (0-based, A = 0) runs along x = k × aisle_spacing_m; bay i (1-based, counted
from the front over the whole aisle) is picked from the aisle centre line at
y = (i − 0.5) × bay_length_m. Cross aisles lie at evenly spaced y from 0 (front) to
bays_per_aisle × bay_length_m (back); the depot sits at the front or back end of its
aisle. People walk along aisles and cross aisles only; cross-aisle widths are ignored.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .locations import MAX_BAY, LocationCode, aisle_index, parse_location

LAYOUT_KEYS = ("aisles", "bays_per_aisle", "bay_length_m", "aisle_spacing_m",
               "cross_aisles", "depot")
DEPOT_KEYS = ("aisle", "at")
DEPOT_ENDS = ("front", "back")
MAX_AISLES = 26 + 26 * 26 + 26 ** 3     # what 1-3 letter aisle names can address


class Point(NamedTuple):
    """A place on the walking network: an aisle (0-based) and a distance from its front."""
    aisle: int
    y: float


@dataclass(frozen=True)
class Depot:
    """Where every pick walk starts and ends: the front or back end of an aisle."""
    aisle: str
    at: str

    def __post_init__(self) -> None:
        if not isinstance(self.aisle, str):
            raise ValueError(f"depot.aisle must be an aisle name like 'A', not {self.aisle!r}")
        aisle_index(self.aisle)   # raises ValueError on a bad name
        if self.aisle != self.aisle.upper():
            object.__setattr__(self, "aisle", self.aisle.upper())
        if self.at not in DEPOT_ENDS:
            raise ValueError(f"depot.at must be 'front' or 'back', not {self.at!r}")


def _count(name: str, value: Any, low: int, high: int) -> int:
    # bool is an int subclass; `aisles: true` is a typo, not 1 aisle
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _metres(name: str, value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number of metres, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of metres, not {value!r}")
    return float(value)


def _exact_keys(what: str, data: Any, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{what} must be a mapping with keys {', '.join(keys)}")
    unknown = sorted(str(k) for k in data if k not in keys)
    if unknown:
        raise ValueError(f"unknown {what} key(s): {', '.join(unknown)}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError(f"missing {what} key(s): {', '.join(missing)}")
    return data


@dataclass(frozen=True)
class Layout:
    """One warehouse's pick area. Build it with `Layout.from_mapping(config_block)`."""
    aisles: int
    bays_per_aisle: int
    bay_length_m: float
    aisle_spacing_m: float
    cross_aisles: int
    depot: Depot

    def __post_init__(self) -> None:
        _count("aisles", self.aisles, 1, MAX_AISLES)
        _count("bays_per_aisle", self.bays_per_aisle, 1, MAX_BAY)
        object.__setattr__(self, "bay_length_m", _metres("bay_length_m", self.bay_length_m))
        object.__setattr__(self, "aisle_spacing_m",
                           _metres("aisle_spacing_m", self.aisle_spacing_m))
        # more cross aisles than bay boundaries would make blocks shorter than a bay
        _count("cross_aisles", self.cross_aisles, 2, self.bays_per_aisle + 1)
        if not isinstance(self.depot, Depot):
            raise ValueError("depot must be a Depot")
        if aisle_index(self.depot.aisle) >= self.aisles:
            raise ValueError(f"depot.aisle {self.depot.aisle} is outside the "
                             f"{self.aisles} aisle(s) of this layout")

    @classmethod
    def from_mapping(cls, data: Any) -> Layout:
        """Validate a layout block (e.g. from yaml.safe_load); ValueError says what is wrong."""
        data = _exact_keys("layout", data, LAYOUT_KEYS)
        depot = _exact_keys("depot", data["depot"], DEPOT_KEYS)
        return cls(aisles=data["aisles"], bays_per_aisle=data["bays_per_aisle"],
                   bay_length_m=data["bay_length_m"], aisle_spacing_m=data["aisle_spacing_m"],
                   cross_aisles=data["cross_aisles"],
                   depot=Depot(aisle=depot["aisle"], at=depot["at"]))

    def to_mapping(self) -> dict[str, Any]:
        """The layout block, as `from_mapping` reads it."""
        return {"aisles": self.aisles, "bays_per_aisle": self.bays_per_aisle,
                "bay_length_m": self.bay_length_m, "aisle_spacing_m": self.aisle_spacing_m,
                "cross_aisles": self.cross_aisles,
                "depot": {"aisle": self.depot.aisle, "at": self.depot.at}}

    @property
    def aisle_length_m(self) -> float:
        """Front-to-back length of every aisle: the y of the back cross aisle."""
        return self.bays_per_aisle * self.bay_length_m

    @property
    def one_block(self) -> bool:
        """True when only the front and back cross aisles exist."""
        return self.cross_aisles == 2

    def cross_aisle_ys(self) -> tuple[float, ...]:
        """The y of each cross aisle, front (0) to back."""
        blocks = self.cross_aisles - 1
        return tuple(self.aisle_length_m * c / blocks for c in range(self.cross_aisles))

    def depot_point(self) -> Point:
        """Where walks start and end."""
        y = 0.0 if self.depot.at == "front" else self.aisle_length_m
        return Point(aisle_index(self.depot.aisle), y)

    def point(self, location: str | LocationCode) -> Point:
        """Where a location is picked from; ValueError when it is outside this layout."""
        loc = location if isinstance(location, LocationCode) else parse_location(location)
        if loc.aisle_index >= self.aisles:
            raise ValueError(f"location {loc.code}: aisle {loc.aisle} is outside the "
                             f"{self.aisles} aisle(s) of this layout")
        if not 1 <= loc.bay <= self.bays_per_aisle:
            raise ValueError(f"location {loc.code}: bay {loc.bay} is outside 1-"
                             f"{self.bays_per_aisle}")
        return Point(loc.aisle_index, (loc.bay - 0.5) * self.bay_length_m)

    def walk(self, p: Point, q: Point) -> float:
        """Shortest walk between two points along aisles and cross aisles."""
        if p.aisle == q.aisle:
            return abs(p.y - q.y)
        across = abs(p.aisle - q.aisle) * self.aisle_spacing_m
        return across + min(abs(p.y - c) + abs(q.y - c) for c in self.cross_aisle_ys())

    def distance(self, a: str | LocationCode, b: str | LocationCode) -> float:
        """Shortest walk in metres between two locations of this layout."""
        return self.walk(self.point(a), self.point(b))
