"""Carrier tracking numbers: a scheme per carrier account, described by data, and the
check digits each scheme uses.

A scheme is a frozen dataclass that `scheme_from_mapping` builds from a config.yaml
mapping. The carrier allocates each account a RANGE of serials; `next_tracking` turns
the last serial used into the next number and refuses (`TrackingRangeExhausted`) when
the range is spent, so the caller opens an exception instead of reusing a number.

Kinds and their check digits:

- ``s10``: UPU S10, ``RR123456785GB``: service indicator (2 letters), 8-digit serial,
  check digit, ISO country (2 letters). Weights 8,6,4,2,3,5,9,7; C = 11 - (S mod 11),
  10 → 0, 11 → 5. Because both S ≡ 0 and S ≡ 6 (mod 11) give 5, S10 does NOT catch every
  single-digit error: a change that moves S between those two residues goes unseen.
- ``ups_1z``: ``1Z`` + shipper number (6) + service code (2) + package id (7 digits) +
  check digit. Mod 10 over the 15 characters after ``1Z``: letters count as
  (ASCII - 63) mod 10, every second character (2nd, 4th, …) is doubled.
- ``numeric_mod10``: digits, prefix + serial + check digit; GS1 mod 10 (weights 3, 1, 3, …
  from the digit next to the check digit), the rule USPS and GS1 numbers use.
- ``numeric_mod7``: digits, prefix + serial + check digit = (prefix + serial) mod 7, the
  rule of DHL Express waybill numbers.
- ``sscc``: GS1 SSCC, extension digit + company prefix + serial reference + GS1 mod 10.

Pure: no I/O, no clock; the serial counter lives in the store.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from server.domain.errors import DomainError
from server.domain.gtin import check_digit as gs1_check_digit

KINDS = ("s10", "ups_1z", "numeric_mod10", "numeric_mod7", "sscc")
S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)

_DIGITS = re.compile(r"[0-9]+")
_LETTERS2 = re.compile(r"[A-Z]{2}")
_ALNUM = re.compile(r"[A-Z0-9]+")
_SPACES = re.compile(r"[\s-]+")
# Lengths a numeric scheme may have (prefix + serial + check digit): short enough to be
# typed, long enough for USPS-style 22/26/34-digit numbers.
_NUMERIC_LENGTHS = range(6, 41)


class TrackingRangeExhausted(DomainError):
    """Every serial of the account's range is used: ask the carrier for a new block."""

    code, status = "tracking_range_exhausted", 409


class InvalidTrackingNumber(DomainError):
    """A tracking number that does not fit its scheme (format or check digit)."""

    code, status = "invalid_tracking_number", 422


# ---------------------------------------------------------------- check digits


def _require_digits(text: str, what: str) -> None:
    if not isinstance(text, str) or not _DIGITS.fullmatch(text):
        raise ValueError(f"{what} must be ASCII digits, not {text!r}")


def s10_check_digit(serial8: str) -> int:
    """UPU S10 check digit of an 8-digit serial (``12345678`` → 5, ``47312482`` → 9)."""
    _require_digits(serial8, "S10 serial")
    if len(serial8) != 8:
        raise ValueError(f"S10 serial must be 8 digits, not {serial8!r}")
    total = sum(int(d) * w for d, w in zip(serial8, S10_WEIGHTS))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def _ups_value(ch: str) -> int:
    if "0" <= ch <= "9":
        return ord(ch) - 48
    return (ord(ch) - 63) % 10


def ups_check_digit(body15: str) -> int:
    """UPS 1Z check digit of the 15 characters between ``1Z`` and the check digit."""
    if not isinstance(body15, str) or len(body15) != 15 or not _ALNUM.fullmatch(body15):
        raise ValueError(f"UPS body must be 15 characters A-Z/0-9, not {body15!r}")
    total = sum(_ups_value(ch) * (2 if i % 2 else 1) for i, ch in enumerate(body15))
    return (10 - total % 10) % 10


def mod10_check_digit(body: str) -> int:
    """GS1 mod-10 check digit (weights 3, 1, … from the right of `body`)."""
    return gs1_check_digit(body)


def mod7_check_digit(body: str) -> int:
    """Mod-7 check digit: the number `body` modulo 7 (DHL Express waybills)."""
    _require_digits(body, "mod-7 body")
    return int(body) % 7


# ---------------------------------------------------------------- the scheme


