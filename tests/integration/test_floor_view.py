"""The supervisors' floor view (GET /api/v1/floor) and the pushes the console hears besides
scans (order.status, wave.changed, exception.changed, printer.state), on SQLite and
PostgreSQL: the snapshot follows orders through the funnel, waves and carts through
their progress, pickers through their scans; pickers, packers and strangers are refused;
the landing page and GET /api/v1/about say what the server is."""
from __future__ import annotations

import datetime as dt

import pytest

from printers.status import PrinterOffline
from server import clock
from server.services import floor as floor_svc, printer_state
from server.store.db import db, execute

from ..floor import PRODUCTS, sid, station_floor
from .test_console import NS, _console, _received


@pytest.fixture
def floor(db_url, tmp_path):
    floor = station_floor(db_url, tmp_path)
    with floor.app.app_context(), db.connection_context():
        from server.services.setup import add_warehouse
        add_warehouse("rtm", "Rotterdam", "eu")
    yield floor
    clock.set_clock(None)


def _snap(floor, warehouse="main", token=None):
    r = floor.api("get", f"/api/v1/floor?warehouse={warehouse}" if warehouse
                  else "/api/v1/floor", token)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _funnel(snap) -> dict:
    return {f["status"]: f["count"] for f in snap["orders"]["funnel"]}


def test_the_floor_follows_orders_waves_and_pickers(floor):
    empty = _snap(floor)
    assert _funnel(empty)["ready"] == 0 and empty["waves"] == [] and empty["pickers"] == []
    assert [s["station"] for s in empty["stations"]] == ["pack-1", "pack-2"]
    assert empty["stations"][0]["printer"]["name"] == "label-1"
    sku, gtin = PRODUCTS[0][0], PRODUCTS[0][1]
    floor.order("F-1", [(sku, 2)])
    floor.order("F-2", [(sku, 1)])
    assert _funnel(_snap(floor))["ready"] == 2
    wave = floor.wave(totes=4)
    snap = _snap(floor)
    assert _funnel(snap)["waved"] == 2 and _funnel(snap)["ready"] == 0
    [w] = snap["waves"]
    assert (w["wave_id"], w["status"], w["units"], w["picked"], w["progress"]) == \
        (wave["id"], "released", 3, 0, 0.0)
    hh = floor.socket("p1")
    task = hh.emit("task.next", {}, namespace="/handheld", callback=True)["task"]
    for raw in (task["location"], gtin):
        ack = hh.emit("scan", {"scan_id": sid(), "raw": raw}, namespace="/handheld",
                      callback=True)
    assert ack["verdict"] == "ok", ack
    bad = hh.emit("scan", {"scan_id": sid(), "raw": "0000000000000"}, namespace="/handheld",
                  callback=True)
    assert bad["verdict"] != "ok"
    snap = _snap(floor)
    [w] = snap["waves"]
    assert w["status"] == "picking" and w["picked"] == 1 and w["carts"][0]["picker"]["badge"] == "p1"
    [p] = snap["pickers"]
    assert (p["badge"], p["location"], p["units"], p["errors"]) == ("p1", task["location"], 1, 1)
    assert p["verdicts"] == {bad["verdict"]: 1} and p["scans"] == 3
    assert _funnel(snap)["picking"] >= 1
    # another warehouse's floor is empty; all warehouses sees the same wave
    assert _snap(floor, "rtm")["waves"] == [] and len(_snap(floor, None)["waves"]) == 1
    assert [s["station"] for s in _snap(floor, "rtm")["stations"]] == ["pack-rtm"]


def test_backorders_and_ship_by_at_risk(floor):
    sku = PRODUCTS[0][0]
    floor.order("B-1", [(sku, 500)])               # more than the bins hold
    soon = clock.now() + dt.timedelta(hours=1)
    oid = floor.order("R-1", [(sku, 1)])
    with floor.app.app_context(), db.connection_context():
        execute("UPDATE sales_order SET ship_by = ? WHERE id = ?", (clock.naive_utc(soon), oid))
    snap = _snap(floor)
    assert snap["backorders"]["orders"] == 1
    assert snap["backorders"]["skus"][0]["sku"] == sku
    assert snap["orders"]["at_risk"]["count"] == 1
    assert snap["orders"]["at_risk"]["orders"][0]["ref"] == "R-1"


def test_only_supervisors_and_admins_see_the_floor(floor):
    for badge in ("p1", "k1"):
        r = floor.api("get", "/api/v1/floor", floor.tokens[badge])
        assert r.status_code == 403, r.get_json()
    r = floor.app.test_client().get("/api/v1/floor")
    assert r.status_code == 401
    r = floor.api("get", "/api/v1/floor?warehouse=nowhere")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "unknown_warehouse"
    r = floor.api("get", "/api/v1/floor?warehouse=" + "x" * 65)
    assert r.status_code == 400


