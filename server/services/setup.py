"""Database set-up and the demo warehouse."""
from __future__ import annotations

from pathlib import Path

from .. import clock, demo_data
from ..config import Config
from ..store import db as store_db
from ..store.migrate import prepare, schema_version
from ..store.models import Channel, Warehouse


def init_db(*, create: bool = True) -> dict:
    """Apply migrations and make sure the default warehouse `main` exists. With
    create=False (`wavepack serve` without --demo) the database must already be a wavepack
    database: a missing SQLite file or an empty database is refused, not made anew."""
    prepare(create=create)
    with store_db.db.connection_context():
        with store_db.write_tx():
            (Warehouse.insert(code="main", name="Main warehouse", zone="uk",
                              created_at=clock.now())
             .on_conflict_ignore().execute())
        return {"database": store_db.kind(), "schema_version": schema_version()}


def ensure_demo(settings: Config) -> list[str]:
    """Create the demo warehouse on first start (catalogue, bins, stock in two warehouses,
    users, a Shopify, a WooCommerce and a native channel); return the logins to print.
    The demo API tokens are kept in <data_dir>/demo-tokens.txt so they can be shown again."""
    tokens_file = Path(settings.server.data_dir) / "demo-tokens.txt"
    with store_db.db.connection_context():
        if Channel.get_or_none(Channel.name == demo_data.CHANNELS[0][0]) is None:
            _create_demo(tokens_file, settings)
    lines = [f"login  badge {b} PIN {pin}  ({role})" for b, role, pin, _ in demo_data.USERS]
    lines.append(f"orders  {len(demo_data.DEMO_ORDERS)} ready in warehouse rtm: plan a wave with "
                 "POST /api/v1/waves {\"warehouse\": \"rtm\"} (supervisor token), "
                 "release it, pick on /handheld/")
    for ref, *_, carrier in demo_data.HELD_ORDERS:
        lines.append(f"held    {ref} (shipping method {carrier!r} maps to no carrier service): "
                     "assign one with POST /api/v1/orders/{id}/carrier as a supervisor")
    lines += [f"webhook  POST /webhooks/{kind}/{name}  (secret {secret})"
              for name, kind, secret in demo_data.CHANNELS if secret]
    if tokens_file.exists():
        lines += tokens_file.read_text(encoding="utf-8").splitlines()
    return lines


def _create_demo(tokens_file: Path, settings: Config) -> None:
    from ..domain.gtin import normalize_gtin
    from . import auth, channels, stock
    for code, name, zone, _ in demo_data.WAREHOUSES:
        if Warehouse.get_or_none(Warehouse.code == code) is None:
            add_warehouse(code, name, zone)
    stock.upsert_products([stock.ProductSpec(sku=sku, name=name, gtins=(normalize_gtin(gtin),),
                                             weight_g=w, length_mm=dims[0], width_mm=dims[1],
                                             height_mm=dims[2],
                                             hs_code=demo_data.CUSTOMS[sku][0],
                                             origin_country=demo_data.CUSTOMS[sku][1])
                           for sku, gtin, name, w, dims, _ in demo_data.PRODUCTS], "demo")
    now = clock.now()
    with store_db.write_tx():
        for code, _, _, qty in demo_data.WAREHOUSES:
            for sku, _, _, _, _, loc in demo_data.PRODUCTS:     # the pick faces
                stock.change_stock(code, loc, sku, set_to=qty, min_qty=qty // 10,
                                   max_qty=qty, actor="demo", now=now, reason="count")
            for loc, sku, reserve in demo_data.RESERVE:
                stock.change_stock(code, loc, sku, set_to=reserve, actor="demo", now=now,
                                   reason="count")
    for badge, role, pin, name in demo_data.USERS:
        auth.add_user(badge, role, pin, name)
    for name, kind, secret in demo_data.CHANNELS:
        channels.add_channel(name, kind, secret=secret, actor="demo")
    _demo_orders(settings)
    api = auth.create_token(channel="demo-api", label="demo")
    sup = auth.create_token(role="supervisor", label="demo")
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    tokens_file.write_text(f"token  demo-api channel: {api}\ntoken  supervisor: {sup}\n",
                           encoding="utf-8")


def _demo_orders(settings: Config) -> None:
    """Ready orders for the Rotterdam warehouse, through the same intake as real ones."""
    import datetime as dt
    from decimal import Decimal

    from ..domain.native import native_method_keys
    from ..domain.orders import Address, LineDraft, OrderDraft
    from . import channels, intake
    placed = clock.now() - dt.timedelta(hours=1)
    drafts = [OrderDraft(external_id=ref, ref=ref, placed_at=placed, currency="EUR", paid=True,
                         ship_to=Address(name=name, phone=f"+3120555010{n}",
                                         address1=f"Demostraat {n}", city=city,
                                         postcode=postcode, country=country),
                         lines=tuple(LineDraft(sku=sku, quantity=q, unit_price=Decimal("20.00"))
                                     for sku, q in lines),
                         carrier=carrier, shipping_method=native_method_keys(carrier, ""),
                         payment_method="card")
              for n, (ref, name, city, postcode, country, lines, carrier)
              in enumerate(demo_data.DEMO_ORDERS + demo_data.HELD_ORDERS, 1)]
    intake.import_orders(channels.ref(Channel.get(Channel.name == "demo-api")), drafts, "demo",
                         settings=settings)


def add_warehouse(code: str, name: str, zone: str = "") -> int:
    from ..domain.errors import Unprocessable
    from . import audit
    if not code or not code.replace("-", "").replace("_", "").isalnum() or len(code) > 32:
        raise Unprocessable("warehouse code: up to 32 letters, digits, '-' or '_'", field="code")
    now = clock.now()
    with store_db.write_tx():
        if Warehouse.get_or_none(Warehouse.code == code):
            raise Unprocessable(f"warehouse {code!r} already exists", code="duplicate",
                                field="code")
        wh = Warehouse.create(code=code, name=name, zone=zone, created_at=now)
        audit.write([audit.row(now, "cli", "warehouse.add", "warehouse", wh.id, "", code)])
    return wh.id