@dataclass(frozen=True)
class TrackingScheme:
    """One carrier account's tracking numbers: the kind, its fixed parts and its serial range.

    Fields a kind does not use stay empty: ``service_indicator``/``country`` (s10),
    ``shipper``/``service_code`` (ups_1z), ``prefix``/``length`` (numeric_*, length
    counts the whole number with its check digit), ``extension_digit``/``company_prefix``
    (sscc). Construction validates; a bad combination raises ValueError.
    """

    name: str
    kind: str
    range_start: int
    range_end: int
    service_indicator: str = ""
    country: str = ""
    shipper: str = ""
    service_code: str = ""
    prefix: str = ""
    length: int = 0
    extension_digit: str = ""
    company_prefix: str = ""

    def __post_init__(self) -> None:
        _check_scheme(self)

    @property
    def serial_width(self) -> int:
        """How many digits the serial takes in the number."""
        if self.kind == "s10":
            return 8
        if self.kind == "ups_1z":
            return 7
        if self.kind == "sscc":
            return 16 - len(self.company_prefix)
        return self.length - len(self.prefix) - 1

    @property
    def capacity(self) -> int:
        """How many numbers the range holds."""
        return self.range_end - self.range_start + 1


_UNUSED = {
    "s10": ("shipper", "service_code", "prefix", "length", "extension_digit", "company_prefix"),
    "ups_1z": ("service_indicator", "country", "prefix", "length", "extension_digit",
               "company_prefix"),
    "numeric_mod10": ("service_indicator", "country", "shipper", "service_code",
                      "extension_digit", "company_prefix"),
    "sscc": ("service_indicator", "country", "shipper", "service_code", "prefix", "length"),
}
_UNUSED["numeric_mod7"] = _UNUSED["numeric_mod10"]


def _check_kind_fields(s: TrackingScheme) -> None:
    if s.kind == "s10":
        for field, value in (("service_indicator", s.service_indicator), ("country", s.country)):
            if not isinstance(value, str) or not _LETTERS2.fullmatch(value):
                raise ValueError(f"tracking scheme {s.name!r}: s10 {field} must be two "
                                 f"letters A-Z, not {value!r}")
    elif s.kind == "ups_1z":
        if not isinstance(s.shipper, str) or len(s.shipper) != 6 or not _ALNUM.fullmatch(s.shipper):
            raise ValueError(f"tracking scheme {s.name!r}: ups_1z shipper must be 6 "
                             f"characters A-Z/0-9, not {s.shipper!r}")
        if (not isinstance(s.service_code, str) or len(s.service_code) != 2
                or not _ALNUM.fullmatch(s.service_code)):
            raise ValueError(f"tracking scheme {s.name!r}: ups_1z service_code must be 2 "
                             f"characters A-Z/0-9, not {s.service_code!r}")
    elif s.kind == "sscc":
        if not isinstance(s.extension_digit, str) or not re.fullmatch(r"[0-9]", s.extension_digit):
            raise ValueError(f"tracking scheme {s.name!r}: sscc extension_digit must be one "
                             f"digit, not {s.extension_digit!r}")
        cp = s.company_prefix
        if not isinstance(cp, str) or not _DIGITS.fullmatch(cp) or not 6 <= len(cp) <= 12:
            raise ValueError(f"tracking scheme {s.name!r}: sscc company_prefix must be 6 to "
                             f"12 digits, not {cp!r}")
    else:  # numeric_mod10 / numeric_mod7
        if not isinstance(s.prefix, str) or (s.prefix and not _DIGITS.fullmatch(s.prefix)):
            raise ValueError(f"tracking scheme {s.name!r}: {s.kind} prefix must be digits as text "
                             f"(quote it in YAML: a leading 0 is lost otherwise), "
                             f"not {s.prefix!r}")
        if type(s.length) is not int or s.length not in _NUMERIC_LENGTHS:
            raise ValueError(f"tracking scheme {s.name!r}: {s.kind} length must be an integer "
                             f"from {_NUMERIC_LENGTHS.start} to {_NUMERIC_LENGTHS.stop - 1}, "
                             f"not {s.length!r}")
        if s.length - len(s.prefix) - 1 < 1:
            raise ValueError(f"tracking scheme {s.name!r}: prefix {s.prefix!r} leaves no room "
                             f"for a serial in {s.length} digits")


