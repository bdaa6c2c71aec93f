"""Replenishment: pick faces (a location + SKU with a min, and a max) refilled from reserve.

When a face's available stock (on hand - reserved) drops below its min, one replenishment
task (replen_task, at most one open per face: a partial UNIQUE index) and one
`replenishment_needed` exception (the alert, W4's queue) open. The task is done on the
handheld in `replenish` mode (scan the source bin, scan the face, the quantity: move());
when the warehouse holds no reserve of the SKU the open task becomes a purchase
suggestion instead (purchase_suggestions()). The task and its exception close by
themselves once the face is back at or above its min, by the move or by anything else
(a receipt into the face, an order cancelled).

Detection is kept off the hot paths: the services that change available stock
(reservation, short picks, counts, receipts, releases) only publish STOCK_LEVELS with the
stock rows they touched, which costs nothing inside their transaction (an event held
until commit). After the commit the replenishment worker (jobs/replenish_worker.py) runs
check() on those rows in a transaction of its own; a periodic sweep (check() of every
face, config `replenishment.sweep_every_seconds`) catches what a wake-up missed: a
crash between commit and check, or a process running no worker.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from .. import clock, events
from ..config import Config
from ..config_replenishment import check_levels
from ..domain import replenishment as rules
from ..domain.barcodes import parse_scan
from ..domain.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from ..domain.locations import parse_location
from ..store import db as store_db
from ..store.bulk import insert_returning, select_in
from ..store.db import execute, is_postgres
from ..store.retry import retry_transaction
from . import audit, once, picking
from .exceptions import _close as close_exceptions, open_many
from .reservation import STOCK_LEVELS, lock_stock, stock_levels_changed
from .stock import _product_id, ensure_location, reserve_backorders, warehouse_by_code

EXCEPTION_TYPE = "replenishment_needed"
REPLENISHMENT_CHANGED = "replenishment.changed"    # after commit: the console hears it
STATES = ("open", "done", "cancelled")
MAX_MOVE = 1_000_000
PAGE_MAX = 500

__all__ = ["STOCK_LEVELS", "EXCEPTION_TYPE", "REPLENISHMENT_CHANGED", "check", "set_levels",
           "list_levels", "list_tasks", "list_alerts", "cancel_task", "purchase_suggestions",
           "next_task", "move"]


def _iso(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return clock.aware_utc(value).isoformat()


def _changed(warehouse: str | None, **data) -> None:
    events.publish(REPLENISHMENT_CHANGED, warehouse=warehouse, **data)


# ---- the check: open tasks for faces below min, close those refilled ----------------------

_LOW = ("SELECT s.id, s.warehouse_id, s.location_id, s.product_id, s.on_hand, s.reserved, "
        "s.min_qty, s.max_qty, l.code, p.sku, w.code FROM stock s "
        "JOIN location l ON l.id = s.location_id JOIN product p ON p.id = s.product_id "
        "JOIN warehouse w ON w.id = s.warehouse_id "
        "WHERE s.min_qty > 0 AND s.on_hand - s.reserved < s.min_qty "
        "AND NOT EXISTS (SELECT 1 FROM replen_task t WHERE t.stock_id = s.id "
        "AND t.state = 'open') "
        # a task a supervisor cancelled comes back only once the face's stock changes again
        "AND NOT EXISTS (SELECT 1 FROM replen_task c WHERE c.stock_id = s.id "
        "AND c.state = 'cancelled' AND c.close_reason = 'supervisor' "
        "AND c.closed_at >= s.updated_at)")

_REFILLED = ("SELECT t.id, t.exception_id, t.moved, w.code, t.stock_id FROM replen_task t "
             "JOIN stock s ON s.id = t.stock_id JOIN warehouse w ON w.id = t.warehouse_id "
             "WHERE t.state = 'open' AND (s.min_qty <= 0 OR s.on_hand - s.reserved >= s.min_qty)")


def check(stock_ids: Iterable[int] | None = None, *, settings: Config,
          actor: str = "system:replenishment", now: dt.datetime | None = None) -> dict:
    """Open a task and an exception for each pick face below its min that has no open
    task; close the open tasks (and their exceptions) of faces back at or above min.
    `stock_ids`: only these rows (a wake-up); None: every face (the sweep). Idempotent:
    a second run, or two at once, opens nothing more (the partial UNIQUE index)."""
    ids = None if stock_ids is None else sorted(set(stock_ids))
    if ids is not None and not ids:
        return {"opened": [], "closed": []}

    def once_() -> dict:
        at = now or clock.now()
        with store_db.write_tx():
            low = _select(_LOW, ids, "s.id")
            opened = _open_tasks(low, actor, at, settings)
            closed = _close_refilled(_select(_REFILLED, ids, "t.stock_id"), actor, at)
        return {"opened": opened, "closed": closed}
    return retry_transaction(once_, what="replenishment check")


def _select(statement: str, ids: list[int] | None, column: str) -> list[tuple]:
    if ids is None:
        return execute(statement + f" ORDER BY {column}").fetchall()
    return select_in(statement + f" AND {column} IN ({{in}}) ORDER BY {column}", ids)


def _open_tasks(low: list[tuple], actor: str, now: dt.datetime, settings: Config) -> list[int]:
    if not low:
        return []
    naive = clock.naive_utc(now)
    rows = [(wid, lid, pid, sid, "open", mn, mx, oh - r,
             rules.refill_quantity(oh, r, mn, mx), actor[:120], naive, naive)
            for sid, wid, lid, pid, oh, r, mn, mx, *_ in low]
    made = dict((sid, tid) for tid, sid in insert_returning(
        "replen_task", ("warehouse_id", "location_id", "product_id", "stock_id", "state",
                        "min_qty", "max_qty", "available_at_open", "suggested", "created_by",
                        "created_at", "updated_at"),
        rows, ("id", "stock_id"), ignore_conflicts=True))
    fresh = [r for r in low if r[0] in made]
    if not fresh:
        return []
    exc_ids = open_many([dict(
        type_=EXCEPTION_TYPE,
        message=f"{sku} at {code} ({wh}): {oh - r} available, minimum {mn}; "
                f"replenishment task {made[sid]}",
        subject=("bin", lid, f"{code} {sku}"),
        detail={"task": made[sid], "warehouse": wh, "location": code, "sku": sku,
                "available": oh - r, "min": mn, "max": mx})
        for sid, _, lid, _, oh, r, mn, mx, code, sku, wh in fresh], now=now, actor=actor,
        settings=settings)
    for (sid, *_), eid in zip(fresh, exc_ids):
        execute("UPDATE replen_task SET exception_id = ? WHERE id = ?", (eid, made[sid]))
    audit.write([audit.row(now, actor, "replenishment.open", "replen_task", made[sid], "",
                           "open", {"warehouse": wh, "location": code, "sku": sku,
                                    "available": oh - r, "min": mn, "max": mx,
                                    "exception": eid})
                 for (sid, _, _, _, oh, r, mn, mx, code, sku, wh), eid in zip(fresh, exc_ids)])
    for sid, *_rest in fresh:
        _changed(_rest[-1], action="opened", task=made[sid], sku=_rest[-2],
                 location=_rest[-3])
    return [made[r[0]] for r in fresh]


def _close_refilled(rows: list[tuple], actor: str, now: dt.datetime) -> list[int]:
    """Close the open tasks of faces back at or above min: done when units were moved for
    them, cancelled ('refilled': something else refilled the face) when none were."""
    closed = []
    for tid, eid, moved, wh, _sid in rows:
        if _finish(tid, eid, "done" if moved else "cancelled", "refilled", actor, now, wh):
            closed.append(tid)
    return closed


def _finish(task_id: int, exception_id: int | None, state: str, reason: str, actor: str,
            now: dt.datetime, warehouse: str, exception_state: str = "resolved") -> bool:
    naive = clock.naive_utc(now)
    if not execute("UPDATE replen_task SET state = ?, close_reason = ?, closed_by = ?, "
                   "closed_at = ?, updated_at = ? WHERE id = ? AND state = 'open'",
                   (state, reason, actor[:120], naive, naive, task_id)).rowcount:
        return False
    if exception_id is not None:
        close_exceptions([exception_id], actor, now, reason, {"task": task_id},
                         state=exception_state)
    audit.write([audit.row(now, actor, f"replenishment.{state}", "replen_task", task_id,
                           "open", state, {"reason": reason})])
    _changed(warehouse, action=state, task=task_id, reason=reason)
    return True


# ---- min / max ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LevelIn:
    warehouse: str
    location: str
    sku: str
    min_qty: int
    max_qty: int


def set_levels(levels: list[LevelIn], actor: str, *, only_unset: bool = False) -> list[dict]:
    """Set pick faces' min and max (making the stock row, with nothing on hand, where the SKU
    had none at that location: a new face). The check runs after the commit.
    only_unset: leave faces that already have a min or max (config levels at start)."""
    for i, lv in enumerate(levels):
        problem = check_levels(lv.min_qty, lv.max_qty)
        if problem:
            raise Unprocessable(problem, code="bad_levels", field=f"levels[{i}]")

    def once_() -> list[dict]:
        now = clock.now()
        naive = clock.naive_utc(now)
        out, trail, touched = [], [], []
        with store_db.write_tx():
            for lv in levels:
                wh = warehouse_by_code(lv.warehouse)
                pid = _product_id(lv.sku)
                loc = ensure_location(wh, lv.location, now)
                execute("INSERT INTO stock (warehouse_id, location_id, product_id, on_hand, "
                        "reserved, min_qty, max_qty, updated_at) VALUES (?, ?, ?, 0, 0, 0, 0, ?) "
                        "ON CONFLICT DO NOTHING", (wh.id, loc.id, pid, naive))
                sid, mn, mx = execute("SELECT id, min_qty, max_qty FROM stock WHERE "
                                      "location_id = ? AND product_id = ?" + (
                                          " FOR UPDATE" if is_postgres() else ""),
                                      (loc.id, pid)).fetchone()
                if only_unset and (mn or mx):
                    continue
                if (mn, mx) != (lv.min_qty, lv.max_qty):
                    execute("UPDATE stock SET min_qty = ?, max_qty = ?, updated_at = ? "
                            "WHERE id = ?", (lv.min_qty, lv.max_qty, naive, sid))
                    trail.append(audit.row(now, actor, "stock.levels", "stock", sid,
                                           {"min": mn, "max": mx},
                                           {"min": lv.min_qty, "max": lv.max_qty},
                                           {"warehouse": wh.code, "location": loc.code,
                                            "sku": lv.sku}))
                    touched.append(sid)
                    # an open task follows its face's new levels
                    execute("UPDATE replen_task SET min_qty = ?, max_qty = ? WHERE "
                            "stock_id = ? AND state = 'open'", (lv.min_qty, lv.max_qty, sid))
                out.append(sid)
            audit.write(trail)
            stock_levels_changed(touched)
        return out
    ids = retry_transaction(once_, what="replenishment levels")
    return list_levels(stock_ids=ids)


_FACE = ("SELECT s.id, w.code, l.code, p.sku, p.name, s.on_hand, s.reserved, s.min_qty, "
         "s.max_qty, l.blocked, (SELECT t.id FROM replen_task t WHERE t.stock_id = s.id "
         "AND t.state = 'open') FROM stock s JOIN warehouse w ON w.id = s.warehouse_id "
         "JOIN location l ON l.id = s.location_id JOIN product p ON p.id = s.product_id ")


def _face(row: tuple) -> dict:
    sid, wh, loc, sku, name, oh, r, mn, mx, blocked, task = row
    return {"stock_id": sid, "warehouse": wh, "location": loc, "sku": sku, "name": name,
            "on_hand": oh, "reserved": r, "available": oh - r, "min_qty": mn, "max_qty": mx,
            "below_min": rules.below_min(oh, r, mn), "blocked": blocked, "open_task": task}


def list_levels(*, warehouse: str | None = None, sku: str | None = None,
                below: bool = False, stock_ids: list[int] | None = None,
                limit: int = PAGE_MAX) -> list[dict]:
    """Pick faces (stock rows with a min or a max) with their stock and open task."""
    if stock_ids is not None:
        rows = select_in(_FACE + "WHERE s.id IN ({in}) ORDER BY w.code, l.pick_seq, p.sku",
                         stock_ids) if stock_ids else []
        return [_face(r) for r in rows]
    where, params = ["(s.min_qty > 0 OR s.max_qty > 0)"], []
    if warehouse:
        where.append("w.code = ?")
        params.append(warehouse)
    if sku:
        where.append("p.sku = ?")
        params.append(sku)
    if below:
        where.append("s.on_hand - s.reserved < s.min_qty")
    rows = execute(_FACE + "WHERE " + " AND ".join(where) +
                   " ORDER BY w.code, l.pick_seq, l.code, p.sku LIMIT ?",
                   (*params, max(1, min(limit, PAGE_MAX)))).fetchall()
    return [_face(r) for r in rows]


# ---- reserve and purchase suggestions ------------------------------------------------------

_RESERVE = ("SELECT s.id, l.code, s.on_hand - s.reserved FROM stock s "
            "JOIN location l ON l.id = s.location_id WHERE s.warehouse_id = ? "
            "AND s.product_id = ? AND s.min_qty = 0 AND s.max_qty = 0 AND l.blocked IS NULL "
            "AND s.on_hand - s.reserved > 0")


def reserve_sources(warehouse_id: int, product_id: int) -> list[rules.Source]:
    return rules.order_sources(rules.Source(*r) for r in execute(
        _RESERVE, (warehouse_id, product_id)).fetchall())


def purchase_suggestions(warehouse: str | None = None) -> list[dict]:
    """What to buy: the open tasks' units the warehouse's reserve cannot give."""
    q = ("SELECT w.code, p.sku, p.name, l.code, t.suggested - t.moved, t.created_at, "
         "t.warehouse_id, t.product_id FROM replen_task t JOIN warehouse w ON "
         "w.id = t.warehouse_id JOIN product p ON p.id = t.product_id JOIN location l ON "
         "l.id = t.location_id WHERE t.state = 'open'")
    params: tuple = ()
    if warehouse:
        q += " AND w.code = ?"
        params = (warehouse,)
    rows = execute(q, params).fetchall()
    reserve = {}
    for wh, sku, _, _, _, _, wid, pid in rows:
        if (wh, sku) not in reserve:
            reserve[(wh, sku)] = sum(s.available for s in reserve_sources(wid, pid))
    needs = [rules.Need(wh, sku, name, loc, max(0, rem), at)
             for wh, sku, name, loc, rem, at, _, _ in rows]
    return [{"warehouse": s.warehouse, "sku": s.sku, "name": s.name,
             "locations": list(s.locations), "needed": s.needed,
             "reserve_available": s.reserve_available, "quantity": s.quantity,
             "since": _iso(s.since)}
            for s in rules.purchase_suggestions(needs, reserve)]


# ---- supervisors' views and actions ---------------------------------------------------------

_TASK = ("SELECT t.id, w.code, l.code, p.sku, p.name, t.state, t.min_qty, t.max_qty, "
         "t.available_at_open, t.suggested, t.moved, t.exception_id, u.badge, t.created_at, "
         "t.closed_at, t.closed_by, t.close_reason, s.on_hand, s.reserved, t.warehouse_id, "
         "t.product_id, t.location_id, t.stock_id, t.assigned_to FROM replen_task t "
         "JOIN warehouse w ON w.id = t.warehouse_id JOIN location l ON l.id = t.location_id "
         "JOIN product p ON p.id = t.product_id JOIN stock s ON s.id = t.stock_id "
         "LEFT JOIN app_user u ON u.id = t.assigned_to ")


@dataclass(frozen=True)
class _Task:
    id: int
    warehouse: str
    location: str
    sku: str
    name: str
    state: str
    min_qty: int
    max_qty: int
    available_at_open: int
    suggested: int
    moved: int
    exception_id: int | None
    assigned_badge: str | None
    created_at: object
    closed_at: object
    closed_by: str
    close_reason: str
    on_hand: int
    reserved: int
    warehouse_id: int
    product_id: int
    location_id: int
    stock_id: int
    assigned_to: int | None

    @property
    def remaining(self) -> int:
        return max(0, self.suggested - self.moved)

    def as_dict(self) -> dict:
        return {"id": self.id, "warehouse": self.warehouse, "location": self.location,
                "sku": self.sku, "name": self.name, "state": self.state,
                "min_qty": self.min_qty, "max_qty": self.max_qty,
                "available_at_open": self.available_at_open, "suggested": self.suggested,
                "moved": self.moved, "remaining": self.remaining if self.state == "open" else 0,
                "on_hand": self.on_hand, "available": self.on_hand - self.reserved,
                "exception": self.exception_id, "assigned_to": self.assigned_badge,
                "created_at": _iso(self.created_at), "closed_at": _iso(self.closed_at),
                "closed_by": self.closed_by or None, "close_reason": self.close_reason or None}


def _task(task_id: int, lock: bool = False) -> _Task | None:
    row = execute(_TASK + "WHERE t.id = ?" + (" FOR UPDATE OF t" if lock and is_postgres()
                                              else ""), (task_id,)).fetchone()
    return _Task(*row) if row else None


def list_tasks(*, state: str | None = "open", warehouse: str | None = None,
               limit: int = 200) -> list[dict]:
    if state is not None and state not in STATES:
        raise BadRequest(f"state must be one of {', '.join(STATES)}", field="state")
    where, params = [], []
    if state:
        where.append("t.state = ?")
        params.append(state)
    if warehouse:
        where.append("w.code = ?")
        params.append(warehouse)
    rows = execute(_TASK + ("WHERE " + " AND ".join(where) if where else "") +
                   " ORDER BY t.id DESC LIMIT ?",
                   (*params, max(1, min(limit, PAGE_MAX)))).fetchall()
    tasks = [_Task(*r) for r in rows]
    out = []
    for t in tasks:
        d = t.as_dict()
        if t.state == "open":
            d["reserve_available"] = sum(s.available for s in
                                         reserve_sources(t.warehouse_id, t.product_id))
        out.append(d)
    return out


def get_task(task_id: int) -> dict:
    t = _task(task_id)
    if t is None:
        raise NotFound(f"no replenishment task {task_id}", code="no_task")
    d = t.as_dict()
    d["moves"] = [{"from": f, "to": to, "quantity": q, "by": by, "at": _iso(at)}
                  for f, to, q, by, at in execute(
                      "SELECT lf.code, lt.code, m.quantity, m.moved_by, m.moved_at "
                      "FROM replen_move m JOIN stock sf ON sf.id = m.from_stock_id "
                      "JOIN location lf ON lf.id = sf.location_id "
                      "JOIN stock st ON st.id = m.to_stock_id "
                      "JOIN location lt ON lt.id = st.location_id WHERE m.task_id = ? "
                      "ORDER BY m.id", (task_id,)).fetchall()]
    return d


def list_alerts(*, active: bool = True, warehouse: str | None = None,
                limit: int = 200) -> list[dict]:
    """The replenishment alerts: `replenishment_needed` exceptions with their task."""
    q = ("SELECT e.id, e.state, e.severity, e.subject_ref, e.message, e.created_at, e.due_at, "
         "e.resolved_at, e.resolution, t.id, t.state, w.code, s.on_hand - s.reserved, "
         "s.min_qty FROM wms_exception e JOIN replen_task t ON t.exception_id = e.id "
         "JOIN warehouse w ON w.id = t.warehouse_id JOIN stock s ON s.id = t.stock_id "
         "WHERE e.type = ?")
    params: list = [EXCEPTION_TYPE]
    if active:
        q += " AND e.state IN ('open', 'acknowledged')"
    if warehouse:
        q += " AND w.code = ?"
        params.append(warehouse)
    rows = execute(q + " ORDER BY e.id DESC LIMIT ?",
                   (*params, max(1, min(limit, PAGE_MAX)))).fetchall()
    return [{"id": eid, "state": st, "severity": sev, "subject": ref, "message": msg,
             "created_at": _iso(c), "due_at": _iso(due), "resolved_at": _iso(res),
             "resolution": rz or None, "task": tid, "task_state": tst, "warehouse": wh,
             "available": av, "min_qty": mn}
            for eid, st, sev, ref, msg, c, due, res, rz, tid, tst, wh, av, mn in rows]


def cancel_task(task_id: int, actor: str, reason: str = "") -> dict:
    """A supervisor cancels an open task (its exception is dismissed). It does not come
    back by itself until the face's stock changes again."""
    def once_() -> dict:
        now = clock.now()
        with store_db.write_tx():
            t = _task(task_id, lock=True)
            if t is None:
                raise NotFound(f"no replenishment task {task_id}", code="no_task")
            if t.state != "open":
                raise Conflict(f"task {task_id} is {t.state}", code="task_closed")
            _finish(t.id, t.exception_id, "cancelled", "supervisor", actor, now, t.warehouse,
                    exception_state="dismissed")
            if reason:
                audit.write([audit.row(now, actor, "replenishment.note", "replen_task", t.id,
                                       "", "", {"reason": reason[:500]})])
        return get_task(task_id)
    return retry_transaction(once_, what="replenishment cancel")


