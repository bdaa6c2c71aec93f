"""Packing slips and invoices as PDF (fpdf2), printed on a document printer through CUPS.

The layout and every printed word are data: ``printers/templates/documents.yaml`` lists the
blocks of each document (fields, barcode, addresses, table, totals, note), the table
columns, the fonts, and the labels in English and Simplified Chinese (``language="en"`` or
``"zh-CN"``). This module validates the inputs (frozen dataclasses, ``ValueError`` on bad
input), computes the derived values (invoice totals, the Code 128 of the order number) and
draws the blocks; it never imports ``server``.

Fonts: one font with CJK and Latin glyphs for all text, so Chinese names and addresses
print and stay searchable text in the PDF: the first of the template's list that is
installed, Debian ``fonts-noto-cjk`` (Noto Sans CJK SC, regular and bold, from the .ttc) or
``fonts-wqy-zenhei``. fpdf2 embeds only the glyphs used. Not a Latin font with a CJK
fallback: fpdf2 2.8.9 then garbles Latin text following a fallback-font line. Without an
installed font, :class:`FontMissing` names the package.

Money is ``Decimal`` throughout (a float price is refused). Unit prices may not have more
decimals than the currency has (``currency_decimals`` in the template: JPY 0, EUR 2, KWD 3),
so line totals and the subtotal are exact. A tax is a percentage of the subtotal, rounded
half-up to the currency's minor unit (the one rounding step, printed as such); the total is
the subtotal plus the printed tax amounts.

Printing: :func:`print_document` sends the PDF with ``lp`` (no ``-o raw``: a queue with a
driver converts the PDF for its printer, a raw queue passes it through to a PDF-capable one)
and checks the job like the label CUPS driver does (queue stopped or rejecting, job held,
job not completed: :class:`~printers.status.PrinterFault`; a job still pending at the
timeout is cancelled so that a retry cannot print it twice).
"""
from __future__ import annotations

import copy
import datetime as dt
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import yaml
from fontTools import ttLib
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

from printers.drivers import DEFAULT_TIMEOUT_S, CupsDriver, PrintResult, open_printer, print_checked
from printers.labels import Address, _order_number, _parcel_of, _text
from printers.status import BadPrinterUrl, PrinterFault, PrinterOffline, PrinterStatus

__all__ = [
    "CustomsDeclaration", "CustomsLine", "DocumentFonts", "FontMissing", "Invoice",
    "InvoiceLine", "InvoiceTotals", "PackingSlip", "SlipLine", "Tax",
    "build_customs_declaration", "build_document", "build_invoice", "build_packing_slip",
    "code128_values", "code128_widths", "find_fonts", "invoice_totals", "print_document",
    "warm_up",
]

LANGUAGES = ("en", "zh-CN")
PAGE_SIZES = ("A4", "Letter")
MAX_LINES = 500
MAX_QUANTITY = 1_000_000
_SKU = re.compile(r"[A-Za-z0-9._/-]{1,40}")
_CURRENCY = re.compile(r"[A-Z]{3}")


class FontMissing(RuntimeError):
    """No font file of the template's list is installed."""


@lru_cache(maxsize=1)
def template() -> dict:
    """The parsed ``printers/templates/documents.yaml``."""
    return yaml.safe_load(files("printers").joinpath("templates/documents.yaml").read_text("utf-8"))


# ---------------------------------------------------------------- inputs


def _count(value: object, name: str, high: int = MAX_QUANTITY) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValueError(f"{name} must be an integer 1..{high}, got {value!r}")
    return value


def _sku(value: object) -> str:
    if not isinstance(value, str) or not _SKU.fullmatch(value):
        raise ValueError(f"sku must be 1-40 of A-Z a-z 0-9 . _ / -, got {value!r}")
    return value


def _date(value: object, name: str) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ValueError(f"{name} must be a datetime.date, got {value!r}")
    return value


