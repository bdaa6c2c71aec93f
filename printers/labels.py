"""ZPL label building: the 4x6 in shipping label, the SSCC carton/pallet label, the returns slip.

The layouts are data: ``printers/templates/*.zpl``, Jinja templates (jinja2 comes with
Flask) whose every ``{{ }}`` passes through :func:`zpl_text` (the environment's ``finalize``).
This module validates the inputs and computes the derived values (SSCC check digit, weight
text, barcode module width); it never imports ``server``.

Label format: 203 dpi, 4 x 6 in = 812 x 1218 dots (``^PW812``, ``^LL1218``), UTF-8 text
(``^CI28``). The returned ZPL is a ``str``; send ``zpl.encode("utf-8")`` to the printer.

Customer text never becomes a ZPL command
-----------------------------------------
Every field that carries text from an order (names, addresses, phone, order number, reason)
is written as ``^FH^FD…^FS`` and escaped by :func:`zpl_text`: ``^`` → ``_5E``, ``~`` → ``_7E``,
the ``^FH`` indicator ``_`` itself → ``_5F``, and control characters (C0, DEL, C1) → the
``_XX`` hex of their UTF-8 bytes. A ``^`` or ``~`` therefore never reaches the printer's
command parser. Customer text is printed one ``^FO`` field per line, never inside ``^FB``,
where a backslash is special (``\\&`` breaks the line): outside ``^FB`` a backslash is
literal. Barcode data (tracking number, RMA number, SSCC) is validated to a closed alphabet
instead (letters, digits, ``-``), so it cannot carry the Code 128 invocation character ``>``.

Text blocks: boxes, wrapping, graphics
--------------------------------------
The templates place text with ``text_block(lines, x=, y=, width=, height=, size=, pitch=)``:
each block has a box on the label. A line the printer's font draws is a text field; a line
it cannot draw (see below) is drawn by :mod:`printers.glyphs` and sent as a ``^GF`` graphic,
wrapped at the box's width. When the rows do not fit the box's height, the whole block
shrinks (text fields too) down to 16 dots; a Latin text line too long for the box is still
cut at the label's edge by the printer (its font's widths are the printer's).

CJK text (Chinese, Japanese, Korean addresses)
----------------------------------------------
``^CI28`` makes the printer read UTF-8, but the built-in font 0 has no CJK glyphs: it prints
nothing or boxes for them. Two ways out:

* **No setup (the default):** without a label font, a line with any character outside
  ASCII and Latin-1 (:func:`builtin_font_draws`) is drawn here with Noto Sans CJK (Debian
  ``fonts-noto-cjk``; the face follows the address's country: SC, TC, HK, JP or KR) and sent
  as a compressed ``^GF`` bitmap: it prints on any ZPL printer. A typical Chinese address
  label is ~9 KB of ZPL instead of ~1.4 KB. Without the font on the server, the text is
  sent as text (boxes) and a warning is logged.
* **A font on the printer:** load a TrueType font with CJK glyphs onto the printer once,
  then name it in the config; customer text then stays text (smaller labels, the printer's
  own rendering):

  1. Download it to the printer's flash (``E:``), which survives a power cycle. Either with
     Zebra Setup Utilities / ZebraNet Bridge ("Download fonts"), or by sending the bytes of
     :func:`font_download_command` (``~DYE:NAME.TTF,B,T,<size>,,<binary TTF>``, ZPL ``~DY``;
     firmware X.13 or later), e.g.::

         from printers.labels import font_download_command
         data = font_download_command("E:NOTOSC.TTF", open("NotoSansSC-Regular.ttf", "rb").read())
         # send `data` over TCP 9100 (or `lpr -oraw`) to the printer

     The name is 1-8 letters/digits (``E:NOTOSC.TTF``). A full CJK font is 10-20 MB: pick a
     subset (e.g. GB 2312 characters) if the printer's flash is small. Check with
     ``^XA^WDE:*.TTF^XZ`` (prints the directory of E:).
  2. Pass ``LabelFont("E:NOTOSC.TTF")`` (optionally ``letter="J"``) to the build functions
     (``printing.label_font`` in config.yaml). Each label then starts with
     ``^CWJ,E:NOTOSC.TTF`` (maps the font to the letter J for this format) and the customer
     text fields use ``^AJN,h,w``. The fixed texts (carrier, service, order number) stay in
     font 0, so they are still drawn as graphics where they hold CJK.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context

from .glyphs import FontMissing, Placed, fit_block, graphic_field

__all__ = [
    "Address", "LabelFont", "ReturnsSlip", "ShippingLabel", "SsccLabel",
    "build_returns_slip", "build_shipping_label", "build_sscc_label", "builtin_font_draws",
    "font_download_command", "make_sscc", "render", "sscc_check_digit", "validate_sscc",
    "zpl_text",
]

log = logging.getLogger(__name__)

UINT64_MAX = 2**64 - 1
MAX_TEXT = 120                 # characters in one customer text field (one printed line)
MAX_ADDRESS_LINES = 4
LABEL_WIDTH_DOTS = 812
CODE128_AREA_DOTS = 720        # bars of the tracking/RMA barcode: x 60 .. 780, quiet zones outside

_DIGITS = re.compile(r"[0-9]+")
_BARCODE_TEXT = re.compile(r"[A-Za-z0-9-]{1,40}")
_JOB_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_FONT_PATH = re.compile(r"([REBA]):([A-Z0-9]{1,8})\.(TTF|TTE)")


# ---------------------------------------------------------------- escaping


def _escape_table() -> dict[int, str]:
    table = {ord("_"): "_5F", ord("^"): "_5E", ord("~"): "_7E"}
    for cp in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]:
        table[cp] = "".join(f"_{b:02X}" for b in chr(cp).encode("utf-8"))
    return table


_FH_TABLE = _escape_table()


def zpl_text(text: str) -> str:
    """Customer text as ``^FH`` field data: ``^ ~ _`` and control characters as ``_XX`` hex.

    Everything else (including CJK) stays as it is and is sent as UTF-8 under ``^CI28``.
    The result must be placed after ``^FH^FD`` (the templates do).
    """
    return text.translate(_FH_TABLE)


# ---------------------------------------------------------------- SSCC (GS1)


def sscc_check_digit(digits17: str) -> int:
    """GS1 mod-10 check digit of the first 17 digits of an SSCC.

    Weights 3,1,3,… from the left (= 3 on the digit next to the check digit), as in the
    GS1 General Specifications, e.g. ``10614141123456789`` → 7.
    """
    if not isinstance(digits17, str) or len(digits17) != 17 or not _DIGITS.fullmatch(digits17):
        raise ValueError(f"SSCC without check digit must be 17 digits, got {digits17!r}")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(digits17))
    return (10 - total % 10) % 10


def validate_sscc(sscc: str) -> str:
    """The 18-digit SSCC if its check digit is right, else ValueError."""
    if not isinstance(sscc, str) or len(sscc) != 18 or not _DIGITS.fullmatch(sscc):
        raise ValueError(f"SSCC must be 18 digits, got {sscc!r}")
    expected = sscc_check_digit(sscc[:17])
    if int(sscc[17]) != expected:
        raise ValueError(f"SSCC {sscc} has check digit {sscc[17]}, expected {expected}")
    return sscc


def make_sscc(extension: int, company_prefix: str, serial: int) -> str:
    """An 18-digit SSCC: extension digit + GS1 company prefix + serial reference + check digit.

    ``company_prefix`` is 7-10 digits as GS1 assigned it (a string: leading zeros count);
    the serial reference fills the remaining 16 - len(prefix) digits, zero-padded.
    """
    if isinstance(extension, bool) or not isinstance(extension, int) or not 0 <= extension <= 9:
        raise ValueError(f"SSCC extension digit must be 0-9, got {extension!r}")
    if (not isinstance(company_prefix, str) or not _DIGITS.fullmatch(company_prefix)
            or not 7 <= len(company_prefix) <= 10):
        raise ValueError(f"GS1 company prefix must be 7-10 digits, got {company_prefix!r}")
    width = 16 - len(company_prefix)
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial < 10**width:
        raise ValueError(f"serial reference must be an integer 0..{10**width - 1} "
                         f"for a {len(company_prefix)}-digit company prefix, got {serial!r}")
    body = f"{extension}{company_prefix}{serial:0{width}d}"
    return body + str(sscc_check_digit(body))


# ---------------------------------------------------------------- inputs


def _text(value: object, name: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {type(value).__name__}")
    if required and not value.strip():
        raise ValueError(f"{name} must not be empty")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return value


def _order_number(value: object, name: str = "order_number") -> str:
    """An order number as exact text: int 0..2**64-1 or a string; a float is refused."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"{name} must be an int or a string (a float loses digits), got {value!r}")
    if isinstance(value, int):
        if not 0 <= value <= UINT64_MAX:
            raise ValueError(f"{name} {value} is outside 0..2**64-1")
        return str(value)
    return _text(value, name, limit=64)


