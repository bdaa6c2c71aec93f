"""Print benchmark (issue W3): stations printing at once through one process's print
workers, and label previews.

    python -m tests.bench.printing [--quick] [--no-pg] [--stations 20] [--labels 50]

Printing: STATIONS fake ZPL printers (printers/fake.py) run in a separate process (the
"printer farm", so their sockets do not share the GIL with the server), one per station.
In the bench process, as in `wavepack serve`, the print worker threads (one per printer,
server/jobs/print_worker, statuses recorded as live printer state) drain the durable
queue, while one thread per station enqueues LABELS shipping labels (real ZPL from
printers.labels, the job id on each) back to back and wakes its printer's worker, as the
pack station does. Every label must reach its own printer exactly once and every job must
be `printed` (the printers' received job ids against the database); jobs/s is jobs ÷ time
from the first enqueue to the last label at a printer; latency is enqueue committed →
label bytes complete at the printer. Baseline: the same run with one station.
A paced row has every station print one label every PACE_S seconds (packing speed).

Previews: printers.preview.render_png of distinct shipping labels on the long-lived Node
worker; the baseline is what a preview cost before it: a `node -e` start per label.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import (
    Row, close_db, fresh_database, log, median, p99, pg_unreachable, server_versions,
)
from .run import _table

ROOT = Path(__file__).resolve().parents[2]
PACE_S = 2.0                  # a packer's label every few seconds is fast packing
_JOB_RE = re.compile(rb"job (\d+)\^FS")


# ---- the printer farm (a child process) -------------------------------------------------

def farm_main(count: int) -> int:
    """Run `count` fake printers; print their ports as one JSON line; on stdin EOF print
    {port: [[arrival_time, job_id or null], ...]} and exit."""
    from printers.fake import FakePrinter

    class TimedPrinter(FakePrinter):
        def __init__(self):
            super().__init__()
            self.arrivals: list[tuple[float, int | None]] = []

        def _take_formats(self, buffer: bytes) -> bytes:
            before = len(self.jobs)
            rest = super()._take_formats(buffer)
            now = time.time()
            for job in self.jobs[before:]:
                m = _JOB_RE.search(job)
                self.arrivals.append((now, int(m[1]) if m else None))
            return rest

    printers = [TimedPrinter().start() for _ in range(count)]
    print(json.dumps([p.port for p in printers]), flush=True)
    sys.stdin.read()
    print(json.dumps({p.port: p.arrivals for p in printers}), flush=True)
    for p in printers:
        p.stop()
    return 0


class Farm:
    def __init__(self, count: int):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.bench.printing", "--farm",
                                      str(count)], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.ports: list[int] = json.loads(self.proc.stdout.readline())
        self.urls = [f"tcp://127.0.0.1:{port}" for port in self.ports]

    def arrivals(self) -> dict[str, list[tuple[float, int | None]]]:
        out, _ = self.proc.communicate(timeout=60)
        return {f"tcp://127.0.0.1:{port}": [tuple(a) for a in got]
                for port, got in json.loads(out).items()}

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


# ---- one printing run -------------------------------------------------------------------

@dataclass
class PrintRun:
    stations: int
    labels: int
    jobs: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    status_rows: int = 0


def _label(station: int, n: int):
    from printers.labels import Address, ShippingLabel, build_shipping_label, make_sscc
    sender = Address("Wavepack Ltd", ("12 Dock Road",), "Leeds", "LS1 1AA", country="GB")
    to = Address(f"Customer {station}-{n}", ("1 High St",), "York", "YO1 7HH", country="GB")
    sscc = make_sscc(1, "0614141", station * 100_000 + n)

    def build(job_id: int) -> str:
        return build_shipping_label(ShippingLabel(
            sender, to, 10_000_000 + station * 100_000 + n, "DHL", "Express",
            f"1Z999AA1{job_id:010d}", sscc, 1234, 1, 1, job_id=job_id))
    return build


def run_printing(url: str, stations: int, labels: int, pace_s: float = 0.0) -> PrintRun:
    """Fake printers in the farm, print workers + station threads in this process."""
    from server import create_app
    from server.jobs import print_worker
    from server.services import print_queue, printer_state, setup
    from server.store.db import db, execute

    run = PrintRun(stations, labels)
    farm = Farm(stations)
    stop = threading.Event()
    try:
        app = create_app({"database": {"url": url}, "testing": True,
                          "printers": {f"label-{i}": {"url": u}
                                       for i, u in enumerate(farm.urls)}})
        with app.app_context():
            setup.init_db()
        threads = print_worker.start_all(app, farm.urls, stop, timeout=5.0, poll_s=1.0)
        enqueued: dict[int, tuple[str, float]] = {}
        lock = threading.Lock()
        errors: list[str] = []
        go = threading.Barrier(stations)

        def station(i: int) -> None:
            printer = farm.urls[i]
            try:
                go.wait()
                for n in range(labels):
                    started = time.monotonic()
                    with app.app_context(), db.connection_context():
                        job_id = print_queue.enqueue(f"PACK-{i:02d}", printer, "label",
                                                     f"order {i}-{n}", _label(i, n), "bench")
                    at = time.time()
                    print_worker.wake(printer)
                    with lock:
                        enqueued[job_id] = (printer, at)
                    if pace_s:
                        time.sleep(max(0.0, pace_s - (time.monotonic() - started)))
            except Exception as err:  # noqa: BLE001
                errors.append(f"station {i}: {type(err).__name__}: {err}")

        t0 = time.time()
        workers = [threading.Thread(target=station, args=(i,)) for i in range(stations)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        total = stations * labels
        deadline = time.monotonic() + 120
        with app.app_context(), db.connection_context():
            while time.monotonic() < deadline:
                done = execute("SELECT COUNT(*) FROM print_job WHERE state = 'printed'"
                               ).fetchone()[0]
                if done >= total:
                    break
                time.sleep(0.05)
            states = dict(execute("SELECT state, COUNT(*) FROM print_job GROUP BY state"
                                  ).fetchall())
            run.status_rows = len(printer_state.all())
        stop.set()
        for t in threads:
            t.join(timeout=15)
        arrivals = farm.arrivals()
    finally:
        stop.set()
        farm.close()
        close_db()
    run.problems += errors
    _check(run, enqueued, arrivals, states, total)
    if arrivals and enqueued:
        last = max((a for got in arrivals.values() for a, _ in got), default=t0)
        run.seconds = last - t0
    return run


def _check(run: PrintRun, enqueued: dict, arrivals: dict, states: dict, total: int) -> None:
    """Every job printed, at its own printer, exactly once; latencies of those that were."""
    run.jobs = len(enqueued)
    if run.jobs != total:
        run.problems.append(f"{total - run.jobs} jobs not enqueued")
    if states.get("printed", 0) != total:
        run.problems.append(f"job states {states}, expected {total} printed")
    seen: dict[int, int] = {}
    for url, got in arrivals.items():
        for at, job_id in got:
            if job_id is None or job_id not in enqueued:
                run.problems.append(f"{url} got a label that is no job of this run")
                continue
            seen[job_id] = seen.get(job_id, 0) + 1
            want_url, enq_at = enqueued[job_id]
            if want_url != url:
                run.problems.append(f"job {job_id} printed at {url}, not {want_url}")
            if seen[job_id] == 1:
                run.latencies.append(at - enq_at)
    doubles = sum(1 for c in seen.values() if c > 1)
    lost = sum(1 for j in enqueued if j not in seen)
    if doubles:
        run.problems.append(f"{doubles} jobs printed more than once")
    if lost:
        run.problems.append(f"{lost} jobs never reached their printer")


# ---- previews ---------------------------------------------------------------------------

@dataclass
class PreviewRun:
    cold: float = float("nan")
    warm: list[float] = field(default_factory=list)
    cached: list[float] = field(default_factory=list)
    per_start: list[float] = field(default_factory=list)
    problem: str = ""


NODE_PER_LABEL = """
const { ready } = require("zpl-renderer-js");
let zpl = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => (zpl += c));
process.stdin.on("end", async () => {
  const { api } = await ready;
  process.stdout.write(await api.zplToBase64Async(zpl, 101.6, 152.4, 8));
});
"""


def run_previews(n: int, baseline_n: int) -> PreviewRun:
    from printers import preview
    out = PreviewRun()
    modules = preview.renderer_dir()
    if modules is None or shutil.which("node") is None:
        out.problem = "zpl-renderer-js not installed (make setup)"
        return out
    renderer = preview.Renderer(cache_size=4)
    try:
        t = time.perf_counter()
        renderer.render_png(_label(0, 0)(1), timeout=120)
        out.cold = time.perf_counter() - t
        for k in range(n):
            zpl = _label(1, k)(1000 + k)
            t = time.perf_counter()
            renderer.render_png(zpl, timeout=60)
            out.warm.append(time.perf_counter() - t)
        zpl = _label(1, 0)(1000)
        renderer.render_png(zpl, timeout=60)
        for _ in range(n):
            t = time.perf_counter()
            renderer.render_png(zpl, timeout=60)
            out.cached.append(time.perf_counter() - t)
    finally:
        renderer.close()
    env = {**os.environ, "NODE_PATH": str(modules)}
    for k in range(baseline_n):
        t = time.perf_counter()
        subprocess.run(["node", "-e", NODE_PER_LABEL], input=_label(2, k)(2000 + k).encode(),
                       capture_output=True, env=env, cwd=modules.parent, timeout=120,
                       check=True)
        out.per_start.append(time.perf_counter() - t)
    return out


# ---- report -----------------------------------------------------------------------------

def _print_row(what: str, kind: str, run: PrintRun | None, base: PrintRun | None,
               skip: str = "", paced: bool = False) -> Row:
    if run is None:
        return Row.skipped(what, kind, skip, "each label once")
    rate = run.jobs / run.seconds if run.seconds else 0.0
    base_rate = base.jobs / base.seconds if base and base.seconds else 0.0
    ratio = "1.0 (baseline)" if base is None else (
        f"{rate / base_rate:.1f}× jobs/s" if base_rate else "-")
    if paced:
        ratio = f"p99 {p99(run.latencies) / p99(base.latencies):.1f}× base" if base else "-"
    verdict = ("FAIL: " + "; ".join(run.problems)[:300]) if run.problems else \
        "ok (each job printed once, at its printer)"
    return Row(what, kind, run.jobs, median(run.latencies), p99(run.latencies), rate, ratio,
               "each label once", verdict, unit="jobs/s")


def _preview_rows(previews: PreviewRun) -> list[Row]:
    base = median(previews.per_start)

    def row(what: str, times: list[float], verdict: str = "ok") -> Row:
        ratio = "1.0 (baseline)" if times is previews.per_start else \
            f"{median(times) / base:.4f}"
        return Row(what, "-", len(times), median(times), p99(times), None, ratio, "",
                   verdict)
    return [row("preview: node -e per label (baseline)", previews.per_start),
            row("preview: render_png, first (Node start)", [previews.cold]),
            row("preview: render_png, distinct labels", previews.warm),
            row("preview: render_png, same label again", previews.cached, "ok (cached)")]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.farm:
        return farm_main(args.farm)
    labels = args.labels or (20 if args.quick else 50)
    started = time.perf_counter()
    skip_pg = "--no-pg given" if args.no_pg else pg_unreachable()
    rows: list[Row] = []
    failed = False
    for kind in ("sqlite", "postgresql"):
        if kind == "postgresql" and skip_pg:
            rows += [_print_row(what, kind, None, None, skip_pg)
                     for what, *_ in _cases(args, labels)]
            continue
        base = None
        for what, stations, count, pace in _cases(args, labels):
            log(f"[{kind}] {what}")
            try:
                with fresh_database(kind) as url:
                    run = run_printing(url, stations, count, pace)
            except Exception as err:  # noqa: BLE001
                import traceback
                log(traceback.format_exc())
                rows.append(Row(what, kind, verdict=f"FAIL: error: {type(err).__name__}: "
                                                    f"{str(err)[:120]}"))
                failed = True
                continue
            rows.append(_print_row(what, kind, run, base, paced=bool(pace)))
            failed |= bool(run.problems)
            base = base or run
    log("previews")
    previews = run_previews(args.previews or (10 if args.quick else 30), 3)
    if previews.problem:
        rows.append(Row.skipped("preview render_png", "-", previews.problem))
        failed |= bool(os.environ.get("CI"))
    else:
        rows += _preview_rows(previews)
    _report(rows, args, argv, labels, time.perf_counter() - started)
    return 1 if failed else 0


def _cases(args, labels: int) -> list[tuple[str, int, int, float]]:
    n = args.stations
    return [
        ("1 station, labels back to back (baseline)", 1, labels, 0.0),
        (f"{n} stations at once, labels back to back", n, labels, 0.0),
        (f"{n} stations, a label every {PACE_S:g} s each", n, max(5, labels // 5), PACE_S),
    ]


def _report(rows: list[Row], args, argv, labels: int, seconds: float) -> None:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"\nwavepack print bench — {when}, Python {platform.python_version()}, "
          f"{server_versions()}, {os.cpu_count()} CPUs\n")
    print(_table(rows))
    print()
    print(f"- printing: {labels} labels per station (paced rows: {max(5, labels // 5)}), "
          "fake printers in their own process, print workers (one thread per printer, "
          "statuses recorded) and station threads in this one; rate = jobs ÷ (last label "
          "at a printer − first enqueue); median/p99 = enqueue committed → label bytes "
          "complete at the printer; ratio vs the 1-station row")
    print("- previews: 4×6 in shipping labels at 203 dpi; ratio vs a Node start per label")
    print(f"- total bench time {seconds:.0f} s")
    exe = os.path.relpath(sys.executable)
    exe = sys.executable if exe.startswith("..") else exe
    given = sys.argv[1:] if argv is None else argv
    print(f"\ncommand: {shlex.join([exe, '-m', 'tests.bench.printing', *given])}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.bench.printing",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer labels and previews")
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    p.add_argument("--stations", type=int, default=20)
    p.add_argument("--labels", type=int, default=0, help="labels per station (50; quick 20)")
    p.add_argument("--previews", type=int, default=0, help="previews rendered (30; quick 10)")
    p.add_argument("--farm", type=int, default=0, help=argparse.SUPPRESS)
    return p


if __name__ == "__main__":
    sys.exit(main())
