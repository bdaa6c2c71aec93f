"""Shared pieces of the benchmarks: the result row, percentiles, fresh databases, the app.

Every measurement gets a database of its own (a temp SQLite file, or a fresh PostgreSQL
schema dropped afterwards), so a baseline and the run it is compared with start equal.
"""
from __future__ import annotations

import contextlib
import math
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

PG_BASE = os.environ.get("WAVEPACK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Row:
    """One line of the results table. Times are seconds; `rate` is per second."""
    what: str
    db: str
    n: int | None = None
    median: float | None = None
    p99: float | None = None
    rate: float | None = None
    ratio: str = ""
    target: str = ""
    verdict: str = ""
    unit: str = "orders/s"

    @classmethod
    def skipped(cls, what: str, db: str, reason: str, target: str = "") -> "Row":
        return cls(what, db, target=target, verdict=f"skipped: {reason}")


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def p99(xs: Sequence[float]) -> float:
    """Nearest-rank 99th percentile (with under 100 samples: the maximum)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, math.ceil(0.99 * len(s)) - 1)]


def cell(value: Any, unit: str) -> str:
    """A figure of a pure-algorithm table: seconds as ms, 'gap' as %, else value + unit."""
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.3f} ms"
    if unit == "gap":
        return f"{value:.2%}"
    return f"{value:.1f} {unit}"


def print_rows(table: list[dict[str, Any]], footnote: str, module: str) -> None:
    """Print rows of {what, n, median, p99, unit, ratio, note}, the footnote and the command
    (the routing and batching benchmarks share this layout)."""
    width = max(len(r["what"]) for r in table)
    head = f"{'what':<{width}} {'n':>5} {'median':>11} {'p99':>11} {'ratio':>6}  note"
    print(head)
    print("-" * len(head))
    for r in table:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.3f}"
        print(f"{r['what']:<{width}} {r['n']!s:>5} {cell(r['median'], r['unit']):>11} "
              f"{cell(r['p99'], r['unit']):>11} {ratio:>6}  {r['note']}")
    print()
    print(f"{footnote}; Python {sys.version.split()[0]}")
    print("command: " + shlex.join([sys.executable, "-m", module]))


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages: how busy the machine was around a run."""
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def log(msg: str) -> None:
    """Progress goes to stderr so stdout holds only the report."""
    print(msg, file=sys.stderr, flush=True)


# ---- databases --------------------------------------------------------------------------

def pg_unreachable() -> str:
    """'' when PostgreSQL answers at PG_BASE, else why not (for a 'skipped: …' row)."""
    try:
        import psycopg
        with psycopg.connect(PG_BASE, connect_timeout=3):
            return ""
    except Exception as err:  # noqa: BLE001 - any failure means "not here"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"PostgreSQL unreachable at {PG_BASE.split('@')[-1]} ({first.split(': ')[-1][:60]})"


@contextlib.contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """A database URL nobody has used: a temp SQLite file, or a new PostgreSQL schema.
    Removed afterwards (the peewee connection is closed first)."""
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="wavepack-bench-")
        try:
            yield f"sqlite:///{folder}/bench.db"
        finally:
            close_db()
            shutil.rmtree(folder, ignore_errors=True)
        return
    schema = f"wp_bench_{uuid.uuid4().hex[:10]}"
    try:
        yield f"{PG_BASE}?schema={schema}"
    finally:
        close_db()
        import psycopg
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def close_db() -> None:
    from server.store.db import db
    if db.obj is not None and not db.is_closed():
        db.close()


def open_app(url: str, **sections):
    """The real app (create_app) on `url`, migrated, with the default warehouse `main`
    (`sections`: config laid over the defaults)."""
    from server import create_app
    from server.services import setup
    app = create_app({"database": {"url": url}, "testing": True, **sections})
    with app.app_context():
        setup.init_db()
    return app


@contextlib.contextmanager
def connected(app) -> Iterator[None]:
    """An app context with one open connection (how a worker or the CLI calls services)."""
    from server.store.db import db
    with app.app_context(), db.connection_context():
        yield


def server_versions() -> str:
    """SQLite and PostgreSQL versions, for the header of the report."""
    import sqlite3
    out = [f"SQLite {sqlite3.sqlite_version}"]
    try:
        import psycopg
        with psycopg.connect(PG_BASE, connect_timeout=3) as conn:
            out.append("PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0])
    except Exception:  # noqa: BLE001
        pass
    return ", ".join(out)


def report(title: str, module: str, table: list[Row], notes: list[str], argv, seconds: float,
           load: str) -> None:
    """A bench's report: the header (when, commit, versions, CPUs, load), the table, the
    notes, and the command that produced it (`python -m MODULE ARGV`)."""
    import datetime as dt
    import platform

    from .run import _commit, _load, _table
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{title} — {when}, commit {_commit()}, Python {platform.python_version()}, "
          f"{server_versions()}, {os.cpu_count()} CPUs, load average at start {load}, at "
          f"end {_load()}\n")
    print(_table(table))
    print()
    for n in notes:
        print(f"- {n}")
    print(f"- total bench time {seconds:.0f} s")
    exe = os.path.relpath(sys.executable)
    exe = sys.executable if exe.startswith("..") else exe
    print("\ncommand: " + shlex.join([exe, "-m", module,
                                      *(sys.argv[1:] if argv is None else argv)]))
