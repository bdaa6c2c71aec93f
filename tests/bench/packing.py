"""Packing benchmark (issue W3 speed): pack confirm → label bytes at the station's printer,
through a real `wavepack serve` (gevent) on a fresh PostgreSQL schema.

    python -m tests.bench.packing [--quick] [--no-pg] [--orders 200] [--stations 20]
        [--per-station 15] [--paced 8] [--pace 2] [--server-env KEY=VALUE]

The floor is built in this process the way the packing tests build it (tests/floor.py:
products with GTINs in known bins, orders through intake, waves through POST
/api/v1/waves, every cart picked over /handheld by the Socket.IO test client); one packer
per station. Then `wavepack serve` runs on that schema (DATABASE_URL a login role whose
search_path is the schema, as in production; tests/bench/scans.py) with a WAVEPACK_CONFIG
overlay naming STATIONS stations `pack-N`, each bound to its own printer `label-N`: a
FakePrinter (printers/fake.py) in this process that timestamps every complete ^XA…^XZ
format as it arrives. Each station thread packs like a packer at a bench over REST
(docs/pack-api.md): open the session by the order reference, POST …/scan per unit, then
confirm, and waits for its label before the next order.

Latency = t1 − t0: t0 just before the confirm request is sent, t1 when the station's
printer has the complete label carrying that shipment's tracking number and `job <id>`.
Rows: (a) one station, orders one after another; (b) STATIONS stations at once (threads),
back to back; (b') the same stations at a packer's pace (one order each every PACE s, their
slots spread over the period); the confirm HTTP round trip alone for each; GET /healthz on
a keep-alive connection (as a station's browser keeps it) and on a new connection each,
the floor under any request; (c) the baseline: the label bytes of (a), sent straight to a
fake printer with printers.drivers.print_checked (status, send, status: what the print
worker does per label) and no server, so the ratio is the server's overhead; the label
build (tests.bench.labels' own timing of build_shipping_label, reused).

Checked: every print job of the schema arrived exactly once, at its station's printer (a
label per confirmed order, carrying its tracking number), nothing else arrived, every job
is `printed`, every order `packed`. Target: p99 ≤ 300 ms (label build ≤ 5 ms median).
Notes split the latency by the server's own print_job timestamps and say how many of the
server's PostgreSQL connections waited for a lock (pg_stat_activity sampled every 25 ms).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from printers.fake import FakePrinter

from .common import Row, close_db, fresh_database, loadavg, log, median, p99, \
    pg_unreachable

P99_MAX = 0.300          # seconds, confirm → label bytes at the printer
LABEL_TIMEOUT_S = 10.0   # a label not at its printer by then counts as lost
WARMUP = 5               # orders per run not measured (first connections, plans)
_JOB_RE = re.compile(rb"\^FDjob (\d+)\^FS")


# ---- the printers -----------------------------------------------------------------------

class TimedPrinter(FakePrinter):
    """A FakePrinter that notes when each complete format arrived (perf_counter, this
    process's clock, the same the station threads read t0 from) and its job id."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, int | None, bytes]] = []
        self.first: dict[int, float] = {}
        self._arrived = threading.Condition()

    def _take_formats(self, buffer: bytes) -> bytes:
        with self._arrived:              # one connection at a time counts new jobs
            before = len(self.jobs)
            rest = super()._take_formats(buffer)
            now = time.perf_counter()
            for job in self.jobs[before:]:
                m = _JOB_RE.search(job)
                job_id = int(m[1]) if m else None
                self.arrivals.append((now, job_id, job))
                if job_id is not None:
                    self.first.setdefault(job_id, now)
            if len(self.jobs) > before:
                self._arrived.notify_all()
        return rest

    def wait_job(self, job_id: int, timeout: float) -> float | None:
        """When the label of `job_id` arrived (perf_counter), or None after `timeout`."""
        with self._arrived:
            self._arrived.wait_for(lambda: job_id in self.first, timeout=timeout)
            return self.first.get(job_id)


# ---- the floor --------------------------------------------------------------------------

@dataclass
class Order:
    ref: str
    gtins: list[str]          # one per unit, as the packer scans them


@dataclass
class Seeded:
    packers: list[str]        # a token per station
    orders: list[Order]
    seconds: float


def seed(url: str, orders: int, stations: int) -> Seeded:
    """Picked orders of 1–2 lines (1–2 units each) over the floor's four products, and
    one packer per station."""
    from server import create_app
    from server.services import auth, intake, setup
    from server.services.channels import ref as channel_ref
    from server.settings import current
    from server.store.db import db, execute
    from server.store.models import Channel

    from ..factories import draft
    from ..floor import PICK_CFG, PRODUCTS, build_floor
    t0 = time.perf_counter()
    app = create_app({"database": {"url": url}, "testing": True, "picking": PICK_CFG})
    with app.app_context():
        setup.init_db()
    floor = build_floor(app, stock=orders * 4 + 10)
    rnd = random.Random(7)
    gtin = {sku: g for sku, g, _, _ in PRODUCTS}
    made, drafts = [], []
    for n in range(orders):
        skus = rnd.sample([p[0] for p in PRODUCTS], rnd.choice((1, 1, 2)))
        lines = [(s, rnd.choice((1, 1, 2))) for s in skus]
        ref = f"PK-{n:05d}"
        drafts.append(draft(ref, lines))
        made.append(Order(ref, [gtin[s] for s, q in lines for _ in range(q)]))
    with app.app_context(), db.connection_context():
        ch = channel_ref(Channel.get(Channel.name == "api"))
        results = intake.import_orders(ch, drafts, "bench", chunk=500, settings=current())
        packers = []
        for i in range(stations):
            user = auth.add_user(f"PK{i + 1:02d}", "packer", "1234", f"Bench packer {i + 1}")
            packers.append(auth.create_token(role="packer", label="bench", hours=12,
                                             user_id=user, actor="bench"))
    if sum(r.outcome == "created" for r in results) != orders:
        raise RuntimeError(f"intake: {Counter(r.outcome for r in results)}")
    while True:       # floor.wave asserts 201; the last wave answers 422 (nothing ready)
        r = floor.api("post", "/api/v1/waves",
                      json={"warehouse": "main", "max_orders": 200, "totes": 4})
        if r.status_code == 422:
            break
        assert r.status_code == 201, r.get_json()
        r = floor.api("post", f"/api/v1/waves/{r.get_json()['id']}/release")
        assert r.status_code == 200, r.get_json()
    floor.pick_all()
    with app.app_context(), db.connection_context():
        picked = execute("SELECT COUNT(*) FROM sales_order WHERE status = 'picked'"
                         ).fetchone()[0]
    close_db()
    if picked != orders:
        raise RuntimeError(f"{picked} of {orders} orders picked")
    return Seeded(packers, made, time.perf_counter() - t0)


def overlay(path: str, printers: list[TimedPrinter]) -> None:
    """The WAVEPACK_CONFIG yaml: station pack-N bound to printer label-N."""
    import yaml
    cfg = {"printers": {f"label-{i + 1}": {"url": p.url} for i, p in enumerate(printers)},
           "stations": {f"pack-{i + 1}": {"warehouse": "main", "printer": f"label-{i + 1}"}
                        for i in range(len(printers))}}
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f)


