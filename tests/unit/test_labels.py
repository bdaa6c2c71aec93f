"""ZPL labels: SSCC check digits, escaping of customer text, UTF-8, exact order numbers, layout."""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import need

from printers.labels import (
    Address, LabelFont, ReturnsSlip, ShippingLabel, SsccLabel, build_returns_slip,
    build_shipping_label, build_sscc_label, font_download_command, make_sscc,
    sscc_check_digit, validate_sscc, zpl_text,
)

SSCC = "106141411234567897"   # GS1 General Specifications example: (00) 1 0614141 123456789 7

SENDER = Address("Wavepack Ltd", ("12 Dock Road",), "Leeds", "LS1 1AA", country="GB")
RECIPIENT = Address("王小明", ("浦东新区 世纪大道100号", "5楼"), "上海市", "200120",
                    country="CN", phone="+86 138 0000 0000", company="某某公司")


def shipping(**over) -> ShippingLabel:
    values = dict(sender=SENDER, recipient=RECIPIENT, order_number=5_000_000_000_123,
                  carrier="DHL", service="Express", tracking_number="1Z999AA10123456784",
                  sscc=SSCC, weight_g=1234, parcel_index=2, parcel_count=3, job_id="pj-77")
    values.update(over)
    return ShippingLabel(**values)


def field_data(zpl: str) -> list[str]:
    """The data of every ^FD…^FS field: what the printer prints, not what it executes."""
    return re.findall(r"\^FD(.*?)\^FS", zpl)


def commands(zpl: str) -> list[str]:
    """The two-letter commands (^XX / ~XX) outside field data."""
    outside = re.sub(r"\^FD.*?\^FS", "^FS", zpl)
    return re.findall(r"[\^~][A-Z@0-9][A-Z0-9@]?", outside)


# ---------------------------------------------------------------- SSCC


@pytest.mark.parametrize("body,check", [
    ("10614141123456789", 7),    # GS1 General Specifications, SSCC example
    ("00614141123456789", 0),    # extension 0: the sum drops by 3 (weight 3), 7 + 3 → 0
])
def test_sscc_check_digit_known(body, check):
    assert sscc_check_digit(body) == check


def test_sscc_check_digit_agrees_with_biip():
    from biip.sscc import Sscc
    with pytest.raises(Exception, match="(?i)check digit"):
        Sscc.parse(SSCC[:17] + "8")               # biip does check it
    for serial in (0, 1, 7, 123456789, 999999999):
        sscc = make_sscc(3, "0614141", serial)
        assert Sscc.parse(sscc).value == sscc      # biip raises on a wrong check digit


def test_make_sscc_builds_the_gs1_example():
    assert make_sscc(1, "0614141", 123456789) == SSCC
    # 10-digit prefix, serial padded to 6: weights 3,1,…: 4+1+6+3+12+15 = 41 → check 9
    assert make_sscc(0, "4000001234", 5) == "040000012340000059"
    assert len(make_sscc(9, "12345678", 0)) == 18


@pytest.mark.parametrize("args,message", [
    ((10, "0614141", 1), "extension digit"),
    ((-1, "0614141", 1), "extension digit"),
    ((1, "061414", 1), "company prefix"),
    ((1, "06141411234", 1), "company prefix"),
    ((1, "06141A1", 1), "company prefix"),
    ((1, 614141, 1), "company prefix"),
    ((1, "0614141", 10**9), "serial reference"),
    ((1, "0614141", -1), "serial reference"),
    ((1, "0614141", "12"), "serial reference"),
])
def test_make_sscc_rejects_bad_parts(args, message):
    with pytest.raises(ValueError, match=message):
        make_sscc(*args)


@pytest.mark.parametrize("bad", ["1061414112345678", "106141411234567A", 10614141123456789, ""])
def test_sscc_check_digit_wants_17_digits(bad):
    with pytest.raises(ValueError, match="17 digits"):
        sscc_check_digit(bad)


def test_validate_sscc_refuses_a_wrong_check_digit():
    assert validate_sscc(SSCC) == SSCC
    with pytest.raises(ValueError, match="expected 7"):
        validate_sscc(SSCC[:17] + "8")
    with pytest.raises(ValueError, match="check digit"):
        shipping(sscc=SSCC[:17] + "0")


# ---------------------------------------------------------------- escaping


def test_zpl_text_escapes_carets_tildes_underscores_and_controls():
    assert zpl_text("a^XZb") == "a_5EXZb"
    assert zpl_text("~JA") == "_7EJA"
    assert zpl_text("_5E") == "_5F5E"      # a literal "_5E" prints as typed, not as ^
    assert zpl_text("a\nb\rc\td\x00\x7f") == "a_0Ab_0Dc_09d_00_7F"
    assert zpl_text("\x85") == "_C2_85"    # C1 control: its UTF-8 bytes
    assert zpl_text("王 Ünïcødé \\ & <>") == "王 Ünïcødé \\ & <>"


