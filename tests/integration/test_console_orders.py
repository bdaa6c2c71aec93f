"""The console's order search and order timeline (issue 15 §1), on SQLite and PostgreSQL:
search by ref, tracking number, SKU, e-mail, phone and the start of a name, keyset pages
that neither skip nor repeat; the timeline of an order taken through intake, wave,
handheld picking (scans with picker and device, a short), packing, label, dispatch and a
tracking event; refusals (picker, packer, channel, no token) and bad input."""
from __future__ import annotations

import pytest

from ..floor import sid
from .test_picking import BIN, GTIN, ack, scan


@pytest.fixture
def floor(db_url, tmp_path):
    from ..floor import station_floor
    return station_floor(db_url, tmp_path)


def search(floor, q: str, token=None, **params):
    r = floor.api("get", "/api/v1/orders/search", token, query_string={"q": q, **params})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def refs(page) -> list[str]:
    return [o["ref"] for o in page["orders"]]


def test_search_finds_orders_by_each_kind_of_key(floor):
    a = floor.order("WEB-1001", (("SOCK", 1),), phone="+447700900123")
    b = floor.order("WEB-1002", (("MUG", 2), ("SOCK", 1)))
    floor.order("WEB-1003", (("TEE", 1),))
    assert refs(search(floor, "WEB-1002")) == ["WEB-1002"]
    assert refs(search(floor, "web-1002")) == ["WEB-1002"]       # refs as typed, upper-cased
    by_sku = search(floor, "SOCK")
    assert refs(by_sku) == ["WEB-1002", "WEB-1001"]                # newest first
    assert by_sku["orders"][0]["matched"] == ["sku"]
    assert refs(search(floor, "mug")) == ["WEB-1002"]
    assert refs(search(floor, "+44 7700 900123")) == ["WEB-1001"]
    assert search(floor, "+44 7700 900123")["orders"][0]["matched"] == ["phone"]
    assert search(floor, "NOTHING-LIKE-IT") == {"orders": [], "next_cursor": None}
    order = floor.order_json(a)
    email = order["ship_to"]["email"]
    name = order["ship_to"]["name"]
    if email:
        assert a in [o["id"] for o in search(floor, email.upper())["orders"]]
    got = search(floor, name[:3].lower())
    assert a in [o["id"] for o in got["orders"]] and "name" in got["orders"][-1]["matched"]
    assert b in [o["id"] for o in got["orders"]]


def _pack_and_ship(floor, ref: str, sku: str, units: int = 1) -> dict:
    from server.jobs import print_worker
    from server.store.db import db
    k1 = floor.tokens["k1"]
    r = floor.api("post", "/api/v1/pack/sessions", k1, json={"station": "pack-1", "scan": ref})
    assert r.status_code in (200, 201), r.get_json()
    s = r.get_json()
    for _ in range(units):
        r = floor.api("post", f"/api/v1/pack/sessions/{s['id']}/scan", k1,
                      json={"scan_id": sid(), "raw": GTIN[sku]})
        assert r.status_code == 200, r.get_json()
    done = floor.api("post", f"/api/v1/pack/sessions/{s['id']}/confirm", k1).get_json()
    ship = done["shipment"]
    with floor.app.app_context(), db.connection_context():
        print_worker.run_round(f"file://{floor.labels}")
    r = floor.api("post", "/api/v1/shipments/dispatch", k1, json={"raw": ship["tracking"]})
    assert r.status_code == 200, r.get_json()
    return ship


