"""The order domain with no database: life cycle, validation, risk holds, reservation
choice (zones, warehouse ranks, StockPool) and money."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain import lifecycle
from server.domain.allocation import (
    LineNeed,
    Plan,
    StockPool,
    StockRow,
    Zone,
    address_zone,
    warehouse_ranks,
)
from server.domain.errors import BadTransition
from server.domain.money import from_minor, parse_amount, to_minor
from server.domain.orders import Address, LineDraft, OrderDraft
from server.domain.risk import RiskRules, assess
from server.domain.validation import validate_order

SKUS = frozenset({"TEE", "MUG", "BOTTLE"})
GOOD_ADDRESS = Address(name="Ann Test", phone="+44 7700 900123", address1="1 Test Street",
                       city="Leeds", postcode="LS1 1AA", country="GB")


def line(sku: str = "TEE", quantity: int = 1, price: str = "10.00", **kw) -> LineDraft:
    return LineDraft(sku=sku, quantity=quantity, unit_price=Decimal(price), **kw)


def order(*lines: LineDraft, ship_to: Address = GOOD_ADDRESS, currency: str = "GBP",
          **kw) -> OrderDraft:
    return OrderDraft(external_id="X-1", ref="X-1",
                      placed_at=dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.timezone.utc),
                      currency=currency, paid=True, ship_to=ship_to,
                      lines=lines if lines else (line(),), **kw)


def codes(draft: OrderDraft, **kw) -> list[tuple[str, str]]:
    """(field, code) of every problem validate_order finds."""
    return [(p.field, p.code) for p in validate_order(draft, SKUS, **kw)]


# ------------------------------------------------------------------------------ life cycle

ALLOWED = sorted((a, b) for a, nxt in lifecycle.TRANSITIONS.items() for b in nxt)
REFUSED = sorted((a, b) for a in lifecycle.STATUSES for b in lifecycle.STATUSES
                 if a != b and b not in lifecycle.TRANSITIONS[a])


def test_every_status_has_a_transition_entry() -> None:
    assert set(lifecycle.TRANSITIONS) == set(lifecycle.STATUSES)


@pytest.mark.parametrize("current, new", ALLOWED)
def test_allowed_transition(current: str, new: str) -> None:
    assert lifecycle.can_move(current, new)
    assert lifecycle.check_move(current, new) == new


@pytest.mark.parametrize("current, new", REFUSED)
def test_refused_transition(current: str, new: str) -> None:
    assert not lifecycle.can_move(current, new)
    with pytest.raises(BadTransition) as info:
        lifecycle.check_move(current, new)
    assert info.value.code == "bad_transition" and info.value.status == 409
    assert info.value.detail == {"from": current, "to": new}


@pytest.mark.parametrize("current, new", [
    ("closed", "received"), ("cancelled", "ready"), ("packed", "cancelled"),
    ("shipped", "ready"), ("ready", "picked"), ("delivered", "shipped"), ("picked", "picking"),
])
def test_well_known_refusals(current: str, new: str) -> None:
    with pytest.raises(BadTransition):
        lifecycle.check_move(current, new)


def test_staying_in_the_same_state_is_not_a_move() -> None:
    for status in lifecycle.STATUSES:
        assert lifecycle.check_move(status, status) == status


def test_terminal_states_and_cancellable_set() -> None:
    assert lifecycle.TRANSITIONS["closed"] == lifecycle.TRANSITIONS["cancelled"] == frozenset()
    assert "packed" not in lifecycle.CANCELLABLE and "picked" in lifecycle.CANCELLABLE


@pytest.mark.parametrize("invalid, paid, hold, reserved, expected", [
    (True, False, True, True, "invalid"),           # invalid beats everything
    (True, True, False, False, "invalid"),
    (False, False, True, True, "awaiting_payment"),  # unpaid beats a hold
    (False, False, False, False, "awaiting_payment"),
    (False, True, True, True, "on_hold"),            # a hold beats the stock outcome
    (False, True, True, False, "on_hold"),
    (False, True, False, True, "ready"),
    (False, True, False, False, "backordered"),
    (False, True, False, None, "backordered"),       # nothing reserved yet
])
def test_after_intake_precedence(invalid: bool, paid: bool, hold: bool,
                                 reserved: bool | None, expected: str) -> None:
    assert lifecycle.after_intake(invalid=invalid, paid=paid, hold=hold,
                                  fully_reserved=reserved) == expected


# ------------------------------------------------------------------------------ validation

def test_a_good_order_has_no_problems() -> None:
    assert codes(order(line("TEE", 2), line("MUG", 1), total=Decimal("30.00"))) == []


def test_unknown_sku() -> None:
    assert codes(order(line("TEE"), line("NOPE"))) == [("lines[1].sku", "unknown_sku")]


@pytest.mark.parametrize("quantity", [0, -1])
def test_bad_quantity(quantity: int) -> None:
    assert codes(order(line(quantity=quantity))) == [("lines[0].quantity", "bad_quantity")]


def test_negative_price() -> None:
    assert codes(order(line(price="-0.01"))) == [("lines[0].unit_price", "bad_price")]


@pytest.mark.parametrize("changes, expected", [
    ({"name": "  "}, [("ship_to.name", "missing_name")]),
    ({"address1": ""}, [("ship_to.address1", "missing_address")]),
    ({"city": " "}, [("ship_to.city", "missing_address")]),
    ({"phone": "n/a"}, [("ship_to.phone", "missing_phone")]),
    ({"phone": ""}, [("ship_to.phone", "missing_phone")]),
    ({"country": "GBR"}, [("ship_to.country", "bad_country")]),
    ({"country": ""}, [("ship_to.country", "bad_country")]),
])
def test_address_problems(changes: dict, expected: list) -> None:
    ship = Address(**{**GOOD_ADDRESS.__dict__, **changes})
    assert codes(order(ship_to=ship)) == expected


def test_currency_mismatch_with_the_channel() -> None:
    assert codes(order(currency="EUR"), channel_currency="GBP") == [
        ("currency", "currency_mismatch")]
    assert codes(order(currency="GBP"), channel_currency="GBP") == []
    assert codes(order(currency="EUR")) == []          # channel without a fixed currency


def test_currency_mismatch_on_a_line() -> None:
    assert codes(order(line(currency="GBP"), line("MUG", currency="USD"))) == [
        ("lines[1].currency", "currency_mismatch")]


def test_bad_currency_code() -> None:
    assert codes(order(currency="pounds")) == [("currency", "bad_currency")]


@pytest.mark.parametrize("total, problem", [
    ("37.50", False),   # 2 × 10.00 + 1 × 15.00 + 4.50 shipping - 2.00 discount
    ("37.51", False),   # within the default 0.01 tolerance
    ("37.49", False),
    ("37.52", True),
    ("37.48", True),
])
def test_total_mismatch_with_tolerance(total: str, problem: bool) -> None:
    draft = order(line("TEE", 2), line("MUG", 1, "15.00"), total=Decimal(total),
                  shipping=Decimal("4.50"), discount=Decimal("2.00"))
    assert codes(draft) == ([("total", "total_mismatch")] if problem else [])


def test_total_tolerance_is_configurable() -> None:
    draft = order(line("TEE", 1), total=Decimal("10.40"))
    assert codes(draft, total_tolerance=Decimal("0.50")) == []
    assert codes(draft, total_tolerance=Decimal("0")) == [("total", "total_mismatch")]


def test_total_uses_the_stated_line_totals() -> None:
    draft = order(line("TEE", 3, line_total=Decimal("25.00")), total=Decimal("25.00"))
    assert codes(draft) == []


def test_no_lines() -> None:
    draft = OrderDraft(external_id="X", ref="X", placed_at=dt.datetime(2025, 1, 1),
                       currency="GBP", paid=True, ship_to=GOOD_ADDRESS, lines=(),
                       total=Decimal("1"))
    assert codes(draft) == [("lines", "no_lines")]


def test_every_problem_is_reported_at_once() -> None:
    draft = order(line("NOPE", 0, currency="USD"), ship_to=Address(), currency="GBP")
    found = {code for _, code in codes(draft)}
    assert found == {"unknown_sku", "bad_quantity", "currency_mismatch", "missing_name",
                     "missing_address", "bad_country", "missing_phone"}


# ------------------------------------------------------------------------------ risk

RULES = RiskRules(max_order_value=Decimal("5000"), max_sku_quantity=100,
                  max_orders_per_contact_per_hour=5, max_discount_share=Decimal("0.5"))


@pytest.mark.parametrize("shipping, held", [("0.00", False), ("0.01", True)])
def test_order_value_limit(shipping: str, held: bool) -> None:
    draft = order(line("TEE", 2, "2400.00"), line("MUG", 1, "200.00"),
                  shipping=Decimal(shipping))   # exactly 5000.00 before shipping
    reasons = assess(draft, RULES)
    assert bool(reasons) is held
    if held:
        assert "order value 5000.01 GBP" in reasons[0]


def test_order_value_counts_discount_off() -> None:
    draft = order(line("TEE", 1, "5000.01"), discount=Decimal("0.01"))
    assert assess(draft, RULES) == []


@pytest.mark.parametrize("second, held", [(40, False), (41, True)])
def test_sku_quantity_is_summed_across_lines(second: int, held: bool) -> None:
    draft = order(line("TEE", 60, "0.10"), line("MUG", 100, "0.10"),
                  line("TEE", second, "0.10"))
    reasons = assess(draft, RULES)
    assert bool(reasons) is held
    if held:
        assert reasons == [f"{60 + second} × TEE is above 100 of one SKU"]


@pytest.mark.parametrize("recent, held", [(0, False), (4, False), (5, True)])
def test_orders_per_contact_per_hour(recent: int, held: bool) -> None:
    reasons = assess(order(), RULES, recent_same_contact=recent)
    assert bool(reasons) is held
    if held:
        assert "6 orders to one address or phone" in reasons[0]


@pytest.mark.parametrize("discount, held", [("50.00", False), ("50.01", True)])
def test_discount_share(discount: str, held: bool) -> None:
    draft = order(line("TEE", 10, "10.00"), discount=Decimal(discount))
    reasons = assess(draft, RULES)
    assert bool(reasons) is held
    if held:
        assert reasons == ["discount is 50% of the goods (limit 50%)"]


def test_rules_combine() -> None:
    draft = order(line("TEE", 101, "100.00"), discount=Decimal("6000"))
    assert len(assess(draft, RULES, recent_same_contact=9)) == 3   # value is under: 4100


# ------------------------------------------------------------------------------ zones

ZONES = (
    Zone("uk", ("GB", "IE"), ("uk", "eu", "us")),
    Zone("ni", ("GB:BT",), ("ie", "uk", "eu")),
    Zone("belfast-city", ("GB:BT1",), ("ie",)),
    Zone("eu", ("DE", "FR", "IE"), ("eu", "uk", "us")),
)


@pytest.mark.parametrize("country, postcode, zone", [
    ("GB", "LS1 1AA", "uk"),
    ("GB", "BT7 1NN", "ni"),           # 'GB:BT' is longer than 'GB'
    ("gb", "bt7 1nn", "ni"),           # case and spaces do not matter
    ("GB", "BT1 5GS", "belfast-city"),  # the longest prefix wins
    ("GB", "", "uk"),
    ("DE", "10115", "eu"),
    ("IE", "D02", "uk"),               # listed twice: the first zone keeps a tie
    ("US", "10001", None),
    ("", "", None),
])
def test_address_zone_longest_match(country: str, postcode: str, zone: str | None) -> None:
    found = address_zone(country, postcode, ZONES)
    assert (found.name if found else None) == zone


def test_prefix_entries_may_contain_spaces() -> None:
    zones = (Zone("a", ("GB",), ()), Zone("b", ("GB:BT 1",), ()))
    assert address_zone("GB", "BT15GS", zones).name == "b"


def test_warehouse_ranks_follow_the_zone() -> None:
    warehouses = {1: "uk", 2: "eu", 3: "us", 4: "apac"}
    assert warehouse_ranks("GB", "LS1", ZONES, warehouses) == {1: 0, 2: 1, 3: 2, 4: 3}
    assert warehouse_ranks("FR", "75001", ZONES, warehouses) == {2: 0, 1: 1, 3: 2, 4: 3}
    assert warehouse_ranks("GB", "BT7", ZONES, {1: "uk", 5: "ie"}) == {5: 0, 1: 1}


def test_warehouse_ranks_without_a_zone_are_all_equal() -> None:
    assert warehouse_ranks("US", "10001", ZONES, {1: "uk", 2: "eu"}) == {1: 0, 2: 0}


# ------------------------------------------------------------------------------ StockPool

def row(stock_id: int, warehouse: int, product: int, available: int, pick_seq: int = 0
        ) -> StockRow:
    return StockRow(stock_id=stock_id, warehouse_id=warehouse, product_id=product,
                    available=available, pick_seq=pick_seq, location=f"L{stock_id}")


def taken(plan: Plan) -> dict[int, int]:
    """stock row → units this plan takes from it."""
    out: dict[int, int] = {}
    for _, stock_id, n in plan.allocations:
        out[stock_id] = out.get(stock_id, 0) + n
    return out


NEAR, MID, FAR = 1, 2, 3
RANKS = {NEAR: 0, MID: 1, FAR: 2}


def test_prefers_a_warehouse_that_ships_everything_even_if_farther() -> None:
    pool = StockPool([row(1, NEAR, 10, 5), row(2, NEAR, 20, 0),
                      row(3, FAR, 10, 5), row(4, FAR, 20, 5)])
    plan = pool.allocate([LineNeed("a", 10, 2), LineNeed("b", 20, 1)], RANKS)
    assert plan.warehouse_id == FAR and plan.fully_reserved
    assert taken(plan) == {3: 2, 4: 1}


def test_nearest_among_warehouses_that_ship_everything() -> None:
    pool = StockPool([row(1, FAR, 10, 9), row(2, MID, 10, 9), row(3, NEAR, 10, 1)])
    plan = pool.allocate([LineNeed("a", 10, 3)], RANKS)
    assert plan.warehouse_id == MID and taken(plan) == {2: 3}


def test_no_whole_warehouse_and_no_split_takes_the_one_covering_most() -> None:
    pool = StockPool([row(1, NEAR, 10, 2), row(2, MID, 10, 4), row(3, FAR, 10, 4)])
    plan = pool.allocate([LineNeed("a", 10, 6)], RANKS)
    assert plan.warehouse_id == MID           # most units; nearer of the two that tie
    assert taken(plan) == {2: 4} and plan.short == {"a": 2}


def test_split_goes_nearest_first_across_warehouses() -> None:
    pool = StockPool([row(1, FAR, 10, 6), row(2, MID, 10, 6), row(3, NEAR, 10, 6)])
    plan = pool.allocate([LineNeed("a", 10, 10)], RANKS, allow_split=True)
    assert plan.warehouse_id == NEAR and plan.fully_reserved
    assert taken(plan) == {3: 6, 2: 4}


def test_split_starts_at_the_warehouse_covering_most_then_nearest_first() -> None:
    pool = StockPool([row(1, NEAR, 10, 5), row(2, MID, 10, 8), row(3, FAR, 10, 5)])
    plan = pool.allocate([LineNeed("a", 10, 10)], RANKS, allow_split=True)
    assert plan.warehouse_id == MID
    assert taken(plan) == {2: 8, 1: 2}


def test_split_that_still_falls_short() -> None:
    pool = StockPool([row(1, NEAR, 10, 1), row(2, FAR, 10, 2)])
    plan = pool.allocate([LineNeed("a", 10, 5)], RANKS, allow_split=True)
    assert taken(plan) == {2: 2, 1: 1} and plan.short == {"a": 2}


def test_one_location_holding_the_whole_line_beats_several() -> None:
    pool = StockPool([row(1, NEAR, 10, 3, pick_seq=1), row(2, NEAR, 10, 3, pick_seq=2),
                      row(3, NEAR, 10, 8, pick_seq=9)])
    plan = pool.allocate([LineNeed("a", 10, 5)], RANKS)
    assert taken(plan) == {3: 5}


def test_several_locations_in_pick_order_when_none_holds_the_line() -> None:
    pool = StockPool([row(1, NEAR, 10, 3, pick_seq=5), row(2, NEAR, 10, 3, pick_seq=1)])
    plan = pool.allocate([LineNeed("a", 10, 5)], RANKS)
    assert plan.allocations == [("a", 2, 3), ("a", 1, 2)]


def test_nothing_to_reserve() -> None:
    pool = StockPool([row(1, NEAR, 10, 3)])
    assert pool.allocate([LineNeed("a", 10, 0)], RANKS) == Plan(warehouse_id=NEAR)
    plan = pool.allocate([LineNeed("a", 10, 2)], {})
    assert plan.warehouse_id is None and plan.short == {"a": 2}


def test_a_batch_never_promises_the_same_unit_twice() -> None:
    pool = StockPool([row(1, NEAR, 10, 5)])
    first = pool.allocate([LineNeed("a", 10, 4)], RANKS)
    second = pool.allocate([LineNeed("b", 10, 4)], RANKS)
    assert first.fully_reserved and second.short == {"b": 3}
    assert pool.available(10, NEAR) == 0


@st.composite
def stock_and_orders(draw: st.DrawFn) -> tuple[list[StockRow], list[tuple[list, dict, bool]]]:
    warehouses = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4, unique=True))
    products = st.integers(1, 4)
    rows = [row(i, draw(st.sampled_from(warehouses)), draw(products), draw(st.integers(0, 20)),
                pick_seq=draw(st.integers(0, 5)))
            for i in range(1, draw(st.integers(0, 12)) + 1)]
    orders = []
    for o in range(draw(st.integers(1, 12))):
        lines = [LineNeed((o, n), draw(products), draw(st.integers(1, 15)))
                 for n in range(draw(st.integers(1, 4)))]
        ranks = {w: draw(st.integers(0, 3)) for w in warehouses}
        orders.append((lines, ranks, draw(st.booleans())))
    return rows, orders


@settings(max_examples=300, deadline=None)
@given(stock_and_orders())
def test_pool_never_hands_out_more_than_is_available(case) -> None:
    rows, orders = case
    initial = {r.stock_id: (r.available, r.product_id, r.warehouse_id) for r in rows}
    pool = StockPool([StockRow(**r.__dict__) for r in rows])
    handed: dict[int, int] = {}
    for lines, ranks, split in orders:
        plan = pool.allocate(lines, ranks, allow_split=split)
        for ln in lines:
            reserved = sum(n for key, _, n in plan.allocations if key == ln.key)
            assert reserved + plan.short.get(ln.key, 0) == ln.quantity
        for key, stock_id, n in plan.allocations:
            line_need = next(x for x in lines if x.key == key)
            assert n > 0 and initial[stock_id][1] == line_need.product_id
            if not split:   # without a split, every unit comes from the chosen warehouse
                assert initial[stock_id][2] == plan.warehouse_id
            handed[stock_id] = handed.get(stock_id, 0) + n
    for stock_id, n in handed.items():
        assert n <= initial[stock_id][0]
    assert all(r.available >= 0 for r in pool.rows.values())


# ------------------------------------------------------------------------------ money

@pytest.mark.parametrize("amount, currency, minor, text", [
    ("12.34", "GBP", 1234, "12.34"),
    ("12.345", "GBP", 1235, "12.35"),        # half up
    ("-1.005", "GBP", -101, "-1.01"),        # half away from zero
    ("0", "GBP", 0, "0.00"),
    ("1234", "JPY", 1234, "1234"),
    ("1234.5", "JPY", 1235, "1235"),
    ("1.234", "KWD", 1234, "1.234"),
    ("1.2345", "KWD", 1235, "1.235"),
    ("7", "kwd", 7000, "7.000"),             # currency case does not matter
])
def test_minor_units(amount: str, currency: str, minor: int, text: str) -> None:
    assert to_minor(Decimal(amount), currency) == minor
    assert from_minor(minor, currency) == text


def test_from_minor_of_nothing() -> None:
    assert from_minor(None, "GBP") is None


@given(st.integers(-10**15, 10**15), st.sampled_from(["GBP", "JPY", "KWD", "EUR"]))
def test_minor_units_round_trip(minor: int, currency: str) -> None:
    assert to_minor(Decimal(from_minor(minor, currency)), currency) == minor


@pytest.mark.parametrize("value, expected", [
    ("12.50", Decimal("12.50")), (" 3 ", Decimal("3")), (7, Decimal(7)),
    (0.1, Decimal("0.1")),                    # through repr, not the binary float
    (Decimal("2.5"), Decimal("2.5")), ("-4.20", Decimal("-4.20")),
])
def test_parse_amount(value: object, expected: Decimal) -> None:
    parsed = parse_amount(value)
    assert parsed == expected and str(parsed) == str(expected)


@pytest.mark.parametrize("value", [
    True, False, None, "NaN", "nan", "sNaN", "Infinity", "-inf", float("nan"), float("inf"),
    float("-inf"), Decimal("NaN"), "", "abc", "1,50", [1],
])
def test_parse_amount_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        parse_amount(value)
