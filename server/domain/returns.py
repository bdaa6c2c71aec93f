"""Returns: the policy check, the station's verdicts and the life cycle (pure: no I/O, no
clock).

A return (RMA) is `authorised` when asked for, `received` once its parcel is at the
returns station, and `closed` when a person closes it (refund: the refund signal is
queued; exchange: the replacement order is made). A repair goes on from `received`:
`in_repair` → `repaired` → `shipped_back` (closed with it). `cancelled` ends an
authorised return nobody sent.
"""
from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from typing import Iterable, Sequence

KINDS = ("refund", "exchange", "repair")
STATUSES = ("authorised", "received", "in_repair", "repaired", "shipped_back", "closed",
            "cancelled")
OPEN = ("authorised", "received", "in_repair", "repaired")
GRADES = ("resellable", "damaged", "missing_parts")
DISPOSITIONS = ("restock", "quarantine", "repair", "scrap")
VERDICTS = ("ok", "not_in_return", "over_return", "unknown_barcode")

TRANSITIONS = {
    "authorised": frozenset({"received", "cancelled"}),
    "received": frozenset({"closed", "in_repair"}),
    "in_repair": frozenset({"repaired"}),
    "repaired": frozenset({"shipped_back"}),
    "shipped_back": frozenset(),
    "closed": frozenset(),
    "cancelled": frozenset(),
}
REPAIR_STEPS = ("in_repair", "repaired", "shipped_back")


def can_move(kind: str, current: str, new: str) -> bool:
    if new in REPAIR_STEPS or (current == "received" and new == "in_repair"):
        return kind == "repair" and new in TRANSITIONS.get(current, ())
    if new == "closed" and kind == "repair":
        return False                       # a repair ends when it is shipped back
    return new in TRANSITIONS.get(current, ())


@dataclass(frozen=True)
class ReturnPolicy:
    window_days: int = 30
    window_from: str = "delivery"          # delivery | shipment
    not_returnable_skus: tuple[str, ...] = ()
    not_returnable_flags: tuple[str, ...] = ()

    def returnable(self, sku: str, flags: Iterable[str]) -> str | None:
        """Why this product cannot be returned (None: it can)."""
        for pattern in self.not_returnable_skus:
            if fnmatch.fnmatchcase(sku, pattern):
                return f"{sku} is not returnable"
        bad = sorted(set(flags) & set(self.not_returnable_flags))
        if bad:
            return f"{sku} is not returnable ({', '.join(bad)})"
        return None


@dataclass(frozen=True)
class OrderLineFacts:
    """One order line as the policy sees it."""
    order_line_id: int
    sku: str
    shipped: int             # units that left in a parcel
    returned: int            # units already on other (not cancelled) returns
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Asked:
    sku: str
    quantity: int
    reason: str = ""


@dataclass(frozen=True)
class Granted:
    """A requested line matched to an order line."""
    order_line_id: int
    sku: str
    quantity: int
    reason: str


def window_start(policy: ReturnPolicy, *, shipped_at: dt.datetime | None,
                 delivered_at: dt.datetime | None) -> dt.datetime | None:
    """When the return window opened: delivery when the policy counts from it and it is
    known, else shipment; None when the order never shipped."""
    if policy.window_from == "delivery" and delivered_at is not None:
        return delivered_at
    return shipped_at


def window_end(policy: ReturnPolicy, start: dt.datetime | None) -> dt.datetime | None:
    return None if start is None else start + dt.timedelta(days=policy.window_days)


def check_request(policy: ReturnPolicy, *, started: dt.datetime | None, now: dt.datetime,
                  asked: Sequence[Asked], lines: Sequence[OrderLineFacts]
                  ) -> tuple[list[Granted], list[dict]]:
    """The order lines a request returns, and every way it breaks the policy as
    {"field", "code", "message"} (a request with any problem is refused whole)."""
    problems: list[dict] = []

    def problem(field: str, code: str, message: str) -> None:
        problems.append({"field": field, "code": code, "message": message})

    if started is None:
        problem("order", "not_shipped", "the order has not shipped: nothing can be returned")
    elif now > window_end(policy, started):
        problem("order", "outside_window",
                f"the return window of {policy.window_days} days from "
                f"{policy.window_from if policy.window_from == 'shipment' else 'delivery'} "
                f"closed on {window_end(policy, started).date().isoformat()}")
    if not asked:
        problem("lines", "missing", "a return needs at least one line")
    left = {ln.order_line_id: ln.shipped - ln.returned for ln in lines}
    granted: list[Granted] = []
    for i, a in enumerate(asked):
        mine = [ln for ln in lines if ln.sku == a.sku]
        if not mine:
            problem(f"lines[{i}].sku", "not_in_order", f"{a.sku} is not in this order")
            continue
        why = policy.returnable(a.sku, mine[0].flags)
        if why:
            problem(f"lines[{i}].sku", "not_returnable", why)
            continue
        if a.quantity < 1:
            problem(f"lines[{i}].quantity", "out_of_range", "quantity must be at least 1")
            continue
        available = sum(max(left[ln.order_line_id], 0) for ln in mine)
        if a.quantity > available:
            problem(f"lines[{i}].quantity", "over_quantity",
                    f"{a.quantity} × {a.sku} asked, {available} can still be returned "
                    f"(shipped minus already returned)")
            continue
        want = a.quantity
        for ln in mine:
            take = min(want, max(left[ln.order_line_id], 0))
            if take:
                left[ln.order_line_id] -= take
                granted.append(Granted(ln.order_line_id, a.sku, take, a.reason))
                want -= take
    return granted, problems


@dataclass(frozen=True)
class LineState:
    line_id: int
    sku: str
    quantity: int            # authorised
    received: int


def scan_verdict(sku: str | None, lines: Sequence[LineState]) -> tuple[str, LineState | None]:
    """What one scanned item is to this return: `unknown_barcode` (no product), `ok` (one
    more unit of an announced line: the line it counts on), `over_return` (more than
    announced) or `not_in_return` (a product this return does not name)."""
    if sku is None:
        return "unknown_barcode", None
    mine = [ln for ln in lines if ln.sku == sku]
    if not mine:
        return "not_in_return", None
    for ln in mine:
        if ln.received < ln.quantity:
            return "ok", ln
    return "over_return", mine[0]


def rma_number(serial: int) -> str:
    """RMA text from a serial: `RMA` and at least 7 digits (fits Code 128 labels)."""
    if serial < 1:
        raise ValueError("RMA serial must be positive")
    return f"RMA{serial:07d}"
