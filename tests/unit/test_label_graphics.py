"""CJK label text without a font on the printer: drawn with Noto Sans CJK, sent as ^GF graphics
(printers/glyphs.py via printers/labels.py text_block), wrapped and shrunk to fit its box.

The rendered checks draw the label with the preview renderer (zpl-renderer-js, as a printer
would) and compare the field's box with the same text drawn by Pillow on its own here."""
from __future__ import annotations

import dataclasses
import io
import logging
import re
import shutil

from hypothesis import given, settings
from hypothesis import strategies as st

from printers import glyphs
from printers.labels import (
    Address, LabelFont, ReturnsSlip, ShippingLabel, SsccLabel, build_returns_slip,
    build_shipping_label, build_sscc_label, builtin_font_draws,
)

from ..conftest import need

SSCC = "106141411234567897"
SENDER = Address("Wavepack Ltd", ("12 Dock Road",), "Leeds", "LS1 1AA", country="GB")
# 40 ideographs, no Latin: each is exactly one em wide, so the test knows where rows break
ADDRESS_40 = "广东省深圳市南山区科技园南区高新南七道数字技术园北座十二楼一二零八室一号仓库收货"
assert len(ADDRESS_40) == 40
RECIPIENT = Address("王小明", (ADDRESS_40,), "深圳市", "518057", country="CN")

# the recipient address block of shipping_4x6.zpl (x, y, width, height) and its type size
BOX = (30, 296, 752, 272)
SIZE, PITCH = 30, 34
# documented bounds (README, "Labels with Chinese text"), bytes of ZPL: a Latin label ~1.4 KB;
# a typical Chinese address ~9 KB; full Chinese addresses on both sides (company, four 40-char
# lines, region, phone) ~30 KB; every field of every label kind at its validation limit, all
# CJK, under 96 KB (a whole 4x6 label as one uncompressed bitmap is 247 KB)
MAX_LABEL_BYTES = 32 * 1024
MAX_WORST_BYTES = 96 * 1024

_GF = re.compile(r"\^FO(\d+),(\d+)\^GFA,(\d+),(\d+),(\d+),([^\^]*)\^FS")


def shipping(recipient: Address = RECIPIENT, **over) -> ShippingLabel:
    values = dict(sender=SENDER, recipient=recipient, order_number=42, carrier="DHL",
                  service="Express", tracking_number="1Z999AA10123456784", sscc=SSCC,
                  weight_g=1234, job_id="pj-1")
    values.update(over)
    return ShippingLabel(**values)


