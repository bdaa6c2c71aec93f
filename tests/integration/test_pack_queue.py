"""The pack bench as people use it, over REST on SQLite and PostgreSQL: the station's
queue of picked orders, opening one by a cart or tote label, cart and tote labels printed
through the print queue, unweighed parcels stored as such, one tolerance rule, and holds
sent as a code with parameters (the pages word them)."""
from __future__ import annotations

import datetime as dt

import pytest

from ..floor import PRODUCTS, UNSTOCKED, sid, station_floor
from .test_packing import call, sql

GTIN = {sku: g for sku, g, _, _ in PRODUCTS}


@pytest.fixture
def floor(db_url, tmp_path):
    from server import clock
    yield station_floor(db_url, tmp_path)
    clock.set_clock(None)


def open_(floor, scan, station="pack-1"):
    return call(floor, "post", "/api/v1/pack/sessions", "k1",
                json={"station": station, "scan": scan})


def verify_all(floor, session):
    for line in session["lines"]:
        for _ in range(line["remaining"]):
            r = call(floor, "post", f"/api/v1/pack/sessions/{session['id']}/scan",
                     json={"scan_id": sid(), "raw": GTIN[line["sku"]]})
            assert r.get_json()["verdict"] == "ok", r.get_json()


def test_the_queue_lists_picked_orders_and_opens_by_label(floor):
    soon = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    late = dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc)
    floor.order("LATE", (("SOCK", 1),), ship_by=late)
    floor.order("SOON", (("MUG", 2),), ship_by=soon)
    floor.order("NOT-YET", (("TEE", 1),),                     # ready, not waved (the
                ship_by=dt.datetime(2032, 1, 1, tzinfo=dt.timezone.utc))   # least urgent)
    wave = floor.wave(totes=4, max_orders=2)
    floor.pick_all()
    q = call(floor, "get", "/api/v1/pack/stations/pack-1/queue")
    assert q.status_code == 200, q.get_json()
    body = q.get_json()
    assert body["warehouse"] == "main" and not body["truncated"]
    rows = body["orders"]
    assert [r["order"] for r in rows] == ["SOON", "LATE"]         # ship-by first
    cart = wave["carts"][0]["id"]
    slot = {t["order"]: t["slot"] for t in wave["carts"][0]["totes"]}
    soon_row = rows[0]
    assert soon_row["ship_by"].startswith("2030-01-01") and soon_row["units"] == 2
    assert (soon_row["cart"], soon_row["tote"]) == (cart, slot["SOON"])
    assert soon_row["totes"][0]["label"] == f"CART-{cart}-{slot['SOON']}"
    assert soon_row["totes"][0]["cart_label"] == f"CART-{cart}"
    assert soon_row["age_s"] is not None and soon_row["age_s"] >= 0
    assert soon_row["picked_at"] and soon_row["packing_at"] is None
    # another warehouse's station sees none of them; an unknown station is a 404
    assert call(floor, "get", "/api/v1/pack/stations/pack-rtm/queue").get_json()["orders"] == []
    r = call(floor, "get", "/api/v1/pack/stations/nowhere/queue")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "unknown_station"
    assert call(floor, "get", "/api/v1/pack/stations/pack-1/queue", "p1").status_code == 403

    # a tote slot label opens its order; the queue then says where it is being packed
    r = open_(floor, f"CART-{cart}-{slot['LATE']}")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["order"]["ref"] == "LATE"
    rows = call(floor, "get", "/api/v1/pack/stations/pack-2/queue").get_json()["orders"]
    assert {r["order"]: r["packing_at"] for r in rows} == {"SOON": None, "LATE": "pack-1"}
    # a cart label opens the cart's first order not being packed
    r = open_(floor, f"cart-{cart}", station="pack-2")
    assert r.status_code == 201 and r.get_json()["order"]["ref"] == "SOON", r.get_json()
    r = open_(floor, f"CART-{cart}", station="pack-2")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "cart_empty"
    r = open_(floor, f"CART-{cart}-9")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


