"""Carton choice, packer layout, packing instructions and the scale check (pure domain)."""
from __future__ import annotations

from decimal import Decimal
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.cartons import (
    HANDLING_RULES,
    CartonType,
    NoCartonFits,
    PackItem,
    PackResult,
    Placement,
    check_weight,
    choose_carton,
    pack_into,
    plan_parcels,
    packing_instructions,
)

SMALL = CartonType("S", 200, 150, 100, max_weight_g=5000, tare_g=150)
MEDIUM = CartonType("M", 300, 200, 200, max_weight_g=10000, tare_g=250)
LARGE = CartonType("L", 400, 300, 300, max_weight_g=20000, tare_g=400)
CARTONS = [LARGE, SMALL, MEDIUM]  # out of order on purpose


def item(sku="A", l=10, w=10, h=10, g=100, qty=1, flags=()):  # noqa: E741
    return PackItem(sku, l, w, h, g, qty, frozenset(flags))


def assert_valid_layout(result: PackResult, items: list[PackItem]) -> None:
    c = result.carton
    assert len(result.placements) == sum(i.quantity for i in items)
    for p in result.placements:
        assert p.x >= 0 and p.y >= 0 and p.z >= 0
        assert p.x + p.l <= c.length_mm
        assert p.y + p.w <= c.width_mm
        assert p.z + p.h <= c.height_mm
        src = items[p.line]
        assert src.sku == p.sku and 1 <= p.unit <= src.quantity
        assert sorted((p.l, p.w, p.h)) == sorted(src.dims)
        if "liquid" in src.flags:
            assert p.h == src.height_mm
    for a, b in combinations(result.placements, 2):
        assert not a.overlaps(b), (a, b)
    keys = {(p.line, p.unit) for p in result.placements}
    assert len(keys) == len(result.placements)


# -- choose_carton ---------------------------------------------------------------------

def test_smallest_carton_that_fits_is_chosen_whatever_the_config_order():
    items = [item("BOOK", 150, 100, 30, 400)]
    result = choose_carton(items, CARTONS)
    assert result.carton is SMALL
    assert result.net_weight_g == 400
    assert result.gross_weight_g == 400 + SMALL.tare_g
    assert result.placements == (Placement("BOOK", 0, 1, 0, 0, 0, 150, 100, 30),)


def test_item_filling_the_carton_exactly_fits():
    items = [item("BOX", 200, 150, 100, 1000)]
    result = choose_carton(items, CARTONS)
    assert result.carton is SMALL
    assert result.fill_ratio == 1.0
    assert_valid_layout(result, items)


def test_one_mm_too_large_goes_to_next_carton():
    result = choose_carton([item("BOX", 201, 150, 100, 1000)], CARTONS)
    assert result.carton is MEDIUM


def test_item_needing_rotation_is_rotated():
    # given standing 200 mm tall: fits SMALL (200 x 150 x 100) only turned onto its side
    items = [item("POSTER", 100, 150, 200, 300)]
    result = choose_carton(items, CARTONS)
    assert result.carton is SMALL
    (p,) = result.placements
    assert (p.l, p.w, p.h) == (200, 150, 100)
    assert_valid_layout(result, items)


def test_several_units_fill_a_carton_exactly():
    # SMALL is 200 x 150 x 100: 4 x 3 x 2 = 24 cubes of 50 mm
    items = [item("CUBE", 50, 50, 50, 100, qty=24)]
    result = choose_carton(items, CARTONS)
    assert result.carton is SMALL
    assert result.fill_ratio == 1.0
    assert_valid_layout(result, items)
    assert result.gross_weight_g == 24 * 100 + SMALL.tare_g


def test_one_unit_more_than_fits_moves_up_a_size():
    items = [item("CUBE", 50, 50, 50, 100, qty=25)]
    result = choose_carton(items, CARTONS)
    assert result.carton is MEDIUM
    assert_valid_layout(result, items)


def test_mixed_lines_are_all_placed():
    items = [item("A", 100, 80, 60, 200, qty=3), item("B", 30, 30, 120, 50, qty=4),
             item("C", 190, 140, 20, 500)]
    result = choose_carton(items, CARTONS)
    assert_valid_layout(result, items)
    assert {p.sku for p in result.placements} == {"A", "B", "C"}


