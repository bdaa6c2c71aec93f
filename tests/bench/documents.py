"""Documents benchmark (issue W7 point 3, "heavy work never stalls the floor"): handheld scan
verdicts and /healthz through a real `wavepack serve` (gevent) while four packing stations
open packing slips and invoices back to back, against the same server with no documents.

    python -m tests.bench.documents [--quick] [--no-pg] [--handhelds 40] [--period 1]
        [--seconds 30] [--stations 4] [--server-env KEY=VALUE]

One fresh PostgreSQL schema (a login role whose search_path is it, as tests/bench/scans.py
serves): first STATIONS picked orders (one per station, three lines each, half of them to a
Chinese address so the CJK glyphs are drawn too), picked over /handheld by the Socket.IO
test client and opened at stations pack-1..N; then the scan floor of tests/bench/scans.py
(600 SKUs, released waves) for the handhelds. `wavepack serve` runs on it with a
WAVEPACK_CONFIG overlay naming the stations.

Two phases of SECONDS each, same server, same handhelds (tests/bench/scans_load.py: each
its own picker and cart, one scan every PERIOD s ± 25 %), a /healthz probe on a keep-alive
connection every 50 ms:
- baseline: nothing else;
- documents: STATIONS station threads, each back to back: change its order's address line
  (so the documents differ and must be drawn: no cache hit), GET the packing slip, GET the
  invoice, then GET the packing slip again (a reopen: served from the cache).

Target: scan-verdict p99 and /healthz p99 with documents < 1.5 × the baseline's. Also
reported: the PDF round trips (drawn / reopened) and the CPU of the worker processes per
document drawn (descendants of the server process, /proc).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from .common import Row, loadavg, log, median, p99, pg_unreachable

RATIO_MAX = 1.5
HEALTH_EVERY_S = 0.05
PIN = "1234"


# ---- the floor --------------------------------------------------------------------------

@dataclass
class Stations:
    packers: list[str]          # a token per station
    sessions: list[int]         # the open pack session of each station
    orders: list[int]           # … and its order id


def stations_overlay(path: str, n: int) -> dict:
    import yaml
    cfg = {"printers": {"label-docs": {"url": "file:///dev/null"}},
           "stations": {f"pack-{i + 1}": {"warehouse": "main", "printer": "label-docs"}
                        for i in range(n)}}
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f)
    return cfg


def seed_stations(url: str, n: int, overlay: dict) -> Stations:
    """N orders picked and open at stations pack-1..N (one packer each)."""
    import uuid
    from decimal import Decimal

    from server import clock, create_app
    from server.domain.orders import Address, LineDraft, OrderDraft
    from server.services import auth, channels, intake, setup, stock
    from server.store import db as store_db
    from server.store.models import Channel
    from server.settings import current

    from .common import close_db, connected
    from .scans import gtin, location, sku
    app = create_app({"database": {"url": url}, "testing": True,
                      "picking": {"plan_time_budget_s": 0.2}, **overlay})
    with app.app_context():
        setup.init_db()
    with connected(app):
        stock.upsert_products([stock.ProductSpec(sku=sku(i), name=f"Scan item {i}",
                                                 gtins=(gtin(i),), length_mm=100, width_mm=80,
                                                 height_mm=50, hs_code="090210",
                                                 origin_country="CN")   # green tea: customs
                                for i in range(3)], "bench")
        with store_db.write_tx():
            for i in range(3):
                stock.change_stock("main", location(i), sku(i), set_to=2 * n, actor="bench",
                                   now=clock.now(), reason="count")
        ch = channels.ref(Channel.get_by_id(channels.add_channel("docs", "native",
                                                                 currency="GBP",
                                                                 actor="bench")))
        drafts = []
        for k in range(n):
            cn = k % 2 == 1
            drafts.append(OrderDraft(
                external_id=f"D{k}", ref=f"DOC-{k}", currency="GBP", paid=True,
                placed_at=dt.datetime(2026, 1, 5, 7, 0, tzinfo=dt.timezone.utc),
                ship_to=Address(name="王小明" if cn else f"Doc Customer {k}",
                                address1="上海市浦东新区世纪大道100号" if cn else f"{k} Paper Lane",
                                city="上海" if cn else "Leeds",
                                postcode="200120" if cn else "LS1 1AA",
                                country="CN" if cn else "GB", phone=f"+4478000{k:05d}"),
                lines=tuple(LineDraft(sku=sku(i), quantity=1, unit_price=Decimal("12.50"),
                                      name=("绿茶 Green tea" if cn else "Green tea") + f" {i}",
                                      external_id=f"D{k}-{i}") for i in range(3)),
                total=Decimal("41.45"), shipping=Decimal("3.95"), payment_method="card",
                carrier="Royal Mail Tracked 48", invoice_requested=True))
        results = intake.import_orders(ch, drafts, "bench", settings=current())
        if [r.outcome for r in results] != ["created"] * n:
            raise RuntimeError(f"intake: {[r.outcome for r in results]}")
        picker = auth.create_token(role="picker", label="bench", hours=12,
                                   user_id=auth.add_user("DOCPICK", "picker", PIN, "Doc picker"),
                                   actor="bench")
        supervisor = auth.create_token(role="supervisor", label="bench", hours=12,
                                       user_id=auth.add_user("DOCSUP", "supervisor", PIN,
                                                             "Doc supervisor"), actor="bench")
        packers = [auth.create_token(role="packer", label="bench", hours=12,
                                     user_id=auth.add_user(f"DOCPK{i}", "packer", PIN,
                                                           f"Doc packer {i}"), actor="bench")
                   for i in range(n)]
    client = app.test_client()
    r = client.post("/api/v1/waves", headers={"Authorization": f"Bearer {supervisor}"},
                    json={"warehouse": "main", "max_orders": n, "totes": n})
    if r.status_code != 201:
        raise RuntimeError(f"wave: {r.status_code} {r.get_data(True)[:300]}")
    r = client.post(f"/api/v1/waves/{r.get_json()['id']}/release",
                    headers={"Authorization": f"Bearer {supervisor}"})
    if r.status_code != 200:
        raise RuntimeError(f"release: {r.status_code} {r.get_data(True)[:300]}")
    gtins = {sku(i): gtin(i) for i in range(3)}
    hh = app.extensions["socketio"].test_client(app, namespace="/handheld",
                                                auth={"token": picker, "device": "HH-DOCS"})
    try:
        task = hh.emit("task.next", {}, namespace="/handheld", callback=True)["task"]
        while task is not None:
            for raw in [task["location"]] + [gtins[task["sku"]]] * task["remaining"]:
                ack = hh.emit("scan", {"scan_id": str(uuid.uuid4()), "raw": raw},
                              namespace="/handheld", callback=True)
                if ack.get("verdict") != "ok":
                    raise RuntimeError(f"picking the document orders: {ack}")
            task = ack["next"]
    finally:
        hh.disconnect(namespace="/handheld")
    sessions, orders = [], []
    for i in range(n):
        r = client.post("/api/v1/pack/sessions", headers={"Authorization": f"Bearer {packers[i]}"},
                        json={"station": f"pack-{i + 1}", "scan": f"DOC-{i}"})
        if r.status_code != 201:
            raise RuntimeError(f"open DOC-{i}: {r.status_code} {r.get_data(True)[:300]}")
        sessions.append(r.get_json()["id"])
        orders.append(r.get_json()["order"]["id"])
    close_db()
    return Stations(packers, sessions, orders)


# ---- the load besides the handhelds ------------------------------------------------------

class HealthProbe(threading.Thread):
    """GET /healthz on one keep-alive connection every 50 ms (a station's browser)."""

    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base = base
        self.lat: list[float] = []
        self.errors = 0
        self.done = threading.Event()

    def run(self) -> None:
        import requests
        s = requests.Session()
        while not self.done.wait(HEALTH_EVERY_S):
            t0 = time.perf_counter()
            try:
                ok = s.get(f"{self.base}/healthz", timeout=30).status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                self.lat.append(time.perf_counter() - t0)
            else:
                self.errors += 1


@dataclass(eq=False)           # a Thread must stay hashable
class Station(threading.Thread):
    base: str
    url: str                    # the bench's own database URL (the address change)
    token: str
    session: int
    order: int
    drawn: list[float] = field(default_factory=list)
    reopened: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True)

    def run(self) -> None:
        import psycopg
        import requests
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.token}"
        base, _, schema = self.url.partition("?schema=")
        path = f"{self.base}/api/v1/pack/sessions/{self.session}/documents"
        with psycopg.connect(base, autocommit=True) as conn:
            if schema:
                conn.execute(f'SET search_path TO "{schema}"')
            n = 0
            while not self.done.is_set():
                n += 1       # the address changes: both documents must be drawn anew
                conn.execute("UPDATE sales_order SET ship_address2 = %s WHERE id = %s",
                             (f"Door {n}", self.order))
                slip = None
                for kind, into in (("packing_slip", self.drawn), ("invoice", self.drawn),
                                   ("packing_slip", self.reopened)):
                    t0 = time.perf_counter()
                    r = http.get(f"{path}/{kind}.pdf", timeout=120)
                    took = time.perf_counter() - t0
                    if r.status_code != 200 or not r.content.startswith(b"%PDF-"):
                        self.problems.append(f"{kind}: HTTP {r.status_code} {r.text[:200]}")
                        continue
                    if into is self.reopened and slip is not None and r.content != slip:
                        self.problems.append("the reopened packing slip differs")
                    slip = r.content if kind == "packing_slip" else slip
                    into.append(took)


