"""Console fan-out benchmark (issue W5, "Speed"): with 300 handhelds scanning, the
supervisors' live feed keeps up (no growing queue) and adds ≤ 10 % server CPU.

    python -m tests.bench.console_fanout [--quick] [--no-pg] [--handhelds 300] [--consoles 5]

One `wavepack serve` (gevent) on a PostgreSQL floor seeded as tests/bench/scans.py seeds
it; its load generator (tests/bench/scans_load.py) drives the same steady scan load
(300 handhelds, one scan every 4 s ± 25 %) twice against the same server:

- baseline: no console connected (the feed's subscriber returns at once: nobody to tell);
- fan-out: CONSOLES Socket.IO clients on /console (a supervisor's token, room `all`),
  each counting the `scan.recorded` events it receives.

For each phase: the server process's CPU time (utime + stime from /proc) per verdict ack,
and, scraped from GET /metrics every SAMPLE_S, the feed's queue depth
(`wavepack_console_queue_depth`) over time, with the events the feed emitted and dropped.
The scrapes run in both phases, so their cost is in both. "Keeps up": the queue's depth in
the last third of the phase is no higher than in the first (nothing accumulates), no
event is dropped, and every console received one event per stored scan.
Target: fan-out CPU per scan ≤ 1.10 × baseline.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from .common import Row, fresh_database, loadavg, log, median, p99, pg_unreachable, report

CPU_RATIO_MAX = 1.10
SAMPLE_S = 0.5


@dataclass
class Sampler:
    """GET /metrics every SAMPLE_S while a phase runs: the feed's queue depth over time."""
    base: str
    token: str
    depths: list[tuple[float, float]] = field(default_factory=list)   # (seconds in, depth)
    last: dict = field(default_factory=dict)
    missed: int = 0
    done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(SAMPLE_S):
            try:
                got = scrape(self.base, self.token)
            except Exception as err:  # noqa: BLE001 (a slow scrape is a missed sample)
                self.missed += 1
                log(f"    /metrics sample missed: {type(err).__name__}")
                continue
            self.depths.append((time.perf_counter() - self.t0,
                                got.get("wavepack_console_queue_depth", 0.0)))
            self.last = got

    def stop(self) -> dict:
        self.done.set()
        self.thread.join()
        return scrape(self.base, self.token)


def scrape(base: str, token: str) -> dict[str, float]:
    """{name or name{labels}: value} of one GET /metrics, through prometheus_client's parser."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families
    r = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"},
                     timeout=30)
    r.raise_for_status()
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


class Consoles:
    """CONSOLES supervisors' consoles on /console, counting the scans pushed to them."""

    def __init__(self, base: str, token: str, n: int):
        import socketio
        self.received = [0] * n
        self.clients = []
        for i in range(n):
            sio = socketio.Client(reconnection=False)

            def on_scan(_data, i=i):
                self.received[i] += 1
            sio.on("scan.recorded", on_scan, namespace="/console")
            sio.connect(base, namespaces=["/console"], transports=["websocket"],
                        auth={"token": token}, wait_timeout=30)
            self.clients.append(sio)

    def reset(self) -> None:
        self.received = [0] * len(self.clients)

    def close(self) -> None:
        for sio in self.clients:
            sio.disconnect()


