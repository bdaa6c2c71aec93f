"""Risk rules: orders that a person should look at before stock is committed to them."""
from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from .orders import OrderDraft, lines_total


@dataclass(frozen=True)
class RiskRules:
    max_order_value: Decimal = Decimal("5000")
    max_sku_quantity: int = 100
    max_orders_per_contact_per_hour: int = 5
    max_discount_share: Decimal = Decimal("0.5")


def assess(draft: OrderDraft, rules: RiskRules, *, recent_same_contact: int = 0) -> list[str]:
    """Reasons to hold this order (empty: no hold). `recent_same_contact` counts other
    orders to the same phone or address placed in the hour before this one."""
    reasons = []
    value = lines_total(draft) + draft.shipping - draft.discount
    if value > rules.max_order_value:
        reasons.append(f"order value {value} {draft.currency} is above {rules.max_order_value}")
    per_sku: dict[str, int] = {}
    for line in draft.lines:
        per_sku[line.sku] = per_sku.get(line.sku, 0) + line.quantity
    for sku, qty in per_sku.items():
        if qty > rules.max_sku_quantity:
            reasons.append(f"{qty} × {sku} is above {rules.max_sku_quantity} of one SKU")
    if recent_same_contact + 1 > rules.max_orders_per_contact_per_hour:
        reasons.append(f"{recent_same_contact + 1} orders to one address or phone within an hour"
                       f" (limit {rules.max_orders_per_contact_per_hour})")
    gross = lines_total(draft)
    if draft.discount > 0 and gross > 0 and draft.discount / gross > rules.max_discount_share:
        share = (draft.discount / gross * 100).quantize(Decimal(1))
        reasons.append(f"discount is {share}% of the goods (limit "
                       f"{(rules.max_discount_share * 100).quantize(Decimal(1))}%)")
    return reasons


HOUR = dt.timedelta(hours=1)


@dataclass
class ContactTally:
    """When orders went to each contact (a phone or address key), kept sorted so that
    "how many in the hour before t" is two binary searches: an import of n orders to one
    contact costs O(n log n), not a rescan of every earlier order for each new one."""
    times: dict[str, list[dt.datetime]] = field(default_factory=dict)

    def add(self, keys: set[str], at: dt.datetime) -> None:
        for key in keys:
            bisect.insort(self.times.setdefault(key, []), at)

    def remove(self, keys: set[str], at: dt.datetime) -> None:
        """Take back an add (a transaction that added it was rolled back)."""
        for key in keys:
            seen = self.times[key]
            del seen[bisect.bisect_left(seen, at)]

    def count(self, keys: set[str], at: dt.datetime) -> int:
        """Orders placed in [at - 1 h, at] to the busiest of these keys."""
        best, since = 0, hour_before(at)
        for key in keys:
            seen = self.times.get(key)
            if seen:
                best = max(best, bisect.bisect_right(seen, at) - bisect.bisect_left(seen, since))
        return best


def hour_before(at: dt.datetime) -> dt.datetime:
    """at - 1 h, or the earliest time there is (an order placed in year 1 is refused by
    validation, but is assessed first and must not crash the intake)."""
    return at - HOUR if at - dt.datetime.min.replace(tzinfo=at.tzinfo) >= HOUR \
        else dt.datetime.min.replace(tzinfo=at.tzinfo)


def contact_keys(phone: str, address: str) -> set[str]:
    """The tally keys of one order: its phone and its address, whichever it has."""
    return {k for k in (f"p:{phone}" if phone else "", f"a:{address}" if address else "") if k}
