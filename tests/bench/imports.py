"""Scan verdicts while a 100,000-line orders CSV is imported, against none (issue W9 #2).

One `wavepack serve` (gevent) on SQLite, then on PostgreSQL; simulated handhelds scan
while the CSV goes through POST /api/v1/orders:import, and the same load runs without it.

    python -m tests.bench.imports [--quick] [--no-pg] [--lines 100000] [--handhelds 300]
        [--seconds 30] [--same-contact]

For each database a fresh one gets the scan bench's floor (tests/bench/scans.py seed_floor:
SKUS products, one bin each, ORDERS ready orders on released carts), a second bin per SKU
with stock for every order of the import (so its orders reserve, not backorder) and a
native channel `import`. Then one `wavepack serve` runs on it
(server.max_body_bytes raised for the CSV) and the scan bench's load generator drives
HANDHELDS handhelds, each one scan every 4 s ± 25 % (the scan bench's steady phase):

- phase "no import": SECONDS of that load;
- phase "during import": the same load while the CSV is POSTed (a supervisor token,
  ?channel=import), sent as the phase starts; SECONDS is chosen shorter than the import,
  and the report says whether the phase lay inside it.

Per phase: the server-side handling of each scan (GET /api/v1/metrics/handheld, reset per
phase), the handhelds' round trips, GET /healthz round trips sampled 5 times a second by a
thread here, and the database's commit floor beside it: on PostgreSQL the scan bench's
CommitProbe (one row committed 20 times a second on a connection of its own), on SQLite
the same on a separate file in the same directory (WAL, synchronous=FULL, as the app).
The CSV has one line per order, each order its own phone and address (--same-contact:
all to one phone and address, the risk rule's worst case). Target: scan p99 during the
import ≤ 2× without it, server side and at the handheld (a missed target is reported, not
an error). Checks (exit 1): every scan acked, no error ack, no handheld out of work, the
import answered 201 with every line created and none refused or invalid.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

from .common import Row, fresh_database, loadavg, log, median, p99, pg_unreachable, \
    server_versions
from .scans import ACTOR, AISLES, BAYS, SHELVES, SKUS, CommitProbe, Floor, Phase, Server, \
    drop_role, make_role, run_phase, seed_floor, sku

MAX_RATIO = 2.0            # scan p99 during the import ÷ without it
CHANNEL = "import"
HEAD = ("order_ref,channel,sku,quantity,unit_price,currency,ship_name,ship_phone,"
        "ship_address1,ship_city,ship_postcode,ship_country,placed_at")


def import_csv(lines: int, same_contact: bool = False) -> bytes:
    """`lines` orders of one line each: a random SKU of the floor, 1–2 units, placed a
    second apart; each to its own phone and address (or all to one: same_contact)."""
    rnd = random.Random(29)
    t0 = dt.datetime(2026, 2, 2, 9, 0, tzinfo=dt.timezone.utc)
    rows = [HEAD]
    for i in range(lines):
        who = 0 if same_contact else i
        placed = (t0 + dt.timedelta(seconds=i)).isoformat()
        rows.append(f"IMP-{i:07d},web,{sku(rnd.randrange(SKUS))},{rnd.randint(1, 2)},4.99,"
                    f"GBP,Import Customer {who},+4479{who:08d},{who} Import Road,York,"
                    f"YO{who % 30 + 1} {who % 9 + 1}AB,GB,{placed}")
    return ("\n".join(rows) + "\n").encode()


def second_bin(i: int) -> str:
    """The level-2 bin above SKU i's pick bin (scans.location is level 1)."""
    aisle, rest = divmod(i, BAYS * SHELVES)
    bay, shelf = divmod(rest, SHELVES)
    return f"{chr(65 + aisle)}-{bay + 1:02d}-{shelf + 1:02d}-2"


def stock_for_import(url: str, lines: int) -> None:
    """A second bin per SKU holding enough for every order of the import (2 units each at
    most), and the native channel the CSV is imported into."""
    from server import clock, create_app
    from server.services import channels, stock
    from server.store import db as store_db

    from .common import close_db, connected
    assert AISLES * BAYS * SHELVES == SKUS
    each = 2 * lines // SKUS + 50
    app = create_app({"database": {"url": url}, "testing": True})
    with connected(app):
        now = clock.now()
        with store_db.write_tx():
            for i in range(SKUS):
                stock.change_stock("main", second_bin(i), sku(i), set_to=each, actor=ACTOR,
                                   now=now, reason="count")
        channels.add_channel(CHANNEL, "native", currency="GBP", actor=ACTOR)
    close_db()


