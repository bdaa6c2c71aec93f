"""The long fault runs (issue 16, section 2; `make soak-faults`, called by `make soak`): the
scenarios of tests/integration/test_faults.py for many rounds against the production
runtime (web processes behind nginx, a worker, PostgreSQL and Redis through TCP proxies
that are cut; the machine's PostgreSQL and Redis are never stopped). Prints each round,
then one table of figures per scenario and the command that produced it. Exit 1 when a
scenario's checks fail (a lost or doubled scan, a 500, a label printed twice...).

    python -m tests.bench.faults [--rounds 20] [--only kill-web,postgres,redis,worker]
        [--outage 5] [--burst 25] [--pickers 4]

Needs PostgreSQL at 127.0.0.1:5432 (database test; WAVEPACK_TEST_PG), Redis at
127.0.0.1:6379 and nginx. A fresh schema is made for each scenario and dropped after.
"""
from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path

SCENARIOS = ("kill-web", "postgres", "redis", "worker")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.bench.faults", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=20, help="rounds of each fault (20)")
    p.add_argument("--only", default=",".join(SCENARIOS),
                   help=f"comma-separated scenarios ({', '.join(SCENARIOS)})")
    p.add_argument("--outage", type=float, default=5.0,
                   help="seconds PostgreSQL or Redis stays cut each round (5)")
    p.add_argument("--burst", type=int, default=25, help="scans per handheld per round (25)")
    p.add_argument("--pickers", type=int, default=4, help="handhelds (4)")
    p.add_argument("--labels", type=int, default=12,
                   help="labels queued per round of the worker scenario (12)")
    return p


@contextlib.contextmanager
def _schema():
    import psycopg
    from tests.conftest import PG_BASE
    schema = f"wp_soak_{uuid.uuid4().hex[:8]}"
    try:
        yield f"{PG_BASE}?schema={schema}"
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _overlay(printer=None, extra: str = "") -> str:
    text = ("picking: {require_location_scan: true, require_tote_scan: false, "
            "tote_volume_l: 100000, plan_time_budget_s: 0.2}\n")
    if printer is not None:
        text += (f'printers:\n  label-1: {{url: "{printer.url}"}}\n'
                 "printing: {poll_seconds: 0.2, timeout_seconds: 2}\n")
    return text + (extra or "jobs: {enabled: false}\n")


def _run(name: str, args, tmp: Path, nginx: str) -> dict:
    from printers.fake import FakePrinter
    from tests import fault_scenarios as fs
    from tests.conftest import make_app
    from tests.fake_storefront import FakeStorefront
    from tests.fault_cluster import Cluster
    say = lambda line: print(f"  {name}: {line}", flush=True)  # noqa: E731
    with _schema() as url:
        if name == "worker":
            app = make_app(url)
            with FakePrinter() as printer, FakeStorefront() as shop:
                fs.storefront_channels(app, shop)
                extra = ("jobs: {enabled: true, outbox_poll_seconds: 0.2, lease_seconds: 4}\n"
                         "outbox: {timeout_seconds: 40, lease_seconds: 3}\n")
                with Cluster(tmp, url, webs=0, config=_overlay(printer, extra)) as cl:
                    return fs.worker_killed(cl, app, printer, shop, rounds=args.rounds,
                                            labels=args.labels, say=say)
        app = make_app(url, picking=fs.BIG_TOTES, risk=fs.RISK)
        extra_units = args.rounds if name == "redis" else 0      # one probe scan a round
        floor, badges = fs.scan_floor(app, pickers=args.pickers,
                                      units=args.rounds * args.burst + extra_units,
                                      packed=args.rounds if name == "redis" else 0)
        if name == "kill-web":
            with Cluster(tmp, url, webs=2, worker=False, nginx=nginx, config=_overlay()) as cl:
                return fs.kill_web_during_scans(cl, app, floor, badges, rounds=args.rounds,
                                                burst=args.burst, queue_dir=tmp, say=say)
        with FakePrinter() as printer:
            extra = "jobs: {enabled: false}\n" + fs.STATIONS_YAML
            with Cluster(tmp, url, webs=2, worker=True, nginx=nginx,
                         config=_overlay(printer, extra)) as cl:
                scenario = fs.postgres_away if name == "postgres" else fs.redis_away
                return scenario(cl, app, floor, badges, printer, rounds=args.rounds,
                                burst=args.burst, outage_s=args.outage, queue_dir=tmp,
                                say=say)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown or not chosen or args.rounds < 1:
        print(f"error: --only takes {', '.join(SCENARIOS)}; --rounds 1 or more",
              file=sys.stderr)
        return 2
    from server.prod import find_nginx
    from tests.conftest import _pg_available, redis_up
    nginx = find_nginx()
    missing = [what for what, ok in (("nginx", nginx is not None), ("Redis", redis_up()),
                                     ("PostgreSQL", _pg_available(10))) if not ok]
    if missing:
        print(f"error: the fault runs need {', '.join(missing)}", file=sys.stderr)
        return 2
    results: dict[str, dict | str] = {}
    started = time.monotonic()
    for name in chosen:
        print(f"{name}: {args.rounds} rounds", flush=True)
        began = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"wp-fault-{name}-") as tmp:
            try:
                figures = _run(name, args, Path(tmp), str(nginx))
                figures["seconds"] = round(time.monotonic() - began, 1)
                results[name] = figures
            except Exception as err:                      # noqa: BLE001 (reported, exit 1)
                traceback.print_exc()
                results[name] = f"FAILED: {type(err).__name__}: {str(err)[:300]}"
                log = Path(tmp) / "cluster.log"
                if log.exists():
                    kept = Path(tempfile.gettempdir()) / f"wp-fault-{name}-{uuid.uuid4().hex[:6]}.log"
                    kept.write_text(log.read_text(encoding="utf-8"), encoding="utf-8")
                    print(f"  the processes' output: {kept}")
    print()
    print(f"fault runs ({time.monotonic() - started:.0f} s)")
    for name, figures in results.items():
        if isinstance(figures, str):
            print(f"  {name:9} {figures}")
            continue
        print(f"  {name:9} " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    print("command: python -m tests.bench.faults " + shlex.join(argv if argv is not None
                                                                else sys.argv[1:]))
    return 1 if any(isinstance(f, str) for f in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
