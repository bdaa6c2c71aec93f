"""Barcode decoding benchmark on tests/data/barcodes: pyzbar alone and zxing-cpp alone
(the baselines, measured in the same run) against handheld.decode.decode_image, on the
two fixed halves of the photos (docs/decoding.md): the tuning half, the only one the
decoder's method was tuned on, and the held-out half, which estimates unseen photos.

    python -m tests.bench.decoding

Targets (issue W7): ≥ 90 % correct on the held-out half, 0 misreads on every photo,
median ≤ 15 ms per photo.
"""
from __future__ import annotations

import csv
import hashlib
import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from handheld.decode import Result, decode_image, decode_pyzbar_only, decode_zxing_only, load_gray

from .common import loadavg, median, p99

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


_HALVES: dict[str, str] = {}


def half_of(sample: Sample) -> str:
    """'tune' or 'held-out'. Within each format the photos are ordered by the SHA-256 of
    their path relative to data/barcodes; even positions tune, odd ones are held out.
    Fixed (no seed), stratified by format, and independent of the decoder."""
    if not _HALVES:
        _HALVES.update(_split(load_manifest()))
    return _HALVES[sample.path.relative_to(DATA).as_posix()]


def _split(samples: list[Sample]) -> dict[str, str]:
    by_format: dict[str, list[str]] = {}
    for s in samples:
        by_format.setdefault(s.format, []).append(s.path.relative_to(DATA).as_posix())
    halves = {}
    for names in by_format.values():
        names.sort(key=lambda n: hashlib.sha256(n.encode()).hexdigest())
        halves.update({n: ("tune", "held-out")[i % 2] for i, n in enumerate(names)})
    return halves


def halves(samples: list[Sample] | None = None) -> dict[str, list[Sample]]:
    """{'tune': [...], 'held-out': [...]} of the manifest (or of `samples`)."""
    samples = samples if samples is not None else load_manifest()
    out: dict[str, list[Sample]] = {"tune": [], "held-out": []}
    for s in samples:
        out[half_of(s)].append(s)
    return out


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
    """Decode every sample (image loading excluded from the timing). Wall time, and the
    process's CPU time, which a loaded shared machine disturbs far less."""
    times, cpu, verdicts = [], [], []
    for s in samples:
        gray = load_gray(s.path)
        t0, c0 = time.perf_counter(), time.process_time()
        results = decoder(gray)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        verdicts.append(score(s, results, lenient))
    return {"times": times, "cpu": cpu, "verdicts": verdicts}


def rows(samples: list[Sample] | None = None) -> list[dict]:
    """One row per decoder and half: correct % overall and per format, misreads, median
    and p99 ms per photo."""
    out = []
    for half, part in halves(samples).items():
        for name, fn in DECODERS.items():
            res = run(fn, part, lenient=fn is not decode_image)
            v = res["verdicts"]
            per_format: dict[str, list[int]] = {}
            for s, verdict in zip(part, v):
                n = per_format.setdefault(s.format, [0, 0])
                n[0] += verdict == "ok"
                n[1] += 1
            out.append({"decoder": name, "half": half, "photos": len(v),
                        "correct_pct": 100.0 * v.count("ok") / len(v),
                        "misreads": v.count("misread"), "per_format": per_format,
                        "median_ms": 1000 * median(res["times"]),
                        "p99_ms": 1000 * p99(res["times"]),
                        "cpu_median_ms": 1000 * median(res["cpu"]),
                        "cpu_p99_ms": 1000 * p99(res["cpu"])})
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the two tables (overall, then per format), then the command."""
    table = rows()
    print(f"decoding, tests/data/barcodes in two fixed halves (load {loadavg()})")
    print(f"{'decoder':42} {'half':8} {'photos':>6} {'correct':>8} {'misreads':>8} "
          f"{'median ms':>9} {'p99 ms':>8} {'cpu median':>10} {'cpu p99':>8}")
    for r in table:
        print(f"{r['decoder']:42} {r['half']:8} {r['photos']:>6} {r['correct_pct']:>7.1f}% "
              f"{r['misreads']:>8} {r['median_ms']:>9.2f} {r['p99_ms']:>8.1f} "
              f"{r['cpu_median_ms']:>10.2f} {r['cpu_p99_ms']:>8.1f}")
    print()
    names = {"pyzbar alone": "zbar", "zxing-cpp alone": "zxing"}
    cols = [(r["half"], names.get(r["decoder"], "ours"), r) for r in table]
    print(f"{'format':11}" + "".join(f" {h[:4] + ' ' + n:>11}" for h, n, _ in cols))
    for fmt in sorted(table[0]["per_format"] | table[-1]["per_format"]):
        cells = []
        for _, _, r in cols:
            ok, n = r["per_format"].get(fmt, (0, 0))
            cells.append(f" {f'{ok}/{n}':>11}")
        print(f"{fmt:11}" + "".join(cells))
    print("targets: ours ≥ 90 % correct on the held-out half, 0 misreads, median ≤ 15 ms")
    print("command:", shlex.join([Path(sys.executable).name, "-m", "tests.bench.decoding"]
                                  + (argv or [])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
