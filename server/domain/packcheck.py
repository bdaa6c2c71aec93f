"""The server's verdict on one scan at the packing bench (pure: no I/O, no clock).

Verdicts, checked in this order:

``on_hold``
    The session is held (weight off, a failed check, too many wrong items, or by hand):
    nothing counts until a supervisor releases it.
``qc_pending``
    A unit scanned before is still waiting for its quality check: answer that first.
``unknown_barcode``
    Not a product barcode: unreadable text, a bad check digit, a bin location, an SSCC,
    or a GTIN that is not in the catalogue.
``expired_lot``
    The order's product, but its GS1 expiry date (AI 17) is before today.
``over_pack``
    The order's product, but its line already has every unit verified.
``wrong_item``
    A product of another order picked in the same wave: most likely a tote mix-up, which
    the supervisor must hear about.
``not_in_order``
    A product we know that neither this order nor its wave holds.
``ok``
    One unit of the line is verified, or waits for the ``checks`` its product asks for.

Quality checks come from product flags (``QC_FLAGS``); a check the barcode already
answers is not asked: a GS1 serial (AI 21) answers ``serial``, a GS1 expiry date that is
not past answers ``check_expiry``.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date

from .barcodes import ParsedScan, is_expired

OK = "ok"
WRONG_ITEM = "wrong_item"
NOT_IN_ORDER = "not_in_order"
OVER_PACK = "over_pack"
UNKNOWN_BARCODE = "unknown_barcode"
EXPIRED_LOT = "expired_lot"
QC_PENDING = "qc_pending"
ON_HOLD = "on_hold"
VERDICTS = (OK, WRONG_ITEM, NOT_IN_ORDER, OVER_PACK, UNKNOWN_BARCODE, EXPIRED_LOT, QC_PENDING,
            ON_HOLD)
# Verdicts that count towards a hold after packing.hold_after_wrong_scans of them.
WRONG = frozenset({WRONG_ITEM, NOT_IN_ORDER})

# product flag -> the check asked for each unit
QC_FLAGS = ("check_damage", "check_expiry", "serial")

MESSAGES = {
    OK: "verified",
    WRONG_ITEM: "this item belongs to another order of the wave: put it aside for the supervisor",
    NOT_IN_ORDER: "this item is not in the order",
    OVER_PACK: "every unit of this item is already verified",
    UNKNOWN_BARCODE: "not a product barcode we know",
    EXPIRED_LOT: "this lot is past its expiry date: do not pack it",
    QC_PENDING: "answer the quality check of the previous unit first",
    ON_HOLD: "the order is on hold: call a supervisor",
}


@dataclass(frozen=True)
class PackLine:
    """One order line as the bench sees it: `verified` counts units accepted so far
    (including those waiting for a check)."""
    line_id: int
    sku: str
    gtins: frozenset[str]
    quantity: int
    verified: int
    checks: tuple[str, ...] = ()

    @property
    def remaining(self) -> int:
        return max(self.quantity - self.verified, 0)


@dataclass(frozen=True)
class PackVerdict:
    code: str
    line_id: int | None = None
    checks: tuple[str, ...] = ()      # checks still to answer for the unit (ok only)

    @property
    def counted(self) -> bool:
        return self.code == OK

    @property
    def message(self) -> str:
        return MESSAGES[self.code]


def checks_for(flags: Collection[str]) -> tuple[str, ...]:
    """The quality checks a product's flags ask for, in QC_FLAGS order."""
    return tuple(f for f in QC_FLAGS if f in flags)


def open_checks(checks: Sequence[str], parsed: ParsedScan, today: date) -> tuple[str, ...]:
    """The checks the barcode itself does not answer."""
    answered = set()
    if parsed.serial:
        answered.add("serial")
    if parsed.expiry is not None and not is_expired(parsed, today):
        answered.add("check_expiry")
    return tuple(c for c in checks if c not in answered)


def decide(lines: Sequence[PackLine], parsed: ParsedScan, *, known_gtins: Collection[str],
           wave_gtins: Collection[str], held: bool, qc_pending: bool,
           today: date) -> PackVerdict:
    """The verdict on one scan (module docstring)."""
    if held:
        return PackVerdict(ON_HOLD)
    if qc_pending:
        return PackVerdict(QC_PENDING)
    gtin = parsed.gtin if parsed.kind in ("gtin", "gs1") else None
    if gtin is None:
        return PackVerdict(UNKNOWN_BARCODE)
    mine = [ln for ln in lines if gtin in ln.gtins]
    if not mine:
        if gtin in wave_gtins:
            return PackVerdict(WRONG_ITEM)
        if gtin in known_gtins:
            return PackVerdict(NOT_IN_ORDER)
        return PackVerdict(UNKNOWN_BARCODE)
    if is_expired(parsed, today):
        return PackVerdict(EXPIRED_LOT, mine[0].line_id)
    line = next((ln for ln in mine if ln.remaining > 0), None)
    if line is None:
        return PackVerdict(OVER_PACK, mine[0].line_id)
    return PackVerdict(OK, line.line_id, open_checks(line.checks, parsed, today))


def all_verified(lines: Sequence[PackLine], pending_checks: int) -> bool:
    """Every unit of every line verified and no check outstanding."""
    return pending_checks == 0 and all(ln.remaining == 0 for ln in lines)
