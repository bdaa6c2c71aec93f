"""Barcode decoding of camera photos: two decoders, preprocessing passes, cross-checks.

The policy is "no result is better than a wrong one":

* zxing-cpp on the plain grayscale image is the decoder of record. Its reads there are
  accepted when they pass the format's own checks (EAN/UPC check digit) and pyzbar does
  not report a different retail code on the same photo.
* Matrix codes (QR, Data Matrix) carry Reed-Solomon error correction, so a read from any
  pass is accepted.
* Every other 1-D read (pyzbar alone, or a read from a preprocessed image, where
  thresholding and sharpening do create plausible wrong EAN reads with valid check digits)
  is accepted only when *both* decoders produce the same normalised code.
* Extra passes (upscaling, contrast equalisation, sharpening, thresholding) only run when
  the first pass is not conclusive, which keeps the median cost at one pass per decoder.

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
MATRIX = frozenset({"QRCODE", "DATAMATRIX"})
_ZXING_WANTED = [zxingcpp.BarcodeFormat.EAN13, zxingcpp.BarcodeFormat.EAN8,
                 zxingcpp.BarcodeFormat.UPCA, zxingcpp.BarcodeFormat.UPCE,
                 zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.Code39,
                 zxingcpp.BarcodeFormat.ITF, zxingcpp.BarcodeFormat.QRCode,
                 zxingcpp.BarcodeFormat.DataMatrix]
_SMALL_SIDE = 800     # photos narrower than this are also tried at 2x (thin bars blur away)


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
    pass_no: int          # 0 = the plain grayscale image, 1.. = preprocessed variants


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

def _zxing_reads(gray: np.ndarray, pass_no: int) -> list[_Read]:
    """zxing-cpp in Plain text mode, so GS1 and ISO 15434 separators (GS, RS, EOT) survive."""
    out = []
    for bc in zxingcpp.read_barcodes(gray, formats=_ZXING_WANTED,
                                     text_mode=zxingcpp.TextMode.Plain):
        fmt = _ZXING_FORMATS.get(str(bc.format))
        if fmt is None or not bc.text:
            continue
        key = _retail_key(fmt, bc.text) if fmt in RETAIL else bc.text
        if key is not None:
            out.append(_Read("zxing", fmt, bc.text, key, pass_no))
    return out


def _pyzbar_reads(gray: np.ndarray, pass_no: int) -> list[_Read]:
    """pyzbar (zbar). It drops FNC1 and mangles Code 128 FNC4 text, so for non-retail codes
    it only serves as a witness for zxing, never as the source of the text."""
    out = []
    for sym in pyzbar.decode(gray):
        fmt = _PYZBAR_FORMATS.get(sym.type)
        if fmt is None:
            continue
        text = sym.data.decode("utf-8", errors="replace")
        key = _retail_key(fmt, text) if fmt in RETAIL else text
        if key is not None and text:
            # zbar reports UPC-A and UPC-E as EAN-13: the family is what matters for voting
            out.append(_Read("pyzbar", "EAN13" if fmt in RETAIL else fmt, text, key, pass_no))
    return out


# ---- preprocessing passes ---------------------------------------------------------------

def _upscale(gray: np.ndarray) -> np.ndarray | None:
    """2x cubic upscaling: narrow bars in small photos fall below the decoders' minimum
    module width. Skipped for images that are already large (cost grows 4x)."""
    if max(gray.shape) >= _SMALL_SIDE:
        return None
    return cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)


def _equalise(gray: np.ndarray) -> np.ndarray:
    """CLAHE: local contrast for labels in shadow or glare."""
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray)


def _sharpen(gray: np.ndarray) -> np.ndarray:
    """Unsharp mask: restores bar edges softened by slight defocus or motion."""
    blurred = cv2.GaussianBlur(gray, (0, 0), 2.0)
    return cv2.addWeighted(gray, 1.8, blurred, -0.8, 0)


def _upscale_sharpen(gray: np.ndarray) -> np.ndarray | None:
    """Upscale, then sharpen: the combination reads small, soft photos neither alone does."""
    big = _upscale(gray)
    if big is None:
        return None
    return cv2.addWeighted(big, 1.8, cv2.GaussianBlur(big, (0, 0), 3.0), -0.8, 0)


def _otsu(gray: np.ndarray) -> np.ndarray:
    """Global Otsu threshold: a different binarisation than both decoders' own."""
    return cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def _adaptive(gray: np.ndarray) -> np.ndarray:
    """Local (Gaussian) threshold: uneven lighting across a matrix code or a curved can."""
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C,
                                 cv2.THRESH_BINARY, 31, 10)


