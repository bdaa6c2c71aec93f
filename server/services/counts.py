"""Cycle counts: a bin is counted (on the handheld or through the API), the count sets its
on-hand, the variance goes to the audit trail and the stock discrepancies it settles are
resolved; the bin, blocked for new reservations while the count was pending, is free again.

A count task is made by a short pick (services/picking.py: the picker could not find
units, so the bin is blocked and nothing is written off until it is counted) or scheduled
by a supervisor (a range of bins, or every bin of a SKU). A count covers the whole bin:
every SKU on its books that the count does not list was counted as 0. Rules of what a
count does to the books: domain/counts.py.

Lock order (as picking's, so that a count, a short pick, a scan and a reservation never
deadlock on SQLite's single writer and rarely on PostgreSQL): the open pick tasks at the
bin → the stock rows of every product involved (all bins, by id) → allocations, order
lines, orders. A deadlock PostgreSQL still finds (a pack or a cancel touching the same bin
at the same moment) rolls the count back; it is then run again (store.retry).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .. import clock
from ..config import Config
from ..domain import lifecycle
from ..domain.barcodes import parse_scan
from ..domain.counts import (BLOCK_COUNT_PENDING, MAX_COUNT, Book, Claim, give_up, merge_lines,
                             settle)
from ..domain.errors import Conflict, Forbidden, NotFound, Unprocessable
from ..domain.locations import parse_location
from ..store import db as store_db
from ..store.bulk import insert_returning, select_in
from ..store.db import execute, is_postgres
from ..store.retry import retry_transaction
from . import audit, once, picking
from .exceptions import open_exception, resolve_for_count
from .reservation import lock_stock, stock_levels_changed
from .stock import reserve_backorders, warehouse_by_code

STATES = ("open", "done", "cancelled")
MAX_SCHEDULE = 1000        # bins per schedule request
MAX_LINES = 500            # SKUs in one count


# ---- count tasks ------------------------------------------------------------------------------

def request_count(warehouse_id: int, location_id: int, reason: str, actor: str,
                  now: dt.datetime, pick_task_id: int | None = None) -> int:
    """Block the bin for new reservations (`count_pending`) and make sure it has an open
    count task; returns that task's id. Inside a write transaction. At most one open task
    per bin (a partial UNIQUE index): a second request joins the first."""
    naive = clock.naive_utc(now)
    trail = []
    if execute("UPDATE location SET blocked = ? WHERE id = ? AND blocked IS NULL",
               (BLOCK_COUNT_PENDING, location_id)).rowcount:
        trail.append(audit.row(now, actor, "location.block", "location", location_id, "",
                               BLOCK_COUNT_PENDING))
    made = insert_returning("count_task", ("warehouse_id", "location_id", "state", "reason",
                                           "pick_task_id", "created_by", "created_at"),
                            [(warehouse_id, location_id, "open", reason, pick_task_id, actor,
                              naive)], ("id",), ignore_conflicts=True)
    if made:
        count_id = made[0][0]
        trail.append(audit.row(now, actor, "count.open", "count", count_id, "", "open",
                               {"location": location_id, "reason": reason,
                                "pick_task": pick_task_id}))
    else:
        count_id = execute("SELECT id FROM count_task WHERE location_id = ? AND state = 'open'",
                           (location_id,)).fetchone()[0]
    audit.write(trail)
    return count_id


_COUNT = ("SELECT c.id, w.code, l.code, c.state, c.reason, c.pick_task_id, u.badge, "
          "c.created_by, c.created_at, c.counted_by, c.counted_at, c.location_id, "
          "c.warehouse_id, c.assigned_to FROM count_task c "
          "JOIN warehouse w ON w.id = c.warehouse_id JOIN location l ON l.id = c.location_id "
          "LEFT JOIN app_user u ON u.id = c.assigned_to ")


def _lock_count() -> str:
    """A count task's row lock on PostgreSQL: NO KEY UPDATE, not UPDATE, so that a short
    pick joining the bin's open count (its stock_discrepancy row references the count:
    the foreign key check takes KEY SHARE) does not wait for a count that waits for the
    short's pick task: measured as a deadlock under racing shorts and counts."""
    return " FOR NO KEY UPDATE OF c" if is_postgres() else ""