def warm_up(base: str, stations: Stations) -> None:
    """Each station opens its two documents once: the pool starts (a running server has
    one) and parses its fonts, outside the measured phases."""
    import requests
    for token, session in zip(stations.packers, stations.sessions):
        for kind in ("packing_slip", "invoice"):
            r = requests.get(f"{base}/api/v1/pack/sessions/{session}/documents/{kind}.pdf",
                             headers={"Authorization": f"Bearer {token}"}, timeout=300)
            if r.status_code != 200:
                raise RuntimeError(f"warm-up {kind}: HTTP {r.status_code} {r.text[:300]}")


def pool_cpu(server_pid: int) -> float:
    """CPU seconds of the server's descendant processes (the document workers)."""
    from ..conftest import descendants
    from .scans import cpu_seconds
    return sum(cpu_seconds(p) for p in descendants(server_pid))


# ---- the run ----------------------------------------------------------------------------

@dataclass
class Measured:
    name: str
    scans: list[float]          # client round trips, seconds
    health: list[float]
    health_errors: int
    acks: int
    scan_errors: dict
    timeouts: int
    stations: list[Station] = field(default_factory=list)
    pool_cpu: float = 0.0
    server_cpu: float = 0.0
    wall: float = 0.0


def measure(server, floor, stations: Stations | None, url: str, args, tmp: str,
            name: str) -> Measured:
    from .scans import cpu_seconds, run_phase
    probe = HealthProbe(server.base)
    threads = [Station(server.base, url, stations.packers[i], stations.sessions[i],
                       stations.orders[i]) for i in range(args.stations)] if stations else []
    cpu0, pool0 = cpu_seconds(server.proc.pid), pool_cpu(server.proc.pid)
    probe.start()
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    phase = run_phase(server, floor, name, args.handhelds, args.period, args.seconds, 1, tmp)
    wall = time.perf_counter() - t0
    probe.done.set()
    for t in threads:
        t.done.set()
    for t in threads:
        t.join(180)
    probe.join(30)
    return Measured(name, [x / 1000 for x in phase.lat_ms], probe.lat, probe.errors,
                    phase.acks, phase.errors, phase.timeouts, threads,
                    pool_cpu(server.proc.pid) - pool0, cpu_seconds(server.proc.pid) - cpu0,
                    wall)


