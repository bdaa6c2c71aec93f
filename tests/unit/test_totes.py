"""Cart and tote labels: the barcode text (server/domain/totes.py), reading it back, which
scans name a tote, and the ZPL of the printed labels (printers/cart_labels.py)."""
from __future__ import annotations

import pytest

from printers.cart_labels import (CartLabelSpec, ToteLabelSpec, build_cart_label,
                                  build_tote_label)
from printers.labels import LabelFont
from server.domain.totes import CartLabel, cart_label, is_tote_of, parse_label, tote_label


def test_label_texts_and_reading_them_back():
    assert cart_label(12) == "CART-12"
    assert tote_label(12, 3) == "CART-12-3" and tote_label(12, 3, "TOTE-0042") == "TOTE-0042"
    assert parse_label("CART-12") == CartLabel(12, None)
    assert parse_label(" cart-12-3 ") == CartLabel(12, 3)
    for text in ("CART-", "CART-12-0", "CART-x-3", "A-03-02-1", "TOTE-0042", "CART-1-2-3"):
        assert parse_label(text) is None, text


@pytest.mark.parametrize("text, barcode, right", [
    ("CART-12-3", None, True), ("cart-12-3", None, True), ("3", None, True),
    (" 3 ", None, True), ("4", None, False), ("CART-12-4", None, False),
    ("CART-13-3", None, False), ("CART-12", None, False),
    ("TOTE-0042", "TOTE-0042", True), ("CART-12-3", "TOTE-0042", False),
    ("3", "TOTE-0042", False), ("tote-0042", "TOTE-0042", False),
])
def test_which_scans_name_a_tote(text, barcode, right):
    assert is_tote_of(text, 12, 3, barcode) is right


def test_the_labels_carry_their_barcode_and_escape_the_order():
    cart = build_cart_label(CartLabelSpec("CART-12", 12, 4, "main", 77))
    assert cart.startswith("^XA^CI28") and cart.endswith("^XZ")
    assert "^BCN,260,N,N,N,N^FH^FDCART-12^FS" in cart and "^FDjob 77^FS" in cart
    tote = build_tote_label(ToteLabelSpec("CART-12-3", 12, 3, "#1001^XZ~", 78),
                            font=LabelFont("E:NOTOSC.TTF"))
    assert "^FH^FDCART-12-3^FS" in tote and "^CWJ,E:NOTOSC.TTF" in tote
    assert "#1001_5EXZ_7E" in tote and tote.count("^XZ") == 1     # the order cannot end it
    assert "^AJN,56,56" in tote                                   # the order in the CJK font


@pytest.mark.parametrize("spec", [
    lambda: CartLabelSpec("", 12, 4, "main", 1),
    lambda: CartLabelSpec("CART-12\n", 12, 4, "main", 1),
    lambda: CartLabelSpec("CART-12", 0, 4, "main", 1),
    lambda: ToteLabelSpec("CART-12-3", 12, True, "#1", 1),
    lambda: ToteLabelSpec("CART-12-3", 12, 3, "x" * 61, 1),
    lambda: ToteLabelSpec("周转箱", 12, 3, "#1", 1),
])
def test_bad_label_input_is_refused(spec):
    with pytest.raises(ValueError):
        spec()
