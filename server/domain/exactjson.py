"""Reading JSON exactly: integers stay integers (64-bit storefront ids never pass through a
float), decimals become Decimal, NaN/Infinity and NUL characters are refused, and so is a
lone surrogate (`"\\ud800"`: a valid JSON escape but no Unicode character, which no
database and no UTF-8 encoder accepts) unless the caller asks for it to be replaced."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from .errors import BadRequest, Unprocessable


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def parse_json(raw: bytes, *, replace_bad_unicode: bool = False) -> Any:
    """Exact JSON: integers stay integers (64-bit ids), decimals become Decimal, no NaN.
    A lone surrogate in a string is refused (400 invalid_unicode) or, with
    `replace_bad_unicode` (signed storefront deliveries, whose sender will not fix them),
    replaced by U+FFFD."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise BadRequest(f"malformed JSON: {err}", code="malformed_json") from err
    if "\\u0000" in text or "\x00" in text:  # no database stores NUL in text
        raise Unprocessable("text must not contain NUL characters", code="nul_character")
    if "\\u" not in text:      # a surrogate can only arrive escaped: the usual case ends here
        return value
    if replace_bad_unicode:
        return replace_lone_surrogates(value)
    refuse_lone_surrogates(value)
    return value


def refuse_lone_surrogates(value: Any) -> None:
    """BadRequest(invalid_unicode) naming the first string (or key) holding a lone
    surrogate; for JSON decoded elsewhere (Socket.IO event payloads) as well. Every handheld
    scan passes here: ASCII strings (barcodes, ids) are skipped without a regex."""
    if _has_surrogate(value):
        where = _where(value)       # a key may hold one too: the answer must stay encodable
        raise BadRequest("text holds an invalid Unicode escape (a lone surrogate such "
                         "as \\ud800)", code="invalid_unicode",
                         field=_SURROGATE.sub(REPLACEMENT, where) if where else None)


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return not value.isascii() and _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_surrogate(v) for v in value)
    return False


def _where(value: Any, path: str = "") -> str | None:
    """The dotted path of the first bad string (None: the value itself)."""
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in items:
        here = f"{path}.{key}" if path else str(key)
        if _has_surrogate(key) or isinstance(item, str) and _has_surrogate(item):
            return here
        if _has_surrogate(item):
            return _where(item, here)
    return path or None


def replace_lone_surrogates(value: Any) -> Any:
    """The same value with every lone surrogate replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {replace_lone_surrogates(k): replace_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_lone_surrogates(v) for v in value]
    return value