HOSTILE = "^XZ~JA^FO0,0^GB812,1218,800^FS_x\r\n~HS\x1b\x00"


def _customer_fields() -> list[tuple[str, object]]:
    """(label kind, a label with HOSTILE in one customer field) for every customer field."""
    cases: list[tuple[str, object]] = []
    for attr in ("name", "city", "postal_code", "region", "phone", "company"):
        bad = dataclasses.replace(RECIPIENT, **{attr: HOSTILE})
        cases.append((f"recipient.{attr}", shipping(recipient=bad)))
        if attr == "phone":      # only the recipient's phone is printed
            continue
        cases.append((f"sender.{attr}", shipping(sender=dataclasses.replace(SENDER, **{attr: HOSTILE}))))
        cases.append((f"returns customer.{attr}", ReturnsSlip(1, "RMA-1", bad, SENDER, job_id=1)))
        cases.append((f"sscc shipper.{attr}",
                      SsccLabel(SSCC, dataclasses.replace(SENDER, **{attr: HOSTILE}), job_id=1)))
    cases.append(("recipient.lines", shipping(recipient=dataclasses.replace(
        RECIPIENT, lines=("ok", HOSTILE)))))
    cases.append(("order_number", shipping(order_number=HOSTILE)))
    cases.append(("carrier", shipping(carrier=HOSTILE[:40])))
    cases.append(("service", shipping(service=HOSTILE[:40])))
    cases.append(("returns order_number", ReturnsSlip(HOSTILE, "RMA-1", RECIPIENT, SENDER, job_id=1)))
    cases.append(("returns reason", ReturnsSlip(1, "RMA-1", RECIPIENT, SENDER, reason=HOSTILE, job_id=1)))
    cases.append(("returns return_to", ReturnsSlip(1, "RMA-1", RECIPIENT,
                                                   dataclasses.replace(SENDER, name=HOSTILE),
                                                   job_id=1)))
    cases.append(("sscc description", SsccLabel(SSCC, SENDER, description=HOSTILE, job_id=1)))
    return cases


DRAWN = {"recipient.postal_code", "returns customer.postal_code"}


def _build(label: object) -> str:
    if isinstance(label, ShippingLabel):
        return build_shipping_label(label)
    if isinstance(label, ReturnsSlip):
        return build_returns_slip(label)
    return build_sscc_label(label)


@pytest.mark.parametrize("where,label", _customer_fields(), ids=lambda v: v if isinstance(v, str) else "")
def test_caret_tilde_and_controls_in_customer_fields_never_become_commands(where, label):
    zpl = _build(label)
    clean = _build(_without_hostile(label))
    # the same commands as a label with harmless text: nothing injected, nothing cut short
    assert commands(zpl) == commands(clean)
    assert zpl.count("^") == clean.count("^") and zpl.count("~") == clean.count("~") == 0
    assert not re.search(r"[\x00-\x1f\x7f]", zpl)
    escaped = zpl_text(HOSTILE)
    if where in DRAWN:
        # the postcode shares its line with the CJK city: the line is a ^GF graphic, so the
        # hostile text reaches the printer as dots, not even as field data
        assert "_5EXZ" not in zpl and "^GFA," in zpl, where
    else:
        assert any(escaped in data or escaped[:40] in data for data in field_data(zpl)), where
    # every field carrying it is a ^FH field, so the printer decodes _5E back to a printed ^
    for m in re.finditer(r"(\^F[A-Z][^\^]*)?\^FD([^\^]*_5E[^\^]*)\^FS", zpl):
        assert zpl[:m.start(2)].endswith("^FH^FD"), m.group(0)


def _without_hostile(label: object) -> object:
    def fix(v):
        if isinstance(v, str):
            return v.replace(HOSTILE, "plain text").replace(HOSTILE[:40], "plain text")
        if isinstance(v, tuple):
            return tuple(fix(x) for x in v)
        if dataclasses.is_dataclass(v):
            return dataclasses.replace(v, **{f.name: fix(getattr(v, f.name))
                                             for f in dataclasses.fields(v)})
        return v
    return fix(label)


def test_backslash_in_customer_text_stays_outside_field_blocks():
    zpl = build_shipping_label(shipping(recipient=dataclasses.replace(
        RECIPIENT, lines=("back\\&slash",))))
    field = next(f for f in zpl.split("^FS") if "back\\&slash" in f)
    start = field.rindex("^FO")
    assert field[start:].endswith("^FH^FDback\\&slash") and "^FB" not in field[start:]


# ---------------------------------------------------------------- content