def _job_id(value: object) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _JOB_ID.fullmatch(text):
        raise ValueError(f"job_id must be 1-64 of A-Z a-z 0-9 . _ : -, got {value!r}")
    return text


def _barcode_text(value: object, name: str) -> str:
    if not isinstance(value, str) or not _BARCODE_TEXT.fullmatch(value):
        raise ValueError(f"{name} must be 1-40 letters, digits or '-', got {value!r}")
    return value


@dataclass(frozen=True)
class Address:
    """A postal address as printed: name, up to 4 street lines, postcode, city, country."""
    name: str
    lines: tuple[str, ...]
    city: str
    postal_code: str = ""
    region: str = ""
    country: str = ""          # ISO 3166-1 alpha-2, e.g. "CN"
    phone: str = ""
    company: str = ""

    def __post_init__(self) -> None:
        lines = tuple(self.lines) if isinstance(self.lines, (list, tuple)) else self.lines
        object.__setattr__(self, "lines", lines)
        _text(self.name, "address name")
        if not isinstance(lines, tuple) or not 1 <= len(lines) <= MAX_ADDRESS_LINES:
            raise ValueError(f"address lines must be 1-{MAX_ADDRESS_LINES} lines of text")
        for i, line in enumerate(lines):
            _text(line, f"address line {i + 1}")
        _text(self.city, "city")
        for attr in ("postal_code", "region", "phone", "company"):
            _text(getattr(self, attr), attr, required=False, limit=64)
        if self.country and not _COUNTRY.fullmatch(self.country):
            raise ValueError(f"country must be an ISO 3166 alpha-2 code like 'CN', "
                             f"got {self.country!r}")

    def block_lines(self, *, with_name: bool = True) -> tuple[str, ...]:
        """The printed lines: [name], [company], street lines, postcode + city, region + country."""
        head = (self.name,) if with_name else ()
        company = (self.company,) if self.company else ()
        city = " ".join(p for p in (self.postal_code, self.city) if p)
        tail = " ".join(p for p in (self.region, self.country) if p)
        return (*head, *company, *self.lines, city, *((tail,) if tail else ()))


