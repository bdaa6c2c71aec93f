"""Batching orders onto pick carts: fewer metres walked than first-come-first-served carts.

A cart holds `totes` totes, one order per tote (an order too large for one tote takes
`OrderPicks.totes` of them, on the same cart), and is picked in one walk: the exact
shortest route (`routing.shortest_route`) through every location of its orders. The
plan minimises the sum of those walks:

1. Seed construction: the orders sorted by several position keys (where their picks lie:
   rightmost and leftmost aisle, depth into the aisles) are cut into consecutive
   carts; first-come-first-served carts are one more candidate, so the plan is never
   worse than them. The shortest candidate is kept.
2. Local search: for pairs of carts that lie close together, the most promising swaps
   of two orders (and moves of one order into a cart with a free tote) are checked with
   exact routes of the two changed carts only; improvements are accepted until a whole
   pass finds none or the time budget runs out. Routes are memoised per set of orders.

`seed` only changes the order in which carts are visited, and the result is the same for
the same input and seed whenever the search ends before the time budget (it normally
converges well within it; a budget cut depends on machine speed).

When there are more orders than `max_orders`, the most urgent ones are kept first (see
`select_orders`) and batching works within that set.
"""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .layout import Layout
from .routing import Route, shortest_route

SWAPS_PER_PAIR = 12         # proxy-ranked swaps checked exactly per pair of carts
NEAR_CARTS = 4              # each cart is paired with its nearest carts only
_EPS = 1e-9


@dataclass(frozen=True)
class OrderPicks:
    """One order to pick: its reference, the locations of its lines, and its urgency."""
    order: str
    locations: tuple[str, ...]
    priority: int = 0
    cutoff: datetime | None = None
    express: bool = False
    totes: int = 1          # totes this order fills (more than 1 when it is too large for one)


@dataclass(frozen=True)
class Batch:
    """One cart: its orders (one per tote) and the shortest walk through all their picks."""
    orders: tuple[str, ...]
    route: Route


@dataclass(frozen=True)
class Plan:
    """Carts in planning order, the total walk, and the orders left for a later wave."""
    batches: list[Batch]
    total_length_m: float
    left_out: tuple[str, ...] = ()


def urgency_key(order: OrderPicks) -> tuple[int, int, float]:
    """Sort key, most urgent first: higher priority, then express, then the earliest
    ship-by cutoff (orders without one last)."""
    cutoff = math.inf if order.cutoff is None else order.cutoff.timestamp()
    return (-order.priority, 0 if order.express else 1, cutoff)


def select_orders(orders: Sequence[OrderPicks], max_orders: int | None
                  ) -> tuple[list[OrderPicks], list[OrderPicks]]:
    """(kept, left out): the `max_orders` most urgent orders (ties: input order), both
    lists in input order. None keeps every order."""
    if max_orders is None or max_orders >= len(orders):
        return list(orders), []
    if max_orders < 0:
        raise ValueError(f"max_orders must be 0 or more, not {max_orders}")
    ranked = sorted(range(len(orders)), key=lambda i: (urgency_key(orders[i]), i))
    keep = set(ranked[:max_orders])
    return ([o for i, o in enumerate(orders) if i in keep],
            [o for i, o in enumerate(orders) if i not in keep])


def _check(layout: Layout, orders: Sequence[OrderPicks], totes: int) -> None:
    """ValueError on a bad tote count, a repeated or empty order, or a foreign location."""
    if not isinstance(totes, int) or isinstance(totes, bool) or totes < 1:
        raise ValueError(f"totes must be a whole number of at least 1, not {totes!r}")
    seen: set[str] = set()
    for o in orders:
        if o.order in seen:
            raise ValueError(f"order {o.order} appears twice")
        seen.add(o.order)
        if not o.locations:
            raise ValueError(f"order {o.order} has no locations")
        if not isinstance(o.totes, int) or isinstance(o.totes, bool) or not 1 <= o.totes <= totes:
            raise ValueError(f"order {o.order} needs {o.totes!r} totes; a cart holds {totes}")
        for code in o.locations:
            try:
                layout.point(code)
            except ValueError as err:
                raise ValueError(f"order {o.order}: {err}") from err


