"""The same-contact risk rule's tally: the same counts as rescanning every earlier order,
in O(log n) per order (W9: a 10,000-order import to one phone took 41 s rescanning)."""
from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from server.domain.risk import HOUR, ContactTally, contact_keys
from server.services.intake import MIN_CHUNK, next_chunk_size

T0 = dt.datetime(2025, 6, 1, 12, 0)


def _brute(history: list[tuple[set[str], dt.datetime]], keys: set[str], at: dt.datetime) -> int:
    return max((sum(1 for ks, t in history if k in ks and at - HOUR <= t <= at) for k in keys),
               default=0)


@given(st.lists(st.tuples(st.sampled_from(["", "p1", "p2"]), st.sampled_from(["", "a1", "a2"]),
                          st.integers(0, 180)), max_size=60))
def test_tally_counts_like_a_rescan_of_every_earlier_order(orders):
    tally, history = ContactTally(), []
    for phone, addr, minute in orders:
        keys, at = contact_keys(phone, addr), T0 + dt.timedelta(minutes=minute)
        assert tally.count(keys, at) == _brute(history, keys, at)
        tally.add(keys, at)
        history.append((keys, at))


def test_remove_takes_back_an_add():
    tally = ContactTally()
    keys = contact_keys("p", "a")
    tally.add(keys, T0)
    tally.add(keys, T0)
    tally.remove(keys, T0)
    assert tally.count(keys, T0) == 1
    assert contact_keys("", "") == set() and tally.count(set(), T0) == 0


def test_tally_of_many_orders_to_one_contact_stays_cheap():
    """20,000 orders to one phone: each count is two binary searches over one list (a
    comparison count, not a timing: a rescan does ~n²/2 = 2·10⁸)."""
    calls = 0

    class Counting(dt.datetime):
        def __lt__(self, other):
            nonlocal calls
            calls += 1
            return dt.datetime.__lt__(self, other)

    tally, keys = ContactTally(), contact_keys("+447700900101", "")
    n = 20_000
    for i in range(n):
        at = Counting.fromtimestamp(T0.timestamp() + i % 3600)
        tally.count(keys, at)
        tally.add(keys, at)
    assert calls < n * 3 * 20        # ~3 binary searches of ≤ 17 steps per order


def test_chunk_size_follows_the_time_per_order():
    assert next_chunk_size(100, 0.040, 0.020, 500) == 50       # twice too slow: half
    assert next_chunk_size(100, 0.005, 0.020, 500) == 200      # at most 2x at a time
    assert next_chunk_size(400, 0.001, 0.020, 500) == 500      # never over the cap
    assert next_chunk_size(12, 5.0, 0.020, 500) == MIN_CHUNK   # never under the floor
    assert next_chunk_size(50, 0.0, 0.020, 500) == 100
