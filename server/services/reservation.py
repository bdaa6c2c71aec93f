"""Reserving and releasing stock for stored orders.

Rows are locked before they are read (SELECT … FOR UPDATE on PostgreSQL, the BEGIN
IMMEDIATE write lock on SQLite), the choice is made by domain.allocation, and every
stock write is a conditional UPDATE whose row count is checked; the CHECK constraint
`reserved <= on_hand` is the last line of defence. Callers hold the write transaction.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .. import clock, events
from ..config import Config
from ..domain import lifecycle
from ..domain.allocation import LineNeed, StockPool, StockRow, warehouse_ranks
from ..domain.errors import InsufficientStock
from ..store.bulk import insert_many, select_in, update_many
from ..store.db import execute, executemany, is_postgres
from . import audit, carrier_gate, notify


@dataclass
class OrderNeed:
    """What one order still needs: (line id, product id, units) and where it ships to."""
    order_id: int
    status: str
    country: str
    postcode: str
    allow_split: bool
    warehouse_id: int | None
    lines: list[tuple[int, int, int]]
    paid: bool = True
    hold: bool = False
    pinned: bool = False          # keep to warehouse_id (a top-up of a part-reserved order)


@dataclass
class ReserveOutcome:
    status: dict[int, str] = field(default_factory=dict)        # order id → new status
    warehouse: dict[int, int | None] = field(default_factory=dict)
    reserved: dict[int, int] = field(default_factory=dict)      # line id → units reserved now
    short: dict[int, int] = field(default_factory=dict)         # line id → units still short
    held: dict[int, str] = field(default_factory=dict)          # order id → carrier gate hold


# a reservation's guard: the stock row's bin is not blocked (a count pending, …)
OPEN_BIN = ("NOT EXISTS (SELECT 1 FROM location bl WHERE bl.id = stock.location_id "
            "AND bl.blocked IS NOT NULL)")


def lock_stock(product_ids: Iterable[int]) -> list[StockRow]:
    """The stock rows of these products, locked for this transaction (blocked bins too,
    with their reason: callers that reserve skip them)."""
    ids = sorted(set(product_ids))
    if not ids:
        return []
    q = ("SELECT s.id, s.warehouse_id, s.product_id, s.on_hand - s.reserved, l.pick_seq, "
         "l.code, l.blocked "
         "FROM stock s JOIN location l ON l.id = s.location_id "
         "WHERE s.product_id IN ({in}) ORDER BY s.id")
    if is_postgres():
        q += " FOR UPDATE OF s"
    return [StockRow(*r) for r in select_in(q, ids)]


def warehouse_zones() -> dict[int, str]:
    return {r[0]: r[1] for r in execute("SELECT id, zone FROM warehouse").fetchall()}


def reserve(needs: Sequence[OrderNeed], actor: str, now: dt.datetime | None = None, *,
            settings: Config) -> ReserveOutcome:
    """Reserve what each order still needs, in the order given (callers sort by priority)."""
    now = now or clock.now()
    out = ReserveOutcome()
    if not needs:
        return out
    pool = StockPool(lock_stock(p for n in needs for _, p, _ in n.lines))
    available_before = {sid: row.available for sid, row in pool.rows.items()}
    zones, wz = settings.zones, warehouse_zones()
    allocations: list[tuple[int, int, int]] = []
    for need in needs:
        if need.pinned and need.warehouse_id is not None:
            ranks = {need.warehouse_id: 0}
        else:
            ranks = warehouse_ranks(need.country, need.postcode, zones, wz)
        plan = pool.allocate([LineNeed(lid, pid, q) for lid, pid, q in need.lines], ranks,
                             need.allow_split)
        allocations.extend(plan.allocations)
        for lid, _, q in need.lines:
            out.short[lid] = plan.short.get(lid, 0)
            out.reserved[lid] = q - out.short[lid]
        out.warehouse[need.order_id] = need.warehouse_id or plan.warehouse_id
        still_short = any(out.short[lid] for lid, _, _ in need.lines)
        out.status[need.order_id] = settled_status(need.status, need.paid, need.hold,
                                                   not still_short)
    _write(needs, allocations, available_before, out, actor, now)
    # no order goes on towards picking without a carrier service (and customs data)
    held = carrier_gate.check_orders([oid for oid, st in out.status.items()
                                      if st in (lifecycle.READY, lifecycle.BACKORDERED)],
                                     actor, now, settings=settings)
    out.status.update({oid: lifecycle.ON_HOLD for oid in held})
    out.held.update(held)
    late = [oid for oid, st in out.status.items() if st == lifecycle.BACKORDERED]
    if late and settings.notify.targets:    # the customer is told once (outbox dedupe key)
        notify.order_notices("delayed", late, settings=settings, actor=actor, now=now,
                             reason="backordered")
    return out


def settled_status(current: str, paid: bool, hold: bool, fully_reserved: bool) -> str:
    """Where an order stands once its stock is settled; orders past READY keep their state."""
    if current not in (lifecycle.RECEIVED, lifecycle.AWAITING_PAYMENT, lifecycle.ON_HOLD,
                       lifecycle.READY, lifecycle.BACKORDERED, lifecycle.INVALID):
        return current
    return lifecycle.after_intake(invalid=False, paid=paid, hold=hold,
                                  fully_reserved=fully_reserved)


def _write(needs, allocations, available_before: dict[int, int], out: ReserveOutcome,
           actor: str, now: dt.datetime) -> None:
    naive = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
    per_stock: dict[int, int] = {}
    for _, sid, n in allocations:
        per_stock[sid] = per_stock.get(sid, 0) + n
    changed = update_many("stock", "id", (("id", "bigint"), ("n", "integer"),
                                          ("t", "timestamp")),
                          [(sid, n, naive) for sid, n in per_stock.items()],
                          sets="reserved = reserved + {n}, updated_at = {t}",
                          where="on_hand - reserved >= {n} AND " + OPEN_BIN)
    if changed != len(per_stock):  # cannot happen under the lock; refuse rather than oversell
        raise InsufficientStock("stock changed under a reservation; nothing was reserved")
    insert_many("allocation", ("order_line_id", "stock_id", "quantity"), allocations,
                on_conflict="ON CONFLICT (order_line_id, stock_id) DO UPDATE SET "
                            "quantity = allocation.quantity + excluded.quantity")
    update_many("order_line", "id", (("id", "bigint"), ("r", "integer"), ("b", "integer")),
                [(lid, out.reserved[lid], out.short[lid]) for n in needs for lid, _, _ in n.lines],
                sets="reserved = reserved + {r}, backordered = {b}")
    update_many("sales_order", "id", (("id", "bigint"), ("s", "varchar"), ("w", "bigint"),
                                      ("t", "timestamp")),
                [(n.order_id, out.status[n.order_id], out.warehouse[n.order_id], naive)
                 for n in needs],
                sets="status = {s}, warehouse_id = {w}, updated_at = {t}")
    trail = []
    running = dict(available_before)
    for lid, sid, n in allocations:
        trail.append(audit.row(now, actor, "stock.reserve", "stock", sid,
                               {"available": running[sid]}, {"available": running[sid] - n},
                               {"order_line": lid, "quantity": n}))
        running[sid] -= n
    trail += [audit.row(now, actor, "order.status", "order", n.order_id, n.status,
                        out.status[n.order_id]) for n in needs if out.status[n.order_id] != n.status]
    audit.write(trail)
    stock_levels_changed(per_stock.keys())


STOCK_LEVELS = "stock.levels"   # after commit: stock rows whose available stock changed


def stock_levels_changed(stock_ids: Iterable[int]) -> None:
    """Say, after the commit, that these stock rows' available stock changed: the
    replenishment worker (jobs/replenish_worker.py) checks their pick faces in a
    transaction of its own. Free inside the caller's transaction (an event held until
    commit), so the reservation and scan paths pay no query for it."""
    ids = sorted(set(stock_ids))
    if ids:
        events.publish(STOCK_LEVELS, stock_ids=ids)


def release_order(order_id: int, actor: str, now: dt.datetime | None = None) -> set[int]:
    """Give back every unit reserved for an order; returns the product ids freed."""
    now = now or clock.now()
    rows = execute(
        "SELECT a.id, a.stock_id, a.quantity, a.order_line_id, s.product_id FROM allocation a "
        "JOIN order_line ol ON ol.id = a.order_line_id JOIN stock s ON s.id = a.stock_id "
        "WHERE ol.order_id = ? ORDER BY a.stock_id", (order_id,)).fetchall()
    if not rows:
        execute("UPDATE order_line SET backordered = 0 WHERE order_id = ?", (order_id,))
        return set()
    lock = " FOR UPDATE" if is_postgres() else ""
    running = dict(select_in("SELECT id, on_hand - reserved FROM stock WHERE id IN ({in}) "
                             "ORDER BY id" + lock, sorted({r[1] for r in rows})))
    naive = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
    changed = executemany("UPDATE stock SET reserved = reserved - ?, updated_at = ? "
                          "WHERE id = ? AND reserved >= ?",
                          [(q, naive, sid, q) for _, sid, q, _, _ in rows])
    if changed != len(rows):
        raise InsufficientStock("reservation records disagree with stock; nothing released")
    # its pick tasks can no longer be picked (the order is cancelled or re-planned)
    execute("UPDATE pick_task SET status = 'cancelled', updated_at = ? "
            "WHERE order_id = ? AND status = 'open'", (naive, order_id))
    executemany("UPDATE pick_task SET allocation_id = NULL WHERE allocation_id = ?",
                [(r[0],) for r in rows])
    executemany("DELETE FROM allocation WHERE id = ?", [(r[0],) for r in rows])
    execute("UPDATE order_line SET reserved = 0, backordered = 0 WHERE order_id = ?", (order_id,))
    trail = []
    for _, sid, q, lid, _ in rows:
        trail.append(audit.row(now, actor, "stock.release", "stock", sid,
                               {"available": running[sid]}, {"available": running[sid] + q},
                               {"order_line": lid, "order": order_id, "quantity": q}))
        running[sid] += q
    audit.write(trail)
    stock_levels_changed(r[1] for r in rows)
    return {r[4] for r in rows}
