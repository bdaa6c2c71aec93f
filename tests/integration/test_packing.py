"""Packing stations over REST on SQLite and PostgreSQL: open by order/tote, every verdict,
exactly-once scans, quality checks, holds, weight, carton, the label refused until every
line is verified, confirm (shipment, stock out, label job), dispatch."""
from __future__ import annotations

import pytest

from ..conftest import make_app
from ..floor import PICK_CFG, PRODUCTS, UNSTOCKED, build_floor, sid, station_floor
from ..exception_checks import raised

GTIN = {sku: g for sku, g, _, _ in PRODUCTS}


@pytest.fixture
def floor(db_url, tmp_path):
    from server import clock
    yield station_floor(db_url, tmp_path)
    clock.set_clock(None)


def picked(floor, *orders) -> list[int]:
    """Orders (ref, lines) made, waved and picked."""
    ids = [floor.order(ref, lines) for ref, lines in orders]
    floor.wave(totes=4)
    floor.pick_all()
    return ids


def call(floor, method, path, token_badge="k1", **kw):
    return floor.api(method, path, floor.tokens[token_badge], **kw)


def open_(floor, scan, station="pack-1", badge="k1"):
    return call(floor, "post", "/api/v1/pack/sessions", badge,
                json={"station": station, "scan": scan})


def pscan(floor, session, raw, scan_id=None, badge="k1"):
    r = call(floor, "post", f"/api/v1/pack/sessions/{session}/scan", badge,
             json={"scan_id": scan_id or sid(), "raw": raw})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def sql(floor, statement, params=()):
    from server.store.db import db, execute
    with floor.app.app_context(), db.connection_context():
        return execute(statement, params).fetchall()


def test_a_whole_order_with_every_verdict(floor):
    a, b = picked(floor, ("A-1", (("SOCK", 2), ("MUG", 1))), ("B-1", (("TEE", 1),)))
    r = open_(floor, "A-1")
    assert r.status_code == 201, r.get_json()
    s = r.get_json()
    assert s["state"] == "open" and s["order"]["ref"] == "A-1" and not s["verified"]
    assert [(ln["sku"], ln["quantity"], ln["remaining"]) for ln in s["lines"]] == [
        ("SOCK", 2, 2), ("MUG", 1, 1)]
    assert s["carton"]["suggested"] and s["carton"]["error"] is None
    assert s["inserts"] == ["packing_slip", "promo_card"]
    # the label is refused until every line is verified
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/confirm")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "not_verified"
    assert {m["sku"] for m in r.get_json()["error"]["detail"]["missing"]} == {"SOCK", "MUG"}
    sid_ = s["id"]
    assert pscan(floor, sid_, GTIN["TEE"])["verdict"] == "wrong_item"      # B-1's, same wave
    assert pscan(floor, sid_, UNSTOCKED[1])["verdict"] == "not_in_order"
    assert pscan(floor, sid_, "NOT A CODE")["verdict"] == "unknown_barcode"
    assert pscan(floor, sid_, "A-03-02-1")["verdict"] == "unknown_barcode"  # a bin, not an item
    expired = f"]C101{GTIN['SOCK'].rjust(14, '0')}17200101" + "10LOT1"
    assert pscan(floor, sid_, expired)["verdict"] == "expired_lot"
    v = pscan(floor, sid_, GTIN["SOCK"])
    assert (v["ok"], v["verdict"], v["line"]["remaining"]) == (True, "ok", 1)
    assert pscan(floor, sid_, GTIN["SOCK"])["line"]["remaining"] == 0
    v = pscan(floor, sid_, GTIN["SOCK"])
    assert (v["ok"], v["verdict"]) == (False, "over_pack")
    v = pscan(floor, sid_, GTIN["MUG"])
    assert v["session"]["verified"] and v["session"]["state"] == "open"
    r = call(floor, "post", f"/api/v1/pack/sessions/{sid_}/confirm")
    assert r.status_code == 201, r.get_json()
    done = r.get_json()
    ship = done["shipment"]
    assert ship["tracking"].startswith("RR") and ship["tracking"].endswith("GB")
    assert len(ship["sscc"]) == 18 and ship["carrier"] == "royal-mail"
    assert done["session"]["state"] == "confirmed"
    assert floor.order_json(a)["status"] == "packed"
    assert floor.order_json(b)["status"] == "picked"
    # confirming again answers with the same shipment and queues nothing more
    again = call(floor, "post", f"/api/v1/pack/sessions/{sid_}/confirm")
    assert again.status_code == 200 and again.get_json()["shipment"]["id"] == ship["id"]
    assert again.get_json()["label_job"]["id"] == done["label_job"]["id"]
    station = call(floor, "get", "/api/v1/pack/stations/pack-1").get_json()
    assert station["session"] is None and station["last_confirmed"]["id"] == sid_
    assert station["last_confirmed"]["shipment"]["tracking"] == ship["tracking"]
    jobs = sql(floor, "SELECT id, kind, state, zpl FROM print_job")
    assert len(jobs) == 1 and jobs[0][0] == done["label_job"]["id"] and jobs[0][1] == "label"
    assert ship["tracking"] in jobs[0][3] and ship["sscc"] in jobs[0][3]
    assert f"job {jobs[0][0]}" in jobs[0][3]
    # the stock left: on hand and reserved both down by what was packed
    stock = dict(sql(floor, "SELECT p.sku, s.on_hand - 20 + s.reserved FROM stock s "
                            "JOIN product p ON p.id = s.product_id"))
    assert stock["SOCK"] == -2 + 0 and stock["MUG"] == -1
    assert sql(floor, "SELECT COUNT(*) FROM allocation a JOIN order_line ol ON "
                      "ol.id = a.order_line_id WHERE ol.order_id = ?", (a,))[0][0] == 0
    scans = sql(floor, "SELECT verdict, counted FROM pack_scan ORDER BY id")
    assert [v for v, _ in scans] == ["wrong_item", "not_in_order", "unknown_barcode",
                                     "unknown_barcode", "expired_lot", "ok", "ok", "over_pack",
                                     "ok"]
    assert sum(c for _, c in scans) == 3