def test_too_heavy_for_small_goes_to_a_stronger_carton():
    # fits SMALL by size, but 4900 g + 150 g tare > 5000 g
    items = [item("IRON", 100, 100, 50, 4900)]
    result = choose_carton(items, CARTONS)
    assert result.carton is MEDIUM
    assert result.gross_weight_g == 4900 + MEDIUM.tare_g


def test_weight_limit_counts_tare_and_is_inclusive():
    assert pack_into([item("IRON", 10, 10, 10, 4850)], SMALL) is not None
    assert pack_into([item("IRON", 10, 10, 10, 4851)], SMALL) is None


def test_nothing_fits_raises_with_reason_per_carton():
    items = [item("ANVIL", 100, 100, 100, 25000)]
    with pytest.raises(NoCartonFits) as exc:
        choose_carton(items, CARTONS)
    assert exc.value.code == "no_carton_fits"
    assert exc.value.detail == [{"carton": n, "reason": "too_heavy"} for n in ("S", "M", "L")]


def test_item_larger_than_any_carton_is_item_too_large():
    with pytest.raises(NoCartonFits) as exc:
        choose_carton([item("SKI", 1800, 100, 100, 2000)], CARTONS)
    assert {d["reason"] for d in exc.value.detail} == {"item_too_large"}


def test_no_room_when_units_do_not_fit_together():
    with pytest.raises(NoCartonFits) as exc:
        choose_carton([item("BIG", 300, 300, 200, 100, qty=5)], CARTONS)
    assert exc.value.detail[-1] == {"carton": "L", "reason": "no_room"}


def test_ties_in_volume_are_broken_by_name():
    a = CartonType("B-flat", 300, 100, 100, 5000)
    b = CartonType("A-tall", 100, 100, 300, 5000)
    result = choose_carton([item("X", 50, 50, 50)], [a, b])
    assert result.carton is b


def test_liquid_is_never_laid_flat():
    # a 180 mm tall bottle: lying down it would fit SMALL (height 100), upright it needs M
    bottle = item("WINE", 80, 80, 180, 1300, flags={"liquid"})
    result = choose_carton([bottle], CARTONS)
    assert result.carton is MEDIUM
    (p,) = result.placements
    assert p.h == 180
    # the same box without the flag lies down in SMALL
    flat = choose_carton([item("TUBE", 80, 80, 180, 1300)], CARTONS)
    assert flat.carton is SMALL
    assert flat.placements[0].h == 80


def test_liquid_may_still_turn_about_the_vertical_axis():
    carton = CartonType("T", 100, 300, 100, 5000)
    result = pack_into([item("JUG", 300, 100, 90, 1000, flags={"liquid"})], carton)
    assert result is not None
    (p,) = result.placements
    assert (p.l, p.w, p.h) == (100, 300, 90)


def test_liquid_taller_than_every_carton_does_not_fit():
    with pytest.raises(NoCartonFits) as exc:
        choose_carton([item("OIL", 50, 50, 350, 900, flags={"liquid"})], CARTONS)
    assert {d["reason"] for d in exc.value.detail} == {"item_too_large"}


# -- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"l": 0}, "length_mm must be greater than zero"),
    ({"w": -5}, "width_mm must be greater than zero"),
    ({"h": 2.5}, "height_mm must be a whole number"),
    ({"qty": 0}, "quantity must be greater than zero"),
    ({"g": -1}, "weight_g must be zero or more"),
    ({"flags": {"explosive"}}, "unknown handling flag"),
    ({"sku": ""}, "sku must be a non-empty string"),
])
def test_bad_items_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        item(**kwargs)


def test_flags_as_a_bare_string_are_refused():
    with pytest.raises(ValueError, match="not the string"):
        PackItem("A", 1, 1, 1, 1, 1, "liquid")  # type: ignore[arg-type]


