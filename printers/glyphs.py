"""Text a label printer's font cannot draw, drawn here and sent as a ZPL graphic (``^GF``).

A Zebra's built-in font 0 has no Chinese, Japanese or Korean glyphs: under ``^CI28`` it
prints boxes or nothing for them. :mod:`printers.labels` therefore sends such a field as a
bitmap drawn with Pillow from Noto Sans CJK (Debian ``fonts-noto-cjk``, which ``make setup``
installs), so it prints on any ZPL printer, with no font on the printer.

A field is laid out in a box (x, y, width, height in dots), as a real label would: each
line wraps at the box's width (between CJK characters, at spaces between words, never
before a closing mark like ``，`` ``。`` ``)``), and when the wrapped lines do not fit
the box's height the whole block shrinks, one dot at a time, down to :data:`MIN_SIZE`.
Only what still does not fit there is cut, the last line ending in ``…`` (and a warning
logged): the address limits of :class:`printers.labels.Address` keep that for
pathological input.

The bitmap is sent in the ZPL "alternative data compression scheme" of ``^GF`` type A
(hex nibbles with repeat counts ``G``-``Y`` = 1-19 and ``g``-``z`` = 20-400, ``,`` for a
row ending in zeros, ``:`` for a row repeating the one above), which every ZPL II printer
reads. A 40-character Chinese address (two rows at 30 dots) is about 6 KB of it
(:func:`acs_encode`; Z64 would be smaller but needs newer firmware). Never imports server.
"""
from __future__ import annotations

import functools
import logging
import math
import os
import re
import shutil
import subprocess
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

__all__ = ["FontMissing", "Graphic", "Placed", "acs_decode", "acs_encode", "cjk_font_path",
           "draw_lines", "fit_block", "graphic_field", "wrap"]

log = logging.getLogger(__name__)

MIN_SIZE = 16            # dots: the smallest text a block shrinks to (2 mm at 203 dpi)
EM_TOP = 0.88            # the ideographic em box: 0.88 em above the baseline, 0.12 below
ROW_EXTENT = 1.12        # a drawn row's height in em: up to Latin descenders (g, y, p)
INK_THRESHOLD = 128      # anti-aliased coverage at or above which a dot is printed

# Debian/Ubuntu (fonts-noto-cjk), Fedora (google-noto-sans-cjk-ttc-fonts), Arch (noto-fonts-cjk)
CJK_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-sans-cjk-ttc/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)
# for what Noto CJK lacks (Hebrew, Arabic letters, Armenian, Georgian…)
FALLBACK_FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)
# the face of the .ttc by the address's country: the glyph shapes its readers expect
FACE_BY_COUNTRY = {"JP": "JP", "KR": "KR", "KP": "KR", "TW": "TC", "HK": "HK", "MO": "HK"}
DEFAULT_FACE = "SC"

# no line starts with these (closing marks) and none ends with the opening ones
_NO_LINE_START = frozenset("，。、；：？！）」』】〕〉》〗”’,.;:?!)]}%‰°·ー々ゝゞ〜～…‥")
_NO_LINE_END = frozenset("（「『【〔〈《〖“‘([{")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_LOCK = threading.RLock()    # one FreeType face is not safe to use from two threads


class FontMissing(RuntimeError):
    """No CJK font to draw label text with (install fonts-noto-cjk, or set
    WAVEPACK_LABEL_CJK_FONT to a .ttc/.ttf/.otf)."""


# ---------------------------------------------------------------- fonts


def cjk_font_path() -> str | None:
    """The Noto Sans CJK file: $WAVEPACK_LABEL_CJK_FONT, a known path, or fontconfig's answer."""
    return _cjk_font_path(os.environ.get("WAVEPACK_LABEL_CJK_FONT", ""))