def _lines(value: object, kind: type, name: str) -> tuple:
    lines = tuple(value) if isinstance(value, (list, tuple)) else value
    if not isinstance(lines, tuple) or not 1 <= len(lines) <= MAX_LINES:
        raise ValueError(f"{name} must be 1-{MAX_LINES} lines")
    if not all(isinstance(line, kind) for line in lines):
        raise ValueError(f"{name} must all be {kind.__name__}")
    return lines


@dataclass(frozen=True)
class SlipLine:
    """One line of a packing slip: what is in this parcel."""
    sku: str
    name: str
    quantity: int

    def __post_init__(self) -> None:
        _sku(self.sku)
        _text(self.name, "item name", limit=200)
        _count(self.quantity, "quantity")


@dataclass(frozen=True)
class PackingSlip:
    """The packing slip put in one parcel of an order."""
    sender: Address
    ship_to: Address
    order_number: int | str    # 64-bit storefront ids stay exact: int or str, never float
    order_date: dt.date
    lines: tuple[SlipLine, ...]
    parcel_index: int = 1
    parcel_count: int = 1
    note: str = ""

    def __post_init__(self) -> None:
        for attr in ("sender", "ship_to"):
            if not isinstance(getattr(self, attr), Address):
                raise ValueError(f"{attr} must be an Address")
        _order_number(self.order_number)
        _date(self.order_date, "order_date")
        object.__setattr__(self, "lines", _lines(self.lines, SlipLine, "packing slip lines"))
        _parcel_of(self.parcel_index, self.parcel_count)
        _text(self.note, "note", required=False, limit=500)


def currency_decimals(currency: str) -> int:
    """Digits after the decimal point of an ISO 4217 currency (template data; default 2)."""
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValueError(f"currency must be an ISO 4217 code like 'EUR', got {currency!r}")
    return template()["currency_decimals"].get(currency, 2)


