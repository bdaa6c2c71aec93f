"""The suite runs from a clone of the repository alone: nothing outside it is read, and every
skip goes through conftest.need(), which fails instead of skipping when CI=true."""
from __future__ import annotations

import csv
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
# a skip that does not pass through need() would hide a missing service or file in CI
_SKIP = re.compile(r"pytest\.(skip\(|importorskip|mark\.skip)|skipif\(")
_OUTSIDE = re.compile(r"""\.\./shared|/ *["']shared["']|parents\[3\]""")


def _sources() -> list[Path]:
    return [p for p in TESTS.rglob("*.py") if "data" not in p.relative_to(TESTS).parts[:1]]


def test_no_skip_bypasses_need():
    here = Path(__file__).resolve()
    offenders = []
    for path in _sources():
        if path.resolve() == here:
            continue
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _SKIP.search(line) and not (path.name == "conftest.py" and path.parent == TESTS
                                           and "pytest.skip(f\"{what}" in line):
                offenders.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    assert offenders == [], "skip through tests.conftest.need():\n" + "\n".join(offenders)


def test_no_test_reads_outside_the_repository():
    offenders = [f"{p.relative_to(ROOT)}:{no}: {line.strip()}"
                 for p in _sources() if p.resolve() != Path(__file__).resolve()
                 for no, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if _OUTSIDE.search(line)]
    assert offenders == [], "\n".join(offenders)


def test_data_the_tests_use_is_in_the_repository_with_its_licence():
    barcodes = TESTS / "data" / "barcodes"
    assert (barcodes / "LICENSE").is_file() and (barcodes / "NOTICE").is_file()
    with open(barcodes / "manifest.csv", newline="", encoding="utf-8") as fh:
        files = [row["file"] for row in csv.DictReader(fh)]
    assert len(files) >= 280
    missing = [f for f in files if not (barcodes / f).is_file()]
    assert missing == []
    for name in ("shopify/orders-paid.json", "woocommerce/order-created.json",
                 "native/orders.csv", "native/catalogue.csv"):
        assert (TESTS / "data" / "storefronts" / name).is_file(), name



def test_readme_points_at_the_projects_own_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in readme
    assert "docs/architecture.md" in readme
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    # every module the map names exists
    for path in re.findall(r"`?((?:server|handheld|printers|static|tests)/[\w/]+\.py)", doc):
        assert (ROOT / path).is_file(), path