def rows(base: Measured, docs: Measured) -> tuple[list[Row], bool]:
    out, ok = [], True
    for what, a, b in (("scan verdict round trip (handheld)", base.scans, docs.scans),
                       ("GET /healthz round trip (keep-alive)", base.health, docs.health)):
        out.append(Row(f"{what}, no documents (baseline)", "postgresql", len(a), median(a),
                       p99(a), None, "1.00× (baseline)", "", "baseline"))
        ratio = p99(b) / p99(a) if a and b else float("nan")
        passed = ratio < RATIO_MAX
        ok &= passed
        out.append(Row(f"{what}, {len(docs.stations)} stations opening documents", "postgresql",
                       len(b), median(b), p99(b), None, f"{ratio:.2f}× baseline p99",
                       f"p99 < {RATIO_MAX:g}× baseline", "PASS" if passed else "FAIL"))
    drawn = [x for s in docs.stations for x in s.drawn]
    again = [x for s in docs.stations for x in s.reopened]
    out.append(Row("PDF drawn (address changed: cache miss), round trip", "postgresql",
                   len(drawn), median(drawn), p99(drawn), len(drawn) / docs.wall, "", "",
                   "ok (informative)", "PDFs/s"))
    out.append(Row("PDF reopened (unchanged: cache hit), round trip", "postgresql", len(again),
                   median(again), p99(again), None,
                   f"{median(drawn) / median(again):.0f}× faster than drawn" if again else "",
                   "", "ok (informative)"))
    return out, ok


