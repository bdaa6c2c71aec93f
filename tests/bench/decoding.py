"""Barcode decoding benchmark on tests/data/barcodes: pyzbar alone and zxing-cpp alone
(the baselines, measured in the same run) against handheld.decode.decode_image.

    python -m tests.bench.decoding

Targets (issue 4): ≥ 92 % of the photos decoded correctly, 0 misreads, median ≤ 15 ms.
"""
from __future__ import annotations

import csv
import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from handheld.decode import Result, decode_image, decode_pyzbar_only, decode_zxing_only, load_gray

from .common import median, p99

DATA = Path(__file__).resolve().parents[1] / "data" / "barcodes"
RETAIL = {"EAN13", "EAN8", "UPCA", "UPCE"}


@dataclass(frozen=True)
class Sample:
    """One manifest row: image path, expected format and exact text ('' for NONE)."""
    path: Path
    format: str
    text: str


def unescape(text: str) -> str:
    """Undo the manifest's \\xNN escapes (README: exact, no literal \\xNN in any text)."""
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def load_manifest(root: Path = DATA) -> list[Sample]:
    """Every row of manifest.csv, all columns as strings (leading zeros matter)."""
    with open(root / "manifest.csv", encoding="utf-8", newline="") as fh:
        return [Sample(root / r["file"], r["format"], unescape(r["text"]))
                for r in csv.DictReader(fh)]


def score(sample: Sample, results: list[Result], lenient: bool = False) -> str:
    """'ok', 'miss' or 'misread'. A photo is read when any result equals the expected text;
    any other result is a misread. `lenient` (baselines only) also accepts an EAN/UPC with
    the right digits under another family name, since zbar calls every UPC 'EAN-13'."""
    def same(r: Result) -> bool:
        if r.text == sample.text:
            return True
        return lenient and sample.format in RETAIL and r.gtin is not None and (
            r.gtin.lstrip("0") == sample.text.lstrip("0") or r.format == "UPCE")
    if sample.format == "NONE":
        return "misread" if results else "ok"
    if any(not same(r) for r in results):
        return "misread"
    return "ok" if results else "miss"


DECODERS: dict[str, Callable] = {
    "pyzbar alone": decode_pyzbar_only,
    "zxing-cpp alone": decode_zxing_only,
    "wavepack (both + passes + cross-checks)": decode_image,
}


def run(decoder: Callable, samples: list[Sample], lenient: bool) -> dict:
    """Decode every sample (image loading excluded from the timing)."""
    times, verdicts = [], []
    for s in samples:
        gray = load_gray(s.path)
        t0 = time.perf_counter()
        results = decoder(gray)
        times.append(time.perf_counter() - t0)
        verdicts.append(score(s, results, lenient))
    return {"times": times, "verdicts": verdicts}


def rows(samples: list[Sample] | None = None) -> list[dict]:
    """One row per decoder: correct %, misreads, median and p99 ms per photo."""
    samples = samples if samples is not None else load_manifest()
    out = []
    for name, fn in DECODERS.items():
        res = run(fn, samples, lenient=fn is not decode_image)
        v = res["verdicts"]
        out.append({"decoder": name, "photos": len(v),
                    "correct_pct": 100.0 * v.count("ok") / len(v),
                    "misreads": v.count("misread"),
                    "median_ms": 1000 * median(res["times"]),
                    "p99_ms": 1000 * p99(res["times"])})
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the table, then the command that produced it."""
    table = rows()
    print(f"{'decoder':42} {'photos':>6} {'correct':>8} {'misreads':>8} "
          f"{'median ms':>9} {'p99 ms':>8}")
    for r in table:
        print(f"{r['decoder']:42} {r['photos']:>6} {r['correct_pct']:>7.1f}% "
              f"{r['misreads']:>8} {r['median_ms']:>9.2f} {r['p99_ms']:>8.1f}")
    print("targets: ours ≥ 92 % correct, 0 misreads, median ≤ 15 ms")
    print("command:", shlex.join([Path(sys.executable).name, "-m", "tests.bench.decoding"]
                                  + (argv or [])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
