"""Replenishment rules (pure): when a pick face needs refilling, how much, from where, and
what must be bought when the warehouse holds no reserve of the SKU.

A pick face is a stock row (location + SKU) with a minimum; its `available` is on hand
minus reserved. It needs refilling when available < min. The refill brings it up to its
max (the face's capacity, counted in units on hand), and at least back to its min; a
face without a max is refilled back to its min. Reserve stock is every other location of
the same warehouse holding the SKU that is not a pick face of it and is not blocked;
sources are offered largest first, then oldest (the stock row made first) so that old
stock leaves first. The model keeps no lots or expiry dates on stock rows, so no
first-expiry rule applies.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence


def below_min(on_hand: int, reserved: int, min_qty: int) -> bool:
    return min_qty > 0 and on_hand - reserved < min_qty


def refill_quantity(on_hand: int, reserved: int, min_qty: int, max_qty: int) -> int:
    """Units to bring in: up to max (capacity on hand), never less than back to min."""
    to_min = max(0, min_qty - (on_hand - reserved))
    to_max = max(0, max_qty - on_hand) if max_qty else 0
    return max(to_min, to_max)


def refilled(on_hand: int, reserved: int, min_qty: int) -> bool:
    """The face is back at or above its min (or is a pick face no longer)."""
    return min_qty <= 0 or on_hand - reserved >= min_qty


@dataclass(frozen=True)
class Source:
    stock_id: int
    location: str
    available: int


def order_sources(rows: Iterable[Source]) -> list[Source]:
    """Reserve sources with something to give: largest first, then oldest (lowest id)."""
    return sorted((r for r in rows if r.available > 0),
                  key=lambda r: (-r.available, r.stock_id))


@dataclass(frozen=True)
class Need:
    warehouse: str
    sku: str
    name: str
    location: str
    remaining: int            # units the open task still asks for
    since: object             # when the task opened


@dataclass(frozen=True)
class Suggestion:
    warehouse: str
    sku: str
    name: str
    locations: tuple[str, ...]
    needed: int
    reserve_available: int
    quantity: int
    since: object


def purchase_suggestions(needs: Sequence[Need], reserve: dict[tuple[str, str], int]
                         ) -> list[Suggestion]:
    """What to buy: per warehouse and SKU, the units open replenishment tasks ask for that
    the warehouse's reserve cannot give (`reserve`: (warehouse, sku) → units available in
    reserve). Largest shortfall first."""
    grouped: dict[tuple[str, str], list[Need]] = {}
    for n in needs:
        grouped.setdefault((n.warehouse, n.sku), []).append(n)
    out = []
    for (wh, sku), group in grouped.items():
        needed = sum(n.remaining for n in group)
        have = reserve.get((wh, sku), 0)
        if needed > have:
            out.append(Suggestion(wh, sku, group[0].name,
                                  tuple(sorted({n.location for n in group})), needed, have,
                                  needed - have, min(n.since for n in group)))
    return sorted(out, key=lambda s: (-s.quantity, s.warehouse, s.sku))
