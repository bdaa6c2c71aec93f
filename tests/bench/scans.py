"""Scan verdict benchmark (issue W2): one `wavepack serve` process on PostgreSQL, simulated
handhelds on /handheld sending real scans, gevent server against the threading baseline.

    python -m tests.bench.scans [--quick] [--no-pg] [--handhelds 300] [--sat-clients 48]
    python -m tests.bench.scans --against main [--rounds 2] [--sqlite-inproc 300] [...]

For each server mode (gevent, then `--async-mode threading`) a fresh PostgreSQL schema gets
a floor: SKUS products with GTINs, one bin each over the 10 × 30 `main` layout, stock for
every order, ORDERS ready orders through intake, planned and released as waves of carts of
TOTES totes through POST /api/v1/waves (supervisor token). Then `wavepack serve` runs on it
and the load generator (tests/bench/scans_load.py, processes under gevent) drives:

- phase A "steady": 300 handhelds, each its own picker and cart (claimed with task.next),
  one scan every 4 s ± 25 %: the task's bin, then its units (every 50th item scan another
  product: wrong_item, or over_pick/not_in_task when that product is on the same cart);
  a cart done → task.next claims the next cart;
- phase B "saturation": SAT_CLIENTS of those handhelds scanning back to back.

Server-side handling times come from GET /api/v1/metrics/handheld (reset before each
phase), client round trips from the generator. Beside each phase a connection of its own
commits one row 20 times a second: PostgreSQL's commit time on this disk in that window,
which every verdict waits for once before its ack. Every scan must be acked (no timeout, no
error ack) and the schema's scan rows must equal the verdict acks; units picked must equal
the ok item verdicts. Targets: steady p99 ≤ 10 ms server side; ≥ 1,000 verdicts/s.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from .common import Row, fresh_database, loadavg, log, median, p99, pg_unreachable, \
    server_versions

ROOT = Path(__file__).resolve().parents[2]
STEADY_P99_MAX_MS = 10.0
SAT_MIN_RATE = 1000.0
AISLES, BAYS, SHELVES = 10, 30, 2
SKUS = AISLES * BAYS * SHELVES          # one SKU per bin: 600
TOTES = 4
WAVE_ORDERS = 400
WRONG_EVERY = 50
ACTOR = "bench"
PIN = "4321"


def sku(i: int) -> str:
    return f"SC-{i:04d}"


def location(i: int) -> str:
    """Aisles A..J, bays 01..30, shelves 01..02."""
    aisle, rest = divmod(i, BAYS * SHELVES)
    bay, shelf = divmod(rest, SHELVES)
    return f"{chr(65 + aisle)}-{bay + 1:02d}-{shelf + 1:02d}-1"


def gtin(i: int) -> str:
    from server.domain.gtin import check_digit, normalize_gtin
    body = f"950600{i:06d}"
    return normalize_gtin(body + str(check_digit(body)))


# ---- the floor --------------------------------------------------------------------------

@dataclass
class Floor:
    url: str
    tokens: list[str]
    supervisor: str
    orders: int
    carts: int
    waves: int
    seconds: float


def seed_floor(url: str, orders: int, pickers: int) -> Floor:
    from server import clock, create_app
    from server.domain.orders import Address, LineDraft, OrderDraft
    from server.services import auth, channels, intake, setup, stock
    from server.store import db as store_db
    from server.store.models import Channel, User

    from .common import connected
    t0 = time.perf_counter()
    app = create_app({"database": {"url": url}, "testing": True,
                      "picking": {"plan_time_budget_s": 0.2}})
    with app.app_context():
        setup.init_db()
    rnd = random.Random(11)
    drafts = []
    units = [0] * SKUS
    placed = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.timezone.utc)
    for n in range(orders):
        picks = rnd.sample(range(SKUS), rnd.randint(1, 4))
        lines = []
        for k, s in enumerate(picks, start=1):
            q = rnd.randint(1, 3)
            units[s] += q
            lines.append(LineDraft(sku=sku(s), quantity=q, unit_price=Decimal("4.99"),
                                   name=f"Scan item {s}", external_id=f"{n}-{k}"))
        total = sum((ln.unit_price * ln.quantity for ln in lines), Decimal(0)) + Decimal("3.95")
        drafts.append(OrderDraft(
            external_id=f"S{n:07d}", ref=f"S-{n}", placed_at=placed + dt.timedelta(seconds=n),
            currency="GBP", paid=True,
            ship_to=Address(name=f"Scan Customer {n}", phone=f"+4478{n:08d}",
                            address1=f"{n} Scan Street", city="Leeds",
                            postcode=f"LS{n % 28 + 1} {n % 9 + 1}AB", country="GB",
                            email=f"s{n}@example.com"),
            lines=tuple(lines), payment_method="card", total=total, shipping=Decimal("3.95"),
            carrier="Royal Mail Tracked 48"))
    with connected(app):
        stock.upsert_products([stock.ProductSpec(sku=sku(i), name=f"Scan item {i}",
                                                 gtins=(gtin(i),), length_mm=100,
                                                 width_mm=80, height_mm=50)
                               for i in range(SKUS)], ACTOR)
        now = clock.now()
        with store_db.write_tx():
            for i in range(SKUS):
                stock.change_stock("main", location(i), sku(i), set_to=units[i] + 5,
                                   actor=ACTOR, now=now, reason="count")
        ch_id = channels.add_channel("bench", "native", currency="GBP", actor=ACTOR)
        ch = channels.ref(Channel.get_by_id(ch_id))
        results = intake.import_orders(ch, drafts, ACTOR, chunk=500)
        created = sum(r.outcome == "created" for r in results)
        if created != orders:
            raise RuntimeError(f"intake created {created} of {orders} orders")
        # pickers: one argon2 hash for all (add_user hashes each PIN: ~50 ms apiece)
        pin_hash = auth._hasher.hash(PIN)
        with store_db.write_tx():
            User.insert_many([{"badge": f"HH{i:04d}", "role": "picker", "pin_hash": pin_hash,
                               "name": f"Bench picker {i}", "created_at": now}
                              for i in range(pickers)]).execute()
        ids = {u.badge: u.id for u in User.select(User.id, User.badge)}
        tokens = [auth.create_token(role="picker", label="bench", hours=12,
                                    user_id=ids[f"HH{i:04d}"], actor=ACTOR)
                  for i in range(pickers)]
        sup_id = auth.add_user("SUP1", "supervisor", PIN, "Bench supervisor")
        supervisor = auth.create_token(role="supervisor", label="bench", hours=12,
                                       user_id=sup_id, actor=ACTOR)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {supervisor}"}
    carts = waves = 0
    while True:
        r = client.post("/api/v1/waves", headers=headers,
                        json={"warehouse": "main", "max_orders": WAVE_ORDERS, "totes": TOTES})
        if r.status_code == 422:
            break
        if r.status_code != 201:
            raise RuntimeError(f"POST /api/v1/waves: {r.status_code} {r.get_data(True)[:200]}")
        wave = r.get_json()
        r = client.post(f"/api/v1/waves/{wave['id']}/release", headers=headers)
        if r.status_code != 200:
            raise RuntimeError(f"release: {r.status_code} {r.get_data(True)[:200]}")
        waves += 1
        carts += len(wave["carts"])
    from .common import close_db
    close_db()
    return Floor(url, tokens, supervisor, orders, carts, waves, time.perf_counter() - t0)


def make_role(url: str) -> tuple[str, str, str]:
    """A login role of this run owning the schema, its default search_path the schema (as
    a production database is set up): the server is given a URL without `?schema=`. With
    `?schema=` the app runs CREATE SCHEMA + SET search_path + COMMIT on every pool
    checkout, i.e. on every socket event: three round trips a production server does not
    make. Returns (URL to seed with, URL to serve with, role)."""
    import psycopg
    base, schema = url.split("?")[0], url.split("schema=")[1]
    role = schema.replace("wp_bench_", "wp_role_")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}"')
        # the app's CREATE SCHEMA IF NOT EXISTS (seeding) checks this even when it exists
        db_name = base.rsplit("/", 1)[1]
        conn.execute(f'GRANT CREATE ON DATABASE "{db_name}" TO "{role}"')
        conn.execute(f'ALTER ROLE "{role}" SET search_path TO "{schema}"')
    host = base.split("@", 1)[1]
    return f"postgresql://{role}@{host}?schema={schema}", f"postgresql://{role}@{host}", role


def drop_role(role: str) -> None:
    import psycopg
    from .common import PG_BASE
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{role}"')
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def db_counts(url: str) -> dict:
    import psycopg
    schema = url.split("schema=")[1]
    base = url.split("?")[0]
    with psycopg.connect(base) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        one = lambda q: conn.execute(q).fetchone()[0]  # noqa: E731
        return {"scans": one("SELECT COUNT(*) FROM scan"),
                "distinct": one("SELECT COUNT(DISTINCT scan_id) FROM scan"),
                "picked": int(one("SELECT COALESCE(SUM(picked), 0) FROM pick_task")),
                "line_picked": int(one("SELECT COALESCE(SUM(picked), 0) FROM order_line")),
                "carts_done": one("SELECT COUNT(*) FROM cart WHERE status = 'done'")}


@dataclass
class InProcess:
    lat_ms: list[float]
    acks: int
    ok_items: int
    queries: float          # statements sent per scan (BEGIN and COMMIT included)
    cpu_ms: float           # CPU of this process per scan
    wall: float

    @property
    def rate(self) -> float:
        return len(self.lat_ms) / self.wall if self.wall else 0.0


def run_inprocess(serve_url: str, token: str, scans: int) -> InProcess:
    """picking.record_scan called directly, one connection, one scan after another: what the
    service costs without Socket.IO, gevent or concurrency (a picker of its own)."""
    import uuid

    from server import create_app
    from server.services import auth, picking
    from server.store import db as store_db

    from .common import close_db
    if scans <= 0:
        return InProcess([], 0, 0, 0.0, 0.0, 0.0)
    # one scan at a time has no one to share a commit with: the bare transaction
    app = create_app({"database": {"url": serve_url}, "picking": {"group_commit": False}})
    lat, acks, ok_items, queries = [], 0, 0, [0]
    with app.app_context():
        with store_db.db.connection_context():
            who = auth.principal(token)
        picker = picking.Picker(who.user_id, who.badge, who.role, "BENCH-INPROC")
        settings = app.config["WAVEPACK"]
        # counted at the driver (BEGIN and COMMIT included): the PostgreSQL scan path
        # sends its statements through psycopg directly, not through peewee
        import psycopg
        real = psycopg.Cursor.execute

        def counting(*a, **k):
            queries[0] += 1
            return real(*a, **k)
        psycopg.Cursor.execute = counting
        task = None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for n in range(scans + 20):
            if n == 20:      # the first 20 warm the pool and the prepared statements
                lat, queries[0] = [], 0
                cpu0, wall0 = time.process_time(), time.perf_counter()
            if task is None:
                with store_db.db.connection_context():
                    task = picking.next_task(picker, {}, settings=settings)["task"]
                if task is None:
                    raise RuntimeError("in-process picker ran out of work")
            item = task["needs"] == "item"
            msg = {"scan_id": str(uuid.uuid4()), "task": task["task_id"],
                   "raw": task["gtins"][0] if item else task["location"]}
            t0 = time.perf_counter()
            with store_db.db.connection_context():
                ack = picking.record_scan(picker, msg, settings=settings)
            lat.append((time.perf_counter() - t0) * 1000)
            acks += 1
            ok_items += ack["verdict"] == "ok" and item
            task = ack["next"]
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        psycopg.Cursor.execute = real
    close_db()
    measured = len(lat)
    return InProcess(lat, acks, ok_items, queries[0] / measured, cpu / measured * 1000, wall)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), 0 when unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def pg_backend_cpu(user: str) -> float:
    """CPU seconds of the PostgreSQL backends logged in as `user` (the server's pool)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if cmd.startswith(b"postgres: ") and f" {user} ".encode() in cmd:
            total += cpu_seconds(int(pid))
    return total


# ---- the server and the generator -------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, mode: str, logdir: str, extra_env: dict | None = None):
        self.url = url
        self.port = free_port()
        self.db_user = url.split("://", 1)[1].split("@", 1)[0]
        self.base = f"http://127.0.0.1:{self.port}"
        exe = str(Path(sys.executable).with_name("wavepack"))
        cmd = [exe, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if mode == "threading":
            cmd += ["--async-mode", "threading"]
        self.cmd = cmd
        env = {**os.environ, "DATABASE_URL": url, "WAVEPACK_JOBS_ENABLED": "false",
               **(extra_env or {})}
        self.log = open(os.path.join(logdir, f"server-{mode}.log"), "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"server exited ({self.proc.wait()}); see {self.log.name}")
            if "Running on" in line:
                self.banner = line.strip()
                return
        raise RuntimeError("server did not start in 60 s")

    def metrics(self, token: str, reset: bool = False) -> dict:
        import requests
        r = requests.get(f"{self.base}/api/v1/metrics/handheld" + ("?reset=1" if reset else ""),
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class CommitProbe(threading.Thread):
    """One row INSERTed and COMMITted RATE times a second on a connection of its own while a
    phase runs: what PostgreSQL's commit (the WAL flush to disk) takes at that moment.
    Every verdict waits for one commit before its ack, so this is the floor under the
    scan's p99 that no server code changes (the disk is shared with whatever else runs)."""
    RATE = 20

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.lat_ms: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        import psycopg
        url, _, schema = self.url.partition("?schema=")
        with psycopg.connect(url, autocommit=True) as conn:
            if schema:
                conn.execute(f'SET search_path TO "{schema}"')
            conn.execute("CREATE TABLE IF NOT EXISTS bench_commit_probe (id BIGSERIAL "
                         "PRIMARY KEY, at TIMESTAMPTZ NOT NULL DEFAULT now())")
            while not self.done.wait(1 / self.RATE):
                t0 = time.perf_counter()
                with conn.transaction():
                    conn.execute("INSERT INTO bench_commit_probe DEFAULT VALUES")
                self.lat_ms.append((time.perf_counter() - t0) * 1000)


@dataclass
class Phase:
    name: str
    clients: int
    seconds: float
    server: dict = field(default_factory=dict)     # metrics of the `scan` event
    batches: dict = field(default_factory=dict)    # … and of group commit's batches
    lat_ms: list[float] = field(default_factory=list)
    acks: int = 0
    ok_items: int = 0
    timeouts: int = 0
    errors: dict = field(default_factory=dict)
    verdicts: dict = field(default_factory=dict)
    out_of_work: int = 0
    connect_failed: int = 0
    late: int = 0
    wall: float = 0.0
    cpu: dict = field(default_factory=dict)     # CPU seconds in the phase: server, postgres
    cpu_load: float = 0.0                       # CPU seconds of the load generators
    commit_ms: list[float] = field(default_factory=list)    # CommitProbe's, same window

    def cpu_ms(self, who: str) -> float:
        """CPU milliseconds of `who` per verdict ack."""
        return self.cpu.get(who, 0.0) / self.acks * 1000 if self.acks else float("nan")

    @property
    def rate(self) -> float:
        return self.acks / self.wall if self.wall else 0.0


def run_phase(server: Server, floor: Floor, name: str, clients: int, period: float,
              seconds: float, procs: int, tmp: str, *, probe=None, on_go=None) -> Phase:
    """One phase of the load generator against `server`. Beside it a commit probe measures
    the database's commit floor: `probe(url)` (a thread with `lat_ms` and a `done` event),
    by default CommitProbe on PostgreSQL and none on SQLite. `on_go()` is called as the
    handhelds are told to start (what else should start with the phase)."""
    tokens = floor.tokens[:clients]
    procs = max(1, min(procs, clients))
    workers = []
    for k in range(procs):
        part = tokens[k::procs]
        cfg = {"url": server.base, "tokens": part, "first": k * 10_000, "period_s": period,
               "duration_s": seconds, "wrong_every": WRONG_EVERY, "seed": k + 1,
               "wrong_gtins": [gtin(i) for i in range(SKUS)]}
        path = os.path.join(tmp, f"load-{name}-{k}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        err = open(os.path.join(tmp, f"load-{name}-{k}.err"), "w")
        workers.append((subprocess.Popen(
            [sys.executable, "-m", "gevent.monkey", "--module", "tests.bench.scans_load", path],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True), err))
    t0 = time.perf_counter()
    for w, _ in workers:
        if w.stdout.readline().strip() != "ready":
            raise RuntimeError(f"load generator failed; see {tmp}")
    log(f"    {clients} handhelds connected, each with its task, in "
        f"{time.perf_counter() - t0:.1f} s")
    server.metrics(floor.supervisor, reset=True)
    if probe is None and server.url.startswith("postgres"):
        probe = CommitProbe
    probe = probe(server.url) if probe else None
    if probe:
        probe.start()
    cpu0 = cpu_seconds(server.proc.pid), pg_backend_cpu(server.db_user)
    if on_go:
        on_go()
    for w, _ in workers:
        w.stdin.write("go\n")
        w.stdin.flush()
    phase = Phase(name, clients, seconds)
    ends = []
    for w, err in workers:
        out = json.loads(w.stdout.readline())
        if not ends:      # the first generator done: the phase is over
            ends = [cpu_seconds(server.proc.pid), pg_backend_cpu(server.db_user)]
            if probe:
                probe.done.set()
        w.wait()
        err.close()
        phase.lat_ms += out["lat_ms"]
        phase.acks += out["verdict_acks"]
        phase.ok_items += out["ok_items"]
        phase.timeouts += out["timeouts"]
        phase.out_of_work += out["out_of_work"]
        phase.connect_failed += out["connect_failed"]
        phase.late += out["late"]
        phase.wall = max(phase.wall, out["wall_s"])
        phase.cpu_load += out.get("cpu_s", 0.0)
        for odd in out["odd"]:     # verdicts a correct handheld should not get: say why
            log(f"    a right scan refused, {odd['ack'].get('verdict')}: sent {odd['sent']}, "
                f"task as shown {odd['task']}, ack {odd['ack']}")
        for src, dst in ((out["errors"], phase.errors), (out["verdicts"], phase.verdicts)):
            for k, v in src.items():
                dst[k] = dst.get(k, 0) + v
    phase.cpu = {"server": ends[0] - cpu0[0], "postgres": ends[1] - cpu0[1],
                 "load generator": phase.cpu_load}
    seen = server.metrics(floor.supervisor, reset=True)
    phase.server = seen.get("scan", {})
    phase.batches = seen.get("scan.batch", {})
    if probe:
        probe.join()
        phase.commit_ms = probe.lat_ms
    return phase


@dataclass
class ModeRun:
    mode: str
    floor: Floor
    steady: Phase
    sat: Phase
    inproc: InProcess
    counts: dict
    banner: str
    problems: list[str]


def run_mode(mode: str, args, tmp: str) -> ModeRun:
    with fresh_database("postgresql") as url:
        role = ""
        serve_url = url
        if not args.schema_url:
            url, serve_url, role = make_role(url)
        try:
            log(f"[{mode}] seeding {args.orders:,} orders, {args.handhelds} pickers …")
            floor = seed_floor(url, args.orders, max(args.handhelds, args.sat_clients) + 1)
            log(f"[{mode}] floor: {floor.orders:,} orders on {floor.carts:,} carts in "
                f"{floor.waves} waves ({floor.seconds:.0f} s)")
            server = Server(serve_url, mode, tmp,
                            dict(kv.split("=", 1) for kv in args.server_env))
            try:
                log(f"[{mode}] {server.banner}; steady: {args.handhelds} handhelds × 1 scan/"
                    f"{args.period:g} s for {args.steady:g} s")
                steady = run_phase(server, floor, "steady", args.handhelds, args.period,
                                   args.steady, args.procs, tmp)
                log(f"[{mode}]   {steady.acks:,} verdicts, server p99 "
                    f"{steady.server.get('p99_ms')} ms; saturation: {args.sat_clients} "
                    f"handhelds back to back for {args.saturation:g} s")
                sat = run_phase(server, floor, "saturation", args.sat_clients, 0.0,
                                args.saturation, args.procs, tmp)
                log(f"[{mode}]   {sat.acks:,} verdicts, {sat.rate:,.0f}/s, server p99 "
                    f"{sat.server.get('p99_ms')} ms")
            finally:
                server.stop()
            log(f"[{mode}] in-process: {args.inproc} × picking.record_scan, one connection")
            inproc = run_inprocess(serve_url, floor.tokens[-1], args.inproc)
            counts = db_counts(url)
        finally:
            if role:
                drop_role(role)
    problems = []
    acks = steady.acks + sat.acks + inproc.acks
    for ph in (steady, sat):
        if ph.timeouts:
            problems.append(f"{ph.name}: {ph.timeouts} scans never acked")
        if ph.errors:
            problems.append(f"{ph.name}: error acks {ph.errors}")
        if ph.connect_failed:
            problems.append(f"{ph.name}: {ph.connect_failed} handhelds failed to connect")
        if ph.out_of_work:
            problems.append(f"{ph.name}: {ph.out_of_work} handhelds ran out of work")
    if counts["scans"] != acks or counts["distinct"] != acks:
        problems.append(f"{counts['scans']} scan rows ({counts['distinct']} distinct) "
                        f"≠ {acks} verdict acks")
    ok_items = steady.ok_items + sat.ok_items + inproc.ok_items
    if not counts["picked"] == counts["line_picked"] == ok_items:
        problems.append(f"units picked: tasks {counts['picked']}, lines "
                        f"{counts['line_picked']}, ok item acks {ok_items}")
    return ModeRun(mode, floor, steady, sat, inproc, counts, server.banner, problems)


# ---- report -----------------------------------------------------------------------------

def _rows(g: ModeRun | None, t: ModeRun | None, args) -> list[Row]:
    rows: list[Row] = []
    steady_t = f"p99 ≤ {STEADY_P99_MAX_MS:g} ms"
    sat_t = f"≥ {SAT_MIN_RATE:,.0f} verdicts/s"
    for run in (g, t):
        if run is None:
            continue
        base = run.mode == "threading"
        other = t if not base else None
        checked = "acks = scan rows" if not run.problems else ""
        verdict_fail = ("FAIL: " + "; ".join(run.problems)) if run.problems else ""
        for ph, kind in ((run.steady, "steady"), (run.sat, "saturation")):
            label = (f"{args.handhelds} handhelds × 1 scan/{args.period:g} s" if kind == "steady"
                     else f"{ph.clients} handhelds back to back")
            srv = ph.server
            s_med = srv.get("median_ms", float("nan")) / 1000
            s_p99 = srv.get("p99_ms", float("nan")) / 1000
            o = (other.steady if kind == "steady" else other.sat) if other else None
            if kind == "steady":
                ratio = (f"p99 {s_p99 * 1000 / o.server['p99_ms']:.2f}× thr." if o and
                         o.server.get("p99_ms") else ("1.0 (baseline)" if base else "-"))
                met = s_p99 * 1000 <= STEADY_P99_MAX_MS
                target = steady_t
            else:
                ratio = (f"{ph.rate / o.rate:.2f}× thr., p99 "
                         f"{s_p99 * 1000 / o.server['p99_ms']:.2f}×" if o and o.rate and
                         o.server.get("p99_ms") else ("1.0 (baseline)" if base else "-"))
                met = ph.rate >= SAT_MIN_RATE
                target = sat_t
            if verdict_fail:
                verdict = verdict_fail
            elif base:
                verdict = f"{'met' if met else 'not met'} (baseline; {checked})"
            else:
                verdict = f"PASS ({checked})" if met else f"FAIL (below target; {checked})"
            rows.append(Row(f"scan {kind}, {label}: server side", run.mode, srv.get("n", 0),
                            s_med, s_p99, ph.rate, ratio, target if not base else "-",
                            verdict, unit="verdicts/s"))
            rows.append(Row(f"scan {kind}, {label}: client round trip", run.mode,
                            len(ph.lat_ms), median(ph.lat_ms) / 1000, p99(ph.lat_ms) / 1000,
                            None, "", "", "ok (informative)"))
            rows.append(Row(f"scan {kind}: PostgreSQL INSERT + COMMIT alone, "
                            f"{CommitProbe.RATE}/s beside it (the disk's part of each ack)",
                            run.mode, len(ph.commit_ms), median(ph.commit_ms) / 1000,
                            p99(ph.commit_ms) / 1000, None, "", "", "ok (informative)"))
    for run in (g, t):
        if run is not None and run.inproc.lat_ms:
            ip = run.inproc
            rows.append(Row(f"record_scan in process, 1 connection, sequential (no Socket.IO, "
                            f"no group commit; "
                            f"{ip.queries:.1f} statements/scan incl. BEGIN/COMMIT, "
                            f"{ip.cpu_ms:.2f} ms CPU/scan)",
                            run.mode, len(ip.lat_ms), median(ip.lat_ms) / 1000,
                            p99(ip.lat_ms) / 1000, ip.rate, "", "", "ok (informative)",
                            unit="verdicts/s"))
    return rows


def report(g: ModeRun | None, t: ModeRun | None, args, argv, seconds: float,
           load_before: str, skip: str = "") -> None:
    from .run import _commit, _load, _table
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"wavepack scan bench (W2) — {when}, commit {_commit()}, Python "
          f"{platform.python_version()}, {server_versions()}, {os.cpu_count()} CPUs, load "
          f"average at start {load_before}, at end {_load()}\n")
    if skip:
        rows = [Row.skipped("scan steady: server side", "postgresql", skip,
                            f"p99 ≤ {STEADY_P99_MAX_MS:g} ms"),
                Row.skipped("scan saturation: verdicts/s", "postgresql", skip,
                            f"≥ {SAT_MIN_RATE:,.0f} verdicts/s")]
    else:
        rows = _rows(g, t, args)
    print(_table(rows))
    print()
    for run in (g, t):
        if run is None:
            continue
        c, ph = run.counts, (run.steady, run.sat)
        acks = sum(p.acks for p in ph) + run.inproc.acks
        ok_items = sum(p.ok_items for p in ph) + run.inproc.ok_items
        print(f"- {run.mode}: {run.banner.lstrip('* ')}; floor {run.floor.orders:,} orders on "
              f"{run.floor.carts:,} carts of {TOTES} totes ({run.floor.waves} waves, seeded in "
              f"{run.floor.seconds:.0f} s); acks lost: "
              f"{sum(p.timeouts for p in ph)}, error acks: "
              f"{sum(sum(p.errors.values()) for p in ph)}; scan rows {c['scans']:,} = verdict "
              f"acks {acks:,}: {'yes' if c['scans'] == acks else 'NO'}; "
              f"units picked {c['picked']:,} = ok item acks {ok_items:,}; "
              f"carts done {c['carts_done']:,}")
        for p in ph:
            print(f"  - {p.name}: {p.acks:,} verdicts in {p.wall:.1f} s, {p.verdicts}; "
                  f"server max {p.server.get('max_ms')} ms; CPU per verdict: server process "
                  f"{p.cpu_ms('server'):.2f} ms ({p.cpu.get('server', 0) / p.wall:.0%} of a "
                  f"core), PostgreSQL backends {p.cpu_ms('postgres'):.2f} ms "
                  f"({p.cpu.get('postgres', 0) / p.wall:.0%}), load generator "
                  f"{p.cpu_ms('load generator'):.2f} ms "
                  f"({p.cpu.get('load generator', 0) / p.wall:.0%})"
                  + (f"; group commit: {p.batches['n']:,} transactions, "
                     f"{p.server.get('n', 0) / p.batches['n']:.1f} scans each, "
                     f"{p.batches['median_ms']} ms median, {p.batches['p99_ms']} ms p99"
                     if p.batches.get("n") else "; no group commit")
                  + (f"; {p.late:,} scans started late (generator behind)" if p.late else ""))
    if g or t:
        print(f"- server side = the `scan` handler, event in to ack out, commit included "
              f"(GET /api/v1/metrics/handheld, reset before each phase); client round trip = "
              f"python-socketio clients in {args.procs} gevent processes on the same 2-CPU "
              f"machine as the server and PostgreSQL; rate = verdict acks ÷ phase wall time")
        print(f"- PostgreSQL INSERT + COMMIT alone: one row committed {CommitProbe.RATE} times "
              "a second on a connection of its own during the phase, as the server's role "
              "(its backend CPU counts with the server's, <1 %): a verdict's ack waits for one "
              "such commit (synchronous_commit, fsync of the WAL), so its p99 is a floor under "
              "the scan's")
        print("- server DATABASE_URL: " + (
            "…?schema=<fresh schema> (--schema-url: the app runs CREATE SCHEMA + SET "
            "search_path + COMMIT on every pool checkout, i.e. every event)" if args.schema_url
            else "a fresh login role whose default search_path is a fresh schema, no "
                 "?schema= (as in production; see --schema-url)"))
        print("- scans: the task's bin, then its units; every "
              f"{WRONG_EVERY}th item scan another product (wrong_item; over_pick or "
              "not_in_task when it is on the same cart); a done cart → "
              "task.next claims the next one; every scan a new uuid4 scan_id")
    if args.server_env:
        print(f"- server environment: {' '.join(args.server_env)}")
    print(f"- total bench time {seconds:.0f} s")
    print("\ncommand: " + shlex.join([os.path.relpath(sys.executable) if not
                                      os.path.relpath(sys.executable).startswith("..") else
                                      sys.executable, "-m", "tests.bench.scans",
                                      *(sys.argv[1:] if argv is None else argv)]))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.bench.scans",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short phases, a smaller floor")
    p.add_argument("--no-pg", action="store_true", help="skip (this bench is PostgreSQL only)")
    p.add_argument("--handhelds", type=int, default=300)
    p.add_argument("--period", type=float, default=4.0, help="seconds between scans (steady)")
    p.add_argument("--steady", type=float, default=None, help="seconds (default 45; quick 15)")
    p.add_argument("--saturation", type=float, default=None,
                   help="seconds (default 20; quick 8)")
    p.add_argument("--sat-clients", type=int, default=48,
                   help="handhelds scanning back to back in the saturation phase (with "
                        "group commit the rate grows with the scans waiting at once)")
    p.add_argument("--procs", type=int, default=2, help="load generator processes")
    p.add_argument("--orders", type=int, default=None,
                   help="ready orders seeded per mode (default 6,000; quick 3,000)")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment of the server (experiments, e.g. "
                        "PSYCOPG_WAIT_FUNC=wait_select)")
    p.add_argument("--inproc", type=int, default=300,
                   help="scans of the in-process record_scan row (after the phases)")
    p.add_argument("--schema-url", action="store_true",
                   help="serve with ?schema= in DATABASE_URL (SET search_path on every pool "
                        "checkout) instead of a role whose default search_path is the schema")
    p.add_argument("--mode", choices=("both", "gevent", "threading"), default="both")
    p.add_argument("--against", metavar="REV", default=None,
                   help="also run this bench on REV's code (a temporary git worktree) and "
                        "print both in one table with the ratio (tests/bench/scans_against.py)")
    p.add_argument("--rounds", type=int, default=1,
                   help="with --against: REV and this tree alternately, this many times each")
    p.add_argument("--sqlite-inproc", type=int, default=0, metavar="N",
                   help="with --against: also N in-process record_scan calls on SQLite")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.against:
        from . import scans_against
        return scans_against.run(args, sys.argv[1:] if argv is None else list(argv))
    args.steady = args.steady or (15.0 if args.quick else 45.0)
    args.saturation = args.saturation or (8.0 if args.quick else 20.0)
    args.orders = args.orders or (3000 if args.quick else 6000)
    started, load_before = time.perf_counter(), loadavg()
    skip = "--no-pg given" if args.no_pg else pg_unreachable()
    runs: dict[str, ModeRun | None] = {"gevent": None, "threading": None}
    failed = False
    kept = ""
    if not skip:
        tmp = tempfile.mkdtemp(prefix="wavepack-scans-")
        try:
            for mode in ("gevent", "threading"):
                if args.mode in ("both", mode):
                    runs[mode] = run_mode(mode, args, tmp)
                    failed |= bool(runs[mode].problems)
        except BaseException:
            failed = True
            raise
        finally:
            if failed:       # server logs (tracebacks of 'internal' acks) and generator stderr
                kept = tmp
                log(f"logs kept in {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    report(runs["gevent"], runs["threading"], args, argv, time.perf_counter() - started,
           load_before, skip)
    if kept:
        print(f"- server logs and load generator stderr kept in {kept}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
