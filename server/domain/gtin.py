"""GS1 barcodes: check digits, GTIN-14 normalisation and UPC-E expansion.

Every GTIN the service stores is the 14-digit form (GTIN-8, UPC-A, EAN-13 and GTIN-14
left-padded with zeros), so one scanned code matches one catalogue entry whatever
symbology printed it.
"""
from __future__ import annotations

_DIGITS = frozenset("0123456789")
GTIN_LENGTHS = (8, 12, 13, 14)


def _is_digits(text: str) -> bool:
    """ASCII digits only (str.isdigit also accepts '²' and other scripts' digits)."""
    return bool(text) and _DIGITS.issuperset(text)


def check_digit(body: str) -> int:
    """The GS1 modulo-10 check digit of `body` (every digit except the check digit).

    Weights are 3, 1, 3, 1 … counted from the rightmost digit of the body, which is the
    same as 1, 3, 1, 3 … from the left for a 12-digit (EAN-13) body.
    """
    if not _is_digits(body):
        raise ValueError(f"GTIN body must be digits only, not {body!r}")
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += (ord(ch) - 48) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def is_valid_gtin(text: str) -> bool:
    """True when `text` is an 8/12/13/14-digit code with a correct check digit."""
    try:
        normalize_gtin(text)
    except ValueError:
        return False
    return True


def normalize_gtin(text: str) -> str:
    """A GTIN-8, UPC-A (12), EAN-13 or GTIN-14 as a 14-digit GTIN-14 string.

    Surrounding whitespace is ignored. Raises ValueError on non-digits, a length other
    than 8, 12, 13 or 14, or a wrong check digit.
    """
    if not isinstance(text, str):
        raise ValueError(f"GTIN must be text, not {type(text).__name__}")
    code = text.strip()
    if not _is_digits(code):
        raise ValueError(f"GTIN {text!r} must contain digits only")
    if len(code) not in GTIN_LENGTHS:
        raise ValueError(f"GTIN {code!r} has {len(code)} digits; expected 8, 12, 13 or 14")
    expected = check_digit(code[:-1])
    if int(code[-1]) != expected:
        raise ValueError(f"GTIN {code!r} has check digit {code[-1]}, expected {expected}")
    return code.zfill(14)


def expand_upce(code: str) -> str:
    """An 8-digit UPC-E (number system 0 or 1, six digits, check digit) as its 12-digit UPC-A.

    Standard zero-suppression rules on the six digits d1..d6:
    d6 in 0-2 → d1 d2 d6 0000 d3 d4 d5; d6 = 3 → d1 d2 d3 00000 d4 d5;
    d6 = 4 → d1 d2 d3 d4 00000 d5; d6 in 5-9 → d1 d2 d3 d4 d5 0000 d6.
    The UPC-E check digit is the UPC-A one, so it is verified on the expansion.
    """
    if not isinstance(code, str):
        raise ValueError(f"UPC-E must be text, not {type(code).__name__}")
    upce = code.strip()
    if not _is_digits(upce) or len(upce) != 8:
        raise ValueError(f"UPC-E {code!r} must be exactly 8 digits")
    system, d, check = upce[0], upce[1:7], upce[7]
    if system not in "01":
        raise ValueError(f"UPC-E {upce!r} has number system {system}; only 0 and 1 exist")
    last = d[5]
    if last in "012":
        middle = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        middle = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        middle = d[0:4] + "00000" + d[4]
    else:
        middle = d[0:5] + "0000" + last
    body = system + middle
    expected = check_digit(body)
    if int(check) != expected:
        raise ValueError(f"UPC-E {upce!r} has check digit {check}, expected {expected}")
    return body + check