def test_cjk_text_is_kept_as_utf8_under_ci28_with_a_label_font():
    zpl = build_shipping_label(shipping(), LabelFont("E:NOTOSC.TTF"))
    assert zpl.startswith("^XA^CI28")
    assert "^GF" not in zpl              # the printer's CJK font draws everything
    for text in ("王小明", "浦东新区 世纪大道100号", "5楼", "200120 上海市", "某某公司"):
        assert any(text in d for d in field_data(zpl)), text
    raw = zpl.encode("utf-8")
    assert "王小明".encode("utf-8") in raw and b"_E7" not in raw   # not hex-escaped


@pytest.mark.parametrize("number", [2**64 - 1, 2**63 + 1, 9007199254740993, 0])
def test_64_bit_order_number_is_printed_exactly(number):
    zpl = build_shipping_label(shipping(order_number=number))
    assert f"^FDOrder {number}^FS" in zpl
    assert f"^FDOrder {number}^FS" in build_returns_slip(ReturnsSlip(number, "R1", RECIPIENT, SENDER, job_id=1))


@pytest.mark.parametrize("bad", [2**64, -1, 1.0, 9007199254740993.0, True])
def test_order_number_out_of_range_or_float_is_refused(bad):
    with pytest.raises(ValueError, match="order_number"):
        shipping(order_number=bad)


def test_shipping_label_structure():
    zpl = build_shipping_label(shipping())
    assert zpl.startswith("^XA") and zpl.endswith("^XZ") and zpl.count("^XA") == 1
    assert "^PW812" in zpl and "^LL1218" in zpl and "\n" not in zpl
    # tracking: Code 128, automatic subsets, interpretation line
    assert "^BCN,140,Y,N,N,A^FD1Z999AA10123456784^FS" in zpl
    # SSCC: GS1-128 = Code 128 starting in subset C with FNC1 (>8), AI 00, then the 18 digits
    assert f"^BCN,180,N,N,N,N^FD>;>800{SSCC}^FS" in zpl
    assert f"^FD(00) {SSCC}^FS" in zpl
    # the SSCC is the lowest barcode
    barcodes = [int(m.group(1)) for m in re.finditer(r"\^FO\d+,(\d+)\^BY\d[^\^]*\^BC", zpl)]
    assert len(barcodes) == 2 and barcodes[-1] == max(barcodes)
    assert zpl.index(">;>800") > zpl.index("1Z999AA10123456784")
    for text in ("DHL", "Express", "2 / 3", "1.234 kg", "job pj-77", "Tel +86 138 0000 0000",
                 "Wavepack Ltd", "LS1 1AA Leeds"):
        assert text in field_data(zpl), text
    # every field origin lies on the 812 x 1218 label
    for x, y in re.findall(r"\^FO(\d+),(\d+)", zpl):
        assert 0 <= int(x) < 812 and 0 <= int(y) < 1218


def test_long_tracking_numbers_get_narrower_bars():
    zpl = build_shipping_label(shipping(tracking_number="A" * 40))
    assert "^BY1,3.0,140^BCN" in zpl
    assert "^BY3,3.0,140^BCN" in build_shipping_label(shipping(tracking_number="1Z999AA101"))


def test_sscc_label_and_returns_slip_structure():
    zpl = build_sscc_label(SsccLabel(SSCC, SENDER, description="Pallet 3 of 7", item_count=48,
                                     job_id=12))
    assert zpl.startswith("^XA^CI28^PW812^LL1218") and zpl.endswith("^XZ")
    assert f"^FD>;>800{SSCC}^FS" in zpl and "^BCN,320" in zpl
    assert {"48 items", "Pallet 3 of 7", "job 12", f"(00) {SSCC}"} <= set(field_data(zpl))
    slip = build_returns_slip(ReturnsSlip(77, "RMA-2026-0001", RECIPIENT, SENDER, reason="too big",
                                           job_id="x"))
    assert slip.startswith("^XA^CI28^PW812^LL1218") and slip.endswith("^XZ")
    assert "^BCN,160,Y,N,N,A^FDRMA-2026-0001^FS" in slip
    assert {"Reason: too big", "Wavepack Ltd"} <= set(field_data(slip))
    # name, company, two street lines and the city line are CJK: graphics
    assert "王小明" not in slip and slip.count("^GFA,") == 5


def test_cjk_font_is_mapped_and_used_for_customer_text_only():
    font = LabelFont("E:NOTOSC.TTF", letter="J")
    zpl = build_shipping_label(shipping(), font)
    assert zpl.startswith("^XA^CI28^PW812^LL1218^LH0,0^CWJ,E:NOTOSC.TTF")
    assert "^AJN,42,42^FH^FD王小明^FS" in zpl
    assert "^A0N,40,40^FH^FDDHL^FS" in zpl                # fixed/carrier text stays in font 0
    assert "^CW" not in build_shipping_label(shipping())
    assert "^CWJ,E:NOTOSC.TTF" in build_sscc_label(SsccLabel(SSCC, SENDER, job_id=1), font)
    assert "^CWJ,E:NOTOSC.TTF" in build_returns_slip(ReturnsSlip(1, "R", RECIPIENT, SENDER, job_id=1), font)