# ---- packing ----------------------------------------------------------------------------

@dataclass
class Packed:
    ref: str
    station: int
    job: int | None = None
    tracking: str = ""
    t0: float = 0.0
    response: float | None = None     # confirm round trip (s)
    label: float | None = None        # t0 → label complete at the printer (s)
    wall0: float = 0.0                # time.time() at t0 (against the print_job timestamps)


@dataclass
class Run:
    name: str
    packed: list[Packed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    wall: float = 0.0

    def measured(self) -> list[Packed]:
        return [p for p in self.packed if p.label is not None]


def pack_orders(base: str, token: str, station: int, printer: TimedPrinter,
                orders: list[Order], run: Run, lock: threading.Lock,
                start: threading.Barrier | None = None, pace_s: float = 0.0,
                offset_s: float = 0.0) -> None:
    """One packer at station `station`: open, scan every unit, confirm, wait for the label;
    with `pace_s`, each order begins at its slot (offset_s + k × pace_s after the start)."""
    import requests
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    name = f"pack-{station}"
    out, problems = [], []
    try:
        if start is not None:
            start.wait()
        began = time.perf_counter()
        for k, order in enumerate(orders):
            if pace_s:
                time.sleep(max(0.0, began + offset_s + k * pace_s - time.perf_counter()))
            r = http.post(f"{base}/api/v1/pack/sessions", json={"station": name,
                                                                 "scan": order.ref}, timeout=30)
            if r.status_code != 201:
                problems.append(f"{order.ref} open: {r.status_code} {r.text[:160]}")
                continue
            session = r.json()["id"]
            for raw in order.gtins:
                r = http.post(f"{base}/api/v1/pack/sessions/{session}/scan",
                              json={"scan_id": str(uuid.uuid4()), "raw": raw}, timeout=30)
                if r.status_code != 200 or r.json().get("verdict") != "ok":
                    problems.append(f"{order.ref} scan {raw}: {r.status_code} {r.text[:160]}")
            p = Packed(order.ref, station, wall0=time.time())
            p.t0 = time.perf_counter()
            r = http.post(f"{base}/api/v1/pack/sessions/{session}/confirm", timeout=30)
            p.response = time.perf_counter() - p.t0
            if r.status_code != 201:
                problems.append(f"{order.ref} confirm: {r.status_code} {r.text[:160]}")
                continue
            body = r.json()
            # the shipment names its label job (the answer's label_job is the job's view)
            p.job, p.tracking = body["shipment"]["label_job"], body["shipment"]["tracking"]
            at = printer.wait_job(p.job, LABEL_TIMEOUT_S)
            p.label = None if at is None else at - p.t0
            out.append(p)
    except Exception as err:  # noqa: BLE001 - a crash is reported as a FAIL, not hidden
        problems.append(f"station {station}: {type(err).__name__}: {err}")
    finally:
        http.close()
        with lock:
            run.packed += out
            run.problems += problems


def run_sequential(base: str, token: str, printer: TimedPrinter, orders: list[Order]) -> Run:
    run, lock = Run("sequential"), threading.Lock()
    warm, rest = orders[:WARMUP], orders[WARMUP:]
    pack_orders(base, token, 1, printer, warm, Run("warm-up"), lock)
    t = time.perf_counter()
    pack_orders(base, token, 1, printer, rest, run, lock)
    run.wall = time.perf_counter() - t
    return run


def run_concurrent(base: str, tokens: list[str], printers: list[TimedPrinter],
                   orders: list[Order], per_station: int, name: str = "concurrent",
                   pace_s: float = 0.0) -> Run:
    """Every station packs `per_station` orders (after one warm-up order each), all at
    once: back to back, or with `pace_s` one order per station every pace_s seconds, the
    stations' slots spread evenly over that period."""
    run, lock = Run(name), threading.Lock()
    n = len(printers)
    mine = [orders[i * (per_station + 1):(i + 1) * (per_station + 1)] for i in range(n)]
    warm = [threading.Thread(target=pack_orders, args=(base, tokens[i], i + 1, printers[i],
                                                        mine[i][:1], Run("warm-up"), lock))
            for i in range(n)]
    for t in warm:
        t.start()
    for t in warm:
        t.join()
    go = threading.Barrier(n + 1)
    threads = [threading.Thread(target=pack_orders, args=(base, tokens[i], i + 1, printers[i],
                                                           mine[i][1:], run, lock, go, pace_s,
                                                           i * pace_s / n))
               for i in range(n)]
    for t in threads:
        t.start()
    go.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    run.wall = time.perf_counter() - t0
    return run


def check(runs: list[Run], printers: list[TimedPrinter], facts: dict) -> None:
    """Every print job of the schema (labels, and returns slips where the order's inserts
    ask for one) arrived exactly once, at its station's printer, and nothing else did;
    every measured label carries its shipment's tracking number; the rows agree."""
    where: dict[int, list[tuple[int, bytes]]] = {}
    for i, printer in enumerate(printers, start=1):
        for _, job_id, job in printer.arrivals:
            where.setdefault(job_id if job_id is not None else -1, []).append((i, job))
    problems = runs[0].problems
    if -1 in where:
        problems.append(f"{len(where.pop(-1))} formats without a job id arrived")
    stray = set(where) - set(facts["stations"])
    if stray:
        problems.append(f"{len(stray)} formats of no job of this schema arrived")
    lost = [j for j in facts["stations"] if j not in where]
    twice = [j for j, got in where.items() if len(got) > 1]
    astray = [j for j, st in facts["stations"].items()
              if any(f"pack-{i}" != st for i, _ in where.get(j, []))]
    for what, bad in (("never reached a printer", lost), ("arrived more than once", twice),
                      ("arrived at another station's printer", astray)):
        if bad:
            problems.append(f"{len(bad)} print jobs {what} (e.g. job {bad[0]})")
    for run in runs:
        late = sum(p.label is None for p in run.packed)
        untracked = sum(any(p.tracking.encode() not in job for _, job in where.get(p.job, []))
                        for p in run.packed)
        if late:
            run.problems.append(f"{late} labels not at the printer within "
                                f"{LABEL_TIMEOUT_S:g} s")
        if untracked:
            run.problems.append(f"{untracked} labels without their tracking number")
    if facts["printed"] != facts["jobs"] or facts["labels"] != facts["packed"]:
        problems.append(f"{facts['printed']} of {facts['jobs']} jobs printed, "
                        f"{facts['labels']} labels for {facts['packed']} orders packed")


def db_facts(url: str, runs: list[Run]) -> dict:
    """Row counts, and per job the server's own timestamps (UTC wall clock) to split the
    latency: t0 → created (request + confirm work before the job row), created → accepted
    (commit, wake, claim, ~HS, send), accepted → printed (~HS after, mark printed)."""
    import psycopg
    schema, base = url.split("schema=")[1], url.split("?")[0]
    with psycopg.connect(base) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        one = lambda q: conn.execute(q).fetchone()[0]  # noqa: E731
        out = {"printed": one("SELECT COUNT(*) FROM print_job WHERE state = 'printed'"),
               "jobs": one("SELECT COUNT(*) FROM print_job"),
               "labels": one("SELECT COUNT(*) FROM print_job WHERE kind = 'label'"),
               "packed": one("SELECT COUNT(*) FROM sales_order WHERE status = 'packed'"),
               "stations": dict(conn.execute("SELECT id, station FROM print_job"))}
        times = {r[0]: r[1:] for r in conn.execute(
            "SELECT id, created_at, accepted_at, printed_at FROM print_job")}
    utc = dt.timezone.utc
    for run in runs:
        split = []
        for p in run.packed:
            t = times.get(p.job)
            if not t or None in t:
                continue
            c, a, pr = (x.replace(tzinfo=utc).timestamp() if x.tzinfo is None
                        else x.timestamp() for x in t)
            split.append((c - p.wall0, a - c, pr - a))
        out[run.name] = [median([s[k] for s in split]) for k in range(3)] if split else None
    return out


class LockSampler:
    """Samples pg_stat_activity every PERIOD s for the server's role while a run goes:
    its connections, and those waiting on a lock (with what they wait in)."""
    PERIOD = 0.025

    def __init__(self, role: str):
        self.role, self.samples = role, 0
        self.max_conns = self.waiting = 0
        self.waits: Counter = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "LockSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        from .common import PG_BASE
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            while not self._stop.wait(self.PERIOD):
                rows = conn.execute("SELECT wait_event_type, left(query, 60) FROM "
                                    "pg_stat_activity WHERE usename = %s", (self.role,)
                                    ).fetchall()
                self.samples += 1
                self.max_conns = max(self.max_conns, len(rows))
                for kind, query in rows:
                    if kind == "Lock":
                        self.waiting += 1
                        self.waits[" ".join(query.split())] += 1

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        top = "; ".join(f"{k / self.samples:.1f} in {q!r}"
                        for q, k in self.waits.most_common(2))
        return (f"the server held up to {self.max_conns} PostgreSQL connections; on average "
                f"{self.waiting / self.samples:.1f} of them waited for a lock"
                + (f" ({top} …)" if top else ""))


def run_direct(labels: list[bytes]) -> tuple[list[float], list[str]]:
    """Baseline: the same label bytes through print_checked (status, send, status) to a
    fake printer of this process, no server, no database."""
    from printers.drivers import open_printer, print_checked
    printer = TimedPrinter().start()
    lat, problems = [], []
    try:
        driver = open_printer(printer.url, 5.0)
        for data in labels[:3]:          # warm-up
            print_checked(driver, data)
        printer.first.clear()
        for k, data in enumerate(labels):
            job = int(_JOB_RE.search(data)[1])
            printer.first.pop(job, None)
            t0 = time.perf_counter()
            print_checked(driver, data)
            at = printer.wait_job(job, LABEL_TIMEOUT_S)
            if at is None:
                problems.append(f"direct label {k} lost")
            else:
                lat.append(at - t0)
    finally:
        printer.stop()
    return lat, problems


def http_floor(base: str, n: int = 60) -> tuple[list[float], list[float]]:
    """GET /healthz round trips on one keep-alive connection (as a browser at a station
    keeps it) and on a new connection each: what any request costs before its work."""
    import requests
    kept, fresh = [], []
    with requests.Session() as http:
        for k in range(n + 5):
            t = time.perf_counter()
            http.get(f"{base}/healthz", timeout=30).raise_for_status()
            if k >= 5:
                kept.append(time.perf_counter() - t)
    for _ in range(n):
        t = time.perf_counter()
        requests.get(f"{base}/healthz", timeout=30, headers={"Connection": "close"}
                     ).raise_for_status()
        fresh.append(time.perf_counter() - t)
    return kept, fresh


def label_build(n: int) -> list[float]:
    """tests.bench.labels' own timing of build_shipping_label (reused, not redone)."""
    from printers.labels import build_shipping_label

    from . import labels
    return labels.timed(lambda: build_shipping_label(labels.shipping()), n)


# ---- report -----------------------------------------------------------------------------

def _verdict(met: bool, problems: list[str], checked: str) -> str:
    if problems:
        shown = "; ".join(problems[:4]) + (f"; … {len(problems) - 4} more"
                                           if len(problems) > 4 else "")
        return "FAIL: " + shown
    return f"PASS ({checked})" if met else f"FAIL (above target; {checked})"


def rows(runs: list[tuple[Run, str]], direct: list[float], direct_problems: list[str],
         build: list[float]) -> list[Row]:
    """The table: each run's confirm → label row, then its confirm round trips, then the
    baselines. `runs` pairs a run with how it is described (1 station, N stations …)."""
    target = f"p99 ≤ {P99_MAX * 1000:.0f} ms"
    checked = "each label once, at its printer"
    base_med, base_p99 = median(direct), p99(direct)
    out = []
    for run, label in runs:
        lat = [p.label for p in run.measured()]
        out.append(Row(f"confirm → label bytes at printer, {label}", "postgresql", len(lat),
                       median(lat), p99(lat), len(run.packed) / run.wall if run.wall else None,
                       f"{median(lat) / base_med:.0f}× / p99 {p99(lat) / base_p99:.0f}× direct",
                       target, _verdict(p99(lat) <= P99_MAX, run.problems, checked),
                       unit="orders/s"))
    for run, label in runs:
        rt = [p.response for p in run.packed if p.response is not None]
        out.append(Row(f"confirm HTTP round trip alone, {label}", "postgresql", len(rt),
                       median(rt), p99(rt), None, f"{median(rt) / base_med:.0f}× direct", "",
                       "ok (informative)"))
    out.append(Row("baseline: same label bytes, print_checked straight to a fake printer",
                   "-", len(direct), base_med, base_p99, None, "1.0 (baseline)", "",
                   _verdict(True, direct_problems, "each label once").replace("PASS", "ok")))
    from .labels import TARGET
    out.append(Row("label build: build_shipping_label (tests.bench.labels' timing)", "-",
                   len(build), median(build), p99(build), None, "", f"median ≤ "
                   f"{TARGET * 1000:.0f} ms", "PASS" if median(build) <= TARGET else
                   "FAIL (above target)"))
    return out


def report(table: list[Row], notes: list[str], argv, seconds: float, load: str) -> None:
    from .common import report as print_report
    print_report("wavepack packing bench (W3)", "tests.bench.packing", table, notes, argv,
                 seconds, load)


def _ms(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x * 1000:.1f} ms"


# ---- main -------------------------------------------------------------------------------

def bench(args, tmp: str) -> tuple[list[Row], list[str], bool]:
    from .scans import Server, cpu_seconds, drop_role, make_role
    n = args.stations
    # + one warm-up order per station; no paced run with --paced 0
    per = (args.per_station + 1, args.paced + 1 if args.paced else 0)
    total = args.orders + WARMUP + n * sum(per)
    notes: list[str] = []
    printers = [TimedPrinter().start() for _ in range(n)]
    runs: list[tuple[Run, str]] = []
    locks: dict[str, LockSampler] = {}
    cpu: dict[str, float] = {}
    try:
        with fresh_database("postgresql") as url:
            url, serve_url, role = make_role(url)
            try:
                log(f"seeding {total} picked orders, {n} packers …")
                floor = seed(url, total, n)
                log(f"  floor ready in {floor.seconds:.0f} s")
                cfg = os.path.join(tmp, "stations.yaml")
                overlay(cfg, printers)
                server = Server(serve_url, "gevent", tmp, {
                    **dict(kv.split("=", 1) for kv in args.server_env),
                    "WAVEPACK_CONFIG": cfg})
                try:
                    base, left = server.base, list(floor.orders)
                    plan = [
                        ("sequential", "1 station, sequential", args.orders + WARMUP,
                         lambda o: run_sequential(base, floor.packers[0], printers[0], o)),
                        ("concurrent", f"{n} stations at once, back to back", n * per[0],
                         lambda o: run_concurrent(base, floor.packers, printers, o,
                                                  args.per_station)),
                        ("paced", f"{n} stations, 1 order/{args.pace:g} s each", n * per[1],
                         lambda o: run_concurrent(base, floor.packers, printers, o,
                                                  args.paced, "paced", args.pace)),
                    ]
                    for name, label, count, go in plan:
                        if not count:
                            continue
                        log(f"{name}: {label}, {count} orders (warm-up included) …")
                        mine, left = left[:count], left[count:]
                        cpu0 = cpu_seconds(server.proc.pid)
                        with LockSampler(role) as locks[name]:
                            run = go(mine)
                        cpu[name] = cpu_seconds(server.proc.pid) - cpu0
                        runs.append((run, label))
                    time.sleep(1.0)       # a duplicate would arrive after the original
                    log("HTTP floor: GET /healthz, keep-alive and new connections …")
                    floor_kept, floor_fresh = http_floor(base)
                finally:
                    server.stop()
                facts = db_facts(url, [r for r, _ in runs])
            finally:
                drop_role(role)
    finally:
        for p in printers:
            p.stop()
    check([r for r, _ in runs], printers, facts)
    if facts["packed"] != total:
        runs[0][0].problems.append(f"{facts['packed']} orders packed of {total} confirmed")
    log("(c) baseline: print_checked straight to a fake printer; label build …")
    seq_jobs = {p.job for p in runs[0][0].packed} if runs else set()
    labels = [job for _, job_id, job in printers[0].arrivals if job_id in seq_jobs]
    direct, direct_problems = run_direct(labels)
    build = label_build(1000)
    table = rows(runs, direct, direct_problems, build)
    for xs, what in ((floor_kept, "GET /healthz round trip, keep-alive connection (browser)"),
                     (floor_fresh, "GET /healthz round trip, new connection each")):
        table.insert(-2, Row(what, "postgresql", len(xs), median(xs), p99(xs), None,
                             f"{median(xs) / median(direct):.0f}× direct", "",
                             "ok (informative)"))
    notes.append(f"server: {server.banner.lstrip('* ')}, `wavepack serve` on a fresh schema "
                 f"(a login role whose search_path is it); {n} stations pack-N, each with "
                 f"its own printer label-N: a FakePrinter in this process (WAVEPACK_CONFIG "
                 f"overlay); printing.poll_seconds from config.yaml")
    notes.append(f"floor: {total} orders of 1–2 lines (1–2 units) over 4 products, picked "
                 f"over /handheld as in tests/integration/test_packing.py, seeded in "
                 f"{floor.seconds:.0f} s; per order: open by reference, POST …/scan per unit, "
                 f"confirm, wait for the label; the first {WARMUP} orders of the sequential "
                 f"run and the first order of each station in the others are not measured")
    notes.append("latency: t0 just before the confirm request, t1 when the station's fake "
                 "printer holds the complete ^XA…^XZ (its job id and tracking number "
                 "checked); rate: confirmed orders ÷ wall time, opening and scanning "
                 "included; direct = the baseline row (same label bytes, no server)")
    for run, label in runs:
        s = facts.get(run.name)
        split = (f"t0 → job row {_ms(s[0])}, job row → label taken by the printer "
                 f"{_ms(s[1])} (rest of the confirm, commit, wake, claim, ~HS, send), taken → "
                 f"printed {_ms(s[2])}; " if s else "")
        early = sum(1 for p in run.measured() if p.label < p.response)
        per_order = cpu[run.name] / len(run.packed) * 1000 if run.packed else float("nan")
        notes.append(f"{label}: medians by the server's print_job timestamps: {split}"
                     f"{early} of {len(run.measured())} labels were at the printer before the "
                     f"confirm response was back; server process CPU "
                     f"{per_order:.0f} ms per order ({cpu[run.name] / run.wall:.0%} of a core); "
                     f"{locks[run.name].summary()}")
    notes.append(f"rows in the schema: {facts['jobs']} print jobs ({facts['labels']} labels, "
                 f"the rest returns slips the orders' inserts ask for), {facts['printed']} "
                 f"printed, {facts['packed']} orders packed, {total} confirms (warm-up "
                 f"included); every job checked at the printers: exactly once, at its "
                 f"station's printer")
    if args.server_env:
        notes.append(f"server environment: {' '.join(args.server_env)}")
    notes.append(f"one machine: server, PostgreSQL and this process ({n} client threads + {n} "
                 f"fake printers) share {os.cpu_count()} CPUs with whatever else runs (see "
                 f"the load average)")
    # a missed target is reported, not an error (as run.py does); a failed check is
    failed = any(r.verdict.startswith("FAIL:") for r in table)
    return table, notes, failed


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.bench.packing",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run (30 + 20 × 3 orders)")
    p.add_argument("--no-pg", action="store_true", help="skip (this bench is PostgreSQL only)")
    p.add_argument("--orders", type=int, default=None,
                   help="sequential orders at one station (default 200; quick 30)")
    p.add_argument("--stations", type=int, default=20)
    p.add_argument("--per-station", type=int, default=None,
                   help="orders per station, back to back (default 15; quick 3)")
    p.add_argument("--paced", type=int, default=None,
                   help="orders per station in the paced run (default 8; quick 2; 0: none)")
    p.add_argument("--pace", type=float, default=2.0,
                   help="seconds between a station's orders in the paced run")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment of the server (experiments)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.orders = args.orders or (30 if args.quick else 200)
    args.per_station = args.per_station or (3 if args.quick else 15)
    if args.paced is None:
        args.paced = 2 if args.quick else 8
    started, load = time.perf_counter(), loadavg()
    skip = "--no-pg given" if args.no_pg else pg_unreachable()
    if skip:
        report([Row.skipped("confirm → label bytes at printer", "postgresql", skip,
                            f"p99 ≤ {P99_MAX * 1000:.0f} ms")], [], argv,
               time.perf_counter() - started, load)
        return 0
    tmp = tempfile.mkdtemp(prefix="wavepack-packing-")
    failed = True
    try:
        table, notes, failed = bench(args, tmp)
    finally:
        if failed:
            log(f"server log kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report(table, notes, argv, time.perf_counter() - started, load)
    if failed:
        print(f"- server log kept in {tmp}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
