"""Use cases on stored orders: read, cancel, release a hold, apply a storefront update,
cancel unpaid orders past their time."""
from __future__ import annotations

import datetime as dt
import json

from .. import clock
from ..config import Config
from ..domain import lifecycle
from ..domain.carriers import ShippingRequest, find_service, fits
from ..domain.errors import BadTransition, Conflict, NotFound, Unprocessable
from ..domain.money import from_minor
from ..store import db as store_db
from ..store.db import execute
from ..store.models import Allocation, Location, Order, OrderLine, Stock, Warehouse
from ..store.retry import retry_transaction
from . import audit, carrier_gate, exceptions
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


def to_dict(order: Order, *, settings: Config, full: bool = True) -> dict:
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
        "hold_code": (order.hold_code or None) if order.status == lifecycle.ON_HOLD else None,
        "shipping_method": json.loads(order.shipping_method) if order.shipping_method else [],
        "carrier_service": carrier_service_view(order, settings=settings),
        "problems": json.loads(order.problems) if order.problems else [],
        "source_updated_at": order.source_updated_at.isoformat()
        if order.source_updated_at else None,
        "ship_by": order.ship_by.isoformat() if order.ship_by else None,
        "ship_by_source": order.ship_by_source or None,
        "at_risk_at": order.at_risk_at.isoformat() if order.at_risk_at else None,
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


def view_for(order: Order, role: str, user_id: int | None, *, settings: Config) -> dict:
    """The order as `role` may see it (channel, supervisor, admin: all of it)."""
    if role not in ("picker", "packer"):
        return to_dict(order, settings=settings)
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
                settings: Config, floor: bool = False) -> tuple[list[dict], int | None]:
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
    page = [floor_view(o, locations=False) if floor
            else to_dict(o, settings=settings, full=False) for o in rows]
    return page, (rows[-1].id if more else None)


def set_status(order: Order, new: str, actor: str, now: dt.datetime, detail: object = "") -> None:
    old = order.status
    lifecycle.check_move(old, new)
    Order.update(status=new, updated_at=clock.naive_utc(now)).where(Order.id == order.id).execute()
    order.status = new
    audit.write([audit.row(now, actor, "order.status", "order", order.id, old, new, detail)])


def cancel(order_id: int, actor: str, *, channel_id: int | None = None, reason: str = "",
           expect_status: str | None = None, settings: Config) -> dict:
    """Cancel and give the stock back; refused once the order is packed. With
    `expect_status`, only an order still in that state is cancelled (jobs use it)."""
    from .stock import reserve_backorders

    def once() -> None:
        now = clock.now()
        with store_db.write_tx():
            order = load(order_id, channel_id)
            if order.status == lifecycle.CANCELLED:
                return
            if expect_status and order.status != expect_status:
                raise Conflict(f"order {order_id} is now {order.status}", code="status_changed")
            lifecycle.check_move(order.status, lifecycle.CANCELLED)
            freed = release_order(order.id, actor, now)
            set_status(order, lifecycle.CANCELLED, actor, now,
                       {"reason": reason} if reason else "")
            exceptions.resolve_for_cancelled_order(order.id, actor, now)
            # the freed stock goes to waiting orders: rows locked across products, where a
            # deadlock with a pick or an intake is possible; the whole cancel runs again
            reserve_backorders(freed, actor, now, settings=settings)

    retry_transaction(once, what=f"cancel order {order_id}")
    return to_dict(load(order_id, channel_id), settings=settings)


def _need(order: Order, pinned: bool, hold: bool) -> OrderNeed:
    rows = execute("SELECT id, product_id, quantity - reserved FROM order_line "
                   "WHERE order_id = ? AND product_id IS NOT NULL ORDER BY line_no",
                   (order.id,)).fetchall()
    return OrderNeed(order.id, order.status, order.ship_country, order.ship_postcode,
                     bool(order.channel.allow_split), order.warehouse_id,
                     [(lid, pid, q) for lid, pid, q in rows if q > 0], paid=bool(order.paid),
                     hold=hold, pinned=pinned)


def settle(order: Order, actor: str, now: dt.datetime, *, settings: Config,
           release_hold: bool = False) -> str:
    """Reserve what the order still needs and move it to where it now stands. A risk hold
    (on_hold, or a hold reason found at intake) stays unless a supervisor releases it:
    paying for a held order must not send it to picking. An order already holding units
    somewhere tops up from that same warehouse."""
    hold = not release_hold and (order.status == lifecycle.ON_HOLD or bool(order.hold_reason))
    need = _need(order, pinned=bool(order.warehouse_id) and _has_allocations(order.id),
                 hold=hold)
    if release_hold:   # cleared first: the carrier gate inside reserve may set a new hold
        Order.update(hold_reason="", hold_code="").where(Order.id == order.id).execute()
    outcome = reserve([need], actor, now, settings=settings)
    return outcome.status[order.id]


