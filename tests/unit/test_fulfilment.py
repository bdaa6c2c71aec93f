"""The storefront fulfilment requests (server/domain/fulfilment.py): shapes and signature."""
from __future__ import annotations

import base64
import json
import random

import pytest

from server.domain import fulfilment as ful
from server.domain.storefronts import signature

ORDER_ID = "7300000000000000123"          # above 2^53: must stay exact everywhere
LINE_A, LINE_B = "7300000000000000501", "7300000000000000502"


def snap(**changes) -> ful.ShipmentSnapshot:
    base = dict(shipment_id=11, order_id=3, order_external_id=ORDER_ID, order_ref="#1001",
                carrier="Royal Mail", service="Tracked 48", tracking="RR123456785GB",
                sscc="012345678900000017", parcel_no=1, parcel_count=1,
                shipped_at="2025-06-13T12:00:00+00:00", delivery_id="d-1",
                lines=(ful.LineSnapshot(LINE_A, "WP-TEE-BLK-M", 2),
                       ful.LineSnapshot(LINE_B, "WP-MUG-350-SAGE", 1)))
    base.update(changes)
    return ful.ShipmentSnapshot(**base)


SHOP = ful.Storefront(kind="shopify", base_url="https://shop.example/", token="shpat_x")
WOO = ful.Storefront(kind="woocommerce", base_url="https://woo.example", key="ck", secret="cs")
NATIVE = ful.Storefront(kind="native", callback_url="https://api.example/cb?x=1",
                        signing_secret="s3cret")


def headers(req: ful.Request) -> dict[str, str]:
    return dict(req.headers)


def fulfillment_orders() -> dict:
    # the shape of GET orders/{id}/fulfillment_orders.json, ids as JSON numbers
    return json.loads(json.dumps({"fulfillment_orders": [
        {"id": 9100000000000000001, "status": "closed", "supported_actions": [],
         "line_items": [{"id": 9100000000000000009, "line_item_id": int(LINE_A),
                         "fulfillable_quantity": 5}]},
        {"id": 9100000000000000002, "status": "open",
         "supported_actions": ["create_fulfillment", "move"],
         "line_items": [
             {"id": 9100000000000000011, "line_item_id": int(LINE_A), "quantity": 3,
              "fulfillable_quantity": 3},
             {"id": 9100000000000000012, "line_item_id": int(LINE_B), "quantity": 1,
              "fulfillable_quantity": 1},
             {"id": 9100000000000000013, "line_item_id": 42, "quantity": 1,
              "fulfillable_quantity": 1}]}]}))


def test_snapshot_round_trips_through_json_with_exact_ids():
    s = snap()
    assert ful.ShipmentSnapshot.from_json(s.to_json()) == s
    assert ORDER_ID in s.to_json()


def test_shopify_reads_then_creates_one_fulfilment_of_our_open_lines():
    read = ful.shopify_fulfillment_orders_request(SHOP, snap())
    assert (read.method, read.body) == ("GET", None)
    assert read.url == f"https://shop.example/admin/api/2025-07/orders/{ORDER_ID}/" \
                       "fulfillment_orders.json"
    assert headers(read)["X-Shopify-Access-Token"] == "shpat_x"
    create = ful.shopify_create_request(SHOP, snap(), fulfillment_orders())
    assert (create.method, create.url) == (
        "POST", "https://shop.example/admin/api/2025-07/fulfillments.json")
    assert headers(create)["Content-Type"] == "application/json"
    assert b"9100000000000000011" in create.body           # ids exact, not floats
    body = json.loads(create.body)["fulfillment"]
    assert body["line_items_by_fulfillment_order"] == [{
        "fulfillment_order_id": 9100000000000000002,
        "fulfillment_order_line_items": [{"id": 9100000000000000011, "quantity": 2},
                                         {"id": 9100000000000000012, "quantity": 1}]}]
    assert body["tracking_info"] == {"number": "RR123456785GB", "company": "Royal Mail"}
    assert body["notify_customer"] is True