@dataclass(frozen=True)
class _Count:
    id: int
    warehouse: str
    location: str
    state: str
    reason: str
    pick_task_id: int | None
    assigned_to_badge: str | None
    created_by: str
    created_at: object
    counted_by: str | None
    counted_at: object
    location_id: int
    warehouse_id: int
    assigned_to: int | None

    def as_dict(self) -> dict:
        return {"id": self.id, "warehouse": self.warehouse, "location": self.location,
                "state": self.state, "reason": self.reason, "pick_task": self.pick_task_id,
                "assigned_to": self.assigned_to_badge, "created_by": self.created_by,
                "created_at": _iso(self.created_at), "counted_by": self.counted_by,
                "counted_at": _iso(self.counted_at)}


def _iso(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return clock.aware_utc(value).isoformat()


def list_counts(state: str | None, warehouse: str | None, limit: int = 200) -> list[dict]:
    """Count tasks, oldest first (open ones are the work list)."""
    if state is not None and state not in STATES:
        raise Unprocessable(f"state must be one of {', '.join(STATES)}", code="bad_state",
                            field="state")
    where, params = [], []
    if state:
        where.append("c.state = ?")
        params.append(state)
    if warehouse:
        where.append("c.warehouse_id = ?")
        params.append(warehouse_by_code(warehouse).id)
    q = _COUNT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY c.id LIMIT ?"
    return [_Count(*r).as_dict() for r in execute(q, (*params, limit)).fetchall()]


def schedule_counts(warehouse: str, *, from_location: str | None = None,
                    to_location: str | None = None, sku: str | None = None,
                    actor: str) -> dict:
    """Open count tasks for a range of bins (both ends included, in aisle-bay-shelf-slot
    order) or for every bin holding a SKU; each bin is blocked until counted. Bins with an
    open count already are reported, not doubled."""
    now = clock.now()
    wh = warehouse_by_code(warehouse)
    if sku is not None:
        product = execute("SELECT id FROM product WHERE sku = ?", (sku,)).fetchone()
        if product is None:
            raise Unprocessable(f"unknown SKU {sku!r}", code="unknown_sku", field="sku")
        bins = execute("SELECT l.id, l.code FROM stock s JOIN location l ON l.id = s.location_id "
                       "WHERE s.warehouse_id = ? AND s.product_id = ? ORDER BY l.pick_seq, l.code",
                       (wh.id, product[0])).fetchall()
    else:
        bins = _bins_between(wh.id, from_location, to_location)
    if not bins:
        raise Unprocessable("no bins to count there", code="no_bins")
    if len(bins) > MAX_SCHEDULE:
        raise Unprocessable(f"{len(bins)} bins: schedule at most {MAX_SCHEDULE} at once",
                            code="too_many_bins")
    with store_db.write_tx():
        before = {r[0] for r in select_in(
            "SELECT location_id FROM count_task WHERE state = 'open' AND location_id IN ({in})",
            [b[0] for b in bins])}
        ids = {loc_id: request_count(wh.id, loc_id, "scheduled", actor, now)
               for loc_id, _ in bins}
    return {"warehouse": wh.code,
            "created": [{"count_id": ids[i], "location": code} for i, code in bins
                        if i not in before],
            "already_open": [{"count_id": ids[i], "location": code} for i, code in bins
                             if i in before]}


def cancel_count(count_id: int, actor: str, *, settings: Config) -> dict:
    """Cancel an open count task (a schedule made too wide) and free its bin. Refused for a
    count that settles open stock discrepancies (a short pick's): only a count does that."""
    now = clock.now()
    with store_db.write_tx():
        row = execute(_COUNT + "WHERE c.id = ?" + _lock_count(), (count_id,)).fetchone()
        if row is None:
            raise NotFound(f"no count {count_id}", code="no_count")
        c = _Count(*row)
        if c.state != "open":
            raise Conflict(f"count {c.id} is {c.state}", code="count_closed")
        if execute("SELECT 1 FROM wms_exception WHERE count_task_id = ? AND "
                   "state IN ('open', 'acknowledged')",
                   (c.id,)).fetchone():
            raise Conflict(f"count {c.id} settles a stock discrepancy at {c.location}: count "
                           "the bin (POST /api/v1/counts) instead", code="count_required")
        naive = clock.naive_utc(now)
        execute("UPDATE count_task SET state = 'cancelled', counted_by = ?, counted_at = ? "
                "WHERE id = ?", (actor, naive, c.id))
        trail = [audit.row(now, actor, "count.cancel", "count", c.id, "open", "cancelled")]
        if execute("UPDATE location SET blocked = NULL WHERE id = ? AND blocked = ?",
                   (c.location_id, BLOCK_COUNT_PENDING)).rowcount:
            trail.append(audit.row(now, actor, "location.unblock", "location", c.location_id,
                                   BLOCK_COUNT_PENDING, ""))
        audit.write(trail)
        product_ids = [r[0] for r in execute("SELECT product_id FROM stock WHERE location_id = ?",
                                             (c.location_id,)).fetchall()]
        # the bin is open to them again
        reserve_backorders(product_ids, actor, now, settings=settings)
        return _Count(*execute(_COUNT + "WHERE c.id = ?", (c.id,)).fetchone()).as_dict()


def _bins_between(warehouse_id: int, low: str | None, high: str | None) -> list[tuple]:
    if low is None or high is None:
        raise Unprocessable("give from_location and to_location, or sku",
                            code="bad_range", field="from_location" if low is None
                            else "to_location")
    ends = []
    for name, code in (("from_location", low), ("to_location", high)):
        try:
            ends.append(_key(parse_location(code)))
        except ValueError as err:
            raise Unprocessable(str(err), code="bad_location", field=name) from None
    if ends[0] > ends[1]:
        raise Unprocessable("from_location comes after to_location", code="bad_range",
                            field="to_location")
    rows = execute("SELECT id, code FROM location WHERE warehouse_id = ?",
                   (warehouse_id,)).fetchall()
    inside = [(k, i, c) for i, c in rows if ends[0] <= (k := _key(parse_location(c))) <= ends[1]]
    return [(i, c) for _, i, c in sorted(inside)]


def _key(loc) -> tuple:
    return (loc.aisle_index, loc.bay, loc.shelf, loc.slot)


# ---- a count --------------------------------------------------------------------------------

def record_count(warehouse: str, location: str, lines: list[tuple[str, int]], actor: str, *,
                 settings: Config) -> dict:
    """A count of one bin through the API (supervisor): every SKU in it and its quantity
    (SKUs on the bin's books that are not listed were counted as 0). Settles the bin's
    open count task if it has one."""
    wh = warehouse_by_code(warehouse)
    loc_id, loc_code = _location(wh.id, location)
    if len(lines) > MAX_LINES:
        raise Unprocessable(f"at most {MAX_LINES} lines", code="too_many_lines", field="lines")
    products = _products([sku for sku, _ in lines])
    counted = _merged([(products[sku], n) for sku, n in lines])

    def work() -> dict:
        with store_db.write_tx():
            return _apply(wh.id, wh.code, loc_id, loc_code, counted, actor, clock.now(), None,
                          settings)
    return _retrying(work)


def _location(warehouse_id: int, code: str) -> tuple[int, str]:
    try:
        canonical = parse_location(code).code
    except ValueError:
        raise NotFound(f"no location {code!r} in this warehouse", code="unknown_location",
                       field="location") from None
    row = execute("SELECT id, code FROM location WHERE warehouse_id = ? AND code = ?",
                  (warehouse_id, canonical)).fetchone()
    if row is None:
        raise NotFound(f"no location {canonical} in this warehouse", code="unknown_location",
                       field="location")
    return row[0], row[1]


def _products(skus: list[str]) -> dict[str, tuple[int, str]]:
    found = {sku: (pid, sku) for sku, pid in select_in(
        "SELECT sku, id FROM product WHERE sku IN ({in})", sorted(set(skus)))} if skus else {}
    for i, sku in enumerate(skus):
        if sku not in found:
            raise Unprocessable(f"unknown SKU {sku!r}", code="unknown_sku",
                                field=f"lines.{i}.sku")
    return found


def _merged(lines: list[tuple[tuple[int, str], int]]) -> dict[tuple[int, str], int]:
    try:
        return merge_lines(lines)  # type: ignore[return-value]
    except ValueError as err:
        raise Unprocessable(str(err), code="bad_quantity", field="lines") from None


def _retrying(work):
    """Run a count's transaction; one the database rolled back (on PostgreSQL a deadlock
    or a serialisation failure) runs again whole (store.retry)."""
    return retry_transaction(work, what="count")



@dataclass
class _Outcome:
    lines: list[dict]
    reallocated: list[dict]
    backordered: int


def _apply(wh_id: int, wh_code: str, loc_id: int, loc_code: str,
           counted: dict[tuple[int, str], int], actor: str, now: dt.datetime,
           count_id: int | None, settings: Config) -> dict:
    """Apply a count of the bin inside the caller's write transaction; the API answer."""
    naive = clock.naive_utc(now)
    if count_id is None:    # first, as the handheld's path locks its count task first
        count_id = _open_or_new_count(wh_id, loc_id, actor, naive)
    # the bin's open pick tasks: a scan or short on them waits for the count, and the
    # count for them (so the units picked from the bin are read as committed)
    execute("SELECT t.id FROM pick_task t JOIN stock s ON s.id = t.stock_id "
            "WHERE s.location_id = ? AND t.status = 'open' ORDER BY t.id"
            + (" FOR UPDATE OF t" if is_postgres() else ""), (loc_id,)).fetchall()
    books = execute("SELECT s.product_id FROM stock s WHERE s.location_id = ?",
                    (loc_id,)).fetchall()
    product_ids = {r[0] for r in books} | {pid for pid, _ in counted}
    lock_stock(product_ids)
    for pid, _ in counted:          # a SKU found where the books had none: a record for it
        execute("INSERT INTO stock (warehouse_id, location_id, product_id, on_hand, reserved, "
                "updated_at) VALUES (?, ?, ?, 0, 0, ?) ON CONFLICT DO NOTHING",
                (wh_id, loc_id, pid, naive))
    rows = execute("SELECT s.id, s.product_id, p.sku, s.on_hand, s.reserved FROM stock s "
                   "JOIN product p ON p.id = s.product_id WHERE s.location_id = ? ORDER BY s.id"
                   + (" FOR UPDATE OF s" if is_postgres() else ""), (loc_id,)).fetchall()
    by_pid = {pid: n for (pid, _), n in counted.items()}
    out = _Outcome([], [], 0)
    for stock_id, pid, sku, on_hand, reserved in rows:
        _count_one(stock_id, sku, on_hand, reserved, by_pid.get(pid, 0), count_id, actor, now,
                   wh_code, loc_code, out)
    execute("UPDATE count_task SET state = 'done', counted_by = ?, counted_at = ? WHERE id = ?",
            (actor, naive, count_id))
    trail = [audit.row(now, actor, "count.done", "count", count_id, "open", "done",
                       {"location": loc_code, "warehouse": wh_code,
                        "variance": {ln["sku"]: ln["variance"] for ln in out.lines}})]
    if execute("UPDATE location SET blocked = NULL WHERE id = ? AND blocked = ?",
               (loc_id, BLOCK_COUNT_PENDING)).rowcount:
        trail.append(audit.row(now, actor, "location.unblock", "location", loc_id,
                               BLOCK_COUNT_PENDING, ""))
    audit.write(trail)
    resolved = resolve_for_count(count_id, actor, now,
                                 {"variance": {ln["sku"]: ln["variance"] for ln in out.lines}})
    stock_ids = [r[0] for r in rows]
    stock_levels_changed(stock_ids)
    # the bin is free again and may hold more than thought: waiting orders get first call
    orders = reserve_backorders(product_ids, actor, now, settings=settings)
    return {"count_id": count_id, "warehouse": wh_code, "location": loc_code,
            "counted_at": clock.aware_utc(naive).isoformat(), "lines": out.lines,
            "reallocated": out.reallocated, "backordered": out.backordered,
            "exceptions_resolved": resolved, "orders_reserved": orders}


def _open_or_new_count(wh_id: int, loc_id: int, actor: str, naive: dt.datetime) -> int:
    row = execute("SELECT id FROM count_task c WHERE location_id = ? AND state = 'open'"
                  + _lock_count(), (loc_id,)).fetchone()
    if row:
        return row[0]
    # a count nobody asked for (a supervisor's spot check): recorded as a done task
    return insert_returning("count_task", ("warehouse_id", "location_id", "state", "reason",
                                           "created_by", "created_at"),
                            [(wh_id, loc_id, "done", "spot_check", actor, naive)], ("id",))[0][0]


def _count_one(stock_id: int, sku: str, on_hand: int, reserved: int, counted: int,
               count_id: int, actor: str, now: dt.datetime, wh_code: str, loc_code: str,
               out: _Outcome) -> None:
    """One SKU of the count: settle its stock record (after moving any reserved units the
    bin cannot give), record the line and audit the variance."""
    in_transit = execute("SELECT COALESCE(SUM(picked), 0) FROM allocation WHERE stock_id = ?",
                         (stock_id,)).fetchone()[0]
    if counted + in_transit > MAX_COUNT:
        raise Unprocessable(f"{sku} at {loc_code}: {counted} counted and {in_transit} picked is "
                            f"more than one location can hold", code="out_of_range",
                            field="lines")
    result = settle(Book(on_hand, reserved, in_transit), counted)
    if result.shortfall:
        _move_shortfall(stock_id, result.shortfall, actor, now, out)
    changed = execute("UPDATE stock SET on_hand = ?, updated_at = ? WHERE id = ? "
                      "AND reserved = ?", (result.on_hand, clock.naive_utc(now), stock_id,
                                           result.reserved)).rowcount
    if changed != 1:   # cannot happen under the locks; refuse rather than break the books
        raise Conflict("the bin's stock changed under the count; nothing was recorded",
                       code="stock_mismatch")
    execute("INSERT INTO count_line (count_task_id, stock_id, sku, on_hand_before, "
            "reserved_before, in_transit, counted, on_hand_after, variance, shortfall) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (count_id, stock_id, sku, on_hand, reserved, in_transit, counted, result.on_hand,
             result.variance, result.shortfall))
    audit.write([audit.row(now, actor, "stock.cycle_count", "stock", stock_id,
                           {"on_hand": on_hand}, {"on_hand": result.on_hand},
                           {"sku": sku, "location": loc_code, "warehouse": wh_code,
                            "count": count_id, "counted": counted, "in_transit": in_transit,
                            "variance": result.variance, "shortfall": result.shortfall})])
    out.lines.append({"sku": sku, "on_hand_before": on_hand, "in_transit": in_transit,
                      "counted": counted, "on_hand": result.on_hand,
                      "variance": result.variance, "reserved": result.reserved,
                      "shortfall": result.shortfall})