def bench(args, tmp: str) -> tuple[list[Row], list[str], bool]:
    from .common import fresh_database
    from .scans import Server, drop_role, make_role, seed_floor
    notes: list[str] = []
    with fresh_database("postgresql") as url:
        url, serve_url, role = make_role(url)
        try:
            cfg_path = os.path.join(tmp, "stations.yaml")
            overlay = stations_overlay(cfg_path, args.stations)
            log(f"seeding {args.stations} picked orders open at stations …")
            stations = seed_stations(url, args.stations, overlay)
            log(f"seeding the scan floor: {args.orders:,} orders, {args.handhelds} pickers …")
            floor = seed_floor(url, args.orders, args.handhelds + 1)
            server = Server(serve_url, "gevent", tmp, {
                **dict(kv.split("=", 1) for kv in args.server_env),
                "WAVEPACK_CONFIG": cfg_path})
            try:
                log(f"{server.banner}; warming up: each station opens its documents once "
                    f"(the pool starts; not measured) …")
                warm_up(server.base, stations)
                log(f"baseline: {args.handhelds} handhelds, no documents, {args.seconds:g} s …")
                base = measure(server, floor, None, url, args, tmp, "baseline")
                log(f"documents: the same, {args.stations} stations opening documents …")
                docs = measure(server, floor, stations, url, args, tmp, "documents")
            finally:
                server.stop()
        finally:
            drop_role(role)
    table, ok = rows(base, docs)
    problems = [p for s in docs.stations for p in s.problems]
    for m in (base, docs):
        if m.timeouts or m.scan_errors or m.health_errors:
            problems.append(f"{m.name}: {m.timeouts} scan timeouts, error acks {m.scan_errors}, "
                            f"{m.health_errors} failed /healthz")
    drawn = sum(len(s.drawn) for s in docs.stations)
    if not drawn:
        problems.append("no document was drawn")
    notes.append(f"server: {server.banner.lstrip('* ')}; documents: "
                 f"{os.environ.get('WAVEPACK_DOCUMENTS_WORKERS', '2 (config.yaml)')} workers "
                 f"(server/offload.py); {args.handhelds} handhelds, 1 scan/{args.period:g} s "
                 f"± 25 % each (tests/bench/scans_load.py); /healthz every "
                 f"{HEALTH_EVERY_S * 1000:.0f} ms; {args.seconds:g} s per phase")
    if drawn:
        notes.append(f"CPU of the worker processes per PDF drawn: "
                     f"{docs.pool_cpu / drawn * 1000:.0f} ms ({drawn} PDFs); server process CPU: {base.server_cpu:.1f} s "
                     f"baseline, {docs.server_cpu:.1f} s with documents")
    notes.append(f"handheld verdicts: {base.acks:,} baseline, {docs.acks:,} with documents")
    for p in problems[:10]:
        notes.append(f"PROBLEM: {p}")
    return table, notes, ok and not problems


def report(table: list[Row], notes: list[str], argv, seconds: float, load: str) -> None:
    from .common import report as print_report
    print_report("wavepack documents bench (W7)", "tests.bench.documents", table, notes, argv,
                 seconds, load)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.bench.documents",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="shorter phases, fewer handhelds")
    p.add_argument("--no-pg", action="store_true", help="skip (the bench needs PostgreSQL)")
    p.add_argument("--handhelds", type=int, default=None, help="handhelds scanning (40)")
    p.add_argument("--period", type=float, default=1.0, help="seconds between a handheld's scans")
    p.add_argument("--seconds", type=float, default=None, help="length of each phase (30)")
    p.add_argument("--stations", type=int, default=4, help="stations opening documents")
    p.add_argument("--orders", type=int, default=None, help="orders on the scan floor")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="environment of the server (e.g. WAVEPACK_DOCUMENTS_WORKERS=0)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.handhelds = args.handhelds or (20 if args.quick else 40)
    args.seconds = args.seconds or (15 if args.quick else 30)
    # scans per phase ≈ handhelds × seconds / period; ~6 scans an order, two phases, spare
    args.orders = args.orders or max(300, int(args.handhelds * args.seconds / args.period / 2))
    for kv in args.server_env:
        if kv.startswith("WAVEPACK_DOCUMENTS_WORKERS="):
            os.environ["WAVEPACK_DOCUMENTS_WORKERS"] = kv.split("=", 1)[1]
    started, load = time.perf_counter(), loadavg()
    skip = "--no-pg given" if args.no_pg else pg_unreachable()
    if skip:
        report([Row.skipped("scan verdict and /healthz p99 while documents are drawn",
                            "postgresql", skip, f"p99 < {RATIO_MAX:g}× baseline")], [], argv,
               time.perf_counter() - started, load)
        return 0
    tmp = tempfile.mkdtemp(prefix="wavepack-documents-")
    failed = True
    try:
        table, notes, ok = bench(args, tmp)
        failed = not ok
    finally:
        if failed:
            log(f"server log kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report(table, notes, argv, time.perf_counter() - started, load)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
