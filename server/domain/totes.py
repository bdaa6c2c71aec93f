"""Cart and tote labels: the text of their barcodes, and reading one back (pure).

A cart label reads ``CART-<cart id>``; the label of a tote slot on it ``CART-<cart id>-<slot>``
(the barcode is Code 128; the same text is printed under it). A tote bound to a physical
tote barcode during picking (``picking.require_tote_scan``) is known by that barcode, and
its printed label carries it instead.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_LABEL = re.compile(r"^CART-(\d{1,18})(?:-(\d{1,4}))?$")


@dataclass(frozen=True)
class CartLabel:
    """A scanned cart label (slot None) or tote slot label."""
    cart_id: int
    slot: int | None = None


def cart_label(cart_id: int) -> str:
    """The barcode text of a cart's label."""
    return f"CART-{cart_id}"


def tote_label(cart_id: int, slot: int, barcode: str | None = None) -> str:
    """The barcode text of a tote's label: its bound barcode, else cart and slot."""
    return barcode or f"CART-{cart_id}-{slot}"


def parse_label(text: str) -> CartLabel | None:
    """A cart or tote slot label read back, or None when `text` is neither."""
    m = _LABEL.match(text.strip().upper())
    if m is None:
        return None
    slot = int(m.group(2)) if m.group(2) else None
    if slot == 0:
        return None
    return CartLabel(int(m.group(1)), slot)


def is_tote_of(text: str, cart_id: int, slot: int, barcode: str | None) -> bool:
    """Does the scanned `text` name this tote? A bound tote answers to its barcode only;
    a slot answers to its label or to its bare number (slot stickers on the cart)."""
    raw = text.strip()
    if barcode:
        return raw == barcode
    if raw.isdigit():
        return int(raw) == slot
    return parse_label(raw) == CartLabel(cart_id, slot)