def _move_shortfall(stock_id: int, shortfall: int, actor: str, now: dt.datetime,
                    out: _Outcome) -> None:
    """The bin holds fewer units than are still to be picked from it: the least urgent
    reservations give up the difference; units on an open pick task are re-reserved from
    another bin (a new task on the same cart and tote) or backordered, as after a short
    pick; units not on a task yet are backordered and offered stock again at the end."""
    claims = execute(
        "SELECT a.id, a.quantity - a.picked, o.priority, o.placed_at FROM allocation a "
        "JOIN order_line ol ON ol.id = a.order_line_id JOIN sales_order o ON o.id = ol.order_id "
        "WHERE a.stock_id = ? AND a.quantity > a.picked ORDER BY a.id", (stock_id,)).fetchall()
    try:
        giving = give_up([Claim(*c) for c in claims], shortfall)
    except ValueError:     # reserved units no reservation holds: the books disagree
        raise Conflict("the bin's reserved units disagree with its reservations; nothing was "
                       "recorded", code="stock_mismatch") from None
    for alloc_id, units in giving:
        left = units
        for task_id in [r[0] for r in execute(
                "SELECT id FROM pick_task WHERE allocation_id = ? AND status = 'open' "
                "ORDER BY id", (alloc_id,)).fetchall()]:
            if left == 0:
                break
            task = picking._task("WHERE t.id = ?", (task_id,))
            k = min(left, task.remaining)
            if k <= 0:
                continue
            execute("UPDATE pick_task SET short = short + ?, status = CASE WHEN "
                    "picked + short + ? >= quantity THEN 'short' ELSE status END, "
                    "updated_at = ? WHERE id = ?", (k, k, clock.naive_utc(now), task_id))
            picking.unreserve(task, k, now)
            new_tasks, backordered = picking.reassign_units(task, k, actor, now)
            out.reallocated += [{"task_id": t, "location": loc, "quantity": n, "order":
                                 task.order_ref} for t, loc, n in new_tasks]
            out.backordered += backordered
            left -= k
        if left:
            out.backordered += left
            _backorder_untasked(alloc_id, left, actor, now)


