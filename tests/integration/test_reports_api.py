"""GET /api/v1/reports/{name} on SQLite and PostgreSQL, over orders that went through the
real floor (intake, wave, handheld picking, packing, label, dispatch, a return): the
figures hand-computed from what the test did, local days per warehouse time zone, CSV
(quoting, formula-safe cells), refusals (roles, unknown names, bad ranges: 422 naming the
field) and W4's /api/v1/reports/exceptions still answering beside them."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from ..conftest import make_app
from ..floor import PICK_CFG, PRODUCTS, STATIONS, build_floor, sid
from ..factories import draft

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC)      # a Monday; London is on UTC in winter
GTIN = {sku: g for sku, g, _, _ in PRODUCTS}
BIN = {sku: b for sku, _, b, _ in PRODUCTS}
MIN = dt.timedelta(minutes=1)


@pytest.fixture
def shop(db_url, tmp_path):
    """Two orders through the floor, timed by a clock the test moves:
    A-1 (SOCK ×2, MUG ×1, card, ship-by T0+1h: late): its first pick scan is a wrong bin,
    a wrong item is scanned at packing; B-1 (TEE ×1, paypal, ship-by tomorrow: on time).
    Received T0, waved T0+10', picked by T0+30', packed T0+45' / +50', shipped T0+11h
    (20:00 UTC: the 8th in Shanghai)."""
    from server import clock
    now = [T0]
    clock.set_clock(lambda: now[0])
    labels = tmp_path / "labels.zpl"
    app = make_app(db_url, picking=PICK_CFG, printers={"label-1": {"url": f"file://{labels}"}},
                   stations=STATIONS,
                   reports={"timezone": "Europe/London",
                            "warehouses": {"main": "Asia/Shanghai"}})
    floor = build_floor(app)
    floor.now = now
    a = floor.order("A-1", (("SOCK", 2), ("MUG", 1)), placed_at=T0, payment_method="card",
                    ship_by=T0 + dt.timedelta(hours=1))
    b = floor.order("B-1", (("TEE", 1),), placed_at=T0, payment_method="PayPal",
                    ship_by=T0 + dt.timedelta(days=1))
    now[0] = T0 + 10 * MIN
    floor.wave(totes=4)
    now[0] = T0 + 20 * MIN
    hh = floor.socket("p1")
    task = hh.emit("task.next", {}, namespace="/handheld", callback=True)["task"]
    wrong_bin = next(b for s, b in BIN.items() if b != task["location"])
    got = hh.emit("scan", {"scan_id": sid(), "raw": wrong_bin}, namespace="/handheld",
                  callback=True)
    assert got["verdict"] == "wrong_location", got
    hh.disconnect(namespace="/handheld")
    now[0] = T0 + 30 * MIN
    assert floor.pick_all() == 4
    for ref, at, wrong in (("A-1", 45, True), ("B-1", 50, False)):
        now[0] = T0 + at * MIN
        s = _post(floor, "/api/v1/pack/sessions", json={"station": "pack-1", "scan": ref})
        if wrong:
            assert _pack_scan(floor, s["id"], GTIN["TEE"]) == "wrong_item"
        for sku, n in {"A-1": (("SOCK", 2), ("MUG", 1)), "B-1": (("TEE", 1),)}[ref]:
            for _ in range(n):
                assert _pack_scan(floor, s["id"], GTIN[sku]) == "ok"
        _post(floor, f"/api/v1/pack/sessions/{s['id']}/confirm")
    from server.jobs import print_worker
    from server.store.db import db
    with floor.app.app_context(), db.connection_context():
        print_worker.run_round(f"file://{labels}")
    now[0] = T0 + dt.timedelta(hours=11)
    for ship in _rows(floor, "SELECT tracking FROM shipment ORDER BY id"):
        _post(floor, "/api/v1/shipments/dispatch", json={"raw": ship[0]})
    floor.ids = {"A-1": a, "B-1": b}
    yield floor
    clock.set_clock(None)


def _post(floor, path, **kw) -> dict:
    r = floor.api("post", path, floor.tokens["k1"], **kw)
    assert r.status_code in (200, 201), r.get_json()
    return r.get_json()


def _pack_scan(floor, session_id, raw) -> str:
    return _post(floor, f"/api/v1/pack/sessions/{session_id}/scan",
                 json={"scan_id": sid(), "raw": raw})["verdict"]


def _rows(floor, statement, params=()):
    from server.store.db import db, execute
    with floor.app.app_context(), db.connection_context():
        return [tuple(r) for r in execute(statement, params).fetchall()]


def report(floor, name, qs="from=2026-12-07&to=2026-12-08", token=None, status=200):
    r = floor.api("get", f"/api/v1/reports/{name}?{qs}", token)
    assert r.status_code == status, r.get_json()
    return r.get_json()


def test_the_kpis_of_two_orders_through_the_floor(shop):
    acc = report(shop, "order-accuracy")
    assert acc["summary"] == {"shipped": 2, "accurate": 1, "accuracy": 0.5,
                              "wrong_at_packing": 1, "wrong_item_returns": 0}
    assert acc["timezone"] == "Europe/London" and acc["kind"] == "kpi"
    assert acc["tables"]["by_day"]["rows"] == [["2026-12-07", 2, 1, 0.5, 1, 0]]
    assert report(shop, "on-time")["summary"] == {
        "promised": 2, "on_time": 1, "on_time_rate": 0.5, "late": 1, "without_promise": 0}
    # three pick tasks; the first's first scan was the wrong bin
    assert report(shop, "pick-accuracy")["summary"] == {
        "tasks": 3, "first_scan_ok": 2, "pick_accuracy": round(2 / 3, 4)}
    assert report(shop, "short-picks")["summary"] == {"tasks": 3, "shorts": 0,
                                                       "short_rate": 0.0}
    pickers = report(shop, "pickers")
    [p1] = pickers["tables"]["by_picker"]["rows"]
    # p1: 3 lines; 1 + (3 bins + 4 units) scans, 1 error; active in the 09:15 and 09:30
    # quarter hours (the wrong bin at 09:20, the rest at 09:30)
    assert p1 == ["p1", "User p1", 3, 0.5, 6.0, 8, 1, 0.125]
    [k1] = report(shop, "packers")["tables"]["by_packer"]["rows"]
    # k1: 3 lines verified, 5 scans (1 wrong item), all in the 09:45 quarter hour
    assert k1 == ["k1", "User k1", 3, 0.25, 12.0, 5, 1, 0.2]
    stages = report(shop, "cycle-time")["summary"]["stages"]
    assert stages["received_to_reserved"]["median_seconds"] == 0
    assert stages["reserved_to_waved"] == {"orders": 2, "median_seconds": 600,
                                           "p90_seconds": 600}
    assert stages["waved_to_picked"]["median_seconds"] == 1200
    assert stages["picked_to_packed"] == {"orders": 2, "median_seconds": 900,
                                          "p90_seconds": 1200}
    assert stages["packed_to_shipped"]["orders"] == 2
    assert stages["shipped_to_delivered"] == {"orders": 0, "median_seconds": None,
                                              "p90_seconds": None}
    assert report(shop, "cycle-time")["summary"]["bottleneck"] == "packed_to_shipped"
    turnover = {r[0]: r for r in report(shop, "inventory-turnover")["tables"]["by_sku"]["rows"]}
    # SOCK: 2 shipped, 18 left: average (20 + 18) / 2 = 19
    assert turnover["SOCK"][2:5] == [2, 18, round(2 / 19, 3)]
    uptime = report(shop, "printer-uptime")
    assert uptime["tables"]["by_printer"]["rows"] == [["label-1", 0, 0, 1.0]]


def test_the_analytics_of_two_orders(shop):
    trend = report(shop, "sales-trend")
    assert trend["tables"]["by_day"]["rows"] == [["2026-12-07", "api", "GBP", 2, 4, 4000]]
    assert trend["kind"] == "analytics"
    ranking = report(shop, "product-ranking")["tables"]["by_units"]["rows"]
    assert ranking[0] == ["SOCK", "Product SOCK", 2, 1]
    assert report(shop, "payment-methods")["tables"]["by_method"]["rows"] == [
        ["card", 1, 0.5], ["paypal", 1, 0.5]]
    freq = report(shop, "customer-frequency")["summary"]
    assert (freq["customers"], freq["orders"], freq["repeat_customers"]) == (2, 2, 0)
    heat = report(shop, "peak-hours")
    assert heat["tables"]["orders"]["rows"][0][1 + 9] == 2         # Monday 09h London
    assert heat["summary"]["peak_scans"]["hour"] == 9
    assert report(shop, "returns")["summary"] == {"sold": 4, "returned": 0, "return_rate": 0.0}


def test_a_wrong_item_return_spoils_the_orders_accuracy(shop):
    r = shop.api("post", "/api/v1/returns", json={
        "order": "B-1", "kind": "refund",
        "lines": [{"sku": "TEE", "quantity": 1, "reason": "WRONG_ITEM"}]})
    assert r.status_code == 201, r.get_json()
    acc = report(shop, "order-accuracy")["summary"]
    assert (acc["accurate"], acc["wrong_item_returns"]) == (0, 1)
    rets = report(shop, "returns")
    assert rets["tables"]["by_reason"]["rows"] == [["wrong item", 1, 1, 1.0]]
    assert rets["tables"]["by_product"]["rows"][0] == ["TEE", 1, 1, 1.0]


def test_days_are_the_warehouses_local_ones(shop):
    # shipped at 20:00 UTC: the 7th in London (the default), the 8th in Shanghai (main's)
    london = report(shop, "order-accuracy")
    assert [r[0] for r in london["tables"]["by_day"]["rows"]] == ["2026-12-07"]
    sh = report(shop, "order-accuracy", "from=2026-12-07&to=2026-12-08&warehouse=main")
    assert sh["timezone"] == "Asia/Shanghai" and sh["warehouse"] == "main"
    assert [r[0] for r in sh["tables"]["by_day"]["rows"]] == ["2026-12-08"]
    assert sh["from"] == "2026-12-06T16:00:00+00:00" and sh["to"] == "2026-12-08T16:00:00+00:00"
    # the range ends at local midnight: a day too early sees no shipment
    early = report(shop, "order-accuracy", "from=2026-12-07&to=2026-12-07&warehouse=main")
    assert early["summary"]["shipped"] == 0
    other = report(shop, "order-accuracy", "from=2026-12-07&to=2026-12-08&channel=api")
    assert other["summary"]["shipped"] == 2 and other["channel"] == "api"


def test_every_table_exports_as_csv_with_safe_cells(shop):
    shop.order("C-1", (("CAP", 1),), placed_at=T0, payment_method="=HYPERLINK(\"x\")")
    r = shop.api("get", "/api/v1/reports/payment-methods?from=2026-12-07&to=2026-12-07"
                        "&format=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert 'filename="payment-methods-by_method-2026-12-07-2026-12-08.csv"' in \
        r.headers["Content-Disposition"]
    text = r.get_data(as_text=True)
    assert text.startswith("\ufeff") and "\r\n" in text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["method", "orders", "share"]
    assert ["'=hyperlink(\"x\")", "1", "0.3333"] in rows
    assert '"\'=hyperlink(""x"")"' in text           # quoted, quotes doubled
    r = shop.app.test_client().get(
        "/api/v1/reports/payment-methods?table=by_channel",
        headers={"Authorization": f"Bearer {shop.supervisor}", "Accept": "text/csv"})
    assert r.status_code == 200 and r.get_data(as_text=True).lstrip("\ufeff").startswith(
        "method,channel,currency,orders,revenue_minor")
    for name in ("cycle-time", "peak-hours", "pickers"):
        body = report(shop, name)
        for table, t in body["tables"].items():
            r = shop.api("get", f"/api/v1/reports/{name}?format=csv&table={table}&"
                                "from=2026-12-07&to=2026-12-08")
            got = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
            assert got[0] == t["columns"] and len(got) == len(t["rows"]) + 1


BAD = [("from=2026-12-08&to=2026-12-07", "from"), ("from=2025-01-01&to=2026-12-07", "from"),
       ("from=yesterday", "from"), ("to=2026-13-01", "to"), ("warehouse=nowhere", "warehouse"),
       ("channel=nope", "channel"), ("format=xml", "format"), ("table=by_planet", "table")]


def test_bad_queries_are_422_naming_the_field(shop):
    for qs, field in BAD:
        body = report(shop, "order-accuracy", qs, status=422)
        assert body["error"]["field"] == field, (qs, body)


def test_who_may_read_reports(shop):
    body = report(shop, "no-such-report", status=422)
    assert body["error"]["field"] == "name" and "order-accuracy" in body["error"]["message"]
    for badge in ("p1", "k1"):
        report(shop, "order-accuracy", token=shop.tokens[badge], status=403)
    r = shop.app.test_client().get("/api/v1/reports/order-accuracy")
    assert r.status_code == 401
    # W4's exceptions report is still its own route
    r = shop.api("get", "/api/v1/reports/exceptions?from=2026-12-07&to=2026-12-08")
    assert r.status_code == 200 and "types" in r.get_json()


def test_the_defaults_are_the_last_30_local_days(shop):
    body = report(shop, "sales-trend", "")
    # the clock stands at 20:00 UTC on 7 Dec: today is the 7th in London
    assert body["from"] == "2026-11-08T00:00:00+00:00"
    assert body["to"] == "2026-12-08T00:00:00+00:00"
    assert body["summary"]["orders"] == 2


def test_the_triggers_count_what_the_backfill_counts(shop):
    """Migration 0023 counts existing rows in with backfill() and new ones with triggers:
    over the same floor both give the same fact tables."""
    import importlib

    from server.store.db import db, kind, write_tx
    m = importlib.import_module("server.store.migrations.0023_report_facts")
    tables = {"order_stage": "order_id", "pick_stat": "bucket, user_id, warehouse_id, channel_id",
              "pack_stat": "bucket, user_id, warehouse_id, channel_id"}

    def facts():
        return {t: _rows(shop, f"SELECT * FROM {t} ORDER BY {key}") for t, key in tables.items()}
    by_triggers = facts()
    assert len(by_triggers["order_stage"]) == 2 and by_triggers["pick_stat"]
    with shop.app.app_context(), db.connection_context():
        with write_tx():
            for t in tables:
                db.execute_sql(f"DELETE FROM {t}")
            m.backfill(db, kind())
    assert facts() == by_triggers
