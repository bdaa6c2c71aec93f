"""Packing slip and invoice PDFs (printers/documents.py): the text layer read back with
poppler's pdftotext (CJK included), the page size with pdfinfo, the order number's Code 128
decoded by zxing-cpp from the page rasterised by pdftoppm, exact totals, bad input.

poppler-utils and a CJK font (fonts-noto-cjk or fonts-wqy-zenhei) are needed: missing,
they skip locally and fail with CI=true.
"""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from printers import documents
from printers.documents import (
    FontMissing,
    Invoice,
    InvoiceLine,
    PackingSlip,
    SlipLine,
    Tax,
    build_invoice,
    build_packing_slip,
    code128_values,
    code128_widths,
    find_fonts,
    invoice_totals,
    print_document,
)
from printers.labels import Address
from printers.status import BadPrinterUrl
from tests.conftest import need

ORDER = 2**64 - 1                         # 18446744073709551615: a float would print ...616
SENDER = Address("Wavepack 仓库", ("1 Dock Road", "Unit 4"), "Leeds", "LS1 1AA", country="GB")
SHIP_TO = Address("王小明", ("上海市浦东新区世纪大道100号",), "上海", "200120", country="CN",
                  phone="+86 138 0000 0000")
DAY = dt.date(2026, 11, 23)


def slip(**changes) -> PackingSlip:
    values = dict(sender=SENDER, ship_to=SHIP_TO, order_number=ORDER, order_date=DAY,
                  lines=(SlipLine("TEA-GRN-100", "绿茶 Green tea 100 g", 3),
                         SlipLine("MUG-01", "Mug", 1)),
                  parcel_index=1, parcel_count=2, note="易碎 fragile")
    return PackingSlip(**{**values, **changes})


def invoice(**changes) -> Invoice:
    values = dict(seller=SENDER, buyer=SHIP_TO, invoice_number="INV-2026-0042",
                  invoice_date=DAY, order_number=ORDER, currency="EUR",
                  lines=(InvoiceLine("TEA-GRN-100", "绿茶 Green tea", Decimal("0.10"), 3),
                         InvoiceLine("MUG-01", "Mug", Decimal("12.35"), 2)),
                  taxes=(Tax("VAT", Decimal("20")),))
    return Invoice(**{**values, **changes})


@pytest.fixture(scope="module")
def fonts():
    try:
        return find_fonts()
    except FontMissing as err:
        need(False, f"a CJK font (Debian fonts-noto-cjk or fonts-wqy-zenhei): {err}")


@pytest.fixture(scope="module")
def poppler():
    need(all(shutil.which(t) for t in ("pdftotext", "pdfinfo", "pdftoppm")),
         "poppler-utils (pdftotext, pdfinfo, pdftoppm)")


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def pdf_info(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "info.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True,
                          check=True).stdout


def decoded_barcodes(pdf: bytes, tmp_path: Path) -> list[str]:
    import cv2
    import zxingcpp
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "300", "-png", "-f", "1", "-l", "1", str(path),
                    str(tmp_path / "page")], check=True)
    image = cv2.imread(str(next(tmp_path.glob("page*.png"))))
    return [b.text for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)]


# -- packing slip -------------------------------------------------------------------------

def test_packing_slip_text_layer_english(fonts, poppler, tmp_path):
    pdf = build_packing_slip(slip(), fonts=fonts)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    text = pdf_text(pdf, tmp_path)
    for expected in ("Packing slip", "Order: 18446744073709551615", "Date: 2026-11-23",
                     "Parcel: 1 of 2", "Wavepack 仓库", "1 Dock Road", "LS1 1AA Leeds",
                     "王小明", "上海市浦东新区世纪大道100号", "Tel +86 138 0000 0000",
                     "TEA-GRN-100", "绿茶 Green tea 100 g", "MUG-01", "Note: 易碎 fragile"):
        assert expected in text, expected
    # Latin text after a CJK line is not garbled (fpdf2's fallback fonts did that)
    assert "200120 上海" in text
    assert any(line.split()[-1:] == ["CN"] for line in text.splitlines())
    rows = {line.split()[0]: line.split()[-1] for line in text.splitlines()
            if line.split() and line.split()[0] in ("TEA-GRN-100", "MUG-01")}
    assert rows == {"TEA-GRN-100": "3", "MUG-01": "1"}


def test_packing_slip_in_chinese(fonts, poppler, tmp_path):
    text = pdf_text(build_packing_slip(slip(parcel_index=2), language="zh-CN", fonts=fonts),
                    tmp_path)
    for expected in ("装箱单", "订单号: 18446744073709551615", "包裹: 第 2 件，共 2 件",
                     "发货人", "收货人", "货号", "品名", "数量", "备注: 易碎 fragile"):
        assert expected in text, expected
    assert "Packing slip" not in text


@pytest.mark.parametrize("size, points, name", [("A4", "595.28 x 841.89", "A4"),
                                                ("Letter", "612 x 792", "letter")])