# ---- the handheld's replenish mode (/handheld: replenish.next, replenish.move) --------------

def _payload(t: _Task) -> dict:
    sources = reserve_sources(t.warehouse_id, t.product_id)
    gtins = [g for (g,) in execute("SELECT gtin FROM product_gtin WHERE product_id = ? "
                                   "ORDER BY gtin", (t.product_id,)).fetchall()]
    best = sources[0] if sources else None
    return {"task_id": t.id, "warehouse": t.warehouse, "sku": t.sku, "name": t.name,
            "gtins": gtins, "target": t.location, "on_hand": t.on_hand,
            "available": t.on_hand - t.reserved, "min_qty": t.min_qty, "max_qty": t.max_qty,
            "moved": t.moved, "remaining": t.remaining,
            "sources": [{"location": s.location, "available": s.available}
                        for s in sources[:5]],
            "suggested": ({"source": best.location,
                           "quantity": min(t.remaining, best.available)} if best else None)}


def next_task(picker: picking.Picker, msg: object = None) -> dict:
    """The replenisher's open task: theirs if they hold one, else the open task with
    reserve to move that has waited longest, claimed for them. None: nothing to move."""
    msg = picking._only(msg or {}, {"warehouse"})
    warehouse = picking._text(msg, "warehouse", 32, required=False)
    now = clock.now()
    with store_db.write_tx():
        row = execute(_TASK + "WHERE t.state = 'open' AND t.assigned_to = ? ORDER BY t.id "
                      "LIMIT 1", (picker.user_id,)).fetchone()
        t = _Task(*row) if row else _claim(picker, warehouse, now)
        if t is None:
            return {"ok": True, "task": None}
        return {"ok": True, "task": _payload(t)}