def _backorder_untasked(alloc_id: int, units: int, actor: str, now: dt.datetime) -> None:
    """Reserved units not on any pick task yet leave the bin's reservation: the order
    line waits for them (backordered) and a ready order becomes backordered."""
    line_id, stock_id, quantity, order_id, status = execute(
        "SELECT a.order_line_id, a.stock_id, a.quantity, o.id, o.status FROM allocation a "
        "JOIN order_line ol ON ol.id = a.order_line_id JOIN sales_order o ON o.id = ol.order_id "
        "WHERE a.id = ?", (alloc_id,)).fetchone()
    if quantity - units > 0:
        execute("UPDATE allocation SET quantity = quantity - ? WHERE id = ?", (units, alloc_id))
    else:
        execute("UPDATE pick_task SET allocation_id = NULL WHERE allocation_id = ?", (alloc_id,))
        execute("DELETE FROM allocation WHERE id = ?", (alloc_id,))
    execute("UPDATE order_line SET reserved = reserved - ?, backordered = backordered + ? "
            "WHERE id = ?", (units, units, line_id))
    changed = execute("UPDATE stock SET reserved = reserved - ? WHERE id = ? AND reserved >= ?",
                      (units, stock_id, units)).rowcount
    if changed != 1:
        raise Conflict("the bin's stock record disagrees with its reservations; nothing was "
                       "recorded", code="stock_mismatch")
    trail = [audit.row(now, actor, "stock.unreserve", "stock", stock_id, "", "",
                       {"order": order_id, "order_line": line_id, "quantity": units,
                        "why": "count"})]
    if lifecycle.can_move(status, lifecycle.BACKORDERED) and status != lifecycle.BACKORDERED:
        execute("UPDATE sales_order SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
                (lifecycle.BACKORDERED, clock.naive_utc(now), order_id, status))
        trail.append(audit.row(now, actor, "order.status", "order", order_id, status,
                               lifecycle.BACKORDERED))
    open_exception("short_pick", f"{units} reserved unit(s) of order {order_id} not in their "
                   "bin at a count; backordered", order_id=order_id, now=now, actor=actor,
                   detail={"order_line": line_id, "backordered": units, "stock": stock_id})
    audit.write(trail)


