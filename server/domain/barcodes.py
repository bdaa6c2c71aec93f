"""Scanned barcode text, normalised once at the edge (pure: no I/O, no clock).

EAN-8 / UPC-A / UPC-E / EAN-13 / GTIN-14 digit strings become GTIN-14; GS1 element strings
(symbology prefix `]C1` `]d2` `]Q3`, FNC1/GS separators, or the bracketed `(01)…` form)
are parsed with biip, a maintained GS1 AI parser; bin location codes are recognised.
Anything with a wrong check digit is `unknown`: a scan is never guessed into a product.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import biip
from biip.gs1_messages import GS1Message

from server.domain.gtin import check_digit, expand_upce, normalize_gtin
from server.domain.locations import parse_location

_GS1_PREFIXES = ("]C1", "]d2", "]Q3", "]e0", "]J1")
_UPCE_NAMES = frozenset({"UPCE", "UPC-E", "UPC_E"})


@dataclass(frozen=True)
class ParsedScan:
    """What a scan means. kind: gtin | gs1 | sscc | location | unknown."""
    kind: str
    raw: str
    gtin: str | None = None
    lot: str | None = None
    expiry: date | None = None
    serial: str | None = None
    sscc: str | None = None
    location: str | None = None


Scan = ParsedScan   # the name the services use for a parsed scan


def is_expired(parsed: ParsedScan, today: date) -> bool:
    """True when the scan carries an expiry date (AI 17) before `today`."""
    return parsed.expiry is not None and parsed.expiry < today


def parse_scan(raw: str, symbology: str | None = None) -> ParsedScan:
    """Classify and normalise one scanned text (see the module docstring)."""
    text = raw.strip("\r\n") if isinstance(raw, str) else ""
    if not text:
        return ParsedScan("unknown", raw if isinstance(raw, str) else "")
    if text.startswith(_GS1_PREFIXES) or "\x1d" in text or text.startswith("("):
        return _parse_gs1(raw, text)
    body = text[3:] if text.startswith("]") else text
    if body.isascii() and body.isdigit():
        return _parse_digits(raw, body, symbology)
    try:
        return ParsedScan("location", raw, location=parse_location(body).code)
    except ValueError:
        return ParsedScan("unknown", raw)


def _parse_digits(raw: str, digits: str, symbology: str | None) -> ParsedScan:
    """A bare digit string: UPC-E (when the scanner says so), GTIN-8/12/13/14, or SSCC-18."""
    try:
        if len(digits) == 8 and symbology and symbology.upper() in _UPCE_NAMES:
            return ParsedScan("gtin", raw, gtin=normalize_gtin(expand_upce(digits)))
        if len(digits) == 18:
            if int(digits[-1]) != check_digit(digits[:-1]):
                return ParsedScan("unknown", raw)
            return ParsedScan("sscc", raw, sscc=digits)
        return ParsedScan("gtin", raw, gtin=normalize_gtin(digits))
    except ValueError:
        return ParsedScan("unknown", raw)


def _parse_gs1(raw: str, text: str) -> ParsedScan:
    """A GS1 element string through biip; any bad check digit or parse error → unknown."""
    try:
        # biip.parse reads symbology prefixes and GS separators; the bracketed
        # human-readable form needs its HRI parser
        msg = (GS1Message.parse_hri(text) if text.startswith("(")
               else biip.parse(text).gs1_message)
    except (biip.ParseError, ValueError):
        return ParsedScan("unknown", raw)
    if msg is None:
        return ParsedScan("unknown", raw)
    fields: dict[str, object] = {}
    for es in msg.element_strings:
        ai = es.ai.ai
        if es.gtin_error or es.sscc_error:
            return ParsedScan("unknown", raw)
        if ai == "01":
            fields["gtin"] = normalize_gtin(es.value)
        elif ai == "10":
            fields["lot"] = es.value
        elif ai == "17":
            fields["expiry"] = es.date     # biip: day 00 = last day of the month (GS1 7.12)
        elif ai == "21":
            fields["serial"] = es.value
        elif ai == "00":
            fields["sscc"] = es.value
    if not fields:
        return ParsedScan("unknown", raw)
    kind = "sscc" if set(fields) == {"sscc"} else "gs1"
    return ParsedScan(kind, raw, **fields)  # type: ignore[arg-type]
