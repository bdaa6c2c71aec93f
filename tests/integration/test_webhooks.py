"""Storefront webhooks end to end: signed fixtures replayed byte-exact, the ping, refusals
that write nothing, exactly-once under 50 concurrent copies, out-of-order updates."""
from __future__ import annotations

import contextlib
import csv
import json
import threading
import uuid

import pytest

from server.domain.storefronts.signature import sign
from server.services import channels, webhooks
from server.store.db import db, execute
from server.store.models import Audit, Order, OrderLine, Stock, WebhookEvent, WmsException
from server.settings import current

from ..conftest import STOREFRONTS, make_app
from ..factories import seed
from ..exception_checks import raised

SECRET = "wavepack-test-secret"
SHOPIFY_ID = "1858075858435891816"
with open(STOREFRONTS / "native" / "catalogue.csv", encoding="utf-8") as f:
    CATALOGUE = tuple(row["sku"] for row in csv.DictReader(f))


# ---- helpers, also used by test_updates and test_woo_pull ---------------------------------

def register(app):
    """The blueprint, registered here until server/api/__init__.py does it."""
    if "webhooks" not in app.blueprints:
        from server.api.webhooks import bp
        app.register_blueprint(bp)
    return app


def seed_shops(app, stock: int = 10) -> None:
    """All 13 catalogue SKUs in stock, a Shopify channel `shop` and a WooCommerce `woo`."""
    seed(app, stock=stock, skus=CATALOGUE)
    with ctx(app):
        channels.add_channel("shop", "shopify", secret=SECRET)
        channels.add_channel("woo", "woocommerce", secret=SECRET)


@contextlib.contextmanager
def ctx(app):
    """An app context with an open connection, for reading and arranging in tests."""
    with app.app_context(), db.connection_context():
        yield


def fixture(platform: str, name: str) -> tuple[bytes, dict]:
    """A fixture's exact body bytes and its headers."""
    folder = STOREFRONTS / platform
    body = (folder / name).read_bytes()
    headers = json.loads((folder / (name.rsplit(".", 1)[0] + ".headers.json")).read_text())
    return body, headers


def shopify_payload() -> dict:
    return json.loads(fixture("shopify", "orders-paid.json")[0])


def woo_payload() -> dict:
    return json.loads(fixture("woocommerce", "order-created.json")[0])