def test_replayed_scans_count_once_and_answer_the_same(floor):
    picked(floor, ("A-1", (("SOCK", 2),)))
    s = open_(floor, "A-1").get_json()
    scan_id = sid()
    first = pscan(floor, s["id"], GTIN["SOCK"], scan_id)
    again = pscan(floor, s["id"], GTIN["SOCK"], scan_id)
    assert again == first and first["line"]["verified"] == 1
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/scan",
             json={"scan_id": scan_id, "raw": GTIN["MUG"]})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "scan_id_conflict"
    assert sql(floor, "SELECT COUNT(*) FROM pack_unit")[0][0] == 1


@pytest.mark.parametrize("body, field", [
    ({"raw": "x"}, None), ({"scan_id": "short", "raw": "x"}, "scan_id"),
    ({"scan_id": "a" * 20, "raw": ""}, "raw"), ({"scan_id": "a" * 20, "raw": 5}, "raw"),
    ({"scan_id": "a" * 20, "raw": "x", "extra": 1}, None),
    ({"scan_id": "a" * 20, "raw": "x", "scanned_at": "yesterday"}, "scanned_at"),
])
def test_bad_scans_are_refused_and_change_nothing(floor, body, field):
    picked(floor, ("A-1", (("SOCK", 1),)))
    s = open_(floor, "A-1").get_json()
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/scan", json=body)
    assert 400 <= r.status_code < 500, r.get_json()
    assert "error" in r.get_json()
    if field:
        assert r.get_json()["error"]["field"] == field
    assert sql(floor, "SELECT COUNT(*) FROM pack_scan")[0][0] == 0


def test_opening_rules(floor):
    (a,) = picked(floor, ("A-1", (("SOCK", 1),)))
    floor.order("N-1", (("MUG", 1),))                     # ready, not picked
    r = open_(floor, "N-1")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "not_picked"
    r = open_(floor, "NOPE-9")
    assert r.status_code == 404
    r = open_(floor, "A-1", station="nowhere")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "unknown_station"
    r = open_(floor, "A-1", station="pack-rtm")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "wrong_warehouse"
    first = open_(floor, f"#{a}")
    assert first.status_code == 201
    again = open_(floor, "A-1")                           # the same packer reopens it
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    other = open_(floor, "A-1", station="pack-2")
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "already_packing"
    r = call(floor, "post", "/api/v1/pack/sessions", "p1", json={"station": "pack-1",
                                                                 "scan": "A-1"})
    assert r.status_code == 403                          # a picker cannot pack
    assert sql(floor, "SELECT COUNT(*) FROM pack_session")[0][0] == 1


