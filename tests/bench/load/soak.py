"""The soak run: a warehouse day's load against the production stack, and what it proves.

run(Params) seeds a fresh PostgreSQL schema (seed.py), starts `wavepack serve-prod`
(stack.py) with a fake label printer per pack station, spawns the load drivers
(drive.py: the handhelds split over `handheld_procs` processes, everything else in one
more), lets them run for `minutes`, samples every process's CPU and memory every
SAMPLE_S, then lets the queues drain and checks that everything sent was stored once.
It returns a Result; report() prints it as tests/bench tables. The short version in
the test suite (tests/integration/test_soak.py) calls run() with small numbers and checks
the result's errors and checks, not its timings.
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..common import Row, fresh_database, log
from ..packing import TimedPrinter
from ..webhooks import CHANNEL, FIXTURE, SECRET
from . import seed as seeding
from . import stack as stacks

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
P99_MAX_MS = 10.0            # scan verdict, server side
WEB_RSS_MAX_MB = 250.0       # per web process
SAMPLE_S = 15.0
DRAIN_MAX_S = 120.0          # the inbox and the print queue empty within this after the load
DRIVER_GRACE_S = 120.0       # after the load's end (+ 120 s to connect) a driver is killed
SCANS_PER_ORDER = 6          # a bench order is ~2.5 lines of ~2 units: its bins and its units


@dataclass
class Params:
    minutes: float = 10.0
    handhelds: int = 300
    period_s: float = 4.0
    stations: int = 20
    pack_every_s: float = 60.0
    consoles: int = 5
    webhooks_per_s: float = 50.0
    webhook_senders: int = 16     # a storefront's deliveries overlap (slow answers)
    resend_every: int = 25          # every 25th webhook and tracking request sent again
    tracking_per_s: float = 20.0
    tracking_batch: int = 1
    web_processes: int = 2
    handheld_procs: int = 2
    orders: int | None = None       # ready orders for the handhelds (default from the rate)

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    def per_station(self) -> int:
        return max(1, math.ceil(self.seconds / self.pack_every_s))

    def n_orders(self) -> int:
        scans = self.handhelds * self.seconds / self.period_s
        return self.orders or int(scans / SCANS_PER_ORDER * 1.3) + \
            self.stations * self.per_station() + 4 * self.handhelds + 100


@dataclass
class Result:
    params: Params
    errors: dict[str, int] = field(default_factory=dict)     # kind → count (must be empty)
    checks: list[tuple[str, object, object]] = field(default_factory=list)  # what, want, got
    rows: list[Row] = field(default_factory=list)
    samples: list = field(default_factory=list)              # stacks.Sample, start … end
    notes: list[str] = field(default_factory=list)
    server: list[dict] = field(default_factory=list)         # metrics per web process
    facts: dict = field(default_factory=dict)                # totals the checks compare
    wall: float = 0.0
    seed_s: float = 0.0

    @property
    def failed_checks(self) -> list[tuple[str, object, object]]:
        return [c for c in self.checks if c[1] != c[2]]


def _count(errors: dict, more: dict, prefix: str = "") -> None:
    for k, v in more.items():
        if v:
            errors[prefix + k] = errors.get(prefix + k, 0) + v


class WallPrinter(TimedPrinter):
    """tests/bench/packing.py's printer, also noting each job's arrival on the wall clock
    (the drivers, other processes, note their confirms on it)."""

    def __init__(self) -> None:
        super().__init__()
        self.first_wall: dict[int, float] = {}

    def _take_formats(self, buffer: bytes) -> bytes:
        rest = super()._take_formats(buffer)
        now = time.time()
        for job_id in list(self.first):
            self.first_wall.setdefault(job_id, now)
        return rest


class CommitFloor(threading.Thread):
    """The machine's floor beside the run: one row INSERTed and COMMITted RATE times a
    second on a connection of its own as the run's role (tests/bench/scans.py's
    CommitProbe, with its backend's CPU per commit): every verdict waits for one commit."""
    RATE = 20

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.lat_ms, self.cpu_s, self.pid = url, [], 0.0, 0
        self.done = threading.Event()

    def run(self) -> None:
        import psycopg
        url, _, schema = self.url.partition("?schema=")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            conn.execute("CREATE TABLE IF NOT EXISTS soak_commit_floor (id BIGSERIAL "
                         "PRIMARY KEY, at TIMESTAMPTZ NOT NULL DEFAULT now())")
            self.pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            cpu0 = stacks._stat(self.pid)[1]
            while not self.done.wait(1 / self.RATE):
                t0 = time.perf_counter()
                with conn.transaction():
                    conn.execute("INSERT INTO soak_commit_floor DEFAULT VALUES")
                self.lat_ms.append((time.perf_counter() - t0) * 1000)
            self.cpu_s = stacks._stat(self.pid)[1] - cpu0


