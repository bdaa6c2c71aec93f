"""Pick-route benchmark: exact routes against the S-shape rule, measured in the same run.

    python -m tests.bench.routing

* mean % shorter than S-shape on random picks in a 10-aisle × 30-bay one-block layout
  (3 m aisle spacing, 1 m bays, depot at the front of aisle A) at 10, 20, 30 and 100
  picks, 200 instances each;
* time of the exact route at 100 picks (median, p99) with S-shape timed as baseline;
* cross_aisles 3 (two blocks): gap of the local search (Held–Karp switched off) to the
  Held–Karp optimum at 8-10 picks, and the shipped `shortest_route` there.
Fixed seed, so runs differ only in timings.
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from server.domain.layout import Layout
from server.domain.routing import held_karp_route, shortest_route, sshape_route, tsp_route

from .common import median, p99, print_rows

SEED = 20260101
INSTANCES = 200
PICK_COUNTS = (9, 10, 20, 30, 100)   # 9: the figure FIELD-NOTES quotes
GAP_TARGET = 0.03
TIME_TARGET = 0.005        # seconds, p99 at 100 picks


def bench_layout(cross_aisles: int = 2) -> Layout:
    return Layout.from_mapping({"aisles": 10, "bays_per_aisle": 30, "bay_length_m": 1.0,
                                "aisle_spacing_m": 3.0, "cross_aisles": cross_aisles,
                                "depot": {"aisle": "A", "at": "front"}})


def random_picks(rng: random.Random, n: int) -> list[str]:
    return [f"{chr(65 + rng.randrange(10))}-{rng.randint(1, 30):02d}-{rng.randint(1, 5):02d}-1"
            for _ in range(n)]


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _saving_row(layout: Layout, rng: random.Random, n: int) -> dict[str, Any]:
    exact, sshape = [], []
    for _ in range(INSTANCES):
        picks = random_picks(rng, n)
        exact.append(shortest_route(layout, picks).length_m)
        sshape.append(sshape_route(layout, picks).length_m)
    shorter = statistics.mean(1 - e / s for e, s in zip(exact, sshape))
    return {"what": "exact route length, one block", "n": n, "instances": INSTANCES,
            "median": median(exact), "p99": p99(exact), "unit": "m",
            "ratio": statistics.mean(e / s for e, s in zip(exact, sshape)),
            "note": f"{shorter:.1%} shorter than S-shape on average"}


def _timing_rows(layout: Layout, rng: random.Random, n: int = 100) -> list[dict[str, Any]]:
    exact_t, sshape_t = [], []
    for _ in range(INSTANCES):
        picks = random_picks(rng, n)
        exact_t.append(_timed(lambda p=picks: shortest_route(layout, p))[1])
        sshape_t.append(_timed(lambda p=picks: sshape_route(layout, p))[1])
    verdict = "ok" if p99(exact_t) <= TIME_TARGET else "BELOW TARGET"
    return [
        {"what": "exact route time, one block", "n": n, "instances": INSTANCES,
         "median": median(exact_t), "p99": p99(exact_t), "unit": "s",
         "ratio": median(exact_t) / median(sshape_t),
         "note": f"target p99 <= {TIME_TARGET * 1000:g} ms: {verdict}"},
        {"what": "S-shape time (baseline)", "n": n, "instances": INSTANCES,
         "median": median(sshape_t), "p99": p99(sshape_t), "unit": "s", "ratio": 1.0,
         "note": ""},
    ]


def _multi_block_rows(rng: random.Random) -> list[dict[str, Any]]:
    layout = bench_layout(cross_aisles=3)
    gaps, shipped, times, sshape_ratio = [], [], [], []
    for _ in range(INSTANCES):
        picks = random_picks(rng, rng.randint(8, 10))
        optimum = held_karp_route(layout, picks).length_m
        found, seconds = _timed(lambda p=picks: tsp_route(layout, p, exact_max_stops=0))
        gaps.append(max(0.0, found.length_m / optimum - 1))
        times.append(seconds)
        shipped.append(max(0.0, shortest_route(layout, picks).length_m / optimum - 1))
        sshape_ratio.append(optimum / sshape_route(layout, picks).length_m)
    verdict = "ok" if max(gaps) <= GAP_TARGET else "ABOVE TARGET"
    return [
        {"what": "multi-block local search gap vs Held-Karp", "n": "8-10",
         "instances": INSTANCES, "median": median(gaps), "p99": p99(gaps), "unit": "gap",
         "ratio": statistics.mean(sshape_ratio),
         "note": f"mean {statistics.mean(gaps):.2%}, max {max(gaps):.2%} "
                 f"(target <= {GAP_TARGET:.0%}: {verdict}); ratio = optimum / S-shape"},
        {"what": "multi-block local search time", "n": "8-10", "instances": INSTANCES,
         "median": median(times), "p99": p99(times), "unit": "s", "ratio": None, "note": ""},
        {"what": "multi-block shortest_route gap (Held-Karp <= 12 stops)", "n": "8-10",
         "instances": INSTANCES, "median": median(shipped), "p99": p99(shipped),
         "unit": "gap", "ratio": None, "note": f"max {max(shipped):.2%}"},
    ]


def rows() -> list[dict[str, Any]]:
    """The table rows: what, n, instances, median, p99, unit, ratio (vs S-shape), note."""
    rng = random.Random(SEED)
    layout = bench_layout()
    out = [_saving_row(layout, rng, n) for n in PICK_COUNTS]
    out += _timing_rows(layout, rng)
    out += _multi_block_rows(rng)
    return out


def main() -> int:
    """Print the table and the command that produced it."""
    print_rows(rows(), f"ratio: vs the S-shape baseline of the same run; {INSTANCES} "
               f"instances per row, seed {SEED}", "tests.bench.routing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
