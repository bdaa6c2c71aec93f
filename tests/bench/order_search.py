"""Console order search and order timeline benchmark (issue 15 §1): GET
/api/v1/orders/search for each kind of key and GET /api/v1/orders/{id}/timeline through
the WSGI app, in-process, with 100,000 orders in the table (2 lines each, a parcel for half
of them, audit rows as intake, waves and packing write them).

Baseline, measured in the same run on the same rows: the naive search a console would
otherwise do, one query ORing `LIKE '%q%'` over ref, name, e-mail, phone, tracking and SKU
(no index can serve it). `ratio` = naive median / indexed median.

The rows are bulk-inserted for the bench only (the tests make orders by their real paths).
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time

from .common import Row, connected, fresh_database, log, median, open_app, p99, pg_unreachable

TARGET_P99 = 0.050
SKUS = [f"SKU-{i:04d}" for i in range(400)]
FIRST = ("Olivia", "Liam", "Emma", "Noah", "Mia", "Lucas", "Zoe", "Wang", "Li", "Chen")
LAST = ("Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Fang", "Wei", "Müller")


def _fill(n: int) -> dict:
    """n orders (+ lines, parcels, audit rows); the keys the queries look for."""
    from server import clock
    from server.store.bulk import insert_many
    from server.store.db import db, execute, write_tx
    rnd = random.Random(15)
    now = clock.naive_utc(clock.now())
    with write_tx():
        execute("INSERT INTO channel (name, kind, created_at) VALUES ('bench', 'native', ?)",
                (now,))
        channel = execute("SELECT id FROM channel WHERE name = 'bench'").fetchone()[0]
    ocols = ("channel_id", "external_id", "ref", "status", "currency", "placed_at",
             "ship_name", "ship_email", "ship_phone", "phone_key", "ship_country",
             "created_at", "updated_at")
    lcols = ("order_id", "line_no", "sku", "quantity")
    scols = ("order_id", "station", "carrier", "tracking", "sscc", "state", "created_by",
             "created_at")
    acols = ("at", "actor", "action", "entity", "entity_id", "before", "after", "detail")
    step = 5000
    for start in range(0, n, step):
        orders, lines, ships, trail = [], [], [], []
        for i in range(start, min(n, start + step)):
            oid = i + 1
            at = now - dt.timedelta(minutes=(n - i))
            name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
            phone = f"44770{i:07d}"
            orders.append((channel, f"E{i}", f"WEB-{100000 + i}", "shipped", "GBP", at, name,
                           f"cust{i}@example.com", "+" + phone, phone, "GB", at, at))
            for k in (1, 2):
                lines.append((oid, k, rnd.choice(SKUS), 1))
            if i % 2 == 0:
                ships.append((oid, "pack-1", "dhl", f"JD{i:014d}", f"{i:018d}", "shipped",
                              "bench", at))
            trail += [(at, "channel", "order.received", "order", str(oid), "", "ready", ""),
                      (at, "user:s1", "order.status", "order", str(oid), "ready", "waved", ""),
                      (at, "user:k1", "order.status", "order", str(oid), "picked", "packed", "")]
        with write_tx():
            insert_many("sales_order", ocols, orders)
            insert_many("order_line", lcols, lines)
            insert_many("shipment", scols, ships)
            insert_many("audit", acols, trail)
    if db.obj.__class__.__name__.startswith("Postgres"):
        for t in ("sales_order", "order_line", "shipment", "audit"):
            db.execute_sql(f"ANALYZE {t}")
    else:
        db.execute_sql("ANALYZE")
    mid = n // 2
    return {"ref": f"WEB-{100000 + mid}", "tracking": f"JD{mid:014d}",
            "email": f"cust{mid + 1}@example.com", "phone": f"+44 770{mid:07d}",
            "sku": SKUS[7], "name": "Wang F", "order": mid + 1}


def _naive(q: str, limit: int = 25) -> list[int]:
    """The baseline: one OR of substring matches over every searchable column."""
    from server.store.db import execute
    like = f"%{q.lower()}%"
    return [r[0] for r in execute(
        "SELECT o.id FROM sales_order o WHERE lower(o.ref) LIKE ? OR lower(o.ship_name) LIKE ? "
        "OR lower(o.ship_email) LIKE ? OR o.phone_key LIKE ? "
        "OR EXISTS (SELECT 1 FROM shipment s WHERE s.order_id = o.id AND lower(s.tracking) LIKE ?) "
        "OR EXISTS (SELECT 1 FROM order_line l WHERE l.order_id = o.id AND lower(l.sku) LIKE ?) "
        "ORDER BY o.id DESC LIMIT ?", (like, like, like, like, like, like, limit)).fetchall()]


def _time(fn, repeats: int) -> list[float]:
    lat = []
    for _ in range(repeats + 3):
        t0 = time.perf_counter()
        fn()
        lat.append(time.perf_counter() - t0)
    return lat[3:]


def run(kind: str, n: int, repeats: int) -> list[Row]:
    from server.domain.orders import phone_key
    from server.services import auth
    with fresh_database(kind) as url:
        app = open_app(url)
        with connected(app):
            log(f"[{kind}] inserting {n} orders")
            keys = _fill(n)
            token = auth.create_token(role="supervisor")
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        def get(path: str, **qs) -> dict:
            resp = client.get(path, headers=headers, query_string=qs)
            if resp.status_code != 200:
                raise RuntimeError(f"{path} {qs}: {resp.status_code} {resp.get_data()[:200]}")
            return resp.get_json()

        deep = get("/api/v1/orders/search", q=keys["sku"], limit=100)["orders"][-1]["id"] // 2
        cases = [("ref", {"q": keys["ref"]}, keys["ref"]),
                 ("tracking number", {"q": keys["tracking"]}, keys["tracking"]),
                 ("e-mail", {"q": keys["email"]}, keys["email"]),
                 ("phone", {"q": keys["phone"]}, phone_key(keys["phone"])),
                 ("name prefix", {"q": keys["name"]}, keys["name"]),
                 ("SKU, first page", {"q": keys["sku"]}, keys["sku"]),
                 ("SKU, cursor mid-table", {"q": keys["sku"], "cursor": str(deep)}, None)]
        rows, all_lat = [], []
        for label, qs, naive_q in cases:
            lat = _time(lambda qs=qs: get("/api/v1/orders/search", **qs), repeats)
            all_lat += lat
            ratio = ""
            if naive_q is not None:
                with connected(app):
                    base = _time(lambda q=naive_q: _naive(q), max(3, repeats // 10))
                ratio = f"{median(base) / median(lat):.0f}× faster than naive " \
                        f"({median(base) * 1000:.0f} ms)"
            rows.append(Row(f"search: {label}", kind, n=repeats, median=median(lat),
                            p99=p99(lat), ratio=ratio, unit="req"))
        lat = _time(lambda: get(f"/api/v1/orders/{keys['order']}/timeline"), repeats)
        rows.append(Row("timeline of one order", kind, n=repeats, median=median(lat),
                        p99=p99(lat), unit="req"))
        worst = p99(all_lat)
        rows.append(Row(f"all searches, {n:,} orders", kind, n=len(all_lat),
                        median=median(all_lat), p99=worst, rate=len(all_lat) / sum(all_lat),
                        unit="req/s", target="p99 ≤ 50 ms",
                        verdict="ok" if worst <= TARGET_P99 else "below target"))
        return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.order_search")
    p.add_argument("--quick", action="store_true", help="20,000 orders, 20 requests per query")
    p.add_argument("--orders", type=int, default=None, help="orders in the table")
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = p.parse_args(argv)
    n = args.orders or (20_000 if args.quick else 100_000)
    repeats = 20 if args.quick else 50
    started = time.perf_counter()
    from .run import _load
    load = _load()
    skip = "--no-pg given" if args.no_pg else pg_unreachable()
    rows: list[Row] = []
    for kind in ("sqlite", "postgresql"):
        if kind == "postgresql" and skip:
            rows.append(Row.skipped("order search", kind, skip, "p99 ≤ 50 ms"))
            continue
        rows += run(kind, n, repeats)
    from .common import report
    report("wavepack console order search bench", "tests.bench.order_search", rows,
           [f"GET /api/v1/orders/search (25 a page) and /timeline through the WSGI app in this "
            f"process, {repeats} requests per case after 3 warm-up; {n:,} orders bulk-inserted "
            "(2 lines each from 400 SKUs, a parcel for every other one, 3 audit rows each); "
            "ratio: the naive OR-of-LIKE query over the same rows, same run"],
           argv, time.perf_counter() - started, load)
    return 1 if any(r.verdict.startswith("FAIL") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