# ---- the run --------------------------------------------------------------------------------

def run(p: Params, keep_logs: bool = False) -> Result:
    res = Result(p)
    workdir = Path(tempfile.mkdtemp(prefix="wavepack-soak-"))
    failed = True
    try:
        with fresh_database("postgresql") as schema_url:
            url, serve_url, role = _make_role(schema_url)
            try:
                _run_on(p, res, url, serve_url, role, workdir)
            finally:
                _close(url)
                _drop_role(role)
        failed = bool(res.errors or res.failed_checks)
    finally:
        if failed or keep_logs:
            res.notes.append(f"logs (serve-prod, nginx, drivers) kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return res


def _make_role(url: str):
    from ..scans import make_role
    return make_role(url)


def _drop_role(role: str) -> None:
    from ..scans import drop_role
    drop_role(role)


def _run_on(p: Params, res: Result, url: str, serve_url: str, role: str,
            workdir: Path) -> None:
    t0 = time.perf_counter()
    n_hooks = int(p.webhooks_per_s * p.seconds) + 10
    n_events = int(p.tracking_per_s * p.seconds) + p.tracking_batch
    log(f"seeding: {p.n_orders():,} ready orders, {p.handhelds} pickers, {p.stations} "
        f"stations × {p.per_station()} orders, {n_events:,} tracking events' parcels …")
    seeded = seeding.seed(url, handhelds=p.handhelds, orders=p.n_orders(),
                          consoles=p.consoles, stations=p.stations,
                          per_station=p.per_station(), webhooks=n_hooks,
                          shipments=max(1, math.ceil(n_events / len(STATUSES))))
    res.seed_s = time.perf_counter() - t0
    log(f"  seeded in {res.seed_s:.0f} s: {seeded.orders:,} orders on {seeded.carts:,} carts")
    printers = [WallPrinter().start() for _ in range(p.stations)]
    overlay = workdir / "soak.yaml"
    _overlay(overlay, printers)
    _one(url, "SELECT 1")          # the soak's own connection, before the stack takes slots
    stack = None
    try:
        stack = stacks.start(serve_url, role, overlay, workdir, p.web_processes)
        log(f"  serve-prod up: {stack.url}, web processes on {stack.backends}")
        _load(p, res, seeded, stack, url, workdir)
        try:                 # what the load measured is reported even if a check breaks
            _drain(res, url, stack)
            _check(res, url, seeded, printers)
        except Exception as err:  # noqa: BLE001
            res.errors[f"soak check failed: {type(err).__name__}: {str(err)[:120]}"] = 1
    finally:
        if stack is not None:
            code = stack.stop()
            if code != 0:
                res.errors[f"serve-prod exit code {code}"] = 1
            _count(res.errors, stack.problems())
            _count(res.errors, {f"nginx answered {s}": n
                                for s, n in stack.access_statuses().items() if s >= "500"})
        for printer in printers:
            printer.stop()


STATUSES = ("picked_up", "in_transit", "in_transit", "out_for_delivery", "delivered")


def _overlay(path: Path, printers: list) -> None:
    """Station pack-N prints to fake printer label-N; the rest is the shipped config."""
    import yaml
    cfg = {"printers": {f"label-{i + 1}": {"url": pr.url} for i, pr in enumerate(printers)},
           "stations": {f"pack-{i + 1}": {"warehouse": "main", "printer": f"label-{i + 1}"}
                        for i in range(len(printers))},
           "picking": {"plan_time_budget_s": 0.2}}
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")


def _driver_configs(p: Params, seeded: seeding.Seeded, stack) -> list[dict]:
    host, port = stack.url.rsplit("//", 1)[1].split(":")
    base = {"host": host, "port": int(port), "duration_s": p.seconds}
    hh = {"period_s": p.period_s, "wrong_every": 50, "wrong_gtins": seeded.wrong_gtins}
    out = []
    k = max(1, min(p.handheld_procs, p.handhelds))
    for i in range(k):
        part = seeded.handhelds[i::k]
        out.append({**base, "handhelds": part, "first": i * 1000,
                    "handheld_cfg": {**hh, "seed": i + 1}})
    out.append({**base, "consoles": seeded.consoles, "n_stations": p.stations,
                "stations": seeded.stations, "pack_every_s": p.pack_every_s,
                "storefront": {"fixture": str(FIXTURE), "channel": CHANNEL, "secret": SECRET,
                               "rate": p.webhooks_per_s, "senders": p.webhook_senders,
                               "first": 0, "resend_every": p.resend_every},
                "carrier": {"token": seeded.carrier_token, "tracking": seeded.tracking,
                            "rate": p.tracking_per_s, "batch": p.tracking_batch,
                            "senders": 8, "prefix": "soak",
                            "resend_every": p.resend_every}})
    return out


def _load(p: Params, res: Result, seeded, stack, url: str, workdir: Path) -> None:
    drivers = []
    for i, cfg in enumerate(_driver_configs(p, seeded, stack)):
        path = workdir / f"driver-{i}.json"
        path.write_text(json.dumps(cfg))
        err = open(workdir / f"driver-{i}.err", "w")
        proc = subprocess.Popen([sys.executable, "-m", "gevent.monkey", "--module",
                                 "tests.bench.load.drive", str(path)], cwd=ROOT,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                text=True)
        drivers.append((proc, err))
        stack.drivers[f"driver {i + 1}" + (" (others)" if "consoles" in cfg else "")] = proc.pid
    def overdue() -> None:        # a driver that hangs must not hang the soak
        log(f"  drivers still running {DRIVER_GRACE_S:g} s after the end: killed")
        for proc, _ in drivers:
            if proc.poll() is None:
                proc.kill()
    watchdog = threading.Timer(p.seconds + DRIVER_GRACE_S + 120, overdue)
    watchdog.daemon = True
    watchdog.start()
    try:
        t0 = time.perf_counter()
        for proc, _ in drivers:
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a load driver failed to start; see {workdir}")
        log(f"  {p.handhelds} handhelds and {p.consoles} consoles connected in "
            f"{time.perf_counter() - t0:.1f} s; running {p.minutes:g} min")
        stacks.metrics(stack, seeded.supervisor, reset=True)
        res.facts["scans_before"] = _one(url, "SELECT COUNT(*) FROM scan")
        res.facts["picked_before"] = _one(url, "SELECT COALESCE(SUM(picked), 0) FROM order_line")
        floor = CommitFloor(url)
        floor.start()
        res.samples.append(stack.sample())
        started = time.perf_counter()
        for proc, _ in drivers:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        end = started + p.seconds - 0.5     # the last sample, with every driver still there

        def sampler() -> None:
            at = started
            while True:
                at = min(at + SAMPLE_S, end)
                time.sleep(max(0.0, at - time.perf_counter()))
                res.samples.append(stack.sample())
                if at >= end:
                    floor.done.set()
                    return
        sampling = threading.Thread(target=sampler, daemon=True)
        sampling.start()
        outs = []
        for proc, _err in drivers:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"a load driver died; see {workdir}")
            outs.append(json.loads(line))
        res.wall = time.perf_counter() - started
        sampling.join()
        floor.join()
        res.server = stacks.metrics(stack, seeded.supervisor)
    finally:
        watchdog.cancel()
        for proc, err in drivers:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            err.close()
    _collect(p, res, outs, floor)