@dataclass(frozen=True)
class LabelFont:
    """A TrueType font stored on the printer, used for customer text (see module docstring)."""
    path: str                  # e.g. "E:NOTOSC.TTF"
    letter: str = "J"          # the ^CW font letter it is mapped to for each label

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not _FONT_PATH.fullmatch(self.path):
            raise ValueError(f"font path must look like E:NAME.TTF (drive R/E/B/A, 1-8 "
                             f"capitals/digits, .TTF or .TTE), got {self.path!r}")
        if not isinstance(self.letter, str) or not re.fullmatch(r"[A-Z1-9]", self.letter):
            raise ValueError(f"font letter must be one of A-Z or 1-9, got {self.letter!r}")


@dataclass(frozen=True)
class ShippingLabel:
    """Everything printed on the 4x6 in shipping label of one parcel."""
    sender: Address
    recipient: Address
    order_number: int | str    # 64-bit storefront ids stay exact: int or str, never float
    carrier: str
    service: str
    tracking_number: str
    sscc: str                  # 18 digits, check digit verified
    weight_g: int
    parcel_index: int = 1
    parcel_count: int = 1
    job_id: int | str = field(kw_only=True)   # the print job, printed small: spots a duplicate

    def __post_init__(self) -> None:
        for attr in ("sender", "recipient"):
            if not isinstance(getattr(self, attr), Address):
                raise ValueError(f"{attr} must be an Address")
        _order_number(self.order_number)
        _text(self.carrier, "carrier", limit=40)
        _text(self.service, "service", limit=40)
        _barcode_text(self.tracking_number, "tracking_number")
        validate_sscc(self.sscc)
        if isinstance(self.weight_g, bool) or not isinstance(self.weight_g, int) \
                or not 0 < self.weight_g <= 10_000_000:
            raise ValueError(f"weight_g must be grams, 1..10,000,000, got {self.weight_g!r}")
        _parcel_of(self.parcel_index, self.parcel_count)
        _job_id(self.job_id)


