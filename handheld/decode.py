"""Barcode decoding of camera photos: two decoders, upscaled passes, an agreement rule.

The policy is "no result is better than a wrong one" (a wrong GTIN ships the wrong
product). The method, and how it was tuned on one half of the photos and measured on the
other, is in docs/decoding.md. In short:

* Passes, cheapest first, stopping at the first accepted result: the plain grayscale
  image; for small photos (thin bars fall below the decoders' minimum module width) the
  image upscaled 2x (Lanczos); the image inverted (zxing-cpp's try_invert does not reach
  1-D codes); then five contrast passes (CLAHE, unsharp mask, 2x + unsharp mask for small
  photos, Otsu and adaptive thresholds). The plain,
  upscaled and inverted images are "geometric": they add no edges. The contrast passes
  do make up plausible wrong 1-D reads.
* zxing-cpp is the decoder of record (try_rotate, try_invert, try_downscale on). Matrix
  codes (QR, Data Matrix: Reed-Solomon) are accepted from any pass. Code 128 / Code 39 /
  ITF and EAN-13 / UPC-A reads are accepted from a geometric pass; from contrast passes
  only with zbar's agreement, or when zxing reads them alike on two contrast passes.
* UPC-E and EAN-8 (6 and 8 data digits, a weak check) are accepted only when zbar reads
  the same code in the same family on any pass: two different decoders agreeing. Two
  zxing passes do not count for them: their wrong UPC-E reads repeat across passes.
* When a photo reads as two different retail codes (any decoder, any pass), only a code
  both decoders read is kept, and only if no other retail code is read by both. The same
  for two Code 128 / Code 39 / ITF texts of one length (a misread keeps the length; a
  second label seldom has it): each needs both decoders.
* zbar alone never decides a 1-D code (it drops FNC1 and mangles Code 128 FNC4 text); a
  zbar QR read is accepted. Past the plain image zbar runs only when a zxing read is
  waiting for its agreement (a photo of nothing costs a third less), and not at all when
  zxing read only matrix codes on the plain image.

The handheld never imports the server, so the few GTIN rules needed here are local.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar
from pyzbar.pyzbar import ZBarSymbol

# zxing-cpp format names → the names the rest of wavepack (and the test manifest) uses.
_ZXING_FORMATS = {
    "EAN-13": "EAN13", "EAN-8": "EAN8", "UPC-A": "UPCA", "UPC-E": "UPCE",
    "Code 128": "CODE128", "Code 39": "CODE39", "Code 39 Extended": "CODE39",
    "Code 39 Standard": "CODE39", "ITF": "ITF", "ITF-14": "ITF",
    "QR Code": "QRCODE", "Data Matrix": "DATAMATRIX",
}
_PYZBAR_FORMATS = {
    "EAN13": "EAN13", "EAN8": "EAN8", "UPCA": "UPCA", "UPCE": "UPCE",
    "CODE128": "CODE128", "CODE39": "CODE39", "I25": "ITF", "QRCODE": "QRCODE",
}
RETAIL = frozenset({"EAN13", "EAN8", "UPCA", "UPCE"})
SHORT_RETAIL = frozenset({"EAN8", "UPCE"})     # accepted only when both decoders agree
MATRIX = frozenset({"QRCODE", "DATAMATRIX"})
_ZXING_WANTED = [zxingcpp.BarcodeFormat.EAN13, zxingcpp.BarcodeFormat.EAN8,
                 zxingcpp.BarcodeFormat.UPCA, zxingcpp.BarcodeFormat.UPCE,
                 zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.Code39,
                 zxingcpp.BarcodeFormat.ITF, zxingcpp.BarcodeFormat.QRCode,
                 zxingcpp.BarcodeFormat.DataMatrix]
# Named symbologies only: left to its defaults zbar folds UPC-A and UPC-E into EAN-13.
_PYZBAR_WANTED = [ZBarSymbol.EAN13, ZBarSymbol.EAN8, ZBarSymbol.UPCA, ZBarSymbol.UPCE,
                  ZBarSymbol.CODE128, ZBarSymbol.CODE39, ZBarSymbol.I25, ZBarSymbol.QRCODE]
# (factor, interpolation, only when the photo's long side is below): 2x up to 1,600 px;
# beyond that the bars are wide enough and the cost (4x) buys nothing. A 3x pass read
# nothing more on the tuning half, plain or transformed (docs/decoding.md).
_UPSCALES = ((2, cv2.INTER_LANCZOS4, 800),)


@dataclass(frozen=True)
class Result:
    """One decoded symbol: manifest format name, exact text, GTIN-14 when it carries one."""
    format: str
    text: str
    gtin: str | None = None


@dataclass(frozen=True)
class _Read:
    """One raw read from one decoder on one pass, reduced to a comparable key."""
    decoder: str          # "zxing" | "pyzbar"
    format: str
    text: str
    key: str              # what two decoders must agree on (GTIN-13 digits for retail)
    source: str = "plain"   # the pass: "plain", "2x", "inverted" or a contrast pass

    @property
    def geometric(self) -> bool:
        """From the plain image or an upscale, not from a contrast pass."""
        return self.source in _GEOMETRIC


# ---- GTIN helpers (pure; the server has its own in server.domain.gtin) -----------------

def _check_digit(body: str) -> int:
    """GS1 mod-10 check digit; weights 3,1,3… from the right of the body."""
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _valid_gtin(code: str) -> bool:
    """8/12/13/14 ASCII digits with a correct check digit."""
    return (code.isascii() and code.isdigit() and len(code) in (8, 12, 13, 14)
            and int(code[-1]) == _check_digit(code[:-1]))


def _expand_upce(upce: str) -> str | None:
    """8-digit UPC-E → 12-digit UPC-A, None when it is not a valid UPC-E."""
    if len(upce) != 8 or not upce.isdigit() or upce[0] not in "01":
        return None
    s, d, c = upce[0], upce[1:7], upce[7]
    if d[5] in "012":
        mid = d[0:2] + d[5] + "0000" + d[2:5]
    elif d[5] == "3":
        mid = d[0:3] + "00000" + d[3:5]
    elif d[5] == "4":
        mid = d[0:4] + "00000" + d[4]
    else:
        mid = d[0:5] + "0000" + d[5]
    upca = s + mid + c
    return upca if _valid_gtin(upca) else None


def _compress_upca(upca: str) -> str | None:
    """12-digit UPC-A → its 8-digit UPC-E form (the printed code), None if not suppressible."""
    s, m, p, c = upca[0], upca[1:6], upca[6:11], upca[11]
    if m[2] in "012" and m[3:5] == "00" and p[0:2] == "00":
        six = m[0:2] + p[2:5] + m[2]
    elif m[3:5] == "00" and p[0:3] == "000":
        six = m[0:3] + p[3:5] + "3"
    elif m[4] == "0" and p[0:4] == "0000":
        six = m[0:4] + p[4] + "4"
    elif p[0:4] == "0000" and p[4] in "56789":
        six = m + p[4]
    else:
        return None
    upce = s + six + c
    return upce if _expand_upce(upce) == upca else None  # round trip: never guess


def _retail_key(fmt: str, text: str) -> str | None:
    """An EAN/UPC read as zero-padded 13 digits (the GTIN both decoders can agree on),
    None when the check digit is wrong. UPC-E may come as 8 digits or expanded."""
    if fmt == "UPCE" and len(text) == 8:
        expanded = _expand_upce(text)
        return expanded.zfill(13) if expanded else None
    return text.zfill(13) if len(text) <= 13 and _valid_gtin(text) else None


def _retail_result(fmt: str, key: str) -> Result | None:
    """The printed form of a retail code: EAN-13 with a leading 0 is a UPC-A (12 digits),
    UPC-E is given as its 8 printed digits, EAN-8 as 8 digits."""
    gtin = key.zfill(14)
    if fmt == "UPCE":
        upce = _compress_upca(key[1:]) if key[0] == "0" else None
        return Result("UPCE", upce, gtin) if upce else None
    if fmt == "EAN8":
        return Result("EAN8", key[5:], gtin)
    if key[0] == "0":
        return Result("UPCA", key[1:], gtin)
    return Result("EAN13", key, gtin)


def _gs1_gtin(text: str) -> str | None:
    """GTIN-14 of a GS1 element string that starts with AI 01, else None."""
    body = text[2:16]
    return body if text.startswith("01") and len(body) == 14 and _valid_gtin(body) else None


# ---- decoders ---------------------------------------------------------------------------

def _zxing_reads(gray: np.ndarray, source: str = "plain") -> list[_Read]:
    """zxing-cpp in Plain text mode, so GS1 and ISO 15434 separators (GS, RS, EOT) survive.
    try_rotate, try_invert and try_downscale stay on (their defaults); the LocalAverage
    binariser (the default) read as much as GlobalHistogram on the tuning half, and
    FixedThreshold read less and made up twice as many wrong codes (docs/decoding.md)."""
    out = []
    for bc in zxingcpp.read_barcodes(gray, formats=_ZXING_WANTED,
                                     text_mode=zxingcpp.TextMode.Plain):
        fmt = _ZXING_FORMATS.get(str(bc.format))
        if fmt is None or not bc.text:
            continue
        key = _retail_key(fmt, bc.text) if fmt in RETAIL else bc.text
        if key is not None:
            out.append(_Read("zxing", fmt, bc.text, key, source))
    return out


def _pyzbar_reads(gray: np.ndarray, source: str = "plain") -> list[_Read]:
    """pyzbar (zbar) with the UPC-A and UPC-E symbologies enabled by name, so that it tells
    UPC-E from UPC-A instead of reporting every UPC as EAN-13. It drops FNC1 and mangles
    Code 128 FNC4 text, so for 1-D codes it only serves as a witness for zxing."""
    out = []
    for sym in pyzbar.decode(gray, symbols=_PYZBAR_WANTED):
        fmt = _PYZBAR_FORMATS.get(sym.type)
        if fmt is None:
            continue
        text = sym.data.decode("utf-8", errors="replace")
        key = _retail_key(fmt, text) if fmt in RETAIL else text
        if key is not None and text:
            out.append(_Read("pyzbar", fmt, text, key, source))
    return out


# ---- passes ---------------------------------------------------------------------------

def _upscales(gray: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """The image upscaled (2x, Lanczos) while the photo is small enough for it to matter
    (and for the cost, which grows with the square)."""
    for factor, interpolation, below in _UPSCALES:
        if max(gray.shape[:2]) < below:
            yield f"{factor}x", cv2.resize(gray, None, fx=factor, fy=factor,
                                           interpolation=interpolation)


def _equalise(gray: np.ndarray) -> np.ndarray:
    """CLAHE: local contrast for labels in shadow or glare."""
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray)


def _sharpen(gray: np.ndarray) -> np.ndarray:
    """Unsharp mask: bar edges softened by slight defocus or motion."""
    return cv2.addWeighted(gray, 1.8, cv2.GaussianBlur(gray, (0, 0), 2.0), -0.8, 0)


def _otsu(gray: np.ndarray) -> np.ndarray:
    """Global Otsu threshold: a different binarisation than both decoders' own."""
    return cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def _adaptive(gray: np.ndarray) -> np.ndarray:
    """Local (Gaussian) threshold: uneven lighting across a curved can or a matrix code."""
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C,
                                 cv2.THRESH_BINARY, 31, 10)