@pytest.mark.parametrize("args, match", [
    (("S", 0, 10, 10, 100, 0), "length_mm must be greater than zero"),
    (("S", 10, 10, 10, 100, -1), "tare_g must be zero or more"),
    (("S", 10, 10, 10, 100, 100), "tare_g .* must be below max_weight_g"),
    (("S", 10, True, 10, 100, 0), "width_mm must be a whole number"),
])
def test_bad_cartons_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        CartonType(*args)


def test_no_items_no_cartons_and_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="no items"):
        choose_carton([], CARTONS)
    with pytest.raises(ValueError, match="no carton types"):
        choose_carton([item()], [])
    with pytest.raises(ValueError, match="duplicate carton name"):
        choose_carton([item()], [SMALL, CartonType("S", 1, 1, 1, 10)])


# -- packing instructions --------------------------------------------------------------

def test_no_flags_no_instructions():
    assert packing_instructions([item("A"), item("B")]) == []


def test_instructions_come_from_the_table_once_per_step_with_skus():
    items = [item("VASE", flags={"fragile"}), item("CUP", flags={"fragile", "high_value"}),
             item("OIL", flags={"liquid"})]
    steps = packing_instructions(items)
    assert [s.code for s in steps] == ["bubble_wrap", "void_fill", "mark_fragile",
                                       "sealed_bag", "keep_upright", "tamper_tape"]
    by_code = {s.code: s for s in steps}
    assert by_code["bubble_wrap"].skus == ("CUP", "VASE")
    assert by_code["bubble_wrap"].material == "bubble wrap"
    assert "FRAGILE" in by_code["mark_fragile"].text
    assert by_code["keep_upright"].skus == ("OIL",)
    assert "upright" in by_code["keep_upright"].text.lower()
    assert by_code["tamper_tape"].skus == ("CUP",)
    assert by_code["tamper_tape"].material == "tamper-evident tape"


def test_every_flag_in_the_table_yields_its_rows():
    for flag, rules in HANDLING_RULES.items():
        steps = packing_instructions([item("X", flags={flag})])
        assert [s.code for s in steps] == [r[0] for r in rules]


# -- scale check -----------------------------------------------------------------------

@pytest.mark.parametrize("measured, verdict", [
    (1000, "ok"), (1050, "ok"), (950, "ok"),          # exactly at 5 % is ok
    (1051, "too_heavy"), (949, "too_light"), (0, "too_light"),
])
def test_weight_tolerance_in_percent(measured, verdict):
    check = check_weight(1000, measured, tolerance_pct=5)
    assert check.verdict == verdict
    assert check.ok is (verdict == "ok")
    assert check.difference_g == measured - 1000


def test_weight_tolerance_uses_the_larger_of_percent_and_grams():
    # 2 % of 500 g is 10 g, the 30 g floor wins
    assert check_weight(500, 530, tolerance_pct=2, tolerance_g=30).verdict == "ok"
    assert check_weight(500, 531, tolerance_pct=2, tolerance_g=30).verdict == "too_heavy"
    # 2 % of 10 kg is 200 g, more than the 30 g floor
    assert check_weight(10000, 9800, tolerance_pct=2, tolerance_g=30).verdict == "ok"
    assert check_weight(10000, 9799, tolerance_pct=2, tolerance_g=30).verdict == "too_light"


def test_fractional_percent_is_exact():
    check = check_weight(1000, 1001, tolerance_pct=0.1)
    assert check.allowed_g == Decimal("1")
    assert check.verdict == "ok"


def test_zero_tolerance_needs_exact_weight():
    assert check_weight(700, 700).ok
    assert check_weight(700, 701).verdict == "too_heavy"


@pytest.mark.parametrize("kwargs, match", [
    ({"expected_g": 0}, "expected_g must be greater than zero"),
    ({"measured_g": -1}, "measured_g must be zero or more"),
    ({"tolerance_pct": -1}, "tolerance_pct must be zero or more"),
    ({"tolerance_g": -1}, "tolerance_g must be zero or more"),
    ({"tolerance_pct": float("nan")}, "tolerance_pct must be zero or more"),
])
def test_bad_weight_check_input(kwargs, match):
    args = {"expected_g": 100, "measured_g": 100} | kwargs
    with pytest.raises(ValueError, match=match):
        check_weight(**args)