def shopify_delivery(payload: dict, topic: str, event_id: str | None = None,
                     secret: str = SECRET) -> tuple[bytes, dict]:
    """A Shopify delivery of `payload`, signed like Shopify signs it."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, {"Content-Type": "application/json", "X-Shopify-Topic": topic,
                  "X-Shopify-Hmac-Sha256": sign(body, secret),
                  "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
                  "X-Shopify-Webhook-Id": str(uuid.uuid4())}


def woo_delivery(payload: dict, topic: str, secret: str = SECRET) -> tuple[bytes, dict]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, {"Content-Type": "application/json", "X-WC-Webhook-Topic": topic,
                  "X-WC-Webhook-Signature": sign(body, secret), "X-WC-Webhook-ID": "7"}


def post(client, platform: str, body: bytes, headers: dict, channel: str | None = None):
    channel = channel or ("shop" if platform == "shopify" else "woo")
    return client.post(f"/webhooks/{platform}/{channel}", data=body, headers=headers)


def counts(app) -> tuple[int, int]:
    """(orders, webhook events) stored."""
    with ctx(app):
        return Order.select().count(), WebhookEvent.select().count()


def the_order(app, external_id: str = SHOPIFY_ID) -> Order:
    with ctx(app):
        return Order.get(Order.external_id == external_id)


def reserved_total(app) -> int:
    with ctx(app):
        return sum(s.reserved for s in Stock.select())


@pytest.fixture
def shop(app):
    register(app)
    seed_shops(app)
    return app


# ---- happy paths ---------------------------------------------------------------------------

def test_shopify_fixture_replayed_byte_exact(shop, client):
    body, headers = fixture("shopify", "orders-paid.json")
    r = post(client, "shopify", body, headers)
    assert r.status_code == 200, r.get_json()
    answer = r.get_json()
    assert answer["ok"] and answer["outcome"] == "created" and answer["order_id"]
    with ctx(shop):
        order = Order.get_by_id(answer["order_id"])
        assert order.external_id == SHOPIFY_ID          # exact: a float would end in ...712
        assert (order.ref, order.status, order.currency, order.paid) == ("#1001", "ready",
                                                                         "GBP", True)
        assert (order.ship_name, order.ship_address1, order.ship_address2, order.ship_city,
                order.ship_postcode, order.ship_country, order.ship_phone) == (
            "Amelia Hart", "14 Wharf Street", "Flat 3", "Leeds", "LS2 7EQ", "GB", "+447700900123")
        assert order.total_minor == 9645
        lines = [(ln.sku, ln.quantity, ln.unit_price_minor, ln.reserved, ln.external_id)
                 for ln in OrderLine.select().where(OrderLine.order == order.id)
                 .order_by(OrderLine.line_no)]
        assert lines == [("WP-TEE-BLK-M", 2, 2400, 2, "2477315348721065057"),
                         ("WP-MUG-350-SAGE", 1, 1650, 1, "2341395275755514558"),
                         ("WP-BOTL-750-STL", 1, 2800, 1, "1527822961595603173")]
        event = WebhookEvent.get()
        assert (event.event_key, event.topic, event.outcome) == (
            "475f1d59-a87d-4895-a238-15d1fbf36d98", "orders/paid", "created")


def test_woocommerce_fixture_with_phone_fallback(shop, client):
    body, headers = fixture("woocommerce", "order-created.json")
    r = post(client, "woocommerce", body, headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["outcome"] == "created"
    order = the_order(shop, "4127")
    assert (order.ref, order.status, order.ship_name, order.ship_city) == (
        "4127", "ready", "Daniel Okafor", "Edinburgh")
    assert order.ship_phone == "+447700900456"          # shipping phone empty: billing's
    assert order.total_minor == 10190
    with ctx(shop):
        assert [(ln.sku, ln.quantity) for ln in OrderLine.select().order_by(OrderLine.line_no)] \
            == [("WP-HOOD-GRY-L", 1), ("WP-TOTE-NAT", 2), ("WP-CAND-200-FIG", 1)]
    again = post(client, "woocommerce", body, headers)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert counts(shop) == (1, 1)


def test_woocommerce_ping_gets_200_and_writes_nothing(shop, client):
    body, headers = fixture("woocommerce", "ping.txt")
    r = post(client, "woocommerce", body, headers)
    assert r.status_code == 200 and r.get_json() == {"ok": True, "ping": True}
    r = client.post("/webhooks/woocommerce/woo", data=body)        # no Content-Type at all
    assert r.status_code == 200 and r.get_json()["ping"] is True
    # a ping-shaped body that carries a signature is a delivery, and this one is not signed right
    r = post(client, "woocommerce", body, {**headers, "X-WC-Webhook-Signature": "x" * 44})
    assert r.status_code == 401
    assert counts(shop) == (0, 0)


def test_unpaid_create_then_paid_becomes_ready(shop, client):
    unpaid = shopify_payload()
    unpaid.update(financial_status="pending", updated_at="2025-06-12T09:41:03+01:00")
    r = post(client, "shopify", *shopify_delivery(unpaid, "orders/create"))
    assert r.get_json()["outcome"] == "created"
    assert the_order(shop).status == "awaiting_payment"
    assert reserved_total(shop) == 4                     # held for it while unpaid
    r = post(client, "shopify", *fixture("shopify", "orders-paid.json"))
    assert r.status_code == 200 and r.get_json()["outcome"] == "updated"
    order = the_order(shop)
    assert (order.status, order.paid) == ("ready", True)
    assert reserved_total(shop) == 4
    assert counts(shop) == (1, 2)


# ---- refusals that write nothing -----------------------------------------------------------

def test_bad_signatures_are_refused_and_write_nothing(shop, client):
    body, headers = fixture("shopify", "orders-paid.json")
    with ctx(shop):
        channels.add_channel("shop2", "shopify", secret="another-shops-secret")
    unsigned = {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"}
    reserialised = json.dumps(json.loads(body)).encode()
    wrong_secret = {**headers, "X-Shopify-Hmac-Sha256": sign(body, "not-the-secret")}
    cases = [
        (body, unsigned, "shop", 401),
        (body, {**headers, "X-Shopify-Hmac-Sha256": ""}, "shop", 401),
        (body, wrong_secret, "shop", 401),
        (reserialised, headers, "shop", 401),            # same JSON, other bytes
        (body, headers, "shop2", 401),                   # signed for another channel
        (body, headers, "nosuchshop", 404),
        (body, headers, "woo", 404),                     # a channel of the other kind
    ]
    for data, hdrs, channel, status in cases:
        r = post(client, "shopify", data, hdrs, channel)
        assert r.status_code == status, (channel, r.get_json())
        err = r.get_json()["error"]
        assert err["code"] == ("bad_signature" if status == 401 else "unknown_channel")
    woo_body, woo_headers = fixture("woocommerce", "order-created.json")
    r = post(client, "woocommerce", woo_body,
             {k: v for k, v in woo_headers.items() if k != "X-WC-Webhook-Signature"})
    assert r.status_code == 401
    assert post(client, "woocommerce", woo_body, woo_headers, "shop").status_code == 404
    assert counts(shop) == (0, 0)
    with ctx(shop):
        assert Audit.select().where(Audit.action.startswith("order")).count() == 0


def test_malformed_or_unparseable_bodies_write_nothing(shop, client):
    bad_json = b'{"id": 1858075858435891816, "line_items": ['
    r = post(client, "shopify", bad_json, {"X-Shopify-Topic": "orders/paid",
                                            "Content-Type": "application/json",
                                            "X-Shopify-Hmac-Sha256": sign(bad_json, SECRET)})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "malformed_json"
    not_an_order = shopify_payload()
    del not_an_order["line_items"]
    r = post(client, "shopify", *shopify_delivery(not_an_order, "orders/paid"))
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "line_items"
    r = post(client, "woocommerce", *woo_delivery({"id": "x"}, "order.updated"))
    assert r.status_code == 422
    r = post(client, "woocommerce", *woo_delivery([1, 2], "order.updated"))
    assert r.status_code == 422
    assert counts(shop) == (0, 0)


@pytest.mark.parametrize("change", ["ancient", "far_future", "huge_quantity", "long_sku",
                                    "huge_price"])
def test_orders_no_table_can_hold_are_422_and_write_nothing(shop, client, change):
    payload = shopify_payload()
    line = payload["line_items"][0]
    if change == "ancient":
        payload["created_at"] = "0001-01-01T00:00:00+05:00"
    elif change == "far_future":
        payload["updated_at"] = "9999-12-31T23:59:59-05:00"
    elif change == "huge_quantity":
        line["quantity"] = line["current_quantity"] = 10 ** 15
    elif change == "long_sku":
        line["sku"] = "X" * 500
    else:
        line["price"] = "1" + "0" * 30
    r = post(client, "shopify", *shopify_delivery(payload, "orders/paid"))
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["code"] in ("out_of_range", "too_long")
    assert counts(shop) == (0, 0)


def test_unknown_topic_is_acknowledged_and_ignored(shop, client):
    r = post(client, "shopify", *shopify_delivery(shopify_payload(), "products/update"))
    assert r.status_code == 200 and r.get_json() == {"ok": True, "ignored": "products/update"}
    r = post(client, "woocommerce", *woo_delivery(woo_payload(), "action.woocommerce_x"))
    assert r.status_code == 200 and r.get_json()["ignored"] == "action.woocommerce_x"
    assert counts(shop) == (0, 0)


def test_body_over_the_limit_is_413_and_writes_nothing(db_url):
    from server import clock
    small = register(make_app(db_url, server={"max_body_bytes": 1000}))
    try:
        seed_shops(small)
        body, headers = fixture("shopify", "orders-paid.json")
        assert len(body) > 1000
        r = small.test_client().post("/webhooks/shopify/shop", data=body, headers=headers)
        assert r.status_code == 413
        assert r.get_json()["error"]["code"] == "request_entity_too_large"
        assert counts(small) == (0, 0)
    finally:
        clock.set_clock(None)
        if not db.is_closed():
            db.close()


# ---- exactly once --------------------------------------------------------------------------

def test_50_concurrent_copies_of_one_event_make_one_order(shop):
    body, headers = fixture("shopify", "orders-paid.json")
    answers, lock = [], threading.Lock()
    start = threading.Barrier(50)

    def deliver() -> None:
        mine = {**headers, "X-Shopify-Webhook-Id": str(uuid.uuid4())}   # same Event-Id
        with shop.app_context():
            client = shop.test_client()
            start.wait()
            r = client.post("/webhooks/shopify/shop", data=body, headers=mine)
            with lock:
                answers.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s for s, _ in answers] == [200] * 50, [a for a in answers if a[0] != 200][:3]
    created = [a for _, a in answers if a.get("outcome") == "created"]
    assert len(created) == 1
    assert sum(1 for _, a in answers if a.get("duplicate")) == 49
    assert counts(shop) == (1, 1)
    assert reserved_total(shop) == 4
    with ctx(shop):
        assert OrderLine.select().count() == 3
    later = post(shop.test_client(), "shopify", body,
                 {**headers, "X-Shopify-Webhook-Id": str(uuid.uuid4())})
    assert later.status_code == 200 and later.get_json() == {"ok": True, "duplicate": True}
    assert counts(shop) == (1, 1)


def test_same_order_under_a_new_event_id_is_not_a_second_order(shop, client):
    body, headers = fixture("shopify", "orders-paid.json")
    assert post(client, "shopify", body, headers).get_json()["outcome"] == "created"
    other = {**headers, "X-Shopify-Event-Id": str(uuid.uuid4())}
    r = post(client, "shopify", body, other)
    assert r.status_code == 200 and r.get_json()["outcome"] == "unchanged"
    assert counts(shop) == (1, 2)


# ---- updates, out of order, cancels --------------------------------------------------------

def test_older_update_is_stale_and_changes_nothing(shop, client):
    post(client, "shopify", *fixture("shopify", "orders-paid.json"))
    old = shopify_payload()
    old.update(updated_at="2025-06-12T09:41:04+01:00", note="from an older view")
    old["shipping_address"]["address1"] = "1 Old Road"
    r = post(client, "shopify", *shopify_delivery(old, "orders/updated"))
    assert r.status_code == 200 and r.get_json()["outcome"] == "stale"
    order = the_order(shop)
    assert (order.note, order.ship_address1) == ("", "14 Wharf Street")
    assert order.source_updated_at.isoformat() == "2025-06-12T08:41:06+00:00"


def test_address_change_before_picking_is_applied(shop, client):
    post(client, "shopify", *fixture("shopify", "orders-paid.json"))
    new = shopify_payload()
    new["updated_at"] = "2025-06-12T10:00:00+01:00"
    new["shipping_address"].update(address1="9 Dock Street", address2="", zip="LS10 1JF")
    r = post(client, "shopify", *shopify_delivery(new, "orders/updated"))
    assert r.get_json()["outcome"] == "updated"
    order = the_order(shop)
    assert (order.ship_address1, order.ship_address2, order.ship_postcode, order.status) == (
        "9 Dock Street", "", "LS10 1JF", "ready")
    assert "9dockstreet" in order.address_key
    with ctx(shop):
        row = Audit.get(Audit.action == "order.updated")
        assert json.loads(row.before)["ship_address1"] == "14 Wharf Street"
        assert json.loads(row.after)["ship_address1"] == "9 Dock Street"
    assert reserved_total(shop) == 4


def test_address_change_after_picking_opens_exception_and_keeps_address(shop, client):
    post(client, "shopify", *fixture("shopify", "orders-paid.json"))
    with ctx(shop):
        execute("UPDATE sales_order SET status = 'picking' WHERE external_id = ?", (SHOPIFY_ID,))
    new = shopify_payload()
    new["updated_at"] = "2025-06-12T10:00:00+01:00"
    new["shipping_address"]["address1"] = "9 Dock Street"
    for _ in range(2):                        # a resend does not open a second exception
        r = post(client, "shopify", *shopify_delivery(new, "orders/updated"))
        assert r.status_code == 200 and r.get_json()["outcome"] == "exception"
    assert the_order(shop).ship_address1 == "14 Wharf Street"
    with ctx(shop):
        [exc] = list(WmsException.select())
        assert exc.type == "address_changed_after_pick" and exc.state == "open"
        detail = json.loads(exc.detail)
        assert detail == {"old": {"ship_address1": "14 Wharf Street"},
                          "new": {"ship_address1": "9 Dock Street"}}
    raised(shop, "address_changed_after_pick", "order")


def test_cancel_releases_stock(shop, client):
    post(client, "shopify", *fixture("shopify", "orders-paid.json"))
    assert reserved_total(shop) == 4
    cancelled = shopify_payload()
    cancelled.update(updated_at="2025-06-12T11:00:00+01:00",
                     cancelled_at="2025-06-12T11:00:00+01:00", cancel_reason="customer")
    r = post(client, "shopify", *shopify_delivery(cancelled, "orders/cancelled"))
    assert r.status_code == 200 and r.get_json()["outcome"] == "cancelled"
    assert the_order(shop).status == "cancelled"
    assert reserved_total(shop) == 0
    r = post(client, "shopify", *shopify_delivery(cancelled, "orders/cancelled"))
    assert r.get_json()["outcome"] == "unchanged"


def test_cancel_after_pack_opens_exception(shop, client):
    post(client, "shopify", *fixture("shopify", "orders-paid.json"))
    with ctx(shop):
        execute("UPDATE sales_order SET status = 'packed' WHERE external_id = ?", (SHOPIFY_ID,))
    cancelled = shopify_payload()
    cancelled.update(updated_at="2025-06-12T11:00:00+01:00",
                     cancelled_at="2025-06-12T11:00:00+01:00")
    r = post(client, "shopify", *shopify_delivery(cancelled, "orders/cancelled"))
    assert r.get_json()["outcome"] == "exception"
    assert the_order(shop).status == "packed"
    assert reserved_total(shop) == 4
    with ctx(shop):
        assert WmsException.get().type == "cancel_after_pack"
    raised(shop, "cancel_after_pack", "order")


def test_woocommerce_pending_then_processing_then_deleted(shop, client):
    pending = woo_payload()
    pending.update(status="pending", date_modified_gmt="2025-06-12T09:02:41")
    r = post(client, "woocommerce", *woo_delivery(pending, "order.created"))
    assert r.get_json()["outcome"] == "created"
    assert the_order(shop, "4127").status == "awaiting_payment"
    r = post(client, "woocommerce", *fixture("woocommerce", "order-created.json"))
    assert r.get_json()["outcome"] == "updated"           # processing: paid
    assert the_order(shop, "4127").status == "ready"
    r = post(client, "woocommerce", *woo_delivery({"id": 4127}, "order.deleted"))
    assert r.status_code == 200 and r.get_json()["outcome"] == "cancelled"
    assert the_order(shop, "4127").status == "cancelled" and reserved_total(shop) == 0
    r = post(client, "woocommerce", *woo_delivery({"id": 999}, "order.deleted"))
    assert r.status_code == 200 and r.get_json()["outcome"] == "unknown_order"


def test_rotated_secret_is_accepted_for_an_hour(shop, client):
    import datetime as dt
    from server import clock
    from server.store.models import Channel
    rotated = dt.datetime(2025, 6, 12, 8, 0, tzinfo=dt.timezone.utc)
    with ctx(shop):
        Channel.update(secret="the-new-secret", previous_secret=SECRET,
                       secret_rotated_at=rotated).where(Channel.name == "shop").execute()
    body, headers = fixture("shopify", "orders-paid.json")     # signed with the old secret
    clock.set_clock(lambda: rotated + dt.timedelta(hours=2))
    assert post(client, "shopify", body, headers).status_code == 401
    clock.set_clock(lambda: rotated + dt.timedelta(minutes=30))
    assert post(client, "shopify", body, headers).status_code == 200
    new = shopify_payload()
    new["updated_at"] = "2025-06-12T10:00:00+01:00"
    r = post(client, "shopify", *shopify_delivery(new, "orders/updated", secret="the-new-secret"))
    assert r.status_code == 200


def test_header_names_match_in_any_case(shop):
    body, headers = fixture("shopify", "orders-paid.json")
    lower = {k.lower(): v for k, v in headers.items()}
    with ctx(shop):
        status, answer = webhooks.receive_shopify("shop", lower, body, settings=current())
    assert status == 200 and answer["outcome"] == "created"


def test_business_refusal_is_acknowledged_and_becomes_an_exception(shop, client, monkeypatch):
    from server.domain.errors import Conflict
    from server.services import updates

    def refuse(*args, **kwargs):
        raise Conflict("simulated refusal", code="simulated")

    monkeypatch.setattr(updates, "apply_update", refuse)
    r = post(client, "shopify", *fixture("shopify", "orders-paid.json"))
    assert r.status_code == 200 and r.get_json()["outcome"] == "rejected:simulated"
    assert counts(shop) == (0, 1)
    with ctx(shop):
        assert WmsException.get().type == "webhook_rejected"
    raised(shop, "webhook_rejected", "channel", ref="shop")



# ---- address rules: a storefront's bad order is stored `invalid`, never refused -----------

def test_bad_address_from_a_storefront_is_stored_invalid_with_every_problem(shop, client):
    payload = shopify_payload()
    payload["id"] = 1858075858435891999
    payload["shipping_address"] = {**payload["shipping_address"], "country_code": "ZZ",
                                   "phone": "12345"}
    payload["billing_address"] = {**payload["billing_address"], "phone": "12345"}
    payload["line_items"][0]["sku"] = "WP-NOPE"
    body, headers = shopify_delivery(payload, "orders/paid")
    r = post(client, "shopify", body, headers)
    assert r.status_code == 200 and r.get_json()["outcome"] == "created", r.get_json()
    order = the_order(shop, "1858075858435891999")
    assert order.status == "invalid" and order.ship_country == "ZZ"
    expected = {("ship_to.country", "bad_country"), ("ship_to.phone", "bad_phone"),
                ("lines[0].sku", "unknown_sku")}
    assert {(p["field"], p["code"]) for p in json.loads(order.problems)} == expected
    with ctx(shop):
        exc = WmsException.get(WmsException.order == order.id)
    assert exc.type == "invalid_order"
    assert {(p["field"], p["code"]) for p in json.loads(exc.detail)} == expected
    assert "'ZZ'" in exc.message and "unknown SKU" in exc.message
    assert reserved_total(shop) == 0


def test_storefront_address_is_normalised_and_original_kept(shop, client):
    payload = woo_payload()
    payload["shipping"] = {**payload["shipping"], "postcode": "eh23ah", "country": "gb"}
    payload["billing"] = {**payload["billing"], "phone": "07700 900456"}
    body, headers = woo_delivery(payload, "order.created")
    r = post(client, "woocommerce", body, headers)
    assert r.status_code == 200 and r.get_json()["outcome"] == "created", r.get_json()
    order = the_order(shop, "4127")
    assert (order.status, order.ship_postcode, order.ship_country, order.ship_phone) == (
        "ready", "EH2 3AH", "GB", "+447700900456")
    # (the WooCommerce parser upper-cases the country itself)
    assert json.loads(order.ship_original) == {"postcode": "eh23ah", "phone": "07700 900456"}
