"""Keyboard-wedge / serial scanner input (handheld.wedge) and `wavepack-handheld wedge`."""
from __future__ import annotations

import io
import json
import subprocess
import uuid
from datetime import UTC, datetime

import pytest

from handheld.sink import JsonLinesSink, scan_message
from handheld.wedge import GS, normalise_line, scans_from_lines, symbology_of

from ..conftest import console_script

CLI = console_script("wavepack-handheld")


def test_line_endings_stripped_and_empty_lines_skipped() -> None:
    stream = io.StringIO("4006381333931\r\n\n\r\n   \nA-03-02-1\nlast")
    assert list(scans_from_lines(stream)) == ["4006381333931", "A-03-02-1", "last"]


def test_spaces_inside_and_around_a_code_are_kept() -> None:
    assert list(scans_from_lines(["Code 128\n", " x \r\n"])) == ["Code 128", " x "]


def test_gs1_group_separator_and_aim_prefix_unchanged() -> None:
    raw = "]C10104006381333931" + "10LOT" + GS + "17270630\r\n"
    assert list(scans_from_lines([raw])) == [raw.rstrip("\r\n")]


def test_literal_gs_becomes_group_separator() -> None:
    assert normalise_line("]d20104006381333931" + "10LOT<GS>17270630\n") == (
        "]d20104006381333931" + "10LOT" + GS + "17270630")


@pytest.mark.parametrize(("text", "symbology"), [
    ("]C1010400638133393117270630", "CODE128"), ("]d2010400638133393117270630", "DATAMATRIX"),
    ("]E04006381333931", "EAN13"), ("]E412345670", "EAN8"), ("]Q1hello", "QRCODE"),
    ("4006381333931", None), ("]", None), ("]Z9x", None),
])
def test_symbology_from_aim_prefix(text: str, symbology: str | None) -> None:
    assert symbology_of(text) == symbology


def test_scan_message_shape() -> None:
    fixed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    a = scan_message("abc", "CODE128", now=lambda: fixed)
    b = scan_message("abc", None, now=lambda: fixed)
    assert a["raw"] == "abc" and a["symbology"] == "CODE128" and b["symbology"] is None
    assert a["scanned_at"] == "2026-01-02T03:04:05+00:00"
    assert uuid.UUID(str(a["scan_id"])).version == 4 and a["scan_id"] != b["scan_id"]


def test_json_lines_sink_writes_one_line_per_message() -> None:
    out = io.StringIO()
    sink = JsonLinesSink(out)
    sink.send({"raw": "a" + GS + "b"})
    sink.send({"raw": "c"})
    assert [json.loads(x)["raw"] for x in out.getvalue().splitlines()] == ["a" + GS + "b", "c"]


def test_cli_wedge_reads_stdin() -> None:
    stdin = ("4006381333931\r\n\nA-03-02-1\n]C10104006381333931" + "10L<GS>17270630\n"
             "4006381333931\n")
    proc = subprocess.run([str(CLI), "wedge"], input=stdin, capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [m["raw"] for m in lines] == [
        "4006381333931", "A-03-02-1", "]C10104006381333931" + "10L" + GS + "17270630",
        "4006381333931"]                      # a wedge repeat is a real second scan
    assert [m["symbology"] for m in lines] == [None, None, "CODE128", None]
    for m in lines:
        assert set(m) == {"scan_id", "raw", "symbology", "scanned_at"}
        assert uuid.UUID(m["scan_id"]).version == 4
        assert datetime.fromisoformat(m["scanned_at"]).tzinfo is not None
    assert len({m["scan_id"] for m in lines}) == 4


def test_cli_wedge_empty_input() -> None:
    proc = subprocess.run([str(CLI), "wedge"], input="", capture_output=True, text=True,
                          timeout=30, check=False)
    assert (proc.returncode, proc.stdout) == (0, "")