def _check_scheme(s: TrackingScheme) -> None:
    if not isinstance(s.name, str) or not s.name.strip():
        raise ValueError("tracking scheme needs a name")
    if s.kind not in KINDS:
        raise ValueError(f"tracking scheme {s.name!r}: unknown kind {s.kind!r}; "
                         f"expected one of {', '.join(KINDS)}")
    for field in _UNUSED[s.kind]:
        if getattr(s, field):
            raise ValueError(f"tracking scheme {s.name!r}: {field} does not apply to kind "
                             f"{s.kind!r}")
    _check_kind_fields(s)
    for field in ("range_start", "range_end"):
        value = getattr(s, field)
        if type(value) is not int or value < 0:
            raise ValueError(f"tracking scheme {s.name!r}: {field} must be a whole number "
                             f">= 0, not {value!r}")
    if s.range_start > s.range_end:
        raise ValueError(f"tracking scheme {s.name!r}: range_start {s.range_start} is after "
                         f"range_end {s.range_end}")
    top = 10 ** s.serial_width - 1
    if s.range_end > top:
        raise ValueError(f"tracking scheme {s.name!r}: range_end {s.range_end} does not fit "
                         f"in {s.serial_width} serial digits (max {top})")


_FIELD_NAMES = frozenset(f.name for f in fields(TrackingScheme))
# Short spellings accepted in config.yaml.
_ALIASES = {"start": "range_start", "end": "range_end", "service": "service_code",
            "shipper_number": "shipper", "extension": "extension_digit"}


def scheme_from_mapping(data: Mapping) -> TrackingScheme:
    """A TrackingScheme from a config mapping, e.g.

    ``{"name": "royal-mail", "kind": "s10", "service_indicator": "RR", "country": "GB",
    "range": {"start": 10000000, "end": 19999999}}``. ``range`` may also be given as a
    ``[start, end]`` pair, or as top-level ``start``/``end``. Letter fields are taken in
    upper case. Raises ValueError naming what is wrong (unknown kind or key, bad lengths,
    start after end, a prefix that does not fit the kind, …).
    """
    if not isinstance(data, Mapping):
        # ValueError, not TypeError: every config mistake reaches the user the same way.
        raise ValueError(f"tracking scheme must be a mapping, not {type(data).__name__}")  # noqa: TRY004
    values: dict = {}
    for key, value in data.items():
        if key == "range":
            values.update(_parse_range(data.get("name"), value))
            continue
        field = _ALIASES.get(key, key)
        if field not in _FIELD_NAMES:
            raise ValueError(f"tracking scheme {data.get('name')!r}: unknown key {key!r}")
        if field in values:
            raise ValueError(f"tracking scheme {data.get('name')!r}: {field} given twice")
        values[field] = value
    for required in ("name", "kind", "range_start", "range_end"):
        if required not in values:
            raise ValueError(f"tracking scheme {data.get('name')!r}: missing {required}")
    for field in ("service_indicator", "country", "shipper", "service_code"):
        if isinstance(values.get(field), str):
            values[field] = values[field].upper()
    return TrackingScheme(**values)


def _parse_range(name: object, value: object) -> dict:
    if isinstance(value, Mapping):
        if set(value) != {"start", "end"}:
            raise ValueError(f"tracking scheme {name!r}: range needs exactly start and end")
        return {"range_start": value["start"], "range_end": value["end"]}
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return {"range_start": value[0], "range_end": value[1]}
    raise ValueError(f"tracking scheme {name!r}: range must be {{start, end}} or "
                     f"[start, end], not {value!r}")


# ---------------------------------------------------------------- build and check


def format_tracking(scheme: TrackingScheme, serial: int) -> str:
    """The tracking number of `serial` in `scheme`, with its check digit."""
    if type(serial) is not int or not scheme.range_start <= serial <= scheme.range_end:
        raise ValueError(f"serial {serial!r} is outside {scheme.name!r} range "
                         f"{scheme.range_start}..{scheme.range_end}")
    return _build(scheme, str(serial).zfill(scheme.serial_width))


def _build(scheme: TrackingScheme, digits: str) -> str:
    """The number for `digits` (the serial at its full width), check digit included."""
    if scheme.kind == "s10":
        return f"{scheme.service_indicator}{digits}{s10_check_digit(digits)}{scheme.country}"
    if scheme.kind == "ups_1z":
        body = f"{scheme.shipper}{scheme.service_code}{digits}"
        return f"1Z{body}{ups_check_digit(body)}"
    if scheme.kind == "sscc":
        body = f"{scheme.extension_digit}{scheme.company_prefix}{digits}"
        return f"{body}{mod10_check_digit(body)}"
    body = f"{scheme.prefix}{digits}"
    check = mod10_check_digit(body) if scheme.kind == "numeric_mod10" else mod7_check_digit(body)
    return f"{body}{check}"


