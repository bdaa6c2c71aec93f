"""Webhooks in production mode: recorded and acknowledged in the request, applied by the
inbox worker in arrival order, retried when applying fails, never lost or doubled."""
import datetime as dt
import threading
import uuid

from server import clock
from server.jobs import inbox
from server.services import updates
from server.store.db import db
from server.store.models import Order, WebhookEvent, WmsException
from server.settings import current

from ..conftest import make_app
from ..exception_checks import raised
from .test_webhooks import SHOPIFY_ID, seed_shops, shopify_delivery, shopify_payload


def _async_app(db_url):
    app = make_app(db_url, webhooks={"process": "async", "max_attempts": 3})
    seed_shops(app)
    return app


def _drain(app) -> int:
    with app.app_context(), db.connection_context():
        return inbox.drain()


def _count(app, model, *where):
    with app.app_context(), db.connection_context():
        q = model.select()
        return (q.where(*where) if where else q).count()


def test_delivery_is_acknowledged_then_applied_by_the_worker(db_url):
    app = _async_app(db_url)
    body, headers = shopify_delivery(shopify_payload(), "orders/paid")
    r = app.test_client().post("/webhooks/shopify/shop", data=body, headers=headers)
    assert r.status_code == 200 and r.get_json()["outcome"] == "queued"
    assert _count(app, Order) == 0
    again = app.test_client().post("/webhooks/shopify/shop", data=body, headers=headers)
    assert again.get_json()["duplicate"] is True          # a retry while still queued
    assert _drain(app) == 1
    assert _drain(app) == 0
    with app.app_context(), db.connection_context():
        order = Order.get(Order.external_id == SHOPIFY_ID)
        assert order.status == "ready" and order.ref == "#1001"
        event = WebhookEvent.get()
        assert (event.state, event.outcome) == ("done", "created")


def test_create_then_paid_are_applied_in_arrival_order(db_url):
    app = _async_app(db_url)
    unpaid = shopify_payload()
    unpaid["financial_status"] = "pending"
    unpaid["updated_at"] = "2025-06-12T09:41:03+01:00"
    client = app.test_client()
    for payload, topic in ((unpaid, "orders/create"), (shopify_payload(), "orders/paid")):
        body, headers = shopify_delivery(payload, topic)
        assert client.post("/webhooks/shopify/shop", data=body, headers=headers).status_code \
            == 200
    assert _drain(app) == 2
    with app.app_context(), db.connection_context():
        assert Order.get(Order.external_id == SHOPIFY_ID).status == "ready"


def test_50_concurrent_copies_of_one_event_queue_once(db_url):
    app = _async_app(db_url)
    event = str(uuid.uuid4())
    codes, lock = [], threading.Lock()

    def send():
        body, headers = shopify_delivery(shopify_payload(), "orders/paid", event_id=event)
        with app.test_client() as c:
            code = c.post("/webhooks/shopify/shop", data=body, headers=headers).status_code
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=send) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 50
    assert _count(app, WebhookEvent) == 1
    _drain(app)
    assert _count(app, Order) == 1
    assert _count(app, Order, Order.status == "ready") == 1


def test_failing_apply_is_retried_then_raised_as_an_exception(db_url, monkeypatch):
    app = _async_app(db_url)
    t0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    clock.set_clock(lambda: t0)
    real = updates.apply_update
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(updates, "apply_update", flaky)
    body, headers = shopify_delivery(shopify_payload(), "orders/paid")
    app.test_client().post("/webhooks/shopify/shop", data=body, headers=headers)
    assert _drain(app) == 0
    with app.app_context(), db.connection_context():
        ev = WebhookEvent.get()
        assert (ev.state, ev.attempts) == ("pending", 1) and "went away" in ev.last_error
    assert _drain(app) == 0                                  # not due yet (back-off)
    clock.set_clock(lambda: t0 + dt.timedelta(seconds=5))
    assert _drain(app) == 1
    assert _count(app, Order) == 1

    monkeypatch.setattr(updates, "apply_update", lambda *a, **k: 1 / 0)
    body, headers = shopify_delivery({**shopify_payload(), "id": 42}, "orders/paid")
    app.test_client().post("/webhooks/shopify/shop", data=body, headers=headers)
    for minutes in (1, 2, 3):
        clock.set_clock(lambda m=minutes: t0 + dt.timedelta(minutes=m))
        _drain(app)
    with app.app_context(), db.connection_context():
        failed = WebhookEvent.get(WebhookEvent.state == "failed")
        assert failed.attempts == 3
        assert WmsException.select().where(WmsException.type == "webhook_failed").count() == 1
    raised(app, "webhook_failed", "order")
    clock.set_clock(None)


