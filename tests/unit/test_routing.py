"""Layouts, walking distances and pick routes (server/domain/layout.py, routing.py).

The exact one-block route is checked against brute force over every order (≤ 8 picks)
and against Held–Karp (≤ 10 picks); properties run over many random layouts.
"""
from __future__ import annotations

import itertools
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.layout import Layout
from server.domain.routing import (
    held_karp_route,
    largest_gap_route,
    route_length,
    shortest_route,
    sshape_route,
    tsp_route,
)

BASE = {"aisles": 10, "bays_per_aisle": 30, "bay_length_m": 1.0, "aisle_spacing_m": 3.0,
        "cross_aisles": 2, "depot": {"aisle": "A", "at": "front"}}


def layout(**changes) -> Layout:
    return Layout.from_mapping({**BASE, **changes})


def random_layout(rng: random.Random, cross_aisles: int = 2) -> Layout:
    aisles, bays = rng.randint(1, 8), rng.randint(1, 20)
    return layout(aisles=aisles, bays_per_aisle=bays,
                  bay_length_m=rng.choice([0.7, 1.0, 1.3]),
                  aisle_spacing_m=rng.choice([1.0, 2.5, 3.0, 10.0]),
                  cross_aisles=min(cross_aisles, bays + 1),
                  depot={"aisle": chr(65 + rng.randrange(aisles)),
                         "at": rng.choice(["front", "back"])})


def random_picks(rng: random.Random, lay: Layout, n: int) -> list[str]:
    return [f"{chr(65 + rng.randrange(lay.aisles))}-{rng.randint(1, lay.bays_per_aisle):02d}"
            f"-{rng.randint(1, 4):02d}-{rng.randint(1, 3)}" for _ in range(n)]


def brute_force(lay: Layout, picks: list[str]) -> float:
    points = list(dict.fromkeys(lay.point(p) for p in picks))
    depot = lay.depot_point()
    best = float("inf")
    for order in itertools.permutations(points):
        walk = [depot, *order, depot]
        best = min(best, sum(lay.walk(walk[i], walk[i + 1]) for i in range(len(walk) - 1)))
    return best if points else 0.0


# ---- layout --------------------------------------------------------------------------------

def test_layout_reads_the_issue_block():
    lay = layout()
    assert (lay.aisles, lay.bays_per_aisle, lay.cross_aisles) == (10, 30, 2)
    assert lay.depot.aisle == "A" and lay.depot.at == "front"
    assert lay.to_mapping() == BASE
    assert lay.cross_aisle_ys() == (0.0, 30.0)
    assert layout(cross_aisles=4).cross_aisle_ys() == (0.0, 10.0, 20.0, 30.0)


@pytest.mark.parametrize("changes, message", [
    ({"aisles": 0}, "aisles must be between"),
    ({"aisles": True}, "aisles must be a whole number"),
    ({"aisles": 2.5}, "aisles must be a whole number"),
    ({"bays_per_aisle": 1000}, "bays_per_aisle must be between"),
    ({"bay_length_m": 0}, "bay_length_m must be a positive"),
    ({"bay_length_m": "1m"}, "bay_length_m must be a number"),
    ({"aisle_spacing_m": float("nan")}, "aisle_spacing_m must be a positive"),
    ({"cross_aisles": 1}, "cross_aisles must be between 2"),
    ({"cross_aisles": 32}, "cross_aisles must be between 2 and 31"),
    ({"depot": {"aisle": "K", "at": "front"}}, "depot.aisle K is outside"),
    ({"depot": {"aisle": "A", "at": "side"}}, "depot.at must be"),
    ({"depot": {"aisle": "A-1", "at": "front"}}, "aisle must be letters"),
    ({"depot": {"aisle": "A"}}, "missing depot key(s): at"),
    ({"depot": {"aisle": "A", "at": "front", "x": 1}}, "unknown depot key(s): x"),
    ({"depot": "A"}, "depot must be a mapping"),
    ({"colour": "red"}, "unknown layout key(s): colour"),
])
def test_layout_refuses_bad_values(changes, message):
    with pytest.raises(ValueError) as err:
        layout(**changes)
    assert message in str(err.value)


