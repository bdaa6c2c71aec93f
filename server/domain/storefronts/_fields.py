"""Field readers shared by the storefront parsers: exact ids, decimal amounts, aware datetimes.

Every reader raises `Unprocessable` naming the JSON field at fault, so a caller can answer
with a precise reason. Nothing here goes through float.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from ..errors import Unprocessable
from ..money import parse_amount

_DIGITS = re.compile(r"[0-9]{1,20}")   # 2^64 - 1 has 20 digits


def exact_id(value: object, field: str) -> str:
    """A storefront id as exact text: a non-negative JSON integer or a string of ASCII digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0 or value >= 10 ** 20:
            raise Unprocessable(f"{field} is out of range", field=field)
        return str(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return value
    raise Unprocessable(f"{field} must be an integer id, not {value!r}", field=field)


def amount(value: object, field: str, default: Decimal | None = None) -> Decimal:
    """A decimal amount; None or '' give `default` when one is given, else refuse."""
    if default is not None and (value is None or value == ""):
        return default
    try:
        return parse_amount(value)
    except ValueError as err:
        raise Unprocessable(f"{field} is not an amount: {value!r}", field=field) from err


def quantity(value: object, field: str) -> int:
    """A line quantity: a JSON integer (not a bool, not a float)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise Unprocessable(f"{field} must be an integer, not {value!r}", field=field)


def aware_datetime(value: object, field: str) -> dt.datetime:
    """ISO 8601 text → an aware datetime; text without an offset is taken as UTC."""
    if not isinstance(value, str) or not value.strip():
        raise Unprocessable(f"{field} is missing", field=field)
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError as err:
        raise Unprocessable(f"{field} is not an ISO 8601 date-time: {value!r}",
                            field=field) from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed


def text(value: object) -> str:
    """A text field: None → '', numbers → their digits, surrounding blanks removed."""
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return str(value).strip()


def first_text(*values: object) -> str:
    """The first value that is non-empty text."""
    for value in values:
        found = text(value)
        if found:
            return found
    return ""


def mapping(value: object) -> dict:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def items(payload: dict, key: str, required: bool = False) -> list:
    """A JSON array field; missing/null gives [] unless `required`, anything else is refused."""
    value = payload.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise Unprocessable(f"{key} must be a list", field=key)
    return value


def element(value: object, field: str) -> dict:
    """One element of an array of objects."""
    if not isinstance(value, dict):
        raise Unprocessable(f"{field} must be an object", field=field)
    return value


def require_object(payload: object) -> dict:
    """The webhook body must be a JSON object."""
    if not isinstance(payload, dict):
        raise Unprocessable("the order payload must be a JSON object", field="body")
    return payload
