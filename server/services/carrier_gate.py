"""The carrier gate: before an order can be picked, it has a carrier service its warehouse
can use for its address and weight, and, when it leaves its warehouse's customs area, the
HS code and country of origin of every product. An order that fails is held (on_hold,
hold_code carrier_unmapped or customs_data_missing, an exception for a supervisor); none
is ever given a default silently.

`check_orders` runs inside the caller's write transaction: reservation calls it for every
order it settles as ready or backordered, so intake, payment, restock and a supervisor's
release all pass through it. A service a supervisor assigned is kept (only re-checked for
customs).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

from .. import clock
from ..config import Config
from ..domain import lifecycle
from ..domain.carriers import UNMAPPED, CarrierService, Choice, ShippingRequest, choose_service
from ..domain.customs import MISSING, CustomsItem, crosses_customs, missing_data
from ..domain.money import from_minor
from ..store.bulk import select_in, update_many
from ..store.db import executemany
from . import audit, exceptions

HOLD_CODES = (UNMAPPED, MISSING)
# an order in these states can still be held by the gate
_GATED = frozenset({lifecycle.READY, lifecycle.BACKORDERED})


@dataclass
class OrderFacts:
    """What the gate reads of one order."""
    id: int
    status: str
    channel_kind: str
    method_keys: tuple[str, ...]
    service_id: str
    source: str
    warehouse: str | None
    country: str
    postcode: str
    priority: int
    currency: str
    heaviest_unit_g: int            # the lightest parcel it can go in (heavier: parcels)
    items: list[CustomsItem]        # its lines as customs items (loaded when asked for)


def load_facts(order_ids: list[int], *, items: bool = True,
               settings: Config) -> dict[int, OrderFacts]:
    """The gate's view of these orders: one query, and one more for their lines as
    customs items when `items` (the gate asks only for orders leaving their customs area)."""
    default_w = int(settings.packing.default_weight_g)
    if not order_ids:
        return {}
    rows = select_in(
        "SELECT o.id, o.status, c.kind, o.shipping_method, o.carrier_service, o.carrier_source, "
        "w.code, o.ship_country, o.ship_postcode, o.priority, o.currency, "
        "(SELECT MAX(CASE WHEN p.weight_g > 0 THEN p.weight_g ELSE " + str(default_w) + " END) "
        "FROM order_line ol JOIN product p ON p.id = ol.product_id WHERE ol.order_id = o.id) "
        "FROM sales_order o "
        "JOIN channel c ON c.id = o.channel_id LEFT JOIN warehouse w ON w.id = o.warehouse_id "
        "WHERE o.id IN ({in})", sorted(set(order_ids)))
    facts = {r[0]: OrderFacts(r[0], r[1], r[2], tuple(json.loads(r[3]) if r[3] else ()),
                              r[4] or "", r[5] or "", r[6], (r[7] or "").upper(), r[8] or "",
                              r[9] or 0, r[10], r[11] or 0, []) for r in rows}
    if items:
        load_items(list(facts.values()), settings=settings)
    return facts


def load_items(facts: list[OrderFacts], *, settings: Config) -> None:
    """Fill each order's customs items from its lines and the catalogue."""
    default_w = settings.packing.default_weight_g
    by_id = {f.id: f for f in facts}
    if not by_id:
        return
    for oid, sku, line_name, qty, total, name, weight, hs, origin in select_in(
            "SELECT ol.order_id, ol.sku, ol.name, ol.quantity, ol.line_total_minor, p.name, "
            "p.weight_g, p.hs_code, p.origin_country FROM order_line ol "
            "LEFT JOIN product p ON p.id = ol.product_id WHERE ol.order_id IN ({in}) "
            "ORDER BY ol.order_id, ol.line_no", sorted(by_id)):
        f = by_id[oid]
        f.items.append(CustomsItem(sku=sku, description=name or line_name or sku, quantity=qty,
                                   hs_code=hs or "", origin_country=origin or "",
                                   value=Decimal(from_minor(total or 0, f.currency)),
                                   weight_g=qty * (weight or default_w)))
    return facts


def choose(f: OrderFacts, *, settings: Config) -> Choice:
    """The order's service: the supervisor's if one was assigned (and still configured),
    else by the shipping-method table and the rules (domain.carriers)."""
    setup = settings.setup
    if f.warehouse is None:
        return Choice(None, "none", UNMAPPED, {"message": "no warehouse ships this order yet"})
    if f.source == "supervisor" and f.service_id:
        svc = setup.service(f.service_id)
        if svc is not None and svc.warehouse == f.warehouse:
            return Choice(svc, "supervisor")
    req = ShippingRequest(f.channel_kind, f.method_keys, f.country, f.postcode,
                          f.heaviest_unit_g,
                          express=f.priority > 0)
    return choose_service(f.warehouse, setup.services, setup.shipping_methods, req,
                          settings.zones)


