"""Building blocks for integration tests: a small catalogue, stock, channels, drafts."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from server.domain.orders import Address, LineDraft, OrderDraft

UTC = dt.timezone.utc
SKUS = ("WP-TEE-BLK-M", "WP-MUG-350-SAGE", "WP-BOTL-750-STL", "WP-TOTE-NAT")


def seed(app, *, stock: int = 100, skus=SKUS, locations=("A-01-02-3", "B-03-04-2")):
    """Products, one stock row per SKU per location in `main`, a native channel `api`."""
    from server.services import channels, stock as stock_svc
    with app.app_context():
        from server.store.db import db
        with db.connection_context():
            stock_svc.upsert_products([stock_svc.ProductSpec(sku=s, name=s) for s in skus],
                                      "test")
            from server import clock
            from server.store import db as store_db
            with store_db.write_tx():
                for i, sku in enumerate(skus):
                    stock_svc.change_stock("main", locations[i % len(locations)], sku,
                                           set_to=stock, actor="test", now=clock.now(),
                                           reason="count")
            channels.add_channel("api", "native")


# A postcode in each country's format (intake checks it against the destination).
POSTCODES = {"GB": "LS1 1AA", "DE": "10435", "FR": "75010", "NL": "1016 GV", "US": "11249",
             "IE": "D08 X2R4", "CN": "100022"}


def draft(ref: str, lines=(("WP-TEE-BLK-M", 1),), *, paid=True, phone=None, price="10.00",
          country="GB", placed_at=None, **kw) -> OrderDraft:
    return OrderDraft(
        external_id=ref, ref=ref,
        placed_at=placed_at or dt.datetime(2025, 6, 1, 12, 0, tzinfo=UTC),
        currency="GBP", paid=paid,
        ship_to=Address(name="Ann Test", phone=phone or f"+4477009{abs(hash(ref)) % 100000:05d}",
                        address1=f"{ref} Test Street", city="Leeds",
                        postcode=POSTCODES.get(country, ""),
                        country=country),
        lines=tuple(LineDraft(sku=s, quantity=q, unit_price=Decimal(price)) for s, q in lines),
        **kw)
