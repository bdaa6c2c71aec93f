"""Reports benchmark (issue W5, Speed): every GET /api/v1/reports/{name} over 1,000,000
scan rows and 100,000 orders on PostgreSQL, through the WSGI app in this process, over
the whole range the data covers (90 days, every warehouse and channel) and once per
channel. Target: each ≤ 500 ms. Baseline, in the same run and database: a bare
`SELECT COUNT(*)` over the scan rows (and over the orders), what reading the rows at all
costs.

The data is made for the bench only (the tests make theirs through the real code paths):
a busy floor's 90 days — orders from three channels with 1-4 lines, each line a pick task
scanned on a handheld (bin, units, now and then a wrong scan or a short pick), each order
packed (a wrong item now and then), its audit trail (received → … → shipped/delivered),
5 % returned, printer faults. Loaded with COPY with the triggers off, then counted into the
fact tables by migration 0023's own backfill (what a migrated database holds).

    python -m tests.bench.reports [--quick] [--scans N] [--orders N] [--sqlite]
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import random
import sys
import time

from .common import Row, connected, fresh_database, log, median, open_app, p99, pg_unreachable

TARGET = 0.500
DAYS = 90
START = dt.datetime(2026, 9, 8)          # naive UTC, as stored
CHANNELS = (("shop", "shopify", "GBP"), ("woo", "woocommerce", "EUR"), ("api", "native", "GBP"))
PAYMENTS = ("shopify_payments", "paypal", "card", "klarna", "")
REASONS = ("too small", "WRONG_ITEM", "damaged", "changed my mind", "")


def _migration():
    return importlib.import_module("server.store.migrations.0023_report_facts")


class Loader:
    """Rows for one table at a time, written with COPY (PostgreSQL) or executemany."""

    def __init__(self, db, kind: str):
        self.db, self.kind = db, kind

    def put(self, table: str, cols: tuple[str, ...], rows) -> None:
        if self.kind == "postgresql":
            conn = self.db.connection()
            with conn.cursor() as cur:
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
                    for r in rows:
                        cp.write_row(r)
        else:
            marks = ", ".join("?" * len(cols))
            self.db.execute_sql("BEGIN")
            self.db.cursor().executemany(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)
            self.db.execute_sql("COMMIT")


def generate(db, kind: str, n_orders: int, n_scans: int) -> dict:
    """The floor's 90 days; returns counts of what was made."""
    rnd = random.Random(5)
    load = Loader(db, kind)
    now = START + dt.timedelta(days=DAYS)
    if kind == "postgresql":
        db.execute_sql("SET session_replication_role = replica")   # no triggers, no FK checks
    else:
        for name in ("audit_order_stage", "scan_pick_stat", "pack_scan_pack_stat"):
            db.execute_sql(f"DROP TRIGGER {name}")
    load.put("channel", ("id", "name", "kind", "currency", "created_at"),
             [(i + 1, n, k, c, START) for i, (n, k, c) in enumerate(CHANNELS)])
    users = [(i, f"P{i:03d}", "picker") for i in range(1, 41)] + \
            [(i, f"K{i:03d}", "packer") for i in range(41, 51)]
    load.put("app_user", ("id", "badge", "name", "role", "pin_hash", "created_at"),
             [(i, b, f"User {b}", r, "x", START) for i, b, r in users])
    n_sku = 2000
    load.put("product", ("id", "sku", "name", "created_at"),
             [(i, f"SKU-{i:05d}", f"Product {i}", START) for i in range(1, n_sku + 1)])
    load.put("location", ("id", "warehouse_id", "code", "created_at"),
             [(i, 1, f"A-{i // 100:02d}-{i % 100:02d}-1", START) for i in range(1, n_sku + 1)])
    load.put("stock", ("id", "warehouse_id", "location_id", "product_id", "on_hand", "updated_at"),
             [(i, 1, i, i, rnd.randint(0, 400), now) for i in range(1, n_sku + 1)])
    # a line gets ~2.6 scans (bin, 1.6 units, a wrong one now and then) and an order ~2.17
    # lines: the scans of a task are repeated (re-scans) on average `repeat` times, with a
    # margin so that the table holds at least n_scans
    repeat = max(1.0, 1.05 * n_scans / (n_orders * 2.17 * 2.6))
    orders, lines, audit, waves, carts, totes, tasks = [], [], [], [], [], [], []
    scans, sessions, pscans, rets, rlines = [], [], [], [], []
    line_id = task_id = scan_id = pscan_id = audit_id = 0
    for oid in range(1, n_orders + 1):
        ch = rnd.randrange(3)
        placed = START + dt.timedelta(seconds=int(DAYS * 86400 * oid / (n_orders + 1)))
        ship_by = placed + dt.timedelta(hours=rnd.choice((4, 24, 48)))
        total = 0
        wave = (oid - 1) // 100 + 1
        if (oid - 1) % 100 == 0:
            waves.append((wave, 1, "done", 100, "bench", placed + dt.timedelta(minutes=10)))
            carts.append((wave, wave, 1, "done"))
        totes.append((oid, wave, (oid - 1) % 100 + 1, oid))
        picker = rnd.randint(1, 40)
        t = placed + dt.timedelta(minutes=20 + rnd.randint(0, 120))
        n_lines = rnd.choice((1, 1, 2, 2, 3, 4))
        sessions.append((oid, "pack-1", oid, rnd.randint(41, 50), "confirmed",
                         t + dt.timedelta(minutes=30), t + dt.timedelta(minutes=35)))
        my_lines = []
        for ln in range(1, n_lines + 1):
            line_id += 1
            task_id += 1
            pid = rnd.randint(1, n_sku)
            qty = rnd.choice((1, 1, 1, 2, 3))
            price = rnd.randint(300, 9000)
            total += qty * price
            my_lines.append((line_id, pid, qty))
            lines.append((line_id, oid, ln, f"SKU-{pid:05d}", pid, qty, price, qty * price))
            short = 1 if rnd.random() < 0.02 else 0
            tasks.append((task_id, wave, wave, oid, oid, line_id, pid, f"A-{pid // 100:02d}-"
                          f"{pid % 100:02d}-1", pid, f"SKU-{pid:05d}", ln, qty, qty - short,
                          short, "short" if short else "done", t))
            kinds = [("pick", "ok" if rnd.random() > 0.04 else "wrong_location", 0)]
            kinds += [("pick", "ok", 1)] * (qty - short)
            kinds += [("pick", "wrong_item", 0)] * (rnd.random() < 0.05)
            kinds += [("short", "short", 0)] * short
            kinds *= int(repeat) + (rnd.random() < repeat - int(repeat))
            for kind_, verdict, counted in kinds:
                scan_id += 1
                t += dt.timedelta(seconds=rnd.randint(5, 40))
                scans.append((scan_id, f"b{scan_id}", kind_, picker, "HH", task_id, wave, "x",
                              verdict, counted, "0" * 64, "{}", t))
        packed = t + dt.timedelta(minutes=30 + rnd.randint(0, 60))
        wrong = rnd.random() < 0.01
        for line, pid, qty in my_lines:
            for v, c in [("wrong_item", 0)] * wrong + [("ok", 1)] * qty:
                pscan_id += 1
                pscans.append((pscan_id, f"k{pscan_id}", oid, sessions[-1][3], "pack-1", "item",
                               "x", line, v, c, "0" * 64, "{}", packed))
        shipped = packed + dt.timedelta(hours=rnd.choice((1, 2, 6, 20)))
        delivered = shipped + dt.timedelta(days=rnd.choice((1, 2, 3)))
        orders.append((oid, ch + 1, str(oid), f"B-{oid}", "delivered" if delivered < now
                       else "shipped", 1, CHANNELS[ch][2], True, rnd.choice(PAYMENTS), placed,
                       f"c{rnd.randint(1, n_orders // 3)}@example.com", total, ship_by,
                       placed, packed))
        for action, after, at in (("order.received", "ready", placed),
                                  ("order.status", "waved", placed + dt.timedelta(minutes=10)),
                                  ("order.status", "picking", placed + dt.timedelta(minutes=20)),
                                  ("order.status", "picked", t),
                                  ("order.status", "packed", packed),
                                  ("order.status", "shipped", shipped),
                                  ("order.status", "delivered", delivered)):
            if at < now:
                audit_id += 1
                audit.append((audit_id, at, "bench", action, "order", str(oid), "", after, ""))
        if rnd.random() < 0.05:
            rid = len(rets) + 1
            rets.append((rid, f"RMA-{rid}", oid, ch + 1, "refund", "received", "bench",
                         delivered, delivered))
            line, pid, qty = my_lines[0]
            rlines.append((rid, rid, 1, line, f"SKU-{pid:05d}", pid, 1, rnd.choice(REASONS)))
    log(f"[{kind}] loading {len(orders):,} orders, {len(lines):,} lines, {len(scans):,} "
        f"scans, {len(pscans):,} pack scans, {len(audit):,} audit rows")
    load.put("sales_order", ("id", "channel_id", "external_id", "ref", "status", "warehouse_id",
                             "currency", "paid", "payment_method", "placed_at", "ship_email",
                             "total_minor", "ship_by", "created_at", "updated_at"), orders)
    load.put("order_line", ("id", "order_id", "line_no", "sku", "product_id", "quantity",
                            "unit_price_minor", "line_total_minor"), lines)
    load.put("wave", ("id", "warehouse_id", "status", "totes", "created_by", "created_at"), waves)
    load.put("cart", ("id", "wave_id", "seq", "status"), carts)
    load.put("tote", ("id", "cart_id", "slot", "order_id"), totes)
    load.put("pick_task", ("id", "wave_id", "cart_id", "tote_id", "order_id", "order_line_id",
                           "stock_id", "location_code", "product_id", "sku", "seq", "quantity",
                           "picked", "short", "status", "updated_at"), tasks)
    load.put("scan", ("id", "scan_id", "kind", "user_id", "device", "task_id", "cart_id", "raw",
                      "verdict", "counted", "request_hash", "response", "received_at"), scans)
    load.put("pack_session", ("id", "station", "order_id", "packer_id", "state", "created_at",
                              "updated_at"), sessions)
    load.put("pack_scan", ("id", "scan_id", "session_id", "user_id", "station", "kind", "raw",
                           "order_line_id", "verdict", "counted", "request_hash", "response",
                           "received_at"), pscans)
    load.put("audit", ("id", "at", "actor", "action", "entity", "entity_id", "before", "after",
                       "detail"), audit)
    load.put("return_request", ("id", "rma", "order_id", "channel_id", "kind", "status",
                                "created_by", "created_at", "updated_at"), rets)
    load.put("return_line", ("id", "return_id", "line_no", "order_line_id", "sku", "product_id",
                             "quantity", "reason"), rlines)
    faults = [(f"bench fault {i}", "printer_fault", "resolved", START + dt.timedelta(hours=7 * i),
               START + dt.timedelta(hours=7 * i, minutes=rnd.randint(2, 90)), "printer",
               rnd.choice(("label-1", "label-2")), START) for i in range(1, DAYS * 3)]
    load.put("wms_exception", ("message", "type", "state", "created_at", "resolved_at",
                               "subject_kind", "subject_ref", "updated_at"), faults)
    log(f"[{kind}] counting into the fact tables (migration 0023's backfill)")
    m = _migration()
    if kind == "postgresql":
        db.execute_sql("SET session_replication_role = DEFAULT")
        for table in ("channel", "app_user", "product", "location", "stock", "sales_order",
                      "order_line", "wave", "cart", "tote", "pick_task", "scan",
                      "pack_session", "pack_scan", "audit", "return_request", "return_line",
                      "wms_exception"):
            db.execute_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT MAX(id) FROM {table}))")
    with db.atomic():
        m.backfill(db, kind)
    if kind == "sqlite":
        m.create_triggers(db, kind)
    for table in ("sales_order", "order_line", "order_stage", "pick_stat", "pack_stat", "scan",
                  "pack_scan", "pack_session", "return_request", "return_line", "stock",
                  "product", "wms_exception"):
        db.execute_sql(f"ANALYZE {table}")     # this schema's tables, not the database's
    return {"orders": len(orders), "scans": len(scans), "pack scans": len(pscans)}


