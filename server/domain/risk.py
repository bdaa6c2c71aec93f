"""Risk rules: orders that a person should look at before stock is committed to them."""
from __future__ import annotations

from dataclasses import dataclass
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