# ---- the handheld's count mode (/handheld: count.next, count.submit) ------------------------

def next_count(picker: picking.Picker, msg: object = None) -> dict:
    """The counter's open count task: theirs if they hold one, else an open one nobody
    holds (short picks' counts first, then the oldest), claimed for them."""
    msg = picking._only(msg or {}, {"warehouse"})
    warehouse = picking._text(msg, "warehouse", 32, required=False)
    now = clock.now()
    with store_db.write_tx():
        row = execute(_COUNT + "WHERE c.state = 'open' AND c.assigned_to = ? ORDER BY c.id "
                      "LIMIT 1", (picker.user_id,)).fetchone()
        if row is None:
            row = _claim_count(picker, warehouse, now)
        if row is None:
            return {"ok": True, "count": None}
        return {"ok": True, "count": _count_payload(_Count(*row))}


def _claim_count(picker: picking.Picker, warehouse: str | None, now: dt.datetime):
    q = ("SELECT c.id FROM count_task c JOIN warehouse w ON w.id = c.warehouse_id "
         "WHERE c.state = 'open' AND c.assigned_to IS NULL")
    params: tuple = ()
    if warehouse:
        q += " AND w.code = ?"
        params = (warehouse,)
    # a short pick's count first: its bin holds back orders and has a discrepancy open
    q += (" ORDER BY CASE WHEN c.reason = 'pick_short' THEN 0 ELSE 1 END, c.id LIMIT 1"
          + (" FOR NO KEY UPDATE OF c SKIP LOCKED" if is_postgres() else ""))
    got = execute(q, params).fetchone()
    if got is None:
        return None
    if not execute("UPDATE count_task SET assigned_to = ?, assigned_at = ? WHERE id = ? "
                   "AND assigned_to IS NULL AND state = 'open'",
                   (picker.user_id, clock.naive_utc(now), got[0])).rowcount:
        return None
    audit.write([audit.row(now, picker.actor, "count.claim", "count", got[0], "", picker.badge)])
    return execute(_COUNT + "WHERE c.id = ?", (got[0],)).fetchone()