def graphics(zpl: str) -> list[tuple[int, int, int, int, bytes]]:
    """(x, y, width, height, bits) of every ^GF field, decoded from the compressed hex."""
    out = []
    for x, y, total, count, row_bytes, data in _GF.findall(zpl):
        assert total == count
        bits = glyphs.acs_decode(data, int(row_bytes))
        assert len(bits) == int(total)           # the byte counts the header promises
        out.append((int(x), int(y), int(row_bytes) * 8, int(total) // int(row_bytes), bits))
    return out


def _need_font() -> str:
    path = glyphs.cjk_font_path()
    need(path is not None, "Noto Sans CJK (Debian fonts-noto-cjk, make setup installs it)")
    return path


def _need_renderer() -> None:
    from printers import preview
    need(preview.renderer_dir() is not None and shutil.which("node") is not None,
         "zpl-renderer-js under node_modules (make setup installs it with npm)")


def _render(zpl: str):
    """The label as a numpy array of ink (True = a printed dot), 812 x 1218."""
    import numpy as np
    from PIL import Image

    from printers import preview
    png = preview.render_png(zpl, timeout=60)
    return np.asarray(Image.open(io.BytesIO(png)).convert("L")) < 128


def _pillow_rows(rows: list[str], size: int, pitch: int, width: int, height: int,
                 font_path: str, face: str = "Noto Sans CJK SC"):
    """`rows` drawn by Pillow directly: one row every `pitch` dots, the ideographic em box
    (0.88 em above the baseline) at the row's top; ink where coverage >= 50 %."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont
    index = 0
    if font_path.endswith(".ttc"):
        index = next(i for i in range(16)
                     if ImageFont.truetype(font_path, 10, index=i).getname()[0] == face)
    font = ImageFont.truetype(font_path, size, index=index)
    image = Image.new("L", (width, height), 0)
    pen = ImageDraw.Draw(image)
    for n, row in enumerate(rows):
        pen.text((0, n * pitch + round(0.88 * size)), row, font=font, fill=255, anchor="ls")
    return np.asarray(image) >= 128


def _iou(a, b) -> float:
    return float((a & b).sum()) / max(1, float((a | b).sum()))


# ---------------------------------------------------------------- which fields are drawn


def test_latin_text_stays_plain_fd_text():
    latin = Address("José Müller", ("Rua São João 12", "Apt. 4°"), "São Paulo", "01001-000",
                    country="BR", phone="+55 11 5555 0000", company="Ærø & Søn")
    zpl = build_shipping_label(shipping(latin))
    assert "^GF" not in zpl
    assert "^FO30,248^A0N,42,42^FH^FDJosé Müller^FS" in zpl
    assert "^FO30,296^A0N,30,30^FH^FDÆrø & Søn^FS" in zpl
    assert "^FO30,330^A0N,30,30^FH^FDRua São João 12^FS" in zpl
    assert "^FO30,364^A0N,30,30^FH^FDApt. 4°^FS" in zpl
    assert len(zpl.encode()) < 2048


def test_a_mixed_field_is_a_graphic_and_the_latin_fields_around_it_stay_text():
    _need_font()
    mixed = "Room 5, 世纪大道100号"
    recipient = Address("Li Wei", (mixed, "Building B"), "Shanghai", "200120", country="CN")
    zpl = build_shipping_label(shipping(recipient))
    assert mixed not in zpl and len(graphics(zpl)) == 1
    [(x, y, _, _, bits)] = graphics(zpl)
    assert (x, y) == (30, 296) and any(bits)
    for text in ("Li Wei", "Building B", "200120 Shanghai", "CN"):
        assert f"^FH^FD{text}^FS" in zpl, text


def test_builtin_font_repertoire_is_ascii_and_latin1():
    assert builtin_font_draws("Ærø & Søn, 12 rue de l'Église ÿ\x00\x1b")
    for text in ("王", "Łódź", "Москва", "€ 5", "ソウル", "서울"):
        assert not builtin_font_draws(text), text


def test_with_a_label_font_everything_stays_text_but_fixed_fields_still_draw_cjk():
    _need_font()
    font = LabelFont("E:NOTOSC.TTF")
    zpl = build_shipping_label(shipping(carrier="顺丰速运", service="标快"), font)
    assert f"^AJN,30,30^FH^FD{ADDRESS_40}^FS" in zpl and "^AJN,42,42^FH^FD王小明^FS" in zpl
    # carrier and service are printed in font 0 (not the customer's font): drawn
    assert [(x, y) for x, y, *_ in graphics(zpl)] == [(30, 584), (30, 630)]
    assert "顺丰速运" not in zpl


def test_every_label_kind_draws_its_cjk_fields():
    _need_font()
    cn = Address("王小明", ("世纪大道100号",), "上海市", "200120", country="CN")
    slip = build_returns_slip(ReturnsSlip("订单-1", "RMA-1", cn, cn, reason="尺码不合适", job_id=1))
    origins = [(x, y) for x, y, *_ in graphics(slip)]
    assert (30, 90) in origins and (30, 1066) in origins      # order number, reason
    assert len(origins) == 2 + 3 + 3                           # + customer 3 lines, return 3
    sscc = build_sscc_label(SsccLabel(SSCC, cn, description="一号托盘 共七托", job_id=1))
    assert [(x, y) for x, y, *_ in graphics(sscc)] == [(30, 52), (30, 80), (30, 108), (30, 292)]
    for zpl in (slip, sscc):
        assert not re.search(r"[\u3000-\u9fff]", zpl)          # no CJK left as text


def test_without_a_cjk_font_the_text_is_sent_as_before(monkeypatch, caplog):
    monkeypatch.setenv("WAVEPACK_LABEL_CJK_FONT", "/nonexistent/font.ttc")
    monkeypatch.setattr("printers.labels._missing_font_logged", False)
    with caplog.at_level(logging.WARNING, logger="printers.labels"):
        zpl = build_shipping_label(shipping())
    assert "^GF" not in zpl and f"^FH^FD{ADDRESS_40}^FS" in zpl
    assert "no CJK font" in caplog.text


# ---------------------------------------------------------------- the 40-character address


def test_a_40_character_chinese_address_wraps_inside_its_box():
    _need_font()
    zpl = build_shipping_label(shipping())
    drawn = {(x, y): (w, h, bits) for x, y, w, h, bits in graphics(zpl)}
    # 752 dots hold 25 ideographs of 30 dots: two rows, no shrinking
    w, h, bits = drawn[(30, 296)]
    assert w <= 752 and h == PITCH + 34 and 296 + h <= 296 + 272
    per_row = 752 // SIZE
    rows = [ADDRESS_40[:per_row], ADDRESS_40[per_row:]]
    assert glyphs.wrap(ADDRESS_40, 752, SIZE, "CN") == rows
    # the next line (postcode and city) starts below both rows
    assert (30, 296 + 2 * PITCH) in drawn


def test_the_rendered_address_is_the_text_pillow_draws_not_boxes():
    path = _need_font()
    _need_renderer()
    ink = _render(build_shipping_label(shipping()))
    x, y = BOX[0], BOX[1]
    per_row = 752 // SIZE
    rows = [ADDRESS_40[:per_row], ADDRESS_40[per_row:]]
    height = 2 * PITCH
    field = ink[y:y + height, x:x + 752]
    expected = _pillow_rows(rows, SIZE, PITCH, 752, height, path)
    assert expected.sum() > 5000                    # 40 ideographs of real strokes
    assert _iou(field, expected) > 0.9, _iou(field, expected)
    # boxes (tofu): the same rows in a font without CJK glyphs look nothing like it
    tofu = _pillow_rows(rows, SIZE, PITCH, 752, height,
                        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if tofu.any():
        assert _iou(field, tofu) < 0.3
    # another address of the same length does not match either: the comparison can fail
    other = _pillow_rows([r[::-1] for r in rows], SIZE, PITCH, 752, height, path)
    assert _iou(field, other) < 0.5


def test_a_long_address_overflows_nothing_around_its_box():
    """Outside the address box the label is dot for dot the label with a one-word address."""
    _need_font()
    _need_renderer()
    full = _full("王小明")
    short = dataclasses.replace(RECIPIENT, lines=("x",), city="y", postal_code="",
                                company="")
    for recipient in (RECIPIENT, full):
        zpl = build_shipping_label(shipping(recipient))
        assert len(zpl.encode()) < MAX_LABEL_BYTES, len(zpl.encode())
        ink, plain = _render(zpl), _render(build_shipping_label(shipping(short)))
        x, y, w, h = BOX
        outside = ink.copy()
        outside[y:y + h, x:x + w] = plain[y:y + h, x:x + w]
        assert (outside == plain).all(), "ink outside the recipient address box"
        assert ink[y:y + h, x:x + w].sum() > 5000


def test_a_full_chinese_address_shrinks_to_fit_and_keeps_every_character():
    _need_font()
    lines = (ADDRESS_40, ADDRESS_40[::-1], ADDRESS_40[5:] + ADDRESS_40[:5], ADDRESS_40[10:] + ADDRESS_40[:10])
    full = ["深圳市某某国际贸易有限公司华南分公司", *lines, "518057 深圳市", "广东省 CN", "Tel +86 755 8888 8888"]
    drawn = [not builtin_font_draws(line) for line in full]
    placed = glyphs.fit_block(full, drawn, width=752, height=272, size=30, pitch=34, country="CN")
    size = placed[0].size
    assert glyphs.MIN_SIZE <= size < 30
    for item, line in zip(placed, full):
        if item.graphic is not None:
            assert "".join(item.rows) == line.replace(" ", "") or " ".join(item.rows) == line
            assert item.graphic.width <= 752
        else:
            assert item.text == line
    last = placed[-1]
    assert last.dy + size <= 272                    # the phone, printer text, inside the box
    assert all(p.dy + (p.graphic.height if p.graphic else p.size) <= 272 for p in placed)


def test_what_does_not_fit_even_at_the_smallest_size_is_cut_with_an_ellipsis(caplog):
    _need_font()
    text = "中" * 500
    with caplog.at_level(logging.WARNING, logger="printers.glyphs"):
        [item] = glyphs.fit_block([text], [True], width=752, height=120, size=30, pitch=34)
    assert item.size == glyphs.MIN_SIZE and item.rows[-1].endswith("…")
    assert item.graphic.height <= 120 and "cut" in caplog.text


# ---------------------------------------------------------------- wrapping rules


def test_lines_break_between_ideographs_at_spaces_and_not_before_closing_marks():
    _need_font()
    per_row = 300 // 30
    assert glyphs.wrap("一二三四五六七八九，十一二", 300, 30)[0] == "一二三四五六七八九，"
    # 9 fit in 290 dots, but "，" never starts a row: "九，" move down together
    assert glyphs.wrap("一二三四五六七八九，十一二", 290, 30) == ["一二三四五六七八", "九，十一二"]
    latin = "Room 12 Building 7 Dock Road"
    rows = glyphs.wrap(latin, 200, 30)
    assert len(rows) > 1 and " ".join(rows) == latin          # broken at spaces, words whole
    assert all(len(r) <= per_row for r in glyphs.wrap("中" * 25, 300, 30))
    # a word wider than the box is broken where it must be, nothing lost
    word = "A" * 60
    assert "".join(glyphs.wrap(word, 300, 30)) == word
    assert glyphs.wrap("", 300, 30) == [""]


def test_the_face_follows_the_country():
    """直 is drawn differently in Japan and China: a JP address gets the JP face."""
    _need_font()
    cn = glyphs.draw_lines(["直骨"], size=60, pitch=68, width=200, country="CN")
    jp = glyphs.draw_lines(["直骨"], size=60, pitch=68, width=200, country="JP")
    assert cn.ink() > 100 and jp.ink() > 100 and cn.data != jp.data


def test_characters_noto_cjk_lacks_come_from_the_fallback_font():
    _need_font()
    faces = glyphs._faces("CN")
    need(len(faces) > 1, "DejaVu Sans (Debian fonts-dejavu-core)")
    runs = glyphs._runs("王 שלום", faces)
    assert [face.path for face, _ in runs] == [faces[0].path, faces[1].path]


# ---------------------------------------------------------------- the ^GF encoding


def test_acs_encoding_uses_repeat_counts_row_ends_and_repeated_rows():
    row = b"\xff" * 10 + b"\x00" * 10           # 20 F nibbles, then zeros
    assert glyphs.acs_encode(row + row, 20) == "gF,:"
    assert glyphs.acs_encode(b"\x00" * 4, 4) == ","
    assert glyphs.acs_encode(b"\x12\x34", 2) == "1234"
    assert glyphs._repeat(427) == "zgM"          # 400 + 20 + 7
    assert glyphs.acs_decode("zgMA,", 214) == bytes.fromhex("A" * 427 + "0")


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.lists(st.binary(min_size=12, max_size=12), min_size=1, max_size=6),
       st.data())
def test_acs_encoding_round_trips(row_bytes, seeds, data):
    rows = [data.draw(st.sampled_from([s[:row_bytes], b"\x00" * row_bytes, b"\xff" * row_bytes]))
            for s in seeds]
    raw = b"".join(r.ljust(row_bytes, b"\x00") for r in rows)
    encoded = glyphs.acs_encode(raw, row_bytes)
    assert re.fullmatch(r"[0-9A-Y,:!g-z]*", encoded) and "^" not in encoded
    assert glyphs.acs_decode(encoded, row_bytes) == raw


def test_graphic_field_header_counts_bytes_and_rows():
    _need_font()
    graphic = glyphs.draw_lines(["王小明"], size=30, pitch=34, width=752)
    field = glyphs.graphic_field(30, 40, graphic)
    [(x, y, w, h, bits)] = graphics(field)
    assert (x, y, w, h, bits) == (30, 40, graphic.width, graphic.height, graphic.data)
    assert w == 96 and h == 34     # 3 ideographs of 30 dots, padded to whole bytes


def _full(name: str) -> Address:
    lines = (ADDRESS_40, ADDRESS_40[::-1], ADDRESS_40[5:] + ADDRESS_40[:5],
             ADDRESS_40[10:] + ADDRESS_40[:10])
    return Address(name, lines, "深圳市", "518057", region="广东省", country="CN",
                   phone="+86 755 8888 8888", company="深圳市某某国际贸易有限公司华南分公司")


def _cjk(n: int, seed: int) -> str:
    return "".join(ADDRESS_40[(i * 7 + seed) % 40] for i in range(n))


def test_a_chinese_label_stays_small():
    """The bytes of the ZPL stay within the documented bounds (see MAX_LABEL_BYTES)."""
    _need_font()
    latin = Address("Li Wei", ("12 Century Avenue",), "Shanghai", "200120", country="CN")
    assert len(build_shipping_label(shipping(latin)).encode()) < 2048
    assert len(build_shipping_label(shipping()).encode()) < 12 * 1024
    both = build_shipping_label(shipping(_full("王小明"), sender=_full("某某仓储物流上海仓")))
    assert len(both.encode()) < MAX_LABEL_BYTES
    limit = Address(_cjk(120, 1), tuple(_cjk(120, n) for n in range(2, 6)), _cjk(120, 6),
                    _cjk(64, 7), _cjk(64, 8), "CN", _cjk(64, 9), _cjk(64, 10))
    worst = [
        build_shipping_label(shipping(limit, sender=limit, carrier=_cjk(40, 11),
                                      service=_cjk(40, 12), order_number=_cjk(64, 13))),
        build_returns_slip(ReturnsSlip(_cjk(64, 14), "RMA-1", limit, limit,
                                       reason=_cjk(200, 15), job_id=1)),
        build_sscc_label(SsccLabel(SSCC, limit, description=_cjk(200, 16), job_id=1)),
    ]
    for zpl in worst:
        assert len(zpl.encode()) < MAX_WORST_BYTES
        for x, y, w, h, _ in graphics(zpl):          # cut to its box, never off the label
            assert x + w <= 812 and y + h <= 1218


def test_threads_drawing_labels_at_once_get_the_same_label():
    """Print workers and API threads build labels at the same time: one FreeType face is
    not safe across threads (glyphs._LOCK), so each label must come out as built alone."""
    import threading
    _need_font()
    recipients = [RECIPIENT, _full("王小明"), dataclasses.replace(RECIPIENT, country="JP")]
    alone = [build_shipping_label(shipping(r)) for r in recipients]
    results: list[list[str]] = []

    def build() -> None:
        results.append([build_shipping_label(shipping(r)) for r in recipients * 3])

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r == alone * 3 for r in results)
