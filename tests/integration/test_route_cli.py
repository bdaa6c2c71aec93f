"""`wavepack route`, run as an operator runs it: the console script in a subprocess."""
from __future__ import annotations

import json
import subprocess

import pytest

from ..conftest import console_script

WAVEPACK = console_script("wavepack")
LAYOUT = """\
aisles: 3
bays_per_aisle: 10
bay_length_m: 1.0
aisle_spacing_m: 3.0
cross_aisles: 2
depot: {aisle: A, at: front}
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([WAVEPACK, "route", *args], capture_output=True, text=True, check=False,
                          timeout=60)


@pytest.fixture
def layout_file(tmp_path):
    path = tmp_path / "layout.yaml"
    path.write_text(LAYOUT)
    return path


def test_route_prints_sequence_and_lengths(layout_file):
    proc = run("--layout", str(layout_file), "A-03-02-1", "C-05-01-1", "B-10-01-1")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"sequence": ["A-03-02-1", "B-10-01-1", "C-05-01-1"],
                   "length_m": 33.0, "sshape_length_m": 41.0}


@pytest.mark.parametrize("content, message", [
    (LAYOUT.replace("aisles: 3", "aisles: 0"), "aisles must be between"),
    (LAYOUT + "colour: red\n", "unknown layout key(s): colour"),
    ("aisles: [", "not valid YAML"),
    ("", "layout must be a mapping"),
])
def test_bad_layout_file_is_refused(tmp_path, content, message):
    path = tmp_path / "layout.yaml"
    path.write_text(content)
    proc = run("--layout", str(path), "A-01-01-1")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_bad_location_and_missing_file_are_refused(layout_file, tmp_path):
    for args, message in [((str(layout_file), "D-01-01-1"), "aisle D is outside"),
                          ((str(layout_file), "A-1"), "bad location"),
                          ((str(tmp_path / "missing.yaml"), "A-01-01-1"), "No such file")]:
        proc = run("--layout", *args)
        assert proc.returncode == 1, proc
        assert proc.stderr.startswith("error: ") and message in proc.stderr