def test_layout_refuses_missing_keys_and_non_mappings():
    with pytest.raises(ValueError, match="missing layout key"):
        Layout.from_mapping({k: v for k, v in BASE.items() if k != "cross_aisles"})
    with pytest.raises(ValueError, match="must be a mapping"):
        Layout.from_mapping(None)


def test_locations_outside_the_layout_are_refused():
    lay = layout(aisles=3, bays_per_aisle=10)
    with pytest.raises(ValueError, match="aisle D is outside"):
        lay.point("D-01-01-1")
    with pytest.raises(ValueError, match="bay 11 is outside 1-10"):
        lay.point("A-11-01-1")
    with pytest.raises(ValueError, match="bay 0 is outside"):
        lay.point("A-00-01-1")
    with pytest.raises(ValueError, match="bad location"):
        shortest_route(lay, ["nonsense"])


def test_distances_by_hand():
    lay = layout()   # 3 m between aisles, 1 m bays, 30 m aisles, one block
    assert lay.point("C-03-02-1") == (2, 2.5)
    assert lay.distance("A-03-02-1", "A-10-01-1") == 7.0            # same aisle
    # A-03 (y 2.5) to C-05 (y 4.5): via the front 2.5 + 6 + 4.5 = 13, via the back 55
    assert lay.distance("A-03-02-1", "C-05-01-1") == 13.0
    # A-28 (y 27.5) to B-29 (y 28.5): via the back 2.5 + 3 + 1.5 = 7
    assert lay.distance("A-28-01-1", "B-29-01-1") == 7.0
    # three cross aisles (y 0, 15, 30): A-14 (13.5) to B-17 (16.5) through the middle one
    mid = layout(cross_aisles=3)
    assert mid.distance("A-14-01-1", "B-17-01-1") == 1.5 + 3 + 1.5
    assert lay.distance("A-14-01-1", "B-17-01-1") == 13.5 + 3 + 16.5


def test_depot_at_the_back():
    lay = layout(aisles=3, bays_per_aisle=10, depot={"aisle": "b", "at": "back"})
    assert lay.depot.aisle == "B" and lay.depot_point() == (1, 10.0)
    # B-10 is 0.5 m from the depot; A-10 is 3 m along the back cross aisle + 0.5
    assert route_length(lay, ["B-10-01-1"]) == 1.0
    assert shortest_route(lay, ["A-10-01-1"]).length_m == 2 * (3 + 0.5)
    # A-01 from the back depot: down aisle A (9.5 each way) plus 3 m across and back
    assert shortest_route(lay, ["A-01-01-1"]).length_m == 2 * (3 + 9.5)


# ---- routes: hand-computed -------------------------------------------------------------

def test_small_route_by_hand():
    lay = layout(aisles=3, bays_per_aisle=10)
    best = shortest_route(lay, ["A-03-02-1", "C-05-01-1", "B-10-01-1"])
    # up A and along the back (10 + 3), spur into B-10 (1), on to C (3), down C (10),
    # back along the front (6): 33; S-shape walks A, B whole and C in-and-out: 41
    assert best.length_m == 33.0
    assert best.sequence == ("A-03-02-1", "B-10-01-1", "C-05-01-1")
    assert sshape_route(lay, best.sequence).length_m == 41.0


def test_empty_same_bay_and_duplicates():
    lay = layout()
    for rule in (shortest_route, sshape_route, largest_gap_route, tsp_route):
        assert rule(lay, []).length_m == 0.0
        assert rule(lay, []).sequence == ()
    route = shortest_route(lay, ["B-04-01-1", "A-02-01-1", "B-04-03-2", "A-02-01-1"])
    assert sorted(route.sequence) == sorted(["B-04-01-1", "A-02-01-1", "B-04-03-2",
                                             "A-02-01-1"])
    # same-bay codes are picked together, one after the other
    assert route.sequence.index("B-04-03-2") - route.sequence.index("B-04-01-1") in (1, -1)
    assert route.length_m == 2 * 1.5 + 2 * 3.0 + 2 * 3.5   # up A, across, up B, all back
    assert shortest_route(lay, ["A-01-01-1"]).length_m == 1.0


