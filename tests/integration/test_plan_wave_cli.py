"""`wavepack plan-wave`, run as an operator runs it: the console script in a subprocess."""
from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from ..conftest import console_script

WAVEPACK = console_script("wavepack")
LAYOUT = """\
aisles: 4
bays_per_aisle: 10
bay_length_m: 1.0
aisle_spacing_m: 3.0
cross_aisles: 2
depot: {aisle: A, at: front}
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([WAVEPACK, "plan-wave", *args], capture_output=True, text=True,
                          check=False, timeout=60)


@pytest.fixture
def layout_file(tmp_path: Path) -> Path:
    path = tmp_path / "layout.yaml"
    path.write_text(LAYOUT)
    return path


def orders_file(tmp_path: Path, orders: object) -> Path:
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(orders))
    return path


def test_plan_wave_prints_carts_and_totals(layout_file, tmp_path):
    rng = random.Random(5)
    orders = [{"order": f"SO-{i}", "locations": [
        f"{'ABCD'[rng.randrange(4)]}-{rng.randint(1, 10):02d}-01-1"
        for _ in range(rng.randint(1, 4))]} for i in range(20)]
    proc = run("--layout", str(layout_file), "--orders", str(orders_file(tmp_path, orders)),
               "--totes", "4")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"batches", "total_length_m", "fcfs_total_length_m"}
    refs = [ref for b in out["batches"] for ref in b["orders"]]
    assert sorted(refs) == sorted(o["order"] for o in orders)
    assert all(len(b["orders"]) <= 4 for b in out["batches"])
    by_ref = {o["order"]: o["locations"] for o in orders}
    for b in out["batches"]:
        assert sorted(b["sequence"]) == sorted(c for r in b["orders"] for c in by_ref[r])
    assert out["total_length_m"] == pytest.approx(sum(b["length_m"] for b in out["batches"]))
    assert out["total_length_m"] <= out["fcfs_total_length_m"]


def test_max_orders_keeps_the_most_urgent(layout_file, tmp_path):
    orders = [{"order": "slow", "locations": ["A-01-01-1"]},
              {"order": "rush", "locations": ["D-09-01-1"], "express": True},
              {"order": "due", "locations": ["B-02-01-1"], "cutoff": "2026-11-23T15:00:00Z"}]
    proc = run("--layout", str(layout_file), "--orders", str(orders_file(tmp_path, orders)),
               "--totes", "2", "--max-orders", "2")
    assert proc.returncode == 0, proc.stderr
    refs = sorted(r for b in json.loads(proc.stdout)["batches"] for r in b["orders"])
    assert refs == ["due", "rush"]


@pytest.mark.parametrize("orders, totes, message", [
    ([{"order": "a", "locations": ["A-01-01-1"]}], "0", "--totes must be at least 1"),
    ([{"order": "a", "locations": ["E-01-01-1"]}], "2", "aisle E is outside"),
    ([{"order": "a", "locations": ["A-1"]}], "2", "bad location"),
    ([{"order": "a", "locations": "A-01-01-1"}], "2", "orders[0].locations must be a list"),
    ([{"order": "a", "locations": ["A-01-01-1"], "colour": 1}], "2", "unknown key(s): colour"),
    ({"order": "a"}, "2", "must be a list of orders"),
    ([{"order": "a", "locations": ["A-01-01-1"]}] * 2, "2", "appears twice"),
])
def test_bad_orders_are_refused(layout_file, tmp_path, orders, totes, message):
    proc = run("--layout", str(layout_file), "--orders", str(orders_file(tmp_path, orders)),
               "--totes", totes)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_bad_and_missing_files_are_refused(layout_file, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    good = orders_file(tmp_path, [{"order": "a", "locations": ["A-01-01-1"]}])
    bad_layout = tmp_path / "bad.yaml"
    bad_layout.write_text(LAYOUT.replace("aisles: 4", "aisles: 0"))
    for layout, orders, message in [(layout_file, broken, "not valid JSON"),
                                    (layout_file, tmp_path / "missing.json", "No such file"),
                                    (bad_layout, good, "aisles must be between")]:
        proc = run("--layout", str(layout), "--orders", str(orders), "--totes", "2")
        assert proc.returncode == 1, (message, proc.stderr)
        assert proc.stderr.startswith("error: ") and message in proc.stderr
