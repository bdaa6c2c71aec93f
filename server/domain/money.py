"""Money as integer minor units (exact on SQLite and PostgreSQL alike)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not 1/100.
_EXPONENT = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}


def exponent(currency: str) -> int:
    return _EXPONENT.get(currency.upper(), 2)


def parse_amount(value: object) -> Decimal:
    """A price from JSON or CSV: a decimal string or number, never through float binary noise."""
    if isinstance(value, bool) or value is None:
        raise ValueError("not an amount")
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as err:
        raise ValueError(f"not an amount: {value!r}") from err
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return amount


def to_minor(amount: Decimal, currency: str) -> int:
    exp = exponent(currency)
    return int((amount * (10 ** exp)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_minor(minor: int | None, currency: str) -> str | None:
    """Minor units → a decimal string with the currency's places ('24.00')."""
    if minor is None:
        return None
    exp = exponent(currency)
    return str((Decimal(minor) / (10 ** exp)).quantize(Decimal(1).scaleb(-exp)))
