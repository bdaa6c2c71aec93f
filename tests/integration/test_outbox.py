"""The storefront outbox against a local fake storefront, on SQLite and PostgreSQL:
retried while the storefront is down, exactly one fulfilment per shipment once it is back,
no duplicate after a timeout the storefront had already acted on, visible and retryable
by hand when it fails for good."""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest

from server import clock
from server.api import outbox as outbox_api
from server.domain.errors import Conflict, NotFound
from server.domain.orders import LineDraft
from server.jobs import outbox_worker
from server.services import auth, channels, intake, outbox
from server.store.db import db, execute, write_tx
from server.settings import current

from ..factories import draft, seed
from ..fake_storefront import FakeStorefront
from ..exception_checks import raised
from .test_webhooks import ctx

NOW = dt.datetime(2025, 6, 13, 12, 0, tzinfo=dt.UTC)
ORDER_ID = 7300000000000000123            # above 2^53: must reach the storefront exact
LINE_A, LINE_B = 7300000000000000501, 7300000000000000502
FAST = {"timeout_s": 0.5, "backoff_base_s": 30.0, "backoff_cap_s": 600.0}


@pytest.fixture
def shop():
    with FakeStorefront() as fake:
        yield fake


@pytest.fixture
def wh(app, shop):
    """Catalogue, stock and one channel of each kind pointing at the fake storefront (and
    the outbox API, registered here until register_blueprints has it)."""
    if "outbox" not in app.blueprints:
        app.register_blueprint(outbox_api.bp)
    seed(app)
    clock.set_clock(lambda: NOW)
    with ctx(app):
        channels.add_channel("shop", "shopify", secret="s", base_url=shop.base_url,
                             api_secret=shop.token)
        channels.add_channel("woo", "woocommerce", secret="s", base_url=shop.base_url,
                             api_key=shop.key, api_secret=shop.secret)
        channels.add_channel("cb", "native", secret=shop.signing_secret,
                             callback_url=shop.callback_url)
        channels.add_channel("nowhere", "shopify", secret="s")
    return app


_serial = iter(range(1, 10**6))


def ship(app, shop, channel: str, order_id: int = ORDER_ID, *, enqueue: bool = True) -> int:
    """An order of two lines on `channel` (known to the fake storefront), a shipped
    shipment of it, and, in the same transaction as the packing service does it, its
    outbox message. Returns the shipment id."""
    if channel == "shop":
        shop.add_shopify_order(order_id, {LINE_A: 2, LINE_B: 1})
    elif channel == "woo":
        shop.add_woo_order(order_id)
    n = next(_serial)
    d = dataclasses.replace(
        draft(f"R{order_id}"), external_id=str(order_id),
        lines=(LineDraft("WP-TEE-BLK-M", 2, draft("x").lines[0].unit_price,
                         external_id=str(LINE_A)),
               LineDraft("WP-MUG-350-SAGE", 1, draft("x").lines[0].unit_price,
                         external_id=str(LINE_B))))
    with ctx(app):
        ch = channels.get_channel(channel)
        [result] = intake.import_orders(channels.ref(ch), [d], "test", settings=current())
        stamp = clock.naive_utc(NOW)
        with write_tx():
            sid = execute(
                "INSERT INTO shipment (order_id, station, carrier, service, tracking, sscc, "
                "state, created_by, created_at, shipped_at) VALUES (?, 'P1', 'Royal Mail', "
                "'Tracked 48', ?, ?, 'shipped', 'packer:1', ?, ?) RETURNING id",
                (result.order_id, f"RR{n:08d}5GB", f"{n:018d}", stamp, stamp)).fetchone()[0]
            if enqueue:
                outbox.enqueue_shipped(sid, "packer:1")
    return sid


def deliver(app, at: dt.datetime = NOW, **kw) -> list[outbox.Outcome]:
    with ctx(app):
        return outbox.deliver_due(now=at, **{**FAST, **kw})


def row(app, shipment_id: int) -> dict:
    with ctx(app):
        [item] = [i for i in outbox.list_outbox() if i["shipment_id"] == shipment_id]
        return item


def count(app, sql: str, *params) -> int:
    with ctx(app):
        return execute(sql, params).fetchone()[0]


