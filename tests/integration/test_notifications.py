"""Telling the customer (issue 14 §4), on SQLite and PostgreSQL: the ship-by promised at
intake is stored and shown; each notification kind reaches a local signed-webhook receiver
(tests/fake_storefront.py checks X-Wavepack-Signature, answering 401 when wrong, and
records each delivery id once) exactly once, after a failure too; the at-risk sweep opens
one exception and one "delayed" per order with a settable clock; a channel without a
notify URL is sent nothing."""
from __future__ import annotations

import datetime as dt

import pytest

from server import clock, events
from server.jobs import scheduler
from server.services import auth, channels, intake, notify, outbox
from server.settings import current
from server.store.db import db, execute, write_tx

from ..conftest import make_app
from ..factories import draft, seed
from ..fake_storefront import FakeStorefront
from .test_webhooks import ctx

MONDAY_10 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)     # Monday, before the cut-off
PROMISED = dt.datetime(2026, 12, 7, 18, 0, tzinfo=dt.UTC)      # 18:00 GMT that day
SECRET_ENV = "WAVEPACK_TEST_NOTIFY_SECRET"
FAST = {"timeout_s": 2.0, "backoff_base_s": 30.0, "backoff_cap_s": 600.0}


@pytest.fixture
def shop():
    with FakeStorefront(signing_secret="notify-secret") as fake:
        yield fake


@pytest.fixture
def app(db_url, shop, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, shop.signing_secret)
    app = make_app(db_url, promise={"channels": {"cb": {
        "cutoff": "14:00", "dispatch": "18:00", "timezone": "Europe/London"}}},
        notifications={"at_risk_hours": 4, "channels": {"cb": {
            "url": shop.callback_url, "secret_env": SECRET_ENV}}})
    seed(app, stock=3)
    clock.set_clock(lambda: MONDAY_10)
    with ctx(app):
        # the channel's own secret is not the one the receiver knows: the environment's is
        channels.add_channel("cb", "native", secret="channel-secret")
        channels.add_channel("quiet", "native", secret="s", callback_url="")
    yield app
    clock.set_clock(None)
    if not db.is_closed():
        db.close()


def take(app, channel: str, ref: str, lines=(("WP-TEE-BLK-M", 1),), **kw) -> int:
    with ctx(app):
        ch = channels.ref(channels.get_channel(channel))
        [got] = intake.import_orders(ch, [draft(ref, lines, **kw)], "test", settings=current())
    assert got.outcome == "created", got
    return got.order_id


def deliver(app, at: dt.datetime = MONDAY_10) -> list[outbox.Outcome]:
    with ctx(app):
        return outbox.deliver_due(now=at, **FAST)


def received(shop) -> list[dict]:
    """Bodies the receiver accepted (signature checked), in the order they came."""
    return [r for r in shop.deliveries.values()]


def header(request: dict, name: str) -> str:
    return {k.lower(): v for k, v in request["headers"].items()}[name.lower()]


def rows(app, sql: str, *params) -> list[tuple]:
    with ctx(app):
        return [tuple(r) for r in execute(sql, params).fetchall()]


def staff(app) -> dict:
    with ctx(app):
        return {"Authorization": f"Bearer {auth.create_token(role='supervisor')}"}


def ship(app, order_id: int, n: int) -> int:
    """A shipped shipment of the order (as packing stores one)."""
    stamp = clock.naive_utc(MONDAY_10)
    with ctx(app), write_tx():
        return execute(
            "INSERT INTO shipment (order_id, station, carrier, service, tracking, sscc, "
            "state, created_by, created_at, shipped_at) VALUES (?, 'P1', 'royal-mail', "
            "'TPN', ?, ?, 'shipped', 'packer:1', ?, ?) RETURNING id",
            (order_id, f"RR{n:08d}5GB", f"{n:018d}", stamp, stamp)).fetchone()[0]


