"""parse_scan: GTIN normalisation, GS1 element strings, SSCC, locations, expiry."""
from __future__ import annotations

from datetime import date

import pytest

from server.domain.barcodes import is_expired, parse_scan


@pytest.mark.parametrize("raw, gtin", [
    ("96385074", "00000096385074"),            # EAN-8
    ("036000291452", "00036000291452"),        # UPC-A
    ("4006381333931", "04006381333931"),       # EAN-13
    ("10614141000415", "10614141000415"),      # GTIN-14
    ("]E04006381333931", "04006381333931"),    # with symbology identifier
])
def test_gtin_lengths_normalise_to_gtin14(raw: str, gtin: str) -> None:
    parsed = parse_scan(raw)
    assert (parsed.kind, parsed.gtin, parsed.raw) == ("gtin", gtin, raw)


def test_upce_expanded_when_scanner_says_upce() -> None:
    assert parse_scan("01234565", "UPC-E").gtin == "00012345000065"
    assert parse_scan("01234531", "UPCE").gtin == "00012300000451"


@pytest.mark.parametrize("raw", ["4006381333932", "96385075", "01234566", "12345"])
def test_bad_check_digits_are_unknown_never_guessed(raw: str) -> None:
    assert parse_scan(raw, "UPCE" if raw == "01234566" else None).kind == "unknown"


@pytest.mark.parametrize("raw", [
    "]d2010950110102091717250600\x1d10LOT-7\x1d21SER1",
    "]C1010950110102091717250600\x1d10LOT-7\x1d21SER1",
    "010950110102091717250600\x1d10LOT-7\x1d21SER1",
    "(01)09501101020917(17)250600(10)LOT-7(21)SER1",
])
def test_gs1_element_strings(raw: str) -> None:
    p = parse_scan(raw)
    assert p.kind == "gs1" and p.gtin == "09501101020917"
    assert (p.lot, p.serial) == ("LOT-7", "SER1")
    assert p.expiry == date(2025, 6, 30)        # day 00 = last day of the month (GS1)


def test_gs1_expiry_exact_day_and_is_expired() -> None:
    p = parse_scan("]d201095011010209171725061510L1")
    assert p.expiry == date(2025, 6, 15)
    assert not is_expired(p, date(2025, 6, 15))
    assert is_expired(p, date(2025, 6, 16))
    assert not is_expired(parse_scan("4006381333931"), date(2099, 1, 1))


def test_gs1_bad_gtin_check_digit_is_unknown() -> None:
    assert parse_scan("]C10109501101020918").kind == "unknown"


def test_sscc() -> None:
    assert parse_scan("]C100106141411234567897").sscc == "106141411234567897"
    assert parse_scan("]C100106141411234567897").kind == "sscc"
    assert parse_scan("106141411234567897").kind == "sscc"
    assert parse_scan("106141411234567890").kind == "unknown"
    assert parse_scan("]C100106141411234567890").kind == "unknown"


def test_locations_and_unknown() -> None:
    p = parse_scan("A-03-02-1")
    assert (p.kind, p.location) == ("location", "A-03-02-1")
    u = parse_scan("hello world")
    assert (u.kind, u.raw, u.gtin) == ("unknown", "hello world", None)
    assert parse_scan("").kind == "unknown"