def _decimal(value: object, name: str) -> Decimal:
    if isinstance(value, (bool, float)) or not isinstance(value, (Decimal, int, str)):
        raise ValueError(f"{name} must be a Decimal, int or str (a float is inexact), "
                         f"got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation as err:
        raise ValueError(f"{name} is not a number: {value!r}") from err
    if not number.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice line: unit price (Decimal, in the invoice currency) times quantity."""
    sku: str
    name: str
    unit_price: Decimal
    quantity: int

    def __post_init__(self) -> None:
        _sku(self.sku)
        _text(self.name, "item name", limit=200)
        price = _decimal(self.unit_price, "unit_price")
        if price < 0:
            raise ValueError(f"unit_price must not be negative, got {price}")
        object.__setattr__(self, "unit_price", price)
        _count(self.quantity, "quantity")

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Tax:
    """A tax on the subtotal, as a percentage (``Decimal("13")`` = 13 %)."""
    name: str
    rate_percent: Decimal

    def __post_init__(self) -> None:
        _text(self.name, "tax name", limit=40)
        rate = _decimal(self.rate_percent, "tax rate")
        if not 0 <= rate <= 100:
            raise ValueError(f"tax rate must be 0-100 %, got {rate}")
        object.__setattr__(self, "rate_percent", rate)


@dataclass(frozen=True)
class Invoice:
    """An invoice for an order that asks for one."""
    seller: Address
    buyer: Address
    invoice_number: str
    invoice_date: dt.date
    order_number: int | str
    currency: str
    lines: tuple[InvoiceLine, ...]
    taxes: tuple[Tax, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        for attr in ("seller", "buyer"):
            if not isinstance(getattr(self, attr), Address):
                raise ValueError(f"{attr} must be an Address")
        _text(self.invoice_number, "invoice_number", limit=40)
        _date(self.invoice_date, "invoice_date")
        _order_number(self.order_number)
        places = currency_decimals(self.currency)
        lines = _lines(self.lines, InvoiceLine, "invoice lines")
        for line in lines:
            if line.unit_price.as_tuple().exponent < -places:  # type: ignore[operator]
                raise ValueError(f"unit price {line.unit_price} of {line.sku} has more than "
                                 f"{places} decimals, too many for {self.currency}")
        object.__setattr__(self, "lines", lines)
        taxes = tuple(self.taxes) if isinstance(self.taxes, (list, tuple)) else self.taxes
        if not isinstance(taxes, tuple) or not all(isinstance(t, Tax) for t in taxes):
            raise ValueError("taxes must be a sequence of Tax")
        object.__setattr__(self, "taxes", taxes)
        _text(self.note, "note", required=False, limit=500)


@dataclass(frozen=True)
class CustomsLine:
    """One line of a customs declaration: all units of one product."""
    description: str
    quantity: int
    hs_code: str
    origin_country: str
    value: Decimal                  # all units, in the declaration's currency
    weight_g: int                   # all units, net

    def __post_init__(self) -> None:
        _text(self.description, "description", limit=200)
        _count(self.quantity, "quantity")
        if not re.fullmatch(r"[0-9]{6,10}", str(self.hs_code)):
            raise ValueError(f"an HS code has 6 to 10 digits, not {self.hs_code!r}")
        if not re.fullmatch(r"[A-Z]{2}", str(self.origin_country)):
            raise ValueError(f"origin_country must be an ISO code like 'GB', not "
                             f"{self.origin_country!r}")
        object.__setattr__(self, "value", _decimal(self.value, "value"))
        _count(self.weight_g, "weight_g", high=10_000_000)


@dataclass(frozen=True)
class CustomsDeclaration:
    """A CN22/CN23-style customs declaration for a parcel leaving its customs area."""
    form: str                       # CN22 | CN23
    sender: Address
    ship_to: Address
    order_number: int | str
    date: dt.date
    currency: str
    lines: tuple[CustomsLine, ...]
    gross_weight_g: int
    category: str = "Sale of goods"
    parcel_index: int = 1
    parcel_count: int = 1

    def __post_init__(self) -> None:
        if self.form not in ("CN22", "CN23"):
            raise ValueError(f"form must be CN22 or CN23, not {self.form!r}")
        for attr in ("sender", "ship_to"):
            if not isinstance(getattr(self, attr), Address):
                raise ValueError(f"{attr} must be an Address")
        _order_number(self.order_number)
        _date(self.date, "date")
        currency_decimals(self.currency)
        object.__setattr__(self, "lines", _lines(self.lines, CustomsLine, "customs lines"))
        _count(self.gross_weight_g, "gross_weight_g", high=10_000_000)
        _text(self.category, "category", limit=40)
        _parcel_of(self.parcel_index, self.parcel_count)

    @property
    def total_value(self) -> Decimal:
        return sum((x.value for x in self.lines), Decimal(0))


@dataclass(frozen=True)
class InvoiceTotals:
    subtotal: Decimal
    taxes: tuple[tuple[Tax, Decimal], ...]
    total: Decimal


def invoice_totals(invoice: Invoice) -> InvoiceTotals:
    """Subtotal (exact), each tax rounded half-up to the minor unit, and the total."""
    if not isinstance(invoice, Invoice):
        raise ValueError("invoice must be an Invoice")
    unit = Decimal(1).scaleb(-currency_decimals(invoice.currency))
    subtotal = sum((line.total for line in invoice.lines), Decimal(0)).quantize(unit)
    taxes = tuple((tax, (subtotal * tax.rate_percent / 100).quantize(unit, ROUND_HALF_UP))
                  for tax in invoice.taxes)
    return InvoiceTotals(subtotal, taxes, subtotal + sum((a for _, a in taxes), Decimal(0)))


# ---------------------------------------------------------------- Code 128

# Bar/space widths (in modules) of the 107 Code 128 symbols, values 0..105 and stop (106).
_C128 = (
    "212222 222122 222221 121223 121322 131222 122213 122312 132212 221213 221312 231212 "
    "112232 122132 122231 113222 123122 123221 223211 221132 221231 213212 223112 312131 "
    "311222 321122 321221 312212 322112 322211 212123 212321 232121 111323 131123 131321 "
    "112313 132113 132311 211313 231113 231311 112133 112331 132131 113123 113321 133121 "
    "313121 211331 231131 213113 213311 213131 311123 311321 331121 312113 312311 332111 "
    "314111 221411 431111 111224 111422 121124 121421 141122 141221 112214 112412 122114 "
    "122411 142112 142211 241211 221114 413111 241112 134111 111242 121142 121241 114212 "
    "124112 124211 411212 421112 421211 212141 214121 412121 111143 111341 131141 114113 "
    "114311 411113 411311 113141 114131 311141 411131 211412 211214 211232 2331112"
).split()
_START_B, _START_C, _TO_B, _TO_C, _STOP = 104, 105, 100, 99, 106


def code128_values(data: str) -> list[int]:
    """The Code 128 symbol values of `data` (printable ASCII), start to stop, check included.

    Runs of 4+ digits (or a whole value of 2+ digits) go in subset C, two digits a symbol;
    the rest in subset B.
    """
    if not isinstance(data, str) or not data or len(data) > 64 \
            or any(not 32 <= ord(c) <= 126 for c in data):
        raise ValueError(f"Code 128 data must be 1-64 printable ASCII characters, got {data!r}")
    values: list[int] = []
    subset = None
    i = 0
    while i < len(data):
        run = len(data[i:]) - len(data[i:].lstrip("0123456789"))
        pairs = run - run % 2
        if pairs >= 4 or (pairs >= 2 and pairs == len(data)):
            if subset != "C":
                values.append(_START_C if subset is None else _TO_C)
                subset = "C"
            values += [int(data[j:j + 2]) for j in range(i, i + pairs, 2)]
            i += pairs
            continue
        if subset != "B":
            values.append(_START_B if subset is None else _TO_B)
            subset = "B"
        values.append(ord(data[i]) - 32)
        i += 1
    check = (values[0] + sum(pos * v for pos, v in enumerate(values[1:], start=1))) % 103
    return [*values, check, _STOP]


def code128_widths(data: str) -> list[int]:
    """Alternating bar/space widths in modules (starting with a bar), quiet zones excluded."""
    return [int(w) for value in code128_values(data) for w in _C128[value]]


# ---------------------------------------------------------------- fonts


@dataclass(frozen=True)
class DocumentFonts:
    """The font files of all text; ``*_index`` is the face inside a .ttc collection."""
    regular: Path
    bold: Path
    regular_index: int = 0
    bold_index: int = 0


def _ttc_index(path: Path, family: str) -> int:
    """The face of a .ttc collection whose family is `family` (0 for a single font)."""
    if path.suffix.lower() != ".ttc":
        return 0
    return _ttc_face(str(path), family, path.stat().st_mtime_ns)


@lru_cache(maxsize=16)
def _ttc_face(path: str, family: str, _mtime_ns: int) -> int:
    """Looked up once per file version (opening the collection is ~25 ms a document)."""
    from fontTools.ttLib import TTCollection   # fpdf2's own dependency
    with TTCollection(path, lazy=True) as collection:
        for index, font in enumerate(collection.fonts):
            names = font["name"]
            # typographic family (16) where the font has one ("... Bold" is only in 1)
            if (names.getDebugName(16) or names.getDebugName(1)) == family:
                return index
    raise FontMissing(f"{path} has no face named {family!r}")


def find_fonts() -> DocumentFonts:
    """The first font of the template's list whose files are installed, else FontMissing."""
    for spec in template()["fonts"]:
        regular, bold = Path(spec["regular"]), Path(spec["bold"])
        if regular.is_file() and bold.is_file():
            return DocumentFonts(regular, bold, _ttc_index(regular, spec["family"]),
                                 _ttc_index(bold, spec["family"]))
    raise FontMissing("no font with CJK glyphs installed (tried "
                      + ", ".join(f["family"] for f in template()["fonts"])
                      + "); Debian: apt-get install fonts-noto-cjk")


# ---------------------------------------------------------------- font parsing, once

# Why a document cost ~1 s of CPU (2-4 s on a loaded machine): Noto Sans CJK is 65,535
# glyphs, and fpdf2 did all the font work anew for every document: add_font() parsed the
# face's cmap (44,810 code points), its hmtx and a width and glyph id per code point (~0.2 s
# per face, two faces), and output() subset the whole face (cmap, hmtx, vmtx, the CFF
# charset and subroutines of 65,535 glyphs: ~0.3 s per face). The parsed metrics do not
# change between documents, so each process parses a face once and every document gets a
# copy of them with its own glyph subset and a fresh (lazily read) font file handle for the
# subsetter, which changes the font it is given. And a CID-keyed CFF font (Noto CJK) is
# embedded as its CFF table alone (the PDF gets no cmap, hmtx or vertical metrics from the
# file: widths come from the parsed metrics), so the tables the subsetter would otherwise
# read and prune for nothing are left out of its copy. Same PDF bytes, under half the
# CPU: ~0.35 s (tests/unit/test_documents.py compares the bytes; README "Documents and the
# worker pool" has the figures).
FAST_FONTS = True
_UNEMBEDDED_CID_TABLES = ("vhea", "vmtx", "VORG", "BASE", "GDEF", "GPOS", "GSUB", "cmap",
                          "OS/2", "hmtx", "hhea")


@lru_cache(maxsize=8)
def _parsed_font(path: str, index: int, style: str) -> TTFFont | None:
    """The face parsed by fpdf2 once per process (None: not safe to share, see below)."""
    pdf = FPDF()
    pdf.add_font("doc", style, path, collection_font_number=index)
    font = pdf.fonts[f"doc{style}"]
    # a TrueType face without .notdef gets one drawn into its parsed file by fpdf2: that
    # lives in the handle a copy would not share, so such a face is parsed per document
    if not isinstance(font, TTFFont) or "glyf" in font.ttfont \
            and ".notdef" not in font.ttfont["glyf"]:
        return None
    font.ttfont.close()
    return font


def add_font(pdf: FPDF, style: str, path: Path, index: int) -> None:
    """``pdf.add_font("doc", style, path)`` from the face parsed once per process."""
    parsed = _parsed_font(str(path), index, style) if FAST_FONTS else None
    if parsed is None:
        pdf.add_font("doc", style, str(path), collection_font_number=index)
        return
    font = copy.copy(parsed)                # the metrics, shared read-only (cmap, desc) …
    font.i = len(pdf.fonts) + 1
    font.cw = copy.copy(parsed.cw)          # … or copied (fpdf2 adds widths it looks up)
    font.glyph_ids = dict(parsed.glyph_ids)
    font.missing_glyphs, font.biggest_size_pt, font._hbfont = [], 0, None
    font.ttfont = ttLib.TTFont(str(path), recalcTimestamp=False, fontNumber=index, lazy=True)
    if font.is_cff and font.is_cid_keyed:
        for tag in _UNEMBEDDED_CID_TABLES:
            if tag in font.ttfont:
                del font.ttfont[tag]
        pdf._set_min_pdf_version("1.6")     # what add_font does for such a font
    font.subset = SubsetMap(font)
    pdf.fonts[font.fontkey] = font


# ---------------------------------------------------------------- drawing


class _Document:
    """One PDF being drawn from a template section (``packing_slip`` or ``invoice``)."""

    def __init__(self, section: str, values: dict, language: str, page_size: str,
                 fonts: DocumentFonts | None):
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
        if page_size not in PAGE_SIZES:
            raise ValueError(f"page_size must be one of {', '.join(PAGE_SIZES)}, "
                             f"got {page_size!r}")
        if fonts is not None and not isinstance(fonts, DocumentFonts):
            raise ValueError("fonts must be a DocumentFonts or None")
        fonts = fonts or find_fonts()
        self.spec, self.page = template()[section], template()["page"]
        self.values, self.language = values, language
        pdf = self.pdf = FPDF(format=page_size.lower(), unit="mm")
        margin = self.page["margin_mm"]
        pdf.set_margins(margin, margin, margin)
        pdf.set_auto_page_break(True, margin)
        add_font(pdf, "", fonts.regular, fonts.regular_index)
        add_font(pdf, "B", fonts.bold, fonts.bold_index)
        pdf.set_creator("wavepack")
        pdf.set_title(self.spec["title"][language])
        pdf.add_page()

    def label(self, key: str, **values: object) -> str:
        return template()["labels"][key][self.language].format(**values)

    def text(self, text: str, *, bold: bool = False, size: float | None = None) -> None:
        self.pdf.set_font("doc", "B" if bold else "", size or self.page["font_size"])
        self.pdf.multi_cell(0, self.page["line_height_mm"], text, new_x="LMARGIN", new_y="NEXT")

    def render(self) -> bytes:
        self.text(self.spec["title"][self.language], bold=True, size=self.page["title_size"])
        self.pdf.ln(2)
        for block in self.spec["blocks"]:
            getattr(self, f"block_{block['kind']}")(block)
            self.pdf.ln(4)
        return bytes(self.pdf.output())

    # -- blocks (one method per `kind` of the template) -------------------------------
    def block_fields(self, block: dict) -> None:
        for key, fmt in block["items"]:
            value = (self.label(fmt, **self.values) if fmt in template()["labels"]
                     else fmt.format(**self.values))
            self.text(f"{self.label(key)}: {value}")

    def block_barcode(self, block: dict) -> None:
        pdf, spec = self.pdf, self.page["barcode"]
        module, height = spec["module_mm"], spec["height_mm"]
        x, y = pdf.l_margin + 10 * module, pdf.get_y()      # 10-module quiet zone
        for i, width in enumerate(code128_widths(str(self.values[block["value"]]))):
            if i % 2 == 0:
                pdf.rect(x, y, width * module, height, style="F")
            x += width * module
        pdf.set_y(y + height)

    def block_addresses(self, block: dict) -> None:
        pdf = self.pdf
        width = pdf.epw / len(block["columns"])
        top, bottom = pdf.get_y(), pdf.get_y()
        for n, key in enumerate(block["columns"]):
            address: Address = self.values[key]
            pdf.set_xy(pdf.l_margin + n * width, top)
            phone = (self.label("phone", phone=address.phone),) if address.phone else ()
            pdf.set_font("doc", "B", self.page["font_size"])
            pdf.multi_cell(width - 4, self.page["line_height_mm"], self.label(key),
                           new_x="LEFT", new_y="NEXT")
            pdf.set_font("doc", "", self.page["font_size"])
            pdf.multi_cell(width - 4, self.page["line_height_mm"],
                           "\n".join((*address.block_lines(), *phone)),
                           new_x="LEFT", new_y="NEXT")
            bottom = max(bottom, pdf.get_y())
        pdf.set_xy(pdf.l_margin, bottom)

    def block_table(self, block: dict) -> None:
        columns = block["columns"]
        self.pdf.set_font("doc", "", self.page["font_size"])
        with self.pdf.table(col_widths=tuple(c["width"] for c in columns),
                            text_align=tuple(c.get("align", "LEFT") for c in columns),
                            line_height=self.page["line_height_mm"] + 1) as table:
            heading = table.row()
            for column in columns:
                heading.cell(self.label(column["label"]))
            for line in self.values["rows"]:
                row = table.row()
                for column in columns:
                    row.cell(str(line[column["key"]]))

    def block_totals(self, block: dict) -> None:
        totals: InvoiceTotals = self.values["totals"]
        currency = self.values["currency"]
        rows = [(self.label("subtotal"), totals.subtotal)]
        rows += [(self.label("tax", name=tax.name, rate=tax.rate_percent), amount)
                 for tax, amount in totals.taxes]
        rows.append((self.label("total"), totals.total))
        for n, (caption, amount) in enumerate(rows):
            self.pdf.set_font("doc", "B" if n == len(rows) - 1 else "",
                              self.page["font_size"])
            self.pdf.cell(0, self.page["line_height_mm"] + 1, f"{caption}: {amount} {currency}",
                          align="R", new_x="LMARGIN", new_y="NEXT")

    def block_declaration(self, block: dict) -> None:
        self.text(self.label("declaration"), size=self.page["font_size"] - 1)
        self.pdf.ln(6)
        self.text(self.label("signature"))

    def block_note(self, block: dict) -> None:
        if self.values["note"]:
            self.text(f"{self.label('note')}: {self.values['note']}")


def build_packing_slip(slip: PackingSlip, *, page_size: str = "A4", language: str = "en",
                       fonts: DocumentFonts | None = None) -> bytes:
    """The PDF of a packing slip (``page_size`` "A4" or "Letter", ``language`` "en"/"zh-CN")."""
    if not isinstance(slip, PackingSlip):
        raise ValueError("slip must be a PackingSlip")
    values = {
        "sender": slip.sender, "ship_to": slip.ship_to, "note": slip.note,
        "order_number": _order_number(slip.order_number), "date": slip.order_date.isoformat(),
        "index": slip.parcel_index, "count": slip.parcel_count,
        "rows": [{"sku": x.sku, "name": x.name, "quantity": x.quantity} for x in slip.lines],
    }
    return _Document("packing_slip", values, language, page_size, fonts).render()


def build_invoice(invoice: Invoice, *, page_size: str = "A4", language: str = "en",
                  fonts: DocumentFonts | None = None) -> bytes:
    """The PDF of an invoice: lines with unit price and line total, taxes, exact totals."""
    totals = invoice_totals(invoice)     # validates the type too
    values = {
        "seller": invoice.seller, "buyer": invoice.buyer, "note": invoice.note,
        "invoice_number": invoice.invoice_number, "date": invoice.invoice_date.isoformat(),
        "order_number": _order_number(invoice.order_number), "currency": invoice.currency,
        "totals": totals,
        "rows": [{"sku": x.sku, "name": x.name, "unit_price": x.unit_price,
                  "quantity": x.quantity, "line_total": x.total} for x in invoice.lines],
    }
    return _Document("invoice", values, language, page_size, fonts).render()


def build_customs_declaration(decl: CustomsDeclaration, *, page_size: str = "A4",
                              language: str = "en",
                              fonts: DocumentFonts | None = None) -> bytes:
    """The PDF of a customs declaration: form, route, the sender and addressee, per line
    description, HS code, origin, quantity, net weight and value; totals and the
    sender's declaration with a signature line."""
    if not isinstance(decl, CustomsDeclaration):
        raise ValueError("decl must be a CustomsDeclaration")
    places = currency_decimals(decl.currency)
    unit = Decimal(1).scaleb(-places)
    values = {
        "sender": decl.sender, "ship_to": decl.ship_to, "form": decl.form,
        "order_number": _order_number(decl.order_number), "date": decl.date.isoformat(),
        "category": decl.category, "currency": decl.currency,
        "origin": decl.sender.country or "-", "destination": decl.ship_to.country or "-",
        "index": decl.parcel_index, "count": decl.parcel_count,
        "total_value": decl.total_value.quantize(unit, rounding=ROUND_HALF_UP),
        "net_kg": f"{sum(x.weight_g for x in decl.lines) / 1000:.3f}",
        "gross_kg": f"{decl.gross_weight_g / 1000:.3f}",
        "rows": [{"description": x.description, "hs_code": x.hs_code,
                  "origin": x.origin_country, "quantity": x.quantity,
                  "weight": f"{x.weight_g / 1000:.3f}",
                  "value": x.value.quantize(unit, rounding=ROUND_HALF_UP)}
                 for x in decl.lines],
    }
    return _Document("customs_declaration", values, language, page_size, fonts).render()


def build_document(doc: PackingSlip | Invoice | CustomsDeclaration, *, page_size: str = "A4",
                   language: str = "en") -> bytes:
    """The PDF of a packing slip, an invoice or a customs declaration: the one entry point
    a worker process is handed (server/offload.py), the document and its options pickled
    across."""
    if isinstance(doc, PackingSlip):
        return build_packing_slip(doc, page_size=page_size, language=language)
    if isinstance(doc, Invoice):
        return build_invoice(doc, page_size=page_size, language=language)
    if isinstance(doc, CustomsDeclaration):
        return build_customs_declaration(doc, page_size=page_size, language=language)
    raise ValueError(f"not a document: {type(doc).__name__}")


def warm_up() -> None:
    """Find and parse the fonts now (a worker process, before its first document)."""
    fonts = find_fonts()
    _parsed_font(str(fonts.regular), fonts.regular_index, "")
    _parsed_font(str(fonts.bold), fonts.bold_index, "B")


# ---------------------------------------------------------------- printing


class DocumentQueue(CupsDriver):
    """A CUPS queue of a document printer. Jobs go in with ``lp`` (CUPS converts the PDF
    where the queue has a driver); the job checks are the label driver's. No ``~HS``:
    a document printer does not speak ZPL, so its state is the queue's."""

    def status(self) -> PrinterStatus:
        faults, reason = self._queue_faults()
        return PrinterStatus().with_faults(*faults, message=reason) if faults else PrinterStatus()

    def send(self, data: bytes) -> str | None:
        if shutil.which("lp") is None:
            raise PrinterOffline("CUPS client tools (lp) are not installed")
        try:
            done = subprocess.run(["lp", "-d", self.queue, "-"], input=data,
                                  capture_output=True, timeout=self.timeout,
                                  env={**os.environ, "LC_ALL": "C", "LANG": "C"})
        except subprocess.TimeoutExpired as err:
            raise PrinterOffline(f"CUPS did not take the job within {self.timeout:g} s") from err
        job = re.search(r"request id is (\S+)", done.stdout.decode("utf-8", "replace"))
        if done.returncode != 0 or job is None:
            faults, reason = self._queue_faults()
            detail = done.stderr.decode("utf-8", "replace").strip()
            raise PrinterFault(f"CUPS did not queue the document on {self.queue!r}: "
                               f"{', '.join(faults) or detail} {reason}".rstrip(),
                               faults or ["not_queued"])
        self._wait_done(job[1])
        return job[1]


def print_document(pdf: bytes, url: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> PrintResult:
    """Print a PDF on the CUPS queue of `url` (``cups://queue``): queue checked before, job
    followed until CUPS completed it, queue checked after; any fault raises PrinterFault or
    PrinterOffline, so nothing is reported printed that was not."""
    if not isinstance(pdf, (bytes, bytearray)) or not bytes(pdf).startswith(b"%PDF-"):
        raise ValueError("pdf must be the bytes of a PDF (starting with %PDF-)")
    printer = open_printer(url, timeout)
    if not isinstance(printer, CupsDriver):
        raise BadPrinterUrl(f"{url!r}: documents print through CUPS only (cups://queue)")
    return print_checked(DocumentQueue(printer.queue, timeout), bytes(pdf))

