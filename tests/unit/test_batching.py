"""Batching orders onto carts: partition rules, never worse than FCFS, urgency selection."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.domain.batching import (
    OrderPicks,
    fcfs_batches,
    plan_batches,
    select_orders,
    urgency_key,
)
from server.domain.layout import Layout
from server.domain.routing import shortest_route


def layout(aisles: int = 10, bays: int = 30, cross_aisles: int = 2) -> Layout:
    return Layout.from_mapping({"aisles": aisles, "bays_per_aisle": bays, "bay_length_m": 1.0,
                                "aisle_spacing_m": 3.0, "cross_aisles": cross_aisles,
                                "depot": {"aisle": "A", "at": "front"}})


def random_orders(rng: random.Random, n: int, aisles: int = 10, bays: int = 30
                  ) -> list[OrderPicks]:
    return [OrderPicks(f"SO-{i}", tuple(
        f"{chr(65 + rng.randrange(aisles))}-{rng.randint(1, bays):02d}-01-1"
        for _ in range(rng.randint(1, 4)))) for i in range(n)]


def assert_valid(plan, orders: list[OrderPicks], totes: int, lay: Layout) -> None:
    placed = [ref for b in plan.batches for ref in b.orders]
    assert sorted(placed) == sorted(o.order for o in orders)      # each exactly once
    assert all(1 <= len(b.orders) <= totes for b in plan.batches)
    assert plan.total_length_m == pytest.approx(sum(b.route.length_m for b in plan.batches))
    by_ref = {o.order: o for o in orders}
    for b in plan.batches:
        codes = [c for ref in b.orders for c in by_ref[ref].locations]
        assert sorted(b.route.sequence) == sorted(codes)
        assert b.route.length_m == pytest.approx(shortest_route(lay, codes).length_m)


def test_partition_and_routes_on_the_bench_instance():
    lay, orders = layout(), random_orders(random.Random(7), 120)
    plan = plan_batches(lay, orders, 8, time_budget_s=0.5)
    assert_valid(plan, orders, 8, lay)
    assert len(plan.batches) == 15
    assert plan.total_length_m < 0.8 * fcfs_batches(lay, orders, 8).total_length_m


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10 ** 6), n=st.integers(1, 30), totes=st.integers(1, 6),
       aisles=st.integers(1, 6), cross_aisles=st.sampled_from([2, 2, 3]))
def test_never_worse_than_fcfs(seed, n, totes, aisles, cross_aisles):
    lay = layout(aisles, 12, cross_aisles)
    orders = random_orders(random.Random(seed), n, aisles, 12)
    plan = plan_batches(lay, orders, totes, time_budget_s=0.05, seed=seed)
    assert_valid(plan, orders, totes, lay)
    assert len(plan.batches) == -(-n // totes)
    assert plan.total_length_m <= fcfs_batches(lay, orders, totes).total_length_m + 1e-9


def test_fcfs_is_consecutive_groups_in_input_order():
    lay, orders = layout(), random_orders(random.Random(1), 10)
    plan = fcfs_batches(lay, orders, 4)
    assert [b.orders for b in plan.batches] == [
        tuple(o.order for o in orders[i:i + 4]) for i in (0, 4, 8)]


def test_deterministic_for_a_seed():
    lay, orders = layout(), random_orders(random.Random(3), 40)
    runs = [plan_batches(lay, orders, 8, time_budget_s=5.0, seed=11) for _ in range(2)]
    assert runs[0] == runs[1]


def test_urgency_selection_keeps_the_most_urgent():
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    orders = [OrderPicks("late", ("A-01-01-1",), cutoff=now + timedelta(hours=9)),
              OrderPicks("none", ("A-02-01-1",)),
              OrderPicks("soon", ("B-01-01-1",), cutoff=now + timedelta(hours=1)),
              OrderPicks("express", ("C-01-01-1",), express=True),
              OrderPicks("vip", ("D-01-01-1",), priority=5)]
    assert min(orders, key=urgency_key).order == "vip"
    kept, left = select_orders(orders, 3)
    assert [o.order for o in kept] == ["soon", "express", "vip"]     # input order
    assert [o.order for o in left] == ["late", "none"]
    plan = plan_batches(layout(), orders, 2, max_orders=3)
    assert sorted(r for b in plan.batches for r in b.orders) == ["express", "soon", "vip"]
    assert plan.left_out == ("late", "none")
    assert select_orders(orders, None) == (orders, [])


def test_naive_and_aware_cutoffs_mix_without_error():
    orders = [OrderPicks("a", ("A-01-01-1",), cutoff=datetime(2026, 1, 1, 10)),
              OrderPicks("b", ("A-01-01-1",), cutoff=datetime(2026, 1, 1, tzinfo=UTC))]
    assert len(select_orders(orders, 1)[0]) == 1


@pytest.mark.parametrize("orders, totes, message", [
    ([OrderPicks("a", ("A-01-01-1",))], 0, "totes must be"),
    ([OrderPicks("a", ("A-01-01-1",)), OrderPicks("a", ("A-02-01-1",))], 2, "appears twice"),
    ([OrderPicks("a", ())], 2, "has no locations"),
    ([OrderPicks("a", ("Z-01-01-1",))], 2, "order a: location Z-01-01-1"),
    ([OrderPicks("a", ("nope",))], 2, "bad location"),
])
def test_bad_input_is_refused(orders, totes, message):
    with pytest.raises(ValueError, match=message):
        plan_batches(layout(), orders, totes)


def test_empty_wave_and_negative_max_orders():
    assert plan_batches(layout(), [], 8).batches == []
    with pytest.raises(ValueError, match="max_orders"):
        plan_batches(layout(), [OrderPicks("a", ("A-01-01-1",))], 8, max_orders=-1)


@pytest.mark.parametrize("seed", range(6))
def test_orders_filling_several_totes_stay_whole_and_carts_never_overflow(seed):
    rng = random.Random(seed)
    base = random_orders(rng, 40)
    orders = [OrderPicks(o.order, o.locations, totes=rng.choice((1, 1, 1, 2, 3)))
              for o in base]
    lay, totes = layout(), 4
    size = {o.order: o.totes for o in orders}
    for plan in (plan_batches(lay, orders, totes), fcfs_batches(lay, orders, totes)):
        placed = [o for b in plan.batches for o in b.orders]
        assert sorted(placed) == sorted(size)          # every order once, never split
        assert all(sum(size[o] for o in b.orders) <= totes for b in plan.batches)
    assert plan_batches(lay, orders, totes).total_length_m <= \
        fcfs_batches(lay, orders, totes).total_length_m + 1e-9


def test_an_order_larger_than_a_cart_is_refused():
    big = OrderPicks("big", ("A-01-01-1",), totes=5)
    with pytest.raises(ValueError, match="needs 5 totes"):
        plan_batches(layout(), [big], 4)