def later(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


def delivered(shop: FakeStorefront, channel: str) -> int:
    """How many times the storefront recorded this shipment's fulfilment."""
    if channel == "shop":
        return len(shop.fulfillments(ORDER_ID))
    if channel == "woo":
        return len(shop.notes(ORDER_ID))
    return len(shop.deliveries)


def staff(app, role: str = "supervisor") -> dict:
    with ctx(app):
        return {"Authorization": f"Bearer {auth.create_token(role=role)}"}


# ---------------------------------------------------------------- the happy paths

def test_shopify_gets_one_fulfilment_with_tracking_and_exact_ids(wh, shop):
    sid = ship(wh, shop, "shop")
    [done] = deliver(wh)
    assert (done.state, done.attempts, done.status) == ("sent", 1, 201)
    [made] = shop.fulfillments(ORDER_ID)
    assert done.remote_id == str(made["id"])
    assert made["tracking_number"].startswith("RR") and made["tracking_company"] == "Royal Mail"
    assert sorted((li["id"], li["quantity"]) for li in made["line_items"]) == \
        [(LINE_A, 2), (LINE_B, 1)]
    assert [r["path"].split("/")[-1] for r in shop.requests] == \
        ["fulfillment_orders.json", "fulfillments.json"]       # no look-up on a first try
    item = row(wh, sid)
    assert (item["state"], item["last_status"], item["channel"]) == ("sent", 201, "shop")
    assert item["sent_at"] is not None
    assert deliver(wh, later(10**6)) == []                    # nothing left to send


def test_woocommerce_gets_a_tracking_note_then_completed(wh, shop):
    ship(wh, shop, "woo")
    [done] = deliver(wh)
    assert done.state == "sent"
    [note] = shop.notes(ORDER_ID)
    assert "RR" in note["note"] and note["customer_note"] is True
    assert shop.woo[str(ORDER_ID)]["status"] == "completed"
    assert [r["method"] for r in shop.requests] == ["POST", "PUT"]


def test_native_callback_is_signed_with_a_delivery_id(wh, shop):
    ship(wh, shop, "cb")
    [done] = deliver(wh)
    assert done.state == "sent"
    [(delivery, body)] = shop.deliveries.items()
    assert done.remote_id == delivery
    assert body["order"]["id"] == str(ORDER_ID) and body["event"] == "shipment.shipped"
    assert [line["external_id"] for line in body["lines"]] == [str(LINE_A), str(LINE_B)]


# ---------------------------------------------------------------- down, back up

@pytest.mark.parametrize("channel", ["shop", "woo", "cb"])
def test_storefront_down_is_retried_then_fulfilled_exactly_once(wh, shop, client, channel):
    sid = ship(wh, shop, channel)
    shop.mode = "down"
    [first] = deliver(wh)
    assert (first.state, first.attempts, first.status) == ("pending", 1, 503)
    assert deliver(wh, later(1)) == []                        # backing off, not hammering
    item = client.get("/api/v1/outbox?state=pending", headers=staff(wh)).get_json()["outbox"]
    assert [(i["shipment_id"], i["attempts"], i["last_status"]) for i in item] == [(sid, 1, 503)]
    assert "503" in item[0]["last_error"]
    retry_at = dt.datetime.fromisoformat(item[0]["next_attempt_at"])
    assert later(15) <= retry_at <= later(30)                 # 30 s with jitter
    [second] = deliver(wh, later(31))
    assert (second.state, second.attempts) == ("pending", 2)
    assert later(31 + 30) <= dt.datetime.fromisoformat(row(wh, sid)["next_attempt_at"]) \
        <= later(31 + 60)                                     # doubled
    shop.mode = "up"
    [third] = deliver(wh, later(200))
    assert (third.state, third.attempts) == ("sent", 3)
    assert delivered(shop, channel) == 1
    assert deliver(wh, later(10**6)) == []
    assert delivered(shop, channel) == 1
    assert row(wh, sid)["last_error"] == ""


def test_a_dropped_connection_is_retried(wh, shop):
    ship(wh, shop, "shop")
    shop.mode = "drop"
    [first] = deliver(wh)
    assert (first.state, first.status) == ("pending", None)
    assert "no answer" in first.error
    shop.mode = "up"
    assert [o.state for o in deliver(wh, later(60))] == ["sent"]
    assert len(shop.fulfillments(ORDER_ID)) == 1


@pytest.mark.parametrize("channel", ["shop", "woo", "cb"])
def test_timeout_after_the_storefront_acted_makes_no_duplicate(wh, shop, channel):
    sid = ship(wh, shop, channel)
    shop.mode, shop.slow_s = "slow", 3.0
    [first] = deliver(wh, timeout_s=0.3)
    assert (first.state, first.status) == ("pending", None)
    assert delivered(shop, channel) == 1                      # it did reach the storefront
    shop.mode = "up"
    [second] = deliver(wh, later(60))
    assert second.state == "sent"
    assert delivered(shop, channel) == 1
    if channel == "shop":
        assert second.remote_id == str(shop.fulfillments(ORDER_ID)[0]["id"])
        assert len(shop.calls("POST", "fulfillments.json")) == 1
    elif channel == "woo":
        assert shop.woo[str(ORDER_ID)]["status"] == "completed"
        assert len(shop.calls("POST", "/notes")) == 1
    else:
        sent = shop.calls("POST", "/callback")
        assert len(sent) == 2 and sent[0]["body"] == sent[1]["body"]
        assert sent[0]["headers"]["x-wavepack-delivery"] == \
            sent[1]["headers"]["x-wavepack-delivery"]
    assert row(wh, sid)["attempts"] == 2


def test_a_worker_that_died_mid_send_is_taken_over_after_its_lease(wh, shop):
    sid = ship(wh, shop, "shop")
    with ctx(wh), write_tx():         # as a claim leaves it, with the worker gone
        execute("UPDATE outbox SET state = 'sending', attempts = 1, next_attempt_at = ? "
                "WHERE shipment_id = ?", (clock.naive_utc(later(300)), sid))
    assert deliver(wh, later(299)) == []
    [done] = deliver(wh, later(301))
    assert (done.state, done.attempts) == ("sent", 2)
    assert shop.calls("GET", "/fulfillments.json")            # looked before creating


# ---------------------------------------------------------------- failing for good

def test_failed_after_max_attempts_opens_an_exception_and_retry_by_hand_works(wh, shop, client):
    sid = ship(wh, shop, "shop")
    shop.mode = "down"
    states = [deliver(wh, later(10**4 * i), max_attempts=3)[0].state for i in range(3)]
    assert states == ["pending", "pending", "failed"]
    assert deliver(wh, later(10**6), max_attempts=3) == []    # failed is not retried alone
    assert count(wh, "SELECT COUNT(*) FROM wms_exception WHERE type = 'outbox_failed' AND "
                     "state = 'open'") == 1
    raised(wh, "outbox_failed", "shipment", subject_id=sid)
    item = row(wh, sid)
    listed = client.get("/api/v1/outbox?state=failed", headers=staff(wh)).get_json()
    assert [i["id"] for i in listed["outbox"]] == [item["id"]]
    shop.mode = "up"
    resp = client.post(f"/api/v1/outbox/{item['id']}/retry", headers=staff(wh))
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["state"], resp.get_json()["attempts"]) == ("pending", 0)
    assert count(wh, "SELECT COUNT(*) FROM audit WHERE action = 'outbox.retry' AND "
                     "entity_id = ?", str(item["id"])) == 1
    [done] = deliver(wh, later(10**6), max_attempts=3)
    assert done.state == "sent" and len(shop.fulfillments(ORDER_ID)) == 1
    # sent at last: its exception closes by itself
    assert raised(wh, "outbox_failed", "shipment", subject_id=sid,
                  state="resolved")["resolution"] == "sent"


