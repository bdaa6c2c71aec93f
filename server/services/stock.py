"""Catalogue, locations and stock: set counts, receive goods, and hand arriving stock to
backordered orders (oldest, highest priority first)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Sequence

from .. import clock
from ..config import Config
from ..domain import lifecycle
from ..domain.errors import NotFound, Unprocessable
from ..domain.locations import parse_location, pick_sequence
from ..store import db as store_db
from ..store.bulk import select_in
from ..store.db import execute
from ..store.models import Location, Product, ProductGtin, Stock, Warehouse
from ..store.retry import retry_transaction
from . import audit
from .reservation import OrderNeed, reserve, stock_levels_changed


@dataclass(frozen=True)
class ProductSpec:
    sku: str
    name: str
    gtins: tuple[str, ...] = ()
    weight_g: int = 0
    length_mm: int = 0
    width_mm: int = 0
    height_mm: int = 0
    flags: str = ""
    image_url: str = ""
    hs_code: str | None = None           # None: keep what is stored
    origin_country: str | None = None



def upsert_products(specs: Sequence[ProductSpec], actor: str) -> dict[str, int]:
    """Create or update products by SKU (and their GTINs); returns sku → id."""
    now = clock.now()
    with store_db.write_tx():
        for spec in specs:
            fields = dict(name=spec.name, weight_g=spec.weight_g, length_mm=spec.length_mm,
                          width_mm=spec.width_mm, height_mm=spec.height_mm, flags=spec.flags,
                          image_url=spec.image_url)
            fields.update({k: getattr(spec, k) for k in ("hs_code", "origin_country")
                           if getattr(spec, k) is not None})
            (Product.insert(sku=spec.sku, created_at=now, **fields)
             .on_conflict(conflict_target=[Product.sku], update=fields).execute())
        ids = dict(select_in("SELECT sku, id FROM product WHERE sku IN ({in})",
                             [s.sku for s in specs]))
        for spec in specs:
            for gtin in spec.gtins:
                owner = ProductGtin.get_or_none(ProductGtin.gtin == gtin)
                if owner and owner.product_id != ids[spec.sku]:
                    raise Unprocessable(f"GTIN {gtin} already belongs to another product",
                                        code="gtin_taken", field="gtin")
                ProductGtin.insert(product=ids[spec.sku], gtin=gtin).on_conflict_ignore().execute()
        audit.write([audit.row(now, actor, "product.upsert", "product", ids[s.sku], "", s.sku)
                     for s in specs])
    return ids


def warehouse_by_code(code: str) -> Warehouse:
    wh = Warehouse.get_or_none(Warehouse.code == code)
    if wh is None:
        raise NotFound(f"no warehouse {code!r}", code="unknown_warehouse", field="warehouse")
    return wh


def ensure_location(warehouse: Warehouse, code: str, now: dt.datetime) -> Location:
    try:
        canonical = parse_location(code).code
    except ValueError as err:
        raise Unprocessable(str(err), code="bad_location", field="location") from err
    Location.insert(warehouse=warehouse.id, code=canonical, pick_seq=pick_sequence(canonical),
                    created_at=now).on_conflict_ignore().execute()
    return Location.get((Location.warehouse == warehouse.id) & (Location.code == canonical))


def _stock_row(warehouse: Warehouse, location: Location, product_id: int,
               now: dt.datetime) -> Stock:
    Stock.insert(warehouse=warehouse.id, location=location.id, product=product_id, on_hand=0,
                 reserved=0, updated_at=now).on_conflict_ignore().execute()
    q = Stock.select().where((Stock.location == location.id) & (Stock.product == product_id))
    if store_db.is_postgres():
        q = q.for_update()
    return q.get()


def _product_id(sku: str) -> int:
    row = execute("SELECT id FROM product WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        raise Unprocessable(f"unknown SKU {sku!r}", code="unknown_sku", field="sku")
    return row[0]


MAX_ON_HAND = 2**31 - 1   # the stock columns are INTEGER on both databases


def change_stock(warehouse_code: str, location_code: str, sku: str, *, add: int = 0,
                 set_to: int | None = None, min_qty: int | None = None,
                 max_qty: int | None = None, actor: str, now: dt.datetime,
                 reason: str, detail: dict | None = None) -> Stock:
    """Receive (`add`) or count (`set_to`) one location's stock. Inside a write transaction.
    A count below what is reserved there is refused."""
    wh = warehouse_by_code(warehouse_code)
    pid = _product_id(sku)
    loc = ensure_location(wh, location_code, now)
    row = _stock_row(wh, loc, pid, now)
    before = row.on_hand
    after = before + add if set_to is None else set_to
    if after > MAX_ON_HAND:
        raise Unprocessable(f"{sku} at {loc.code}: {after} on hand is more than one location "
                            f"can hold ({MAX_ON_HAND})", code="out_of_range", field="quantity")
    if after < 0 or after < row.reserved:
        raise Unprocessable(f"{sku} at {loc.code}: {after} on hand would be less than the "
                            f"{row.reserved} reserved there", code="below_reserved",
                            field="quantity")
    updates = {"on_hand": after, "updated_at": now}
    if min_qty is not None:
        updates["min_qty"] = min_qty
    if max_qty is not None:
        updates["max_qty"] = max_qty
    low = min_qty if min_qty is not None else row.min_qty
    high = max_qty if max_qty is not None else row.max_qty
    if high and high < low:
        raise Unprocessable(f"{sku} at {loc.code}: max {high} is below min {low}",
                            code="bad_levels", field="max_qty")
    Stock.update(**updates).where(Stock.id == row.id).execute()
    audit.write([audit.row(now, actor, f"stock.{reason}", "stock", row.id,
                           {"on_hand": before}, {"on_hand": after},
                           {"sku": sku, "location": loc.code, "warehouse": wh.code,
                            **(detail or {})})])
    stock_levels_changed([row.id])
    row.on_hand = after
    return row


def receive(lines: Iterable[tuple[str, str, str, int]], actor: str, reference: str = "", *,
            settings: Config) -> dict:
    """Goods in: (warehouse, location, sku, quantity) each; then backorders get first call
    (a deadlock there rolls the receipt back whole and it runs again)."""
    lines = list(lines)

    def once() -> dict:
        now = clock.now()
        with store_db.write_tx():
            products = set()
            for wh, loc, sku, qty in lines:
                if qty <= 0:
                    raise Unprocessable("quantity must be at least 1", code="bad_quantity",
                                        field="quantity")
                row = change_stock(wh, loc, sku, add=qty, actor=actor, now=now,
                                   reason="receive")
                products.add(row.product_id)
            filled = reserve_backorders(products, actor, now, settings=settings)
        return {"received": len(products), "orders_reserved": filled, "reference": reference}
    return retry_transaction(once, what="goods receipt")


WAITING = (lifecycle.BACKORDERED, lifecycle.AWAITING_PAYMENT, lifecycle.ON_HOLD)


def reserve_backorders(product_ids: Iterable[int], actor: str, now: dt.datetime, *,
                       settings: Config) -> int:
    """Offer stock of these products to orders waiting for it (priority, then oldest).
    Inside a write transaction. Returns how many orders got something."""
    ids = sorted(set(product_ids))
    if not ids:
        return 0
    rows = select_in(
        "SELECT o.id, o.status, o.ship_country, o.ship_postcode, c.allow_split, o.warehouse_id, "
        "o.paid, ol.id, ol.product_id, ol.backordered, "
        "(SELECT SUM(x.reserved) FROM order_line x WHERE x.order_id = o.id) FROM order_line ol "
        "JOIN sales_order o ON o.id = ol.order_id JOIN channel c ON c.id = o.channel_id "
        "WHERE ol.backordered > 0 AND o.status IN ('backordered', 'awaiting_payment', 'on_hold') "
        "AND o.id IN (SELECT order_id FROM order_line WHERE backordered > 0 "
        "AND product_id IN ({in})) ORDER BY o.priority DESC, o.placed_at, o.id, ol.line_no", ids)
    needs: dict[int, OrderNeed] = {}
    for oid, status, country, post, split, wid, paid, lid, pid, short, held in rows:
        if oid not in needs:  # an order holding units somewhere stays in that warehouse
            needs[oid] = OrderNeed(oid, status, country, post, bool(split), wid, [],
                                   paid=bool(paid), hold=status == lifecycle.ON_HOLD,
                                   pinned=bool(held) and wid is not None and not split)
        needs[oid].lines.append((lid, pid, short))
    if not needs:
        return 0
    outcome = reserve(list(needs.values()), actor, now, settings=settings)
    return sum(1 for n in needs.values() if any(outcome.reserved[lid] for lid, _, _ in n.lines))


def stock_for_sku(sku: str) -> dict:
    """Each location's stock of a SKU; a blocked bin (a count pending) says why and shows
    nothing available: no new reservation can land there."""
    pid = _product_id(sku)
    rows = execute(
        "SELECT w.code, l.code, s.on_hand, s.reserved, s.min_qty, l.blocked FROM stock s "
        "JOIN warehouse w ON w.id = s.warehouse_id JOIN location l ON l.id = s.location_id "
        "WHERE s.product_id = ? ORDER BY w.code, l.pick_seq, l.code", (pid,)).fetchall()
    return {"sku": sku, "locations": [
        {"warehouse": w, "location": loc, "on_hand": oh, "reserved": r,
         "available": 0 if blocked else oh - r, "min_qty": mn, "blocked": blocked}
        for w, loc, oh, r, mn, blocked in rows]}