def origin_country(warehouse: str | None, *, settings: Config) -> str:
    """The country the warehouse ships from (its sender address), '' when unknown."""
    sender = settings.setup.senders.get(warehouse or "")
    return sender.country.upper() if sender and sender.country else ""


def leaves_customs_area(f: OrderFacts, *, settings: Config) -> bool:
    """The parcel leaves its warehouse's customs area. A warehouse without a sender
    country is not checked (its customs area is unknown)."""
    origin = origin_country(f.warehouse, settings=settings)
    return bool(origin) and crosses_customs(origin, f.country)


def customs_problem(f: OrderFacts, *, settings: Config) -> str:
    """Why the order cannot be declared ('' when it need not be, or can be); its items
    are loaded."""
    if not leaves_customs_area(f, settings=settings):
        return ""
    origin = origin_country(f.warehouse, settings=settings)
    missing = missing_data(f.items)
    if not missing:
        return ""
    return (f"{origin} → {f.country} leaves the customs area; the catalogue has no HS code "
            f"or country of origin for {', '.join(sorted(set(missing)))}")


def check_orders(order_ids: list[int], actor: str, now: dt.datetime | None = None, *,
                 settings: Config) -> dict[int, str]:
    """Choose a service for each ready or backordered order of `order_ids` and hold those
    with none, or with customs data missing. Returns order id → hold code for orders held
    now. Inside the caller's write transaction."""
    now = now or clock.now()
    facts = [f for f in load_facts(order_ids, items=False, settings=settings).values()
             if f.status in _GATED]
    load_items([f for f in facts if leaves_customs_area(f, settings=settings)],
               settings=settings)
    chosen, held = [], {}
    for f in facts:
        choice = choose(f, settings=settings)
        if choice.service is None:
            held[f.id] = (UNMAPPED, choice.detail.get("message", "no carrier service"),
                          choice.detail)
            continue
        chosen.append((f.id, choice.service.id, choice.source))
        problem = customs_problem(f, settings=settings)
        if problem:
            held[f.id] = (MISSING, problem, {"missing": sorted(set(missing_data(f.items)))})
    update_many("sales_order", "id", (("id", "bigint"), ("svc", "varchar"), ("src", "varchar")),
                chosen, sets="carrier_service = {svc}, carrier_source = {src}")
    _hold([(f, *held[f.id]) for f in facts if f.id in held], actor, now, settings)
    return {oid: code for oid, (code, _, _) in held.items()}


def _hold(rows: list[tuple[OrderFacts, str, str, dict]], actor: str, now: dt.datetime,
          settings: Config) -> None:
    if not rows:
        return
    at = clock.naive_utc(now)
    executemany("UPDATE sales_order SET status = ?, hold_code = ?, hold_reason = ?, "
                "updated_at = ? WHERE id = ?",
                [(lifecycle.ON_HOLD, code, message[:2000], at, f.id)
                 for f, code, message, _ in rows])
    open_now = {(r[0], r[1]) for r in select_in(
        "SELECT order_id, type FROM wms_exception WHERE state IN ('open', 'acknowledged') "
        "AND order_id IN ({in})", sorted({f.id for f, *_ in rows}))}
    exceptions.open_many([dict(type_=code, order_id=f.id, message=message[:2000], detail=detail)
                          for f, code, message, detail in rows if (f.id, code) not in open_now],
                         now=now, actor=actor, settings=settings)
    audit.write([audit.row(now, actor, "order.status", "order", f.id, f.status,
                           lifecycle.ON_HOLD, {"hold": code, "reason": message})
                 for f, code, message, _ in rows])


def service_of(order_id: int, *, settings: Config) -> tuple[CarrierService | None, Choice]:
    """The order's service now (for packing): its stored one if still configured for its
    warehouse, else chosen afresh (orders stored before services existed)."""
    f = load_facts([order_id], items=False, settings=settings)[order_id]
    svc = settings.setup.service(f.service_id) if f.service_id else None
    if svc is not None and svc.warehouse == f.warehouse:
        return svc, Choice(svc, f.source or "mapped")
    choice = choose(f, settings=settings)
    return choice.service, choice