def test_wrong_content_type_is_415_and_writes_nothing(db_url):
    app = _async_app(db_url)
    body, headers = shopify_delivery(shopify_payload(), "orders/paid")
    r = app.test_client().post("/webhooks/shopify/shop", data=body,
                               headers={**headers, "Content-Type": "text/plain"})
    assert r.status_code == 415 and r.get_json()["error"]["code"] == "unsupported_media_type"
    assert _count(app, WebhookEvent) == 0 and _count(app, Order) == 0


def test_import_stock_fills_backorders(db_url):
    from server.services import channels, csv_import, intake
    from ..factories import draft
    app = _async_app(db_url)
    with app.app_context(), db.connection_context():
        ch = channels.ref(channels.get_channel("api"))
        [res] = intake.import_orders(ch, [draft("S1", [("WP-TEE-BLK-M", 30)])], "test",
                                     settings=current())
        assert res.status == "backordered"                 # 10 in stock
        report = csv_import.import_stock_csv(
            b"warehouse,location,sku,quantity\nmain,A-01-02-3,WP-TEE-BLK-M,50\n", "test",
            settings=current())
        assert report == {"imported": 1, "rejected": []}
        assert Order.get_by_id(res.order_id).status == "ready"


def test_signed_delivery_with_a_lone_surrogate_becomes_an_order(db_url):
    """A signed Shopify delivery with "\\ud800" in its note was acknowledged 200, failed
    five times in the inbox (no database stores a lone surrogate) and no order existed.
    Now the bad text is replaced by U+FFFD in the order and the raw body is kept as sent."""
    app = _async_app(db_url)
    payload = {**shopify_payload(), "note": "leave at door \ud800 thanks"}
    body, headers = shopify_delivery(payload, "orders/paid")
    assert b"\\ud800" in body                             # valid JSON, no valid character
    r = app.test_client().post("/webhooks/shopify/shop", data=body, headers=headers)
    assert r.status_code == 200, r.get_json()
    assert _drain(app) == 1
    with app.app_context(), db.connection_context():
        order = Order.get(Order.external_id == SHOPIFY_ID)
        assert order.note == "leave at door \ufffd thanks" and order.status == "ready"
        event = WebhookEvent.get()
        assert (event.state, event.outcome) == ("done", "created")
        assert event.body.encode() == body                 # the raw body, byte for byte


def test_a_delivery_the_worker_cannot_apply_becomes_an_invalid_order(db_url, monkeypatch):
    """Never vanish: after the last try, an order in state invalid holds the delivery's
    order, names the failure and the webhook event, whose raw body stays stored."""
    app = _async_app(db_url)
    t0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    clock.set_clock(lambda: t0)

    def broken(*_a, **_k):
        raise RuntimeError("the storefront's order could not be applied")

    monkeypatch.setattr(updates, "apply_update", broken)
    body, headers = shopify_delivery(shopify_payload(), "orders/paid")
    assert app.test_client().post("/webhooks/shopify/shop", data=body,
                                  headers=headers).status_code == 200
    try:
        for minutes in (0, 1, 2):
            clock.set_clock(lambda m=minutes: t0 + dt.timedelta(minutes=m))
            _drain(app)
    finally:
        clock.set_clock(None)
    with app.app_context(), db.connection_context():
        event = WebhookEvent.get()
        assert event.state == "failed" and event.body.encode() == body
        order = Order.get(Order.external_id == SHOPIFY_ID)
        assert order.status == "invalid" and order.ref == "#1001"
        assert event.outcome == f"invalid:{order.id}"
        assert "could not be applied" in order.problems
        assert f"webhook event {event.id}" in order.problems
        types = {e.type for e in WmsException.select().where(WmsException.order == order.id)}
        assert types == {"invalid_order", "webhook_failed"}
    # a person fixes the cause; the storefront's next update of the order applies to it
    monkeypatch.undo()
    again, headers = shopify_delivery({**shopify_payload(),
                                       "updated_at": "2030-01-01T00:00:00+00:00"},
                                      "orders/updated")
    r = app.test_client().post("/webhooks/shopify/shop", data=again, headers=headers)
    assert r.status_code == 200
    _drain(app)
    assert _count(app, Order) == 1
    assert _count(app, Order, Order.status == "ready") == 1
