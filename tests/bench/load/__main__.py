"""`python -m tests.bench.load`: the soak with the issue's numbers by default; exits 1
when a goal is not met (errors, stored-once checks, p99, memory)."""
from __future__ import annotations

import argparse
import os
import sys
import time

from ..common import loadavg, pg_unreachable
from .soak import P99_MAX_MS, WEB_RSS_MAX_MB, Params, run


def _parser() -> argparse.ArgumentParser:
    d = Params()
    p = argparse.ArgumentParser(prog="python -m tests.bench.load",
                                description="the W8 soak against `wavepack serve-prod`")
    p.add_argument("--minutes", type=float,
                   default=float(os.environ.get("SOAK_MINUTES") or d.minutes),
                   help="length of the load (default 10, or SOAK_MINUTES)")
    p.add_argument("--handhelds", type=int, default=d.handhelds)
    p.add_argument("--period", type=float, default=d.period_s, help="s between a handheld's scans")
    p.add_argument("--stations", type=int, default=d.stations)
    p.add_argument("--pack-every", type=float, default=d.pack_every_s,
                   help="s between a station's orders")
    p.add_argument("--consoles", type=int, default=d.consoles)
    p.add_argument("--webhooks", type=float, default=d.webhooks_per_s, help="webhooks/s")
    p.add_argument("--tracking", type=float, default=d.tracking_per_s, help="tracking events/s")
    p.add_argument("--tracking-batch", type=int, default=d.tracking_batch,
                   help="events per tracking request")
    p.add_argument("--web", type=int, default=d.web_processes, help="web processes")
    p.add_argument("--driver-procs", type=int, default=d.handheld_procs,
                   help="processes driving the handhelds")
    p.add_argument("--keep-logs", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = _parser().parse_args(argv)
    skip = pg_unreachable()
    if skip:
        print(f"soak skipped: {skip}")
        return 1
    params = Params(minutes=a.minutes, handhelds=a.handhelds, period_s=a.period,
                    stations=a.stations, pack_every_s=a.pack_every, consoles=a.consoles,
                    webhooks_per_s=a.webhooks, tracking_per_s=a.tracking,
                    tracking_batch=a.tracking_batch, web_processes=a.web,
                    handheld_procs=a.driver_procs)
    started, load = time.perf_counter(), loadavg()
    res = run(params, keep_logs=a.keep_logs)
    from .report import print_report, rows
    print_report(res, argv, load, time.perf_counter() - started)
    server_p99 = rows(res)[0].p99 * 1000
    too_big = any(max(s.rss.get(k, 0) for s in res.samples) > WEB_RSS_MAX_MB
                  for k in res.samples[-1].rss if k.startswith("web"))
    ok = not res.errors and not res.failed_checks and server_p99 <= P99_MAX_MS and not too_big
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