def test_shopify_caps_at_fulfillable_and_refuses_when_nothing_is_ours():
    fos = fulfillment_orders()
    fos["fulfillment_orders"][1]["line_items"][0]["fulfillable_quantity"] = 1
    body = json.loads(ful.shopify_create_request(SHOP, snap(), fos).body)["fulfillment"]
    assert body["line_items_by_fulfillment_order"][0]["fulfillment_order_line_items"][0] == \
        {"id": 9100000000000000011, "quantity": 1}
    with pytest.raises(ful.FulfilmentRefused):
        ful.shopify_create_request(SHOP, snap(lines=(ful.LineSnapshot("1", "X", 1),)), fos)
    with pytest.raises(ful.FulfilmentRefused):
        ful.shopify_create_request(SHOP, snap(), {"fulfillment_orders": "nonsense"})


def test_shopify_finds_a_fulfilment_already_carrying_our_tracking():
    url = ful.shopify_fulfilments_request(SHOP, snap()).url
    assert url.endswith(f"/orders/{ORDER_ID}/fulfillments.json?limit=250")
    mine = {"id": 9100000000000000077, "status": "success", "tracking_number": "X",
            "tracking_numbers": ["X", "RR123456785GB"]}
    assert ful.find_shopify_fulfilment(snap(), {"fulfillments": [mine]}) == \
        "9100000000000000077"
    assert ful.find_shopify_fulfilment(snap(), {"fulfillments": [{**mine,
                                                                  "status": "cancelled"}]}) is None
    assert ful.find_shopify_fulfilment(snap(), {"fulfillments": []}) is None
    assert ful.find_shopify_fulfilment(snap(), None) is None
    assert ful.shopify_created_id({"fulfillment": {"id": 9100000000000000078}}) == \
        "9100000000000000078"


def test_woocommerce_note_then_completed_with_basic_auth():
    note = ful.woo_add_note_request(WOO, snap(parcel_count=2, parcel_no=2,
                                              tracking_url="https://t.example/RR1"))
    assert (note.method, note.url) == (
        "POST", f"https://woo.example/wp-json/wc/v3/orders/{ORDER_ID}/notes")
    assert headers(note)["Authorization"] == "Basic " + base64.b64encode(b"ck:cs").decode()
    sent = json.loads(note.body)
    assert sent["customer_note"] is True
    assert "RR123456785GB" in sent["note"] and "parcel 2 of 2" in sent["note"]
    done = ful.woo_complete_request(WOO, snap())
    assert (done.method, done.url) == (
        "PUT", f"https://woo.example/wp-json/wc/v3/orders/{ORDER_ID}")
    assert json.loads(done.body) == {"status": "completed"}
    assert ful.woo_notes_request(WOO, snap()).method == "GET"
    assert ful.woo_note_exists(snap(), [{"id": 5, "note": "Order status changed"},
                                        {"id": 6, "note": sent["note"]}]) == "6"
    assert ful.woo_note_exists(snap(), [{"id": 5, "note": "Order status changed"}]) is None


def test_native_callback_is_signed_and_carries_a_stable_delivery_id():
    req = ful.native_request(NATIVE, snap())
    h = headers(req)
    assert (req.method, req.url) == ("POST", "https://api.example/cb?x=1")
    assert h[ful.DELIVERY_HEADER] == "d-1" and h[ful.EVENT_HEADER] == "shipment.shipped"
    assert signature.verify(req.body, h[ful.SIGNATURE_HEADER], ["s3cret"])
    assert not signature.verify(req.body, h[ful.SIGNATURE_HEADER], ["other"])
    body = json.loads(req.body)
    assert body["order"] == {"id": ORDER_ID, "ref": "#1001"}
    assert body["shipment"]["tracking"] == "RR123456785GB"
    assert body["lines"][0] == {"external_id": LINE_A, "sku": "WP-TEE-BLK-M", "quantity": 2}
    assert ful.native_request(NATIVE, snap()).body == req.body    # a retry: the same bytes


def test_store_ids_must_be_digits():
    with pytest.raises(ful.FulfilmentRefused):
        ful.woo_complete_request(WOO, snap(order_external_id="1/../../users"))


def test_reachable_needs_somewhere_to_send():
    assert SHOP.reachable() and NATIVE.reachable()
    assert not ful.Storefront(kind="shopify").reachable()
    assert not ful.Storefront(kind="native", base_url="https://x").reachable()


def test_backoff_doubles_up_to_the_cap_with_jitter():
    rng = random.Random(7)
    waits = [ful.backoff_seconds(n, 30, 3600, rng) for n in range(1, 12)]
    for n, wait in enumerate(waits, start=1):
        ceiling = min(3600, 30 * 2 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert max(waits) <= 3600