def test_received_with_its_promised_ship_by_stored_shown_and_sent_once(app, shop, client):
    oid = take(app, "cb", "N-1")
    theirs = take(app, "cb", "N-2", ship_by=dt.datetime(2026, 12, 9, 12, 0, tzinfo=dt.UTC))
    quiet = take(app, "quiet", "Q-1")
    got = client.get(f"/api/v1/orders/{oid}", headers=staff(app)).get_json()
    assert dt.datetime.fromisoformat(got["ship_by"]).replace(tzinfo=dt.UTC) == PROMISED
    assert got["ship_by_source"] == "promise" and got["at_risk_at"] is None
    kept = client.get(f"/api/v1/orders/{theirs}", headers=staff(app)).get_json()
    assert kept["ship_by"].startswith("2026-12-09T12:00") and kept["ship_by_source"] == "storefront"
    q = client.get(f"/api/v1/orders/{quiet}", headers=staff(app)).get_json()
    assert q["ship_by"] is None and q["ship_by_source"] is None     # no rule for `quiet`
    assert rows(app, "SELECT COUNT(*) FROM outbox WHERE order_id = ?", quiet) == [(0,)]

    done = deliver(app)
    assert [o.state for o in done] == ["sent", "sent"]
    bodies = received(shop)
    assert [(b["event"], b["order"]["ref"]) for b in bodies] == [
        ("order.received", "N-1"), ("order.received", "N-2")]
    assert bodies[0]["order"]["ship_by"] == "2026-12-07T18:00:00+00:00"
    assert bodies[0]["channel"] == "cb" and bodies[0]["order"]["wavepack_id"] == oid
    assert bodies[1]["order"]["ship_by"] == "2026-12-09T12:00:00+00:00"
    posts = [r for r in shop.requests if r["path"] == "/callback"]
    assert {header(r, "X-Wavepack-Event") for r in posts} == {"order.received"}
    assert deliver(app, MONDAY_10 + dt.timedelta(days=1)) == []       # nothing twice
    with ctx(app):                                                    # queued again: a no-op
        assert notify.order_notices("received", [oid], settings=current(), actor="t") == []


def test_backordered_is_delayed_retried_after_a_failure_and_never_sent_twice(app, shop):
    oid = take(app, "cb", "B-1", (("WP-TEE-BLK-M", 5),))      # 3 in stock
    assert rows(app, "SELECT status FROM sales_order WHERE id = ?", oid) == [("backordered",)]
    shop.mode = "down"
    first = deliver(app)
    assert [(o.state, o.status) for o in first] == [("pending", 503), ("pending", 503)]
    assert received(shop) == []
    shop.mode = "up"
    later = deliver(app, MONDAY_10 + dt.timedelta(minutes=5))
    assert [(o.state, o.attempts) for o in later] == [("sent", 2), ("sent", 2)]
    # (retries are jittered: two notices of one order may arrive in either order)
    assert sorted((b["event"], b.get("reason") or "") for b in received(shop)) == [
        ("order.delayed", "backordered"), ("order.received", "")]
    assert deliver(app, MONDAY_10 + dt.timedelta(days=2)) == []
    # the delivery id is the same on the retry: the receiver counted each notice once
    posts = [r for r in shop.requests if r["path"] == "/callback"]
    assert len(posts) == 4 and len({header(r, "X-Wavepack-Delivery") for r in posts}) == 2


def test_at_risk_sweep_opens_one_exception_and_one_delayed(app, shop, client):
    late = take(app, "cb", "R-1")
    picked = take(app, "cb", "R-2")
    quiet = take(app, "quiet", "R-3", ship_by=dt.datetime(2026, 12, 7, 16, 0, tzinfo=dt.UTC))
    with ctx(app), write_tx():      # R-2 is picked already: it will make it
        execute("UPDATE sales_order SET status = 'picked' WHERE id = ?", (picked,))
    deliver(app)                                      # the three "received"
    with ctx(app):
        assert notify.flag_at_risk(settings=current(),
                                   now=dt.datetime(2026, 12, 7, 11, 0, tzinfo=dt.UTC)) == []
    clock.set_clock(lambda: dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC))   # 4 h before
    with app.app_context(), db.connection_context():
        scheduler._ship_by_at_risk(app)                                   # the job's tick
        assert notify.flag_at_risk(settings=current()) == []              # once per order
    excs = rows(app, "SELECT type, order_id, owner_role, state FROM wms_exception "
                "ORDER BY order_id")
    assert excs == [("ship_by_at_risk", late, "supervisor", "open"),
                    ("ship_by_at_risk", quiet, "supervisor", "open")]
    view = client.get(f"/api/v1/orders/{late}", headers=staff(app)).get_json()
    assert view["at_risk_at"].startswith("2026-12-07T14:00")
    deliver(app, dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC))
    delays = [b for b in received(shop) if b["event"] == "order.delayed"]
    assert [(b["order"]["wavepack_id"], b["reason"]) for b in delays] == [(late, "at_risk")]
    with ctx(app), write_tx():      # picked at last: its exception settles on the next sweep
        execute("UPDATE sales_order SET status = 'picked' WHERE id = ?", (late,))
    with app.app_context(), db.connection_context():
        scheduler._ship_by_at_risk(app)
    assert rows(app, "SELECT order_id, state, resolved_by FROM wms_exception "
                "ORDER BY order_id") == [(late, "resolved", "job:ship-by"),
                                         (quiet, "open", "")]