def _claim(picker: picking.Picker, warehouse: str | None, now: dt.datetime) -> _Task | None:
    q = ("SELECT t.id FROM replen_task t JOIN warehouse w ON w.id = t.warehouse_id "
         "WHERE t.state = 'open' AND t.assigned_to IS NULL AND EXISTS (SELECT 1 FROM stock s "
         "JOIN location l ON l.id = s.location_id WHERE s.warehouse_id = t.warehouse_id "
         "AND s.product_id = t.product_id AND s.min_qty = 0 AND s.max_qty = 0 "
         "AND l.blocked IS NULL AND s.on_hand - s.reserved > 0)")
    params: tuple = ()
    if warehouse:
        q += " AND w.code = ?"
        params = (warehouse,)
    q += " ORDER BY t.id" + (" LIMIT 5 FOR UPDATE OF t SKIP LOCKED" if is_postgres()
                             else " LIMIT 5")
    for (tid,) in execute(q, params).fetchall():
        if execute("UPDATE replen_task SET assigned_to = ?, assigned_at = ?, updated_at = ? "
                   "WHERE id = ? AND assigned_to IS NULL AND state = 'open'",
                   (picker.user_id, clock.naive_utc(now), clock.naive_utc(now), tid)).rowcount:
            audit.write([audit.row(now, picker.actor, "replenishment.claim", "replen_task",
                                   tid, "", picker.badge)])
            return _task(tid)
    return None