def test_opening_by_tote_barcode(db_url, tmp_path):
    app = make_app(db_url, picking={**PICK_CFG, "require_tote_scan": True},
                   printers={"label-1": {"url": f"file://{tmp_path}/l.zpl"}},
                   stations={"pack-1": {"warehouse": "main", "printer": "label-1"}})
    floor = build_floor(app)
    floor.order("T-1", (("SOCK", 1),))
    floor.wave(totes=2)
    hh = floor.socket("p1")
    got = hh.emit("task.next", {}, namespace="/handheld", callback=True)
    bound = hh.emit("tote.scan", {"scan_id": sid(), "raw": "TOTE-0042"}, namespace="/handheld",
                    callback=True)
    assert bound["ok"], bound
    task = got["task"]
    for raw in (task["location"], GTIN["SOCK"]):
        assert hh.emit("scan", {"scan_id": sid(), "raw": raw}, namespace="/handheld",
                       callback=True)["verdict"] == "ok"
    r = open_(floor, "TOTE-0042")
    assert r.status_code == 201 and r.get_json()["order"]["ref"] == "T-1"


def test_quality_checks_and_holds(floor):
    sql_write(floor, "UPDATE product SET flags = 'fragile,check_damage,serial' WHERE sku = 'MUG'")
    picked(floor, ("A-1", (("MUG", 2),)))
    s = open_(floor, "A-1").get_json()
    assert s["lines"][0]["checks"] == ["check_damage", "serial"]
    assert {i["code"] for i in s["instructions"]} >= {"bubble_wrap", "mark_fragile"}
    v = pscan(floor, s["id"], GTIN["MUG"])
    assert v["ok"] and v["qc"]["checks"] == ["check_damage", "serial"]
    # the next unit waits until this one's check is answered
    assert pscan(floor, s["id"], GTIN["MUG"])["verdict"] == "qc_pending"
    unit = v["qc"]["unit"]
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/qc",
             json={"unit": unit, "passed": True})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "serial_required"
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/qc",
             json={"unit": unit, "passed": True, "serial": "SN-001"})
    assert r.status_code == 200 and r.get_json()["pending_qc"] == []
    # a GS1 barcode with a serial (AI 21) answers the serial check itself
    v = pscan(floor, s["id"], f"]C101{GTIN['MUG'].rjust(14, '0')}21SN-002")
    assert v["ok"] and v["qc"]["checks"] == ["check_damage"]
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/qc",
             json={"unit": v["qc"]["unit"], "passed": False, "note": "cracked"})
    held = r.get_json()
    assert held["state"] == "held" and "cracked" in held["hold_reason"]
    assert held["lines"][0]["verified"] == 1                 # the damaged unit does not count
    assert pscan(floor, s["id"], GTIN["MUG"])["verdict"] == "on_hold"
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/confirm")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "on_hold"
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/release", json={})
    assert r.status_code == 403                               # packers cannot release
    assert sql(floor, "SELECT type, state FROM wms_exception") == [("pack_check_failed", "open")]
    raised(floor.app, "pack_check_failed", "order")
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/release", "s1",
             json={"note": "replaced from stock"})
    assert r.status_code == 200 and r.get_json()["state"] == "open"
    assert sql(floor, "SELECT state FROM wms_exception") == [("resolved",)]
    serials = sql(floor, "SELECT serial, qc_state FROM pack_unit ORDER BY id")
    assert serials == [("SN-001", "passed"), ("SN-002", "failed")]


def sql_write(floor, statement, params=()):
    from server.store.db import db, execute, write_tx
    with floor.app.app_context(), db.connection_context(), write_tx():
        execute(statement, params)


def test_too_many_wrong_items_hold_the_order(floor):
    picked(floor, ("A-1", (("SOCK", 1),)))
    s = open_(floor, "A-1").get_json()
    for _ in range(2):
        assert pscan(floor, s["id"], UNSTOCKED[1])["session"]["state"] == "open"
    v = pscan(floor, s["id"], UNSTOCKED[1])
    assert v["verdict"] == "not_in_order" and v["session"]["state"] == "held"
    raised(floor.app, "pack_wrong_items", "order", ref="A-1")
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/release", "s1", json={})
    assert r.get_json()["state"] == "open" and r.get_json()["wrong_scans"] == 0
    assert raised(floor.app, "pack_wrong_items", "order", ref="A-1",
                  state="resolved")["resolution"] == "released"