def _time(fn, repeats: int) -> list[float]:
    lat = []
    for i in range(repeats + 2):
        t0 = time.perf_counter()
        fn()
        if i >= 2:                       # two warm-up runs
            lat.append(time.perf_counter() - t0)
    return lat


def run(kind: str, n_orders: int, n_scans: int, repeats: int) -> tuple[list[Row], str]:
    from server.services import auth, reports
    from server.store.db import db
    with fresh_database(kind) as url:
        app = open_app(url, printers={"label-1": "file:///dev/null",
                                      "label-2": "file:///dev/null"},
                       reports={"timezone": "Europe/London"})
        with connected(app):
            t0 = time.perf_counter()
            made = generate(db, kind, n_orders, n_scans)
            load_s = time.perf_counter() - t0
            token = auth.create_token(role="supervisor")
            base_scan = _time(lambda: db.execute_sql("SELECT COUNT(*) FROM scan").fetchone(),
                              repeats)
            base_order = _time(lambda: db.execute_sql(
                "SELECT COUNT(*) FROM sales_order").fetchone(), repeats)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        last = (START + dt.timedelta(days=DAYS - 1)).date().isoformat()
        rows = [Row(f"baseline: SELECT COUNT(*) FROM scan ({made['scans']:,} rows)", kind,
                    n=repeats, median=median(base_scan), p99=p99(base_scan), unit="req"),
                Row(f"baseline: SELECT COUNT(*) FROM sales_order ({made['orders']:,})", kind,
                    n=repeats, median=median(base_order), p99=p99(base_order), unit="req")]
        worst = 0.0
        for name in reports.REPORTS:
            for label, qs in ((name, f"from={START.date().isoformat()}&to={last}"),
                              (f"{name} channel=woo",
                               f"from={START.date().isoformat()}&to={last}&channel=woo")):
                failed = []

                def get():
                    r = client.get(f"/api/v1/reports/{name}?{qs}", headers=headers)
                    if r.status_code != 200:
                        failed.append(r.status_code)
                lat = _time(get, repeats)
                if failed:
                    rows.append(Row(label, kind, verdict=f"FAIL: {failed[0]}"))
                    continue
                worst = max(worst, median(lat))
                rows.append(Row(label, kind, n=repeats, median=median(lat), p99=p99(lat),
                                ratio=f"{median(lat) / median(base_scan):.1f}×", unit="req",
                                target="≤ 500 ms",
                                verdict="ok" if median(lat) <= TARGET else "below target"))
        note = (f"[{kind}] {made['orders']:,} orders, {made['scans']:,} scans, "
                f"{made['pack scans']:,} pack scans over {DAYS} days, generated and loaded in "
                f"{load_s:.0f} s; slowest report median {worst * 1000:.0f} ms")
        return rows, note


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.reports")
    p.add_argument("--quick", action="store_true", help="100,000 scans, 10,000 orders")
    p.add_argument("--orders", type=int, default=None)
    p.add_argument("--scans", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--sqlite", action="store_true", help="SQLite too (not a target)")
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = p.parse_args(argv)
    n_orders = args.orders or (10_000 if args.quick else 100_000)
    n_scans = args.scans or (100_000 if args.quick else 1_000_000)
    repeats = args.repeats or (5 if args.quick else 10)
    started = time.perf_counter()
    from .run import _load
    load = _load()
    skip = "--no-pg given" if args.no_pg else pg_unreachable()
    rows: list[Row] = []
    notes = [f"GET /api/v1/reports/NAME through the WSGI app in this process, {repeats} "
             "requests each after 2 warm-up, whole range (90 days), then channel=woo; ratio: "
             "median over the bare COUNT(*) over the scan rows in the same run"]
    kinds = (["sqlite"] if args.sqlite or args.no_pg else []) + ["postgresql"]
    for kind in kinds:
        if kind == "postgresql" and skip:
            rows.append(Row.skipped("reports", kind, skip, "≤ 500 ms"))
            continue
        got, note = run(kind, n_orders, n_scans, repeats)
        rows += got
        notes.append(note)
    from .common import report
    report("wavepack reports bench", "tests.bench.reports", rows, notes, argv,
           time.perf_counter() - started, load)
    return 1 if any(r.verdict.startswith("FAIL") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