# ---- exact == brute force / Held–Karp ------------------------------------------------------

@pytest.mark.parametrize("seed", range(60))
def test_one_block_exact_equals_brute_force(seed):
    rng = random.Random(seed)
    lay = random_layout(rng)
    picks = random_picks(rng, lay, rng.randint(1, 8))
    route = shortest_route(lay, picks)
    assert route.length_m == pytest.approx(brute_force(lay, picks), abs=1e-9)
    assert route_length(lay, route.sequence) == pytest.approx(route.length_m, abs=1e-9)


@pytest.mark.parametrize("seed", range(40))
def test_one_block_exact_equals_held_karp(seed):
    rng = random.Random(1000 + seed)
    lay = random_layout(rng)
    picks = random_picks(rng, lay, rng.randint(1, 10))
    assert shortest_route(lay, picks).length_m == pytest.approx(
        held_karp_route(lay, picks).length_m, abs=1e-9)


@pytest.mark.parametrize("seed", range(15))
def test_held_karp_equals_brute_force_on_multi_block(seed):
    rng = random.Random(2000 + seed)
    lay = random_layout(rng, cross_aisles=rng.randint(3, 4))
    picks = random_picks(rng, lay, rng.randint(1, 7))
    assert held_karp_route(lay, picks).length_m == pytest.approx(brute_force(lay, picks))


def test_multi_block_local_search_within_3_percent_of_optimum():
    """The local search alone (Held–Karp switched off) on 200 random 3-4 block instances."""
    rng = random.Random(7)
    gaps = []
    for _ in range(200):
        lay = random_layout(rng, cross_aisles=rng.randint(3, 4))
        picks = random_picks(rng, lay, rng.randint(2, 10))
        optimum = held_karp_route(lay, picks).length_m
        found = tsp_route(lay, picks, exact_max_stops=0)
        assert route_length(lay, found.sequence) == pytest.approx(found.length_m)
        gaps.append(max(0.0, found.length_m / optimum - 1))   # float noise below 0
    print(f"multi-block local search gap: mean {statistics.mean(gaps):.3%}, "
          f"worst {max(gaps):.3%}")
    assert statistics.mean(gaps) <= 0.005
    assert max(gaps) <= 0.03


# ---- properties over many layouts ----------------------------------------------------------

@st.composite
def instances(draw):
    aisles = draw(st.integers(1, 12))
    bays = draw(st.integers(1, 40))
    lay = layout(aisles=aisles, bays_per_aisle=bays,
                 bay_length_m=draw(st.sampled_from([0.5, 1.0, 1.25, 2.0])),
                 aisle_spacing_m=draw(st.sampled_from([1.0, 2.5, 3.0, 4.2, 12.0])),
                 cross_aisles=draw(st.integers(2, min(4, bays + 1))),
                 depot={"aisle": chr(65 + draw(st.integers(0, aisles - 1))),
                        "at": draw(st.sampled_from(["front", "back"]))})
    pick = st.tuples(st.integers(0, aisles - 1), st.integers(1, bays), st.integers(1, 3))
    picks = draw(st.lists(pick, max_size=25))
    return lay, [f"{chr(65 + a)}-{b:02d}-{s:02d}-1" for a, b, s in picks]


@settings(max_examples=300, deadline=None)
@given(instances())
def test_route_properties(instance):
    lay, picks = instance
    best, sshape, gap = (rule(lay, picks) for rule in
                         (shortest_route, sshape_route, largest_gap_route))
    for route in (best, sshape, gap):
        assert sorted(route.sequence) == sorted(picks)
        # the rule's own walk can only be longer than walking its order by shortest paths
        assert route_length(lay, route.sequence) <= route.length_m + 1e-9
    assert best.length_m == pytest.approx(route_length(lay, best.sequence), abs=1e-9)
    assert best.length_m <= sshape.length_m + 1e-9
    assert best.length_m <= gap.length_m + 1e-9
    assert (best.length_m == 0) == (not picks)