def test_shipped_delivered_returns_and_refunds_each_once(app, shop):
    oid = take(app, "cb", "S-1")
    qid = take(app, "quiet", "S-2")
    sid, quiet_sid = ship(app, oid, 901), ship(app, qid, 902)
    with ctx(app):
        assert notify.shipment_notice("shipped", sid, settings=current(), actor="t")
        assert notify.shipment_notice("shipped", sid, settings=current(), actor="t") is None
        assert notify.shipment_notice("shipped", quiet_sid, settings=current(),
                                      actor="t") is None
    at = "2026-12-08T09:30:00+00:00"
    for _ in range(2):                  # a retried event is one notification
        for shipment, order in ((sid, oid), (quiet_sid, qid)):
            events.publish("shipment.tracking", shipment_id=shipment, order_id=order,
                           status="in_transit", occurred_at=at)
            events.publish("shipment.tracking", shipment_id=shipment, order_id=order,
                           status="delayed", occurred_at=at)
            events.publish("shipment.tracking", shipment_id=shipment, order_id=order,
                           status="delivered", occurred_at=at)
        events.publish("return.received", return_id=41, order_id=oid)
        events.publish("return.refunded", return_id=41, order_id=oid)
        events.publish("return.received", return_id=42, order_id=qid)
    assert rows(app, "SELECT COUNT(*) FROM outbox WHERE order_id = ?", qid) == [(0,)]
    done = deliver(app, MONDAY_10 + dt.timedelta(days=1))
    assert {o.state for o in done} == {"sent"}
    bodies = {b["event"]: b for b in received(shop)}
    assert sorted(bodies) == sorted(["order.received", "order.shipped",
                                     "order.delivery_delayed", "order.delivered",
                                     "return.received", "refund.issued"])
    s = bodies["order.shipped"]["shipment"]
    assert (s["carrier"], s["carrier_name"], s["tracking"]) == ("royal-mail", "Royal Mail",
                                                                 "RR000009015GB")
    assert s["tracking_url"] == ("https://www.royalmail.com/track-your-item#/tracking-results/"
                                 "RR000009015GB")
    assert bodies["order.delivered"]["tracking_status"] == {"status": "delivered",
                                                            "occurred_at": at}
    assert bodies["order.delivery_delayed"]["tracking_status"]["status"] == "delayed"
    assert bodies["return.received"]["return"]["id"] == 41
    assert bodies["refund.issued"]["order"]["ref"] == "S-1"
    assert len(shop.deliveries) == 6


def test_a_wrong_secret_is_refused_by_the_receiver_and_retried(app, shop, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "not-the-secret")
    take(app, "cb", "W-1")
    [first] = deliver(app)
    assert (first.state, first.status) == ("failed", 401)     # a 401 is for good: a person
    assert received(shop) == []
    assert rows(app, "SELECT type FROM wms_exception") == [("outbox_failed",)]
    monkeypatch.setenv(SECRET_ENV, shop.signing_secret)
    with ctx(app):
        outbox.retry(first.outbox_id, "supervisor:1")
    [again] = deliver(app, MONDAY_10 + dt.timedelta(minutes=1))
    assert again.state == "sent" and len(received(shop)) == 1


def test_config_refuses_a_bad_promise_or_notify_url():
    from server.config import load_config
    with pytest.raises(ValueError, match="promise.channels.cb"):
        load_config({"promise": {"channels": {"cb": {"timezone": "Nowhere/Land"}}}}, env={})
    with pytest.raises(ValueError, match="url"):
        load_config({"notifications": {"channels": {"cb": {"url": "ftp://x"}}}}, env={})
    with pytest.raises(ValueError, match="tracking"):
        load_config({"notifications": {"tracking_urls": {"ups": "https://x/"}}}, env={})


def test_dispatch_queues_shipped_in_its_own_transaction(db_url, tmp_path, shop, monkeypatch):
    """The real packing path: picked, packed, label printed, dispatched → one `shipped`
    with carrier, tracking number and tracking link."""
    from ..floor import PICK_CFG, STATIONS, build_floor
    from .test_migration_0010 import _shipped
    monkeypatch.setenv(SECRET_ENV, shop.signing_secret)
    labels = tmp_path / "labels.zpl"
    app = make_app(db_url, picking=PICK_CFG, printers={"label-1": {"url": f"file://{labels}"}},
                   stations=STATIONS, notifications={"channels": {"api": {
                       "url": shop.callback_url, "secret_env": SECRET_ENV}}})
    floor = build_floor(app)
    floor.labels = labels
    try:
        ship = _shipped(floor)          # picked, packed, label printed, dispatched
        r = floor.api("post", f"/api/v1/shipments/{ship['id']}/dispatch", floor.tokens["k1"])
        assert r.status_code == 200, r.get_json()       # dispatched again: told once
        deliver(app, clock.now() + dt.timedelta(seconds=1))
        shipped = [b for b in received(shop) if b["event"] == "order.shipped"]
        assert len(shipped) == 1
        got = shipped[0]["shipment"]
        assert got["id"] == ship["id"] and got["tracking"] == ship["tracking"]
        assert got["tracking_url"] and ship["tracking"] in got["tracking_url"]
        assert {b["event"] for b in received(shop)} >= {"order.received", "order.shipped"}
    finally:
        clock.set_clock(None)
        if not db.is_closed():
            db.close()