# ---- what runs beside the handhelds -----------------------------------------------------

class SqliteCommitProbe(threading.Thread):
    """CommitProbe's SQLite twin: one row INSERTed and COMMITted RATE times a second into a
    file of its own in the database's directory (same disk), WAL and synchronous=FULL as
    the app opens its database: the floor under a scan's commit on this disk right now."""
    RATE = CommitProbe.RATE

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.path = os.path.join(os.path.dirname(url[len("sqlite:///"):]), "commit-probe.db")
        self.lat_ms: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, "
                         "at REAL NOT NULL)")
            while not self.done.wait(1 / self.RATE):
                t0 = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO probe (at) VALUES (?)", (time.time(),))
                conn.execute("COMMIT")
                self.lat_ms.append((time.perf_counter() - t0) * 1000)
        finally:
            conn.close()


class HealthzSampler(threading.Thread):
    """GET /healthz RATE times a second (one after another: a slow answer delays the next
    sample, it is not hidden), each on a new connection, as a load balancer asks."""
    RATE = 5

    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.url = base + "/healthz"
        self.samples: list[tuple[float, float]] = []     # (started, seconds)
        self.failed: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1 / self.RATE):
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=300) as resp:
                    resp.read()
                    if resp.status != 200:
                        self.failed.append(f"HTTP {resp.status}")
            except Exception as err:  # noqa: BLE001 - counted and reported
                self.failed.append(f"{type(err).__name__}: {err}"[:100])
                continue
            self.samples.append((t0, time.perf_counter() - t0))

    def within(self, start: float, seconds: float) -> list[float]:
        """Round trips (ms) of the samples sent in that window."""
        return [s * 1000 for t, s in self.samples if start <= t < start + seconds]


