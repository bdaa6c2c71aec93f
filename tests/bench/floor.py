"""Console floor benchmark: GET /api/v1/floor (the supervisors' floor snapshot, through the
WSGI app in this process) on a busy floor: thousands of orders in every state, dozens of
waves running with their carts, and a large scan table of which the last hour is read for
the pickers. Baseline: GET /healthz through the same app in the same run (one trivial
query), so the ratio says what the snapshot costs over a request that does nothing.
Target: p99 ≤ 100 ms (a console loads it on connect and at most every 1.5 s after pushes).

Orders and waves are made by the real services (intake, plan_wave, release); the scans
are bulk-inserted for the bench only (the tests make them through the handheld protocol).
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
import uuid

from .common import Row, connected, fresh_database, log, median, open_app, p99, pg_unreachable

TARGET_P99 = 0.100
SKUS = (("SOCK", "9506000210216", "A-03-02-1"), ("MUG", "9506000220017", "B-10-04-2"),
        ("TEE", "9506000210018", "D-20-01-1"), ("CAP", "9506000210414", "F-05-01-3"))
STATUSES = ("shipped", "shipped", "shipped", "delivered", "packed", "picked", "closed")


def _fill(orders: int, waves: int, scans: int, settings) -> None:
    from server import clock
    from server.domain.gtin import normalize_gtin
    from server.services import auth, channels, intake, stock, waves as wave_svc
    from server.services.channels import ref as channel_ref
    from server.store.bulk import insert_many
    from server.store.db import db, execute, write_tx
    from server.store.models import Channel
    from tests.factories import draft
    rnd = random.Random(5)
    now = clock.now()
    stock.upsert_products([stock.ProductSpec(sku=s, name=s, gtins=(normalize_gtin(g),))
                           for s, g, _ in SKUS], "bench")
    with write_tx():
        for sku, _, loc in SKUS:
            stock.change_stock("main", loc, sku, set_to=10_000_000, actor="bench", now=now,
                               reason="count")
    channels.add_channel("api", "native")
    ch = channel_ref(Channel.get(Channel.name == "api"))
    log(f"  {orders:,} orders")
    for start in range(0, orders, 2000):
        intake.import_orders(ch, [draft(f"FB-{i}", [(rnd.choice(SKUS)[0], rnd.randint(1, 3))])
                                  for i in range(start, min(orders, start + 2000))],
                             "bench", settings=settings)
    log(f"  {waves} waves of 40 orders")
    for _ in range(waves):
        w = wave_svc.plan_wave("main", 40, 8, "bench", settings=settings)
        wave_svc.release(w["id"], "bench")
    # most of the rest already went through the floor: shipped, delivered, closed…
    ready = [r[0] for r in execute("SELECT id FROM sales_order WHERE status = 'ready'")]
    done = rnd.sample(ready, int(len(ready) * 0.8))
    with write_tx():
        for i in range(0, len(done), 500):
            part = done[i:i + 500]
            execute(f"UPDATE sales_order SET status = ? WHERE id IN ({', '.join('?' * len(part))})",
                    (rnd.choice(STATUSES), *part))
    tasks = [tuple(r) for r in execute("SELECT id, cart_id FROM pick_task").fetchall()]
    pickers = [auth.add_user(f"P{i}", "picker", "1234") for i in range(60)]
    log(f"  {scans:,} scans over the last 8 hours")
    cols = ("scan_id", "kind", "user_id", "device", "task_id", "cart_id", "raw", "verdict",
            "counted", "request_hash", "response", "received_at")
    verdicts = ("ok",) * 18 + ("wrong_item", "unknown_barcode")
    base = clock.naive_utc(now)
    for start in range(0, scans, 10_000):
        rows = []
        for i in range(start, min(scans, start + 10_000)):
            task, cart = rnd.choice(tasks)
            v = rnd.choice(verdicts)
            rows.append((uuid.uuid4().hex, "pick", rnd.choice(pickers), "HH", task, cart, "x",
                         v, 1 if v == "ok" else 0, "0" * 64, "{}",
                         base - dt.timedelta(seconds=rnd.uniform(0, 8 * 3600))))
        with write_tx():
            insert_many("scan", cols, rows)
    if db.obj.__class__.__name__.startswith("Postgres"):
        db.execute_sql("ANALYZE")
    else:
        db.execute_sql("ANALYZE")


def _timed(client, path: str, headers: dict, repeats: int) -> list[float]:
    lat = []
    for i in range(repeats + 3):
        t0 = time.perf_counter()
        resp = client.get(path, headers=headers)
        if i >= 3:                       # warm-up
            lat.append(time.perf_counter() - t0)
        if resp.status_code != 200:
            raise AssertionError(f"{path}: {resp.status_code} {resp.get_data(as_text=True)[:200]}")
    return lat


def run(kind: str, orders: int, waves: int, scans: int, repeats: int, tmp: str) -> list[Row]:
    from server.services import auth
    with fresh_database(kind) as url:
        app = open_app(url, printers={"label-1": {"url": f"file://{tmp}/labels.zpl"}},
                       stations={"pack-1": {"warehouse": "main", "printer": "label-1"},
                                 "pack-2": {"warehouse": "main", "printer": "label-1"}})
        with connected(app):
            log(f"[{kind}] filling the floor")
            _fill(orders, waves, scans, app.config["WAVEPACK"])
            token = auth.create_token(role="supervisor")
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        base = _timed(client, "/healthz", {}, repeats)
        rows = [Row("baseline: GET /healthz", kind, n=repeats, median=median(base),
                    p99=p99(base), unit="req")]
        for label, path in (("GET /api/v1/floor?warehouse=main", "/api/v1/floor?warehouse=main"),
                            ("GET /api/v1/floor (all warehouses)", "/api/v1/floor")):
            lat = _timed(client, path, headers, repeats)
            worst = p99(lat)
            rows.append(Row(label, kind, n=repeats, median=median(lat), p99=worst,
                            ratio=f"{median(lat) / median(base):.1f}× baseline", unit="req",
                            target="p99 ≤ 100 ms",
                            verdict="ok" if worst <= TARGET_P99 else "below target"))
        return rows


def main(argv: list[str] | None = None) -> int:
    import tempfile
    p = argparse.ArgumentParser(prog="python -m tests.bench.floor")
    p.add_argument("--quick", action="store_true",
                   help="5,000 orders, 20 waves, 50,000 scans, 30 requests")
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = p.parse_args(argv)
    orders, waves, scans, repeats = ((5_000, 20, 50_000, 30) if args.quick
                                     else (20_000, 50, 300_000, 100))
    started = time.perf_counter()
    from .run import _load
    load = _load()
    skip = "--no-pg given" if args.no_pg else pg_unreachable()
    rows: list[Row] = []
    for kind in ("sqlite", "postgresql"):
        if kind == "postgresql" and skip:
            rows.append(Row.skipped("floor snapshot", kind, skip, "p99 ≤ 100 ms"))
            continue
        rows += run(kind, orders, waves, scans, repeats, tempfile.mkdtemp())
    from .common import report
    report("wavepack console floor bench", "tests.bench.floor", rows,
           [f"GET /api/v1/floor through the WSGI app in this process, {repeats} requests "
            f"after 3 warm-up; {orders:,} orders (intake) in every state, {waves} waves of "
            f"40 orders released, {scans:,} pick scans over the last 8 hours (bulk), 60 "
            "pickers, 2 packing stations"],
           argv, time.perf_counter() - started, load)
    return 1 if any(r.verdict.startswith("FAIL") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
