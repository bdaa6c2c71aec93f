"""Pick waves: plan (batch ready orders onto carts, route each cart), release, cancel.

A wave is planned from the warehouse's `ready` orders: the most urgent `max_orders`
(priority, express carrier, ship-by cut-off) are batched onto carts of `totes` totes by
`domain.batching` (seed + local search on exact routes), each order in its own tote(s).
Its pick tasks come from the orders' stock allocations that are not picked yet, in the
order of the cart's shortest route. Orders move ready → waved when planned (so no other
wave takes them) and back to ready when the wave is cancelled.

Waves: draft → released → picking → done | cancelled.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass

from .. import clock
from ..config import Config
from ..domain import lifecycle
from ..domain.batching import OrderPicks, fcfs_batches, plan_batches
from ..domain.errors import Conflict, NotFound, Unprocessable
from ..domain.layout import Layout
from ..domain.locations import parse_location
from ..domain.routing import sshape_route
from ..store import db as store_db
from ..store.bulk import insert_many, insert_returning, select_in, update_many
from ..store.db import execute, is_postgres
from . import audit, carrier_gate
from .stock import warehouse_by_code

DRAFT, RELEASED, PICKING, DONE, CANCELLED = "draft", "released", "picking", "done", "cancelled"
WAVE_STATUSES = (DRAFT, RELEASED, PICKING, DONE, CANCELLED)
MAX_TOTES = 64


@dataclass
class _Pick:
    """One open allocation of a waved order: what a pick task is made from."""
    allocation_id: int
    line_id: int
    line_no: int
    stock_id: int
    location: str
    product_id: int
    sku: str
    quantity: int
    volume_l: float


def layout_for(warehouse_code: str, settings: Config) -> Layout:
    layout = settings.layouts.get(warehouse_code)
    if layout is None:
        raise Unprocessable(f"warehouse {warehouse_code!r} has no layout in the config "
                            "(layouts.<code>)", code="no_layout", field="warehouse")
    return layout


def _check_numbers(max_orders: object, totes: object) -> tuple[int, int]:
    for name, value, high in (("max_orders", max_orders, 10_000), ("totes", totes, MAX_TOTES)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
            raise Unprocessable(f"{name} must be a whole number from 1 to {high}", field=name)
    return max_orders, totes  # type: ignore[return-value]


def _gate_unchecked(warehouse_id: int, actor: str, now: dt.datetime, settings: Config) -> None:
    """Ready orders that never passed the carrier gate (stored before it existed) pass it
    now, in a transaction of their own, so a hold sticks even if nothing can be planned."""
    query = ("SELECT id FROM sales_order WHERE status = ? AND warehouse_id = ? AND "
             "carrier_service = ''")
    if execute(query + " LIMIT 1", (lifecycle.READY, warehouse_id)).fetchone() is None:
        return                          # the usual case: no write transaction
    with store_db.write_tx():
        ids = [r[0] for r in execute(query, (lifecycle.READY, warehouse_id)).fetchall()]
        carrier_gate.check_orders(ids, actor, now, settings=settings)


def _express(service_id: str, settings: Config) -> bool:
    """An order goes out first when its carrier service is an express one."""
    svc = settings.setup.service(service_id) if service_id else None
    return bool(svc and svc.express)


def plan_wave(warehouse_code: str, max_orders: int, totes: int, actor: str,
              now: dt.datetime | None = None, *, settings: Config) -> dict:
    """Plan a draft wave of up to `max_orders` ready orders of the warehouse onto carts of
    `totes` totes. Unprocessable (nothing changed) when there is nothing to plan."""
    max_orders, totes = _check_numbers(max_orders, totes)
    cfg = settings.picking
    now = now or clock.now()
    wh = warehouse_by_code(warehouse_code)
    layout = layout_for(wh.code, settings)
    _gate_unchecked(wh.id, actor, now, settings)
    with store_db.write_tx():
        lock = " FOR UPDATE" if is_postgres() else ""
        orders = execute(
            "SELECT id, ref, priority, carrier_service, ship_by, placed_at FROM sales_order "
            "WHERE status = ? AND warehouse_id = ? ORDER BY id" + lock,
            (lifecycle.READY, wh.id)).fetchall()
        picks = _open_picks([o[0] for o in orders])
        candidates, skipped = [], []
        tote_l = cfg.tote_volume_l * cfg.tote_fill
        for oid, ref, priority, service_id, ship_by, placed_at in orders:
            mine = picks.get(oid, [])
            problem = _problem(layout, mine)
            need = max(1, math.ceil(sum(p.volume_l for p in mine) / tote_l - 1e-9)) \
                if tote_l > 0 else 1
            if problem is None and need > totes:
                problem = f"needs {need} totes; a cart holds {totes}"
            if problem:
                skipped.append({"order": ref, "order_id": oid, "reason": problem})
                continue
            cutoff = clock.aware_utc(ship_by) or (clock.aware_utc(placed_at)
                                        + dt.timedelta(hours=cfg.ship_within_hours))
            candidates.append(OrderPicks(str(oid), tuple(p.location for p in mine),
                                         priority=priority, cutoff=cutoff,
                                         express=_express(service_id, settings),
                                         totes=need))
        if not candidates:
            raise Unprocessable(f"no ready orders to pick in warehouse {wh.code}",
                                code="nothing_to_pick",
                                detail={"skipped": skipped} if skipped else None)
        plan = plan_batches(layout, candidates, totes, max_orders=max_orders,
                            time_budget_s=cfg.plan_time_budget_s)
        kept = {int(ref) for b in plan.batches for ref in b.orders}
        fcfs = fcfs_batches(layout, [c for c in candidates if int(c.order) in kept], totes)
        wave_id = _write_wave(wh.id, layout, plan, fcfs.total_length_m, candidates, picks,
                              totes, max_orders, skipped, actor, now)
    return wave_dict(wave_id)


def _open_picks(order_ids: list[int]) -> dict[int, list[_Pick]]:
    """Reserved units of these orders that are neither picked nor on an open pick task
    (an order backordered mid-cart keeps its other tasks), per order, by line."""
    if not order_ids:
        return {}
    rows = select_in(
        "SELECT ol.order_id, a.id, ol.id, ol.line_no, a.stock_id, l.code, ol.product_id, "
        "ol.sku, a.quantity - a.picked - COALESCE(t.open, 0), "
        "p.length_mm * p.width_mm * p.height_mm "
        "FROM allocation a JOIN order_line ol ON ol.id = a.order_line_id "
        "JOIN stock s ON s.id = a.stock_id JOIN location l ON l.id = s.location_id "
        "JOIN product p ON p.id = ol.product_id "
        "LEFT JOIN (SELECT allocation_id, SUM(quantity - picked - short) AS open "
        "FROM pick_task WHERE status = 'open' GROUP BY allocation_id) t "
        "ON t.allocation_id = a.id "
        "WHERE ol.order_id IN ({in}) AND a.quantity - a.picked - COALESCE(t.open, 0) > 0 "
        "ORDER BY ol.order_id, ol.line_no, a.id", order_ids)
    out: dict[int, list[_Pick]] = {}
    for oid, aid, lid, line_no, sid, code, pid, sku, qty, mm3 in rows:
        out.setdefault(oid, []).append(_Pick(aid, lid, line_no, sid, code, pid, sku, qty,
                                             qty * (mm3 or 0) / 1e6))
    return out


def _problem(layout: Layout, picks: list[_Pick]) -> str | None:
    if not picks:
        return "no reserved units left to pick"
    for p in picks:
        try:
            layout.point(p.location)
        except ValueError as err:
            return f"location {p.location} is not in the warehouse layout ({err})"
    return None


def _write_wave(warehouse_id, layout, plan, fcfs_m, candidates, picks, totes, max_orders,
                skipped, actor, now) -> int:
    naive = clock.naive_utc(now)
    size = {int(c.order): c.totes for c in candidates}
    sshape = [sshape_route(layout, b.route.sequence).length_m for b in plan.batches]
    wave_id = insert_returning(
        "wave", ("warehouse_id", "status", "totes", "max_orders", "length_m", "fcfs_length_m",
                 "sshape_length_m", "skipped", "created_by", "created_at"),
        [(warehouse_id, DRAFT, totes, max_orders, plan.total_length_m, fcfs_m, sum(sshape),
          json.dumps(skipped), actor, naive)], ("id",))[0][0]
    cart_ids = insert_returning(
        "cart", ("wave_id", "seq", "status", "length_m", "sshape_length_m", "route"),
        [(wave_id, n, "open", b.route.length_m, sshape[n - 1], json.dumps(list(b.route.sequence)))
         for n, b in enumerate(plan.batches, 1)], ("id",))
    cart_ids = [r[0] for r in cart_ids]
    tote_rows, owners = [], []
    for cart_id, batch in zip(cart_ids, plan.batches):
        slot = 0
        for ref in batch.orders:
            for _ in range(size[int(ref)]):
                slot += 1
                tote_rows.append((cart_id, slot, int(ref)))
                owners.append((cart_id, int(ref)))
    tote_ids = [r[0] for r in insert_returning("tote", ("cart_id", "slot", "order_id"),
                                               tote_rows, ("id",))]
    totes_of: dict[tuple[int, int], list[int]] = {}
    for tid, key in zip(tote_ids, owners):
        totes_of.setdefault(key, []).append(tid)
    task_rows = []
    for cart_id, batch in zip(cart_ids, plan.batches):
        task_rows += _cart_tasks(wave_id, cart_id, batch, picks, totes_of, layout, naive)
    insert_many("pick_task", ("wave_id", "cart_id", "tote_id", "order_id", "order_line_id",
                              "allocation_id", "stock_id", "location_code", "product_id",
                              "sku", "seq", "quantity", "updated_at"), task_rows)
    waved = [int(ref) for b in plan.batches for ref in b.orders]
    update_many("sales_order", "id", (("id", "bigint"), ("s", "varchar"), ("t", "timestamp")),
                [(oid, lifecycle.WAVED, naive) for oid in waved],
                sets="status = {s}, updated_at = {t}", where="status = 'ready'")
    trail = [audit.row(now, actor, "wave.plan", "wave", wave_id, "", DRAFT,
                       {"orders": len(waved), "carts": len(cart_ids), "totes": totes,
                        "length_m": round(plan.total_length_m, 1),
                        "fcfs_length_m": round(fcfs_m, 1)})]
    trail += [audit.row(now, actor, "order.status", "order", oid, lifecycle.READY,
                        lifecycle.WAVED, {"wave": wave_id}) for oid in waved]
    audit.write(trail)
    return wave_id


def _cart_tasks(wave_id, cart_id, batch, picks, totes_of, layout, naive) -> list[tuple]:
    """The cart's tasks in route order (same bay: order of the orders on the cart), each
    unit put in its order's tote(s), filling one tote before the next."""
    position = {}
    for i, code in enumerate(batch.route.sequence):
        position.setdefault(parse_location(code).code, i)
    rank = {int(ref): k for k, ref in enumerate(batch.orders)}
    items = [(int(ref), p) for ref in batch.orders for p in picks[int(ref)]]
    items.sort(key=lambda it: (position[parse_location(it[1].location).code], rank[it[0]],
                               it[1].line_no, it[1].allocation_id))
    tote_cap = {}
    for (cid, oid), ids in totes_of.items():
        if cid == cart_id:
            total = sum(p.volume_l for p in picks[oid])
            tote_cap[oid] = (ids, total / len(ids) if total else 0.0)
    filled: dict[int, float] = {}
    rows = []
    for seq, (oid, p) in enumerate(items, 1):
        ids, per_tote = tote_cap[oid]
        used = filled.get(oid, 0.0)
        index = min(int(used // per_tote), len(ids) - 1) if per_tote else 0
        filled[oid] = used + p.volume_l
        rows.append((wave_id, cart_id, ids[index], oid, p.line_id, p.allocation_id,
                     p.stock_id, p.location, p.product_id, p.sku, seq, p.quantity, naive))
    return rows


def release(wave_id: int, actor: str) -> dict:
    """draft → released: pickers can claim its carts."""
    now = clock.now()
    with store_db.write_tx():
        status = _status(wave_id)
        if status != DRAFT:
            raise Conflict(f"wave {wave_id} is {status}; only a draft can be released",
                           code="bad_wave_state")
        execute("UPDATE wave SET status = ?, released_at = ? WHERE id = ? AND status = ?",
                (RELEASED, clock.naive_utc(now), wave_id, DRAFT))
        audit.write([audit.row(now, actor, "wave.release", "wave", wave_id, DRAFT, RELEASED)])
    return wave_dict(wave_id)


def cancel(wave_id: int, actor: str) -> dict:
    """Cancel a wave before anything of it is picked: its tasks and carts are cancelled,
    its orders go back to `ready` (their stock stays reserved) for a later wave."""
    now = clock.now()
    with store_db.write_tx():
        status = _status(wave_id, lock=True)
        if status in (DONE, CANCELLED):
            raise Conflict(f"wave {wave_id} is {status}", code="bad_wave_state")
        picked = execute("SELECT COALESCE(SUM(picked), 0) FROM pick_task WHERE wave_id = ?",
                         (wave_id,)).fetchone()[0]
        if picked:
            raise Conflict(f"wave {wave_id} has {picked} units picked already; finish or "
                           "short-pick its carts instead", code="picks_recorded")
        naive = clock.naive_utc(now)
        execute("UPDATE pick_task SET status = 'cancelled', updated_at = ? "
                "WHERE wave_id = ? AND status = 'open'", (naive, wave_id))
        execute("UPDATE tote SET active_barcode = NULL WHERE cart_id IN "
                "(SELECT id FROM cart WHERE wave_id = ?)", (wave_id,))
        execute("UPDATE cart SET status = 'cancelled', done_at = ? WHERE wave_id = ? "
                "AND status IN ('open', 'picking')", (naive, wave_id))
        execute("UPDATE wave SET status = ?, cancelled_at = ? WHERE id = ?",
                (CANCELLED, naive, wave_id))
        orders = [r[0] for r in execute(
            "SELECT DISTINCT t.order_id FROM tote t JOIN cart c ON c.id = t.cart_id "
            "JOIN sales_order o ON o.id = t.order_id WHERE c.wave_id = ? AND o.status = ?",
            (wave_id, lifecycle.WAVED)).fetchall()]
        update_many("sales_order", "id", (("id", "bigint"), ("s", "varchar"), ("t", "timestamp")),
                    [(oid, lifecycle.READY, naive) for oid in orders],
                    sets="status = {s}, updated_at = {t}", where="status = 'waved'")
        trail = [audit.row(now, actor, "wave.cancel", "wave", wave_id, status, CANCELLED)]
        trail += [audit.row(now, actor, "order.status", "order", oid, lifecycle.WAVED,
                            lifecycle.READY, {"wave": wave_id}) for oid in orders]
        audit.write(trail)
    return wave_dict(wave_id)


def _status(wave_id: int, lock: bool = False) -> str:
    suffix = " FOR UPDATE" if lock and is_postgres() else ""
    row = execute("SELECT status FROM wave WHERE id = ?" + suffix, (wave_id,)).fetchone()
    if row is None:
        raise NotFound(f"no wave {wave_id}")
    return row[0]


def _iso(value) -> str | None:
    when = clock.aware_utc(value)
    return when.isoformat() if when else None


def wave_dict(wave_id: int) -> dict:
    row = execute(
        "SELECT w.id, h.code, w.status, w.totes, w.max_orders, w.length_m, w.fcfs_length_m, "
        "w.sshape_length_m, w.skipped, w.created_by, w.created_at, w.released_at, w.done_at, "
        "w.cancelled_at FROM wave w JOIN warehouse h ON h.id = w.warehouse_id WHERE w.id = ?",
        (wave_id,)).fetchone()
    if row is None:
        raise NotFound(f"no wave {wave_id}")
    (wid, wh, status, totes, max_orders, length, fcfs, sshape, skipped, by, created,
     released, done, cancelled) = row
    carts = execute(
        "SELECT c.id, c.seq, c.status, u.badge, c.length_m, c.sshape_length_m, c.route "
        "FROM cart c LEFT JOIN app_user u ON u.id = c.picker_id WHERE c.wave_id = ? "
        "ORDER BY c.seq", (wid,)).fetchall()
    totes_rows = execute(
        "SELECT t.cart_id, t.slot, o.id, o.ref, t.barcode FROM tote t "
        "JOIN cart c ON c.id = t.cart_id JOIN sales_order o ON o.id = t.order_id "
        "WHERE c.wave_id = ? ORDER BY t.cart_id, t.slot", (wid,)).fetchall()
    counts = execute(
        "SELECT cart_id, COUNT(*), SUM(quantity), SUM(picked), SUM(short), "
        "SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END) FROM pick_task "
        "WHERE wave_id = ? AND status <> 'cancelled' GROUP BY cart_id", (wid,)).fetchall()
    per_cart = {r[0]: r[1:] for r in counts}
    totes_of: dict[int, list[dict]] = {}
    for cid, slot, oid, ref, barcode in totes_rows:
        totes_of.setdefault(cid, []).append({"slot": slot, "order_id": oid, "order": ref,
                                             "barcode": barcode})
    cart_list = []
    for cid, seq, cstatus, badge, clen, cs, route in carts:
        n, units, picked, short, open_ = per_cart.get(cid, (0, 0, 0, 0, 0))
        cart_list.append({"id": cid, "seq": seq, "status": cstatus, "picker": badge,
                          "length_m": round(clen, 2), "sshape_length_m": round(cs, 2),
                          "route": json.loads(route), "totes": totes_of.get(cid, []),
                          "tasks": n, "open_tasks": open_ or 0, "units": units or 0,
                          "picked": picked or 0, "short": short or 0})
    orders = sorted({t["order_id"] for c in cart_list for t in c["totes"]})
    return {"id": wid, "warehouse": wh, "status": status, "totes": totes,
            "max_orders": max_orders, "orders": len(orders),
            "length_m": round(length, 2), "fcfs_length_m": round(fcfs, 2),
            "sshape_length_m": round(sshape, 2), "created_by": by,
            "created_at": _iso(created), "released_at": _iso(released),
            "done_at": _iso(done), "cancelled_at": _iso(cancelled),
            "skipped": json.loads(skipped), "carts": cart_list}


def list_waves(status: str | None, after: int, limit: int) -> tuple[list[dict], int | None]:
    if status is not None and status not in WAVE_STATUSES:
        raise Unprocessable(f"status must be one of {', '.join(WAVE_STATUSES)}", field="status")
    q = "SELECT id FROM wave WHERE id > ?"
    params: list = [after]
    if status:
        q += " AND status = ?"
        params.append(status)
    ids = [r[0] for r in execute(q + " ORDER BY id LIMIT ?", (*params, limit + 1)).fetchall()]
    more = len(ids) > limit
    ids = ids[:limit]
    return [wave_dict(i) for i in ids], (ids[-1] if more else None)


def auto_waves(actor: str = "job:auto-wave", *, settings: Config) -> list[int]:
    """Plan and release one wave per warehouse with a layout and enough ready orders."""
    cfg = settings
    made = []
    for code in cfg.layouts:
        row = execute("SELECT COUNT(*) FROM sales_order o JOIN warehouse w ON w.id = "
                      "o.warehouse_id WHERE w.code = ? AND o.status = ?",
                      (code, lifecycle.READY)).fetchone()
        if row[0] < max(1, cfg.picking.auto_wave_min_orders):
            continue
        try:
            wave = plan_wave(code, cfg.picking.max_orders_per_wave, cfg.picking.totes_per_cart,
                             actor, settings=settings)
        except (Unprocessable, NotFound):
            continue
        release(wave["id"], actor)
        made.append(wave["id"])
    return made
