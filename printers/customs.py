"""The customs block of a shipping label: a short CN22/CN23 summary for parcels that leave
their customs area, drawn in the top right corner of the 4x6 label (beside the sender,
whose lines then have room for about 30 characters).

Kept apart from printers/labels.py: `customs_block` returns ZPL fields only, and
`with_customs_block` puts them into a finished label just before its final ``^XZ``, so
the label template itself is unchanged. Never imports server.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from printers.labels import zpl_text

FORMS = ("CN22", "CN23")
MAX_ITEM_ROWS = 3
# the box: x, y, width, height in dots (203 dpi); the sender block is left of it
BOX = (452, 10, 344, 196)


@dataclass(frozen=True)
class CustomsItemLine:
    hs_code: str
    origin_country: str
    quantity: int


@dataclass(frozen=True)
class CustomsSummary:
    """What the label says of a declaration (the full one is the customs document)."""
    form: str                       # CN22 | CN23
    origin: str                     # ISO country the parcel leaves
    destination: str
    currency: str
    value: Decimal
    weight_g: int                   # gross
    items: tuple[CustomsItemLine, ...]
    category: str = "Sale of goods"

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}, not {self.form!r}")
        if not isinstance(self.value, Decimal) or self.value < 0:
            raise ValueError("value must be a Decimal of at least 0")
        if not isinstance(self.weight_g, int) or self.weight_g < 0:
            raise ValueError("weight_g must be whole grams")
        if not self.items:
            raise ValueError("a declaration lists at least one item")
        for item in self.items:
            if not item.hs_code or not item.origin_country:
                raise ValueError("every item needs an HS code and a country of origin")


def customs_block(summary: CustomsSummary) -> str:
    """ZPL fields (no ^XA/^XZ) of the customs box: form, category and route, units, value
    and gross weight, then the HS codes with origin and quantity (three rows, then '+n')."""
    x, y, w, h = BOX
    units = sum(i.quantity for i in summary.items)
    kg = f"{summary.weight_g / 1000:.2f} kg"
    rows = [f"HS {i.hs_code} {i.origin_country} x{i.quantity}"
            for i in summary.items[:MAX_ITEM_ROWS]]
    if len(summary.items) > MAX_ITEM_ROWS:
        rows[-1] = f"+{len(summary.items) - MAX_ITEM_ROWS + 1} more lines (see declaration)"
    text = [(f"CUSTOMS {summary.form}", 26),
            (f"{summary.category} {summary.origin}>{summary.destination}", 20),
            (f"{units} pcs {summary.currency} {summary.value:.2f} {kg}", 20),
            *((row, 18) for row in rows)]
    out = ["^FX customs declaration summary",
           f"^FO{x},{y}^GB{w},{h},2^FS"]
    top = y + 8
    for line, size in text:
        out.append(f"^FO{x + 10},{top}^A0N,{size},{size}^FB{w - 20},1,0,L,0^FH"
                   f"^FD{zpl_text(line)}^FS")
        top += size + 8
    return "\n".join(out) + "\n"


def with_customs_block(zpl: str, block: str) -> str:
    """The label `zpl` with `block` drawn last (just before its final ^XZ)."""
    end = zpl.rstrip().rfind("^XZ")
    if end < 0:
        raise ValueError("not a ZPL label: no ^XZ")
    return zpl[:end] + block + zpl[end:]