def test_weight_outside_the_tolerance_holds(floor):
    picked(floor, ("A-1", (("SOCK", 2),)))
    s = open_(floor, "A-1").get_json()
    expected = s["weight"]["expected_g"]
    assert expected == 2 * 100 + s["carton"]["tare_g"]         # default weight + tare
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/weight",
             json={"grams": expected + 10})
    assert r.get_json()["weight"]["ok"] is True and r.get_json()["state"] == "open"
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/weight",
             json={"grams": expected * 2})
    assert r.get_json()["weight"]["ok"] is False and r.get_json()["state"] == "held"
    raised(floor.app, "pack_weight", "order", ref="A-1")
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/weight", json={"grams": 0})
    assert r.status_code == 422


def test_carton_choice_and_manual_hold_and_cancel(floor):
    picked(floor, ("A-1", (("CAP", 1),)))
    s = open_(floor, "A-1").get_json()
    assert s["carton"]["suggested"] == "S"
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/carton", json={"carton": "L"})
    assert r.get_json()["carton"]["name"] == "L" and r.get_json()["carton"]["chosen"] == "L"
    assert r.get_json()["carton"]["options"] == ["XS", "S", "M", "L"]
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/carton", json={"carton": "XXL"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "unknown_carton"
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/hold", json={"reason": "torn"})
    assert r.get_json()["state"] == "held"
    raised(floor.app, "pack_hold", "order", ref="A-1")
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/cancel")
    assert r.get_json()["state"] == "cancelled"
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/scan",
             json={"scan_id": sid(), "raw": GTIN["CAP"]})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "session_cancelled"
    assert open_(floor, "A-1").status_code == 201             # packed again from the start


def test_a_chosen_carton_is_held_to_its_weight_limit_and_warned_when_tight(floor):
    picked(floor, ("A-1", (("CAP", 1),)))
    s = open_(floor, "A-1").get_json()
    assert s["carton"]["suggested"] == "S" and s["carton"]["warning"] is None
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/carton", json={"carton": "XS"})
    assert r.status_code == 200 and r.get_json()["carton"]["chosen"] == "XS"
    assert "no room" in r.get_json()["carton"]["warning"]       # the planner said S
    sql_write(floor, "UPDATE product SET weight_g = 4900 WHERE sku = 'CAP'")
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/carton", json={"carton": "S"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "carton_too_heavy"
    assert r.get_json()["error"]["detail"] == {"gross_g": 4900 + 160, "max_weight_g": 5000}
    s = call(floor, "get", f"/api/v1/pack/sessions/{s['id']}").get_json()
    assert s["carton"]["chosen"] == "XS"                          # refused: nothing changed
    assert sql(floor, "SELECT COUNT(*) FROM audit WHERE action = 'pack.carton'") == [(1,)]
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/carton", json={"carton": "M"})
    assert r.status_code == 200 and r.get_json()["carton"]["warning"] is None


def test_dispatch_ships_the_order_once_its_label_printed(floor):
    from server.jobs import print_worker
    (a,) = picked(floor, ("A-1", (("SOCK", 1),)))
    s = open_(floor, "A-1").get_json()
    pscan(floor, s["id"], GTIN["SOCK"])
    done = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/confirm").get_json()
    ship = done["shipment"]
    r = call(floor, "post", "/api/v1/shipments/dispatch", json={"raw": ship["tracking"]})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "label_not_printed"
    from server.store.db import db
    with floor.app.app_context(), db.connection_context():
        print_worker.run_round(f"file://{floor.labels}")
    assert floor.labels.read_text().count(ship["tracking"]) == 1
    r = call(floor, "post", "/api/v1/shipments/dispatch", json={"raw": ship["sscc"]})
    assert r.status_code == 200 and r.get_json()["state"] == "shipped"
    assert floor.order_json(a)["status"] == "shipped"
    r = call(floor, "post", f"/api/v1/shipments/{ship['id']}/dispatch")
    assert r.status_code == 200 and r.get_json()["shipped_at"] == r.get_json()["shipped_at"]
    r = call(floor, "post", "/api/v1/shipments/dispatch", json={"raw": "RR999999999GB"})
    assert r.status_code == 404