@pytest.mark.parametrize("path,letter", [("E:NOTO^XZ.TTF", "J"), ("E:TOOLONGNAME.TTF", "J"),
                                         ("Z:NOTO.TTF", "J"), ("E:NOTO.TTF", "^"),
                                         ("E:NOTO.TTF", "JJ")])
def test_label_font_validation(path, letter):
    with pytest.raises(ValueError, match="font"):
        LabelFont(path, letter)


def test_font_download_command():
    data = font_download_command("E:NOTOSC.TTF", b"\x00\x01ttf")
    assert data == b"~DYE:NOTOSC,B,T,5,,\x00\x01ttf"
    with pytest.raises(ValueError):
        font_download_command("E:NOTOSC.TTF", b"")


@pytest.mark.parametrize("over,message", [
    ({"tracking_number": "1Z 99"}, "tracking_number"),
    ({"tracking_number": ">;1234"}, "tracking_number"),
    ({"weight_g": 0}, "weight_g"),
    ({"weight_g": 1.5}, "weight_g"),
    ({"parcel_index": 4, "parcel_count": 3}, "parcel"),
    ({"parcel_index": 0}, "parcel"),
    ({"job_id": "a^b"}, "job_id"),
    ({"job_id": ""}, "job_id"),
    ({"carrier": ""}, "carrier"),
    ({"recipient": "somewhere"}, "recipient"),
])
def test_shipping_label_validation(over, message):
    with pytest.raises(ValueError, match=message):
        shipping(**over)


@pytest.mark.parametrize("over,message", [
    ({"name": " "}, "name"), ({"lines": ()}, "lines"), ({"lines": ("a",) * 5}, "lines"),
    ({"city": ""}, "city"), ({"country": "China"}, "country"), ({"phone": 12}, "phone"),
    ({"name": "x" * 121}, "longer than"),
])
def test_address_validation(over, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(SENDER, **over)


def test_printers_never_imports_server():
    code = ("import sys, printers.labels as l; l.build_sscc_label(l.SsccLabel(" + repr(SSCC) +
            ", l.Address('a', ('b',), 'c'), job_id=1)); "
            "print(sorted(m for m in sys.modules if m == 'server' or m.startswith('server.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_templates_are_package_data():
    names = {p.name for p in (Path(__file__).parents[2] / "printers" / "templates").iterdir()}
    assert {"shipping_4x6.zpl", "sscc.zpl", "returns_slip.zpl"} <= names
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert 'printers = ["templates/*"]' in pyproject


def test_address_lines_list_becomes_tuple():
    assert Address("A", ["l1", "l2"], "C").lines == ("l1", "l2")


# ---------------------------------------------------------------- rendered and decoded back


def _render_and_decode(zpl: str) -> tuple[tuple[int, int], set[tuple[str, str]]]:
    """Render with zpl-renderer-js (printers.preview's Node worker), decode with zxing-cpp:
    image size, {(text, symbology)}."""
    from printers import preview
    need(preview.renderer_dir() is not None and shutil.which("node") is not None,
         "zpl-renderer-js under node_modules (make setup installs it with npm)")
    import cv2
    import numpy as np
    import zxingcpp
    png = np.frombuffer(preview.render_png(zpl, timeout=60), np.uint8)
    image = cv2.imdecode(png, cv2.IMREAD_GRAYSCALE)
    found = {(r.text, r.symbology_identifier) for r in zxingcpp.read_barcodes(image)}
    return image.shape, found


def test_rendered_label_decodes_back_to_tracking_and_gs1_sscc():
    zpl = build_shipping_label(shipping(recipient=dataclasses.replace(RECIPIENT, name=HOSTILE)))
    shape, found = _render_and_decode(zpl)
    assert abs(shape[0] - 1218) <= 4 and abs(shape[1] - 812) <= 4
    assert ("1Z999AA10123456784", "]C0") in found
    assert (f"(00){SSCC}", "]C1") in found      # ]C1 = GS1-128: FNC1 in first position
    # both barcodes follow the hostile name (^XZ~JA…): it did not end or cancel the label


def test_rendered_sscc_label_and_returns_slip_decode_back():
    _, found = _render_and_decode(build_sscc_label(SsccLabel(SSCC, SENDER, job_id=1)))
    assert found == {(f"(00){SSCC}", "]C1")}
    slip = ReturnsSlip(1, "RMA-2026-0001", RECIPIENT, SENDER, reason=HOSTILE, job_id=1)
    _, found = _render_and_decode(build_returns_slip(slip))
    assert found == {("RMA-2026-0001", "]C0")}