@functools.lru_cache(maxsize=4)
def _cjk_font_path(override: str) -> str | None:
    if override:
        return override if os.path.isfile(override) else None
    for path in CJK_FONT_PATHS:
        if os.path.isfile(path):
            return path
    if shutil.which("fc-match"):
        try:
            out = subprocess.run(["fc-match", "-f", "%{file}", "Noto Sans CJK SC:style=Regular"],
                                 capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if "CJK" in os.path.basename(out) and os.path.isfile(out):
            return out
    return None


@functools.lru_cache(maxsize=16)
def _face_index(path: str, face: str) -> int:
    """The index of 'Noto Sans CJK <face>' inside a .ttc (0 for a single font)."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 0
    for index in range(32):
        try:
            name = ImageFont.truetype(path, 10, index=index).getname()[0] or ""
        except OSError:
            break
        if name.endswith(f" {face}") and "Mono" not in name:
            return index
    return 0


@functools.lru_cache(maxsize=16)
def _cmap(path: str, index: int) -> frozenset[int]:
    """The code points a font face has glyphs for (read once per process: ~0.4 s for Noto CJK)."""
    from fontTools.ttLib import TTFont
    with TTFont(path, fontNumber=index if path.lower().endswith((".ttc", ".otc")) else -1,
                lazy=True) as font:
        return frozenset(font.getBestCmap() or ())


@dataclass(frozen=True)
class _Face:
    path: str
    index: int

    @property
    def cmap(self) -> frozenset[int]:
        return _cmap(self.path, self.index)

    def at(self, size: int) -> ImageFont.FreeTypeFont:
        return _font(self.path, self.index, size)


@functools.lru_cache(maxsize=128)
def _font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


def _faces(country: str) -> tuple[_Face, ...]:
    """Noto Sans CJK in the face for `country`, then the fallback font if there is one."""
    path = cjk_font_path()
    if path is None:
        raise FontMissing("no CJK font to draw label text with: install fonts-noto-cjk "
                          "(make setup) or set WAVEPACK_LABEL_CJK_FONT to a .ttc/.ttf/.otf")
    return _faces_in(path, FACE_BY_COUNTRY.get(country, DEFAULT_FACE))


@functools.lru_cache(maxsize=32)
def _faces_in(path: str, face: str) -> tuple[_Face, ...]:
    fallback = [_Face(p, 0) for p in FALLBACK_FONT_PATHS if os.path.isfile(p)][:1]
    return (_Face(path, _face_index(path, face)), *fallback)


def _runs(text: str, faces: tuple[_Face, ...]) -> list[tuple[_Face, str]]:
    """`text` split into runs of one face each: the first face with the character's glyph
    (a character none has stays with the face before it and prints as its empty box)."""
    runs: list[tuple[_Face, str]] = []
    for ch in text:
        face = runs[-1][0] if runs else faces[0]
        if not ch.isspace() and ord(ch) not in face.cmap:
            face = next((f for f in faces if ord(ch) in f.cmap), face)
        if runs and runs[-1][0] == face:
            runs[-1] = (face, runs[-1][1] + ch)
        else:
            runs.append((face, ch))
    return runs


@functools.lru_cache(maxsize=8192)
def _width(text: str, faces: tuple[_Face, ...], size: int) -> float:
    return sum(face.at(size).getlength(run) for face, run in _runs(text, faces))


# ---------------------------------------------------------------- wrapping


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _pieces(text: str) -> list[str]:
    """`text` cut where a line may break: after a space, before and after a CJK character
    (not before a closing mark, not after an opening one). Spaces stay with the piece before."""
    pieces, start = [], 0
    for i in range(1, len(text)):
        before, ch = text[i - 1], text[i]
        if ch == " " or ch in _NO_LINE_START or before in _NO_LINE_END:
            continue
        if before == " " or _wide(before) or _wide(ch):
            pieces.append(text[start:i])
            start = i
    pieces.append(text[start:])
    return [p for p in pieces if p]


def wrap(text: str, width: int, size: int, country: str = "") -> list[str]:
    """`text` as the lines it prints as at `size` dots in a box `width` dots wide."""
    return _wrap(_CONTROL.sub("", text), _faces(country), size, width)


def _wrap(text: str, faces: tuple[_Face, ...], size: int, width: int) -> list[str]:
    with _LOCK:
        return _wrap_greedy(text, faces, size, width)


def _wrap_greedy(text: str, faces: tuple[_Face, ...], size: int, width: int) -> list[str]:
    # a row's width is the sum of its pieces' (each measured once per size, cached): no
    # kerning across pieces, which only makes a row measure a little wider than it draws
    lines: list[str] = []
    line, used = "", 0.0
    for piece in _pieces(text):
        if used + _width(piece.rstrip(), faces, size) <= width:
            line, used = line + piece, used + _width(piece, faces, size)
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = piece
        while _width(line.rstrip(), faces, size) > width:   # one word wider than the box
            cut = _longest_fit(line, faces, size, width)
            lines.append(line[:cut])
            line = line[cut:]
        used = _width(line, faces, size)
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


def _longest_fit(text: str, faces: tuple[_Face, ...], size: int, width: int) -> int:
    lo, hi = 1, len(text)          # at least one character a line, or nothing would progress
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _width(text[:mid], faces, size) <= width:
            lo = mid
        else:
            hi = mid - 1
    return lo


# ---------------------------------------------------------------- drawing and encoding


@dataclass(frozen=True)
class Graphic:
    """A 1-bit image: `rows` bytes per row, 1 = a printed dot, the leftmost dot in the MSB."""
    width: int             # dots, a multiple of 8
    height: int
    data: bytes

    @property
    def row_bytes(self) -> int:
        return self.width // 8

    def ink(self) -> int:
        """How many dots print (a test sees a field is not empty)."""
        return sum(bin(b).count("1") for b in self.data)


def draw_lines(lines: Sequence[str], *, size: int, pitch: int, width: int,
               country: str = "") -> Graphic:
    """The wrapped `lines` drawn as they print: a line every `pitch` dots, glyphs `size` dots
    (the ideographic em), anti-aliased then cut at 50 % coverage."""
    faces = _faces(country)
    with _LOCK:
        used = max((_width(line, faces, size) for line in lines), default=0)
        w = max(8, min(math.ceil(used), width) + 7) // 8 * 8
        h = max(1, (len(lines) - 1) * pitch + math.ceil(ROW_EXTENT * size))
        image = Image.new("L", (w, h), 0)
        pen = ImageDraw.Draw(image)
        for row, line in enumerate(lines):
            x, baseline = 0.0, row * pitch + round(EM_TOP * size)
            for face, run in _runs(line, faces):
                font = face.at(size)
                pen.text((x, baseline), run, font=font, fill=255, anchor="ls")
                x += font.getlength(run)
        ink = image.point([0] * INK_THRESHOLD + [255] * (256 - INK_THRESHOLD)).convert("1")
    return Graphic(w, h, ink.tobytes())


_REPEAT_ONES = "GHIJKLMNOPQRSTUVWXY"        # 1..19
_REPEAT_TWENTIES = "ghijklmnopqrstuvwxyz"   # 20, 40 .. 400
_RUN = re.compile(r"(.)\1{2,}")        # a run of two costs as much written as counted


@functools.lru_cache(maxsize=1024)
def _repeat(n: int) -> str:
    out = "z" * (n // 400)
    n %= 400
    if n >= 20:
        out += _REPEAT_TWENTIES[n // 20 - 1]
        n %= 20
    return out + (_REPEAT_ONES[n - 1] if n else "")


def acs_encode(data: bytes, row_bytes: int) -> str:
    """`data` in ZPL's compressed ASCII hex for ``^GF`` type A (the "alternative data
    compression scheme"): a run of one hex digit as its repeat count and the digit, a row
    ending in zeros cut with ``,``, a row like the one above as ``:``."""
    out, previous = [], None
    for start in range(0, len(data), row_bytes):
        row = data[start:start + row_bytes].hex().upper()
        if row == previous:
            out.append(":")
            continue
        previous = row
        body = row.rstrip("0")
        out.append(_RUN.sub(_run, body))
        if len(body) < len(row):
            out.append(",")
    return "".join(out)


def _run(match: re.Match) -> str:
    return _repeat(len(match.group(0))) + match.group(1)


def acs_decode(text: str, row_bytes: int) -> bytes:
    """The bytes of compressed ASCII hex (the inverse of :func:`acs_encode`, for tests)."""
    nibbles = row_bytes * 2
    rows: list[str] = []
    row, count = "", 0
    for ch in text:
        if ch in _REPEAT_ONES:
            count += _REPEAT_ONES.index(ch) + 1
        elif ch in _REPEAT_TWENTIES:
            count += (_REPEAT_TWENTIES.index(ch) + 1) * 20
        elif ch == ",":
            row, count = row.ljust(nibbles, "0"), 0
        elif ch == "!":
            row, count = row.ljust(nibbles, "F"), 0
        elif ch == ":":
            row, count = rows[-1], 0
        else:
            row, count = row + ch * max(count, 1), 0
        if len(row) >= nibbles:
            rows.append(row[:nibbles])
            row = ""
    return bytes.fromhex("".join(rows) + row)


def graphic_field(x: int, y: int, graphic: Graphic) -> str:
    """``^FOx,y^GFA,total,total,row_bytes,data^FS``: the graphic at (x, y), compressed."""
    total = len(graphic.data)
    return (f"^FO{x},{y}^GFA,{total},{total},{graphic.row_bytes},"
            f"{acs_encode(graphic.data, graphic.row_bytes)}^FS")


# ---------------------------------------------------------------- a block of lines in a box


@dataclass(frozen=True)
class Placed:
    """One line of a block: printer text (`text`) or the graphic of its wrapped rows."""
    dy: int                       # from the top of the box
    size: int                     # the font height it uses, in dots
    text: str | None = None
    graphic: Graphic | None = None
    rows: tuple[str, ...] = ()    # what the graphic shows, one entry a printed row


def fit_block(lines: Sequence[str], drawn: Sequence[bool], *, width: int, height: int,
              size: int, pitch: int, country: str = "") -> list[Placed]:
    """Lay out `lines` in a box: a line whose `drawn` is true becomes a graphic, wrapped at
    `width`; the others stay printer text on one row each. The largest size from `size` down
    to MIN_SIZE at which every row fits `height` is used (the pitch shrinks with it);
    where even MIN_SIZE does not fit, the rows past the box are cut and the last ends in …"""
    faces = _faces(country) if any(drawn) else ()
    clean = [_CONTROL.sub("", line) if d else line for line, d in zip(lines, drawn)]

    def layout(s: int) -> tuple[int, int, list[list[str]]]:
        p = max(1, round(pitch * s / size))
        return s, p, [_wrap(line, faces, s, width) if d else [line]
                      for line, d in zip(clean, drawn)]

    def fits(s: int, p: int, rows: list[list[str]]) -> bool:
        return _bottom(rows, drawn, s, p) <= height

    best = layout(size)
    if not fits(*best):
        # the largest size that fits, by bisection (a smaller size never needs more rows)
        lo, hi = min(size, MIN_SIZE), size - 1
        best = layout(lo)
        while lo <= hi:
            mid = (lo + hi) // 2
            candidate = layout(mid)
            if fits(*candidate):
                best, lo = candidate, mid + 1
            else:
                hi = mid - 1
    s, p, rows = best
    rows = _cut(rows, drawn, faces, s, p, width, height)
    return _place(rows, drawn, s, p, width, country)


def _extent(size: int) -> int:
    return math.ceil(ROW_EXTENT * size)


def _bottom(rows: list[list[str]], drawn: Sequence[bool], size: int, pitch: int) -> int:
    """How far below the box's top the last row reaches: a graphic row to its descenders,
    a printer text row to its cell height."""
    count = sum(len(r) for r in rows)
    last_drawn = bool(rows) and drawn[len(rows) - 1]
    return (count - 1) * pitch + (_extent(size) if last_drawn else size)


def _cut(rows: list[list[str]], drawn: Sequence[bool], faces: tuple[_Face, ...], size: int,
         pitch: int, width: int, height: int) -> list[list[str]]:
    fit = max(1, (height - _extent(size)) // pitch + 1)
    if sum(len(r) for r in rows) <= fit:
        return rows
    log.warning("label text does not fit its box even at %d dots: cut after %d rows", size, fit)
    kept, left = [], fit
    for line_rows, d in zip(rows, drawn):
        if left <= 0:
            break
        part = line_rows[:left]
        left -= len(part)
        if left == 0 and d and (len(part) < len(line_rows) or len(kept) + 1 < len(rows)):
            last = part[-1]
            with _LOCK:
                while last and _width(last + "…", faces, size) > width:
                    last = last[:-1]
            part = [*part[:-1], last + "…"]
        kept.append(part)
    return kept


def _place(rows: list[list[str]], drawn: Sequence[bool], size: int, pitch: int, width: int,
           country: str) -> list[Placed]:
    placed, row = [], 0
    for line_rows, d in zip(rows, drawn):
        if d:
            graphic = draw_lines(line_rows, size=size, pitch=pitch, width=width, country=country)
            placed.append(Placed(row * pitch, size, graphic=graphic, rows=tuple(line_rows)))
        else:
            placed.append(Placed(row * pitch, size, text=line_rows[0]))
        row += len(line_rows)
    return placed
