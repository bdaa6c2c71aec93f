"""Cycle-count rules (domain/counts.py): what a count does to a bin's books."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.allocation import LineNeed, StockPool, StockRow
from server.domain.counts import Book, Claim, give_up, merge_lines, settle

T0 = dt.datetime(2026, 1, 1)


def test_a_count_sets_on_hand_to_what_was_found_plus_what_is_in_totes():
    got = settle(Book(on_hand=20, reserved=3, in_transit=1), counted=17)
    assert (got.on_hand, got.reserved, got.variance, got.shortfall) == (18, 3, -2, 0)


def test_a_count_below_what_is_still_to_pick_gives_up_the_difference():
    got = settle(Book(on_hand=20, reserved=12, in_transit=2), counted=4)
    # 10 still to pick, 4 there: 6 leave the reservations; on hand 4 + 2 in totes
    assert (got.on_hand, got.reserved, got.variance, got.shortfall) == (6, 6, -14, 6)


def test_a_negative_count_is_refused():
    with pytest.raises(ValueError):
        settle(Book(1, 0, 0), -1)


@given(on_hand=st.integers(0, 1000), reserved=st.integers(0, 1000),
       in_transit=st.integers(0, 1000), counted=st.integers(0, 1000))
def test_a_count_never_leaves_more_reserved_than_on_hand(on_hand, reserved, in_transit,
                                                         counted):
    reserved = min(reserved, on_hand)
    in_transit = min(in_transit, reserved)
    got = settle(Book(on_hand, reserved, in_transit), counted)
    assert 0 <= got.reserved <= got.on_hand
    assert got.on_hand - in_transit == counted
    assert got.variance == got.on_hand - on_hand
    assert got.shortfall == reserved - got.reserved >= 0


def test_the_least_urgent_reservations_give_up_first():
    claims = [Claim(1, 5, priority=5, placed_at=T0),
              Claim(2, 4, priority=0, placed_at=T0),
              Claim(3, 3, priority=0, placed_at=T0 + dt.timedelta(hours=1))]
    assert give_up(claims, 5) == [(3, 3), (2, 2)]
    assert give_up(claims, 12) == [(3, 3), (2, 4), (1, 5)]
    with pytest.raises(ValueError):
        give_up(claims, 13)


def test_count_lines_of_one_sku_add_up():
    assert merge_lines([("A", 2), ("B", 0), ("A", 3)]) == {"A": 5, "B": 0}
    with pytest.raises(ValueError):
        merge_lines([("A", -1)])
    with pytest.raises(ValueError):
        merge_lines([("A", 2**31 - 1), ("A", 1)])


def test_blocked_bins_take_no_new_reservation():
    pool = StockPool([StockRow(1, 10, 7, 50, pick_seq=1, location="A-01-01-1",
                               blocked="count_pending"),
                      StockRow(2, 10, 7, 3, pick_seq=2, location="A-02-01-1")])
    plan = pool.allocate([LineNeed("l1", 7, 5)], {10: 0})
    assert plan.allocations == [("l1", 2, 3)] and plan.short == {"l1": 2}
    assert pool.available(7, 10) == 0
