"""Waves over REST and picking over the /handheld namespace (Flask-SocketIO test client),
on SQLite and PostgreSQL: every verdict, replays, shorts, totes, picker isolation."""
from __future__ import annotations

import datetime as dt

import pytest

from ..conftest import make_app
from ..floor import PICK_CFG, PRODUCTS, SPARE_BIN, UNSTOCKED, build_floor, sid

GTIN = {sku: g for sku, g, _, _ in PRODUCTS}
BIN = {sku: loc for sku, _, loc, _ in PRODUCTS}


@pytest.fixture
def floor(db_url):
    from server import clock
    app = make_app(db_url, picking=PICK_CFG)
    yield build_floor(app, spare=0)
    clock.set_clock(None)


def ack(client, event, data=None):
    return client.emit(event, data if data is not None else {}, namespace="/handheld",
                       callback=True)


def scan(client, raw, **kw):
    return ack(client, "scan", {"scan_id": kw.pop("scan_id", None) or sid(), "raw": raw, **kw})


def pick_task(client, task):
    """Scan the location then every unit of the task; the last ack."""
    got = scan(client, task["location"])
    assert got.get("verdict") == "ok", got
    last = None
    for _ in range(task["remaining"]):
        last = scan(client, GTIN[task["sku"]])
        assert last["verdict"] == "ok", last
    return last


# ---- waves over REST ---------------------------------------------------------------------

