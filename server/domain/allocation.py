"""Reservation choice: which warehouse ships an order and which locations its units come from.

Pure: the caller hands in the stock rows it has locked (a row lock on PostgreSQL, the
write lock of BEGIN IMMEDIATE on SQLite) and writes back what this returns. A StockPool
keeps the availability it has handed out, so a batch of orders can be allocated in one
pass without promising the same unit twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence


@dataclass(frozen=True)
class Zone:
    name: str
    match: tuple[str, ...]      # 'GB' or 'GB:BT' (country, or country:postcode prefix)
    nearest: tuple[str, ...]    # warehouse zones, nearest first


def address_zone(country: str, postcode: str, zones: Sequence[Zone]) -> Zone | None:
    """The zone of an address: the longest matching 'CC' or 'CC:PREFIX' entry wins."""
    country = (country or "").upper()
    post = (postcode or "").upper().replace(" ", "")
    best, best_len = None, -1
    for zone in zones:
        for entry in zone.match:
            cc, _, prefix = entry.partition(":")
            prefix = prefix.replace(" ", "")
            if cc == country and post.startswith(prefix) and len(entry) > best_len:
                best, best_len = zone, len(entry)
    return best


def warehouse_ranks(country: str, postcode: str, zones: Sequence[Zone],
                    warehouse_zones: Mapping[int, str]) -> dict[int, int]:
    """Lower is nearer. Warehouses in no listed zone come after the listed ones."""
    zone = address_zone(country, postcode, zones)
    order = zone.nearest if zone else ()
    far = len(order)
    return {wid: (order.index(wz) if wz in order else far) for wid, wz in warehouse_zones.items()}


@dataclass
class StockRow:
    stock_id: int
    warehouse_id: int
    product_id: int
    available: int
    pick_seq: int = 0
    location: str = ""
    blocked: str | None = None  # why the bin takes no new reservations (None: it does)


@dataclass(frozen=True)
class LineNeed:
    key: object          # the caller's handle for the line
    product_id: int
    quantity: int


@dataclass
class Plan:
    warehouse_id: int | None
    allocations: list[tuple[object, int, int]] = field(default_factory=list)  # (line, stock, n)
    short: dict[object, int] = field(default_factory=dict)                    # line → units

    @property
    def fully_reserved(self) -> bool:
        return not self.short


class StockPool:
    """Availability of the locked stock rows, drawn down as orders are allocated. Rows of
    blocked bins are left out: they keep what they hold but take no new reservation."""

    def __init__(self, rows: Iterable[StockRow]):
        self.rows: dict[int, StockRow] = {}
        self._by_product: dict[int, list[StockRow]] = {}
        for row in rows:
            if row.blocked:     # e.g. a count is pending: nothing new is reserved there
                continue
            self.rows[row.stock_id] = row
            self._by_product.setdefault(row.product_id, []).append(row)
        for lst in self._by_product.values():
            lst.sort(key=lambda r: (r.pick_seq, r.location, r.stock_id))

    def available(self, product_id: int, warehouse_id: int) -> int:
        return sum(r.available for r in self._by_product.get(product_id, ())
                   if r.warehouse_id == warehouse_id)

    def allocate(self, lines: Sequence[LineNeed], ranks: Mapping[int, int],
                 allow_split: bool = False) -> Plan:
        """Reserve an order: a warehouse that can ship all of it (nearest first); else,
        if the channel allows a split, start at the warehouse covering most units (fewest
        parcels) and take the rest from the others nearest first; else the warehouse that
        covers most units, the rest short (backordered)."""
        lines = [ln for ln in lines if ln.quantity > 0]
        if not lines:
            return Plan(warehouse_id=_nearest(ranks))
        need: dict[int, int] = {}
        for ln in lines:
            need[ln.product_id] = need.get(ln.product_id, 0) + ln.quantity
        by_rank = sorted(ranks, key=lambda w: (ranks[w], w))
        cover = {w: sum(min(n, self.available(p, w)) for p, n in need.items()) for w in by_rank}
        total = sum(need.values())
        whole = [w for w in by_rank if cover[w] == total]
        if whole:
            return self._take(lines, [whole[0]], whole[0])
        if allow_split:
            primary = max(by_rank, key=lambda w: (cover[w], -ranks[w], -w))
            return self._take(lines, [primary] + [w for w in by_rank if w != primary], primary)
        if not by_rank:
            return Plan(warehouse_id=None, short={ln.key: ln.quantity for ln in lines})
        best = max(by_rank, key=lambda w: (cover[w], -ranks[w], -w))
        return self._take(lines, [best], best)

    def _take(self, lines: Sequence[LineNeed], warehouses: Sequence[int], primary: int) -> Plan:
        plan = Plan(warehouse_id=primary)
        for ln in lines:
            left = ln.quantity
            for wid in warehouses:
                if left == 0:
                    break
                left = self._take_line(ln, wid, left, plan)
            if left:
                plan.short[ln.key] = left
        return plan

    def _take_line(self, ln: LineNeed, wid: int, left: int, plan: Plan) -> int:
        rows = [r for r in self._by_product.get(ln.product_id, ())
                if r.warehouse_id == wid and r.available > 0]
        # one stop is better than two: a single location holding the whole line first
        single = next((r for r in rows if r.available >= left), None)
        for row in ([single] if single else rows):
            n = min(row.available, left)
            row.available -= n
            left -= n
            plan.allocations.append((ln.key, row.stock_id, n))
            if left == 0:
                break
        return left


def _nearest(ranks: Mapping[int, int]) -> int | None:
    return min(ranks, key=lambda w: (ranks[w], w)) if ranks else None
