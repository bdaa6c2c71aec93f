"""`python -m tests.bench.scans --against REV`: the scan bench on another revision's code
and on this tree's, in one run, printed as one table with the ratio (this ÷ REV).

REV is checked out into a temporary git worktree (removed afterwards). Each side is
measured by a child process of this .venv's Python with its cwd and PYTHONPATH set to its
tree, so that tree's `server` (and its bench functions: run_mode, seed_floor,
run_inprocess, present in both) is what runs; the `wavepack serve` the child starts
inherits PYTHONPATH and so serves that tree's code too. Sides alternate (REV, this, REV,
this, … with --rounds), so that a machine growing busier or quieter weighs on both.

Beside the PostgreSQL bench, `--sqlite-inproc N` times picking.record_scan in process on a
SQLite floor (the bench itself is PostgreSQL only; this is the SQLite path's cost).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from .common import Row, log, median, p99

ROOT = Path(__file__).resolve().parents[2]

# Run in the child, in the tree measured: only what both revisions' tests/bench/scans.py
# have (argument parser, run_mode, seed_floor, run_inprocess, fresh_database).
_CHILD = r"""
import json, shutil, sys, tempfile
from tests.bench import scans
from tests.bench.common import fresh_database
argv, out, sqlite_n = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
args = scans._parser().parse_args(argv)
args.steady = args.steady or (15.0 if args.quick else 45.0)
args.saturation = args.saturation or (8.0 if args.quick else 20.0)
args.orders = args.orders or (3000 if args.quick else 6000)
def ip(x):
    return {"lat_ms": x.lat_ms, "rate": x.rate, "queries": x.queries, "cpu_ms": x.cpu_ms}
def phase(p):
    return {"server": p.server, "rate": p.rate, "acks": p.acks, "clients": p.clients,
            "lat_ms": p.lat_ms, "commit_ms": p.commit_ms}
result = {"modes": {}, "sqlite": None, "server": scans.__file__}
tmp = tempfile.mkdtemp(prefix="wavepack-scans-against-")
try:
    if not args.no_pg:
        for mode in ("gevent", "threading"):
            if args.mode in ("both", mode):
                run = scans.run_mode(mode, args, tmp)
                result["modes"][mode] = {"problems": run.problems, "steady": phase(run.steady),
                                         "sat": phase(run.sat), "inproc": ip(run.inproc)}
    if sqlite_n:
        with fresh_database("sqlite") as url:
            floor = scans.seed_floor(url, min(args.orders, 1000), 2)
            result["sqlite"] = ip(scans.run_inprocess(url, floor.tokens[-1], sqlite_n))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
import server
result["server"] = server.__file__
with open(out, "w") as f:
    json.dump(result, f)
"""


def short_rev(rev: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=cwd, capture_output=True,
                          text=True, check=True).stdout.strip()


@contextlib.contextmanager
def checked_out(rev: str) -> Iterator[Path]:
    """REV in a temporary git worktree (detached), removed afterwards."""
    where = Path(tempfile.mkdtemp(prefix="wavepack-against-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(where), rev],
                   cwd=ROOT, check=True)
    try:
        yield where
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=ROOT,
                       check=False)
        shutil.rmtree(where.parent, ignore_errors=True)


def measure(tree: Path, argv: list[str], sqlite_n: int, label: str) -> dict:
    """The bench in a child process whose `server` is `tree`'s."""
    out = Path(tempfile.mkdtemp(prefix="wavepack-against-out-")) / "result.json"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    log(f"== {label}: {tree}")
    try:
        subprocess.run([sys.executable, "-c", _CHILD, json.dumps(argv), str(out),
                        str(sqlite_n)], cwd=tree, env=env, check=True)
        result = json.loads(out.read_text())
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    if not result["server"].startswith(str(tree)):
        raise RuntimeError(f"{label}: imported {result['server']}, not the tree's code")
    return result


def _ratio(new: float | None, old: float | None) -> str:
    return f"{new / old:.2f}×" if new and old else "-"


