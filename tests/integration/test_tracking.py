"""Following the parcel, on SQLite and PostgreSQL: carrier tokens posting tracking events
(duplicates, out of order, unknown numbers, bad tokens and bodies), the AfterShip and
17TRACK feeds (bad signatures write nothing), karrio polling against a fake UPS, the
timeline, delivery moving the order, and the delay/loss sweep with a settable clock."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import pytest

from server import clock, events
from server.domain import lifecycle
from server.services import auth, channels, intake, tracking
from server.settings import current
from server.store.db import execute, write_tx

from ..conftest import make_app
from ..factories import draft, seed
from .test_webhooks import ctx

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
AFTERSHIP_SECRET, SEVENTEEN_KEY = "as-secret-1", "17-key-1"
FEEDS = {"feeds": {"as": {"kind": "aftership", "secret_env": "WP_TEST_AFTERSHIP"},
                   "seventeen": {"kind": "17track", "secret_env": "WP_TEST_17TRACK"}},
         "services": {"ups-express": {"delayed_after_hours": 12, "lost_after_days": 2}}}


@pytest.fixture
def app(db_url, monkeypatch):
    monkeypatch.setenv("WP_TEST_AFTERSHIP", AFTERSHIP_SECRET)
    monkeypatch.setenv("WP_TEST_17TRACK", SEVENTEEN_KEY)
    app = make_app(db_url, tracking=FEEDS)
    seed(app)
    clock.set_clock(lambda: NOW)
    with ctx(app):
        channels.add_channel("shop", "native", secret="s")
        channels.add_channel("other", "native", secret="s")
    yield app
    clock.set_clock(None)


_serial = iter(range(1, 10**6))


def ship(app, *, carrier="royal-mail", service="rm-tracked-48", parcels=1,
         channel="shop", shipped_at=NOW) -> list[str]:
    """A shipped order with `parcels` shipped parcels; returns their tracking numbers."""
    n = next(_serial)
    with ctx(app):
        ch = channels.get_channel(channel)
        [res] = intake.import_orders(channels.ref(ch), [draft(f"T{n}")], "test",
                                     settings=current())
        stamp = clock.naive_utc(shipped_at)
        numbers = []
        with write_tx():
            execute("UPDATE sales_order SET status = 'shipped' WHERE id = ?", (res.order_id,))
            for k in range(1, parcels + 1):
                number = f"RR{n:06d}{k:02d}5GB"
                execute("INSERT INTO shipment (order_id, station, carrier, service, "
                        "carrier_service, tracking, sscc, state, parcel_no, parcel_count, "
                        "created_by, created_at, shipped_at, quiet_since) VALUES (?, 'P1', ?, "
                        "'x', ?, ?, ?, 'shipped', ?, ?, 'packer:1', ?, ?, ?)",
                        (res.order_id, carrier, service, number, f"{n:016d}{k:02d}", k,
                         parcels, stamp, stamp, stamp))
                numbers.append(number)
    return numbers


def token(app, **kw) -> dict:
    with ctx(app):
        return {"Authorization": f"Bearer {auth.create_token(**kw)}"}


def ev(event_id, number, status, at, **kw) -> dict:
    return {"event_id": event_id, "tracking_number": number, "status": status,
            "occurred_at": at.isoformat().replace("+00:00", "Z"), **kw}


def post(client, headers, *evs):
    return client.post("/api/v1/tracking-events", json={"events": list(evs)}, headers=headers)


def one(app, sql, *params):
    with ctx(app):
        return execute(sql, params).fetchone()


def shipment(client, headers, number) -> dict:
    r = client.get(f"/api/v1/shipments/{number}", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


H = dt.timedelta(hours=1)


# ---------------------------------------------------------------- the carrier API


def test_events_are_recorded_once_and_duplicates_counted(app, client):
    [tn] = ship(app)
    rm = token(app, carrier="royal-mail")
    batch = [ev("e1", tn, "picked_up", NOW + H, location="Milton Keynes"),
             ev("e2", tn, "in_transit", NOW + 2 * H, detail="hub")]
    r = post(client, rm, *batch)
    assert r.status_code == 200
    assert r.get_json() == {"accepted": 2, "duplicates": 0, "unknown": []}
    again = post(client, rm, *batch, ev("e2", tn, "in_transit", NOW + 2 * H))
    assert again.get_json() == {"accepted": 0, "duplicates": 3, "unknown": []}
    assert one(app, "SELECT COUNT(*) FROM tracking_event")[0] == 2
    view = shipment(client, token(app, role="supervisor"), tn.lower())
    assert [e["event_id"] for e in view["events"]] == ["e1", "e2"]
    assert view["events"][0]["location"] == "Milton Keynes"
    assert view["tracking_status"] == "in_transit" and view["flag"] is None


def test_out_of_order_events_never_move_a_shipment_back(app, client):
    [tn] = ship(app)
    rm = token(app, carrier="royal-mail")
    post(client, rm, ev("late", tn, "out_for_delivery", NOW + 5 * H))
    r = post(client, rm, ev("early", tn, "in_transit", NOW + 2 * H),
             ev("earlier", tn, "picked_up", NOW + H))
    assert r.get_json()["accepted"] == 2
    view = shipment(client, token(app, role="packer"), tn)
    assert view["tracking_status"] == "out_for_delivery"
    assert view["last_event_at"] == (NOW + 5 * H).isoformat()
    assert [e["status"] for e in view["events"]] == ["picked_up", "in_transit",
                                                     "out_for_delivery"]
    # in one batch the latest wins whatever the order it came in
    [tn2] = ship(app)
    post(client, rm, ev("b2", tn2, "delivered", NOW + 9 * H), ev("b1", tn2, "in_transit",
                                                                  NOW + 3 * H))
    assert shipment(client, token(app, role="packer"), tn2)["tracking_status"] == "delivered"


def test_unknown_numbers_and_other_carriers_parcels_are_listed_not_stored(app, client):
    [tn] = ship(app)
    [ups_tn] = ship(app, carrier="ups", service="ups-express")
    rm = token(app, carrier="royal-mail")
    r = post(client, rm, ev("x1", "NOPE123", "in_transit", NOW),
             ev("x2", ups_tn, "in_transit", NOW), ev("x3", tn, "in_transit", NOW))
    assert r.get_json() == {"accepted": 1, "duplicates": 0, "unknown": ["NOPE123", ups_tn]}
    assert one(app, "SELECT COUNT(*) FROM tracking_event")[0] == 1


@pytest.mark.parametrize("who", ["none", "bogus", "supervisor", "channel"])
def test_bad_or_wrong_tokens_are_refused_and_nothing_written(app, client, who):
    [tn] = ship(app)
    headers = {"none": {}, "bogus": {"Authorization": "Bearer wpk_nope"},
               "supervisor": token(app, role="supervisor"),
               "channel": token(app, channel="shop")}[who]
    r = post(client, headers, ev("e1", tn, "delivered", NOW))
    assert r.status_code == (401 if who in ("none", "bogus") else 403)
    assert r.get_json()["error"]["code"] in ("unauthorized", "forbidden")
    assert one(app, "SELECT COUNT(*) FROM tracking_event")[0] == 0


def test_a_carrier_token_may_only_post_tracking_events(app, client):
    rm = token(app, carrier="royal-mail")
    assert client.get("/api/v1/orders", headers=rm).status_code == 403
    assert client.get("/api/v1/outbox", headers=rm).status_code in (403, 404)


@pytest.mark.parametrize("body, code", [
    ({"events": []}, "schema"),
    ({"events": [{"event_id": "e", "tracking_number": "T", "status": "lost",
                  "occurred_at": "2026-03-02T09:00:00Z"}]}, "schema"),
    ({"events": [{"event_id": "e", "tracking_number": "T", "status": "delivered",
                  "occurred_at": "2026-03-02T09:00:00"}]}, "invalid_event"),
    ({"events": [{"event_id": "e", "tracking_number": "T", "status": "delivered"}]}, "schema"),
    ({"events": [{"event_id": "e", "tracking_number": "T", "status": "delivered",
                  "occurred_at": "2026-03-02T09:00:00Z", "extra": 1}]}, "schema"),
])
def test_bad_bodies_are_refused_whole(app, client, body, code):
    [tn] = ship(app)
    good = ev("good", tn, "delivered", NOW)
    body = {"events": [good, *body["events"]]} if body["events"] else body
    r = client.post("/api/v1/tracking-events", json=body,
                    headers=token(app, carrier="royal-mail"))
    assert r.status_code == 422 and r.get_json()["error"]["code"] == code
    assert one(app, "SELECT COUNT(*) FROM tracking_event")[0] == 0
    r = client.post("/api/v1/tracking-events", data=b"{not json",
                    headers={**token(app, carrier="royal-mail"),
                             "Content-Type": "application/json"})
    assert r.status_code == 400


def test_delivered_moves_the_order_when_every_parcel_is_delivered(app, client):
    a, b = ship(app, parcels=2)
    oid = one(app, "SELECT order_id FROM shipment WHERE tracking = ?", a)[0]
    seen = []
    stop = events.subscribe("shipment.tracking", seen.append)
    try:
        rm = token(app, carrier="royal-mail")
        post(client, rm, ev("d1", a, "delivered", NOW + 3 * H))
        assert one(app, "SELECT status FROM sales_order WHERE id = ?", oid)[0] == \
            lifecycle.SHIPPED
        post(client, rm, ev("d2", b, "delivered", NOW + 4 * H))
    finally:
        stop()
    status, delivered_at = one(app, "SELECT status, delivered_at FROM sales_order "
                                    "WHERE id = ?", oid)
    assert status == lifecycle.DELIVERED
    assert clock.aware_utc(delivered_at) == NOW + 4 * H
    assert one(app, "SELECT COUNT(*) FROM audit WHERE action = 'order.status' AND "
                    "entity_id = ? AND after = 'delivered'", str(oid))[0] == 1
    assert [(e.data["shipment_id"] > 0, e.data["order_id"], e.data["status"]) for e in seen] \
        == [(True, oid, "delivered")] * 2
    assert seen[1].data["occurred_at"] == (NOW + 4 * H).isoformat()
    view = shipment(client, token(app, role="supervisor"), b)
    assert view["delivered_at"] == (NOW + 4 * H).isoformat()
    assert view["order_status"] == "delivered"


def test_a_channel_reads_its_own_shipments_only(app, client):
    [mine] = ship(app, channel="shop")
    [theirs] = ship(app, channel="other")
    shop = token(app, channel="shop")
    assert shipment(client, shop, mine)["tracking_number"] == mine
    assert client.get(f"/api/v1/shipments/{theirs}", headers=shop).status_code == 404
    assert client.get("/api/v1/shipments/NOPE", headers=shop).status_code == 404
    assert client.get(f"/api/v1/shipments/{mine}").status_code == 401
    assert client.get(f"/api/v1/shipments/{mine}",
                      headers=token(app, carrier="royal-mail")).status_code == 403


def test_an_all_digit_tracking_number_is_found_by_number(app, client):
    [tn] = ship(app, carrier="dpd", service="dpd-classic")
    digits = "15500000000019"
    with ctx(app), write_tx():
        execute("UPDATE shipment SET tracking = ? WHERE tracking = ?", (digits, tn))
    view = shipment(client, token(app, role="supervisor"), digits)
    assert view["tracking_number"] == digits and view["events"] == []


# ---------------------------------------------------------------- the feeds


def aftership_body(number, *checkpoints, event="tracking_update") -> bytes:
    return json.dumps({"event": event, "event_id": "9f1c", "is_tracking_first_tag": False,
                       "msg": {"id": "abc", "tracking_number": number, "slug": "royal-mail",
                               "tag": checkpoints[-1][1] if checkpoints else "Pending",
                               "checkpoints": [{"checkpoint_time": t, "tag": tag,
                                                "subtag": f"{tag}_001", "message": m,
                                                "location": "London"}
                                               for t, tag, m in checkpoints]},
                       "ts": 1772442000}).encode()


def aftership_sig(body: bytes, secret=AFTERSHIP_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def feed_post(client, feed: str, body: bytes, headers: dict):
    return client.post(f"/webhooks/tracking/{feed}", data=body,
                       headers={**headers, "Content-Type": "application/json"})


def test_aftership_webhook_maps_its_tags_and_repeats_are_duplicates(app, client):
    [tn] = ship(app)
    body = aftership_body(tn, ("2026-03-02T10:00:00+00:00", "InfoReceived", "label"),
                          ("2026-03-02T11:00:00+00:00", "InTransit", "accepted"),
                          ("2026-03-02T15:00:00+01:00", "OutForDelivery", "van"))
    r = feed_post(client, "as", body, {"aftership-hmac-sha256": aftership_sig(body)})
    assert r.status_code == 200 and r.get_json() == {"accepted": 2, "duplicates": 0,
                                                     "unknown": []}
    body2 = aftership_body(tn, ("2026-03-02T11:00:00+00:00", "InTransit", "accepted"),
                           ("2026-03-02T15:00:00+01:00", "OutForDelivery", "van"),
                           ("2026-03-02T16:30:00+00:00", "Delivered", "left at door"))
    r = client.post("/webhooks/tracking/as", data=body2,
                    headers={"aftership-hmac-sha256": aftership_sig(body2)})
    assert r.get_json() == {"accepted": 1, "duplicates": 2, "unknown": []}
    view = shipment(client, token(app, role="supervisor"), tn)
    assert [e["status"] for e in view["events"]] == ["in_transit", "out_for_delivery",
                                                     "delivered"]
    assert view["events"][1]["occurred_at"] == "2026-03-02T14:00:00+00:00"
    assert view["events"][0]["source"] == "feed:as"
    assert view["order_status"] == "delivered"


def seventeen_body(number, *evs) -> bytes:
    return json.dumps({"event": "TRACKING_UPDATED", "data": {
        "number": number, "carrier": 11031,
        "track_info": {"latest_status": {"status": evs[0][1] if evs else "NotFound"},
                       "tracking": {"providers": [{"provider": {"key": 11031}, "events": [
                           {"time_iso": t, "time_utc": t, "description": d, "location": "NL",
                            "stage": stage, "sub_status": f"{stage}_Other"}
                           for t, stage, d in evs]}]}}}}).encode()


def seventeen_sign(body: bytes, key=SEVENTEEN_KEY) -> str:
    return hashlib.sha256(body + b"/" + key.encode()).hexdigest()


def test_17track_push_maps_its_stages(app, client):
    [tn] = ship(app)
    body = seventeen_body(tn, ("2026-03-03T08:00:00Z", "Delivered", "delivered"),
                          ("2026-03-02T18:00:00Z", "Arrival", "at depot"),
                          ("2026-03-02T12:00:00Z", "PickedUp", "collected"))
    r = feed_post(client, "seventeen", body, {"sign": seventeen_sign(body)})
    assert r.status_code == 200 and r.get_json()["accepted"] == 3
    view = shipment(client, token(app, role="supervisor"), tn)
    assert [e["status"] for e in view["events"]] == ["picked_up", "in_transit", "delivered"]
    assert view["tracking_status"] == "delivered"


@pytest.mark.parametrize("feed", ["as", "seventeen"])
@pytest.mark.parametrize("how", ["wrong", "missing", "other_key", "tampered"])
def test_bad_signatures_are_401_and_write_nothing(app, client, feed, how):
    [tn] = ship(app)
    if feed == "as":
        body = aftership_body(tn, ("2026-03-02T11:00:00Z", "Delivered", "door"))
        good, header = aftership_sig(body), "aftership-hmac-sha256"
        other = aftership_sig(body, "not-the-secret")
    else:
        body = seventeen_body(tn, ("2026-03-02T11:00:00Z", "Delivered", "door"))
        good, header = seventeen_sign(body), "sign"
        other = seventeen_sign(body, "not-the-key")
    headers = {"wrong": {header: "AAAA"}, "missing": {}, "other_key": {header: other},
               "tampered": {header: good}}[how]
    sent = body.replace(b"Delivered", b"Exception") if how == "tampered" else body
    r = feed_post(client, feed, sent, headers)
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "bad_signature"
    assert one(app, "SELECT COUNT(*) FROM tracking_event")[0] == 0
    assert one(app, "SELECT tracking_status FROM shipment WHERE tracking = ?", tn)[0] == ""


def test_an_unknown_feed_is_404(app, client):
    assert client.post("/webhooks/tracking/nope", data=b"{}").status_code == 404


# ---------------------------------------------------------------- the sweep


def sweep(app, at):
    with ctx(app):
        return tracking.sweep(settings=current(), now=at)


def exceptions_of(app, type_):
    with ctx(app):
        return execute("SELECT order_id, owner_role, state FROM wms_exception WHERE type = ? "
                       "ORDER BY id", (type_,)).fetchall()


def test_quiet_shipments_are_delayed_then_lost_with_a_settable_clock(app, client):
    [tn] = ship(app)                                        # default: 48 h / 10 days
    [fast] = ship(app, carrier="ups", service="ups-express")  # 12 h / 2 days
    rm = token(app, carrier="royal-mail")
    post(client, rm, ev("e1", tn, "in_transit", NOW + 2 * H))
    assert sweep(app, NOW + 11 * H) == {"delayed": 0, "lost": 0}
    assert sweep(app, NOW + 13 * H) == {"delayed": 1, "lost": 0}          # the UPS one
    oid_fast = one(app, "SELECT order_id FROM shipment WHERE tracking = ?", fast)[0]
    assert exceptions_of(app, "shipment_delayed") == [(oid_fast, "supervisor", "open")]
    assert sweep(app, NOW + 14 * H) == {"delayed": 0, "lost": 0}          # flagged once
    assert sweep(app, NOW + 51 * H) == {"delayed": 1, "lost": 1}          # rm delayed, ups lost
    assert shipment(client, token(app, role="supervisor"), fast)["flag"] == "lost"
    # a new event clears the flag; the silence starts again from it
    post(client, rm, ev("e2", tn, "in_transit", NOW + 52 * H))
    assert shipment(client, token(app, role="supervisor"), tn)["flag"] is None
    assert sweep(app, NOW + 60 * H) == {"delayed": 0, "lost": 0}
    assert sweep(app, NOW + (52 + 24 * 10 + 1) * H) == {"delayed": 0, "lost": 1}
    oid = one(app, "SELECT order_id FROM shipment WHERE tracking = ?", tn)[0]
    assert [r[0] for r in exceptions_of(app, "shipment_lost")] == [oid_fast, oid]


def test_delivered_shipments_are_never_swept(app, client):
    [tn] = ship(app)
    post(client, token(app, carrier="royal-mail"), ev("d", tn, "delivered", NOW + H))
    assert sweep(app, NOW + 1000 * H) == {"delayed": 0, "lost": 0}
    assert exceptions_of(app, "shipment_lost") == []


def test_the_sweep_runs_as_a_scheduled_job(app):
    from server.jobs import scheduler
    ship(app, shipped_at=NOW - 49 * H)
    assert scheduler.claim_tick(app, "tracking-sweep", 1, 900)
    assert not scheduler.claim_tick(app, "tracking-sweep", 1, 900)
    assert scheduler.run_job(app, "tracking-sweep", scheduler._tracking_sweep)
    assert len(exceptions_of(app, "shipment_delayed")) == 1


# ---------------------------------------------------------------- the CLI


def test_token_create_carrier(app, db_url):
    from click.testing import CliRunner

    from server.cli import main

    def cli(*args):
        return CliRunner().invoke(main, list(args), env={"DATABASE_URL": db_url})
    out = cli("token", "create", "--carrier", "royal-mail")
    assert out.exit_code == 0, out.output
    raw = out.output.strip().splitlines()[-1]
    with ctx(app):
        p = auth.principal(raw)
    assert (p.kind, p.carrier, p.role) == ("carrier", "royal-mail", "carrier")
    bad = cli("token", "create", "--carrier", "no-such-carrier")
    assert bad.exit_code != 0 and "no carrier" in bad.output
    both = cli("token", "create", "--carrier", "ups", "--role", "admin")
    assert both.exit_code != 0


def test_a_big_batch_in_any_order_leaves_each_shipment_at_its_latest_event(app, client):
    """Enough rows for the set-at-a-time paths (PostgreSQL arrays above 20 rows)."""
    import random
    numbers = [ship(app)[0] for _ in range(30)]
    batch = []
    for i, tn in enumerate(numbers):
        batch += [ev(f"{tn}-1", tn, "picked_up", NOW + H), ev(f"{tn}-2", tn, "in_transit",
                                                                NOW + 2 * H),
                  ev(f"{tn}-3", tn, "delivered" if i % 2 else "failed_attempt", NOW + 3 * H)]
    random.Random(7).shuffle(batch)
    rm = token(app, carrier="royal-mail")
    r = post(client, rm, *batch[:45])
    assert r.get_json()["accepted"] == 45
    r = post(client, rm, *batch)                       # the first 45 again, and the rest
    assert r.get_json() == {"accepted": 45, "duplicates": 45, "unknown": []}
    with ctx(app):
        got = dict(execute("SELECT tracking, tracking_status FROM shipment").fetchall())
        orders = dict(execute("SELECT sh.tracking, o.status FROM shipment sh JOIN sales_order "
                              "o ON o.id = sh.order_id").fetchall())
    for i, tn in enumerate(numbers):
        assert got[tn] == ("delivered" if i % 2 else "failed_attempt")
        assert orders[tn] == ("delivered" if i % 2 else "shipped")


def test_the_sweep_flags_at_most_its_limit_a_chunk_per_transaction(app, monkeypatch):
    import dataclasses
    for _ in range(5):
        ship(app, shipped_at=NOW - 49 * H)
    monkeypatch.setattr(tracking, "SWEEP_CHUNK", 2)
    with ctx(app):
        cfg = current()
        small = dataclasses.replace(cfg, tracking=dataclasses.replace(cfg.tracking,
                                                                      sweep_limit=3))
        assert tracking.sweep(settings=small, now=NOW) == {"delayed": 3, "lost": 0}
        assert tracking.sweep(settings=small, now=NOW) == {"delayed": 2, "lost": 0}
        assert tracking.sweep(settings=small, now=NOW) == {"delayed": 0, "lost": 0}
    assert len(exceptions_of(app, "shipment_delayed")) == 5