def _count_payload(c: _Count) -> dict:
    """A count task as the handheld shows it: the bin, and the SKUs on its books (names and
    barcodes, no quantities: a blind count)."""
    skus = execute(
        "SELECT p.sku, p.name, (SELECT {agg}(g.gtin, ',') FROM product_gtin g "
        "WHERE g.product_id = p.id) FROM stock s JOIN product p ON p.id = s.product_id "
        "WHERE s.location_id = ? ORDER BY p.sku".format(
            agg="string_agg" if is_postgres() else "group_concat"), (c.location_id,)).fetchall()
    return {"count_id": c.id, "warehouse": c.warehouse, "location": c.location,
            "reason": c.reason,
            "skus": [{"sku": s, "name": n, "gtins": sorted(g.split(",")) if g else []}
                     for s, n, g in skus]}


def submit_count(picker: picking.Picker, msg: object, *, settings: Config) -> dict:
    """The counter's result for their count task: the bin's code as scanned there and each
    SKU (by SKU text or a product barcode) with its quantity. Exactly once by scan_id."""
    msg = picking._only(msg, {"scan_id", "count", "location", "lines", "scanned_at"})
    scan_id = picking._scan_id(msg)
    count_ref = picking._int(msg, "count", required=True)
    scanned_loc = picking._text(msg, "location", 64).strip()
    scanned_at = picking._when(msg)
    raw_lines = _socket_lines(msg.get("lines"))
    request_hash = once.request_hash("count", {"count": count_ref, "location": scanned_loc,
                                               "lines": raw_lines},
                                     user_id=picker.user_id, device=picker.device)

    def work() -> dict:
        now = clock.now()
        with store_db.write_tx():
            stored = once.stored("scan", scan_id)
            if stored:
                return once.replay(stored, request_hash, picking.AckError)
            c = _count_for(picker, count_ref)
            try:
                at = parse_location(scanned_loc).code
            except ValueError:
                at = scanned_loc
            if at != c.location:
                raise Conflict(f"this count is for bin {c.location}, not {scanned_loc}",
                               code="wrong_location", field="location")
            counted = _merged(_resolve_socket_lines(raw_lines))
            result = _apply(c.warehouse_id, c.warehouse, c.location_id, c.location, counted,
                            picker.actor, now, c.id, settings)
            response = {"ok": True, "scan_id": scan_id, "count": c.id, **{
                k: result[k] for k in ("location", "lines", "reallocated", "backordered")}}
            picking._store_scan(scan_id, "count", picker, None, f"count:{c.location}", None,
                                None, "ok", 0, request_hash, response,
                                scanned_at, now)
            return response

    return once.once("scan", scan_id, request_hash, lambda: _retrying(work), picking.AckError)


