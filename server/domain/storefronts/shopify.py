"""Shopify REST order resource → OrderDraft.

For the orders/create, orders/paid, orders/updated and orders/cancelled topics.

The payload must come from `json.loads` of the raw body, which keeps 64-bit ids exact; ids
are turned into text here and never pass through float.

Money, so that validation's `sum(line_total) + shipping - discount == total` holds:

* a line's `line_total` is its gross `price × quantity`, before discounts;
* `discount` is every discount allocation on the shipped lines and on the shipping lines
  (line `discount_allocations`, falling back to `total_discount`; a shipping line's
  allocations, falling back to `price - discounted_price`). It is built from the
  allocations rather than `total_discounts` so that a free-shipping discount is counted
  once whatever `total_discounts` and `discounted_price` include in a given API version;
* `shipping` is everything else the customer pays: the shipping lines at their
  *undiscounted* price, plus `total_tax` when `taxes_included` is false, plus duties (unless
  `duties_included`), plus additional fees, plus the net amount of lines we do not ship
  (gift cards, `requires_shipping: false` items, tips). The breakdown is in
  `extra["charges"]`;
* `total` is `total_price`, what was charged at checkout (equal to `current_total_price`
  for orders/paid). When the order has since been edited or refunded
  (`current_total_price` differs, or a line's `current_quantity` differs from `quantity`),
  the lines describe the current order but the stated totals do not, so `total` is None
  and validation skips the total check; both figures stay in `extra`.
"""
from __future__ import annotations

from decimal import Decimal

from ..carriers import method_keys
from ..orders import Address, LineDraft, OrderDraft
from ._fields import (amount, aware_datetime, element, exact_id, first_text, items, mapping,
                      quantity, require_object, text)

SOURCE = "shopify"
PAID_STATUSES = frozenset({"paid", "partially_refunded"})
_ZERO = Decimal(0)


def parse_order(payload: dict) -> OrderDraft:
    """An order resource from a Shopify order webhook as an OrderDraft.

    Raises `Unprocessable` (with `field`) for a payload that is not an order: a bad `id`,
    no `line_items` list, a bad line id, quantity or price, or no usable `created_at`.
    """
    payload = require_object(payload)
    external_id = exact_id(payload.get("id"), "id")
    lines, other_items, line_discount, edited = _lines(items(payload, "line_items", True))
    shipping, ship_discount, carrier, method = _shipping_lines(items(payload, "shipping_lines"))
    charges = _charges(payload, shipping, other_items)
    total = _optional_amount(payload, "total_price")
    current = _optional_amount(payload, "current_total_price")
    if edited or (current is not None and total is not None and current != total):
        total = None
    updated = payload.get("updated_at")
    return OrderDraft(
        external_id=external_id,
        ref=first_text(payload.get("name"), payload.get("order_number"), external_id),
        placed_at=aware_datetime(payload.get("created_at") or payload.get("processed_at"),
                                 "created_at"),
        currency=text(payload.get("currency")).upper(),
        paid=text(payload.get("financial_status")).lower() in PAID_STATUSES,
        cancelled=payload.get("cancelled_at") is not None,
        ship_to=_ship_to(payload),
        lines=lines,
        payment_method=",".join(text(g) for g in items(payload, "payment_gateway_names")
                                if text(g)),
        note=text(payload.get("note")),
        total=total,
        shipping=sum(charges.values(), _ZERO),
        discount=line_discount + ship_discount,
        carrier=carrier,
        shipping_method=method,
        source=SOURCE,
        source_updated_at=aware_datetime(updated, "updated_at") if updated else None,
        extra={
            "order_number": payload.get("order_number"),
            "admin_graphql_api_id": payload.get("admin_graphql_api_id"),
            "financial_status": payload.get("financial_status"),
            "total_price": text(payload.get("total_price")) or None,
            "current_total_price": text(payload.get("current_total_price")) or None,
            "charges": {name: str(value) for name, value in charges.items()},
        },
    )


def _lines(raw: list) -> tuple[tuple[LineDraft, ...], Decimal, Decimal, bool]:
    """(lines to ship, net amount of the lines not shipped, their discount, edited?)."""
    lines: list[LineDraft] = []
    other, discount, edited = _ZERO, _ZERO, False
    for i, value in enumerate(raw):
        where = f"line_items[{i}]"
        item = element(value, where)
        line_id = exact_id(item.get("id"), f"{where}.id")
        ordered = quantity(item.get("quantity"), f"{where}.quantity")
        current = item.get("current_quantity")
        qty = ordered if current is None else quantity(current, f"{where}.current_quantity")
        edited = edited or qty != ordered
        price = amount(item.get("price"), f"{where}.price")
        allocated = _allocated(item, where)
        if item.get("requires_shipping") is False or item.get("gift_card") is True:
            other += price * qty - allocated
            continue
        if qty == 0:                      # removed from the order by an edit or a refund
            continue
        discount += allocated
        shop = mapping(mapping(item.get("price_set")).get("shop_money"))
        lines.append(LineDraft(
            sku=text(item.get("sku")),
            quantity=qty,
            unit_price=price,
            currency=text(shop.get("currency_code")).upper() or None,
            line_total=price * qty,
            name=first_text(item.get("name"), item.get("title")),
            external_id=line_id,
        ))
    return tuple(lines), other, discount, edited


