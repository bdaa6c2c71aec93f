"""Reading JSON exactly: integers stay integers (64-bit storefront ids never pass through a
float), decimals become Decimal, NaN/Infinity and NUL characters are refused."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from .errors import BadRequest, Unprocessable


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Exact JSON: integers stay integers (64-bit ids), decimals become Decimal, no NaN."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise BadRequest(f"malformed JSON: {err}", code="malformed_json") from err
    if "\\u0000" in text or "\x00" in text:  # no database stores NUL in text
        raise Unprocessable("text must not contain NUL characters", code="nul_character")
    return value