class Upload(threading.Thread):
    """The CSV POSTed as multipart/form-data (field `file`), as the admin page sends it."""
    BOUNDARY = "wavepack-bench-import"

    def __init__(self, base: str, token: str, csv: bytes):
        super().__init__(daemon=True)
        self.url = f"{base}/api/v1/orders:import?channel={CHANNEL}"
        self.token = token
        self.form = (f"--{self.BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
                     f"filename=\"orders.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode() \
            + csv + f"\r\n--{self.BOUNDARY}--\r\n".encode()
        self.started = self.ended = 0.0
        self.status = 0
        self.body: dict = {}
        self.error = ""

    def run(self) -> None:
        import requests
        self.started = time.perf_counter()
        try:
            r = requests.post(self.url, data=self.form, timeout=7200, headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": f"multipart/form-data; boundary={self.BOUNDARY}"})
            self.status = r.status_code
            try:
                self.body = r.json()
            except ValueError:
                self.error = f"not JSON: {r.text[:200]!r}"
        except Exception as err:  # noqa: BLE001 - reported as a failed check
            self.error = f"{type(err).__name__}: {err}"[:200]
        self.ended = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def problems(self, lines: int) -> list[str]:
        """The import must have answered 201 and created every line of the (valid) file."""
        if self.error or self.status != 201:
            return [f"import answered {self.status or 'nothing'}: "
                    f"{self.error or json.dumps(self.body)[:200]}"]
        b = self.body
        out = []
        if b.get("created", 0) + b.get("duplicate", 0) + b.get("rejected", 0) != lines \
                or len(b.get("report", ())) != lines:
            out.append(f"import report does not add up: created {b.get('created')} + "
                       f"duplicate {b.get('duplicate')} + rejected {b.get('rejected')} "
                       f"({len(b.get('report', ()))} report lines) ≠ {lines:,} lines")
        if b.get("created") != lines or b.get("invalid") or b.get("rejected"):
            out.append(f"import of a valid file: created {b.get('created')}, invalid "
                       f"{b.get('invalid')}, rejected {b.get('rejected')} of {lines:,}")
        return out

    def statuses(self) -> dict:
        return dict(Counter(r.get("status") for r in self.body.get("report", ())))


# ---- one database -----------------------------------------------------------------------

@dataclass
class PhaseRun:
    phase: Phase
    healthz_ms: list[float]
    healthz_failed: list[str]


@dataclass
class DbRun:
    kind: str
    floor: Floor
    banner: str
    none: PhaseRun
    during: PhaseRun
    upload: Upload
    go: float                      # when the "during" phase started (perf_counter)
    problems: list[str] = field(default_factory=list)

    @property
    def inside(self) -> bool:
        """The "during" phase ended before the import's answer came back."""
        return self.go + self.during.phase.wall <= self.upload.ended


def _phase(server: Server, floor: Floor, name: str, args, tmp: str,
           upload: Upload | None = None) -> tuple[PhaseRun, float]:
    sampler = HealthzSampler(server.base)
    went = [0.0]

    def go():
        went[0] = time.perf_counter()
        sampler.start()
        if upload:
            upload.start()
    probe = SqliteCommitProbe if server.url.startswith("sqlite") else None
    try:
        phase = run_phase(server, floor, name, args.handhelds, args.period, args.seconds,
                          args.procs, tmp, probe=probe, on_go=go)
    finally:
        sampler.done.set()
    sampler.join()
    return PhaseRun(phase, sampler.within(went[0], args.seconds), sampler.failed), went[0]


def run_db(kind: str, args, tmp: str) -> DbRun:
    tmp = os.path.join(tmp, kind)
    os.makedirs(tmp)
    csv = import_csv(args.lines, args.same_contact)
    with fresh_database(kind) as url:
        role, serve_url = "", url
        if kind == "postgresql":
            url, serve_url, role = make_role(url)    # as in production (see scans.make_role)
        try:
            log(f"[{kind}] seeding {args.orders:,} orders, {args.handhelds} pickers, and "
                f"stock for {args.lines:,} more …")
            floor = seed_floor(url, args.orders, args.handhelds + 1)
            stock_for_import(url, args.lines)
            log(f"[{kind}] floor: {floor.orders:,} orders on {floor.carts:,} carts "
                f"({floor.seconds:.0f} s); CSV {len(csv) / 1e6:.1f} MB")
            server = Server(serve_url, "gevent", tmp, {
                "WAVEPACK_SERVER_MAX_BODY_BYTES": str(len(csv) + (1 << 20)),
                **dict(kv.split("=", 1) for kv in args.server_env)})
            try:
                log(f"[{kind}] {server.banner}; no import: {args.handhelds} handhelds × 1 "
                    f"scan/{args.period:g} s for {args.seconds:g} s")
                none, _ = _phase(server, floor, "no import", args, tmp)
                log(f"[{kind}]   {none.phase.acks:,} verdicts, server p99 "
                    f"{none.phase.server.get('p99_ms')} ms; during import: the same while "
                    f"{args.lines:,} lines are POSTed")
                upload = Upload(server.base, floor.supervisor, csv)
                during, go = _phase(server, floor, "during import", args, tmp, upload)
                log(f"[{kind}]   {during.phase.acks:,} verdicts, server p99 "
                    f"{during.phase.server.get('p99_ms')} ms; waiting for the import …")
                while upload.is_alive():
                    upload.join(30)
                    if upload.is_alive():
                        log(f"[{kind}]   import running for "
                            f"{time.perf_counter() - upload.started:.0f} s")
            finally:
                server.stop()
        finally:
            if role:
                drop_role(role)
    log(f"[{kind}]   import: {upload.status} in {upload.seconds:.1f} s "
        f"({args.lines / upload.seconds:,.0f} orders/s)")
    run = DbRun(kind, floor, server.banner, none, during, upload, go)
    for ph in (none, during):
        p, name = ph.phase, ph.phase.name
        if p.timeouts:
            run.problems.append(f"{name}: {p.timeouts} scans never acked")
        if p.errors:
            run.problems.append(f"{name}: error acks {p.errors}")
        if p.connect_failed:
            run.problems.append(f"{name}: {p.connect_failed} handhelds failed to connect")
        if p.out_of_work:
            run.problems.append(f"{name}: {p.out_of_work} handhelds ran out of work "
                                f"(seed more --orders)")
        if ph.healthz_failed:
            run.problems.append(f"{name}: {len(ph.healthz_failed)} /healthz failed "
                                f"({ph.healthz_failed[0]})")
    run.problems += upload.problems(args.lines)
    return run


# ---- report -----------------------------------------------------------------------------

def _ratio(during: float, none: float) -> str:
    return f"p99 {during / none:.2f}× none" if none and none == none else "-"


def _rows(run: DbRun, args) -> list[Row]:
    kind, none, during = run.kind, run.none, run.during
    checks = "FAIL: " + "; ".join(run.problems) if run.problems else ""
    ok = "ok (informative)"
    what = f"{args.lines:,}-line import"
    load = f"{args.handhelds} handhelds × 1 scan/{args.period:g} s"
    s_none = none.phase.server.get("p99_ms", float("nan")) / 1000
    s_during = during.phase.server.get("p99_ms", float("nan")) / 1000
    met = s_during <= MAX_RATIO * s_none
    if checks:
        verdict = checks
    elif not run.inside:
        verdict = "not comparable: the import ended inside the phase (a shorter --seconds)"
    else:
        verdict = ("PASS (every scan acked)" if met
                   else "FAIL (above target; every scan acked)")
    rows = []
    for ph, name in ((none, f"no import, {load}"), (during, f"during a {what}")):
        base = ph is none
        srv = ph.phase.server
        rows.append(Row(
            f"scan verdict, server side: {name}", kind, srv.get("n", 0),
            srv.get("median_ms", float("nan")) / 1000, srv.get("p99_ms", float("nan")) / 1000,
            ph.phase.rate, "1.0 (baseline)" if base else _ratio(s_during, s_none),
            "-" if base else f"p99 ≤ {MAX_RATIO:g}× none",
            (checks or "ok (baseline)") if base else verdict, unit="verdicts/s"))
    # the handheld's round trip is judged too: a stalled event loop delays a scan before
    # its handler starts, which the server-side time does not see
    for label, get, judged in (
            ("scan verdict, handheld round trip", lambda ph: ph.phase.lat_ms, True),
            ("GET /healthz round trip, 5/s", lambda ph: ph.healthz_ms, False),
            (_floor_label(kind), lambda ph: ph.phase.commit_ms, False)):
        xs_none = get(none)
        for ph, name in ((none, "no import"), (during, "during import")):
            xs = get(ph)
            if ph is none or not judged:
                target, verdict = "", ok
            else:
                target = f"p99 ≤ {MAX_RATIO:g}× none"
                verdict = checks or (
                    "not comparable" if not run.inside else
                    "PASS" if p99(xs) <= MAX_RATIO * p99(xs_none) else "FAIL (above target)")
            rows.append(Row(f"{label}: {name}", kind, len(xs), median(xs) / 1000,
                            p99(xs) / 1000, None,
                            "1.0 (baseline)" if ph is none else
                            _ratio(p99(xs), p99(xs_none)), target, verdict))
    up = run.upload
    rows.append(Row(f"POST /api/v1/orders:import, {what}"
                    f"{' (one contact)' if args.same_contact else ''}, under the scans: "
                    f"{up.seconds:.1f} s", kind, up.body.get("created", 0), None, None,
                    args.lines / up.seconds if up.seconds else None, "", "",
                    "FAIL: " + "; ".join(up.problems(args.lines)) if up.problems(args.lines)
                    else "ok (all created)"))
    return rows


def _floor_label(kind: str) -> str:
    if kind == "sqlite":
        return (f"SQLite INSERT + COMMIT alone (own file, WAL, synchronous=FULL), "
                f"{SqliteCommitProbe.RATE}/s")
    return f"PostgreSQL INSERT + COMMIT alone, {CommitProbe.RATE}/s"


def report(runs: dict[str, DbRun | None], skips: dict[str, str], args, argv,
           seconds: float, load_before: str) -> None:
    from .run import _command, _commit, _load, _table
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"wavepack import bench (W9) — {when}, commit {_commit()}, Python "
          f"{platform.python_version()}, {server_versions()}, {os.cpu_count()} CPUs, load "
          f"average at start {load_before}, at end {_load()}\n")
    rows: list[Row] = []
    for kind in ("sqlite", "postgresql"):
        if runs.get(kind):
            rows += _rows(runs[kind], args)
        else:
            reason = skips.get(kind, "not run")
            row = Row.skipped(f"scan verdict, server side: during a {args.lines:,}-line "
                              f"import", kind, reason, f"p99 ≤ {MAX_RATIO:g}× none")
            if reason.startswith("error"):        # a crash: a failed row, not a skip
                row.verdict = f"FAIL: {reason}"
            rows.append(row)
    print(_table(rows))
    print()
    for run in filter(None, runs.values()):
        up, b = run.upload, run.upload.body
        print(f"- {run.kind}: {run.banner.lstrip('* ')}; floor {run.floor.orders:,} orders on "
              f"{run.floor.carts:,} carts (seeded in {run.floor.seconds:.0f} s)")
        print(f"  - import: HTTP {up.status} in {up.seconds:.1f} s = "
              f"{args.lines / up.seconds:,.0f} orders/s; created {b.get('created')}, invalid "
              f"{b.get('invalid')}, duplicate {b.get('duplicate')}, rejected "
              f"{b.get('rejected')}; order status {up.statuses()}")
        print(f"  - the \"during import\" phase ran from {max(0.0, run.go - up.started):.1f} s "
              f"to {run.go - up.started + run.during.phase.wall:.1f} s of the import: "
              + ("inside it" if run.inside else "NOT inside it (the import ended first)"))
        for ph in (run.none, run.during):
            p = ph.phase
            print(f"  - {p.name}: {p.acks:,} verdicts in {p.wall:.1f} s, {p.verdicts}; "
                  f"acks lost {p.timeouts}, error acks {p.errors or 0}; server max "
                  f"{p.server.get('max_ms')} ms; server process CPU "
                  f"{p.cpu.get('server', 0) / p.wall:.0%} of a core; /healthz max "
                  f"{max(ph.healthz_ms, default=float('nan')):.0f} ms"
                  + (f"; {p.late:,} scans started late (generator behind)" if p.late else ""))
    if runs:
        print(f"- server side = the `scan` handler, event in to ack out, commit included "
              f"(GET /api/v1/metrics/handheld, reset before each phase); handheld round trip "
              f"= python-socketio clients in {args.procs} gevent processes on the same "
              f"{os.cpu_count()}-CPU machine; ratio = p99 during the import ÷ p99 without it, "
              f"same server, same run")
        print(f"- INSERT + COMMIT alone: one row committed {CommitProbe.RATE} times a second "
              f"beside the phase on a connection of its own (SQLite: a file of its own in the "
              f"database's directory): the disk's part of every ack, a floor no server change "
              f"lowers")
        print("- CSV: one line per order, " + (
            "all to one phone and address (--same-contact)" if args.same_contact else
            "each order its own phone and address") + f"; POSTed with a supervisor token, "
              f"?channel={CHANNEL}, as the phase starts")
    if args.server_env:
        print(f"- server environment: {' '.join(args.server_env)}")
    print(f"- total bench time {seconds:.0f} s")
    print(f"\ncommand: {_command(argv, 'tests.bench.imports')}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.bench.imports",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="a 30,000-line import, 100 handhelds, 10 s phases")
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    p.add_argument("--lines", type=int, default=None,
                   help="orders in the CSV, one line each (default 100,000; quick 30,000)")
    p.add_argument("--handhelds", type=int, default=None, help="default 300; quick 100")
    p.add_argument("--period", type=float, default=4.0, help="seconds between a handheld's "
                                                              "scans")
    p.add_argument("--seconds", type=float, default=None,
                   help="length of each phase, shorter than the import (default 30; quick 10)")
    p.add_argument("--orders", type=int, default=None,
                   help="ready orders of the floor (default 3,000; quick 1,000)")
    p.add_argument("--procs", type=int, default=2, help="load generator processes")
    p.add_argument("--same-contact", action="store_true",
                   help="every order of the CSV to one phone and address")
    p.add_argument("--db", choices=("both", "sqlite", "postgresql"), default="both")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment of the server (experiments, e.g. "
                        "GEVENT_MONITOR_THREAD_ENABLE=1 GEVENT_MAX_BLOCKING_TIME=0.1: what "
                        "held the event loop goes to its log, kept with --keep-logs)")
    p.add_argument("--keep-logs", action="store_true",
                   help="keep the server logs and load generator stderr (always kept on a "
                        "failure)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.lines = args.lines or (30_000 if args.quick else 100_000)
    args.handhelds = args.handhelds or (100 if args.quick else 300)
    args.seconds = args.seconds or (10.0 if args.quick else 30.0)
    args.orders = args.orders or (1_000 if args.quick else 3_000)
    started, load_before = time.perf_counter(), loadavg()
    skips = {"postgresql": "--no-pg given" if args.no_pg else pg_unreachable()}
    if args.db != "both":
        skips[{"sqlite": "postgresql", "postgresql": "sqlite"}[args.db]] = f"--db {args.db}"
    runs: dict[str, DbRun | None] = {}
    failed, kept = False, ""
    tmp = tempfile.mkdtemp(prefix="wavepack-imports-")
    try:
        for kind in ("sqlite", "postgresql"):
            if skips.get(kind):
                continue
            try:
                runs[kind] = run_db(kind, args, tmp)
                failed |= bool(runs[kind].problems)
            except Exception as err:  # noqa: BLE001 - a crash is a failed row, not the end
                log(traceback.format_exc())
                failed = True
                skips[kind] = f"error: {type(err).__name__}: {str(err)[:120]}"
    finally:
        if failed or args.keep_logs:          # server logs and load generator stderr
            kept = tmp
            log(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report(runs, skips, args, argv, time.perf_counter() - started, load_before)
    if kept:
        print(f"- server logs and load generator stderr kept in {kept}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
