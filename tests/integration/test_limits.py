"""Body size limits: a big real order gets in, anything past the limit is 413 and writes nothing."""
import json

from server.services import auth
from server.store.db import db
from server.store.models import Order

from ..conftest import make_app
from ..factories import seed


def _order(lines: int, name_len: int) -> dict:
    return {"ref": "BIG-1", "placed_at": "2025-06-02T09:12:00+01:00", "currency": "GBP",
            "paid": True, "ship_to": {"name": "B", "phone": "+447700900101", "address1": "1 St",
                                      "city": "Leeds", "postcode": "LS1 1AA", "country": "GB"},
            "lines": [{"sku": "WP-TEE-BLK-M", "quantity": 1, "unit_price": "1.00",
                       "name": f"{i:04d}" + "x" * (name_len - 4)} for i in range(lines)]}


def test_default_limit_admits_1800_line_order(app, client):
    seed(app, stock=5000)
    with app.app_context(), db.connection_context():
        token = auth.create_token(channel="api")
    body = json.dumps(_order(1800, 290))
    assert len(body) > 500_000
    r = client.post("/api/v1/orders", data=body, content_type="application/json",
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.get_json()
    assert len(r.get_json()["lines"]) == 1800


def test_body_over_limit_is_413_and_writes_nothing(db_url):
    app = make_app(db_url, server={"max_body_bytes": 4096})
    seed(app)
    with app.app_context(), db.connection_context():
        token = auth.create_token(channel="api")
    client = app.test_client()
    r = client.post("/api/v1/orders", data=json.dumps(_order(200, 50)),
                    content_type="application/json",
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 413
    assert r.get_json()["error"]["code"]
    with app.app_context(), db.connection_context():
        assert Order.select().count() == 0


def test_real_2mb_shopify_order_of_1800_lines_is_admitted(app, client):
    """A real-shaped Shopify orders/paid of 1,800 line items (over 2 MB) under the default
    body limit: stored whole, ids exact."""
    from .test_webhooks import seed_shops, shopify_delivery, shopify_payload
    seed_shops(app, stock=1000)
    payload = shopify_payload()
    template = payload["line_items"]
    items = []
    for i in range(1800):
        item = json.loads(json.dumps(template[i % 3]))
        item["id"] = 2477315348721065057 + i
        item["price"] = "1.00"
        item["quantity"] = item["current_quantity"] = item["fulfillable_quantity"] = 1
        items.append(item)
    payload["line_items"] = items
    total = f"{1800 + 3.95:.2f}"
    for key in ("total_price", "current_total_price", "subtotal_price",
                "total_line_items_price"):
        payload[key] = total if "total_price" in key else "1800.00"
    payload["total_discounts"] = "0.00"
    body, headers = shopify_delivery(payload, "orders/paid")
    assert len(body) > 2_000_000
    r = client.post("/webhooks/shopify/shop", data=body, headers=headers)
    assert r.status_code == 200, r.get_json()
    with app.app_context(), db.connection_context():
        order = Order.get(Order.external_id == "1858075858435891816")
        from server.store.models import OrderLine
        lines = list(OrderLine.select().where(OrderLine.order == order.id))
        assert len(lines) == 1800
        assert {ln.external_id for ln in lines} == {str(2477315348721065057 + i)
                                                    for i in range(1800)}
        assert order.status in ("ready", "on_hold", "backordered") and not order.problems
