"""What an order is, independent of the channel it came from.

Every channel (native JSON, CSV, Shopify, WooCommerce) is parsed into an OrderDraft;
intake, validation, risk and reservation work on drafts only.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Address:
    name: str = ""
    phone: str = ""
    address1: str = ""
    address2: str = ""
    city: str = ""
    postcode: str = ""
    country: str = ""
    region: str = ""
    email: str = ""


@dataclass(frozen=True)
class LineDraft:
    sku: str
    quantity: int
    unit_price: Decimal
    currency: str | None = None          # set when the source states a per-line currency
    line_total: Decimal | None = None    # as the source computed it (after line discounts)
    name: str = ""
    external_id: str = ""


@dataclass(frozen=True)
class OrderDraft:
    """An order as a storefront sent it, before validation."""
    external_id: str                     # the storefront's id, exact text (Shopify ids exceed 2^53)
    ref: str                             # what people call it: '#1001', '4127', 'WP-N-10001'
    placed_at: dt.datetime
    currency: str
    paid: bool
    ship_to: Address
    lines: tuple[LineDraft, ...]
    payment_method: str = ""
    priority: int = 0
    note: str = ""
    total: Decimal | None = None         # stated order total, checked against the lines
    shipping: Decimal = Decimal(0)
    discount: Decimal = Decimal(0)
    carrier: str = ""                    # the storefront's shipping method, as shown to people
    shipping_method: tuple[str, ...] = ()   # its normalised keys, most specific first
    source: str = ""                     # sub-channel, e.g. the CSV 'channel' column
    source_updated_at: dt.datetime | None = None
    ship_by: dt.datetime | None = None   # the storefront's promised dispatch time, if any
    invoice_requested: bool = False      # the buyer asked for an invoice in the parcel
    cancelled: bool = False
    extra: dict = field(default_factory=dict, compare=False)


def phone_key(phone: str) -> str:
    """Digits only, for 'many orders to one phone' checks."""
    return re.sub(r"\D", "", phone or "")[-15:]


def address_key(addr: Address) -> str:
    """A normalised address for 'many orders to one address' checks."""
    raw = f"{addr.country}|{addr.postcode}|{addr.address1}".lower()
    return re.sub(r"[\s,.\-#/]+", "", raw)[:80]


def lines_total(draft: OrderDraft) -> Decimal:
    return sum((ln.line_total if ln.line_total is not None else ln.unit_price * ln.quantity
                for ln in draft.lines), Decimal(0))
