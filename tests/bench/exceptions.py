"""Exception queue benchmark: GET /api/v1/exceptions (through the WSGI app, in-process) with
100,000 exceptions in the table, for each filter the page offers and for deep keyset pages.
Target (issue 14): p99 ≤ 50 ms.

The rows are bulk-inserted for the bench only (the tests raise every type by its real code
path): a mix of types, severities, owners, states and due times like a busy floor's.
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time

from .common import Row, connected, fresh_database, log, median, open_app, p99, pg_unreachable

TARGET_P99 = 0.050
TYPES = ("short_pick", "stock_discrepancy", "invalid_order", "print_failed", "outbox_failed",
         "pack_weight", "risk_hold", "webhook_failed", "printer_fault", "carrier_unmapped")
SEVERITIES = ("low", "medium", "high", "critical")
STATES = ("open", "acknowledged", "resolved", "dismissed")
OWNERS = ("supervisor", "supervisor", "admin", "user:S1", "user:S2")


def _fill(n: int) -> None:
    from server import clock
    from server.store.bulk import insert_many
    from server.store.db import db, write_tx
    rnd = random.Random(14)
    now = clock.naive_utc(clock.now())
    cols = ("type", "owner_role", "state", "message", "detail", "created_at", "severity",
            "subject_kind", "subject_id", "subject_ref", "owner", "due_at", "escalate_at",
            "created_by", "updated_at", "resolution")
    rows = []
    for i in range(n):
        created = now - dt.timedelta(minutes=(n - i) * 3)
        due = created + dt.timedelta(hours=rnd.choice((0.5, 4, 24)))
        state = rnd.choices(STATES, (3, 1, 5, 1))[0]
        active = state in ("open", "acknowledged")
        rows.append((rnd.choice(TYPES), "supervisor", state, f"bench exception {i}", "",
                     created, rnd.choice(SEVERITIES), "order", i + 1, f"B-{i}",
                     rnd.choice(OWNERS), due, due if active else None, "bench", created,
                     "" if active else ("dismissed" if state == "dismissed" else "fixed")))
    for start in range(0, n, 5000):
        with write_tx():
            insert_many("wms_exception", cols, rows[start:start + 5000])
    if db.obj.__class__.__name__.startswith("Postgres"):
        db.execute_sql("ANALYZE wms_exception")
    else:
        db.execute_sql("ANALYZE")


def _queries(client, headers) -> list[tuple[str, str]]:
    """(label, query string) cases; deep pages start from a cursor half-way down."""
    first = client.get("/api/v1/exceptions?limit=200", headers=headers).get_json()
    mid = first["exceptions"][-1]["id"] // 2
    return [
        ("newest page", ""),
        ("state=open", "?state=open"),
        ("type=short_pick", "?type=short_pick"),
        ("severity=critical&state=open", "?severity=critical&state=open"),
        ("owner=user:S1", "?owner=user:S1"),
        ("overdue=true", "?overdue=true"),
        ("type + state + cursor mid-table", f"?type=printer_fault&state=acknowledged&cursor={mid}"),
        ("cursor mid-table", f"?cursor={mid}"),
    ]


def run(kind: str, n: int, repeats: int) -> list[Row]:
    from server.services import auth
    with fresh_database(kind) as url:
        app = open_app(url)
        with connected(app):
            log(f"[{kind}] inserting {n} exceptions")
            _fill(n)
            token = auth.create_token(role="supervisor")
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        rows, all_lat = [], []
        for label, qs in _queries(client, headers):
            lat = []
            for _ in range(repeats + 3):
                t0 = time.perf_counter()
                resp = client.get("/api/v1/exceptions" + qs, headers=headers)
                lat.append(time.perf_counter() - t0)
                if resp.status_code != 200:
                    return [Row(label, kind, verdict=f"FAIL: {resp.status_code}")]
            lat = lat[3:]                       # warm-up
            all_lat += lat
            rows.append(Row(label, kind, n=repeats, median=median(lat), p99=p99(lat),
                            unit="req"))
        worst = p99(all_lat)
        rows.append(Row(f"all list queries, {n:,} rows", kind, n=len(all_lat),
                        median=median(all_lat), p99=worst, rate=len(all_lat) / sum(all_lat),
                        unit="req/s", target="p99 ≤ 50 ms",
                        verdict="ok" if worst <= TARGET_P99 else "below target"))
        return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.exceptions")
    p.add_argument("--quick", action="store_true", help="20,000 rows, 30 requests per query")
    p.add_argument("--rows", type=int, default=None, help="exceptions in the table")
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = p.parse_args(argv)
    n = args.rows or (20_000 if args.quick else 100_000)
    repeats = 30 if args.quick else 100
    started = time.perf_counter()
    from .run import _load
    load = _load()
    skip = "--no-pg given" if args.no_pg else pg_unreachable()
    rows: list[Row] = []
    for kind in ("sqlite", "postgresql"):
        if kind == "postgresql" and skip:
            rows.append(Row.skipped("exception list", kind, skip, "p99 ≤ 50 ms"))
            continue
        rows += run(kind, n, repeats)
    from .common import report
    report("wavepack exception queue bench", "tests.bench.exceptions", rows,
           [f"GET /api/v1/exceptions (50 a page, notes included) through the WSGI app in "
            f"this process, {repeats} requests per query after 3 warm-up; {n:,} exceptions "
            "bulk-inserted (types, severities, owners, states and due times mixed)"],
           argv, time.perf_counter() - started, load)
    return 1 if any(r.verdict.startswith("FAIL") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