def _collect(p: Params, res: Result, outs: list[dict], floor: CommitFloor) -> None:
    """The drivers' answers: errors by kind, latencies, totals (res.facts)."""
    hh = {"lat_ms": [], "verdict_acks": 0, "ok_items": 0, "timeouts": 0, "out_of_work": 0,
          "late": 0, "connect_failed": 0}
    facts = {"consoles_got": [], "confirmed": [], "webhooks": 0, "resent": 0,
             "events": 0, "event_resends": 0, "late": 0}
    lat = {k: [] for k in ("console", "open", "scan", "confirm", "webhook", "tracking")}
    for o in outs:
        h = o["handhelds"]
        for k in hh:
            hh[k] += h[k]
        _count(res.errors, h["errors"], "handheld ack error: ")
        for odd in h["odd"]:
            res.notes.append(f"a right scan refused: {odd}")
        c, s, w, t = o["consoles"], o["stations"], o["storefront"], o["carrier"]
        facts["consoles_got"] += c.get("got", [])
        facts["confirmed"] += s["confirmed"]
        facts["webhooks"] += w["sent"]
        facts["resent"] += w["resent"]
        facts["events"] += t["sent"]
        facts["event_resends"] += t["resent"]
        facts["late"] += w["late"] + t["late"]
        for part in (c, s, w, t):
            _count(res.errors, part["errors"])
            res.notes += [f"sample error: {x}" for x in part["samples"][:3]]
        lat["console"] += c["lat_ms"]
        lat["open"] += s["open_ms"]
        lat["scan"] += s["scan_ms"]
        lat["confirm"] += s["confirm_ms"]
        lat["webhook"] += w["lat_ms"]
        lat["tracking"] += t["lat_ms"]
    _count(res.errors, {"scan never acked (timeout)": hh["timeouts"],
                        "handheld out of work": hh["out_of_work"],
                        "handheld connect failed": hh["connect_failed"]})
    res.facts.update({**facts, "hh": hh, "lat": lat, "floor": floor,
                 "driver_cpu": {f"driver {i + 1}": o["cpu_s"] for i, o in enumerate(outs)}})


