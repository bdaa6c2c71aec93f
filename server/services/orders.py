"""Use cases on stored orders: read, cancel, release a hold, apply a storefront update,
cancel unpaid orders past their time."""
from __future__ import annotations

import datetime as dt
import json


from .. import clock
from ..domain import lifecycle
from ..domain.errors import BadTransition, Conflict, NotFound
from ..domain.money import from_minor
from ..store import db as store_db
from ..store.db import execute
from ..store.models import Allocation, Location, Order, OrderLine, Stock, Warehouse
from . import audit, exceptions
from .reservation import OrderNeed, release_order, reserve

ADDRESS_FIELDS = ("name", "phone", "address1", "address2", "city", "postcode", "country", "region")


def load(order_id: int, channel_id: int | None = None) -> Order:
    """The order, or NotFound; a channel sees only its own orders (as if others did not exist)."""
    q = Order.select().where(Order.id == order_id)
    if channel_id is not None:
        q = q.where(Order.channel == channel_id)
    order = q.first()
    if order is None:
        raise NotFound(f"no order {order_id}")
    return order


def to_dict(order: Order, *, full: bool = True) -> dict:
    cur = order.currency
    wh = Warehouse.get_by_id(order.warehouse_id).code if order.warehouse_id else None
    body = {"id": order.id, "ref": order.ref, "external_id": order.external_id,
            "channel": order.channel.name, "status": order.status, "warehouse": wh,
            "paid": bool(order.paid), "placed_at": order.placed_at.isoformat(),
            "priority": order.priority}
    lines = list(OrderLine.select().where(OrderLine.order == order.id).order_by(OrderLine.line_no))
    body["lines"] = [{"sku": ln.sku, "quantity": ln.quantity, "reserved": ln.reserved,
                      "backordered": ln.backordered, "picked": ln.picked,
                      "unit_price": from_minor(ln.unit_price_minor, cur), "name": ln.name,
                      "external_id": ln.external_id} for ln in lines]
    if not full:
        return body
    body.update({
        "currency": cur, "payment_method": order.payment_method,
        "ship_to": {f: getattr(order, f"ship_{f}") for f in ADDRESS_FIELDS + ("email",)},
        "ship_to_original": json.loads(order.ship_original) if order.ship_original else {},
        "note": order.note, "carrier": order.carrier, "source": order.source,
        "total": from_minor(order.total_minor, cur),
        "hold_reason": order.hold_reason or None,
        "problems": json.loads(order.problems) if order.problems else [],
        "source_updated_at": order.source_updated_at.isoformat()
        if order.source_updated_at else None,
        "ship_by": order.ship_by.isoformat() if order.ship_by else None,
        "invoice": bool(order.invoice_requested),
        "created_at": order.created_at.isoformat(), "updated_at": order.updated_at.isoformat(),
    })
    return body


# What each caller may read of an order (OWASP API3, object property level): the
# storefront that sent it and supervisors see everything; a picker sees the goods and
# where they are; a packer also sees the shipping address (no phone, no email) of an order
# live on its own bench. Customer contact, prices and payment stay with those who need them.
FLOOR_LINE_FIELDS = ("sku", "name", "quantity", "reserved", "backordered", "picked")
BENCH_ADDRESS_FIELDS = ("name", "address1", "address2", "city", "postcode", "country", "region")


def view_for(order: Order, role: str, user_id: int | None) -> dict:
    """The order as `role` may see it (channel, supervisor, admin: all of it)."""
    if role not in ("picker", "packer"):
        return to_dict(order)
    body = floor_view(order)
    if role == "packer" and user_id is not None and _on_bench_of(order.id, user_id):
        body["ship_to"] = {f: getattr(order, f"ship_{f}") for f in BENCH_ADDRESS_FIELDS}
    return body


def floor_view(order: Order, *, locations: bool = True) -> dict:
    """Goods and where they are: what picking and packing need, no customer, no prices."""
    wh = Warehouse.get_by_id(order.warehouse_id).code if order.warehouse_id else None
    body = {"id": order.id, "ref": order.ref, "status": order.status, "warehouse": wh,
            "priority": order.priority,
            "ship_by": order.ship_by.isoformat() if order.ship_by else None}
    lines = list(OrderLine.select().where(OrderLine.order == order.id).order_by(OrderLine.line_no))
    where: dict[int, list[dict]] = {}
    if locations and lines:
        rows = (Allocation.select(Allocation.order_line, Allocation.quantity, Location.code)
                .join(Stock).join(Location)
                .where(Allocation.order_line.in_([ln.id for ln in lines])).tuples())
        for line_id, qty, code in rows:
            where.setdefault(line_id, []).append({"location": code, "quantity": qty})
    body["lines"] = [{**{f: getattr(ln, f) for f in FLOOR_LINE_FIELDS},
                      **({"locations": where.get(ln.id, [])} if locations else {})}
                     for ln in lines]
    return body