def _has_allocations(order_id: int) -> bool:
    return execute("SELECT 1 FROM allocation a JOIN order_line ol ON ol.id = a.order_line_id "
                   "WHERE ol.order_id = ? LIMIT 1", (order_id,)).fetchone() is not None


def release_hold(order_id: int, actor: str, *, settings: Config) -> dict:
    """A supervisor lets a held order go on (to awaiting_payment, ready or backordered).
    The carrier gate looks at it again: a carrier or customs hold whose cause is still
    there is refused (409 with that hold's code, nothing changed); an order released from a
    risk hold that the gate then holds for another reason stays held for that reason."""
    now = clock.now()
    with store_db.write_tx():
        order = load(order_id)
        if order.status != lifecycle.ON_HOLD:
            raise BadTransition(f"order {order_id} is {order.status}, not on hold",
                                          code="not_on_hold")
        _release(order, actor, now, settings)
    return to_dict(load(order_id), settings=settings)


def _release(order: Order, actor: str, now: dt.datetime, settings: Config) -> None:
    before = order.hold_code or "risk_hold"
    settle(order, actor, now, settings=settings, release_hold=True)
    after = load(order.id)
    if after.status == lifecycle.ON_HOLD and after.hold_code == before:
        hint = {"carrier_unmapped": "assign a carrier service first "
                                    "(POST /api/v1/orders/{id}/carrier)",
                "customs_data_missing": "add hs_code and origin_country to the catalogue "
                                        "first (wavepack import catalogue)"}.get(before, "")
        raise Conflict(f"order {order.id} is still held: {after.hold_reason}"
                       + (f"; {hint.format(id=order.id)}" if hint else ""), code=before)
    exceptions.resolve_for_order(order.id, before, actor, now)


def carrier_service_view(order: Order, *, settings: Config) -> dict | None:
    """The order's carrier service as the API shows it (None until one is chosen)."""
    setup = settings.setup
    svc = setup.service(order.carrier_service) if order.carrier_service else None
    if svc is None:
        return None
    carrier = setup.carriers.get(svc.carrier)
    return {"id": svc.id, "carrier": svc.carrier,
            "carrier_label": carrier.label if carrier else svc.carrier,
            "service": svc.service, "label": svc.label, "express": svc.express,
            "adapter": svc.adapter, "source": order.carrier_source or None}


_ASSIGNABLE = frozenset({lifecycle.RECEIVED, lifecycle.AWAITING_PAYMENT, lifecycle.ON_HOLD,
                         lifecycle.READY, lifecycle.BACKORDERED, lifecycle.WAVED,
                         lifecycle.PICKING, lifecycle.PICKED})


def assign_carrier(order_id: int, carrier: str, service: str, actor: str, *,
                   settings: Config) -> dict:
    """A supervisor names the order's carrier service (one of its warehouse's, serving its
    address and weight). An order held for carrier_unmapped is released in the same
    transaction (then checked for customs like any release)."""
    now = clock.now()
    with store_db.write_tx():
        order = load(order_id)
        if order.status not in _ASSIGNABLE:
            raise Conflict(f"order {order_id} is {order.status}: its carrier can no longer "
                           "change", code=f"order_{order.status}")
        svc = _assignable_service(order, carrier, service, settings)
        Order.update(carrier_service=svc.id, carrier_source="supervisor",
                     updated_at=clock.naive_utc(now)).where(Order.id == order.id).execute()
        audit.write([audit.row(now, actor, "order.carrier", "order", order.id,
                               order.carrier_service or "", svc.id,
                               {"carrier": svc.carrier, "service": svc.service})])
        if order.status == lifecycle.ON_HOLD and order.hold_code == carrier_gate.UNMAPPED:
            _release(load(order.id), actor, now, settings)
    return to_dict(load(order_id), settings=settings)

def _assignable_service(order: Order, carrier: str, service: str, cfg: Config):

    wh = Warehouse.get_by_id(order.warehouse_id).code if order.warehouse_id else None
    if wh is None:
        raise Conflict(f"order {order.id} has no warehouse yet (no stock reserved)",
                       code="no_warehouse")
    svc = find_service(cfg.setup.services, wh, carrier, service)
    if svc is None:
        offered = [f"{s.carrier}/{s.service}" for s in cfg.setup.services if s.warehouse == wh]
        raise Unprocessable(f"warehouse {wh} has no service {service!r} of carrier "
                            f"{carrier!r} (it has: {', '.join(offered) or 'none'})",
                            code="unknown_service", field="service",
                            detail={"services": offered})
    facts = carrier_gate.load_facts([order.id], items=False, settings=cfg)[order.id]
    problem = fits(svc, ShippingRequest(facts.channel_kind, (), facts.country, facts.postcode,
                                        facts.heaviest_unit_g), cfg.zones)
    if problem:
        raise Conflict(problem, code="service_not_serving", field="service")
    return svc
