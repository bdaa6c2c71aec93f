"""Decoding on the real photos of tests/data/barcodes: rate per format, no misreads."""
from __future__ import annotations

import collections
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from handheld.decode import decode_image
from tests.bench.decoding import DATA, load_manifest, score

MIN_RATE = 0.92


def test_every_photo_decoded_or_nothing_and_rate_per_format() -> None:
    """Any misread (wrong text, or anything on a NONE photo) fails; overall rate ≥ 92 %."""
    samples = load_manifest()
    ok, total, misreads = collections.Counter(), collections.Counter(), []
    for s in samples:
        results = decode_image(s.path)
        verdict = score(s, results)
        total[s.format] += 1
        ok[s.format] += verdict == "ok"
        if verdict == "misread":
            misreads.append((s.path.name, s.text, results))
    for fmt in sorted(total):
        print(f"{fmt:11} {ok[fmt]:3}/{total[fmt]:3} {100 * ok[fmt] / total[fmt]:5.1f} %")
    rate = sum(ok.values()) / sum(total.values())
    print(f"overall {sum(ok.values())}/{sum(total.values())} = {100 * rate:.1f} %")
    assert misreads == []
    assert math.floor(rate * 1000) / 1000 >= MIN_RATE


def test_cli_decode_prints_json_lines_and_fails_on_unreadable(tmp_path: Path) -> None:
    picks = [s for s in load_manifest() if s.format in ("UPCE", "DATAMATRIX", "NONE")]
    chosen = [next(s for s in picks if s.format == f) for f in ("UPCE", "DATAMATRIX", "NONE")]
    cmd = [sys.executable, "-m", "handheld.cli", "decode", *[str(s.path) for s in chosen]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(s.path) for s in chosen]
    assert [r["text"] for r in lines[0]["results"]] == [chosen[0].text]
    assert lines[0]["results"][0]["gtin"] is not None and len(lines[0]["results"][0]["gtin"]) == 14
    assert [r["text"] for r in lines[1]["results"]] == [chosen[1].text]
    assert lines[2]["results"] == []
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    proc = subprocess.run([*cmd[:4], str(bad), str(chosen[0].path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 1
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert "error" in first and second["results"][0]["text"] == chosen[0].text