def _count_for(picker: picking.Picker, count_id: int) -> _Count:
    row = execute(_COUNT + "WHERE c.id = ?" + _lock_count(), (count_id,)).fetchone()
    if row is None:
        raise picking.AckError(f"no count {count_id}", code="no_count", field="count")
    c = _Count(*row)
    if c.state != "open":
        raise Conflict(f"count {c.id} is {c.state}", code="count_closed", field="count")
    if c.assigned_to not in (None, picker.user_id):
        raise Forbidden(f"count {c.id} is another counter's", code="not_your_count",
                        field="count")
    return c


def _socket_lines(value: object) -> list[dict]:
    if not isinstance(value, list) or len(value) > MAX_LINES:
        raise picking.AckError(f"lines must be a list of up to {MAX_LINES}", field="lines")
    out = []
    for i, line in enumerate(value):
        if not isinstance(line, dict) or set(line) - {"sku", "barcode", "quantity"} \
                or ("sku" in line) == ("barcode" in line):
            raise picking.AckError("each line is {sku or barcode, quantity}",
                                   field=f"lines.{i}")
        key = "sku" if "sku" in line else "barcode"
        text = line[key]
        if not isinstance(text, str) or not text.strip() or len(text) > picking.MAX_RAW \
                or "\x00" in text:
            raise picking.AckError(f"{key} must be text of 1 to {picking.MAX_RAW} characters",
                                   field=f"lines.{i}.{key}")
        n = line.get("quantity")
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_COUNT:
            raise picking.AckError("quantity must be a whole number of 0 or more",
                                   code="bad_quantity", field=f"lines.{i}.quantity")
        out.append({key: text.strip(), "quantity": n})
    return out


def _resolve_socket_lines(lines: list[dict]) -> list[tuple[tuple[int, str], int]]:
    """Each line's product, from its SKU or a barcode (GTIN, GS1) as scanned."""
    out = []
    for i, line in enumerate(lines):
        if "sku" in line:
            row = execute("SELECT id, sku FROM product WHERE sku = ?", (line["sku"],)).fetchone()
            field = f"lines.{i}.sku"
        else:
            gtin = parse_scan(line["barcode"]).gtin
            row = execute("SELECT p.id, p.sku FROM product_gtin g JOIN product p ON "
                          "p.id = g.product_id WHERE g.gtin = ?", (gtin,)).fetchone() \
                if gtin else None
            if row is None:     # keyed SKU text in the barcode field
                row = execute("SELECT id, sku FROM product WHERE sku = ?",
                              (line["barcode"],)).fetchone()
            field = f"lines.{i}.barcode"
        if row is None:
            raise Unprocessable(f"{next(iter(line.values()))!r} is no product we know",
                                code="unknown_sku", field=field)
        out.append(((row[0], row[1]), line["quantity"]))
    return out

