"""Cart and tote labels (4x6 in, 203 dpi): a Code 128 of the label text the scanners read
back (``CART-12``, ``CART-12-3`` or a tote's own bound barcode, see server/domain/totes.py),
the cart or slot number in large type, the order on a tote. Kept apart from labels.py
(the shipping label); the same escaping (``zpl_text``) and font rules apply."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .labels import LabelFont, code128_module_width, zpl_text

_BARCODE = re.compile(r"[\x20-\x7e]{1,64}")
_AREA = 720


def _barcode(value: object) -> str:
    if not isinstance(value, str) or not _BARCODE.fullmatch(value):
        raise ValueError(f"label barcode must be 1-64 printable ASCII characters, got {value!r}")
    return value


def _text(value: object, name: str, limit: int = 60) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{name} must be text of at most {limit} characters")
    return value


def _positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of 1 or more, got {value!r}")
    return value


@dataclass(frozen=True)
class CartLabelSpec:
    """A cart's label: its barcode text (``CART-<id>``), the cart id, wave and warehouse."""
    barcode: str
    cart_id: int
    wave_id: int
    warehouse: str
    job_id: int

    def __post_init__(self) -> None:
        _barcode(self.barcode)
        _positive(self.cart_id, "cart_id")
        _positive(self.wave_id, "wave_id")
        _text(self.warehouse, "warehouse", 32)
        _positive(self.job_id, "job_id")


@dataclass(frozen=True)
class ToteLabelSpec:
    """A tote's label: its barcode text, cart and slot, and the order it holds."""
    barcode: str
    cart_id: int
    slot: int
    order_number: str
    job_id: int

    def __post_init__(self) -> None:
        _barcode(self.barcode)
        _positive(self.cart_id, "cart_id")
        _positive(self.slot, "slot")
        _text(self.order_number, "order_number")
        _positive(self.job_id, "job_id")


def _head(font: LabelFont | None) -> str:
    if font is not None and not isinstance(font, LabelFont):
        raise ValueError("font must be a LabelFont or None")
    cw = f"^CW{font.letter},{font.path}" if font else ""
    return f"^XA^CI28^PW812^LL1218^LH0,0{cw}"


def _code128(y: int, data: str) -> str:
    width = code128_module_width(data, _AREA)
    return f"^FO46,{y}^BY{width},3.0,260^BCN,260,N,N,N,N^FH^FD{zpl_text(data)}^FS"


def _centred(y: int, size: int, text: str, font: str = "0") -> str:
    return f"^FO30,{y}^FB752,1,0,C,0^A{font}N,{size},{size}^FH^FD{zpl_text(text)}^FS"


def build_cart_label(label: CartLabelSpec, font: LabelFont | None = None) -> str:
    """The ZPL of a cart's label (``^XA…^XZ``)."""
    return "".join([
        _head(font),
        _centred(40, 60, "CART"),
        _centred(110, 260, str(label.cart_id)),
        _centred(400, 40, f"wave {label.wave_id} · {label.warehouse}"),
        _code128(500, label.barcode),
        _centred(790, 44, label.barcode),
        f"^FO30,1192^A0N,18,18^FDjob {label.job_id}^FS^XZ"])


def build_tote_label(label: ToteLabelSpec, font: LabelFont | None = None) -> str:
    """The ZPL of a tote's label (``^XA…^XZ``): slot in large type, the order under it."""
    cf = font.letter if font else "0"
    return "".join([
        _head(font),
        _centred(40, 50, f"CART {label.cart_id} · TOTE"),
        _centred(110, 260, str(label.slot)),
        _centred(400, 56, label.order_number, cf),
        _code128(500, label.barcode),
        _centred(790, 44, label.barcode),
        f"^FO30,1192^A0N,18,18^FDjob {label.job_id}^FS^XZ"])