def test_tracking_numbers_and_ssccs_are_never_given_twice(floor):
    picked(floor, *[(f"A-{i}", (("SOCK", 1),)) for i in range(3)])
    seen = set()
    for i in range(3):
        s = open_(floor, f"A-{i}").get_json()
        pscan(floor, s["id"], GTIN["SOCK"])
        ship = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/confirm").get_json()[
            "shipment"]
        seen.add(ship["tracking"])
        seen.add(ship["sscc"])
    assert len(seen) == 6
    assert sql(floor, "SELECT name, last_serial FROM number_range ORDER BY name") == [
        ("sscc", 3), ("tracking:royal-mail", 10000002)]


def test_stations_show_their_printer(floor):
    r = call(floor, "get", "/api/v1/pack/stations")
    names = [st["station"] for st in r.get_json()["stations"]]
    assert names == ["pack-1", "pack-2", "pack-rtm"]
    r = call(floor, "get", "/api/v1/pack/stations/pack-1")
    body = r.get_json()
    assert body["printer"]["name"] == "label-1" and body["session"] is None


def test_dispatch_queues_one_fulfilment_for_the_storefront(floor):
    from server.jobs import print_worker
    from server.store.db import db
    sql_write(floor, "UPDATE channel SET callback_url = 'http://127.0.0.1:9/hook', "
                     "secret = 'shh' WHERE name = 'api'")
    picked(floor, ("A-1", (("SOCK", 1),)))
    s = open_(floor, "A-1").get_json()
    pscan(floor, s["id"], GTIN["SOCK"])
    ship = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/confirm").get_json()["shipment"]
    with floor.app.app_context(), db.connection_context():
        print_worker.run_round(f"file://{floor.labels}")
    assert sql(floor, "SELECT COUNT(*) FROM outbox")[0][0] == 0      # not before it ships
    for _ in range(2):
        r = call(floor, "post", f"/api/v1/shipments/{ship['id']}/dispatch")
        assert r.status_code == 200
    rows = sql(floor, "SELECT shipment_id, state FROM outbox")
    assert rows == [(ship["id"], "pending")]
    listed = call(floor, "get", "/api/v1/outbox", "s1").get_json()
    assert [o["shipment_id"] for o in listed["outbox"]] == [ship["id"]]


def test_inserts_invoice_and_returns_slip(db_url, tmp_path):
    import subprocess
    import time
    app = make_app(db_url, picking=PICK_CFG,
                   printers={"label-1": {"url": f"file://{tmp_path}/l.zpl"}},
                   stations={"pack-1": {"warehouse": "main", "printer": "label-1",
                                        "document_printer": "no-such-queue"}})
    floor = build_floor(app)
    floor.order("HOME-1", (("SOCK", 1),), invoice_requested=True)
    sql_write(floor, "UPDATE product SET hs_code = '691200', origin_country = 'GB' "
                     "WHERE sku = 'MUG'")            # GB → DE leaves the customs area
    floor.order("ABROAD-1", (("MUG", 1),), country="DE")
    floor.wave(totes=4)
    floor.pick_all()
    home = open_(floor, "HOME-1").get_json()
    assert "invoice" in home["inserts"] and "returns_slip" not in home["inserts"]
    r = call(floor, "get", f"/api/v1/pack/sessions/{home['id']}/documents/invoice.pdf")
    assert r.status_code == 200 and r.data.startswith(b"%PDF-")
    text = subprocess.run(["pdftotext", "-", "-"], input=r.data, capture_output=True,
                          check=True).stdout.decode()
    assert "HOME-1" in text and "SOCK" in text and "INV-" in text
    r = call(floor, "get", f"/api/v1/pack/sessions/{home['id']}/documents/packing_slip.pdf")
    assert r.status_code == 200 and b"%PDF-" in r.data[:8]
    r = call(floor, "get", f"/api/v1/pack/sessions/{home['id']}/documents/menu.pdf")
    assert r.status_code == 404
    pscan(floor, home["id"], GTIN["SOCK"])
    call(floor, "post", f"/api/v1/pack/sessions/{home['id']}/confirm")
    call(floor, "post", f"/api/v1/pack/sessions/{home['id']}/cancel")   # already confirmed
    abroad = open_(floor, "ABROAD-1").get_json()
    assert {"invoice", "returns_slip"} <= set(abroad["inserts"])       # to DE from GB
    pscan(floor, abroad["id"], GTIN["MUG"])
    done = call(floor, "post", f"/api/v1/pack/sessions/{abroad['id']}/confirm").get_json()
    jobs = sql(floor, "SELECT kind, zpl FROM print_job WHERE reference = 'order:ABROAD-1' "
                      "ORDER BY id")
    assert [k for k, _ in jobs] == ["label", "returns"]
    assert f"R{done['shipment']['id']}" in jobs[1][1]
    assert "CUSTOMS CN22" in jobs[0][1] and "HS 691200 GB x1" in jobs[0][1]
    # the document printer does not exist: each document opens an exception, the label is kept
    deadline = time.monotonic() + 90     # five lp runs on a loaded machine
    while time.monotonic() < deadline:
        failed = sql(floor, "SELECT COUNT(*) FROM wms_exception WHERE type = "
                            "'document_print_failed'")[0][0]
        if failed >= 5:       # HOME-1: slip + invoice; ABROAD-1: slip + invoice + customs
            break
        time.sleep(0.2)
    assert failed == 5
    raised(floor.app, "document_print_failed", "order")


