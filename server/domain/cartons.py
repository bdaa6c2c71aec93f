"""Carton choice, packing instructions and the scale check at the packing bench (pure: no I/O).

``choose_carton(items, cartons)`` returns the smallest carton type (by inner volume, ties
by name) into which a first-fit-decreasing packer can place every unit, with the gross
weight (items + tare) at most the carton's ``max_weight_g``. The result carries one
``Placement`` (x, y, z, l, w, h in mm, origin at a bottom corner of the carton, z up) per
unit. When no carton works it raises ``NoCartonFits`` (code ``no_carton_fits``) with the
reason per carton type; the caller splits the order into several parcels or holds it.

The packer (extreme points, first fit, decreasing volume):

* every unit of every line is expanded, then sorted by volume, then longest side, then
  SKU, all descending except SKU (deterministic);
* candidate corners ("extreme points") start at (0, 0, 0); each unit goes to the first
  corner, in bottom-back-left order (z, y, x), and the first orientation, flattest first,
  where it stays inside the carton and overlaps no placed unit; placing it adds the three
  corners at its far x, far y and top faces;
* rotation: any of the six axis-aligned orientations, except that a unit with an
  ``UPRIGHT_FLAGS`` flag (``liquid``) may only turn about the vertical axis (its height
  stays its height).

Limits, on purpose:

* heuristic, not optimal: it may say "does not fit" for a set an optimal packer could
  fit (corners are not projected onto lower faces, a unit is never moved once placed,
  no backtracking). Its answers are always *safe*: every returned layout is inside the
  carton and free of overlaps, which the tests check on random input;
* no stability or support: a unit may "float" over a gap or overhang; no load bearing
  (a heavy unit may sit on a fragile one); no weight distribution;
* orientation constraints only from the flags above; boxes only (a bottle is its
  bounding box); no allowance for bubble wrap or fill, so carton sizes in config should
  be the usable inner size;
* cost grows about with the cube of the unit count: meant for an order's parcel
  (tens of units), not a pallet.

``packing_instructions(items)`` turns handling flags into the materials and instructions
shown at the station, from the ``HANDLING_RULES`` table. ``check_weight`` compares the
expected gross weight with the scale reading within a tolerance.

Bad input (sizes, weights or quantities that are not positive whole numbers, unknown
flags, no items, no cartons, duplicate carton names) raises ``ValueError``.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import permutations

from .errors import DomainError

# flag -> the steps it asks for at the bench: (code, material or None, instruction text).
# Data, not branches: a new flag is one more row here.
HANDLING_RULES: dict[str, tuple[tuple[str, str | None, str], ...]] = {
    "fragile": (
        ("bubble_wrap", "bubble wrap", "Wrap each unit in bubble wrap"),
        ("void_fill", "void fill", "Fill every gap so nothing can move"),
        ("mark_fragile", "FRAGILE label", "FRAGILE: mark the carton FRAGILE on two sides"),
    ),
    "liquid": (
        ("sealed_bag", "sealed plastic bag", "Seal each unit in a plastic bag"),
        ("keep_upright", "THIS WAY UP label", "Keep upright: pack standing, mark THIS WAY UP"),
    ),
    "high_value": (
        ("tamper_tape", "tamper-evident tape", "Seal the carton with tamper-evident tape"),
    ),
}
KNOWN_FLAGS = frozenset(HANDLING_RULES)
# Flags whose units may only turn about the vertical axis (never laid on their side).
UPRIGHT_FLAGS = frozenset({"liquid"})


def _positive_int(owner: str, name: str, value: object, *, allow_zero: bool = False) -> None:
    # bool is an int subclass: True mm is a bug upstream, not a size.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{owner}: {name} must be a whole number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        need = "zero or more" if allow_zero else "greater than zero"
        raise ValueError(f"{owner}: {name} must be {need}, got {value}")


@dataclass(frozen=True)
class CartonType:
    """A carton from config: usable inner size in mm, maximum gross weight and tare in g."""

    name: str
    length_mm: int
    width_mm: int
    height_mm: int
    max_weight_g: int
    tare_g: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"carton: name must be a non-empty string, got {self.name!r}")
        owner = f"carton {self.name!r}"
        for dim in ("length_mm", "width_mm", "height_mm", "max_weight_g"):
            _positive_int(owner, dim, getattr(self, dim))
        _positive_int(owner, "tare_g", self.tare_g, allow_zero=True)
        if self.tare_g >= self.max_weight_g:
            raise ValueError(f"{owner}: tare_g ({self.tare_g}) must be below "
                             f"max_weight_g ({self.max_weight_g})")

    @property
    def dims(self) -> tuple[int, int, int]:
        return (self.length_mm, self.width_mm, self.height_mm)

    @property
    def inner_volume_mm3(self) -> int:
        return self.length_mm * self.width_mm * self.height_mm


@dataclass(frozen=True)
class PackItem:
    """One order line at the bench: size of one unit (mm, height = upright), weight per
    unit (g, 0 allowed for a leaflet), quantity and handling flags."""

    sku: str
    length_mm: int
    width_mm: int
    height_mm: int
    weight_g: int
    quantity: int = 1
    flags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not isinstance(self.sku, str) or not self.sku.strip():
            raise ValueError(f"item: sku must be a non-empty string, got {self.sku!r}")
        owner = f"item {self.sku!r}"
        for dim in ("length_mm", "width_mm", "height_mm", "quantity"):
            _positive_int(owner, dim, getattr(self, dim))
        _positive_int(owner, "weight_g", self.weight_g, allow_zero=True)
        if isinstance(self.flags, str):  # frozenset("liquid") would be its letters
            raise ValueError(f"{owner}: flags must be a collection of flag names, "
                             f"not the string {self.flags!r}")
        flags = frozenset(self.flags)
        unknown = sorted(str(f) for f in flags - KNOWN_FLAGS)
        if unknown:
            raise ValueError(f"{owner}: unknown handling flag(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(KNOWN_FLAGS))}")
        object.__setattr__(self, "flags", flags)

    @property
    def dims(self) -> tuple[int, int, int]:
        return (self.length_mm, self.width_mm, self.height_mm)

    @property
    def upright(self) -> bool:
        return bool(self.flags & UPRIGHT_FLAGS)


@dataclass(frozen=True)
class Placement:
    """Where one unit sits: corner (x, y, z) and its extent (l along x, w along y, h up)."""

    sku: str
    line: int  # index of the item in the list given to the packer
    unit: int  # 1..quantity within that line
    x: int
    y: int
    z: int
    l: int  # noqa: E741 - the issue's own name for the length along x
    w: int
    h: int

    def overlaps(self, other: Placement) -> bool:
        return (self.x < other.x + other.l and other.x < self.x + self.l
                and self.y < other.y + other.w and other.y < self.y + self.w
                and self.z < other.z + other.h and other.z < self.z + self.h)


@dataclass(frozen=True)
class PackResult:
    """A carton that takes every unit, the layout, and the weights in grams."""

    carton: CartonType
    placements: tuple[Placement, ...]
    net_weight_g: int
    gross_weight_g: int

    @property
    def fill_ratio(self) -> float:
        used = sum(p.l * p.w * p.h for p in self.placements)
        return used / self.carton.inner_volume_mm3


class NoCartonFits(DomainError):
    """No configured carton takes the whole set; ``detail`` gives the reason per carton
    (``too_heavy``, ``item_too_large``, ``no_room``). Split the order or hold it."""

    code, status = "no_carton_fits", 409


def _orientations(item: PackItem) -> list[tuple[int, int, int]]:
    """Distinct (l, w, h) orientations allowed for the item, flattest first."""
    if item.upright:
        l, w, h = item.dims  # noqa: E741
        found = {(l, w, h), (w, l, h)}
    else:
        found = set(permutations(item.dims))
    return sorted(found, key=lambda d: (d[2], d[1], d[0]))


def _fits_inside(dims: tuple[int, int, int], carton: CartonType) -> bool:
    return all(a <= b for a, b in zip(dims, carton.dims))


def _units(items: Sequence[PackItem]) -> list[tuple[int, int, PackItem]]:
    """(line, unit, item) for every unit, in first-fit-decreasing order."""
    units = [(line, unit, item) for line, item in enumerate(items)
             for unit in range(1, item.quantity + 1)]
    units.sort(key=lambda u: (-u[2].length_mm * u[2].width_mm * u[2].height_mm,
                              -max(u[2].dims), u[2].sku, u[0], u[1]))
    return units


def _place_unit(item: PackItem, line: int, unit: int, carton: CartonType,
                corners: list[tuple[int, int, int]],
                placed: list[Placement]) -> Placement | None:
    orientations = _orientations(item)
    for x, y, z in sorted(corners, key=lambda c: (c[2], c[1], c[0])):
        for l, w, h in orientations:  # noqa: E741
            if x + l > carton.length_mm or y + w > carton.width_mm or z + h > carton.height_mm:
                continue
            candidate = Placement(item.sku, line, unit, x, y, z, l, w, h)
            if not any(candidate.overlaps(p) for p in placed):
                return candidate
    return None


def _pack_layout(items: Sequence[PackItem], carton: CartonType) -> list[Placement] | str:
    """The layout, or the reason it failed (``item_too_large`` / ``no_room``)."""
    for item in items:
        if not any(_fits_inside(d, carton) for d in _orientations(item)):
            return "item_too_large"
    total = sum(i.length_mm * i.width_mm * i.height_mm * i.quantity for i in items)
    if total > carton.inner_volume_mm3:
        return "no_room"
    corners: list[tuple[int, int, int]] = [(0, 0, 0)]
    placed: list[Placement] = []
    for line, unit, item in _units(items):
        p = _place_unit(item, line, unit, carton, corners, placed)
        if p is None:
            return "no_room"
        placed.append(p)
        corners.remove((p.x, p.y, p.z))
        for corner in ((p.x + p.l, p.y, p.z), (p.x, p.y + p.w, p.z), (p.x, p.y, p.z + p.h)):
            inside = (corner[0] < carton.length_mm and corner[1] < carton.width_mm
                      and corner[2] < carton.height_mm)
            if inside and corner not in corners:
                corners.append(corner)
    return placed


def _try_carton(items: Sequence[PackItem], carton: CartonType) -> PackResult | str:
    net = sum(i.weight_g * i.quantity for i in items)
    gross = net + carton.tare_g
    if gross > carton.max_weight_g:
        return "too_heavy"
    layout = _pack_layout(items, carton)
    if isinstance(layout, str):
        return layout
    return PackResult(carton, tuple(layout), net, gross)


def _check_items(items: Iterable[PackItem]) -> list[PackItem]:
    items = list(items)
    if not items:
        raise ValueError("no items to pack")
    for item in items:
        if not isinstance(item, PackItem):
            raise ValueError(f"expected PackItem, got {type(item).__name__}")
    return items


def pack_into(items: Iterable[PackItem], carton: CartonType) -> PackResult | None:
    """Pack every unit into this one carton type, or None if the packer (or the weight
    limit) says it does not take them."""
    result = _try_carton(_check_items(items), carton)
    return None if isinstance(result, str) else result


def cartons_by_size(cartons: Iterable[CartonType]) -> list[CartonType]:
    """Carton types smallest inner volume first, ties by name; duplicate names refused."""
    cartons = list(cartons)
    if not cartons:
        raise ValueError("no carton types configured")
    names = [c.name for c in cartons]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate carton name(s): {', '.join(duplicates)}")
    return sorted(cartons, key=lambda c: (c.inner_volume_mm3, c.name))


def choose_carton(items: Iterable[PackItem], cartons: Iterable[CartonType]) -> PackResult:
    """The smallest carton type (inner volume, then name) that takes every unit within its
    weight limit, with the layout. Raises ``NoCartonFits`` with a reason per carton."""
    items = _check_items(items)
    reasons = []
    for carton in cartons_by_size(cartons):
        result = _try_carton(items, carton)
        if not isinstance(result, str):
            return result
        reasons.append({"carton": carton.name, "reason": result})
    units = sum(i.quantity for i in items)
    raise NoCartonFits(f"no carton type takes these {units} unit(s); split the order "
                       f"or hold it", detail=reasons)


def _counts(items: Sequence[PackItem], units: Iterable[tuple[int, int, PackItem]]
            ) -> list[PackItem]:
    """The items restricted to the given units (same order, quantities counted)."""
    per_line: dict[int, int] = {}
    for line, _, _ in units:
        per_line[line] = per_line.get(line, 0) + 1
    return [replace(item, quantity=per_line[line]) for line, item in enumerate(items)
            if per_line.get(line)]


def plan_parcels(items: Iterable[PackItem], cartons: Iterable[CartonType]
                 ) -> list[PackResult]:
    """The parcels of an order: one carton when one takes everything (``choose_carton``),
    else several. Splitting fills the largest carton type first-fit-decreasing (a unit
    that does not fit, by room or by weight, waits for the next parcel), then each parcel
    gets the smallest carton that takes its own units. Raises ``NoCartonFits`` when a
    single unit fits no carton at all. Heuristic like the packer: a few more parcels
    than an optimal split may be used, never a unit left out or a carton overfilled."""
    items = _check_items(items)
    cartons = cartons_by_size(cartons)
    try:
        return [choose_carton(items, cartons)]
    except NoCartonFits:
        pass
    largest = max(cartons, key=lambda c: (c.inner_volume_mm3, c.max_weight_g))
    waiting = _units(items)
    parcels: list[PackResult] = []
    while waiting:
        taken: list[tuple[int, int, PackItem]] = []
        left: list[tuple[int, int, PackItem]] = []
        for unit in waiting:
            if isinstance(_try_carton(_counts(items, [*taken, unit]), largest), str):
                left.append(unit)
            else:
                taken.append(unit)
        if not taken:                     # the first waiting unit fits no carton by itself
            sku = waiting[0][2].sku
            raise NoCartonFits(f"{sku} fits no carton type, even alone",
                               detail=[{"sku": sku, "reason": "item_too_large_or_heavy"}])
        parcels.append(choose_carton(_counts(items, taken), cartons))
        waiting = left
    return parcels


@dataclass(frozen=True)
class PackingInstruction:
    """One step at the bench: a stable code, the material (if any), the text to show,
    and the SKUs that call for it."""

    code: str
    material: str | None
    text: str
    skus: tuple[str, ...]


def packing_instructions(items: Iterable[PackItem]) -> list[PackingInstruction]:
    """Materials and instructions from the items' handling flags, in ``HANDLING_RULES``
    order, each step once with the SKUs that need it (sorted). No flags, no steps."""
    items = list(items)
    steps = []
    for flag, rules in HANDLING_RULES.items():
        skus = tuple(sorted({i.sku for i in items if flag in i.flags}))
        if skus:
            steps.extend(PackingInstruction(code, material, text, skus)
                         for code, material, text in rules)
    return steps


@dataclass(frozen=True)
class WeightCheck:
    """Scale reading against expectation: ``verdict`` is ``ok``, ``too_light`` or
    ``too_heavy``; ``difference_g`` is measured minus expected."""

    verdict: str
    expected_g: int
    measured_g: int
    difference_g: int
    allowed_g: Decimal

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


def weight_tolerance(expected_g: int, *, tolerance_pct: float | Decimal = 0,
                     tolerance_g: int = 0) -> Decimal:
    """The deviation a scale reading may have from `expected_g`: the LARGER of
    ``tolerance_pct`` percent of it and ``tolerance_g`` grams (not their sum). The one rule
    for config.yaml (packing.weight_tolerance_pct / weight_tolerance_g), the station page
    and the hold."""
    _positive_int("weight check", "tolerance_g", tolerance_g, allow_zero=True)
    if isinstance(tolerance_pct, bool) or not isinstance(tolerance_pct, (int, float, Decimal)):
        raise ValueError(f"weight check: tolerance_pct must be a number, got {tolerance_pct!r}")
    pct = Decimal(str(tolerance_pct))  # str() so 0.1 means one tenth, not its binary neighbour
    if not pct.is_finite() or pct < 0:
        raise ValueError(f"weight check: tolerance_pct must be zero or more, got {tolerance_pct}")
    return max(Decimal(expected_g) * pct / 100, Decimal(tolerance_g))


def check_weight(expected_g: int, measured_g: int, *, tolerance_pct: float | Decimal = 0,
                 tolerance_g: int = 0) -> WeightCheck:
    """Compare a scale reading with the expected gross weight. The allowed deviation is
    the larger of ``tolerance_pct`` percent of the expected weight and ``tolerance_g``
    (a percentage alone is too tight for a light parcel, grams alone too tight for a
    heavy one); a reading exactly at the limit is ``ok``. Outside it the caller holds
    the parcel."""
    _positive_int("weight check", "expected_g", expected_g)
    _positive_int("weight check", "measured_g", measured_g, allow_zero=True)
    _positive_int("weight check", "tolerance_g", tolerance_g, allow_zero=True)
    allowed = weight_tolerance(expected_g, tolerance_pct=tolerance_pct, tolerance_g=tolerance_g)
    difference = measured_g - expected_g
    if difference > allowed:
        verdict = "too_heavy"
    elif -difference > allowed:
        verdict = "too_light"
    else:
        verdict = "ok"
    return WeightCheck(verdict, expected_g, measured_g, difference, allowed)