def _on_bench_of(order_id: int, user_id: int) -> bool:
    return store_db.execute(
        "SELECT 1 FROM pack_session WHERE order_id = ? AND packer_id = ? "
        "AND state IN ('open', 'held')", (order_id, user_id)).fetchone() is not None


def list_orders(*, channel_id: int | None, status: str | None, after: int, limit: int,
                floor: bool = False) -> tuple[list[dict], int | None]:
    """A page of orders by id (keyset pagination); returns (orders, next cursor or None).
    `floor`: each as floor_view without locations (pickers and packers)."""
    q = Order.select().where(Order.id > after)
    if channel_id is not None:
        q = q.where(Order.channel == channel_id)
    if status:
        q = q.where(Order.status == status)
    rows = list(q.order_by(Order.id).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    page = [floor_view(o, locations=False) if floor else to_dict(o, full=False) for o in rows]
    return page, (rows[-1].id if more else None)


def set_status(order: Order, new: str, actor: str, now: dt.datetime, detail: object = "") -> None:
    old = order.status
    lifecycle.check_move(old, new)
    Order.update(status=new, updated_at=clock.naive_utc(now)).where(Order.id == order.id).execute()
    order.status = new
    audit.write([audit.row(now, actor, "order.status", "order", order.id, old, new, detail)])


def cancel(order_id: int, actor: str, *, channel_id: int | None = None, reason: str = "",
           expect_status: str | None = None) -> dict:
    """Cancel and give the stock back; refused once the order is packed. With
    `expect_status`, only an order still in that state is cancelled (jobs use it)."""
    now = clock.now()
    with store_db.write_tx():
        order = load(order_id, channel_id)
        if order.status == lifecycle.CANCELLED:
            return to_dict(order)
        if expect_status and order.status != expect_status:
            raise Conflict(f"order {order_id} is now {order.status}", code="status_changed")
        lifecycle.check_move(order.status, lifecycle.CANCELLED)
        freed = release_order(order.id, actor, now)
        set_status(order, lifecycle.CANCELLED, actor, now, {"reason": reason} if reason else "")
        from .stock import reserve_backorders
        reserve_backorders(freed, actor, now)
    return to_dict(load(order_id))


def _need(order: Order, pinned: bool, hold: bool) -> OrderNeed:
    rows = execute("SELECT id, product_id, quantity - reserved FROM order_line "
                   "WHERE order_id = ? AND product_id IS NOT NULL ORDER BY line_no",
                   (order.id,)).fetchall()
    return OrderNeed(order.id, order.status, order.ship_country, order.ship_postcode,
                     bool(order.channel.allow_split), order.warehouse_id,
                     [(lid, pid, q) for lid, pid, q in rows if q > 0], paid=bool(order.paid),
                     hold=hold, pinned=pinned)


def settle(order: Order, actor: str, now: dt.datetime, *,
           release_hold: bool = False) -> str:
    """Reserve what the order still needs and move it to where it now stands. A risk hold
    (on_hold, or a hold reason found at intake) stays unless a supervisor releases it:
    paying for a held order must not send it to picking. An order already holding units
    somewhere tops up from that same warehouse."""
    hold = not release_hold and (order.status == lifecycle.ON_HOLD or bool(order.hold_reason))
    need = _need(order, pinned=bool(order.warehouse_id) and _has_allocations(order.id),
                 hold=hold)
    outcome = reserve([need], actor, now)
    if release_hold:
        Order.update(hold_reason="").where(Order.id == order.id).execute()
    return outcome.status[order.id]


def _has_allocations(order_id: int) -> bool:
    return execute("SELECT 1 FROM allocation a JOIN order_line ol ON ol.id = a.order_line_id "
                   "WHERE ol.order_id = ? LIMIT 1", (order_id,)).fetchone() is not None


def release_hold(order_id: int, actor: str) -> dict:
    """A supervisor lets a held order go on (to awaiting_payment, ready or backordered)."""
    now = clock.now()
    with store_db.write_tx():
        order = load(order_id)
        if order.status != lifecycle.ON_HOLD:
            raise BadTransition(f"order {order_id} is {order.status}, not on hold",
                                          code="not_on_hold")
        settle(order, actor, now, release_hold=True)
        exceptions.resolve_for_order(order.id, "risk_hold", actor, now)
    return to_dict(load(order_id))
