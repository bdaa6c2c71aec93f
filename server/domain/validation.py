"""Order validation: field-level reasons why an order cannot be fulfilled as sent.

What happens to an order with problems depends on who sent it: the native API refuses it
(422 with every problem, nothing stored: the caller fixes it and sends it again), a
storefront webhook or a CSV import stores it as `invalid` with these reasons and an
exception for a supervisor (the sender will not resend). What cannot be stored at all
(`storage_problems`) is refused everywhere with a 422.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from decimal import Decimal
from typing import Collection

from .addresses import address_problems, normalise_address
from .orders import OrderDraft, lines_total
from .problems import Problem

__all__ = ["Problem", "normalise_draft", "storage_problems", "validate_order"]

_CURRENCY = re.compile(r"^[A-Z]{3}$")


def normalise_draft(draft: OrderDraft) -> OrderDraft:
    """The draft with its address normalised (addresses.normalise_address); the original
    text of each changed field goes to `extra['ship_to_original']`."""
    ship_to, original = normalise_address(draft.ship_to)
    if not original:
        return draft
    extra = {**draft.extra, "ship_to_original": {**draft.extra.get("ship_to_original", {}),
                                                 **original}}
    return replace(draft, ship_to=ship_to, extra=extra)


def validate_order(draft: OrderDraft, known_skus: Collection[str], *,
                   channel_currency: str = "",
                   total_tolerance: Decimal = Decimal("0.01")) -> list[Problem]:
    """Every reason this order cannot be fulfilled as sent (empty when it can)."""
    problems: list[Problem] = []
    add = problems.append
    if not _CURRENCY.match(draft.currency or ""):
        add(Problem("currency", "bad_currency", f"{draft.currency!r} is not an ISO 4217 code"))
    elif channel_currency and draft.currency != channel_currency:
        add(Problem("currency", "currency_mismatch",
                    f"order is in {draft.currency}, the channel sells in {channel_currency}"))
    if not draft.lines:
        add(Problem("lines", "no_lines", "the order has no lines"))
    for i, line in enumerate(draft.lines):
        where = f"lines[{i}]"
        if line.sku not in known_skus:
            add(Problem(f"{where}.sku", "unknown_sku", f"unknown SKU {line.sku!r}"))
        if line.quantity <= 0:
            add(Problem(f"{where}.quantity", "bad_quantity",
                        f"quantity must be at least 1, not {line.quantity}"))
        if line.unit_price < 0:
            add(Problem(f"{where}.unit_price", "bad_price", "unit price is negative"))
        if line.currency and line.currency != draft.currency:
            add(Problem(f"{where}.currency", "currency_mismatch",
                        f"line is in {line.currency}, the order in {draft.currency}"))
    problems.extend(address_problems(draft.ship_to))
    if draft.total is not None and draft.lines:
        expected = lines_total(draft) + draft.shipping - draft.discount
        if abs(expected - draft.total) > total_tolerance:
            add(Problem("total", "total_mismatch",
                        f"lines + shipping - discount = {expected}, the order says {draft.total}"))
    return problems


# What the tables can hold (store/migrations): beyond this an order cannot be stored at all.
MAX_LEN = {"external_id": 64, "ref": 64, "currency": 16, "payment_method": 64, "carrier": 120,
           "source": 64}
MAX_ADDRESS_LEN = {"name": 200, "phone": 40, "email": 200, "address1": 300, "address2": 300,
                   "city": 120, "region": 120, "postcode": 20, "country": 64}
MAX_LINE_LEN = {"sku": 64, "name": 300, "external_id": 64}
MAX_QUANTITY = 1_000_000
MAX_AMOUNT = Decimal("1000000000")       # per unit, shipping, discount
MAX_TOTAL = MAX_AMOUNT * MAX_QUANTITY     # fits BIGINT in minor units of any currency
MAX_LINES = 5000
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.timezone.utc)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.timezone.utc)


def storage_problems(draft: OrderDraft) -> list[Problem]:
    """Reasons an order cannot be stored even as `invalid` (the caller refuses it, 422)."""
    problems: list[Problem] = []
    for name, limit in MAX_LEN.items():
        if len(getattr(draft, name) or "") > limit:
            problems.append(Problem(name, "too_long", f"{name} is longer than {limit}"))
    if not draft.external_id.strip() or not draft.ref.strip():
        problems.append(Problem("ref", "missing_ref", "the order has no reference"))
    for name, limit in MAX_ADDRESS_LEN.items():
        if len(getattr(draft.ship_to, name) or "") > limit:
            problems.append(Problem(f"ship_to.{name}", "too_long",
                                    f"ship_to.{name} is longer than {limit}"))
    if len(draft.lines) > MAX_LINES:
        problems.append(Problem("lines", "too_many_lines", f"more than {MAX_LINES} lines"))
    amounts = [("total", draft.total, MAX_TOTAL), ("shipping", draft.shipping, MAX_AMOUNT),
               ("discount", draft.discount, MAX_AMOUNT)]
    for i, line in enumerate(draft.lines):
        where = f"lines[{i}]"
        if abs(line.quantity) > MAX_QUANTITY:
            problems.append(Problem(f"{where}.quantity", "out_of_range",
                                    f"quantity beyond ±{MAX_QUANTITY}"))
        amounts.append((f"{where}.unit_price", line.unit_price, MAX_AMOUNT))
        amounts.append((f"{where}.line_total", line.line_total, MAX_TOTAL))
        for name, limit in MAX_LINE_LEN.items():
            if len(getattr(line, name) or "") > limit:
                problems.append(Problem(f"{where}.{name}", "too_long",
                                        f"{where}.{name} is longer than {limit}"))
    for name, value, limit in amounts:
        if value is not None and abs(value) > limit:
            problems.append(Problem(name, "out_of_range", f"{name} beyond ±{limit}"))
    for name in ("placed_at", "source_updated_at", "ship_by"):
        value = getattr(draft, name)
        try:
            bad = value is not None and not EARLIEST <= value <= LATEST
        except (OverflowError, TypeError):  # naive or unrepresentable
            bad = True
        if bad:
            problems.append(Problem(name, "out_of_range", f"{name} must be between 1900 and 9000"))
    return problems