def test_page_size(fonts, poppler, tmp_path, size, points, name):
    info = pdf_info(build_packing_slip(slip(), page_size=size, fonts=fonts), tmp_path)
    page = next(line for line in info.splitlines() if line.startswith("Page size:"))
    assert page.split(":", 1)[1].split() == [*points.split(), "pts", f"({name})"]
    assert "Pages:           1" in info


def test_note_is_optional(fonts, poppler, tmp_path):
    text = pdf_text(build_packing_slip(slip(note=""), fonts=fonts), tmp_path)
    assert "Note" not in text and "MUG-01" in text


def test_many_lines_run_onto_more_pages(fonts, poppler, tmp_path):
    lines = tuple(SlipLine(f"SKU-{n:03d}", f"Item {n}", n) for n in range(1, 121))
    pdf = build_packing_slip(slip(lines=lines), fonts=fonts)
    assert int(pdf_info(pdf, tmp_path).split("Pages:")[1].split()[0]) >= 3
    text = pdf_text(pdf, tmp_path)
    assert all(f"SKU-{n:03d}" in text for n in range(1, 121))


@pytest.mark.parametrize("number", [ORDER, 1001, 123456789012345678, "WP-1001", "#A7"])
def test_order_number_barcode_decodes(fonts, poppler, tmp_path, number):
    pdf = build_packing_slip(slip(order_number=number), fonts=fonts)
    assert decoded_barcodes(pdf, tmp_path) == [str(number)]


# -- Code 128 -----------------------------------------------------------------------------

def test_code128_symbols():
    # subset C for digit pairs: start C (105), 12, 34, check, stop
    assert code128_values("1234") == [105, 12, 34, (105 + 12 + 2 * 34) % 103, 106]
    # odd digit count: pairs in C, last digit in B (switch code 100)
    assert code128_values("12345")[:4] == [105, 12, 34, 100]
    assert code128_values("AB")[:3] == [104, 33, 34]
    widths = code128_widths("18446744073709551615")
    assert sum(widths) == 11 * (1 + 10 + 1) + 13      # start, 10 pairs, check; stop is 13
    assert len(widths) % 2 == 1                       # starts and ends with a bar


@pytest.mark.parametrize("data", ["", "é", "\n", "x" * 65, 12])
def test_code128_refuses(data):
    with pytest.raises(ValueError):
        code128_values(data)


# -- invoice ------------------------------------------------------------------------------

def test_invoice_totals_exact():
    totals = invoice_totals(invoice())
    assert totals.subtotal == Decimal("25.00")            # 0.30 + 24.70, no float residue
    assert str(totals.subtotal) == "25.00"
    assert [(t.name, a) for t, a in totals.taxes] == [("VAT", Decimal("5.00"))]
    assert totals.total == Decimal("30.00")


def test_invoice_tax_rounds_half_up_once():
    inv = invoice(lines=(InvoiceLine("A-1", "A", Decimal("0.50"), 1),),
                  taxes=(Tax("VAT", Decimal("5")), Tax("Levy", Decimal("0.5"))))
    totals = invoice_totals(inv)
    assert [a for _, a in totals.taxes] == [Decimal("0.03"), Decimal("0.00")]  # 0.025, 0.0025
    assert totals.total == Decimal("0.53")


def test_invoice_without_taxes_and_zero_decimal_currency():
    inv = invoice(currency="JPY", taxes=(),
                  lines=(InvoiceLine("A-1", "A", Decimal("1980"), 3),))
    totals = invoice_totals(inv)
    assert (totals.subtotal, totals.taxes, totals.total) == (Decimal(5940), (), Decimal(5940))
    assert str(totals.total) == "5940"


def test_invoice_text_layer(fonts, poppler, tmp_path):
    text = pdf_text(build_invoice(invoice(), page_size="Letter", fonts=fonts), tmp_path)
    for expected in ("Invoice", "Invoice no.: INV-2026-0042", "Order: 18446744073709551615",
                     "Currency: EUR", "Seller", "Bill to", "王小明", "200120 上海",
                     "Subtotal: 25.00 EUR", "VAT 20%: 5.00 EUR", "Total: 30.00 EUR"):
        assert expected in text, expected
    row = next(line.split() for line in text.splitlines() if line.startswith("TEA-GRN-100"))
    assert row[-3:] == ["0.10", "3", "0.30"]
    row = next(line.split() for line in text.splitlines() if line.startswith("MUG-01"))
    assert row[-3:] == ["12.35", "2", "24.70"]


def test_invoice_in_chinese(fonts, poppler, tmp_path):
    text = pdf_text(build_invoice(invoice(), language="zh-CN", fonts=fonts), tmp_path)
    for expected in ("发票", "发票号码: INV-2026-0042", "销售方", "购买方", "单价", "金额",
                     "小计: 25.00 EUR", "合计: 30.00 EUR"):
        assert expected in text, expected


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("changes", [
    {"order_number": 1.0e19}, {"order_number": 2**64}, {"order_number": -1},
    {"order_number": True}, {"order_date": dt.datetime(2026, 11, 23, 9)},
    {"order_date": "2026-11-23"}, {"lines": ()}, {"lines": ("TEA",)},
    {"parcel_index": 3, "parcel_count": 2}, {"parcel_index": 0}, {"note": "x" * 501},
    {"ship_to": "王小明, 上海"}, {"sender": None},
])
def test_bad_packing_slip(changes):
    with pytest.raises(ValueError):
        slip(**changes)


