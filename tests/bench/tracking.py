"""Tracking benchmark: carrier tracking events posted through the API in batches of 100
(carrier token, schema, set-at-a-time writes), and the delay/loss sweep over many
shipments (1,000,000 on PostgreSQL; bulk-created here, in the bench only).

Ingestion: S shipments, E events (each shipment gets events in order, some out of order),
POST /api/v1/tracking-events with 100 events per request through the WSGI app in process;
rate = events ÷ wall time, median/p99 per request. Baseline: the same events one per
request. Sweep: N travelling shipments of which Q went quiet long ago; the first sweep
flags the Q (an exception each), the second finds nothing (the index read alone).
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

from .common import Row, connected, fresh_database, log, median, open_app, p99, pg_unreachable

INGEST_MIN = 2000          # events/s, batches of 100, PostgreSQL
SWEEP_MAX_S = 2.0          # 1,000,000 shipments, PostgreSQL
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


def _orders(n_orders: int) -> None:
    from server.store.db import execute, write_tx
    at = NOW.replace(tzinfo=None)
    with write_tx():
        execute("INSERT INTO channel (name, kind, created_at) VALUES ('bench', 'native', ?)",
                (at,))
        cid = execute("SELECT id FROM channel WHERE name = 'bench'").fetchone()[0]
        from server.store.bulk import insert_many
        insert_many("sales_order", ("channel_id", "external_id", "ref", "status", "currency",
                                    "placed_at", "created_at", "updated_at"),
                    [(cid, f"B{i}", f"B{i}", "shipped", "GBP", at, at, at)
                     for i in range(n_orders)])


def _shipments(n: int, quiet: int, orders: int, *, since: dt.datetime) -> None:
    """n shipped shipments over `orders` orders; the first `quiet` went quiet 30 days ago."""
    from server.store.db import db, execute, is_postgres, write_tx
    old = (NOW - dt.timedelta(days=30)).replace(tzinfo=None)
    recent = since.replace(tzinfo=None)
    first = execute("SELECT MIN(id) FROM sales_order").fetchone()[0]
    with write_tx():
        if is_postgres():
            db.execute_sql(
                "INSERT INTO shipment (order_id, station, carrier, carrier_service, tracking, "
                "sscc, state, parcel_no, parcel_count, created_by, created_at, shipped_at, "
                "quiet_since) SELECT %s + (g %% %s), 'P1', 'royal-mail', 'rm-tracked-48', "
                "'BT' || g, lpad(g::text, 18, '0'), 'shipped', g / %s + 1, 1, 'bench', %s, "
                "%s, CASE WHEN g < %s THEN %s::timestamp ELSE %s::timestamp END "
                "FROM generate_series(0, %s - 1) g",
                (first, orders, orders, recent, recent, quiet, old, recent, n))
            db.execute_sql("ANALYZE shipment")
        else:
            db.execute_sql(
                "WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < ? - 1) "
                "INSERT INTO shipment (order_id, station, carrier, carrier_service, tracking, "
                "sscc, state, parcel_no, parcel_count, created_by, created_at, shipped_at, "
                "quiet_since) SELECT ? + (i % ?), 'P1', 'royal-mail', 'rm-tracked-48', "
                "'BT' || i, printf('%018d', i), 'shipped', i / ? + 1, 1, 'bench', ?, ?, "
                "CASE WHEN i < ? THEN ? ELSE ? END FROM g",
                (n, first, orders, orders, recent, recent, quiet, old, recent))
            db.execute_sql("ANALYZE")


def run_ingest(url: str, shipments: int, events: int, batch: int) -> dict:
    import json as _json

    from server import clock
    from server.services import auth
    from server.store.db import execute
    app = open_app(url)
    clock.set_clock(lambda: NOW)
    with connected(app):
        _orders(max(1, shipments // 4))
        _shipments(shipments, 0, max(1, shipments // 4), since=NOW)
        raw = auth.create_token(carrier="royal-mail")
    statuses = ["picked_up", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    evs = []
    per = max(1, events // shipments)
    for k in range(per):
        for s in range(shipments):
            # every 7th shipment gets its events a step late (out of order)
            step = (k + 1) % per if s % 7 == 0 else k
            evs.append({"event_id": f"e{s}-{k}", "tracking_number": f"BT{s}",
                        "status": statuses[min(step, len(statuses) - 1)],
                        "occurred_at": (NOW + dt.timedelta(hours=step)).isoformat()})
    evs = evs[:events]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {raw}", "Content-Type": "application/json"}
    lat = []
    accepted = 0
    t_all = time.perf_counter()
    for i in range(0, len(evs), batch):
        body = _json.dumps({"events": evs[i:i + batch]})
        t0 = time.perf_counter()
        r = client.post("/api/v1/tracking-events", data=body, headers=headers)
        lat.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {r.get_data(as_text=True)[:200]}")
        accepted += r.get_json()["accepted"]
    wall = time.perf_counter() - t_all
    with connected(app):
        stored = execute("SELECT COUNT(*) FROM tracking_event").fetchone()[0]
        delivered = execute("SELECT COUNT(*) FROM sales_order WHERE status = 'delivered'"
                            ).fetchone()[0]
    clock.set_clock(None)
    problems = [] if stored == accepted == len(evs) else \
        [f"stored {stored}, accepted {accepted}, sent {len(evs)}"]
    return {"n": len(evs), "lat": lat, "rate": len(evs) / wall, "problems": problems,
            "delivered": delivered}


def run_sweep(url: str, shipments: int, quiet: int) -> dict:
    from server.services import tracking
    from server.store.db import execute
    app = open_app(url)
    settings = app.config["WAVEPACK"]
    with connected(app):
        log(f"  creating {shipments:,} shipments")
        t0 = time.perf_counter()
        _orders(1000)
        _shipments(shipments, quiet, 1000, since=NOW - dt.timedelta(hours=1))
        log(f"  created in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        first = tracking.sweep(settings=settings, now=NOW)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = tracking.sweep(settings=settings, now=NOW)
        t_second = time.perf_counter() - t0
        opened = execute("SELECT COUNT(*) FROM wms_exception WHERE type = 'shipment_lost'"
                         ).fetchone()[0]
    problems = []
    if first != {"delayed": 0, "lost": quiet} or second != {"delayed": 0, "lost": 0} \
            or opened != quiet:
        problems.append(f"first {first}, second {second}, exceptions {opened}")
    return {"first": t_first, "second": t_second, "problems": problems}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        args.sweep_shipments = min(args.sweep_shipments, 100_000)
        args.sqlite_sweep = min(args.sqlite_sweep, 100_000)
    skip_pg = "--no-pg given" if args.no_pg else pg_unreachable()
    rows: list[Row] = []
    failed = False
    started = time.perf_counter()
    for kind in ("sqlite", "postgresql"):
        ing_what = f"tracking events via API, {args.batch}/request (latency per request)"
        one_what = "tracking events via API, 1/request (baseline)"
        n = args.sweep_shipments if kind == "postgresql" else min(args.sweep_shipments,
                                                                    args.sqlite_sweep)
        sweep_what = f"delay/loss sweep over {n:,} shipments, {args.quiet} overdue"
        idle_what = f"delay/loss sweep over {n:,} shipments, none overdue"
        if kind == "postgresql" and skip_pg:
            rows += [Row.skipped(w, kind, skip_pg) for w in (ing_what, one_what, sweep_what,
                                                              idle_what)]
            continue
        log(f"[{kind}] ingestion: {args.events:,} events over {args.shipments:,} shipments")
        with fresh_database(kind) as url:
            ing = run_ingest(url, args.shipments, args.events, args.batch)
        with fresh_database(kind) as url:
            one = run_ingest(url, args.shipments // 10, args.events // 10, 1)
        target = f"≥ {INGEST_MIN:,} events/s" if kind == "postgresql" else ""
        ok = ing["rate"] >= INGEST_MIN if kind == "postgresql" else None
        rows.append(Row(ing_what, kind, ing["n"], median(ing["lat"]), p99(ing["lat"]),
                        ing["rate"], f"{ing['rate'] / one['rate']:.1f}× 1/request", target,
                        _verdict(ok, ing["problems"]), unit="events/s"))
        rows.append(Row(one_what, kind, one["n"], median(one["lat"]), p99(one["lat"]),
                        one["rate"], "1.0 (baseline)", "", _verdict(None, one["problems"]),
                        unit="events/s"))
        failed |= bool(ing["problems"] or one["problems"])
        log(f"[{kind}] sweep: {n:,} shipments, {args.quiet} overdue")
        with fresh_database(kind) as url:
            sw = run_sweep(url, n, args.quiet)
        target = f"≤ {SWEEP_MAX_S:.0f} s" if kind == "postgresql" else ""
        rows.append(Row(sweep_what, kind, n, sw["first"], sw["first"], None, "", target,
                        _verdict(sw["first"] <= SWEEP_MAX_S if kind == "postgresql" else None,
                                 sw["problems"]), unit="s"))
        rows.append(Row(idle_what, kind, n, sw["second"], sw["second"], None, "", target,
                        _verdict(sw["second"] <= SWEEP_MAX_S if kind == "postgresql" else None,
                                 []), unit="s"))
        failed |= bool(sw["problems"])
    from .common import report
    from .run import _load
    report("wavepack tracking bench", "tests.bench.tracking", rows,
           [f"ingestion: {args.shipments:,} shipments, every 7th gets its events out of "
            "order; in-process WSGI test client (JSON, schema, token, write)",
            "sweep: shipments bulk-created in the bench (generate_series / recursive CTE); "
            "the overdue ones are flagged lost with an exception each (open_exception)"],
           argv, time.perf_counter() - started, _load())
    return 1 if failed else 0


def _verdict(ok, problems) -> str:
    if problems:
        return "FAIL: " + "; ".join(problems)[:200]
    return "" if ok is None else ("ok" if ok else "below target")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.bench.tracking",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="100,000 shipments in the sweep")
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    p.add_argument("--shipments", type=int, default=2000)
    p.add_argument("--events", type=int, default=10000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--sweep-shipments", type=int, default=1_000_000)
    p.add_argument("--sqlite-sweep", type=int, default=200_000,
                   help="shipments in the SQLite sweep (the 1M target is PostgreSQL's)")
    p.add_argument("--quiet", type=int, default=200, help="overdue shipments in the sweep")
    return p


if __name__ == "__main__":
    sys.exit(main())