def rows(results: list[tuple[str, dict]]) -> list[Row]:
    """The table: each measurement of each side, REV first; the ratio (this ÷ REV) on the
    row of this tree, paired with the REV run just before it."""
    out: list[Row] = []
    steady_t, sat_t = "p99 ≤ 10 ms", "≥ 1,000 verdicts/s"

    def add(what, db, label, lat_ms, server, rate, old, target, met, unit="verdicts/s"):
        n = server.get("n") if server else len(lat_ms)
        med = server.get("median_ms", float("nan")) / 1000 if server else median(lat_ms) / 1000
        top = server.get("p99_ms", float("nan")) / 1000 if server else p99(lat_ms) / 1000
        ratio = ""
        if old is not None:
            ratio = f"p99 {_ratio(top, old[0])}, median {_ratio(med, old[1])}, rate " \
                    f"{_ratio(rate, old[2])}"
        verdict = ("met" if met(top, rate) else "not met") if target else "informative"
        out.append(Row(f"{what} [{label}]", db, n, med, top, rate, ratio, target, verdict,
                       unit=unit))
        return top, med, rate

    previous: dict[str, tuple] = {}
    for k, (label, res) in enumerate(results):
        is_rev = k % 2 == 0
        for mode, run in res["modes"].items():
            problems = "; ".join(run["problems"])
            for key, name, target, met in (
                    ("steady", "steady, server side", steady_t,
                     lambda top, rate: top * 1000 <= 10.0),
                    ("sat", "saturation, server side", sat_t,
                     lambda top, rate: rate >= 1000.0)):
                ph = run[key]
                what = f"scan {name}, {ph['clients']} handhelds"
                if problems:
                    what += f" (PROBLEMS: {problems})"
                got = add(what, f"postgresql {mode}", label, ph["lat_ms"], ph["server"],
                          ph["rate"], None if is_rev else previous.get((mode, key)), target,
                          met)
                previous[(mode, key)] = got
            inproc = run["inproc"]
            got = add(f"record_scan in process, 1 connection ({inproc['queries']:.1f} "
                      f"statements/scan, {inproc['cpu_ms']:.2f} ms CPU/scan)",
                      f"postgresql {mode}", label, inproc["lat_ms"], None, inproc["rate"],
                      None if is_rev else previous.get((mode, "inproc")), "", None)
            previous[(mode, "inproc")] = got
        if res.get("sqlite"):
            sq = res["sqlite"]
            got = add(f"record_scan in process, 1 connection ({sq['cpu_ms']:.2f} ms CPU/scan)",
                      "sqlite", label, sq["lat_ms"], None, sq["rate"],
                      None if is_rev else previous.get("sqlite"), "", None)
            previous["sqlite"] = got
    return out


def child_argv(argv: list[str]) -> list[str]:
    """The arguments for each side: this run's, without the --against options."""
    out, skip = [], 0
    for a in argv:
        if skip:
            skip -= 1
            continue
        if a in ("--against", "--rounds", "--sqlite-inproc"):
            skip = 1
            continue
        if a.startswith(("--against=", "--rounds=", "--sqlite-inproc=")):
            continue
        out.append(a)
    return out


def run(args, argv: list[str]) -> int:
    """--against: both sides, alternating, then one report."""
    import datetime as dt
    import platform
    import shlex
    import time

    from .common import loadavg, server_versions
    from .run import _table
    started, load_before = time.perf_counter(), loadavg()
    child = child_argv(argv)
    rev = short_rev(args.against)
    here = short_rev("HEAD")
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True, check=False).stdout.strip()
    this = f"this tree {here}" + (" + uncommitted" if dirty else "")
    results: list[tuple[str, dict]] = []
    with checked_out(args.against) as old:
        for _ in range(args.rounds):
            results.append((f"{args.against} {rev}",
                            measure(old, child, args.sqlite_inproc, f"{args.against} {rev}")))
            results.append((this, measure(ROOT, child, args.sqlite_inproc, this)))
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"wavepack scan bench, {args.against} ({rev}) against {this} — {when}, Python "
          f"{platform.python_version()}, {server_versions()}, {os.cpu_count()} CPUs, load "
          f"average at start {load_before}, at end {loadavg()}\n")
    print(_table(rows(results)))
    print()
    print(f"- each side run by a child process of this .venv with PYTHONPATH and cwd set to "
          f"its tree ({args.against} checked out into a temporary git worktree); sides "
          f"alternate, {args.rounds} round(s); ratio = this tree ÷ the {args.against} run "
          f"just before it (below 1.0: this tree is faster for times, slower for rates)")
    print("- server side = the `scan` handler, event in to ack out, commit included (GET "
          "/api/v1/metrics/handheld); in process = picking.record_scan called directly, one "
          "connection, no group commit")
    print(f"- total bench time {time.perf_counter() - started:.0f} s")
    exe = os.path.relpath(sys.executable)
    exe = sys.executable if exe.startswith("..") else exe
    print("\ncommand: " + shlex.join([exe, "-m", "tests.bench.scans", *argv]))
    failed = any(run["problems"] for _, res in results for run in res["modes"].values())
    return 1 if failed else 0