def _batch(layout: Layout, orders: Sequence[OrderPicks]) -> Batch:
    codes = [code for o in orders for code in o.locations]
    return Batch(tuple(o.order for o in orders), shortest_route(layout, codes))


def cut_carts(sizes: Sequence[int], ordering: Sequence[int], totes: int) -> list[list[int]]:
    """Consecutive carts along `ordering` (indices into `sizes`, the totes each order
    fills): a new cart starts when the next order does not fit in the current one."""
    carts: list[list[int]] = []
    used = totes
    for i in ordering:
        if used + sizes[i] > totes:
            carts.append([])
            used = 0
        carts[-1].append(i)
        used += sizes[i]
    return carts


def _plan(batches: list[Batch], left_out: Sequence[OrderPicks] = ()) -> Plan:
    return Plan(batches, sum(b.route.length_m for b in batches),
                tuple(o.order for o in left_out))


def fcfs_batches(layout: Layout, orders: Sequence[OrderPicks], totes: int) -> Plan:
    """The baseline: consecutive groups of `totes` orders in input order, each cart walked
    by its shortest route."""
    _check(layout, orders, totes)
    carts = cut_carts([o.totes for o in orders], range(len(orders)), totes)
    return _plan([_batch(layout, [orders[i] for i in cart]) for cart in carts])


def plan_batches(layout: Layout, orders: Sequence[OrderPicks], totes: int, *,
                 max_orders: int | None = None, time_budget_s: float = 0.8,
                 seed: int = 0) -> Plan:
    """Batch the (most urgent `max_orders`) orders onto carts of `totes` totes so that
    the total walk is as short as the time budget allows; never longer than
    `fcfs_batches` on the same orders. ValueError on bad input."""
    deadline = time.perf_counter() + max(0.0, time_budget_s)
    kept, left_out = select_orders(orders, max_orders)
    _check(layout, kept, totes)
    if not kept:
        return _plan([], left_out)
    search = _Search(layout, kept, totes)
    carts = search.best_seed()
    carts = search.improve(carts, random.Random(seed), deadline)
    batches = [Batch(tuple(kept[i].order for i in cart), search.route(cart))
               for cart in carts]
    return _plan(batches, left_out)


# ---- the search ---------------------------------------------------------------------------

Cart = list[int]      # indices into the kept orders


