"""Cycle counts: what a count of one bin does to its books. Pure.

A bin's stock record (`on_hand`, `reserved`) keeps the units picked from it until they
are packed and shipped: those units are in a tote, not in the bin. So a count of the bin
sees `on_hand - in_transit` at most, where `in_transit` is the units picked from it and
not yet shipped; the new on-hand is `counted + in_transit`, and the variance is the
difference to the old one.

A count never leaves `reserved > on_hand`. When the bin holds fewer units than are still
to be picked from it (`reserved - in_transit`), the shortfall leaves the reservations
(the least urgent orders give theirs up first); the caller re-reserves those units
elsewhere or backorders them, as after a short pick.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Sequence

BLOCK_COUNT_PENDING = "count_pending"
MAX_COUNT = 2**31 - 1          # the stock columns are INTEGER on both databases


@dataclass(frozen=True)
class Book:
    """One SKU's stock record at the bin when the count is applied."""
    on_hand: int
    reserved: int
    in_transit: int             # picked from this bin, not yet shipped


@dataclass(frozen=True)
class Settled:
    """What a count of `counted` units does to one stock record."""
    on_hand: int                # the new on-hand
    reserved: int               # the new reserved (lower only by `shortfall`)
    variance: int               # new on-hand − old on-hand
    shortfall: int              # reserved units the bin cannot give: they leave it


def settle(book: Book, counted: int) -> Settled:
    """The stock record after a count of `counted` units in the bin."""
    if counted < 0:
        raise ValueError("a count cannot be negative")
    in_transit = max(0, min(book.in_transit, book.reserved))
    to_pick = book.reserved - in_transit
    shortfall = max(0, to_pick - counted)
    on_hand = counted + in_transit
    return Settled(on_hand=on_hand, reserved=book.reserved - shortfall,
                   variance=on_hand - book.on_hand, shortfall=shortfall)


@dataclass(frozen=True)
class Claim:
    """A reservation at the bin that still has units to pick there."""
    allocation_id: int
    unpicked: int
    priority: int
    placed_at: dt.datetime | str    # as the database gives it: comparable among claims


def give_up(claims: Iterable[Claim], shortfall: int) -> list[tuple[int, int]]:
    """Which reservations lose the `shortfall` units: the least urgent first (lowest
    priority, then the newest order), so the oldest urgent orders keep their units.
    Returns (allocation id, units)."""
    newest_first = sorted(claims, key=lambda c: (c.placed_at, c.allocation_id), reverse=True)
    order = sorted(newest_first, key=lambda c: c.priority)       # stable: newest first kept
    out, left = [], shortfall
    for claim in order:
        if left == 0:
            break
        n = min(left, claim.unpicked)
        if n > 0:
            out.append((claim.allocation_id, n))
            left -= n
    if left:
        raise ValueError(f"{left} reserved unit(s) are not held by any reservation")
    return out


def merge_lines(lines: Sequence[tuple[object, int]]) -> dict[object, int]:
    """Count lines of the same product add up (two cases of one SKU counted apart)."""
    out: dict[object, int] = {}
    for key, quantity in lines:
        if quantity < 0:
            raise ValueError("a count cannot be negative")
        out[key] = out.get(key, 0) + quantity
        if out[key] > MAX_COUNT:
            raise ValueError(f"{out[key]} is more than one location can hold")
    return out
