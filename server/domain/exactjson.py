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


def refuse_lone_surrogates(value: Any, path: str = "") -> None:
    """BadRequest(invalid_unicode) naming the first string (or key) holding a lone
    surrogate; for JSON decoded elsewhere (Socket.IO event payloads) as well."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise BadRequest("text holds an invalid Unicode escape (a lone surrogate such "
                             "as \\ud800)", code="invalid_unicode", field=path or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            refuse_lone_surrogates(key, where)
            refuse_lone_surrogates(item, where)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            refuse_lone_surrogates(item, f"{path}.{i}" if path else str(i))


def replace_lone_surrogates(value: Any) -> Any:
    """The same value with every lone surrogate replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {replace_lone_surrogates(k): replace_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_lone_surrogates(v) for v in value]
    return value
