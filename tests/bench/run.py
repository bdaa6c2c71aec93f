"""Benchmarks: bulk order intake and storefront webhooks, each against a baseline measured
in the same run, printed as one table followed by the command that produced it.

    python -m tests.bench.run [--quick]
        [--only intake|webhooks|routing|batching|decoding|scans|printing|packing|documents|
                imports|tracking|exceptions|reports|floor|console_fanout|order_search]
        [--orders N]

Targets (from the issue): bulk intake with validation and reservation ≥ 2,000 orders/s on
SQLite and ≥ 1,000 orders/s on PostgreSQL (3-line orders, 10,000 of them), 100,000 orders
in under 2 minutes; webhook deliveries with HMAC check and dedupe ≥ 300/s with p99 ≤ 50 ms
through the WSGI app. PostgreSQL rows are skipped, not failed, when it is not reachable:
the bench measures, the tests judge.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import platform
import pstats
import shlex
import subprocess
import sys
import time
import traceback

from .common import Row, fresh_database, log, median, p99, pg_unreachable, server_versions

INTAKE_SQLITE_MIN = 2000     # orders/s
INTAKE_PG_MIN = 1000         # orders/s
BIG_MAX_SECONDS = 120
WEBHOOK_MIN_RATE = 300       # deliveries/s
WEBHOOK_MAX_P99 = 0.050      # seconds


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started, load_before = time.perf_counter(), _load()
    pg_reason = "--no-pg given" if args.no_pg else pg_unreachable()
    kinds = ["sqlite", "postgresql"]
    rows: list[Row] = []
    notes: list[str] = []
    if args.only in (None, "intake"):
        for kind in kinds:
            rows += _guarded(_intake_rows, kind, args, pg_reason, notes)
        rows += _guarded(_big_rows, "sqlite", args, "", notes, rows)
    if args.only in (None, "webhooks"):
        for kind in kinds:
            rows += _guarded(_webhook_rows, kind, args, pg_reason, notes)
    failed = False
    if rows:
        _report(rows, notes, argv, time.perf_counter() - started, load_before)
        # below a target is reported, not an error; a failed check or a crash is
        failed = any(r.verdict.startswith("FAIL:") for r in rows)
    # W2's pure benchmarks print their own tables (each with its own baseline and command)
    if args.only in (None, "routing"):
        from . import routing
        print()
        failed |= routing.main() != 0
    if args.only in (None, "batching"):
        from . import batching
        print()
        failed |= batching.main() != 0
    if args.only in (None, "decoding"):
        from . import decoding
        print()
        failed |= decoding.main([]) != 0
    if args.only in (None, "scans"):
        # W2 scan verdicts: its own table (gevent server against the threading baseline)
        from . import scans
        print()
        failed |= scans.main(["--quick"] * args.quick + ["--no-pg"] * args.no_pg) != 0
    if args.only in (None, "printing"):
        # W3 printing: 20 stations through one process's print workers, and previews
        from . import printing
        print()
        failed |= printing.main(["--quick"] * args.quick + ["--no-pg"] * args.no_pg) != 0
    if args.only in (None, "packing"):
        # W3 packing: pack confirm → label bytes at the printer through wavepack serve
        from . import packing
        print()
        failed |= packing.main(["--quick"] * args.quick + ["--no-pg"] * args.no_pg) != 0
    if args.only in (None, "documents"):
        # W7: handheld scans and /healthz while 4 stations open PDFs, against none
        from . import documents
        print()
        failed |= documents.main(["--quick"] * args.quick + ["--no-pg"] * args.no_pg) != 0
    if args.only in (None, "imports"):
        # W9 big imports: scan verdicts while a 100,000-line CSV import runs, against none
        from . import imports
        print()
        failed |= imports.main(["--quick"] * args.quick + ["--no-pg"] * args.no_pg) != 0
    if args.only in (None, "tracking"):
        # W4 tracking: events via the API in batches of 100, the delay/loss sweep over 1M
        from . import tracking
        print()
        failed |= tracking.main(["--quick"] * args.quick + ["--no-pg"] * args.no_pg) != 0
    if args.only in (None, "exceptions"):
        # W4 exception queue: the list's p99 with 100,000 exceptions
        from . import exceptions
        print()
        failed |= exceptions.main(["--quick"] * args.quick + ["--no-pg"] * args.no_pg) != 0
    if args.only in (None, "reports"):
        # W5 reports: every GET /api/v1/reports/{name} over 1M scans and 100k orders (PG)
        from . import reports
        print()
        failed |= reports.main(["--quick"] * args.quick + ["--no-pg"] * args.no_pg) != 0
    if args.only in (None, "floor"):
        # W5 console: the floor snapshot on a busy floor
        from . import floor
        print()
        failed |= floor.main(["--quick"] * args.quick + ["--no-pg"] * args.no_pg) != 0
    if args.only in (None, "console_fanout"):
        # W5 console: 300 handhelds scanning with 5 consoles connected against none
        from . import console_fanout
        print()
        failed |= console_fanout.main(["--quick"] * args.quick + ["--no-pg"] * args.no_pg) != 0
    if args.only in (None, "order_search"):
        # W5 console: order search by each kind of key and an order's timeline, 100,000 orders
        from . import order_search
        print()
        failed |= order_search.main(["--quick"] * args.quick + ["--no-pg"] * args.no_pg) != 0
    return 1 if failed else 0


def _guarded(section, kind: str, args, pg_reason: str, notes: list[str], *extra) -> list[Row]:
    """One section's rows; a crash (code being written as we measure) becomes a FAIL row
    and the rest of the bench still runs."""
    skip = pg_reason if kind == "postgresql" else ""
    try:
        return section(kind, args, skip, notes, *extra)
    except Exception as err:  # noqa: BLE001
        log(traceback.format_exc())
        return [Row(section.__name__.strip("_").replace("_rows", ""), kind,
                    verdict=f"FAIL: error: {type(err).__name__}: {str(err)[:120]}")]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.bench.run",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="skip the 100,000-order run")
    p.add_argument("--only", choices=("intake", "webhooks", "routing", "batching", "decoding",
                                      "scans", "printing", "packing", "documents",
                                      "imports", "tracking", "exceptions", "reports",
                                      "floor", "console_fanout", "order_search"))
    p.add_argument("--orders", type=int, default=10_000, help="orders in the bulk runs")
    p.add_argument("--chunk", type=int, default=500, help="orders per transaction (bulk)")
    p.add_argument("--naive", type=int, default=1_000,
                   help="orders in the one-order-per-transaction baseline")
    p.add_argument("--big", type=int, default=100_000, help="orders in the big SQLite run")
    p.add_argument("--deliveries", type=int, default=2_000, help="webhook deliveries")
    p.add_argument("--dupes", type=int, default=500, help="webhook re-deliveries")
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    p.add_argument("--notify", action="store_true",
                   help="intake with a ship-by promise rule and a notify URL on the channel "
                        "(each order also queues its 'received' notification)")
    p.add_argument("--profile", action="store_true",
                   help="cProfile the bulk intake runs; top functions go to stderr")
    return p


# ---- intake ------------------------------------------------------------------------------

def _intake_rows(kind: str, args, skip: str, notes: list[str]) -> list[Row]:
    from .intake import run_intake
    floor = INTAKE_SQLITE_MIN if kind == "sqlite" else INTAKE_PG_MIN
    target = f"≥ {floor:,} orders/s"
    bulk_what = f"intake bulk, {args.chunk}/tx (latency per chunk)" + (
        ", ship-by + notify" if args.notify else "")
    naive_what = "intake naive, 1 order/tx (baseline; latency per order)"
    if skip:
        return [Row.skipped(bulk_what, kind, skip, target), Row.skipped(naive_what, kind, skip)]
    log(f"[{kind}] intake baseline: {args.naive:,} orders, one per transaction")
    with fresh_database(kind) as url:
        naive = run_intake(url, args.naive, 1)
    log(f"[{kind}] intake bulk: {args.orders:,} orders, {args.chunk} per transaction")
    profiler = cProfile.Profile() if args.profile else None
    with fresh_database(kind) as url:
        bulk = run_intake(url, args.orders, args.chunk,
                          profile=profiler.runcall if profiler else None,
                          notify=args.notify)
    if profiler:
        _print_profile(profiler, f"{kind} bulk intake, {args.orders:,} orders")
        notes.append(f"{kind} bulk ran under cProfile (--profile): its rate is understated")
    notes.append(f"{kind} bulk: order status {bulk.statuses}; naive: {naive.statuses}")
    ratio = bulk.rate / naive.rate if naive.rate else float("nan")
    return [
        Row(bulk_what, kind, bulk.orders, median(bulk.latencies), p99(bulk.latencies), bulk.rate,
            f"{ratio:.1f}× naive", target, _verdict(bulk.rate >= floor, bulk.problems)),
        Row(naive_what, kind, naive.orders, median(naive.latencies), p99(naive.latencies),
            naive.rate, "1.0 (baseline)", "", _verdict(None, naive.problems)),
    ]


def _big_rows(kind: str, args, skip: str, notes: list[str], earlier: list[Row]) -> list[Row]:
    from .intake import run_intake
    what = f"intake bulk {args.big:,} orders, {args.chunk}/tx (total time)"
    target = f"< {BIG_MAX_SECONDS} s total"
    if args.quick:
        return [Row.skipped(what, "sqlite", "--quick", target)]
    log(f"[sqlite] intake bulk: {args.big:,} orders (total time)")
    with fresh_database("sqlite") as url:
        big = run_intake(url, args.big, args.chunk)
    tenth = max(1, len(big.latencies) // 10)
    notes.append(f"sqlite {args.big:,}: {big.seconds:.1f} s inside import_orders; chunk median "
                 f"{_ms(median(big.latencies[:tenth]))} in the first tenth, "
                 f"{_ms(median(big.latencies[-tenth:]))} in the last; "
                 f"order status {big.statuses}")
    base = next((r for r in earlier if r.db == "sqlite" and "naive" in r.what), None)
    ratio = f"{big.rate / base.rate:.1f}× naive" if base and base.rate else ""
    return [Row(what + f" = {big.seconds:.1f} s", "sqlite", big.orders, median(big.latencies),
                p99(big.latencies), big.rate, ratio, target,
                _verdict(big.seconds < BIG_MAX_SECONDS, big.problems))]


# ---- webhooks ----------------------------------------------------------------------------

def _webhook_rows(kind: str, args, skip: str, notes: list[str]) -> list[Row]:
    from .webhooks import NotRegistered, run_webhooks
    hook_what = "webhook orders/paid, new order (HMAC + dedupe, recorded, 200)"
    apply_what = "inbox worker applies each recorded delivery (intake)"
    dup_what = "webhook re-delivery of a taken event (dedupe)"
    base_what = "GET /healthz, same WSGI stack (baseline)"
    hook_target = f"≥ {WEBHOOK_MIN_RATE}/s, p99 ≤ {WEBHOOK_MAX_P99 * 1000:.0f} ms"
    dup_target = f"p99 ≤ {WEBHOOK_MAX_P99 * 1000:.0f} ms"
    skipped = [Row.skipped(hook_what, kind, skip, hook_target),
               Row.skipped(dup_what, kind, skip, dup_target),
               Row.skipped(apply_what, kind, skip), Row.skipped(base_what, kind, skip)]
    if skip:
        return skipped
    log(f"[{kind}] webhooks: {args.deliveries:,} deliveries, {args.dupes:,} re-deliveries, "
        f"{args.deliveries:,} × GET /healthz")
    try:
        with fresh_database(kind) as url:
            run = run_webhooks(url, args.deliveries, args.dupes)
    except NotRegistered as err:
        log(f"[{kind}] webhooks skipped: {err}")
        return [Row.skipped(r.what, r.db, str(err), r.target) for r in skipped]
    base_p99 = p99(run.healthz)
    hook_rate = len(run.deliveries) / run.deliveries_wall
    dup_rate = len(run.duplicates) / run.duplicates_wall if run.duplicates else 0.0
    hook_p99, dup_p99 = p99(run.deliveries), p99(run.duplicates)
    return [
        Row(hook_what, kind, len(run.deliveries), median(run.deliveries), hook_p99, hook_rate,
            f"p99 {hook_p99 / base_p99:.1f}× healthz", hook_target,
            _verdict(hook_rate >= WEBHOOK_MIN_RATE and hook_p99 <= WEBHOOK_MAX_P99,
                     run.problems), unit="req/s"),
        Row(dup_what, kind, len(run.duplicates), median(run.duplicates), dup_p99, dup_rate,
            f"p99 {dup_p99 / base_p99:.1f}× healthz", dup_target,
            _verdict(dup_p99 <= WEBHOOK_MAX_P99, run.dup_problems, "200 duplicate"),
            unit="req/s"),
        Row(apply_what, kind, len(run.applied), median(run.applied), p99(run.applied),
            len(run.applied) / run.applied_wall if run.applied else None,
            f"p99 {p99(run.applied) / base_p99:.1f}× healthz" if run.applied else "-", "",
            _verdict(None, run.problems), unit="orders/s"),
        Row(base_what, kind, len(run.healthz), median(run.healthz), base_p99,
            len(run.healthz) / run.healthz_wall, "1.0 (baseline)", "", "ok", unit="req/s"),
    ]


# ---- output ------------------------------------------------------------------------------

def _verdict(met: bool | None, problems: list[str], checked: str = "books balance") -> str:
    """PASS/FAIL against the target; a failed correctness check always FAILs."""
    if problems:
        return "FAIL: " + "; ".join(problems)
    if met is None:
        return f"ok ({checked})"
    return f"PASS ({checked})" if met else f"FAIL (below target; {checked})"


def _ms(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "-"
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.1f} ms"


def _cells(r: Row) -> list[str]:
    if r.verdict.startswith("skipped"):
        return [r.what, r.db, "-", "-", "-", "-", "-", r.target or "-", r.verdict]
    rate = f"{r.rate:,.0f} {r.unit}" if r.rate is not None else "-"
    return [r.what, r.db, f"{r.n:,}" if r.n is not None else "-", _ms(r.median), _ms(r.p99),
            rate, r.ratio or "-", r.target or "-", r.verdict]


def _table(rows: list[Row]) -> str:
    head = ["what", "db", "n", "median", "p99", "rate", "ratio", "target", "verdict"]
    body = [_cells(r) for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    right = {2, 3, 4, 5}

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else "-" * (w + 2)
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([line(head), sep, *(line(b) for b in body)])


def _command(argv: list[str] | None, module: str = "tests.bench.run") -> str:
    exe = sys.executable
    try:
        rel = os.path.relpath(exe)
        exe = rel if not rel.startswith("..") else exe
    except ValueError:
        pass
    args = sys.argv[1:] if argv is None else argv
    return shlex.join([exe, "-m", module, *args])


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=False).stdout
        return out + (" (+ uncommitted changes)" if dirty.strip() else "")
    except OSError:
        return "?"


def _report(rows: list[Row], notes: list[str], argv, seconds: float, load_before: str) -> None:
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\nwavepack bench — {when}, commit {_commit()}, Python {platform.python_version()}, "
          f"{server_versions()}, {os.cpu_count()} CPUs, load average at start "
          f"{load_before}, at end {_load()}\n")
    print(_table(rows))
    print()
    for n in notes:
        print(f"- {n}")
    print("- median/p99: per chunk for bulk rows, per order for naive rows, per request for "
          "HTTP rows; rate = items ÷ time inside import_orders (intake) or wall time (HTTP)")
    print(f"- total bench time {seconds:.0f} s")
    print(f"\ncommand: {_command(argv)}")


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _print_profile(profiler: cProfile.Profile, title: str) -> None:
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats(key).print_stats(30)
        text = buf.getvalue().replace(os.getcwd() + os.sep, "")
        log(f"\n==== profile: {title}, by {key} ====\n{text}")


if __name__ == "__main__":
    sys.exit(main())