def _upscale_sharpen(gray: np.ndarray) -> np.ndarray | None:
    """2x, then unsharp mask: small and soft photos that neither reads alone (None, so
    skipped, for photos too large for the 2x pass)."""
    if max(gray.shape[:2]) >= _UPSCALES[0][2]:
        return None
    big = cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    return cv2.addWeighted(big, 1.8, cv2.GaussianBlur(big, (0, 0), 3.0), -0.8, 0)


_CONTRAST_PASSES: tuple[Callable[[np.ndarray], np.ndarray | None], ...] = (
    _equalise, _sharpen, _upscale_sharpen, _otsu, _adaptive)
_GEOMETRIC = frozenset({"plain", "2x", "inverted"})


def _geometric_passes(gray: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """The upscales, then the image inverted: zxing-cpp's try_invert reaches matrix codes
    only, and light-on-dark 1-D labels exist (zbar, which runs on these passes only when a
    zxing read waits for it, spends ~30x longer on an inverted photo of nothing)."""
    yield from _upscales(gray)
    yield "inverted", cv2.bitwise_not(gray)


# ---- the agreement rule -----------------------------------------------------------------

def _family(fmt: str) -> str:
    """EAN-13 and UPC-A are one symbology (a UPC-A is an EAN-13 starting with 0)."""
    return "EAN13" if fmt == "UPCA" else fmt


def _confirmed(group: list[_Read]) -> bool:
    """zxing and zbar both read this code, in the same family."""
    zx = {_family(r.format) for r in group if r.decoder == "zxing"}
    zb = {_family(r.format) for r in group if r.decoder == "pyzbar"}
    return bool(zx & zb)


def _trusted_1d(fmt: str, group: list[_Read]) -> bool:
    """A 1-D code from a geometric pass, or confirmed: contrast passes make up plausible 1-D
    reads, so from them a code needs zbar's agreement, or (not for UPC-E / EAN-8, whose
    wrong reads repeat) zxing reading it alike on two different contrast passes."""
    zx = [r for r in group if r.decoder == "zxing"]
    return (any(r.geometric for r in zx) or _confirmed(group)
            or (fmt not in SHORT_RETAIL and len({r.source for r in zx}) >= 2))


def _kind(fmt: str) -> str:
    """Reads are grouped per kind and key: all EAN/UPC reads compare by GTIN, the other
    formats only with reads of the same format."""
    return "RETAIL" if fmt in RETAIL else fmt


_Groups = dict[tuple[str, str], list[_Read]]      # (kind, key) → its reads


def _rivals(kind: str, key: str, groups: _Groups) -> list[tuple[str, str]]:
    """Other codes on the photo that the same symbol could have been misread as: any other
    EAN/UPC for a retail code, another text of the same format and length for Code 128,
    Code 39 and ITF (two labels of different lengths are two barcodes)."""
    return [(k, other) for (k, other) in groups
            if k == kind and other != key and (kind == "RETAIL" or len(other) == len(key))]


def _trusted(kind: str, key: str, groups: _Groups) -> bool:
    """The agreement rule of the module docstring, for one code."""
    group = groups[(kind, key)]
    fmt = next(r.format for r in group if r.decoder == "zxing")
    if fmt in MATRIX:
        return True
    rivals = _rivals(kind, key, groups)
    if rivals:     # the photo reads two ways: only what both decoders read, never a guess
        return _confirmed(group) and (
            kind != "RETAIL" or not any(_confirmed(groups[r]) for r in rivals))
    if fmt in SHORT_RETAIL:
        return _confirmed(group)
    return _trusted_1d(fmt, group)


def _accepted(reads: list[_Read]) -> list[Result]:
    """The reads that pass the agreement rule, as results (one per code)."""
    groups: _Groups = {}
    for r in reads:
        groups.setdefault((_kind(r.format), r.key), []).append(r)
    results: dict[tuple[str, str], Result] = {}
    for (kind, key), group in groups.items():
        zx = [r for r in group if r.decoder == "zxing"]
        if not zx:
            if kind == "QRCODE":          # zbar alone: QR only (Reed-Solomon)
                results.setdefault(("QRCODE", key), Result("QRCODE", key))
            continue
        if not _trusted(kind, key, groups):
            continue
        fmt, text = zx[0].format, zx[0].text
        if kind == "RETAIL":
            res = _retail_result(fmt, key)
        else:
            res = Result(fmt, text, _gs1_gtin(text) if fmt != "CODE39" else None)
        if res is not None:
            results.setdefault((res.format, res.text), res)
    return _drop_partial_reads(list(results.values()))


def _waiting(reads: list[_Read]) -> bool:
    """A zxing read is on the table but not accepted: zbar's opinion is worth its cost."""
    return any(r.decoder == "zxing" for r in reads)


def _drop_partial_reads(results: list[Result]) -> list[Result]:
    """Drop a code whose text lies inside another 1-D code on the same photo: an EAN/UPC
    inside a Code 128 / ITF carrying a GTIN (the classic false EAN read), or a truncated
    ITF / Code 39 read (no check digit stops a scan line that crosses only part of it)."""
    linear = [r for r in results if r.format not in RETAIL and r.format not in MATRIX]
    return [r for r in results
            if r.format in MATRIX or not any(
                r.text in o.text and r is not o and (r.format in RETAIL or r.format == o.format)
                and r.text != o.text for o in linear)]


# ---- public API -------------------------------------------------------------------------

def load_gray(image: np.ndarray | str | Path) -> np.ndarray:
    """A path or an image array as one 8-bit grayscale array.

    pyzbar given a 3-channel image silently decodes the blue channel only, so every
    decoder gets the same grayscale image. Raises ValueError on an unreadable file."""
    if isinstance(image, (str, Path)):
        gray = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise ValueError(f"cannot read image {str(image)!r}")
        return gray
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2GRAY)
    elif arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2GRAY)
    if arr.dtype != np.uint8:
        arr = cv2.normalize(arr, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return np.ascontiguousarray(arr)


def decode_image(image: np.ndarray | str | Path) -> list[Result]:
    """Decode every barcode in a photo (a path or a BGR/BGRA/grayscale array).

    Returns [] rather than a result the cross-checks cannot confirm."""
    gray = load_gray(image)
    reads = _zxing_reads(gray)
    if reads and all(r.format in MATRIX for r in reads):
        return _accepted(reads)           # self-checking codes: zbar has nothing to add
    reads += _pyzbar_reads(gray)
    results = _accepted(reads)
    if results:
        return results
    for source, img in _geometric_passes(gray):
        reads += _zxing_reads(img, source)
        results = _accepted(reads)
        if results:
            return results
        if _waiting(reads):
            reads += _pyzbar_reads(img, source)
            results = _accepted(reads)
            if results:
                return results
    for make in _CONTRAST_PASSES:
        img = make(gray)
        if img is None:
            continue
        source = make.__name__.lstrip("_")
        reads += _zxing_reads(img, source)
        if _waiting(reads):
            reads += _pyzbar_reads(img, source)
        results = _accepted(reads)
        if results:
            return results
    return results


def decode_zxing_only(image: np.ndarray | str | Path) -> list[Result]:
    """Baseline for benchmarks: zxing-cpp alone on the grayscale image, no cross-checks."""
    return _baseline(_zxing_reads(load_gray(image)))


def decode_pyzbar_only(image: np.ndarray | str | Path) -> list[Result]:
    """Baseline for benchmarks: pyzbar alone on the grayscale image, no cross-checks."""
    return _baseline(_pyzbar_reads(load_gray(image)))


def _baseline(reads: list[_Read]) -> list[Result]:
    """Reads as results without any cross-check."""
    out = []
    for r in reads:
        res = _retail_result(r.format, r.key) if r.format in RETAIL else None
        out.append(res or Result(r.format, r.text, None))
    return out