@pytest.mark.parametrize("args", [
    ("TEA 1", "tea", 1), ("", "tea", 1), ("T", "", 1), ("T", "tea", 0), ("T", "tea", 1.0),
    ("T", "tea", True), ("T", "tea", 1_000_001),
])
def test_bad_slip_line(args):
    with pytest.raises(ValueError):
        SlipLine(*args)


@pytest.mark.parametrize("price", [0.1, "abc", Decimal("NaN"), Decimal("-1"), None, True])
def test_bad_unit_price(price):
    with pytest.raises(ValueError):
        InvoiceLine("T", "tea", price, 1)


@pytest.mark.parametrize("changes", [
    {"currency": "eur"}, {"currency": "EURO"},
    {"currency": "JPY"},                                   # 0.10 and 12.35 have decimals
    {"lines": (InvoiceLine("T", "t", Decimal("0.001"), 1),)},   # 3 decimals in EUR
    {"taxes": (("VAT", 20),)}, {"invoice_number": ""}, {"order_number": 0.5},
])
def test_bad_invoice(changes):
    with pytest.raises(ValueError):
        invoice(**changes)


@pytest.mark.parametrize("rate", [Decimal("-1"), Decimal("100.1"), 20.0])
def test_bad_tax(rate):
    with pytest.raises(ValueError):
        Tax("VAT", rate)


def test_bad_build_arguments(fonts):
    with pytest.raises(ValueError, match="page_size"):
        build_packing_slip(slip(), page_size="A5", fonts=fonts)
    with pytest.raises(ValueError, match="language"):
        build_packing_slip(slip(), language="fr", fonts=fonts)
    with pytest.raises(ValueError):
        build_packing_slip(invoice(), fonts=fonts)
    with pytest.raises(ValueError):
        build_invoice(slip(), fonts=fonts)


@pytest.mark.parametrize("pdf, url", [
    (b"^XA^XZ", "cups://docs1"), ("%PDF-1.4", "cups://docs1"),
    (b"%PDF-1.4 ...", "tcp://127.0.0.1:9100"), (b"%PDF-1.4 ...", "file:///tmp/x.pdf"),
    (b"%PDF-1.4 ...", "cups://"),
])
def test_print_document_refuses_before_printing(pdf, url):
    with pytest.raises(ValueError):        # BadPrinterUrl is a ValueError too
        print_document(pdf, url)


def test_print_document_bad_url_is_bad_printer_url():
    with pytest.raises(BadPrinterUrl):
        print_document(b"%PDF-1.4", "tcp://127.0.0.1:9100")


# -- the template is data -----------------------------------------------------------------

def test_template_labels_have_both_languages_and_blocks_a_renderer():
    data = documents.template()
    for key, texts in data["labels"].items():
        assert set(texts) == {"en", "zh-CN"}, key
    for section in ("packing_slip", "invoice"):
        assert set(data[section]["title"]) == {"en", "zh-CN"}
        for block in data[section]["blocks"]:
            assert hasattr(documents._Document, f"block_{block['kind']}"), block
            for column in block.get("columns", []):
                key = column["label"] if isinstance(column, dict) else column
                assert key in data["labels"], key


def test_missing_fonts_name_the_package(monkeypatch):
    data = dict(documents.template())
    data["fonts"] = [{"family": "Nope", "regular": "/nonexistent/a.ttf",
                      "bold": "/nonexistent/b.ttf"}]
    monkeypatch.setattr(documents, "template", lambda: data)
    with pytest.raises(FontMissing, match="fonts-noto-cjk"):
        find_fonts()


def test_fonts_parsed_once_per_process_give_the_same_pdf_bytes(fonts, monkeypatch):
    """Every document copies the face parsed once (documents.add_font) instead of fpdf2
    parsing the 65,535-glyph Noto CJK face anew: the PDF must not change by a byte."""
    import datetime as _dt

    import fpdf
    init = fpdf.FPDF.__init__

    def fixed_date(self, *args, **kwargs):      # a PDF carries its creation time
        init(self, *args, **kwargs)
        self.creation_date = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)

    monkeypatch.setattr(fpdf.FPDF, "__init__", fixed_date)
    made = {}
    for fast in (False, True, True):            # parsed anew; then the copy, twice
        monkeypatch.setattr(documents, "FAST_FONTS", fast)
        made.setdefault("slip", []).append(build_packing_slip(slip(), fonts=fonts))
        made.setdefault("invoice", []).append(build_invoice(invoice(), fonts=fonts,
                                                            language="zh-CN"))
    for kind, pdfs in made.items():
        assert pdfs[0] == pdfs[1] == pdfs[2], kind
    # the copies were used (a face that cannot be shared is parsed per document instead)
    assert documents._parsed_font(str(fonts.regular), fonts.regular_index, "") is not None
