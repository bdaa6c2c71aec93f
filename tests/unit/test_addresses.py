"""Shipping address rules (server/domain/addresses.py): country, phone and postcode checks,
and the normalisation intake applies before storing (the original text kept)."""
from __future__ import annotations

import pytest

from server.domain.addresses import (
    address_problems,
    country_code,
    normalise_address,
    phone_e164,
    postcode_text,
)
from server.domain.orders import Address
from server.domain.validation import normalise_draft

from .test_domain import GOOD_ADDRESS, order


def problems(**changes) -> list[tuple[str, str]]:
    address = Address(**{**GOOD_ADDRESS.__dict__, **changes})
    return [(p.field, p.code) for p in address_problems(normalise_address(address)[0])]


# ------------------------------------------------------------------------------ country

@pytest.mark.parametrize("country", ["GB", "US", "DE", "CN", "TW", "JP", "IE", "XK"])
def test_assigned_countries_pass(country: str) -> None:
    assert ("ship_to.country", "bad_country") not in problems(country=country, postcode="")


@pytest.mark.parametrize("country", ["ZZ", "XX", "AA", "QZ", "XA", "GBR", "G", "12", "--",
                                     "United Kingdom", ""])
def test_unassigned_or_malformed_countries_are_refused(country: str) -> None:
    assert ("ship_to.country", "bad_country") in problems(country=country)


def test_country_is_upper_cased_and_uk_means_gb() -> None:
    assert country_code(" gb ") == "GB"
    assert country_code("uk") == "GB"
    assert country_code("zz") == "ZZ"        # upper-cased, but still refused
    assert problems(country="uk") == []


# -------------------------------------------------------------------------------- phone

@pytest.mark.parametrize("phone, country, e164", [
    ("+44 7700 900123", "GB", "+447700900123"),       # Ofcom's drama range: a full number
    ("07700 900123", "GB", "+447700900123"),           # national form, read for GB
    ("020 7946 0958", "GB", "+442079460958"),
    ("(212) 555-0148", "US", "+12125550148"),
    ("+1 613 555 0123", "CA", "+16135550123"),
    ("030 23125105", "DE", "+493023125105"),
    ("01 99 00 12 34", "FR", "+33199001234"),
    ("138 0013 8000", "CN", "+8613800138000"),
    ("0912-345-678", "TW", "+886912345678"),
    ("03-1234-5678", "JP", "+81312345678"),
    ("(01) 555 0104", "IE", "+35315550104"),
    ("+447700900123", "DE", "+447700900123"),          # the buyer's own phone abroad
])
def test_good_phones_become_e164(phone: str, country: str, e164: str) -> None:
    assert phone_e164(phone, country) == e164
    assert problems(phone=phone, country=country, postcode="") in (
        [], [("ship_to.postcode", "missing_postcode")])


@pytest.mark.parametrize("phone, country, code", [
    ("12345", "GB", "bad_phone"),                       # a local number, no area code
    ("+44 7700 9001", "GB", "bad_phone"),               # too short
    ("+44 7700 900123 4567", "GB", "bad_phone"),        # too long
    ("555-0100", "US", "bad_phone"),                    # no area code
    ("+999 1234 5678", "GB", "bad_phone"),              # no such country code
    ("0", "DE", "bad_phone"),
    ("call me", "GB", "missing_phone"),
    ("", "CN", "missing_phone"),
])
def test_bad_phones_are_refused(phone: str, country: str, code: str) -> None:
    assert ("ship_to.phone", code) in problems(phone=phone, country=country)
    assert phone_e164(phone, country) is None


def test_a_bad_phone_is_kept_as_sent() -> None:
    address, original = normalise_address(Address(phone="12345", country="GB"))
    assert address.phone == "12345" and "phone" not in original


# ----------------------------------------------------------------------------- postcode

@pytest.mark.parametrize("country, postcode", [
    ("GB", "LE1 6EJ"), ("GB", "EC1Y 8SY"), ("GB", "GIR 0AA"), ("US", "11249"),
    ("US", "22162-1010"), ("CA", "K1A 0B1"), ("DE", "10435"), ("FR", "75010"),
    ("NL", "1016 GV"), ("BE", "1000"), ("ES", "28039"), ("IT", "00144"), ("IE", "D08 X2R4"),
    ("IE", "T12 R2C8"), ("CN", "100022"), ("TW", "110"), ("TW", "10617"), ("JP", "154-0023"),
    ("AU", "2060"), ("PL", "00-950"), ("HK", ""), ("HK", "anything"), ("AE", ""),
])
def test_good_postcodes_pass(country: str, postcode: str) -> None:
    assert problems(country=country, postcode=postcode, phone="+447700900123") == []