def test_an_order_cancelled_while_packing_is_not_shipped(floor):
    (a,) = picked(floor, ("A-1", (("SOCK", 1),)))
    s = open_(floor, "A-1").get_json()
    pscan(floor, s["id"], GTIN["SOCK"])
    r = floor.api("post", f"/api/v1/orders/{a}/cancel", json={"reason": "customer"})
    assert r.status_code == 200, r.get_json()
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/confirm")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "order_cancelled"
    assert sql(floor, "SELECT COUNT(*) FROM shipment")[0][0] == 0
    assert sql(floor, "SELECT COUNT(*) FROM print_job")[0][0] == 0


def test_an_order_too_heavy_for_one_carton_ships_in_parcels(floor):
    from server.jobs import print_worker
    from server.store.db import db
    from server.services import outbox
    sql_write(floor, "UPDATE product SET weight_g = 9000 WHERE sku = 'SOCK'")
    sql_write(floor, "UPDATE channel SET callback_url = 'http://127.0.0.1:9/hook', "
                     "secret = 'shh' WHERE name = 'api'")
    # 36 kg by DPD (parcels up to 31.5 kg): L takes 30 kg
    a = floor.order("HEAVY-1", (("SOCK", 4),), shipping_method=("dpd",))
    floor.wave(totes=4)
    floor.pick_all()
    s = open_(floor, "HEAVY-1").get_json()
    parcels = s["carton"]["parcels"]
    assert [(p["carton"], p["units"]) for p in parcels] == [("L", {"SOCK": 3}),
                                                            ("M", {"SOCK": 1})]
    assert s["weight"]["expected_g"] == 4 * 9000 + 700 + 320        # both tares
    for _ in range(4):
        pscan(floor, s["id"], GTIN["SOCK"])
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/confirm")
    assert r.status_code == 201, r.get_json()
    ships = r.get_json()["shipments"]
    assert [(x["parcel"], x["parcels"], x["carton"]) for x in ships] == [(1, 2, "L"),
                                                                        (2, 2, "M")]
    assert len({x["tracking"] for x in ships}) == 2 and len({x["sscc"] for x in ships}) == 2
    labels = dict(sql(floor, "SELECT id, zpl FROM print_job WHERE kind = 'label'"))
    assert "1 / 2" in labels[ships[0]["label_job"]] and "2 / 2" in labels[ships[1]["label_job"]]
    assert sql(floor, "SELECT parcel_no FROM pack_unit ORDER BY id") == [(1,), (1,), (1,), (2,)]
    with floor.app.app_context(), db.connection_context():
        print_worker.run_round(f"file://{floor.labels}")
    call(floor, "post", f"/api/v1/shipments/{ships[0]['id']}/dispatch")
    assert floor.order_json(a)["status"] == "packed"                # one parcel still here
    call(floor, "post", f"/api/v1/shipments/{ships[1]['id']}/dispatch")
    assert floor.order_json(a)["status"] == "shipped"
    rows = sql(floor, "SELECT id FROM outbox ORDER BY shipment_id")
    with floor.app.app_context(), db.connection_context():
        told = [outbox.payload(r[0]) for r in rows]
    assert [[line["quantity"] for line in m["lines"]] for m in told] == [[3], [1]]
    assert [(m["parcel_no"], m["parcel_count"]) for m in told] == [(1, 2), (2, 2)]