def test_an_orders_timeline_from_intake_to_a_tracking_event(floor):
    a = floor.order("TL-1", (("SOCK", 2),))
    floor.wave()
    hh = floor.socket("p1")
    task = ack(hh, "task.next")["task"]
    assert scan(hh, task["location"])["ok"]
    assert scan(hh, "9506000220017")["verdict"] == "wrong_item"     # a mug, not a sock
    assert scan(hh, GTIN["SOCK"])["ok"]
    assert scan(hh, GTIN["SOCK"])["ok"]
    hh.disconnect(namespace="/handheld")
    ship = _pack_and_ship(floor, "TL-1", "SOCK", 2)
    from server.services import auth
    from server.store.db import db
    with floor.app.app_context(), db.connection_context():
        carrier = auth.create_token(carrier=ship["carrier"])
    r = floor.api("post", "/api/v1/tracking-events", carrier, json={"events": [{
        "event_id": "ev-1", "tracking_number": ship["tracking"], "status": "in_transit",
        "occurred_at": "2099-01-01T10:00:00Z", "location": "Leeds hub"}]})
    assert r.status_code in (200, 201, 202), r.get_json()

    r = floor.api("get", f"/api/v1/orders/{a}/timeline")
    assert r.status_code == 200, r.get_json()
    tl = r.get_json()
    assert tl["order"]["ref"] == "TL-1" and tl["order"]["status"] == "shipped"
    entries = tl["entries"]
    actions = [e["action"] for e in entries]
    statuses = [e["after"] for e in entries if e["action"] == "order.status"]
    assert actions[0] == "order.received", entries[:3]
    assert statuses[:2] == ["ready", "waved"] and statuses[-1] == "shipped"
    assert "picked" in statuses and "packed" in statuses
    picks = [e for e in entries if e["action"] == "scan.pick"]
    assert [e["detail"]["verdict"] for e in picks] == ["ok", "wrong_item", "ok", "ok"]
    assert {e["actor"] for e in picks} == {"user:p1"}
    assert {e["detail"]["device"] for e in picks} == {"HH-p1"}
    assert picks[0]["detail"]["location"] == BIN["SOCK"]
    packs = [e for e in entries if e["action"] == "scan.pack"]
    assert [(e["actor"], e["detail"]["verdict"], e["detail"]["sku"]) for e in packs] \
        == [("user:k1", "ok", "SOCK")] * 2
    for action in ("pack.open", "pack.confirm", "shipment.create", "print_job.enqueue",
                   "print_job.printed", "shipment.dispatch", "tracking.in_transit"):
        assert action in actions, (action, actions)
    track = next(e for e in entries if e["action"] == "tracking.in_transit")
    assert track["detail"]["tracking"] == ship["tracking"]
    assert entries[-1]["action"] == "tracking.in_transit"    # 2099: the last thing
    times = [e["at"] for e in entries]
    assert times == sorted(times)


def test_a_short_pick_and_a_release_show_in_the_timeline(floor):
    from .test_counts import short_first_task
    a = floor.order("TL-2", (("SOCK", 3),))
    floor.wave()
    short_first_task(floor, found_units=1)
    entries = floor.api("get", f"/api/v1/orders/{a}/timeline").get_json()["entries"]
    short = [e for e in entries if e["action"] == "scan.short"]
    assert len(short) == 1 and short[0]["actor"] == "user:p1"
    assert short[0]["detail"]["sku"] == "SOCK"
    assert any(e["action"] == "exception.open" for e in entries)


def test_search_pages_by_keyset_without_skipping_or_repeating(floor):
    # some orders have the SKU on two lines: an order is still listed once
    ids = [floor.order(f"PG-{i}", (("CAP", 1),) * (2 if i % 2 else 1)) for i in range(7)]
    seen, cursor = [], None
    while True:
        page = search(floor, "CAP", limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [o["id"] for o in page["orders"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)


@pytest.mark.parametrize("path", ["/api/v1/orders/search?q=SOCK", "/api/v1/orders/1/timeline"])
def test_pickers_packers_channels_and_strangers_are_refused(floor, path):
    from server.services import auth
    from server.store.db import db
    with floor.app.app_context(), db.connection_context():
        channel = auth.create_token(channel="api")
    for token in (floor.tokens["p1"], floor.tokens["k1"], channel):
        r = floor.api("get", path, token)
        assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    r = floor.app.test_client().get(path)
    assert r.status_code == 401


@pytest.mark.parametrize("qs, field", [
    ("", "q"), ("?q=", "q"), ("?q=" + "x" * 201, "q"), ("?q=SOCK&cursor=abc", "cursor"),
    ("?q=SOCK&cursor=0", "cursor"), ("?q=SOCK&limit=0", "limit"), ("?q=SOCK&limit=101", "limit"),
])
def test_bad_search_input_is_a_400(floor, qs, field):
    r = floor.api("get", "/api/v1/orders/search" + qs)
    assert r.status_code == 400 and r.get_json()["error"]["field"] == field


def test_timeline_of_an_unknown_order_is_a_404(floor):
    r = floor.api("get", "/api/v1/orders/999999/timeline")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