def _location_code(text: str) -> str:
    try:
        return parse_location(text).code
    except ValueError:
        return text.strip()


def move(picker: picking.Picker, msg: object, *, settings: Config) -> dict:
    """One move for a replenishment task: the source bin and the pick face as scanned
    there, the units carried (and optionally a product barcode, checked against the SKU).
    On hand goes down at the source (never below what is reserved there) and up at the
    face in one transaction; backorders of the SKU are offered the stock; the task is done
    (and its exception resolved) once the face is back at or above its min or the task's
    units are all moved. Exactly once by scan_id (a retry gets the first answer)."""
    msg = picking._only(msg, {"scan_id", "task", "source", "target", "quantity", "barcode",
                              "scanned_at"})
    scan_id = picking._scan_id(msg)
    task_ref = picking._int(msg, "task", required=True)
    source_raw = picking._text(msg, "source", 64).strip()
    target_raw = picking._text(msg, "target", 64).strip()
    barcode = picking._text(msg, "barcode", picking.MAX_RAW, required=False)
    qty = msg.get("quantity")
    if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= MAX_MOVE:
        raise picking.AckError("quantity must be a whole number of at least 1",
                               code="bad_quantity", field="quantity")
    scanned_at = picking._when(msg)
    request_hash = once.request_hash("replenish", {"task": task_ref, "source": source_raw,
                                                   "target": target_raw, "quantity": qty,
                                                   "barcode": barcode},
                                     user_id=picker.user_id, device=picker.device)

    def work() -> dict:
        now = clock.now()
        with store_db.write_tx():
            stored = once.stored("scan", scan_id)
            if stored:
                return once.replay(stored, request_hash, picking.AckError)
            t = _task(task_ref, lock=True)
            _check_task(picker, t, task_ref)
            response = _move(picker, t, source_raw, target_raw, qty, barcode, scan_id, now,
                             settings)
            picking._store_scan(scan_id, "replenish", picker, None,
                                f"replenish:{source_raw}>{target_raw}", None, None, "ok", qty,
                                request_hash, response, scanned_at, now)
            return response

    return once.once("scan", scan_id, request_hash,
                     lambda: retry_transaction(work, what="replenishment move"),
                     picking.AckError)