@pytest.mark.parametrize("country, postcode, code", [
    ("GB", "XXXX", "bad_postcode"), ("GB", "LE1", "bad_postcode"), ("GB", "", "missing_postcode"),
    ("US", "1124", "bad_postcode"), ("US", "ABCDE", "bad_postcode"),
    ("CA", "D1A 0B1", "bad_postcode"),      # D is not used as a first letter
    ("DE", "1043", "bad_postcode"), ("FR", "7501", "bad_postcode"),
    ("NL", "0123 AB", "bad_postcode"), ("NL", "1016 SA", "bad_postcode"),
    ("BE", "10000", "bad_postcode"), ("CN", "10002", "bad_postcode"),
    ("CN", "", "missing_postcode"), ("JP", "15400", "bad_postcode"),
    ("AU", "20600", "bad_postcode"), ("IE", "D08X2", "bad_postcode"),
])
def test_bad_postcodes_are_refused(country: str, postcode: str, code: str) -> None:
    found = problems(country=country, postcode=postcode, phone="+447700900123")
    assert found == [("ship_to.postcode", code)]


def test_postcode_message_gives_an_example() -> None:
    [problem] = address_problems(Address(**{**GOOD_ADDRESS.__dict__, "postcode": "XXXX"}))
    assert "EC1Y 8SY" in problem.message and "'XXXX'" in problem.message


def test_an_ireland_address_without_eircode_is_fine() -> None:
    assert problems(country="IE", postcode="", phone="+35315550104") == []


@pytest.mark.parametrize("country, sent, written", [
    ("GB", "le16ej", "LE1 6EJ"), ("GB", " ec1y   8sy ", "EC1Y 8SY"), ("GB", "gir0aa", "GIR 0AA"),
    ("CA", "k1a0b1", "K1A 0B1"), ("IE", "d08x2r4", "D08 X2R4"), ("NL", "1016gv", "1016 GV"),
    ("JP", "1540023", "154-0023"), ("PL", "00950", "00-950"), ("PT", "2725079", "2725-079"),
    ("US", "11249", "11249"), ("DE", "10435", "10435"),
    ("GB", "not a code", "NOT A CODE"),       # no layout guessed for what does not fit
])
def test_postcode_layout(country: str, sent: str, written: str) -> None:
    assert postcode_text(sent, country) == written


# -------------------------------------------------------------------------- normalising

def test_normalise_keeps_the_original_of_what_changed() -> None:
    sent = Address(name="Ann", phone="07700 900123", address1="1 Road", city="Leeds",
                   postcode="ls1 1aa", country="gb")
    address, original = normalise_address(sent)
    assert (address.phone, address.postcode, address.country) == (
        "+447700900123", "LS1 1AA", "GB")
    assert original == {"phone": "07700 900123", "postcode": "ls1 1aa", "country": "gb"}
    assert normalise_address(address) == (address, {})          # idempotent


def test_normalise_draft_records_originals_in_extra() -> None:
    draft = order(ship_to=Address(**{**GOOD_ADDRESS.__dict__, "postcode": "ls11aa"}))
    done = normalise_draft(draft)
    assert done.ship_to.postcode == "LS1 1AA"
    assert done.extra["ship_to_original"] == {"phone": "+44 7700 900123", "postcode": "ls11aa"}
    assert normalise_draft(order(ship_to=done.ship_to)).extra == {}


def test_chinese_and_taiwanese_addresses_pass_unchanged() -> None:
    cn = Address(name="张伟", phone="+8613800138000",
                 address1="朝阳区建国路93号万达广场8号楼1203室", city="北京市",
                 postcode="100022", country="CN")
    tw = Address(name="陳怡君", phone="+886912345678", address1="信義區松仁路100號8樓",
                 city="臺北市", postcode="110", country="TW")
    for address in (cn, tw):
        assert normalise_address(address) == (address, {})
        assert address_problems(address) == []


@pytest.mark.parametrize("sent, e164", [
    ("+447700900123", "+447700900123"), ("+8613800138000", "+8613800138000"),
    ("+886912345678", "+886912345678"), ("+35315550104", "+35315550104"),
    ("+390612345678", "+390612345678"),      # Italy keeps its leading zero: full parse
    ("+112125550148", "+12125550148"),       # a trunk 1 after +1: the full parse reads it
    ("+4412345", None), ("+9991234567", None),
])
def test_e164_as_sent_agrees_with_the_full_parse(sent: str, e164: str | None) -> None:
    from server.domain import addresses
    addresses._COMPLETE.clear()
    assert phone_e164(sent, "GB") == e164
    assert phone_e164(sent, "GB") == e164           # and again, remembered
