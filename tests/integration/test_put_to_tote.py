"""Picking as people do it, over /handheld on SQLite and PostgreSQL (where scans go
through group commit, services/scan_pg.py): one visit per bin (a stop groups the cart's
tasks at one bin and the server puts each unit to its tote), the item scanned before its
bin, put-to-tote confirmation, and the cart-done summary with where to take the cart."""
from __future__ import annotations

import pytest

from ..conftest import make_app
from ..floor import PICK_CFG, PRODUCTS, build_floor, sid, station_floor
from .test_picking import ack, scan

GTIN = {sku: g for sku, g, _, _ in PRODUCTS}
BIN = {sku: loc for sku, _, loc, _ in PRODUCTS}


@pytest.fixture
def floor(db_url, tmp_path):
    from server import clock
    yield station_floor(db_url, tmp_path)
    clock.set_clock(None)


def sql(floor, statement, params=()):
    from server.store.db import db, execute
    with floor.app.app_context(), db.connection_context():
        return [tuple(r) for r in execute(statement, params).fetchall()]


def test_one_visit_per_bin_puts_each_unit_to_its_tote(floor):
    floor.order("A-1", (("SOCK", 2),))
    floor.order("B-1", (("MUG", 1),))
    floor.order("C-1", (("SOCK", 1),))
    floor.order("D-1", (("SOCK", 1),))
    floor.wave(totes=4)
    hh = floor.socket("p1")
    got = ack(hh, "task.next")
    task, cart = got["task"], got["cart"]
    slot = {t["order"]: t["slot"] for t in cart["totes"]}
    assert task["location"] == BIN["SOCK"] and task["needs"] == "location"
    stop = task["stop"]
    assert stop["location"] == BIN["SOCK"] and stop["units"] == 4
    assert [(m["order"], m["tote"], m["remaining"]) for m in stop["tasks"]] == [
        ("A-1", slot["A-1"], 2), ("C-1", slot["C-1"], 1), ("D-1", slot["D-1"], 1)]

    # the right product before its bin: its own verdict, nothing counted
    v = scan(hh, GTIN["SOCK"])
    assert (v["ok"], v["verdict"], v["remaining"]) == (False, "scan_location_first", 2)
    assert v["expected"]["scan"] == "location" and "put" not in v
    # one bin scan confirms the bin for the whole stop
    v = scan(hh, BIN["SOCK"])
    assert v["ok"] and v["next"]["needs"] == "item"
    assert sql(floor, "SELECT COUNT(*) FROM pick_task WHERE location_code = ? AND "
                      "location_confirmed", (BIN["SOCK"],)) == [(3,)]
    # four units, no second bin scan: the server says which tote each goes to
    puts = [scan(hh, GTIN["SOCK"]) for _ in range(4)]
    assert all(p["verdict"] == "ok" for p in puts), puts
    assert [(p["put"]["order"], p["put"]["tote"], p["put"]["task_done"], p["put"]["confirm"])
            for p in puts] == [("A-1", slot["A-1"], False, False),
                               ("A-1", slot["A-1"], True, True),
                               ("C-1", slot["C-1"], True, True),
                               ("D-1", slot["D-1"], True, True)]
    assert puts[0]["next"]["stop"]["units"] == 3
    assert [m["remaining"] for m in puts[0]["next"]["stop"]["tasks"]] == [1, 1, 1]
    assert puts[1]["next"]["stop"]["units"] == 2 and puts[1]["next"]["needs"] == "item"
    assert puts[0]["put"]["label"] == f"CART-{cart['id']}-{slot['A-1']}"
    nxt = puts[-1]["next"]
    assert nxt["location"] == BIN["MUG"] and nxt["needs"] == "location"
    assert nxt["stop"]["units"] == 1
    # a fifth sock is one too many
    scan(hh, BIN["MUG"])
    assert scan(hh, GTIN["SOCK"])["verdict"] == "over_pick"
    assert sql(floor, "SELECT SUM(picked) FROM order_line") == [(4,)]