class _Search:
    """Carts as lists of order indices, exact routes memoised by the set of orders."""

    def __init__(self, layout: Layout, orders: Sequence[OrderPicks], totes: int) -> None:
        self.layout, self.orders, self.totes = layout, orders, totes
        self.points = [[layout.point(c) for c in o.locations] for o in orders]
        self.routes: dict[frozenset[int], Route] = {}
        self.sizes = [o.totes for o in orders]

    def fits(self, cart: Iterable[int]) -> bool:
        return sum(self.sizes[i] for i in cart) <= self.totes

    def route(self, cart: Iterable[int]) -> Route:
        """Shortest walk through the picks of these orders (memoised)."""
        key = frozenset(cart)
        found = self.routes.get(key)
        if found is None:
            codes = [c for i in sorted(key) for c in self.orders[i].locations]
            found = self.routes[key] = shortest_route(self.layout, codes)
        return found

    def cost(self, cart: Iterable[int]) -> float:
        return self.route(cart).length_m

    def total(self, carts: Sequence[Cart]) -> float:
        return sum(self.cost(c) for c in carts)

    # -- construction

    def _seed_keys(self) -> list[Callable[[int], tuple[float, ...]]]:
        """Position keys of an order: which aisles its picks span and how deep they go.
        Rightmost-then-leftmost aisle cuts carts that share an aisle span (~28 % shorter
        than FCFS on its own in the bench); the others add variety."""
        pts, half = self.points, self.layout.aisle_length_m / 2

        def span(i: int) -> tuple[float, ...]:
            return (max(p.aisle for p in pts[i]), min(p.aisle for p in pts[i]),
                    max(p.y for p in pts[i]))

        def span_deep(i: int) -> tuple[float, ...]:
            return (max(p.aisle for p in pts[i]), max(p.y for p in pts[i]) > half,
                    min(p.aisle for p in pts[i]))

        def right(i: int) -> tuple[float, ...]:
            return (max(p.aisle for p in pts[i]), max(p.y for p in pts[i]))

        def left(i: int) -> tuple[float, ...]:
            return (min(p.aisle for p in pts[i]), max(p.aisle for p in pts[i]))

        return [span, span_deep, right, left]

    def best_seed(self) -> list[Cart]:
        """The shortest of FCFS carts and carts cut from orders sorted by each seed key."""
        n, k = len(self.orders), self.totes
        orderings = [list(range(n))]
        orderings += [sorted(range(n), key=lambda i, f=f: (f(i), i)) for f in self._seed_keys()]
        candidates = [cut_carts(self.sizes, o, k) for o in orderings]
        return min(candidates, key=self.total)   # first (FCFS) wins ties

    # -- local search

    def _centre(self, cart: Cart) -> tuple[float, float]:
        """Mean (aisle, y) of the picks of these orders."""
        pts = [p for i in cart for p in self.points[i]]
        return (sum(p.aisle for p in pts) / len(pts), sum(p.y for p in pts) / len(pts))

    def _gap(self, p: tuple[float, float], q: tuple[float, float]) -> float:
        """Cheap proxy for how far apart two groups of picks lie."""
        return abs(p[0] - q[0]) * self.layout.aisle_spacing_m + abs(p[1] - q[1])

    def _pairs(self, carts: list[Cart], rng: random.Random) -> list[tuple[int, int]]:
        """Pairs of carts worth trying: each cart with its NEAR_CARTS nearest carts."""
        centres = [self._centre(c) for c in carts]
        pairs: set[tuple[int, int]] = set()
        for a in range(len(carts)):
            near = sorted((b for b in range(len(carts)) if b != a),
                          key=lambda b: (self._gap(centres[a], centres[b]), b))
            pairs.update((min(a, b), max(a, b)) for b in near[:NEAR_CARTS])
        ordered = sorted(pairs)
        rng.shuffle(ordered)
        return ordered

    def _swaps(self, one: Cart, two: Cart) -> list[tuple[int | None, int | None]]:
        """Candidate exchanges (order leaving `one`, order leaving `two`; None = nothing),
        most promising first by the centroid proxy, at most SWAPS_PER_PAIR of them."""
        c1, c2 = self._centre(one), self._centre(two)
        own = {i: self._centre([i]) for i in one + two}
        # how much closer an order is to the other cart than to its own
        pull = {i: self._gap(own[i], c1 if i in two else c2)
                - self._gap(own[i], c2 if i in two else c1) for i in own}
        options: list[tuple[int | None, int | None]] = [(a, b) for a in one for b in two]
        options += [(a, None) for a in one if self.fits(two + [a])]
        options += [(None, b) for b in two if self.fits(one + [b])]
        options.sort(key=lambda ab: (sum(pull[i] for i in ab if i is not None),
                                     -1 if ab[0] is None else ab[0],
                                     -1 if ab[1] is None else ab[1]))
        return options[:SWAPS_PER_PAIR]

    def _try_pair(self, one: Cart, two: Cart) -> tuple[Cart, Cart] | None:
        """The first improving exchange between two carts, as the two new carts."""
        before = self.cost(one) + self.cost(two)
        for a, b in self._swaps(one, two):
            new_one = [i for i in one if i != a] + ([b] if b is not None else [])
            new_two = [i for i in two if i != b] + ([a] if a is not None else [])
            if not new_one or not new_two:
                continue    # keep the number of carts: an empty cart is not a cart
            if not (self.fits(new_one) and self.fits(new_two)):
                continue
            if self.cost(new_one) + self.cost(new_two) < before - _EPS:
                return new_one, new_two
        return None

    def improve(self, carts: list[Cart], rng: random.Random, deadline: float) -> list[Cart]:
        """Swap/move orders between nearby carts until a pass finds nothing or time is up."""
        carts = [list(c) for c in carts]
        improved = True
        while improved and time.perf_counter() < deadline:
            improved = False
            for a, b in self._pairs(carts, rng):
                if time.perf_counter() >= deadline:
                    break
                better = self._try_pair(carts[a], carts[b])
                while better is not None:
                    carts[a], carts[b] = better
                    improved = True
                    better = self._try_pair(carts[a], carts[b])
        return carts