def next_tracking(scheme: TrackingScheme, last_serial: int | None) -> tuple[str, int]:
    """The next (tracking number, serial) after `last_serial` in the scheme's range.

    `last_serial` is the serial the account used last (None: none yet). A last serial
    below the range (an old block before the carrier allocated this one) starts at
    range_start. Raises TrackingRangeExhausted when the range holds no further serial:
    the caller stores nothing and opens an exception; numbers are never reused.
    """
    if last_serial is None or last_serial < scheme.range_start:
        serial = scheme.range_start
    else:
        serial = last_serial + 1
    if serial > scheme.range_end:
        raise TrackingRangeExhausted(
            f"tracking range of {scheme.name!r} is exhausted: last serial {last_serial}, "
            f"range {scheme.range_start}..{scheme.range_end}",
            detail={"scheme": scheme.name, "last_serial": last_serial,
                    "range_start": scheme.range_start, "range_end": scheme.range_end})
    return format_tracking(scheme, serial), serial


def _normalise(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidTrackingNumber(f"tracking number must be text, not {type(text).__name__}")
    # Labels print numbers in groups ("1Z 999 AA1 …") and people type them in lower case.
    return _SPACES.sub("", text).upper()


def _split(scheme: TrackingScheme, code: str) -> tuple[str, str, str, str]:
    """(fixed part as read, fixed part expected, serial digits, check char) or raise."""
    w = scheme.serial_width
    if scheme.kind == "s10":
        m = re.fullmatch(rf"([A-Z]{{2}})([0-9]{{{w}}})([0-9])([A-Z]{{2}})", code)
        if m:
            return m[1] + m[4], scheme.service_indicator + scheme.country, m[2], m[3]
    elif scheme.kind == "ups_1z":
        m = re.fullmatch(rf"1Z([A-Z0-9]{{8}})([0-9]{{{w}}})([0-9])", code)
        if m:
            return m[1], scheme.shipper + scheme.service_code, m[2], m[3]
    else:
        fixed = (scheme.extension_digit + scheme.company_prefix if scheme.kind == "sscc"
                 else scheme.prefix)
        m = re.fullmatch(rf"([0-9]{{{len(fixed)}}})([0-9]{{{w}}})([0-9])", code)
        if m:
            return m[1], fixed, m[2], m[3]
    raise InvalidTrackingNumber(f"{code!r} is not in the format of {scheme.name!r} "
                                f"({scheme.kind})", code="invalid_tracking_format")


def validate_tracking(scheme: TrackingScheme, text: str, *, check_range: bool = False) -> int:
    """The serial of `text` when it is a well-formed number of `scheme`, else
    InvalidTrackingNumber (codes ``invalid_tracking_format``, ``wrong_tracking_prefix``,
    ``bad_check_digit``, ``tracking_outside_range``).

    Spaces, dashes and lower case are accepted. With `check_range` the serial must also
    lie in the scheme's current range (a number this account issued from this block).
    """
    code = _normalise(text)
    got, want, digits, check = _split(scheme, code)
    if got != want:
        raise InvalidTrackingNumber(f"{code!r} does not carry {scheme.name!r}'s fixed part "
                                    f"{want!r}", code="wrong_tracking_prefix")
    expected = _build(scheme, digits)
    if expected != code:
        raise InvalidTrackingNumber(f"{code!r} has check digit {check}, expected "
                                    f"{expected[-3] if scheme.kind == 's10' else expected[-1]}",
                                    code="bad_check_digit")
    serial = int(digits)
    if check_range and not scheme.range_start <= serial <= scheme.range_end:
        raise InvalidTrackingNumber(f"{code!r}: serial {serial} is outside {scheme.name!r} "
                                    f"range {scheme.range_start}..{scheme.range_end}",
                                    code="tracking_outside_range")
    return serial


def is_valid_tracking(scheme: TrackingScheme, text: str) -> bool:
    """True when `text` is a well-formed number of `scheme` (format, fixed part, check digit)."""
    try:
        validate_tracking(scheme, text)
    except InvalidTrackingNumber:
        return False
    return True
