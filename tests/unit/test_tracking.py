"""Carrier tracking numbers: published examples, independent re-implementations of each
check digit, round trips, what each scheme does and does not detect, ranges, config.

Sources of the examples:
- S10: the rule and the worked example 47312482 → 9 from the UPU S10 article (Wikipedia,
  "S10 (UPU standard)"); RR123456785GB and EA123456785US follow from it (12345678 → 5).
- UPS: 1Z999AA10123456784 is UPS's published sample number; the other valid/invalid
  numbers are the test numbers of jkeen/tracking_number_data (couriers/ups.json).
- DHL Express mod 7 and USPS mod 10 (3, 1): test numbers of jkeen/tracking_number_data
  (couriers/dhl.json, couriers/usps.json).
- SSCC: the GS1 General Specifications example (00) 1 0614141 123456789 7, cross-checked
  with biip.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.errors import DomainError
from server.domain.tracking import (
    InvalidTrackingNumber,
    TrackingRangeExhausted,
    TrackingScheme,
    format_tracking,
    is_valid_tracking,
    mod7_check_digit,
    mod10_check_digit,
    next_tracking,
    s10_check_digit,
    scheme_from_mapping,
    ups_check_digit,
    validate_tracking,
)

# ---------------------------------------------------------------- independent versions
# Written from the published descriptions, differently from the module, so a shared
# mistake is unlikely.


def ref_s10(serial8: str) -> int:
    """UPU S10 as the jkeen/tracking_number_data reference states it (by remainder)."""
    total = 0
    for digit, weight in zip(serial8, [8, 6, 4, 2, 3, 5, 9, 7]):
        total += int(digit) * weight
    remainder = total % 11
    if remainder == 1:
        return 0
    if remainder == 0:
        return 5
    return 11 - remainder


def ref_ups(full18: str) -> int:
    """UPS over the full number: indices 2..16, odd indices doubled, letters (ASCII-3) % 10."""
    odd = even = 0
    for index in range(2, 17):
        ch = full18[index]
        value = int(ch) if ch.isdigit() else (ord(ch) - 3) % 10
        if index % 2:
            odd += value
        else:
            even += value
    total = odd * 2 + even
    return 0 if total % 10 == 0 else 10 - total % 10


def ref_mod10(body: str) -> int:
    """GS1/USPS: sum of digits in odd positions from the right times 3 plus the others."""
    rev = body[::-1]
    total = 3 * sum(int(d) for d in rev[0::2]) + sum(int(d) for d in rev[1::2])
    return -total % 10


# ---------------------------------------------------------------- schemes used below

ROYAL_MAIL = scheme_from_mapping({"name": "royal-mail", "kind": "s10", "service_indicator": "RR",
                                  "country": "GB", "range": {"start": 0, "end": 99_999_999}})
UPS = scheme_from_mapping({"name": "ups", "kind": "ups_1z", "shipper": "999AA1",
                           "service_code": "01", "range": [0, 9_999_999]})
DHL = scheme_from_mapping({"name": "dhl-express", "kind": "numeric_mod7", "prefix": "",
                           "length": 10, "range": [0, 999_999_999]})
USPS = scheme_from_mapping({"name": "usps", "kind": "numeric_mod10", "prefix": "0307179000",
                            "length": 20, "range": [0, 999_999_999]})
SSCC = scheme_from_mapping({"name": "pallets", "kind": "sscc", "extension_digit": "1",
                            "company_prefix": "0614141", "range": [0, 999_999_999]})
ALL = [ROYAL_MAIL, UPS, DHL, USPS, SSCC]


# ---------------------------------------------------------------- published examples


@pytest.mark.parametrize(("serial", "check"), [("47312482", 9), ("12345678", 5)])
def test_s10_check_digit_published(serial, check):
    assert s10_check_digit(serial) == check == ref_s10(serial)


@pytest.mark.parametrize("number", ["RR123456785GB", "EA123456785US", "rr 1234 5678 5 gb"])
def test_s10_known_numbers_validate(number):
    scheme = scheme_from_mapping({"name": "x", "kind": "s10", "service_indicator": number[:2],
                                  "country": number.replace(" ", "")[-2:], "range": [0, 10]})
    assert validate_tracking(scheme, number) == 12345678


def test_s10_special_cases_10_to_0_and_11_to_5():
    # S = 0 (mod 11) → 11 → 5; S = 1 (mod 11) → 10 → 0. 00000000 has S = 0;
    # 00000040 has S = 4*9 = 36 = 3 (mod 11) → 8; 00060000 has S = 6*2 = 12 = 1 → 0.
    assert s10_check_digit("00000000") == 5 == ref_s10("00000000")
    assert s10_check_digit("00000040") == 8
    assert s10_check_digit("00060000") == 0 == ref_s10("00060000")
    assert format_tracking(ROYAL_MAIL, 60000) == "RR000600000GB"


def test_s10_next_builds_the_published_number():
    assert next_tracking(ROYAL_MAIL, 12_345_677) == ("RR123456785GB", 12_345_678)


@pytest.mark.parametrize("number", ["1Z999AA10123456784", "1Z5R89390357567127",
                                    "1Z879E930346834440", "1Z410E7W0392751591",
                                    "1Z8V92A70367203024"])
def test_ups_published_numbers(number):
    assert ups_check_digit(number[2:17]) == int(number[17]) == ref_ups(number)
    scheme = TrackingScheme(name="u", kind="ups_1z", shipper=number[2:8],
                            service_code=number[8:10], range_start=0, range_end=9_999_999)
    assert validate_tracking(scheme, number) == int(number[10:17])


def test_ups_next_builds_the_sample_number():
    assert next_tracking(UPS, 2_345_677) == ("1Z999AA10123456784", 2_345_678)
    assert not is_valid_tracking(UPS, "1Z999AA10123456785")
    assert is_valid_tracking(UPS, "1z 999 aa1 01 2345 6784")


def test_ups_published_invalid():
    assert ups_check_digit("111111111111111") != 1


@pytest.mark.parametrize("number", ["3318810025", "8487135506", "1099255990", "3821724944",
                                    "3318810036", "3318810014", "73891051146"])
def test_dhl_mod7_published_valid(number):
    assert mod7_check_digit(number[:-1]) == int(number[-1])


@pytest.mark.parametrize("number", ["3318810010", "3318810034", "3318810011"])
def test_dhl_mod7_published_invalid(number):
    assert not is_valid_tracking(DHL, number)


@pytest.mark.parametrize("number", ["03071790000523483741", "71123456789123456787",
                                    "9361289878700317633795", "9400111201080805483016",
                                    "9405803699300124287899"])
def test_usps_mod10_published_valid(number):
    assert mod10_check_digit(number[:-1]) == int(number[-1]) == ref_mod10(number[:-1])


def test_usps_scheme_validates_published_number():
    assert validate_tracking(USPS, "0307 1790 0005 2348 3741") == 52348374
    with pytest.raises(InvalidTrackingNumber) as err:
        validate_tracking(USPS, "0307 1790 0005 2348 3742")
    assert err.value.code == "bad_check_digit"


def test_sscc_gs1_example_and_biip():
    import biip.sscc as biip_sscc
    assert format_tracking(SSCC, 123456789) == "106141411234567897"
    for serial in (0, 1, 99, 123456789, 999_999_999, 500_000_001):
        code = format_tracking(SSCC, serial)
        assert biip_sscc.Sscc.parse(code).value == code   # biip raises on a wrong digit
        assert validate_tracking(SSCC, code) == serial


# ---------------------------------------------------------------- round trips

serial_and_scheme = st.sampled_from(ALL).flatmap(
    lambda s: st.tuples(st.just(s), st.integers(s.range_start, s.range_end)))


@settings(max_examples=300, deadline=None)
@given(serial_and_scheme)
def test_next_then_validate_round_trip(case):
    scheme, serial = case
    number, got = next_tracking(scheme, serial - 1 if serial > scheme.range_start else None)
    assert got == serial
    assert validate_tracking(scheme, number, check_range=True) == serial
    assert validate_tracking(scheme, " ".join(number.lower())) == serial
    if scheme.kind == "s10":
        assert number[10] == str(ref_s10(number[2:10]))
    elif scheme.kind == "ups_1z":
        assert number[17] == str(ref_ups(number))
    elif scheme.kind == "numeric_mod7":
        assert int(number[-1]) == int(number[:-1]) % 7
    else:
        assert number[-1] == str(ref_mod10(number[:-1]))


# ---------------------------------------------------------------- what each scheme catches


def _substitutions(number: str, positions):
    for i in positions:
        for d in "0123456789":
            if d != number[i]:
                yield i, int(number[i]), int(d), number[:i] + d + number[i + 1:]


def _transpositions(number: str, positions):
    for i in positions:
        j = i + 1
        if j in positions and number[i] != number[j]:
            yield int(number[i]), int(number[j]), number[:i] + number[j] + number[i] + number[j + 1:]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([USPS, SSCC]), st.integers(0, 999_999_999))
def test_gs1_mod10_catches_every_single_digit_typo(scheme, serial):
    number = format_tracking(scheme, serial)
    for _, _, _, typo in _substitutions(number, range(len(number))):
        assert not is_valid_tracking(scheme, typo), typo
        assert mod10_check_digit(typo[:-1]) != int(typo[-1]), typo   # the digit itself, too


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 999_999_999))
def test_gs1_mod10_transpositions_caught_except_digits_five_apart(serial):
    # The 3,1 weights change the sum by 2*(a-b): invisible exactly when |a - b| = 5.
    number = format_tracking(USPS, serial)
    for a, b, swapped in _transpositions(number, range(len(number) - 1)):
        assert (mod10_check_digit(swapped[:-1]) == int(swapped[-1])) == (abs(a - b) == 5)
    for a, b, swapped in _transpositions(number, range(10, 19)):   # inside the serial
        assert is_valid_tracking(USPS, swapped) == (abs(a - b) == 5), swapped


def test_gs1_mod10_blind_spot_example():
    # 0 and 5 swapped next to each other: a known weakness of every 3,1 code.
    assert ref_mod10("05") == ref_mod10("50") == mod10_check_digit("05") == mod10_check_digit("50")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 9_999_999))
def test_ups_typos_and_transpositions(serial):
    number = format_tracking(UPS, serial)
    package = range(10, 17)   # the digits we allocate
    for i, old, new, typo in _substitutions(number, list(package) + [17]):
        doubled = i % 2 == 1 and i != 17
        caught = not is_valid_tracking(UPS, typo)
        # Doubling mod 10 maps d and d+5 to the same value: the one blind spot.
        assert caught == (not doubled or abs(old - new) != 5), typo
    for _, _, swapped in _transpositions(number, package):
        assert not is_valid_tracking(UPS, swapped), swapped   # weights 1,2: change = a - b


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 99_999_999))
def test_s10_typos_caught_unless_the_sum_moves_between_residues_0_and_6(serial):
    number = format_tracking(ROYAL_MAIL, serial)
    weights = dict(zip(range(2, 10), [8, 6, 4, 2, 3, 5, 9, 7]))

    def residue(text):
        return sum(int(text[i]) * w for i, w in weights.items()) % 11

    for _, _, _, typo in _substitutions(number, range(2, 11)):
        blind = {residue(number), residue(typo)} == {0, 6} and typo[10] == number[10]
        assert is_valid_tracking(ROYAL_MAIL, typo) == blind, typo
    for _, _, swapped in _transpositions(number, range(2, 10)):
        blind = {residue(number), residue(swapped)} == {0, 6}
        assert is_valid_tracking(ROYAL_MAIL, swapped) == blind, swapped


def test_s10_blind_spot_example():
    # 00000000: S = 0 → 5; 90000000: S = 72 = 6 (mod 11) → 11 - 6 = 5. One typo, both valid.
    assert is_valid_tracking(ROYAL_MAIL, "RR000000005GB")
    assert is_valid_tracking(ROYAL_MAIL, "RR900000005GB")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 999_999_999))
def test_mod7_typos_caught_unless_seven_apart(serial):
    number = format_tracking(DHL, serial)
    for i, old, new, typo in _substitutions(number, range(len(number))):
        caught = not is_valid_tracking(DHL, typo)
        if i == len(number) - 1:
            assert caught   # the check digit itself: any other digit is wrong
        else:
            assert caught == (abs(old - new) != 7), typo   # 10^k is never 0 mod 7
    for a, b, swapped in _transpositions(number, range(len(number) - 1)):
        assert is_valid_tracking(DHL, swapped) == (abs(a - b) == 7), swapped


# ---------------------------------------------------------------- format errors


@pytest.mark.parametrize(("scheme", "text", "code"), [
    (ROYAL_MAIL, "RR123456785US", "wrong_tracking_prefix"),
    (ROYAL_MAIL, "CP123456785GB", "wrong_tracking_prefix"),
    (ROYAL_MAIL, "RR12345678GB", "invalid_tracking_format"),
    (ROYAL_MAIL, "RR123456784GB", "bad_check_digit"),
    (UPS, "1Z999AA20123456784", "wrong_tracking_prefix"),
    (UPS, "2Z999AA10123456784", "invalid_tracking_format"),
    (UPS, "1Z999AA1012345678", "invalid_tracking_format"),
    (USPS, "0307179001052348374", "invalid_tracking_format"),
    (USPS, "03071790010523483741", "wrong_tracking_prefix"),
    (SSCC, "006141411234567897", "wrong_tracking_prefix"),
    (SSCC, "106141411234567898", "bad_check_digit"),
    (DHL, "33188100２5", "invalid_tracking_format"),   # a full-width digit is not a digit
    (DHL, "", "invalid_tracking_format"),
])
def test_validate_refuses(scheme, text, code):
    with pytest.raises(InvalidTrackingNumber) as err:
        validate_tracking(scheme, text)
    assert err.value.code == code
    assert isinstance(err.value, DomainError)


def test_validate_refuses_non_text_and_out_of_range_on_request():
    with pytest.raises(InvalidTrackingNumber):
        validate_tracking(DHL, 3318810025)
    small = scheme_from_mapping({"name": "s", "kind": "numeric_mod7", "length": 10,
                                 "range": [100, 200]})
    number = format_tracking(DHL, 300)
    assert validate_tracking(small, number) == 300
    with pytest.raises(InvalidTrackingNumber) as err:
        validate_tracking(small, number, check_range=True)
    assert err.value.code == "tracking_outside_range"


# ---------------------------------------------------------------- ranges


def test_range_is_used_in_order_then_refused():
    scheme = scheme_from_mapping({"name": "dpd-block-7", "kind": "numeric_mod10",
                                  "prefix": "09", "length": 14, "range": [5, 7]})
    issued, last = [], None
    for _ in range(3):
        number, last = next_tracking(scheme, last)
        issued.append((number, last))
    assert [s for _, s in issued] == [5, 6, 7]
    assert len({n for n, _ in issued}) == 3
    assert issued[0][0] == "09" + "00000000005" + str(ref_mod10("0900000000005"))
    with pytest.raises(TrackingRangeExhausted) as err:
        next_tracking(scheme, last)
    assert err.value.code == "tracking_range_exhausted"
    assert err.value.status == 409
    assert err.value.detail == {"scheme": "dpd-block-7", "last_serial": 7,
                                "range_start": 5, "range_end": 7}


def test_range_exhausted_when_last_serial_is_past_the_end():
    with pytest.raises(TrackingRangeExhausted):
        next_tracking(UPS, 9_999_999)
    scheme = TrackingScheme(name="one", kind="s10", service_indicator="CP", country="NL",
                            range_start=42, range_end=42)
    assert next_tracking(scheme, None) == ("CP00000042" + str(ref_s10("00000042")) + "NL", 42)
    with pytest.raises(TrackingRangeExhausted):
        next_tracking(scheme, 42)
    with pytest.raises(TrackingRangeExhausted):
        next_tracking(scheme, 1_000)


def test_last_serial_below_a_new_block_starts_at_its_start():
    scheme = scheme_from_mapping({"name": "b", "kind": "s10", "service_indicator": "RR",
                                  "country": "GB", "start": 20_000_000, "end": 29_999_999})
    assert next_tracking(scheme, 19_999_999)[1] == 20_000_000
    assert next_tracking(scheme, 3)[1] == 20_000_000
    assert next_tracking(scheme, 20_000_000)[1] == 20_000_001


def test_format_refuses_a_serial_outside_the_range():
    with pytest.raises(ValueError, match="outside"):
        format_tracking(UPS, 10_000_000)
    with pytest.raises(ValueError, match="outside"):
        format_tracking(UPS, -1)


# ---------------------------------------------------------------- bad config

_S10 = {"name": "rm", "kind": "s10", "service_indicator": "RR", "country": "GB",
        "range": [0, 10]}


@pytest.mark.parametrize(("changes", "message"), [
    ({"kind": "fedex"}, "unknown kind"),
    ({"name": ""}, "needs a name"),
    ({"colour": "red"}, "unknown key"),
    ({"range": [10, 5]}, "range_start 10 is after range_end 5"),
    ({"range": [0, 100_000_000]}, "does not fit in 8 serial digits"),
    ({"range": [-1, 5]}, "range_start must be a whole number"),
    ({"range": ["0", 5]}, "range_start must be a whole number"),
    ({"range": [True, 5]}, "range_start must be a whole number"),
    ({"range": [1, 2, 3]}, "range must be"),
    ({"range": {"start": 1}}, "exactly start and end"),
    ({"service_indicator": "R1"}, "two letters"),
    ({"service_indicator": "RRR"}, "two letters"),
    ({"country": "G"}, "two letters"),
    ({"prefix": "12"}, "prefix does not apply"),
    ({"start": 1}, "given twice"),
])
def test_bad_s10_config(changes, message):
    data = {**_S10, **changes}
    with pytest.raises(ValueError, match=message):
        scheme_from_mapping(data)


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "u", "kind": "ups_1z", "shipper": "999AA", "service_code": "01",
      "range": [0, 1]}, "shipper must be 6"),
    ({"name": "u", "kind": "ups_1z", "shipper": "999AA!", "service_code": "01",
      "range": [0, 1]}, "shipper must be 6"),
    ({"name": "u", "kind": "ups_1z", "shipper": "999AA1", "service_code": "1",
      "range": [0, 1]}, "service_code must be 2"),
    ({"name": "u", "kind": "ups_1z", "shipper": "999AA1", "service_code": "01",
      "range": [0, 10_000_000]}, "does not fit in 7"),
    ({"name": "u", "kind": "ups_1z", "shipper": "999AA1", "service_code": "01",
      "country": "GB", "range": [0, 1]}, "country does not apply"),
    ({"name": "d", "kind": "numeric_mod7", "prefix": "JD", "length": 12,
      "range": [0, 1]}, "prefix must be digits"),
    ({"name": "d", "kind": "numeric_mod7", "prefix": "12", "length": 3,
      "range": [0, 1]}, "length must be an integer from 6"),
    ({"name": "d", "kind": "numeric_mod10", "prefix": "123456", "length": 7,
      "range": [0, 1]}, "leaves no room"),
    ({"name": "d", "kind": "numeric_mod10", "prefix": "1", "length": "12",
      "range": [0, 1]}, "length must be an integer"),
    ({"name": "d", "kind": "numeric_mod10", "prefix": "1234", "length": 8,
      "range": [0, 1000]}, "does not fit in 3"),
    ({"name": "d", "kind": "numeric_mod10", "range": [0, 1]}, "length must be"),
    ({"name": "p", "kind": "sscc", "extension_digit": "12", "company_prefix": "0614141",
      "range": [0, 1]}, "extension_digit must be one digit"),
    ({"name": "p", "kind": "sscc", "extension_digit": "1", "company_prefix": "06141",
      "range": [0, 1]}, "company_prefix must be 6 to 12"),
    ({"name": "p", "kind": "sscc", "extension_digit": "1", "company_prefix": "0614141",
      "range": [0, 1_000_000_000]}, "does not fit in 9"),
    ({"name": "p", "kind": "sscc", "extension_digit": "1", "company_prefix": "0614141"},
     "missing range_start"),
])
def test_bad_config_other_kinds(data, message):
    with pytest.raises(ValueError, match=message):
        scheme_from_mapping(data)


def test_config_not_a_mapping():
    with pytest.raises(ValueError, match="must be a mapping"):
        scheme_from_mapping(["s10"])


def test_config_letters_are_upper_cased_and_scheme_is_frozen():
    scheme = scheme_from_mapping({**_S10, "service_indicator": "cp", "country": "nl"})
    assert (scheme.service_indicator, scheme.country, scheme.capacity) == ("CP", "NL", 11)
    with pytest.raises(AttributeError):
        scheme.range_end = 99  # type: ignore[misc]


def test_check_digit_functions_refuse_bad_input():
    for call, arg in [(s10_check_digit, "1234567"), (s10_check_digit, "1234567a"),
                      (ups_check_digit, "99AA10123456784"[:14]), (ups_check_digit, "999aa1012345678"),
                      (mod7_check_digit, ""), (mod10_check_digit, "12a")]:
        with pytest.raises(ValueError):
            call(arg)
