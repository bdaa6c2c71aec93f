"""The server's verdict on one handheld scan against one pick task (pure: no I/O, no clock).

Verdict codes and what each one means (checked in this order):

``ok``
    A location scan equal to the task's location (it confirms the location, count 0), or
    an item scan of one of the task's GTINs while units are still to pick (count 1).
``wrong_location``
    A location scan of any other bin. It leaves an earlier confirmation unchanged.
``scan_location_first``
    A product scan (of a product we know) while the task's location is not yet confirmed
    and ``require_location_scan`` is on: the unit may well be right, but its bin was not
    scanned (``expected`` names the location to scan). Told apart from ``wrong_location``
    so that the picker hears "scan the bin" rather than "wrong bin".
``unknown_barcode``
    Nothing we know: text that is neither a location nor an SSCC nor a valid GTIN, a GS1
    string without a GTIN, or a GTIN that is neither in the catalogue (``known_gtins``)
    nor the task's own. Checked before the location rule: it is not an item scan at all.
``expired_lot``
    The task's own product, but its GS1 expiry date (AI 17) is before ``today``. Checked
    before ``over_pick``: an expired unit on the shelf is reported even on a full line.
``over_pick``
    The task's own product, but ``picked`` already equals (or exceeds) ``quantity``; or a
    product whose task on this cart is already complete (``done_task_gtins``): one unit
    too many of the line just finished.
``not_in_task``
    A known product that is not this task's but belongs to another open task of the same
    picker (``other_task_gtins``): the picker is at the right product for a *different*
    task, e.g. picked out of route order. Nothing is counted; the client may offer to
    switch tasks.
``wrong_item``
    A known product that belongs to no open task of this picker, or an SSCC (a pallet or
    parcel label, which is never the item of a pick task).

Only ``ok`` changes state: ``location_confirmed`` becomes True on the right location
scan, and ``count`` (units to add to ``picked``) is 1 on an accepted item scan.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import date

from server.domain.barcodes import ParsedScan, is_expired
from server.domain.locations import parse_location

OK = "ok"
WRONG_LOCATION = "wrong_location"
SCAN_LOCATION_FIRST = "scan_location_first"
WRONG_ITEM = "wrong_item"
OVER_PICK = "over_pick"
UNKNOWN_BARCODE = "unknown_barcode"
EXPIRED_LOT = "expired_lot"
NOT_IN_TASK = "not_in_task"
VERDICT_CODES = frozenset({OK, WRONG_LOCATION, SCAN_LOCATION_FIRST, WRONG_ITEM, OVER_PICK,
                           UNKNOWN_BARCODE, EXPIRED_LOT, NOT_IN_TASK})


@dataclass(frozen=True)
class PickTask:
    """One pick task as the verdict needs it.

    skus_gtins: the GTIN-14s of the task's SKU (a product can have several);
    picked: units already counted; location_confirmed: the location scan was accepted."""
    task_id: int | str
    location: str
    skus_gtins: frozenset[str]
    sku: str
    quantity: int
    picked: int = 0
    location_confirmed: bool = False

    @property
    def remaining(self) -> int:
        """Units still to pick (never negative)."""
        return max(self.quantity - self.picked, 0)


@dataclass(frozen=True)
class Verdict:
    """The decision: code (one of VERDICT_CODES), what the task expects next, the task's
    location confirmation after this scan, and the units this scan adds to `picked`."""
    code: str
    expected: dict[str, object]
    location_confirmed: bool
    count: int = 0

    @property
    def ok(self) -> bool:
        """True only for the `ok` verdict."""
        return self.code == OK


def expected_for(task: PickTask, *, needs_location: bool) -> dict[str, object]:
    """What the handheld should scan next for `task` (sent with every verdict; after an
    accepted item scan, `remaining` already counts that unit)."""
    if needs_location:
        return {"scan": "location", "task_id": task.task_id, "location": task.location}
    return {"scan": "item", "task_id": task.task_id, "location": task.location,
            "sku": task.sku, "gtins": sorted(task.skus_gtins), "remaining": task.remaining}


def _same_location(a: str, b: str) -> bool:
    """Location codes compared in canonical form ('a-3-2-1' == 'A-03-02-1')."""
    try:
        return parse_location(a).code == parse_location(b).code
    except ValueError:
        return a.strip().upper() == b.strip().upper()


def _location_verdict(task: PickTask, parsed: ParsedScan, needs_location: bool) -> Verdict:
    """A scanned bin code: confirms the task's location, or is the wrong bin."""
    if parsed.location is not None and _same_location(parsed.location, task.location):
        return Verdict(OK, expected_for(task, needs_location=False), True)
    return Verdict(WRONG_LOCATION, expected_for(task, needs_location=needs_location),
                   task.location_confirmed)


def decide(task: PickTask, parsed: ParsedScan, *, known_gtins: Collection[str],
           other_task_gtins: Collection[str], require_location_scan: bool = True,
           today: date, done_task_gtins: Collection[str] = ()) -> Verdict:
    """The verdict for one parsed scan against `task` (rules in the module docstring).

    known_gtins: every GTIN-14 in the catalogue (the task's own count as known anyway);
    other_task_gtins: GTIN-14s of this picker's other open tasks (cart, wave);
    done_task_gtins: GTIN-14s of this picker's tasks already complete."""
    needs_location = require_location_scan and not task.location_confirmed
    confirmed = task.location_confirmed

    def verdict(code: str, count: int = 0) -> Verdict:
        return Verdict(code, expected_for(task, needs_location=needs_location),
                       confirmed, count)

    if parsed.kind == "location":
        return _location_verdict(task, parsed, needs_location)
    gtin = parsed.gtin if parsed.kind in ("gtin", "gs1") else None
    is_sscc = parsed.kind == "sscc"
    if not is_sscc and (gtin is None or (gtin not in known_gtins
                                         and gtin not in task.skus_gtins)):
        return verdict(UNKNOWN_BARCODE)
    if needs_location:
        return verdict(SCAN_LOCATION_FIRST)
    if gtin is not None and gtin in task.skus_gtins:
        if is_expired(parsed, today):
            return verdict(EXPIRED_LOT)
        if task.picked >= task.quantity:
            return verdict(OVER_PICK)
        after = replace(task, picked=task.picked + 1)
        return Verdict(OK, expected_for(after, needs_location=False), confirmed, 1)
    if gtin is not None and gtin in other_task_gtins:
        return verdict(NOT_IN_TASK)
    if gtin is not None and gtin in done_task_gtins:
        return verdict(OVER_PICK)
    return verdict(WRONG_ITEM)