def _allocated(item: dict, where: str) -> Decimal:
    """The discount on one line item: its allocations, else its (older) `total_discount`."""
    if isinstance(item.get("discount_allocations"), list):
        return sum((amount(mapping(a).get("amount"), f"{where}.discount_allocations[{k}].amount",
                           _ZERO) for k, a in enumerate(item["discount_allocations"])), _ZERO)
    return amount(item.get("total_discount"), f"{where}.total_discount", _ZERO)


def _shipping_lines(raw: list) -> tuple[Decimal, Decimal, str, tuple[str, ...]]:
    """(undiscounted shipping price, shipping discount, carrier, method keys) over lines not
    removed; the method is the first line's `code`, then its `title`."""
    price_sum, discount, carrier, method = _ZERO, _ZERO, "", ()
    for i, value in enumerate(raw):
        where = f"shipping_lines[{i}]"
        line = element(value, where)
        if line.get("is_removed") is True:
            continue
        price = amount(line.get("price"), f"{where}.price", _ZERO)
        price_sum += price
        if isinstance(line.get("discount_allocations"), list):
            discount += sum((amount(mapping(a).get("amount"),
                                    f"{where}.discount_allocations[{k}].amount", _ZERO)
                             for k, a in enumerate(line["discount_allocations"])), _ZERO)
        elif line.get("discounted_price") not in (None, ""):
            discount += price - amount(line.get("discounted_price"),
                                       f"{where}.discounted_price")
        carrier = carrier or first_text(line.get("title"), line.get("code"))
        method = method or method_keys(line.get("code"), line.get("title"))
    return price_sum, discount, carrier, method


def _charges(payload: dict, shipping: Decimal, other_items: Decimal) -> dict[str, Decimal]:
    """What the customer pays beyond the shipped lines' gross (see the module docstring)."""
    charges = {"shipping": shipping}
    if payload.get("taxes_included") is False:
        charges["tax"] = amount(payload.get("total_tax"), "total_tax", _ZERO)
    if payload.get("duties_included") is not True:
        duties = _set_amount(payload, "original_total_duties_set", "current_total_duties_set")
        if duties:
            charges["duties"] = duties
    fees = _set_amount(payload, "original_total_additional_fees_set",
                       "current_total_additional_fees_set")
    if fees:
        charges["fees"] = fees
    if other_items:
        charges["items_not_shipped"] = other_items
    return charges


def _optional_amount(payload: dict, key: str) -> Decimal | None:
    """A top-level amount that may be absent (None)."""
    value = payload.get(key)
    return None if value in (None, "") else amount(value, key)


def _set_amount(payload: dict, *keys: str) -> Decimal:
    """The shop-money amount of the first of `keys` that holds a money set, else 0."""
    for key in keys:
        shop = mapping(mapping(payload.get(key)).get("shop_money"))
        if shop.get("amount") not in (None, ""):
            return amount(shop["amount"], f"{key}.shop_money.amount")
    return _ZERO


def _has_place(addr: dict) -> bool:
    return any(text(addr.get(k)) for k in ("address1", "city", "zip", "country_code"))


def _person(addr: dict) -> str:
    joined = f"{text(addr.get('first_name'))} {text(addr.get('last_name'))}".strip()
    return first_text(addr.get("name"), joined)


def _ship_to(payload: dict) -> Address:
    """The shipping address; the billing address stands in only when there is none.

    The street/city/postcode/country block comes whole from one address, never mixed
    field by field; name, phone and email fall back one by one.
    """
    ship = mapping(payload.get("shipping_address"))
    bill = mapping(payload.get("billing_address"))
    customer = mapping(payload.get("customer"))
    default = mapping(customer.get("default_address"))
    place = ship if _has_place(ship) else bill
    return Address(
        name=_person(ship) or _person(bill),
        phone=first_text(ship.get("phone"), payload.get("phone"), bill.get("phone"),
                         customer.get("phone"), default.get("phone")),
        address1=text(place.get("address1")),
        address2=text(place.get("address2")),
        city=text(place.get("city")),
        postcode=text(place.get("zip")),
        country=text(place.get("country_code")).upper(),
        region=text(place.get("province_code")),
        email=first_text(payload.get("email"), payload.get("contact_email")),
    )