_PASSES: tuple[Callable[[np.ndarray], np.ndarray | None], ...] = (
    _upscale, _equalise, _sharpen, _upscale_sharpen, _otsu, _adaptive)


def _variants(gray: np.ndarray) -> Iterator[np.ndarray]:
    """The preprocessed images, cheapest and most productive first."""
    for make in _PASSES:
        img = make(gray)
        if img is not None:
            yield img


# ---- cross-checks -----------------------------------------------------------------------

def _disputed(reads: list[_Read]) -> bool:
    """The two decoders both read retail codes on the plain image, but different ones."""
    zx = {r.key for r in reads if r.decoder == "zxing" and r.format in RETAIL}
    zb = {r.key for r in reads if r.decoder == "pyzbar" and r.format in RETAIL}
    return bool(zx) and bool(zb) and zx != zb


def _accepted(reads: list[_Read], trust_first: bool) -> list[Result]:
    """The reads that pass the cross-checks described in the module docstring."""
    witnessed = {r.key for r in reads if r.decoder == "pyzbar"}
    retail_keys = {r.key for r in reads if r.format in RETAIL}
    results: dict[tuple[str, str], Result] = {}
    for r in reads:
        if r.format in MATRIX:
            ok = True
        elif r.decoder != "zxing":
            continue      # pyzbar alone never decides a 1-D code (its text can be mangled)
        else:
            ok = ((r.pass_no == 0 and trust_first) or r.key in witnessed
                  or _repeated(r, reads, retail_keys))
        if not ok:
            continue
        res = (_retail_result(r.format, r.key) if r.format in RETAIL
               else Result(r.format, r.text, _gs1_gtin(r.text) if r.format != "CODE39" else None))
        if res is not None:
            results.setdefault((res.format, res.text), res)
    return _drop_ean_inside_other(list(results.values()))


def _repeated(read: _Read, reads: list[_Read], retail_keys: set[str]) -> bool:
    """A zxing read that two different preprocessed images give alike, while nothing on the
    photo reads as another retail code. Single-variant reads are where thresholding and
    sharpening produce wrong EANs with valid check digits, and those never repeat alike."""
    if read.format in RETAIL and retail_keys != {read.key}:
        return False
    passes = {r.pass_no for r in reads if r.decoder == "zxing" and r.key == read.key}
    return len(passes) >= 2


def _drop_ean_inside_other(results: list[Result]) -> list[Result]:
    """Drop an EAN/UPC whose digits are part of another 1-D code on the same photo: that is
    the classic false EAN read of a Code 128 / ITF carrying a GTIN."""
    others = [r.text for r in results if r.format not in RETAIL and r.format not in MATRIX]
    return [r for r in results
            if r.format not in RETAIL or not any(r.text in o for o in others)]


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
    reads = _zxing_reads(gray, 0) + _pyzbar_reads(gray, 0)
    trust_first = not _disputed(reads)
    results = _accepted(reads, trust_first)
    if results and trust_first:
        return results
    for pass_no, img in enumerate(_variants(gray), start=1):
        reads += _zxing_reads(img, pass_no) + _pyzbar_reads(img, pass_no)
        results = _accepted(reads, trust_first)
        if results:
            return results
    return results


def decode_zxing_only(image: np.ndarray | str | Path) -> list[Result]:
    """Baseline for benchmarks: zxing-cpp alone on the grayscale image, no cross-checks."""
    return _baseline(_zxing_reads(load_gray(image), 0))


def decode_pyzbar_only(image: np.ndarray | str | Path) -> list[Result]:
    """Baseline for benchmarks: pyzbar alone on the grayscale image, no cross-checks."""
    return _baseline(_pyzbar_reads(load_gray(image), 0))


def _baseline(reads: list[_Read]) -> list[Result]:
    """Reads as results without any cross-check (zbar's EAN-13 family keeps its digits)."""
    out = []
    for r in reads:
        res = _retail_result(r.format, r.key) if r.format in RETAIL else None
        if r.format in RETAIL and r.decoder == "pyzbar" and res is not None:
            # zbar calls UPC-A/UPC-E "EAN-13": guess the family from the digits
            res = _pyzbar_retail(r.key)
        out.append(res or Result(r.format, r.text, None))
    return out


def _pyzbar_retail(key: str) -> Result | None:
    """zbar's EAN-13 reads: a leading 0 means UPC-A, unless the code is a UPC-E expansion."""
    if key[0] == "0" and (upce := _compress_upca(key[1:])):
        return Result("UPCE", upce, key.zfill(14))
    return _retail_result("EAN13", key)