@dataclass(frozen=True)
class SsccLabel:
    """A carton or pallet label: shipper, optional contents text, the SSCC as GS1-128."""
    sscc: str
    shipper: Address
    description: str = ""
    item_count: int | None = None
    job_id: int | str = field(kw_only=True)   # the print job, printed small: spots a duplicate

    def __post_init__(self) -> None:
        validate_sscc(self.sscc)
        if not isinstance(self.shipper, Address):
            raise ValueError("shipper must be an Address")
        _text(self.description, "description", required=False, limit=200)
        if self.item_count is not None and (isinstance(self.item_count, bool) or not
                                            isinstance(self.item_count, int) or self.item_count < 1):
            raise ValueError(f"item_count must be a positive int or None, got {self.item_count!r}")
        _job_id(self.job_id)


@dataclass(frozen=True)
class ReturnsSlip:
    """The label a customer sticks on a return: from the customer to the warehouse, RMA barcode."""
    order_number: int | str
    rma_number: str
    customer: Address
    return_to: Address
    reason: str = ""
    job_id: int | str = field(kw_only=True)   # the print job, printed small: spots a duplicate

    def __post_init__(self) -> None:
        _order_number(self.order_number)
        _barcode_text(self.rma_number, "rma_number")
        for attr in ("customer", "return_to"):
            if not isinstance(getattr(self, attr), Address):
                raise ValueError(f"{attr} must be an Address")
        _text(self.reason, "reason", required=False, limit=200)
        _job_id(self.job_id)


def _parcel_of(index: object, count: object) -> None:
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (index, count))
    if not ok or not 1 <= index <= count <= 999:  # type: ignore[operator]
        raise ValueError(f"parcel must be n of m with 1 <= n <= m <= 999, got {index!r} of {count!r}")


# ---------------------------------------------------------------- building


class _Zpl(str):
    """ZPL this module built from escaped text and graphics: passed to the printer as is."""


def _finalize(value: object) -> str:
    # Every {{ }} of a template passes through here: text from an order cannot reach the
    # printer unescaped, even where a template forgets ^FH (it then prints _5E, not a command).
    # Only text_block's own output (_Zpl, built from escaped text) passes unchanged.
    if isinstance(value, _Zpl):
        return value
    return zpl_text(value if isinstance(value, str) else str(value))


def builtin_font_draws(text: str) -> bool:
    """Whether the printer's built-in font 0 prints every character of `text` (under ^CI28):
    ASCII and Latin-1; control characters count as drawn (they are escaped, print nothing)."""
    return _LATIN1.fullmatch(text) is not None


_LATIN1 = re.compile(r"[\x00-\xff]*")
_missing_font_logged = False


@pass_context
def _text_block(context, lines: object, *, x: int, y: int, width: int, height: int, size: int,
                pitch: int, fixed: bool = False, country: str = "") -> _Zpl:
    """The ZPL of `lines` in the box (x, y, width, height): text the printer's font draws as
    ``^A…^FH^FD`` fields, the rest as ``^GF`` graphics, wrapped and shrunk to fit the box
    (printers/glyphs.py). `fixed`: font 0 even when a label font is configured."""
    global _missing_font_logged
    lines = (lines,) if isinstance(lines, str) else tuple(lines)
    letter = "0" if fixed else context["cf"]
    drawn = [letter == "0" and not builtin_font_draws(line) for line in lines]
    try:
        placed = fit_block(lines, drawn, width=width, height=height, size=size, pitch=pitch,
                           country=country)
    except FontMissing as err:
        if not _missing_font_logged:
            _missing_font_logged = True
            log.warning("%s; CJK label text is sent as text and prints as boxes", err)
        placed = fit_block(lines, [False] * len(lines), width=width, height=height, size=size,
                           pitch=pitch)
    return _Zpl("".join(_field(x, y, letter, item) for item in placed))


