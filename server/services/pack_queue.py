"""The pack queue of a station: the orders picked and waiting in its warehouse (cart,
totes, order, age, ship-by), and the cart and tote labels printed at the station
(docs/pack-api.md, "Pack queue" and "Cart and tote labels")."""
from __future__ import annotations

from printers.cart_labels import (CartLabelSpec, ToteLabelSpec, build_cart_label,
                                  build_tote_label)

from .. import clock
from ..config import Config
from ..domain import lifecycle
from ..domain.errors import Conflict, NotFound, Unprocessable
from ..domain.totes import cart_label, tote_label
from ..store.bulk import select_in
from ..store.db import execute
from . import print_queue
from .packing import Packer, station
from .packing.labels import label_font

MAX_ROWS = 200

_QUEUE = (
    "SELECT o.id, o.ref, o.ship_by, o.carrier, o.priority, "
    "(SELECT SUM(l.quantity - l.backordered) FROM order_line l WHERE l.order_id = o.id), "
    "(SELECT MAX(t.updated_at) FROM pick_task t WHERE t.order_id = o.id "
    "AND t.status IN ('done', 'short')), "
    "(SELECT s.station FROM pack_session s WHERE s.order_id = o.id "
    "AND s.state IN ('open', 'held')) "
    "FROM sales_order o JOIN warehouse w ON w.id = o.warehouse_id "
    "WHERE o.status = ? AND w.code = ? "
    "ORDER BY o.priority DESC, CASE WHEN o.ship_by IS NULL THEN 1 ELSE 0 END, o.ship_by, o.id "
    "LIMIT ?")


def _iso(value) -> str | None:
    return clock.aware_utc(value).isoformat() if value else None


def queue(station_name: str, *, settings: Config) -> dict:
    """The orders picked and waiting to be packed in the station's warehouse, most urgent
    first (priority, then ship-by), each with the totes (and carts) holding it."""
    st = station(station_name, settings=settings)
    now = clock.now()
    rows = execute(_QUEUE, (lifecycle.PICKED, st.warehouse, MAX_ROWS)).fetchall()
    totes: dict[int, list[dict]] = {}
    if rows:
        for order_id, cart_id, slot, barcode, wave_id in select_in(
                "SELECT tt.order_id, tt.cart_id, tt.slot, tt.barcode, c.wave_id FROM tote tt "
                "JOIN cart c ON c.id = tt.cart_id WHERE tt.order_id IN ({in}) "
                "ORDER BY tt.cart_id, tt.slot", [r[0] for r in rows]):
            totes.setdefault(order_id, []).append(
                {"cart": cart_id, "wave": wave_id, "slot": slot, "barcode": barcode,
                 "label": tote_label(cart_id, slot, barcode),
                 "cart_label": cart_label(cart_id)})
    orders = []
    for order_id, ref, ship_by, carrier, priority, units, picked_at, packing_at in rows:
        held = totes.get(order_id, [])
        age = (now - clock.aware_utc(picked_at)).total_seconds() if picked_at else None
        orders.append({
            "order_id": order_id, "order": ref, "ship_by": _iso(ship_by), "carrier": carrier,
            "priority": priority, "units": int(units or 0), "picked_at": _iso(picked_at),
            "age_s": max(int(age), 0) if age is not None else None,
            "cart": held[-1]["cart"] if held else None,
            "tote": held[-1]["slot"] if held else None,
            "totes": held, "packing_at": packing_at})
    return {"station": st.name, "warehouse": st.warehouse, "orders": orders,
            "truncated": len(rows) == MAX_ROWS}


def print_label(packer: Packer, station_name: str, body: dict, *, settings: Config) -> dict:
    """Queue a cart label ({"kind": "cart", "cart"}) or a tote label ({"kind": "tote",
    "cart", "slot"}) for the station's label printer; the job as the print queue shows it."""
    st = station(station_name, settings=settings)
    kind, cart_id, slot = body["kind"], body["cart"], body.get("slot")
    row = execute("SELECT c.wave_id, w.code FROM cart c JOIN wave v ON v.id = c.wave_id "
                  "JOIN warehouse w ON w.id = v.warehouse_id WHERE c.id = ?",
                  (cart_id,)).fetchone()
    if row is None:
        raise NotFound(f"no cart {cart_id}", field="cart")
    wave_id, warehouse = row
    if warehouse != st.warehouse:
        raise Conflict(f"cart {cart_id} is in warehouse {warehouse}, station {st.name} in "
                       f"{st.warehouse}", code="wrong_warehouse", field="cart")
    font = label_font(settings)
    if kind == "cart":
        reference = f"cart:{cart_id}"

        def zpl(job_id: int) -> str:
            return build_cart_label(CartLabelSpec(cart_label(cart_id), cart_id, wave_id,
                                                  warehouse, job_id), font=font)
    else:
        if slot is None:
            raise Unprocessable("a tote label needs the slot", code="schema", field="slot")
        tote = execute("SELECT tt.barcode, o.ref FROM tote tt JOIN sales_order o ON "
                       "o.id = tt.order_id WHERE tt.cart_id = ? AND tt.slot = ?",
                       (cart_id, slot)).fetchone()
        if tote is None:
            raise NotFound(f"cart {cart_id} has no tote {slot}", field="slot")
        barcode, ref = tote
        reference = f"tote:{cart_id}-{slot}"

        def zpl(job_id: int) -> str:
            return build_tote_label(ToteLabelSpec(tote_label(cart_id, slot, barcode), cart_id,
                                                  slot, ref[:60], job_id), font=font)
    url = settings.printers[st.printer]
    try:
        job_id = print_queue.enqueue(st.name, url, kind, reference, zpl, packer.actor)
    except ValueError as err:     # a tote barcode the label cannot carry: nothing kept
        raise Unprocessable(f"the label cannot be made: {err}", code="bad_label") from None
    return {"job": print_queue.get_job(job_id), "kind": kind, "cart": cart_id, "slot": slot}
