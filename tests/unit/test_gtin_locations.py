"""GS1 check digits, GTIN-14 normalisation, UPC-E expansion, bin location codes."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.gtin import check_digit, expand_upce, is_valid_gtin, normalize_gtin
from server.domain.locations import LocationCode, aisle_index, parse_location, pick_sequence


# ------------------------------------------------------------------------------ GTIN

@pytest.mark.parametrize("body, check", [
    ("950600021001", 8),        # catalogue.csv, WP-TEE-BLK-M
    ("950600023011", 5),        # catalogue.csv, WP-NOTE-A5-DOT
    ("0950600013435", 2),       # GS1's published example 09506000134352
    ("03600029145", 2),         # UPC-A 036000291452
    ("9638507", 4),             # GTIN-8 96385074
    ("400638133393", 1),        # EAN-13 4006381333931
])
def test_check_digit_known_codes(body, check):
    assert check_digit(body) == check


def test_check_digit_rejects_non_digits():
    for bad in ("", "12a4", "１２３", "12 3"):
        with pytest.raises(ValueError):
            check_digit(bad)


@pytest.mark.parametrize("text, gtin14", [
    ("9506000210018", "09506000210018"),
    ("09506000134352", "09506000134352"),
    ("036000291452", "00036000291452"),
    ("96385074", "00000096385074"),
    ("  4006381333931\n", "04006381333931"),
])
def test_normalize_gtin_pads_to_14(text, gtin14):
    assert normalize_gtin(text) == gtin14
    assert is_valid_gtin(text)


@pytest.mark.parametrize("text, words", [
    ("950600021001X", "digits only"),
    ("", "digits only"),
    ("9506000210018-", "digits only"),
    ("٩٥٠٦٠٠٠٢١٠٠١٨", "digits only"),           # Arabic-Indic digits are not GS1 digits
    ("95060002100", "11 digits"),
    ("950600021001800", "15 digits"),
    ("9506000210019", "check digit 9, expected 8"),
    ("036000291453", "check digit 3, expected 2"),
])
def test_normalize_gtin_refuses(text, words):
    with pytest.raises(ValueError, match=words):
        normalize_gtin(text)
    assert not is_valid_gtin(text)


def test_normalize_gtin_refuses_non_text():
    with pytest.raises(ValueError):
        normalize_gtin(9506000210018)       # type: ignore[arg-type]


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_every_ean13_body_with_its_check_digit_is_accepted(body):
    code = body + str(check_digit(body))
    assert normalize_gtin(code) == "0" + code


@given(st.text(alphabet="0123456789", min_size=12, max_size=12), st.integers(1, 9))
def test_every_wrong_check_digit_is_refused(body, offset):
    wrong = (check_digit(body) + offset) % 10
    with pytest.raises(ValueError, match="check digit"):
        normalize_gtin(body + str(wrong))


@given(st.text(alphabet="0123456789", min_size=13, max_size=13))
def test_gtin14_bodies_round_trip(body):
    code = body + str(check_digit(body))
    assert normalize_gtin(code) == code


# ----------------------------------------------------------------------------- UPC-E

@pytest.mark.parametrize("upce, upca", [
    ("04252614", "042100005264"),   # d6 = 1: manufacturer 42100, product 00526
    ("01234565", "012345000065"),   # d6 = 6: 12345 0000 6
    ("01234531", None),             # d6 = 3 (check digit computed below)
    ("01234542", None),             # d6 = 4
    ("01234500", None),             # d6 = 0
    ("11234585", None),             # number system 1
])
def test_expand_upce(upce, upca):
    six = upce[1:7]
    last = six[5]
    if last in "012":
        body = upce[0] + six[:2] + last + "0000" + six[2:5]
    elif last == "3":
        body = upce[0] + six[:3] + "00000" + six[3:5]
    elif last == "4":
        body = upce[0] + six[:4] + "00000" + six[4]
    else:
        body = upce[0] + six[:5] + "0000" + last
    code = upce[:7] + str(check_digit(body))       # give the example its right check digit
    if upca:
        assert code == upce                         # the published example is consistent
    expected = upca or body + code[7]
    assert expected[:11] == body
    assert expand_upce(code) == expected
    assert normalize_gtin(expected) == "00" + expected     # the expansion is a valid UPC-A


@pytest.mark.parametrize("bad, words", [
    ("04252615", "check digit 5, expected 4"),
    ("24252614", "number system 2"),
    ("0425261", "exactly 8 digits"),
    ("0425261X", "exactly 8 digits"),
    ("042526144", "exactly 8 digits"),
])
def test_expand_upce_refuses(bad, words):
    with pytest.raises(ValueError, match=words):
        expand_upce(bad)


def _compress_upca(upca: str) -> str | None:
    """Reference UPC-A → UPC-E compression (the usual zero-suppression rules)."""
    system, m, p, check = upca[0], upca[1:6], upca[6:11], upca[11]
    if system not in "01":
        return None
    if m[2] in "012" and m[3:] == "00" and p[:2] == "00":
        six = m[:2] + p[2:] + m[2]
    elif m[3:] == "00" and p[:3] == "000":
        six = m[:3] + p[3:] + "3"
    elif m[4] == "0" and p[:4] == "0000":
        six = m[:4] + p[4] + "4"
    elif p[:4] == "0000" and p[4] in "56789":
        six = m + p[4]
    else:
        return None
    return system + six + check


@given(st.sampled_from("01"), st.text(alphabet="0123456789", min_size=5, max_size=5),
       st.integers(0, 99999))
def test_expand_upce_inverts_compression(system, manufacturer, product):
    body = system + manufacturer + f"{product:05d}"
    upca = body + str(check_digit(body))
    upce = _compress_upca(upca)
    if upce is not None:
        assert expand_upce(upce) == upca


@given(st.sampled_from("01"), st.text(alphabet="0123456789", min_size=6, max_size=6))
def test_every_upce_expands_to_a_valid_upca(system, six):
    probe = system + six + "0"
    try:
        upca = expand_upce(probe)
    except ValueError as err:
        right = str(err)[-1]
        upca = expand_upce(system + six + right)
    assert len(upca) == 12 and is_valid_gtin(upca)


# ------------------------------------------------------------------------- locations

def test_parse_location_fields():
    loc = parse_location("A-03-02-1")
    assert loc == LocationCode(aisle="A", aisle_index=0, bay=3, shelf=2, slot=1,
                               code="A-03-02-1")
    assert str(loc) == "A-03-02-1"


@pytest.mark.parametrize("text, code", [
    ("a-3-2-1", "A-03-02-1"),
    ("  B-12-04-10 ", "B-12-04-10"),
    ("AA-112-4-3", "AA-112-04-3"),
    ("C-01-01-02", "C-01-01-2"),
    ("Z-0-0-0", "Z-00-00-0"),
])
def test_parse_location_canonical_code(text, code):
    assert parse_location(text).code == code
    assert parse_location(code).code == code


@pytest.mark.parametrize("aisle, index", [
    ("A", 0), ("B", 1), ("Z", 25), ("AA", 26), ("AZ", 51), ("BA", 52), ("ZZ", 701),
    ("AAA", 702),
])
def test_aisle_index(aisle, index):
    assert aisle_index(aisle) == index
    assert parse_location(f"{aisle}-01-01-1").aisle_index == index


@pytest.mark.parametrize("bad", [
    "", "A-01-02", "A-01-02-3-4", "1-01-02-3", "A--02-3", "A-01-02-", "A 01 02 3",
    "A-1000-01-1", "A-01-100-1", "A-01-01-100", "AAAA-01-01-1", "Ä-01-02-3",
    "A-٠١-02-3", "ﬀ-01-02-3", "A-+1-02-3",
])
def test_parse_location_refuses(bad):
    with pytest.raises(ValueError, match="location"):
        parse_location(bad)


def test_parse_location_refuses_non_text():
    with pytest.raises(ValueError):
        parse_location(None)        # type: ignore[arg-type]


def test_pick_sequence_walks_an_s_shape():
    walk = ["A-01-01-1", "A-01-01-2", "A-01-02-1", "A-02-01-1", "A-999-01-1",
            "B-999-01-1", "B-03-01-1", "B-03-04-2", "B-03-04-3", "B-01-01-1",
            "C-00-01-1", "C-01-01-2", "Z-05-01-1", "Z-01-99-99", "AA-01-01-1", "AB-02-01-1",
            "AB-01-01-1"]
    shuffled = sorted(walk, key=lambda c: hash(c))
    assert sorted(shuffled, key=pick_sequence) == walk


def test_pick_sequence_same_place_same_number():
    assert pick_sequence("a-1-2-3") == pick_sequence("A-01-02-3") \
        == pick_sequence(parse_location("A-01-02-3"))


locations = st.builds(lambda a, b, s, t: f"{a}-{b:02d}-{s:02d}-{t}",
                      st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=3),
                      st.integers(0, 999), st.integers(0, 99), st.integers(0, 99))


@given(st.lists(locations, min_size=2, max_size=30))
def test_pick_sequence_sorts_like_the_tuple_key(codes):
    def key(code: str):
        loc = parse_location(code)
        bay = loc.bay if loc.aisle_index % 2 == 0 else -loc.bay
        return (loc.aisle_index, bay, loc.shelf, loc.slot)
    by_number = sorted(codes, key=pick_sequence)
    assert [key(c) for c in by_number] == sorted(key(c) for c in codes)