def _field(x: int, y: int, letter: str, item: Placed) -> str:
    if item.graphic is not None:
        return graphic_field(x, y + item.dy, item.graphic)
    return f"^FO{x},{y + item.dy}^A{letter}N,{item.size},{item.size}^FH^FD{zpl_text(item.text or '')}^FS"


_ENV = Environment(loader=PackageLoader("printers", "templates"), autoescape=False,
                   finalize=_finalize, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)
_ENV.globals["text_block"] = _text_block


def render(name: str, **values: object) -> str:
    """Fill ``printers/templates/<name>``; the layout's line breaks are dropped (ZPL needs none)."""
    # Customer text has no raw line breaks left after escaping, so this only joins the layout.
    return _ENV.get_template(name).render(**values).replace("\n", "")


def _font_values(font: LabelFont | None) -> dict[str, object]:
    if font is not None and not isinstance(font, LabelFont):
        raise ValueError("font must be a LabelFont or None")
    return {"font": font, "cf": font.letter if font else "0"}


def _weight_text(grams: int) -> str:
    return f"{Decimal(grams) / 1000:.3f} kg"


def code128_module_width(data: str, area_dots: int = CODE128_AREA_DOTS) -> int:
    """The widest ^BY module (3, 2 or 1 dots) at which a Code 128 of `data` fits `area_dots`.

    Sized for subset B, the worst case of ZPL's automatic mode: start, one symbol a character
    and the check symbol (11 modules each) and the stop (13); the quiet zones lie outside.
    """
    modules = 11 * (len(data) + 2) + 13
    for width in (3, 2):
        if modules * width <= area_dots:
            return width
    return 1


def build_shipping_label(label: ShippingLabel, font: LabelFont | None = None) -> str:
    """The ZPL of a 4x6 in shipping label (``^XA…^XZ``), customer text escaped."""
    if not isinstance(label, ShippingLabel):
        raise ValueError("label must be a ShippingLabel")
    recipient = label.recipient
    phone = (f"Tel {recipient.phone}",) if recipient.phone else ()
    return render(
        "shipping_4x6.zpl", **_font_values(font), label=label, recipient=recipient,
        sender_lines=label.sender.block_lines(),
        recipient_lines=recipient.block_lines(with_name=False) + phone,
        weight=_weight_text(label.weight_g), order_number=_order_number(label.order_number),
        tracking_by=code128_module_width(label.tracking_number), job_id=_job_id(label.job_id))


def build_sscc_label(label: SsccLabel, font: LabelFont | None = None) -> str:
    """The ZPL of a carton/pallet label carrying the SSCC as GS1-128."""
    if not isinstance(label, SsccLabel):
        raise ValueError("label must be an SsccLabel")
    return render("sscc.zpl", **_font_values(font), label=label,
                  shipper_lines=label.shipper.block_lines(), job_id=_job_id(label.job_id))


def build_returns_slip(slip: ReturnsSlip, font: LabelFont | None = None) -> str:
    """The ZPL of a returns slip: customer → warehouse, RMA number as Code 128."""
    if not isinstance(slip, ReturnsSlip):
        raise ValueError("slip must be a ReturnsSlip")
    return render(
        "returns_slip.zpl", **_font_values(font), slip=slip,
        order_number=_order_number(slip.order_number),
        customer_lines=slip.customer.block_lines(), return_lines=slip.return_to.block_lines(),
        rma_by=code128_module_width(slip.rma_number), job_id=_job_id(slip.job_id))


def font_download_command(path: str, ttf: bytes) -> bytes:
    """``~DY`` bytes that store a TrueType font on the printer as `path` (e.g. ``E:NOTOSC.TTF``)."""
    LabelFont(path)    # validates the name
    if not isinstance(ttf, (bytes, bytearray)) or not ttf:
        raise ValueError("ttf must be the non-empty bytes of a .ttf file")
    drive, name, ext = _FONT_PATH.fullmatch(path).groups()  # type: ignore[union-attr]
    kind = "T" if ext == "TTF" else "E"
    return f"~DY{drive}:{name},B,{kind},{len(ttf)},,".encode("ascii") + bytes(ttf)