def test_tote_confirm_scan_or_tap(floor):
    floor.order("A-1", (("SOCK", 1),))
    floor.order("B-1", (("MUG", 1),))
    floor.wave(totes=4)
    hh, other = floor.socket("p1"), floor.socket("p2")
    task = ack(hh, "task.next")["task"]
    scan(hh, task["location"])
    last = scan(hh, GTIN["SOCK"])
    put = last["put"]
    assert put["confirm"] and put["task_done"] and put["order"] == "A-1"
    # not yet due: the next task has units to pick
    early = ack(hh, "tote.confirm", {"scan_id": sid(), "task": last["next"]["task_id"]})
    assert early["error"]["code"] == "put_not_due"
    # another cart's tote label: wrong_tote, stored, nothing else
    wrong = ack(hh, "tote.confirm", {"scan_id": sid(), "task": task["task_id"],
                                     "raw": f"CART-{task['cart'] + 7}-{put['tote']}"})
    assert (wrong["ok"], wrong["verdict"]) == (False, "wrong_tote")
    assert wrong["expected"]["label"] == put["label"]
    same = sid()
    right = ack(hh, "tote.confirm", {"scan_id": same, "task": task["task_id"],
                                     "raw": put["label"]})
    assert (right["ok"], right["verdict"], right["by"]) == (True, "ok", "scan")
    assert ack(hh, "tote.confirm", {"scan_id": same, "task": task["task_id"],
                                    "raw": put["label"]}) == right
    bare = ack(hh, "tote.confirm", {"scan_id": sid(), "task": task["task_id"],
                                    "raw": str(put["tote"])})
    assert bare["ok"]
    tap = ack(hh, "tote.confirm", {"scan_id": sid(), "task": task["task_id"]})
    assert (tap["ok"], tap["by"]) == (True, "tap")
    assert ack(other, "tote.confirm", {"scan_id": sid(), "task": task["task_id"]}
               )["error"]["code"] == "not_your_task"
    assert ack(hh, "tote.confirm", {"scan_id": sid(), "task": "one"})["error"]["field"] \
        == "task"
    assert ack(hh, "tote.confirm", {"scan_id": sid(), "task": task["task_id"],
                                    "colour": "red"})["error"]["code"] == "bad_request"
    rows = sql(floor, "SELECT kind, verdict FROM scan WHERE kind = 'put' ORDER BY id")
    assert rows == [("put", "wrong_tote"), ("put", "ok"), ("put", "ok"), ("put", "ok")]
    puts = sql(floor, "SELECT COUNT(*) FROM audit WHERE action = 'tote.put'")
    assert puts == [(3,)]


def test_a_bound_tote_answers_to_its_barcode_only(db_url):
    app = make_app(db_url, picking={**PICK_CFG, "require_tote_scan": True})
    floor = build_floor(app)
    floor.order("A-1", (("SOCK", 1),))
    floor.wave(totes=1)
    hh = floor.socket("p1")
    ack(hh, "task.next")
    t = ack(hh, "tote.scan", {"scan_id": sid(), "raw": "TOTE-0042"})
    task = t["next"]
    scan(hh, task["location"])
    last = scan(hh, GTIN["SOCK"])
    assert last["put"]["label"] == "TOTE-0042" and last["next"] is None
    slot_label = f"CART-{task['cart']}-{task['tote']}"
    assert not ack(hh, "tote.confirm", {"scan_id": sid(), "task": task["task_id"],
                                        "raw": slot_label})["ok"]
    assert ack(hh, "tote.confirm", {"scan_id": sid(), "task": task["task_id"],
                                    "raw": "TOTE-0042"})["ok"]


def test_confirm_tote_off_asks_for_no_confirmation(db_url):
    app = make_app(db_url, picking={**PICK_CFG, "confirm_tote": False})
    floor = build_floor(app)
    floor.order("A-1", (("SOCK", 1),))
    floor.wave()
    hh = floor.socket("p1")
    assert ack(hh, "whoami")["settings"]["confirm_tote"] is False
    task = ack(hh, "task.next")["task"]
    scan(hh, task["location"])
    last = scan(hh, GTIN["SOCK"])
    assert last["put"]["task_done"] and last["put"]["confirm"] is False


def test_cart_done_summary_names_the_pack_stations(floor):
    floor.order("A-1", (("SOCK", 2), ("MUG", 1)))
    floor.order("B-1", (("TEE", 1),))
    floor.wave(totes=4)
    hh, other = floor.socket("p1"), floor.socket("p2")
    got = ack(hh, "task.next")
    cart_id = got["cart"]["id"]
    task = got["task"]
    # the socks: one found, the other short (no stock elsewhere: backordered)
    scan(hh, task["location"])
    scan(hh, GTIN["SOCK"])
    sh = ack(hh, "short", {"scan_id": sid(), "task": task["task_id"], "found": 1})
    assert sh["ok"] and sh["backordered"] == 1
    nxt = sh["next"]
    while nxt is not None:
        scan(hh, nxt["location"])
        for _ in range(nxt["remaining"]):
            last = scan(hh, GTIN[nxt["sku"]])
        nxt = last["next"]
    summary = ack(hh, "cart.summary", {"cart": cart_id})
    assert summary["ok"], summary
    c = summary["cart"]
    assert (c["status"], c["order_count"], c["units"], c["short"]) == ("done", 2, 3, 1)
    assert c["label"] == f"CART-{cart_id}" and c["warehouse"] == "main"
    assert sorted((o["order"], o["units"], o["short"]) for o in c["orders"]) == [
        ("A-1", 2, 1), ("B-1", 1, 0)]
    assert [s["station"] for s in c["stations"]] == ["pack-1", "pack-2"]
    assert ack(other, "cart.summary", {"cart": cart_id})["error"]["code"] == "not_your_task"
    assert ack(hh, "cart.summary", {"cart": 99999})["error"]["code"] == "not_found"
    assert ack(hh, "cart.summary", {})["error"]["field"] == "cart"
