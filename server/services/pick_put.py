"""Put to tote and the end of a cart, on the handheld (docs/handheld-protocol.md).

`confirm_put`: after the last unit of a task the handheld names the task's tote in large
type; with `picking.confirm_tote` the picker scans that tote's label (its bound barcode,
or the slot label `CART-<cart>-<slot>`, or the slot's bare number) or taps, and only then
sees the next task. The server decides whether the label scanned is the right tote
(verdict `ok` or `wrong_tote`); the confirmation is stored as a `put` scan row and audited.
Scans are never refused for a missing confirmation: a handheld that picked on offline
must not lose the units it queued.

`cart_summary`: what a finished cart holds (orders, totes, units, shorts) and where it
goes: the packing stations of its warehouse (`stations:` in config.yaml).
"""
from __future__ import annotations

from .. import clock
from ..config import Config
from ..domain.errors import Conflict, Forbidden, NotFound
from ..domain.totes import cart_label, is_tote_of, tote_label
from ..store import db as store_db
from ..store.db import execute
from . import audit
from .picking import (MAX_TOTE, AckError, Picker, _hash, _int, _only, _scan_id, _store_scan,
                      _task, _Task, _text, _when, _with_stored, exactly_once, replay)

OK, WRONG_TOTE = "ok", "wrong_tote"


def _tote(task: _Task) -> dict:
    return {"slot": task.slot, "barcode": task.tote_barcode, "order": task.order_ref,
            "label": tote_label(task.cart_id, task.slot, task.tote_barcode)}


def confirm_put(picker: Picker, msg: object) -> dict:
    """The picker confirms the units of a finished task went into its tote: `raw` is the
    tote or slot label scanned (absent: a tap on the screen)."""
    msg = _only(msg, {"scan_id", "task", "raw", "scanned_at"})
    scan_id = _scan_id(msg)
    task_ref = _int(msg, "task", required=True)
    raw = _text(msg, "raw", MAX_TOTE, required=False)
    scanned_at = _when(msg)
    request_hash = _hash("put", {"task": task_ref, "raw": raw}, user_id=picker.user_id,
                         device=picker.device)

    def work() -> dict:
        now = clock.now()
        with store_db.write_tx():
            task, stored = _with_stored(_task("WHERE t.id = ?", (task_ref,), lock=True,
                                              scan_id=scan_id), scan_id)
            if stored:
                return replay(stored, request_hash)
            if task is None:
                raise AckError(f"no task {task_ref}", code="no_task", field="task")
            if task.picker_id != picker.user_id:
                raise Forbidden(f"task {task.id} belongs to another picker's cart",
                                code="not_your_task")
            if task.picked == 0 or task.status == "open":
                raise Conflict(f"task {task.id} has units still to pick: its tote is "
                               f"confirmed after the last one", code="put_not_due",
                               field="task")
            right = raw is None or is_tote_of(raw, task.cart_id, task.slot, task.tote_barcode)
            verdict = OK if right else WRONG_TOTE
            response = {"scan_id": scan_id, "ok": right, "verdict": verdict, "task": task.id,
                        "tote": _tote(task), "by": "tap" if raw is None else "scan",
                        "expected": {"scan": "tote", **_tote(task)}}
            if right:
                audit.write([audit.row(now, picker.actor, "tote.put", "pick_task", task.id,
                                       "", str(task.slot),
                                       {"cart": task.cart_id, "units": task.picked,
                                        "by": response["by"]})])
            _store_scan(scan_id, "put", picker, task, raw if raw is not None else "tap",
                        None, None, verdict, 0, request_hash, response, scanned_at, now)
            return response

    return exactly_once(scan_id, request_hash, work)


def cart_summary(picker: Picker, msg: object, *, settings: Config) -> dict:
    """A cart of this picker: its orders (tote, units picked, short), totals, and the
    packing stations of its warehouse to take it to."""
    msg = _only(msg, {"cart"})
    cart_id = _int(msg, "cart", required=True)
    row = execute("SELECT c.picker_id, c.status, c.wave_id, w.code FROM cart c JOIN wave v "
                  "ON v.id = c.wave_id JOIN warehouse w ON w.id = v.warehouse_id "
                  "WHERE c.id = ?", (cart_id,)).fetchone()
    if row is None:
        raise NotFound(f"no cart {cart_id}", field="cart")
    picker_id, status, wave_id, warehouse = row
    if picker_id != picker.user_id and picker.role == "picker":
        raise Forbidden(f"cart {cart_id} is another picker's", code="not_your_task")
    orders = _orders(cart_id)
    stations = [{"station": st.name, "warehouse": st.warehouse}
                for st in settings.setup.stations.values()
                if st.warehouse == warehouse]
    return {"ok": True, "cart": {
        "id": cart_id, "wave": wave_id, "status": status, "warehouse": warehouse,
        "label": cart_label(cart_id), "orders": orders,
        "order_count": len({o["order"] for o in orders}),
        "totes": len(orders), "units": sum(o["units"] for o in orders),
        "short": sum(o["short"] for o in orders),
        "stations": stations}}


def _orders(cart_id: int) -> list[dict]:
    rows = execute(
        "SELECT tt.slot, tt.barcode, o.ref, o.status, COALESCE(SUM(t.picked), 0), "
        "COALESCE(SUM(t.short), 0) FROM tote tt JOIN sales_order o ON o.id = tt.order_id "
        "LEFT JOIN pick_task t ON t.tote_id = tt.id AND t.status <> 'cancelled' "
        "WHERE tt.cart_id = ? GROUP BY tt.slot, tt.barcode, o.ref, o.status ORDER BY tt.slot",
        (cart_id,)).fetchall()
    return [{"tote": slot, "tote_barcode": barcode, "order": ref, "status": status,
             "units": int(units), "short": int(short),
             "label": tote_label(cart_id, slot, barcode)}
            for slot, barcode, ref, status, units, short in rows]


__all__ = ["confirm_put", "cart_summary"]