def test_a_refusal_fails_at_once(wh, shop):
    ship(wh, shop, "shop")
    shop.token = "rotated"                                    # our token no longer works
    [done] = deliver(wh)
    assert (done.state, done.status) == ("failed", 401)
    assert count(wh, "SELECT COUNT(*) FROM wms_exception WHERE type = 'outbox_failed'") == 1


# ---------------------------------------------------------------- enqueue

def test_enqueue_is_once_per_shipment_and_part_of_the_shipping_transaction(wh, shop):
    sid = ship(wh, shop, "cb")
    with ctx(wh):
        first = row(wh, sid)["id"]
        with write_tx():
            assert outbox.enqueue_shipped(sid, "packer:1") == first
        assert count(wh, "SELECT COUNT(*) FROM outbox") == 1
        snap = outbox.payload(first)
        assert snap["order_external_id"] == str(ORDER_ID) and len(snap["lines"]) == 2
        rolled_back = ship(wh, shop, "cb", ORDER_ID + 1, enqueue=False)
        with pytest.raises(RuntimeError), write_tx():
            outbox.enqueue_shipped(rolled_back, "packer:1")
            raise RuntimeError("the packing transaction fails after queueing")
        assert count(wh, "SELECT COUNT(*) FROM outbox") == 1
        with pytest.raises(NotFound):
            outbox.enqueue_shipped(10**9, "packer:1")
        execute("UPDATE shipment SET state = 'cancelled' WHERE id = ?", (rolled_back,))
        with pytest.raises(Conflict):
            outbox.enqueue_shipped(rolled_back, "packer:1")