def _check_task(picker: picking.Picker, t: _Task | None, ref: int) -> None:
    if t is None:
        raise picking.AckError(f"no replenishment task {ref}", code="no_task", field="task")
    if t.state != "open":
        raise Conflict(f"task {t.id} is {t.state}", code="task_closed", field="task")
    if t.assigned_to not in (None, picker.user_id):
        raise Forbidden(f"task {t.id} is another replenisher's", code="not_your_task",
                        field="task")


def _move(picker: picking.Picker, t: _Task, source_raw: str, target_raw: str, qty: int,
          barcode: str | None, scan_id: str, now: dt.datetime, settings: Config) -> dict:
    target = _location_code(target_raw)
    if target != t.location:
        raise Conflict(f"this task refills {t.location}, not {target_raw}",
                       code="wrong_target", field="target")
    if barcode is not None:
        _check_item(t, barcode)
    source = _location_code(source_raw)
    if source == t.location:
        raise Conflict("the source cannot be the pick face itself", code="wrong_source",
                       field="source")
    rows = {r.stock_id: r for r in lock_stock([t.product_id])}      # the product's rows, locked
    src = execute("SELECT s.id, s.on_hand, s.reserved, s.min_qty, s.max_qty, l.blocked "
                  "FROM stock s JOIN location l ON l.id = s.location_id WHERE "
                  "s.warehouse_id = ? AND s.product_id = ? AND l.code = ?",
                  (t.warehouse_id, t.product_id, source)).fetchone()
    if src is None or src[0] not in rows:
        raise Conflict(f"{source_raw} holds no {t.sku} in {t.warehouse}", code="wrong_source",
                       field="source")
    sid, s_on_hand, s_reserved, s_min, s_max, blocked = src
    if blocked:
        raise Conflict(f"{source} is blocked ({blocked}): count it first",
                       code="source_blocked", field="source")
    if s_min or s_max:
        raise Conflict(f"{source} is a pick face of {t.sku}, not reserve", code="wrong_source",
                       field="source")
    if qty > t.remaining:
        raise Conflict(f"this task asks for {t.remaining} more unit(s), not {qty}",
                       code="over_quantity", field="quantity")
    if qty > s_on_hand - s_reserved:
        raise Conflict(f"{source} has {s_on_hand - s_reserved} unit(s) of {t.sku} free to "
                       f"move ({s_reserved} reserved there), not {qty}",
                       code="not_enough_at_source", field="quantity")
    naive = clock.naive_utc(now)
    t_on_hand = execute("SELECT on_hand FROM stock WHERE id = ?", (t.stock_id,)).fetchone()[0]
    if not execute("UPDATE stock SET on_hand = on_hand - ?, updated_at = ? WHERE id = ? "
                   "AND on_hand - reserved >= ?", (qty, naive, sid, qty)).rowcount:
        raise Conflict("the source's stock changed; nothing was moved", code="stock_changed",
                       field="quantity")
    execute("UPDATE stock SET on_hand = on_hand + ?, updated_at = ? WHERE id = ?",
            (qty, naive, t.stock_id))
    execute("INSERT INTO replen_move (task_id, from_stock_id, to_stock_id, quantity, scan_id, "
            "moved_by, moved_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (t.id, sid, t.stock_id, qty, scan_id, picker.actor[:120], naive))
    execute("UPDATE replen_task SET moved = moved + ?, assigned_to = ?, "
            "assigned_at = COALESCE(assigned_at, ?), updated_at = ? WHERE id = ?",
            (qty, picker.user_id, naive, naive, t.id))
    detail = {"sku": t.sku, "warehouse": t.warehouse, "task": t.id, "quantity": qty}
    audit.write([
        audit.row(now, picker.actor, "stock.replenish_out", "stock", sid,
                  {"on_hand": s_on_hand}, {"on_hand": s_on_hand - qty},
                  {**detail, "location": source, "to": t.location}),
        audit.row(now, picker.actor, "stock.replenish_in", "stock", t.stock_id,
                  {"on_hand": t_on_hand}, {"on_hand": t_on_hand + qty},
                  {**detail, "location": t.location, "from": source})])
    # waiting orders get first call on the units now at the face (priority, then oldest)
    filled = reserve_backorders([t.product_id], picker.actor, now, settings=settings)
    oh, r, mn = execute("SELECT on_hand, reserved, min_qty FROM stock WHERE id = ?",
                        (t.stock_id,)).fetchone()
    done = rules.refilled(oh, r, mn) or t.moved + qty >= t.suggested
    if done:
        _finish(t.id, t.exception_id, "done", "refilled" if rules.refilled(oh, r, mn)
                else "moved", picker.actor, now, t.warehouse)
    else:
        _changed(t.warehouse, action="moved", task=t.id, quantity=qty)
    stock_levels_changed([t.stock_id, sid])
    after = _task(t.id)
    return {"ok": True, "scan_id": scan_id, "task_id": t.id, "moved": qty,
            "source": source, "target": t.location, "done": done,
            "target_on_hand": oh, "target_available": oh - r,
            "backorders_reserved": filled,
            "task": None if done else _payload(after)}


def _check_item(t: _Task, barcode: str) -> None:
    """A product barcode scanned at the source must be the task's SKU."""
    gtin = parse_scan(barcode).gtin
    row = execute("SELECT product_id FROM product_gtin WHERE gtin = ?", (gtin,)).fetchone() \
        if gtin else None
    if row is None:
        row = execute("SELECT id FROM product WHERE sku = ?", (barcode.strip(),)).fetchone()
    if row is None or row[0] != t.product_id:
        raise Conflict(f"{barcode!r} is not {t.sku}", code="wrong_item", field="barcode")


def apply_config_levels(settings: Config) -> int:
    """The config's `replenishment.levels` on faces with no min or max yet (at start).
    Levels naming an unknown warehouse or SKU are skipped; returns how many were set."""
    levels = [LevelIn(lv.warehouse, lv.location, lv.sku, lv.min_qty, lv.max_qty)
              for lv in settings.replenishment.levels]
    done = 0
    for lv in levels:
        try:
            done += len(set_levels([lv], "config", only_unset=True))
        except (NotFound, Unprocessable):
            continue
    return done