_conns: dict[str, object] = {}


def _one(url: str, sql: str, args: tuple = ()):
    """One figure from the run's schema, on one connection kept for the whole run (as
    PG_BASE's user: when the stack holds every ordinary connection slot, a superuser still
    gets one of the reserved ones and the soak still reports)."""
    import psycopg

    from ..common import PG_BASE
    schema = url.split("schema=")[1]
    conn = _conns.get(schema)
    if conn is None or conn.closed:
        conn = _conns[schema] = psycopg.connect(PG_BASE, autocommit=True)
        conn.execute(f'SET search_path TO "{schema}"')
    return conn.execute(sql, args).fetchone()[0]


def _close(url: str) -> None:
    conn = _conns.pop(url.split("schema=")[1], None)
    if conn is not None:
        conn.close()


def _drain(res: Result, url: str, stack) -> None:
    """After the load: how much the inbox and the print queue still held, and how long
    they took to empty (a queue that grows under the load shows here)."""
    def backlog():
        return (_one(url, "SELECT COUNT(*) FROM webhook_event WHERE state = 'pending'"),
                _one(url, "SELECT COUNT(*) FROM print_job WHERE state NOT IN "
                          "('printed', 'failed', 'cancelled')"))
    t0 = time.perf_counter()
    first = backlog()
    now = first
    while any(now) and time.perf_counter() - t0 < DRAIN_MAX_S:
        time.sleep(0.5)
        now = backlog()
    took = time.perf_counter() - t0
    res.facts["backlog"] = first
    res.notes.append(f"when the load stopped the webhook inbox held {first[0]:,} pending "
                     f"deliveries and the print queue {first[1]} unprinted jobs; "
                     + ("both empty" if not any(now) else f"still {now} ")
                     + f" {took:.1f} s later")
    if any(now):
        res.errors[f"queues not drained {DRAIN_MAX_S:g} s after the load"] = 1


def _check(res: Result, url: str, seeded, printers: list) -> None:
    """Everything sent was stored once (and nothing else was)."""
    f, hh = res.facts, res.facts["hh"]
    before = f["scans_before"]
    scans = _one(url, "SELECT COUNT(*) FROM scan") - before
    distinct = _one(url, "SELECT COUNT(DISTINCT scan_id) FROM scan") - before
    add = res.checks.append
    add(("scan rows stored = verdict acks", hh["verdict_acks"], scans))
    add(("distinct scan ids = scan rows", scans, distinct))
    add(("units picked on order lines = ok item verdicts", hh["ok_items"],
         _one(url, "SELECT COALESCE(SUM(picked), 0) FROM order_line") - f["picked_before"]))
    for i, got in enumerate(f["consoles_got"]):
        add((f"console {i + 1}: scan.recorded pushes = verdict acks", hh["verdict_acks"],
             got.get("scan.recorded", 0)))
    confirmed = f["confirmed"]
    add(("shipments created at the stations = confirms", len(confirmed),
         _one(url, "SELECT COUNT(*) FROM shipment WHERE created_by <> 'soak'")))
    add(("label jobs printed = confirms", len(confirmed),
         _one(url, "SELECT COUNT(*) FROM print_job WHERE kind = 'label' AND state = 'printed'")))
    arrived: dict[int, list[int]] = {}
    for i, pr in enumerate(printers, start=1):
        for _, job_id, _job in pr.arrivals:
            arrived.setdefault(job_id, []).append(i)
    wrong = [c for c in confirmed if arrived.get(c["job"]) != [int(c["station"][5:])]]
    add(("labels at their station's printer exactly once", 0, len(wrong)))
    f["label_ms"] = []
    for c in confirmed:
        pr = printers[int(c["station"][5:]) - 1]
        if c["job"] in pr.first_wall:
            f["label_ms"].append((pr.first_wall[c["job"]] - c["at"]) * 1000)
    add(("webhook deliveries recorded once", f["webhooks"],
         _one(url, "SELECT COUNT(*) FROM webhook_event w JOIN channel c ON c.id = w.channel_id "
                   "WHERE c.name = %s", (CHANNEL,))))
    add(("webhook deliveries applied as new orders", f["webhooks"],
         _one(url, "SELECT COUNT(*) FROM sales_order o JOIN channel c ON c.id = o.channel_id "
                   "WHERE c.name = %s", (CHANNEL,))))
    add(("tracking events stored once", f["events"],
         _one(url, "SELECT COUNT(*) FROM tracking_event WHERE event_id LIKE 'soak-%%'")))