def test_notifications_are_listed_with_the_outbox_and_retryable(app, shop, client):
    oid = take(app, "cb", "L-1")
    hdr = staff(app)
    got = client.get("/api/v1/outbox", headers=hdr).get_json()["outbox"]
    assert [(m["kind"], m["order_id"], m["shipment_id"], m["state"]) for m in got] == [
        ("notify.received", oid, None, "pending")]
    shop.mode = "down"
    deliver(app)
    r = client.post(f"/api/v1/outbox/{got[0]['id']}/retry", headers=hdr)
    assert r.status_code == 200 and r.get_json()["state"] == "pending"


def test_an_invalid_order_made_valid_by_an_update_gets_its_promise_and_received(app, shop):
    from server.services import updates
    clock.set_clock(lambda: dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC))   # after cut-off
    oid = take(app, "cb", "U-1", (("NO-SUCH-SKU", 1),))
    assert rows(app, "SELECT status, ship_by, ship_by_source FROM sales_order WHERE id = ?",
                oid) == [("invalid", None, "")]
    with ctx(app):
        assert notify.order_notices("received", [], settings=current(), actor="t") == []
        assert rows(app, "SELECT COUNT(*) FROM outbox") == [(0,)]
        ch = channels.ref(channels.get_channel("cb"))
        fixed = draft("U-1", source_updated_at=dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC))
        assert updates.apply_update(ch, fixed, "test", settings=current()) == "updated"
    [(status, source)] = rows(app, "SELECT status, ship_by_source FROM sales_order "
                              "WHERE id = ?", oid)
    assert (status, source) == ("ready", "promise")
    deliver(app, dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC))
    [body] = received(shop)
    assert body["event"] == "order.received"
    assert body["order"]["ship_by"] == "2026-12-08T18:00:00+00:00"      # Tuesday


def test_migrations_0021_0022_schema(app, db_url):
    """outbox.shipment_id nullable with its indexes, foreign keys and the dedupe key kept
    UNIQUE; sales_order's at-risk index in place."""
    with ctx(app):
        if db_url.startswith("postgres"):
            nullable = execute("SELECT is_nullable FROM information_schema.columns WHERE "
                               "table_name = 'outbox' AND column_name = 'shipment_id' AND "
                               "table_schema = current_schema()").fetchone()[0]
            assert nullable == "YES"
            names = {r[0] for r in execute("SELECT indexname FROM pg_indexes WHERE "
                                           "schemaname = current_schema()").fetchall()}
        else:
            cols = {r[1]: r[3] for r in execute("PRAGMA table_info(outbox)").fetchall()}
            assert cols["shipment_id"] == 0 and "dedupe_key" in cols and "order_id" in cols
            refs = {r[2] for r in execute("PRAGMA foreign_key_list(outbox)").fetchall()}
            # the rebuild keeps every reference, other migrations' too (0020: return_request)
            assert {"channel", "shipment", "sales_order", "return_request"} <= refs
            names = {r[0] for r in execute("SELECT name FROM sqlite_master WHERE "
                                           "type = 'index'").fetchall()}
        assert {"outbox_due", "outbox_dedupe_key", "sales_order_ship_by_open",
                "outbox_return"} <= names
        stamp = clock.naive_utc(MONDAY_10)
        cid = channels.get_channel("cb").id
        insert = ("INSERT INTO outbox (channel_id, kind, payload, state, attempts, "
                  "next_attempt_at, created_at, updated_at, dedupe_key) VALUES "
                  "(?, 'notify.received', '{}', 'pending', 0, ?, ?, ?, 'k:1') "
                  "ON CONFLICT DO NOTHING RETURNING id")
        with write_tx():
            assert execute(insert, (cid, stamp, stamp, stamp)).fetchone() is not None
            assert execute(insert, (cid, stamp, stamp, stamp)).fetchone() is None


def test_the_at_risk_sweep_reads_through_its_partial_index(app, db_url):
    horizon = clock.naive_utc(MONDAY_10)
    with ctx(app):
        if db_url.startswith("postgres"):
            with write_tx():        # a table this small is scanned unless told otherwise
                execute("SET LOCAL enable_seqscan = off")
                plan = " ".join(r[0] for r in execute("EXPLAIN " + notify.at_risk_sql(),
                                                      (horizon, 10)).fetchall())
        else:
            plan = " ".join(str(r[-1]) for r in execute(
                "EXPLAIN QUERY PLAN " + notify.at_risk_sql(), (horizon, 10)).fetchall())
    assert "sales_order_ship_by_open" in plan, plan