# -- properties ------------------------------------------------------------------------

dims = st.integers(min_value=5, max_value=250)
items_strategy = st.lists(
    st.builds(PackItem, sku=st.sampled_from(["A", "B", "C", "D"]), length_mm=dims,
              width_mm=dims, height_mm=dims, weight_g=st.integers(0, 3000),
              quantity=st.integers(1, 4),
              flags=st.frozensets(st.sampled_from(sorted(HANDLING_RULES)), max_size=2)),
    min_size=1, max_size=5)


@settings(max_examples=150, deadline=None)
@given(items=items_strategy)
def test_layout_always_inside_and_never_overlapping(items):
    try:
        result = choose_carton(items, CARTONS)
    except NoCartonFits as exc:
        assert [d["carton"] for d in exc.detail] == ["S", "M", "L"]
        for d in exc.detail:
            carton = {"S": SMALL, "M": MEDIUM, "L": LARGE}[d["carton"]]
            assert pack_into(items, carton) is None
        return
    assert_valid_layout(result, items)
    assert result.gross_weight_g <= result.carton.max_weight_g
    assert result.gross_weight_g == sum(i.weight_g * i.quantity for i in items) + \
        result.carton.tare_g
    # smallest: every smaller carton was refused
    for smaller in [SMALL, MEDIUM, LARGE]:
        if smaller.inner_volume_mm3 < result.carton.inner_volume_mm3:
            assert pack_into(items, smaller) is None


@settings(max_examples=100, deadline=None)
@given(l=dims, w=dims, h=dims, upright=st.booleans())  # noqa: E741
def test_a_single_unit_that_fits_some_way_is_always_packed(l, w, h, upright):  # noqa: E741
    unit = item("U", l, w, h, 10, flags={"liquid"} if upright else ())
    for carton in CARTONS:
        if upright:
            could = h <= carton.height_mm and (
                (l <= carton.length_mm and w <= carton.width_mm)
                or (w <= carton.length_mm and l <= carton.width_mm))
        else:
            could = all(a <= b for a, b in zip(sorted((l, w, h)), sorted(carton.dims)))
        assert (pack_into([unit], carton) is not None) is could


# -- plan_parcels ------------------------------------------------------------------------

def test_one_parcel_when_one_carton_takes_everything():
    [parcel] = plan_parcels([item(qty=3)], CARTONS)
    assert parcel.carton.name == "S"


def test_too_heavy_for_any_one_carton_is_split_and_each_parcel_downsized():
    brick = item("BRICK", 100, 100, 50, g=4000, qty=6)       # 24 kg: over L's 20 kg
    parcels = plan_parcels([brick], CARTONS)
    assert sum(len(p.placements) for p in parcels) == 6
    assert all(p.gross_weight_g <= p.carton.max_weight_g for p in parcels)
    assert [len(p.placements) for p in parcels] == [4, 2]    # 16.4 kg in L, then 8.25 kg
    assert [p.carton.name for p in parcels] == ["L", "M"]    # too heavy for S (5 kg)


def test_a_unit_that_fits_no_carton_alone_is_refused():
    with pytest.raises(NoCartonFits, match="fits no carton"):
        plan_parcels([item("A"), item("SOFA", 900, 900, 900)], CARTONS)


@settings(max_examples=60, deadline=None)
@given(items=items_strategy)
def test_parcels_hold_every_unit_once_within_their_limits(items):
    try:
        parcels = plan_parcels(items, CARTONS)
    except NoCartonFits:
        assert any(all(pack_into([PackItem(i.sku, i.length_mm, i.width_mm, i.height_mm,
                                           i.weight_g, 1, i.flags)], c) is None
                       for c in CARTONS) for i in items)
        return
    counts: dict[str, int] = {}
    for p in parcels:
        assert p.gross_weight_g <= p.carton.max_weight_g
        for pl in p.placements:
            counts[pl.sku] = counts.get(pl.sku, 0) + 1
    wanted: dict[str, int] = {}
    for i in items:
        wanted[i.sku] = wanted.get(i.sku, 0) + i.quantity
    assert counts == wanted