def test_the_snapshot_is_a_fixed_number_of_statements(floor):
    """No query per wave, cart or picker: ten waves cost what one does."""
    sku = PRODUCTS[0][0]
    counted = []

    def statements(n_waves: int) -> int:
        for i in range(n_waves):
            floor.order(f"N-{n_waves}-{i}", [(sku, 1)])
            floor.wave(totes=1)
        with floor.app.app_context(), db.connection_context():
            target = db.obj
            real = target.execute_sql
            seen = []

            def spy(sql, *a, **kw):
                seen.append(sql)
                return real(sql, *a, **kw)
            target.execute_sql = spy
            try:
                floor_svc.snapshot("main", settings=floor.app.config["WAVEPACK"])
            finally:
                del target.execute_sql
        counted.append(len(seen))
        return len(seen)

    one = statements(1)
    assert one > 5 and statements(9) == one


def test_pushes_of_orders_waves_exceptions_and_printers(floor):
    watcher = _console(floor.app, floor.tokens["s1"])
    assert watcher.is_connected(NS)
    whoami = watcher.emit("whoami", callback=True, namespace=NS)
    assert {"order.status", "wave.changed", "exception.changed",
            "printer.state"} <= set(whoami["events"])
    oid = floor.order("P-1", [(PRODUCTS[0][0], 1)])
    received = _received(watcher, "order.status")
    assert any({"order_id": oid, "from": None, "to": "received"} in m["orders"]
               or {"order_id": oid, "from": "received", "to": "ready"} in m["orders"]
               for m in received), received
    wave = floor.wave(totes=1, release=False)
    moved = _received(watcher, "order.status")
    assert any({"order_id": oid, "from": "ready", "to": "waved"} in m["orders"] for m in moved)
    planned = _received(watcher, "wave.changed")
    assert any(w["wave_id"] == wave["id"] and w["to"] == "draft" for m in planned
               for w in m["waves"])
    floor.api("post", f"/api/v1/waves/{wave['id']}/release")
    released = _received(watcher, "wave.changed")
    assert any(w["wave_id"] == wave["id"] and w["to"] == "released" for m in released
               for w in m["waves"])
    # a scan that moves the order pushes its status with the scan's warehouse
    hh = floor.socket("p1")
    task = hh.emit("task.next", {}, namespace="/handheld", callback=True)["task"]
    claimed = _received(watcher, "wave.changed")
    assert any(c["to"] == "picking" for m in claimed for c in m["carts"])
    hh.emit("scan", {"scan_id": sid(), "raw": task["location"]}, namespace="/handheld",
            callback=True)
    ack = hh.emit("scan", {"scan_id": sid(), "raw": PRODUCTS[0][1]}, namespace="/handheld",
                  callback=True)
    assert ack["verdict"] == "ok", ack
    moves = _received(watcher, "order.status", want=1)
    assert any(m.get("warehouse") == "main" and {"order_id": oid, "from": "waved",
                                                 "to": "picking"} in m["orders"]
               for m in moves), moves
    # an exception worked on the queue
    with floor.app.app_context(), db.connection_context():
        from server.services import exceptions
        from server.store.db import write_tx
        with write_tx():
            eid = exceptions.open_exception("stock_discrepancy", "bin short", now=clock.now())
    opened = _received(watcher, "exception.changed")
    assert any(e["exception_id"] == eid and e["to"] == "open" for m in opened
               for e in m["exceptions"])
    r = floor.api("post", f"/api/v1/exceptions/{eid}/resolve", json={"resolution": "counted"})
    assert r.status_code == 200, r.get_json()
    closed = _received(watcher, "exception.changed")
    assert any(e["exception_id"] == eid and e["to"] == "resolved" for m in closed
               for e in m["exceptions"])
    # a printer's state: pushed when it changes, not on every status read
    with floor.app.app_context(), db.connection_context():
        printer_state.record("label-1", "tcp://x:9100", PrinterOffline("no answer"))
        printer_state.record("label-1", "tcp://x:9100", PrinterOffline("no answer"))
    [state] = _received(watcher, "printer.state", within_s=2, want=2)
    assert (state["printer"], state["state"], state["previous"]) == ("label-1", "offline", None)


def test_the_landing_page_and_about(floor):
    c = floor.app.test_client()
    r = c.get("/")
    assert r.status_code == 200 and b"/console/" in r.data and b"/home/home.js" in r.data
    assert c.get("/home/home.js").status_code == 200
    r = c.get("/console/")
    assert r.status_code == 200 and b"panels/floor.js" in r.data
    about = c.get("/api/v1/about").get_json()
    assert about["name"] == "wavepack" and about["demo"] is False and "logins" not in about
    assert {"name": "console", "path": "/console/"} in about["pages"]
    floor.app.extensions["wavepack.demo"] = True
    about = c.get("/api/v1/about").get_json()
    assert about["demo"] is True
    assert {"badge": "3001", "role": "supervisor", "pin": "3333",
            "name": "Sam Supervisor"} in about["logins"]