def test_plan_release_cancel(floor):
    a = floor.order("W-1", (("SOCK", 2), ("TEE", 1)))
    b = floor.order("W-2", (("MUG", 1),))
    wave = floor.wave(totes=4, release=False)
    assert wave["status"] == "draft" and wave["orders"] == 2
    [cart] = wave["carts"]
    assert {t["order"] for t in cart["totes"]} == {"W-1", "W-2"}
    assert cart["route"] and cart["length_m"] <= cart["sshape_length_m"] + 1e-9
    assert wave["length_m"] <= wave["fcfs_length_m"] + 1e-9
    assert cart["units"] == 4 and cart["tasks"] == 3
    assert floor.order_json(a)["status"] == "waved"
    # nothing left to plan: the orders are in the draft
    r = floor.api("post", "/api/v1/waves", json={"warehouse": "main"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "nothing_to_pick"
    r = floor.api("post", f"/api/v1/waves/{wave['id']}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    assert floor.order_json(a)["status"] == "ready" and floor.order_json(b)["status"] == "ready"
    assert floor.order_json(a)["lines"][0]["reserved"] == 2        # stock still held
    again = floor.wave(totes=1)
    assert again["status"] == "released" and len(again["carts"]) == 2
    r = floor.api("post", f"/api/v1/waves/{again['id']}/release")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "bad_wave_state"
    listed = floor.api("get", "/api/v1/waves?status=released").get_json()["waves"]
    assert [w["id"] for w in listed] == [again["id"]]


@pytest.mark.parametrize("body, status, code", [
    ({"warehouse": "main", "totes": 0}, 422, None),
    ({"warehouse": "main", "extra": 1}, 422, None),
    ({"warehouse": "nowhere"}, 404, None),
    ({}, 422, None),
])
def test_bad_wave_requests_change_nothing(floor, body, status, code):
    floor.order("W-1", (("SOCK", 1),))
    r = floor.api("post", "/api/v1/waves", json=body)
    assert r.status_code == status, r.get_json()
    assert floor.api("get", "/api/v1/waves").get_json()["waves"] == []


def test_wave_endpoints_need_a_supervisor(floor):
    floor.order("W-1", (("SOCK", 1),))
    r = floor.api("post", "/api/v1/waves", floor.tokens["p1"], json={"warehouse": "main"})
    assert r.status_code == 403
    assert floor.api("get", "/api/v1/waves/999").status_code == 404
    assert floor.api("post", "/api/v1/waves/999/release").status_code == 404


def test_warehouse_without_layout_is_refused(db_url):
    app = make_app(db_url, picking=PICK_CFG, layouts={"main": None})
    floor = build_floor(app)
    floor.order("W-1", (("SOCK", 1),))
    r = floor.api("post", "/api/v1/waves", json={"warehouse": "main"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "no_layout"


def test_an_order_too_big_for_one_tote_fills_several(db_url):
    app = make_app(db_url, picking={**PICK_CFG, "tote_volume_l": 8, "tote_fill": 1.0})
    floor = build_floor(app)
    floor.order("BIG", (("CAP", 3),))          # 3 × 6.4 l → 3 totes of 8 l
    floor.order("SMALL", (("SOCK", 1),))       # 0.8 l
    floor.order("HUGE", (("CAP", 11),))        # 70 l: more than a cart of 8 totes
    wave = floor.wave(totes=8)
    [cart] = wave["carts"]
    assert sorted(t["order"] for t in cart["totes"]) == ["BIG"] * 3 + ["SMALL"]
    assert [s["order"] for s in wave["skipped"]] == ["HUGE"]
    assert "needs 9 totes" in wave["skipped"][0]["reason"]


# ---- the handheld namespace -----------------------------------------------------------------

def test_connect_needs_a_picker_token(floor):
    sio = floor.app.extensions["socketio"]
    bad = sio.test_client(floor.app, namespace="/handheld", auth={"token": "nope"})
    assert not bad.is_connected("/handheld")
    none = sio.test_client(floor.app, namespace="/handheld")
    assert not none.is_connected("/handheld")
    packer = floor.socket("k1")
    assert not packer.is_connected("/handheld")
    ok = floor.socket("p1")
    assert ok.is_connected("/handheld")
    me = ack(ok, "whoami")
    assert me["ok"] and me["user"]["badge"] == "p1" and me["settings"]["require_location_scan"]


def test_a_whole_cart_with_every_verdict(floor):
    a = floor.order("A-1", (("SOCK", 2), ("MUG", 1)))
    b = floor.order("B-1", (("TEE", 1),))
    floor.wave(totes=4)
    hh = floor.socket("p1")
    first = ack(hh, "task.next")
    assert first["ok"] and first["cart"]["tasks_left"] == 3
    task = first["task"]
    assert task["needs"] == "location" and task["position"] == 1 and task["of"] == 3
    assert task["location"] == BIN["SOCK"] and task["quantity"] == 2    # route starts at A
    # item before location → scan_location_first (not wrong_location), nothing counted
    v = scan(hh, GTIN["SOCK"])
    assert (v["ok"], v["verdict"], v["remaining"]) == (False, "scan_location_first", 2)
    assert v["expected"] == {"scan": "location", "task_id": task["task_id"],
                             "location": BIN["SOCK"]}
    assert scan(hh, "Z-99-01-1")["verdict"] == "wrong_location"
    assert scan(hh, "NOT A CODE")["verdict"] == "unknown_barcode"
    assert scan(hh, "12345")["verdict"] == "unknown_barcode"
    v = scan(hh, BIN["SOCK"].lower())                # canonical compare
    assert v["verdict"] == "ok" and v["next"]["needs"] == "item"
    assert scan(hh, GTIN["TEE"])["verdict"] == "not_in_task"      # another task of the cart
    assert scan(hh, UNSTOCKED[1])["verdict"] == "wrong_item"      # known, in no task
    expired = f"]C101{GTIN['SOCK'].rjust(14, '0')}17200101" + "10LOT1"
    assert scan(hh, expired)["verdict"] == "expired_lot"
    v = scan(hh, GTIN["SOCK"], symbology="EAN13")
    assert (v["ok"], v["remaining"], v["next"]["picked"]) == (True, 1, 1)
    v = scan(hh, GTIN["SOCK"])
    assert v["ok"] and v["remaining"] == 0 and v["next"]["sku"] != "SOCK"
    # the task is done: an extra unit named for it is an over-pick? no: it is closed
    assert ack(hh, "scan", {"scan_id": sid(), "raw": GTIN["SOCK"],
                            "task": task["task_id"]})["error"]["code"] == "task_closed"
    order_a = floor.order_json(a)
    assert order_a["status"] == "picking" and order_a["lines"][0]["picked"] == 2
    nxt = v["next"]
    last = pick_task(hh, nxt)
    last = pick_task(hh, last["next"])
    assert last["next"] is None
    assert floor.order_json(a)["status"] == "picked"
    assert floor.order_json(b)["status"] == "picked"
    assert [ln["picked"] for ln in floor.order_json(a)["lines"]] == [2, 1]
    wave = floor.api("get", "/api/v1/waves").get_json()["waves"][0]
    assert wave["status"] == "done" and wave["carts"][0]["status"] == "done"
    assert ack(hh, "task.next") == {"ok": True, "task": None, "cart": None}


def test_one_unit_too_many_is_an_over_pick(floor):
    a = floor.order("A-1", (("SOCK", 1), ("MUG", 1)))
    floor.wave()
    hh = floor.socket("p1")
    task = ack(hh, "task.next")["task"]
    scan(hh, task["location"])
    assert scan(hh, GTIN["SOCK"])["ok"]
    nxt = ack(hh, "task.next")["task"]
    scan(hh, nxt["location"])
    v = scan(hh, GTIN["SOCK"])            # the sock line is complete: one too many
    assert (v["ok"], v["verdict"], v["remaining"]) == (False, "over_pick", 1)
    assert floor.order_json(a)["lines"][0]["picked"] == 1


def test_replayed_scan_ids_count_once_and_answer_the_same(floor):
    a = floor.order("A-1", (("SOCK", 3),))
    floor.wave()
    hh = floor.socket("p1")
    ack(hh, "task.next")
    scan(hh, BIN["SOCK"])
    same = sid()
    first = scan(hh, GTIN["SOCK"], scan_id=same)
    for _ in range(5):
        assert scan(hh, GTIN["SOCK"], scan_id=same) == first
    assert floor.order_json(a)["lines"][0]["picked"] == 1
    clash = scan(hh, GTIN["MUG"], scan_id=same)
    assert clash["ok"] is False and clash["error"]["code"] == "scan_id_conflict"
    # a verdict that was not ok replays too
    wrong = sid()
    w1 = scan(hh, "Q-01-01-1", scan_id=wrong)
    assert w1["verdict"] == "wrong_location" and scan(hh, "Q-01-01-1", scan_id=wrong) == w1


@pytest.mark.parametrize("payload, field", [
    ({"raw": "x"}, "scan_id"),
    ({"scan_id": "short", "raw": "x"}, "scan_id"),
    ({"scan_id": "a" * 36}, "raw"),
    ({"scan_id": "a" * 36, "raw": ""}, "raw"),
    ({"scan_id": "a" * 36, "raw": "x" * 600}, "raw"),
    ({"scan_id": "a" * 36, "raw": "x", "scanned_at": "yesterday"}, "scanned_at"),
    ({"scan_id": "a" * 36, "raw": "x", "task": "one"}, "task"),
    ({"scan_id": "a" * 36, "raw": "x", "colour": "red"}, "colour"),
])
def test_bad_scans_are_refused_and_change_nothing(floor, payload, field):
    floor.order("A-1", (("SOCK", 1),))
    floor.wave()
    hh = floor.socket("p1")
    ack(hh, "task.next")
    got = ack(hh, "scan", payload)
    assert got["ok"] is False and got["error"]["field"] == field, got
    assert "verdict" not in got
    with floor.app.app_context():
        from server.store.db import db, execute
        with db.connection_context():
            assert execute("SELECT COUNT(*) FROM scan").fetchone()[0] == 0
    assert ack(hh, "scan", ["not", "an", "object"])["error"]["code"] == "bad_request"
    # data in several arguments: refused with an ack too (not a handler crash without one)
    two = hh.emit("scan", {"scan_id": "b" * 36, "raw": "x"}, {}, namespace="/handheld",
                  callback=True)
    assert two["ok"] is False and two["error"]["code"] == "bad_request", two


def test_a_picker_cannot_act_on_another_pickers_task(floor):
    a = floor.order("A-1", (("SOCK", 2),))
    floor.wave()
    one, two = floor.socket("p1"), floor.socket("p2")
    task = ack(one, "task.next")["task"]
    assert ack(two, "task.next")["task"] is None           # the only cart is taken
    got = ack(two, "scan", {"scan_id": sid(), "raw": task["location"],
                            "task": task["task_id"]})
    assert got["error"]["code"] == "not_your_task"
    got = ack(two, "short", {"scan_id": sid(), "task": task["task_id"], "found": 0})
    assert got["error"]["code"] == "not_your_task"
    assert ack(two, "scan", {"scan_id": sid(), "raw": task["location"]})["error"]["code"] \
        == "no_task"
    assert floor.order_json(a)["lines"][0]["picked"] == 0


def test_short_pick_reallocates_from_another_bin(db_url):
    from server import clock
    app = make_app(db_url, picking=PICK_CFG)
    floor = build_floor(app, spare=5)
    a = floor.order("A-1", (("SOCK", 3),))
    wave = floor.wave()
    hh = floor.socket("p1")
    task = ack(hh, "task.next")["task"]
    scan(hh, task["location"])
    scan(hh, GTIN["SOCK"])
    bad = ack(hh, "short", {"scan_id": sid(), "task": task["task_id"], "found": 0})
    assert bad["error"]["code"] == "bad_found"
    sh = ack(hh, "short", {"scan_id": sid(), "task": task["task_id"], "found": 1,
                           "reason": "bin empty"})
    assert sh["ok"] and sh["short"] == 2 and sh["backordered"] == 0
    assert [(r["location"], r["quantity"]) for r in sh["reallocated"]] == [(SPARE_BIN, 2)]
    assert sh["next"]["location"] == SPARE_BIN and sh["next"]["quantity"] == 2
    got = pick_task(hh, sh["next"])
    assert got["next"] is None, got
    order = floor.order_json(a)
    assert order["status"] == "picked" and order["lines"][0]["picked"] == 3
    stock = {r["location"]: r for r in floor.api("get", "/api/v1/stock?sku=SOCK")
             .get_json()["locations"]}
    # a pick denial writes nothing off (it used to write off the 2 missing units and the
    # bin's 17 unreserved ones): the bin keeps its on-hand, its reservation drops to the one
    # unit picked, and it is blocked (nothing available) until it is counted
    sock = stock[BIN["SOCK"]]
    assert (sock["on_hand"], sock["reserved"], sock["available"], sock["blocked"]) \
        == (20, 1, 0, "count_pending")
    assert sh["count"] and sh["notice"] == {"code": "short.reserved", "params": {
        "reserved": 2, "at": SPARE_BIN, "backordered": 0, "location": BIN["SOCK"],
        "moves": [{"location": SPARE_BIN, "quantity": 2}]}}
    assert stock[SPARE_BIN]["reserved"] == 2
    assert floor.api("get", f"/api/v1/waves/{wave['id']}").get_json()["status"] == "done"
    clock.set_clock(None)


def test_short_pick_without_stock_backorders_and_raises_an_exception(floor):
    a = floor.order("A-1", (("SOCK", 2), ("MUG", 1)))
    floor.wave()
    hh = floor.socket("p1")
    task = ack(hh, "task.next")["task"]
    same = sid()
    sh = ack(hh, "short", {"scan_id": same, "task": task["task_id"], "found": 0})
    assert sh["ok"] and sh["backordered"] == 2 and sh["reallocated"] == []
    assert ack(hh, "short", {"scan_id": same, "task": task["task_id"], "found": 0}) == sh
    pick_task(hh, sh["next"])
    order = floor.order_json(a)
    assert order["status"] == "backordered"
    assert [(ln["picked"], ln["backordered"]) for ln in order["lines"]] == [(0, 2), (1, 0)]
    with floor.app.app_context():
        from server.store.db import db, execute
        with db.connection_context():
            types = sorted(r[0] for r in execute("SELECT type FROM wms_exception").fetchall())
            kinds = [r[0] for r in execute("SELECT kind FROM scan ORDER BY id").fetchall()]
    assert types == ["short_pick", "stock_discrepancy"]
    assert kinds.count("short") == 1


def test_tote_scans_when_required(db_url):
    app = make_app(db_url, picking={**PICK_CFG, "require_tote_scan": True})
    floor = build_floor(app)
    floor.order("A-1", (("SOCK", 1),))
    floor.order("B-1", (("MUG", 1),))
    floor.wave(totes=4)
    hh, other = floor.socket("p1"), floor.socket("p2")
    first = ack(hh, "task.next")
    assert first["task"]["needs"] == "tote"
    assert scan(hh, first["task"]["location"])["error"]["code"] == "tote_required"
    assert ack(hh, "tote.scan", {"scan_id": sid(), "raw": "A-01-01-1"})["error"]["code"] \
        == "bad_tote_barcode"
    t1 = ack(hh, "tote.scan", {"scan_id": sid(), "raw": "TOTE-0001"})
    assert t1["ok"] and t1["tote"]["slot"] == 1 and t1["next"]["needs"] == "tote"
    assert ack(hh, "tote.scan", {"scan_id": sid(), "raw": "TOTE-0001"})["error"]["code"] \
        == "tote_in_use"
    t2 = ack(hh, "tote.scan", {"scan_id": sid(), "raw": "TOTE-0002"})
    assert t2["next"]["needs"] == "location"
    assert ack(hh, "tote.scan", {"scan_id": sid(), "raw": "TOTE-0003"})["error"]["code"] \
        == "no_free_tote"
    assert ack(other, "tote.scan", {"scan_id": sid(), "raw": "TOTE-0009"})["error"]["code"] \
        == "no_task"
    task = t2["next"]
    assert task["tote_barcode"] in ("TOTE-0001", "TOTE-0002")
    pick_task(hh, task)


def test_cancelled_order_drops_out_of_the_cart(floor):
    a = floor.order("A-1", (("SOCK", 1),))
    b = floor.order("B-1", (("MUG", 1),))
    floor.wave()
    hh = floor.socket("p1")
    ack(hh, "task.next")
    r = floor.api("post", f"/api/v1/orders/{a}/cancel", json={"reason": "customer"})
    assert r.status_code == 200
    task = ack(hh, "task.next")["task"]
    assert task["order_id"] == b
    pick_task(hh, task)
    assert floor.order_json(b)["status"] == "picked"


def test_scan_rows_keep_the_audit_trail(floor):
    floor.order("A-1", (("SOCK", 1),))
    floor.wave()
    hh = floor.socket("p1")
    ack(hh, "task.next")
    scan(hh, BIN["SOCK"], scanned_at="2026-11-23T10:00:00Z")
    gs1 = f"]C101{GTIN['SOCK'].rjust(14, '0')}17{(dt.date.today() + dt.timedelta(days=400)):%y%m%d}10LOT7"
    assert scan(hh, gs1)["ok"]
    with floor.app.app_context():
        from server.store.db import db, execute
        with db.connection_context():
            rows = execute("SELECT kind, device, raw, gtin, lot, verdict, counted, scanned_at "
                           "FROM scan ORDER BY id").fetchall()
    assert [(r[0], r[1], r[5], r[6]) for r in rows] == [("pick", "HH-p1", "ok", 0),
                                                       ("pick", "HH-p1", "ok", 1)]
    assert rows[1][3] == GTIN["SOCK"].rjust(14, "0") and rows[1][4] == "LOT7"
    assert rows[0][7] is not None


def test_handling_times_are_measured_per_event(floor):
    floor.order("A-1", (("SOCK", 1),))
    floor.wave()
    floor.api("get", "/api/v1/metrics/handheld?reset=1")
    hh = floor.socket("p1")
    ack(hh, "task.next")
    scan(hh, BIN["SOCK"])
    ack(hh, "scan", {"raw": "no scan id"})
    got = floor.api("get", "/api/v1/metrics/handheld").get_json()
    assert got["task.next"]["n"] == 1 and got["scan"]["n"] == 2
    assert got["scan"]["errors"] == 1 and 0 < got["scan"]["median_ms"] <= got["scan"]["max_ms"]
    assert floor.api("get", "/api/v1/metrics/handheld", floor.tokens["p1"]).status_code == 403


def test_backordered_after_a_short_is_waved_again_for_the_rest_only(floor):
    a = floor.order("A-1", (("SOCK", 2), ("MUG", 1)))
    floor.wave()
    hh = floor.socket("p1")
    task = ack(hh, "task.next")["task"]
    scan(hh, task["location"])
    scan(hh, GTIN["SOCK"])
    sh = ack(hh, "short", {"scan_id": sid(), "task": task["task_id"], "found": 1})
    assert sh["backordered"] == 1
    pick_task(hh, sh["next"])
    assert floor.order_json(a)["status"] == "backordered"
    r = floor.api("post", "/api/v1/stock/receipts", json={"lines": [
        {"warehouse": "main", "location": SPARE_BIN, "sku": "SOCK", "quantity": 4}]})
    assert r.status_code == 201, r.get_json()
    assert floor.order_json(a)["status"] == "ready"
    wave = floor.wave()
    assert wave["carts"][0]["units"] == 1                    # only the missing sock
    task = ack(hh, "task.next")["task"]
    assert (task["location"], task["quantity"]) == (SPARE_BIN, 1)
    pick_task(hh, task)
    order = floor.order_json(a)
    assert order["status"] == "picked"
    assert [(ln["picked"], ln["backordered"]) for ln in order["lines"]] == [(2, 0), (1, 0)]


def test_scheduled_waves_plan_and_release_by_themselves(db_url):
    import threading
    import time

    from server.jobs import scheduler
    app = make_app(db_url, picking={**PICK_CFG, "auto_wave_min_orders": 2},
                   jobs={"auto_wave_every_minutes": 0.01, "expire_unpaid_every_minutes": 60,
                         "woocommerce_pull_every_minutes": 60})
    floor = build_floor(app)
    floor.order("A-1", (("SOCK", 1),))
    with app.app_context():
        from server.services.waves import auto_waves
        from server.settings import current
        from server.store.db import db
        with db.connection_context():
            assert auto_waves(settings=current()) == []    # one ready order: below the minimum
    floor.order("B-1", (("MUG", 1),))
    stop = threading.Event()
    thread = scheduler.start(app, stop)
    try:
        deadline = time.monotonic() + 20
        waves = []
        while time.monotonic() < deadline and not waves:
            waves = floor.api("get", "/api/v1/waves").get_json()["waves"]
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(10)
    assert len(waves) == 1 and waves[0]["status"] == "released" and waves[0]["orders"] == 2
    assert waves[0]["created_by"] == "job:auto-wave"
    hh = floor.socket("p1")
    assert ack(hh, "task.next")["task"] is not None


def test_urgent_orders_are_waved_first(floor):
    late = dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc)
    soon = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    floor.order("PLAIN", (("SOCK", 1),), ship_by=late)
    floor.order("SOON", (("MUG", 1),), ship_by=soon)
    floor.order("EXPRESS", (("TEE", 1),), carrier="UPS Express",       # an express service
                shipping_method=("ups express",), ship_by=late)
    floor.order("VIP", (("CAP", 1),), priority=5, ship_by=late)
    picked = []
    for _ in range(4):
        wave = floor.wave(max_orders=1, release=False)
        picked += [t["order"] for t in wave["carts"][0]["totes"]]
    assert picked == ["VIP", "EXPRESS", "SOON", "PLAIN"]


def test_ship_by_is_taken_from_the_native_api(floor):
    from server.services.auth import create_token
    with floor.app.app_context():
        from server.store.db import db
        with db.connection_context():
            token = create_token(channel="api")
    body = {"ref": "N-1", "placed_at": "2025-06-02T09:12:00+01:00", "currency": "GBP",
            "paid": True, "ship_by": "2025-06-03T12:00:00Z",
            "ship_to": {"name": "O B", "phone": "+447700900101", "address1": "27 Granby St",
                        "city": "Leicester", "postcode": "LE1 6EJ", "country": "GB"},
            "lines": [{"sku": "SOCK", "quantity": 1, "unit_price": "4.00"}]}
    r = floor.api("post", "/api/v1/orders", token, json=body)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["ship_by"].startswith("2025-06-03T12:00:00")
    bad = floor.api("post", "/api/v1/orders", token, json={**body, "ref": "N-2",
                                                             "ship_by": "soon"})
    assert bad.status_code == 422


def test_a_refused_connect_says_why(floor):
    sio = floor.app.extensions["socketio"]
    bad = sio.test_client(floor.app, namespace="/handheld", auth={"token": "nope"})
    assert not bad.is_connected("/handheld")
    packer = floor.socket("k1")
    assert not packer.is_connected("/handheld")
    from flask_socketio import ConnectionRefusedError

    from server.sockets.handheld import _on_connect
    with floor.app.test_request_context():
        with pytest.raises(ConnectionRefusedError) as err:
            _on_connect({"token": floor.tokens["k1"]})
    assert err.value.error_args == {"message": "a packer cannot pick",
                                    "data": {"code": "forbidden",
                                             "message": "a packer cannot pick"}}