@dataclass
class FanoutPhase:
    name: str
    consoles: int
    acks: int
    cpu_s: float
    wall: float
    lat_ms: list[float]
    depths: list[tuple[float, float]]
    emitted: float
    dropped: float
    received: list[int]
    problems: list[str]

    @property
    def cpu_ms_per_scan(self) -> float:
        return self.cpu_s / self.acks * 1000 if self.acks else float("nan")

    def depth_stats(self) -> tuple[float, float, float]:
        """(max, mean of the first third, mean of the last third) of the sampled depth."""
        values = [d for _, d in self.depths] or [0.0]
        third = max(1, len(values) // 3)
        return (max(values), sum(values[:third]) / third, sum(values[-third:]) / third)


def run_phase(server, floor, name: str, consoles: Consoles | None, args, tmp: str
              ) -> FanoutPhase:
    from . import scans
    sampler = Sampler(server.base, floor.supervisor)
    before = scrape(server.base, floor.supervisor)
    if consoles is not None:
        consoles.reset()
    phase = scans.run_phase(server, floor, name, args.handhelds, args.period, args.seconds,
                            args.procs, tmp, on_go=sampler.start)
    time.sleep(1.0)                   # the last acks' pushes reach the consoles
    after = sampler.stop()

    def grew(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)
    emitted = grew("wavepack_console_events_total{outcome=emitted}")
    dropped = grew("wavepack_console_events_total{outcome=dropped}")
    stored = sum(v - before.get(k, 0.0) for k, v in after.items()
                 if k.startswith("wavepack_scans_total{"))
    received = list(consoles.received) if consoles is not None else []
    problems = []
    if phase.timeouts or phase.errors or phase.connect_failed or phase.out_of_work:
        problems.append(f"{name}: timeouts {phase.timeouts}, error acks {phase.errors}, "
                        f"connect failures {phase.connect_failed}, out of work "
                        f"{phase.out_of_work}")
    if stored != phase.acks:
        problems.append(f"{name}: wavepack_scans_total grew {stored:.0f}, verdict acks "
                        f"{phase.acks}")
    if dropped:
        problems.append(f"{name}: the feed dropped {dropped:.0f} events")
    if consoles is not None and any(r != phase.acks for r in received):
        problems.append(f"{name}: consoles received {received}, scans acked {phase.acks}")
    return FanoutPhase(name, len(received), phase.acks, phase.cpu["server"], phase.wall,
                       phase.lat_ms, sampler.depths, emitted, dropped, received, problems)


def run(args, tmp: str) -> tuple[FanoutPhase, FanoutPhase, str]:
    from . import scans
    with fresh_database("postgresql") as url:
        url, serve_url, role = scans.make_role(url)
        try:
            log(f"[fan-out] seeding {args.orders:,} orders, {args.handhelds} pickers …")
            floor = scans.seed_floor(url, args.orders, args.handhelds + 1)
            log(f"[fan-out] floor: {floor.orders:,} orders on {floor.carts:,} carts "
                f"({floor.seconds:.0f} s)")
            server = scans.Server(serve_url, "gevent", tmp)
            try:
                log(f"[fan-out] {server.banner}; baseline: {args.handhelds} handhelds × 1 "
                    f"scan/{args.period:g} s for {args.seconds:g} s, no console")
                base = run_phase(server, floor, "baseline", None, args, tmp)
                log(f"[fan-out]   {base.acks:,} verdicts, {base.cpu_ms_per_scan:.2f} ms server "
                    f"CPU per scan; now with {args.consoles} consoles")
                consoles = Consoles(server.base, floor.supervisor, args.consoles)
                try:
                    fan = run_phase(server, floor, "fan-out", consoles, args, tmp)
                finally:
                    consoles.close()
                log(f"[fan-out]   {fan.acks:,} verdicts, {fan.cpu_ms_per_scan:.2f} ms server "
                    f"CPU per scan, consoles received {fan.received}")
                banner = server.banner
            finally:
                server.stop()
        finally:
            scans.drop_role(role)
    return base, fan, banner


def rows(base: FanoutPhase, fan: FanoutPhase, args) -> list[Row]:
    ratio = fan.cpu_ms_per_scan / base.cpu_ms_per_scan if base.cpu_ms_per_scan else float("nan")
    problems = base.problems + fan.problems
    top, first, last = fan.depth_stats()
    keeps_up = last <= max(first, 1.0) and not fan.dropped
    met = ratio <= CPU_RATIO_MAX and keeps_up

    def verdict(ok: bool | None) -> str:
        if problems:
            return "FAIL: " + "; ".join(problems)
        if ok is None:
            return "ok"
        return "PASS" if ok else "FAIL (over target)"
    return [
        Row(f"steady scans, {args.handhelds} handhelds, no console (baseline; server CPU "
            f"{base.cpu_ms_per_scan:.2f} ms/scan)", "postgresql", base.acks,
            median(base.lat_ms) / 1000, p99(base.lat_ms) / 1000, base.acks / base.wall,
            "1.00 (baseline)", "", verdict(None), unit="scans/s"),
        Row(f"same, {fan.consoles} consoles on /console (server CPU "
            f"{fan.cpu_ms_per_scan:.2f} ms/scan; feed queue max {top:.0f}, first third "
            f"{first:.1f}, last third {last:.1f})", "postgresql", fan.acks,
            median(fan.lat_ms) / 1000, p99(fan.lat_ms) / 1000, fan.acks / fan.wall,
            f"{ratio:.2f}× CPU/scan", f"≤ {CPU_RATIO_MAX:.2f}× CPU, queue not growing",
            verdict(met), unit="scans/s"),
    ]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.bench.console_fanout",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="15 s phases, a smaller floor")
    p.add_argument("--no-pg", action="store_true", help="skip (this bench is PostgreSQL only)")
    p.add_argument("--handhelds", type=int, default=300)
    p.add_argument("--consoles", type=int, default=5)
    p.add_argument("--period", type=float, default=4.0, help="seconds between a handheld's "
                   "scans")
    p.add_argument("--seconds", type=float, default=None, help="per phase (default 40; "
                   "quick 15)")
    p.add_argument("--orders", type=int, default=None,
                   help="ready orders seeded (default 3,000; quick 1,500)")
    p.add_argument("--procs", type=int, default=2, help="load generator processes")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.seconds = args.seconds or (15.0 if args.quick else 40.0)
    args.orders = args.orders or (1500 if args.quick else 3000)
    started, load = time.perf_counter(), loadavg()
    skip = "--no-pg given" if args.no_pg else pg_unreachable()
    title = "wavepack console fan-out bench"
    if skip:
        report(title, "tests.bench.console_fanout",
               [Row.skipped("console fan-out, 300 handhelds", "postgresql", skip)], [], argv,
               time.perf_counter() - started, load)
        return 0
    tmp = tempfile.mkdtemp(prefix="wavepack-fanout-")
    failed = True
    try:
        base, fan, banner = run(args, tmp)
        table = rows(base, fan, args)
        failed = any(r.verdict.startswith("FAIL") for r in table)
    finally:
        if failed:
            log(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    depth_line = ", ".join(f"{t:.0f}s:{d:.0f}" for t, d in fan.depths[::max(1, len(
        fan.depths) // 12)])
    notes = [
        f"server: {banner}; one process, no message queue; CPU = utime + stime of the "
        "server process (/proc) between the handhelds' start and the first generator's end",
        f"the feed emitted {fan.emitted:.0f} events and dropped {fan.dropped:.0f} in the "
        f"fan-out phase; each console received {fan.received} (scans acked {fan.acks})",
        f"feed queue depth over the fan-out phase (seconds in: depth): {depth_line}",
        "median/p99: the handhelds' round trip of a scan (client side)",
    ]
    report(title, "tests.bench.console_fanout", table, notes, argv,
           time.perf_counter() - started, load)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
