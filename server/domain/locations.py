"""Bin location codes (`A-03-02-1` = aisle A, bay 03, shelf 02, slot 1) and walking order."""
from __future__ import annotations

import re
from dataclasses import dataclass

_CODE = re.compile(r"([A-Z]{1,3})-([0-9]{1,3})-([0-9]{1,2})-([0-9]{1,2})")
MAX_BAY, MAX_SHELF, MAX_SLOT = 999, 99, 99


@dataclass(frozen=True)
class LocationCode:
    aisle: str          # 'A', 'Z', 'AA'
    aisle_index: int    # 0-based: A=0, Z=25, AA=26
    bay: int
    shelf: int
    slot: int
    code: str           # canonical text: 'A-01-02-3' (bay and shelf at least 2 digits)

    def __str__(self) -> str:
        return self.code


def aisle_index(aisle: str) -> int:
    """0-based index of an aisle name in A..Z, AA..AZ, BA.. order (bijective base 26)."""
    if not aisle or not aisle.isascii() or not aisle.isalpha():
        raise ValueError(f"aisle must be letters A-Z, not {aisle!r}")
    n = 0
    for ch in aisle.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def parse_location(code: str) -> LocationCode:
    """Parse `AISLE-BAY-SHELF-SLOT` (e.g. 'A-01-02-3', 'AB-112-04-10').

    Aisle: 1-3 letters (lower case accepted, stored upper case); bay: 1-3 digits;
    shelf and slot: 1-2 digits. Surrounding whitespace is ignored. The limits keep
    `pick_sequence` exact. Raises ValueError on anything else.
    """
    if not isinstance(code, str):
        raise ValueError(f"location must be text, not {type(code).__name__}")
    text = code.strip()
    m = _CODE.fullmatch(text.upper()) if text.isascii() else None
    if not m:
        raise ValueError(f"bad location {code!r}: expected AISLE-BAY-SHELF-SLOT like 'A-01-02-3'")
    aisle = m.group(1)
    bay, shelf, slot = int(m.group(2)), int(m.group(3)), int(m.group(4))
    return LocationCode(aisle=aisle, aisle_index=aisle_index(aisle), bay=bay, shelf=shelf,
                        slot=slot, code=f"{aisle}-{bay:02d}-{shelf:02d}-{slot}")


def pick_sequence(code: str | LocationCode) -> int:
    """Default walking order as one sortable integer (S-shape through the aisles).

    Aisle first; bays ascending in even aisles (A, C, …) and descending in odd ones
    (B, D, …); then shelf, then slot. Codes that parse to the same location get the
    same number.
    """
    loc = code if isinstance(code, LocationCode) else parse_location(code)
    bay = loc.bay if loc.aisle_index % 2 == 0 else MAX_BAY - loc.bay
    return ((loc.aisle_index * (MAX_BAY + 1) + bay) * (MAX_SHELF + 1) + loc.shelf) \
        * (MAX_SLOT + 1) + loc.slot