def test_a_channel_with_nowhere_to_send_gets_no_message(wh, shop):
    sid = ship(wh, shop, "nowhere", enqueue=False)
    with ctx(wh), write_tx():
        assert outbox.enqueue_shipped(sid, "packer:1") is None
    assert count(wh, "SELECT COUNT(*) FROM outbox") == 0


# ---------------------------------------------------------------- concurrency, the worker

def test_two_workers_racing_deliver_each_message_once(wh, shop):
    shipments = [ship(wh, shop, "shop", ORDER_ID + i) for i in range(8)]
    start = threading.Barrier(2)
    results: list[list] = [[], []]

    def work(n: int) -> None:
        with ctx(wh):
            start.wait()
            for _ in range(20):
                results[n].extend(outbox.deliver_due(now=NOW, limit=1, **FAST))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    sent = sorted(o.outbox_id for r in results for o in r)
    assert len(sent) == len(shipments) == len(set(sent))
    assert all(o.state == "sent" and o.attempts == 1 for r in results for o in r)
    for i in range(8):
        assert len(shop.fulfillments(ORDER_ID + i)) == 1
    assert len(shop.calls("POST", "fulfillments.json")) == 8


def test_the_worker_thread_sends_when_woken(wh, shop):
    sid = ship(wh, shop, "cb")
    stop = threading.Event()
    thread = outbox_worker.start(wh, stop, poll_s=30.0, **FAST)
    try:
        outbox.wake()
        deadline = dt.datetime.now() + dt.timedelta(seconds=20)
        while not shop.deliveries and dt.datetime.now() < deadline:
            threading.Event().wait(0.05)
        assert len(shop.deliveries) == 1
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert row(wh, sid)["state"] == "sent"


# ---------------------------------------------------------------- the API refuses bad input

def test_api_refuses_bad_input_and_changes_nothing(wh, shop, client):
    sid = ship(wh, shop, "cb")
    deliver(wh)
    sent_id = row(wh, sid)["id"]
    before = client.get("/api/v1/outbox", headers=staff(wh)).get_json()
    sup = staff(wh)
    for url, status in (("/api/v1/outbox?state=bogus", 400), ("/api/v1/outbox?limit=0", 400),
                        ("/api/v1/outbox?limit=x", 400)):
        resp = client.get(url, headers=sup)
        assert resp.status_code == status and resp.get_json()["error"]["field"] in \
            ("state", "limit")
    for url, status in ((f"/api/v1/outbox/{sent_id}/retry", 409),
                        ("/api/v1/outbox/999999/retry", 404),
                        ("/api/v1/outbox/0/retry", 404), ("/api/v1/outbox/abc/retry", 404)):
        resp = client.post(url, headers=sup)
        assert resp.status_code == status and "code" in resp.get_json()["error"], url
    assert client.get("/api/v1/outbox").status_code == 401
    assert client.get("/api/v1/outbox", headers=staff(wh, "picker")).status_code == 403
    assert client.post(f"/api/v1/outbox/{sent_id}/retry",
                       headers=staff(wh, "packer")).status_code == 403
    assert client.get("/api/v1/outbox", headers=sup).get_json() == before
    assert count(wh, "SELECT COUNT(*) FROM audit WHERE action = 'outbox.retry'") == 0
    with ctx(wh):
        assert db.transaction_depth() == 0