def test_cart_and_tote_labels_go_through_the_print_queue(floor):
    from server.jobs import print_worker
    from server.store.db import db
    floor.order("A-1", (("SOCK", 1),))
    wave = floor.wave(totes=2)
    floor.pick_all()
    cart = wave["carts"][0]["id"]
    slot = wave["carts"][0]["totes"][0]["slot"]
    r = call(floor, "post", "/api/v1/pack/stations/pack-1/labels",
             json={"kind": "tote", "cart": cart, "slot": slot})
    assert r.status_code == 201, r.get_json()
    job = r.get_json()["job"]
    assert job["kind"] == "tote" and job["station"] == "pack-1"
    r = call(floor, "post", "/api/v1/pack/stations/pack-1/labels",
             json={"kind": "cart", "cart": cart})
    assert r.status_code == 201, r.get_json()
    with floor.app.app_context(), db.connection_context():
        print_worker.run_round(f"file://{floor.labels}")
    printed = floor.labels.read_text()
    assert f"^FD{f'CART-{cart}-{slot}'}^FS" in printed and "^FDA-1^FS" in printed
    assert f"^FDCART-{cart}^FS" in printed and printed.count("^XA") == 2
    states = sql(floor, "SELECT kind, state FROM print_job ORDER BY id")
    assert states == [("tote", "printed"), ("cart", "printed")]
    # refused, nothing queued: no slot, a slot the cart lacks, no such cart, another
    # warehouse's station, an unknown kind
    for body, status, code in (({"kind": "tote", "cart": cart}, 422, "schema"),
                               ({"kind": "tote", "cart": cart, "slot": 9}, 404, "not_found"),
                               ({"kind": "cart", "cart": 99999}, 404, "not_found"),
                               ({"kind": "box", "cart": cart}, 422, "schema")):
        r = call(floor, "post", "/api/v1/pack/stations/pack-1/labels", json=body)
        assert (r.status_code, r.get_json()["error"]["code"]) == (status, code), body
    r = call(floor, "post", "/api/v1/pack/stations/pack-rtm/labels",
             json={"kind": "cart", "cart": cart})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "wrong_warehouse"
    assert sql(floor, "SELECT COUNT(*) FROM print_job") == [(2,)]


def test_a_parcel_confirmed_without_weighing_is_stored_unweighed(floor):
    floor.order("A-1", (("SOCK", 1),))
    floor.order("B-1", (("MUG", 1),))
    floor.wave(totes=2)
    floor.pick_all()
    s = open_(floor, "A-1").get_json()
    verify_all(floor, s)
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/confirm")
    assert r.status_code == 201, r.get_json()
    ship = r.get_json()["shipment"]
    assert (ship["weight_g"], ship["weighed"]) == (None, False)
    assert ship["expected_weight_g"] == s["weight"]["expected_g"]
    assert sql(floor, "SELECT weight_g FROM shipment WHERE id = ?", (ship["id"],)) == [(None,)]
    # the label still declares a weight: the expected one
    zpl = sql(floor, "SELECT zpl FROM print_job WHERE id = ?", (ship["label_job"],))[0][0]
    assert f"{s['weight']['expected_g'] / 1000:.3f} kg" in zpl
    # weighed: the reading is stored
    s = open_(floor, "B-1").get_json()
    verify_all(floor, s)
    grams = s["weight"]["expected_g"] + 5
    call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/weight", json={"grams": grams})
    ship = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/confirm").get_json()["shipment"]
    assert (ship["weight_g"], ship["weighed"]) == (grams, True)


def test_the_tolerance_is_the_larger_of_percent_and_grams(floor):
    floor.order("A-1", (("SOCK", 2),))
    floor.wave()
    floor.pick_all()
    s = open_(floor, "A-1").get_json()
    expected = s["weight"]["expected_g"]                 # 2 × 100 g + tare, 5 % < 30 g
    assert expected * 5 / 100 < 30 and s["weight"]["tolerance_g"] == 30   # max, not 30 + 5 %
    url = f"/api/v1/pack/sessions/{s['id']}/weight"
    assert call(floor, "post", url, json={"grams": expected + 30}).get_json()["weight"]["ok"]
    r = call(floor, "post", url, json={"grams": expected + 31}).get_json()
    assert r["weight"]["ok"] is False and r["state"] == "held"
    assert r["hold"] == {"code": "weight", "params": {"grams": expected + 31,
                                                      "expected_g": expected,
                                                      "tolerance_g": 30}}
    assert r["hold_reason"].startswith(f"weighs {expected + 31} g")


def test_holds_come_with_a_code_and_parameters(floor):
    floor.order("A-1", (("SOCK", 1),))
    floor.wave()
    floor.pick_all()
    s = open_(floor, "A-1").get_json()
    assert s["hold"] is None
    for _ in range(3):
        v = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/scan",
                 json={"scan_id": sid(), "raw": UNSTOCKED[1]}).get_json()
    assert v["session"]["hold"] == {"code": "wrong_items", "params": {"count": 3}}
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/release", "s1", json={})
    assert r.get_json()["hold"] is None and r.get_json()["hold_reason"] == ""
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/hold",
             json={"reason": "箱子破损"})
    assert r.get_json()["hold"] == {"code": "by_hand", "params": {"reason": "箱子破损"}}
