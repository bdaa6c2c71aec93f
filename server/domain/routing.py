"""Pick routes: the shortest closed walk from the depot through a set of locations.

* One block (cross_aisles == 2): exact, by the Ratliff & Rosenthal (1983) dynamic
  programme over aisles. The state after each aisle is the degree parity of the aisle's
  front and back ends plus whether they are joined; at most 6 states, so 100 picks cost
  about as much as parsing them.
* Several blocks (cross_aisles >= 3): a TSP over shortest-walk distances between the
  stops: Held–Karp (exact) up to HELD_KARP_MAX_STOPS stops, beyond that nearest neighbour,
  S-shape and largest-gap orders as starts, each improved by 2-opt + or-opt, then a few
  seeded double-bridge kicks.
* S-shape and largest-gap: the rules most warehouses use, for comparison and the UI. On
  a multi-block layout both treat the layout as one block (only the front and back cross
  aisles); that is how the rules are usually taught and still a walk the layout allows.

A stop is one bay of one aisle: several locations in the same bay (other shelves or
slots, or the same code twice) are picked together. Every route returns the input codes
in visiting order and the length in metres of the closed walk depot → … → depot.
"""
from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from .layout import Layout, Point

HELD_KARP_MAX_STOPS = 12      # 2^12 × 12² steps: ~30 ms in pure Python, 13+ doubles each
KICKS = 20                    # double-bridge restarts of the multi-block local search
_INF = float("inf")


@dataclass(frozen=True)
class Route:
    """Input location codes in visiting order and the closed-walk length in metres."""
    sequence: tuple[str, ...]
    length_m: float


@dataclass
class _Stop:
    point: Point              # real coordinates
    y: float                  # y as if the depot were at the front (mirrored when at back)
    codes: list[str]


def _stops(layout: Layout, locations: Iterable[str]) -> list[_Stop]:
    """Group the input codes by bay, in order of first appearance; ValueError if outside."""
    back = layout.depot.at == "back"
    length = layout.aisle_length_m
    by_bay: dict[Point, _Stop] = {}
    for code in locations:
        point = layout.point(code)
        stop = by_bay.get(point)
        if stop is None:
            # mirroring puts every depot at the front, so the one-block rules need one case
            y = length - point.y if back else point.y
            stop = by_bay[point] = _Stop(point, y, [])
        stop.codes.append(code)
    return list(by_bay.values())


def _route(stops: Sequence[_Stop], length: float) -> Route:
    return Route(tuple(code for stop in stops for code in stop.codes), length)


def route_length(layout: Layout, sequence: Sequence[str]) -> float:
    """Length of the walk depot → each location in the given order → depot."""
    here, total = layout.depot_point(), 0.0
    for code in sequence:
        point = layout.point(code)
        total += layout.walk(here, point)
        here = point
    return total + layout.walk(here, layout.depot_point())


def shortest_route(layout: Layout, locations: Iterable[str]) -> Route:
    """The shortest pick walk: exact on one block, TSP search on several blocks."""
    stops = _stops(layout, locations)
    if not stops:
        return Route((), 0.0)
    if layout.one_block:
        return _route(*_one_block_exact(layout, stops))
    return _route(*_tsp(layout, stops, HELD_KARP_MAX_STOPS))


def tsp_route(layout: Layout, locations: Iterable[str],
              exact_max_stops: int = HELD_KARP_MAX_STOPS) -> Route:
    """TSP over walking distances on any layout: Held–Karp up to `exact_max_stops` stops,
    local search beyond (pass 0 to measure the local search alone)."""
    stops = _stops(layout, locations)
    if not stops:
        return Route((), 0.0)
    return _route(*_tsp(layout, stops, exact_max_stops))


def held_karp_route(layout: Layout, locations: Iterable[str]) -> Route:
    """The exact optimum by Held–Karp on any layout; exponential, for ~12 stops at most."""
    return tsp_route(layout, locations, exact_max_stops=10 ** 9)


# ---- S-shape and largest gap (one-block rules) -------------------------------------------

def _by_aisle(stops: Sequence[_Stop]) -> dict[int, list[_Stop]]:
    aisles: dict[int, list[_Stop]] = {}
    for stop in sorted(stops, key=lambda s: (s.point.aisle, s.y)):
        aisles.setdefault(stop.point.aisle, []).append(stop)
    return aisles


def _across(layout: Layout, aisles: Sequence[int]) -> float:
    """Walking along the front/back from the depot to the outermost pick aisles and back."""
    depot = layout.depot_point().aisle
    return 2 * (max(aisles[-1], depot) - min(aisles[0], depot)) * layout.aisle_spacing_m


def sshape_route(layout: Layout, locations: Iterable[str]) -> Route:
    """S-shape (traversal): every aisle with picks is walked end to end, alternating
    direction, left to right; with an odd count the last one is entered and left from the
    depot's end. Length is that walk's length."""
    by_aisle = _by_aisle(_stops(layout, locations))
    if not by_aisle:
        return Route((), 0.0)
    aisles, full = sorted(by_aisle), layout.aisle_length_m
    order: list[_Stop] = []
    length = _across(layout, aisles)
    for n, aisle in enumerate(aisles):
        picks = by_aisle[aisle]
        outward = n % 2 == 0
        order += picks if outward else picks[::-1]
        last_odd = n == len(aisles) - 1 and outward
        length += 2 * picks[-1].y if last_odd else full
    return _route(order, length)


def _largest_gap(picks: Sequence[_Stop], full: float) -> tuple[list[_Stop], list[_Stop], float]:
    """Split an aisle's picks at its largest gap: (front part, back part, walk length)."""
    edges = [0.0] + [s.y for s in picks] + [full]
    gaps = [edges[i + 1] - edges[i] for i in range(len(edges) - 1)]
    cut = max(range(len(gaps)), key=gaps.__getitem__)
    return list(picks[:cut]), list(picks[cut:]), 2 * (full - gaps[cut])


def largest_gap_route(layout: Layout, locations: Iterable[str]) -> Route:
    """Largest gap: the outermost pick aisles are walked end to end (out along the front,
    back along the back); every aisle between is entered from both ends up to its largest
    gap between picks (or aisle ends). One pick aisle: in and out from the depot's end."""
    by_aisle = _by_aisle(_stops(layout, locations))
    if not by_aisle:
        return Route((), 0.0)
    aisles, full = sorted(by_aisle), layout.aisle_length_m
    length = _across(layout, aisles)
    if len(aisles) == 1:
        picks = by_aisle[aisles[0]]
        return _route(picks, length + 2 * picks[-1].y)
    first, last, depot = aisles[0], aisles[-1], layout.depot_point().aisle
    splits = {a: _largest_gap(by_aisle[a], full) for a in aisles[1:-1]}
    length += 2 * full + sum(split[2] for split in splits.values())
    # front parts are picked while walking along the front: those at or left of the depot
    # on the way out to the first aisle, the rest on the way back from the last one
    order = [s for a in reversed(aisles[1:-1]) if a <= depot for s in splits[a][0]]
    order += by_aisle[first]
    order += [s for a in aisles[1:-1] for s in reversed(splits[a][1])]
    order += by_aisle[last][::-1]
    order += [s for a in reversed(aisles[1:-1]) if a > depot for s in splits[a][0]]
    return _route(order, length)


# ---- exact one-block routing (Ratliff & Rosenthal) ---------------------------------------
#
# A state describes the partial tour graph left of (and including) the current aisle by
# its two boundary vertices, the aisle's front end a and back end b:
# (degree of a, degree of b, components) with degree 0 = unused, 1 = odd, 2 = even > 0,
# and components 0 = nothing yet, 1 = everything joined, 2 = a and b in separate pieces.
# Every piece must touch a or b, or it could never be joined to the rest.

_EMPTY = (0, 0, 0)
# aisle options: (degree added at a, degree added at b, joins a and b)
_AISLE_EDGES = {"none": (0, 0, False), "pass": (1, 1, True), "pass2": (2, 2, True),
                "front": (2, 0, False), "back": (0, 2, False), "gap": (2, 2, False)}


def _deg(before: int, added: int) -> int:
    if before == 0 and added == 0:
        return 0
    return 1 if (before == 1) != (added % 2 == 1) else 2


@cache
def _after_aisle(state: tuple[int, int, int], kind: str) -> tuple[int, int, int]:
    da, db, comp = state
    add_a, add_b, joins = _AISLE_EDGES[kind]
    na, nb = _deg(da, add_a), _deg(db, add_b)
    joined = comp == 1 and da > 0 and db > 0
    if na and nb:
        return (na, nb, 1 if joined or joins else 2)
    return (na, nb, 1 if na or nb else 0)


@cache
def _after_cross(state: tuple[int, int, int], depot_here: bool
                 ) -> tuple[tuple[int, int, tuple[int, int, int]], ...]:
    """(copies of the front link, of the back link, next state) for every legal choice."""
    da, db, comp = state
    joined = comp == 1 and da > 0 and db > 0
    out = []
    for p in range(3):
        for q in range(3):
            fa, fb = _deg(da, p), _deg(db, q)
            if fa == 1 or fb == 1 or (depot_here and fa == 0):
                continue      # a and b are final now: even degree, depot visited
            if da and not p and not (joined and q) or db and not q and not (joined and p):
                continue      # a piece would be cut off from everything to the right
            comp2 = (1 if joined else 2) if p and q else (1 if p or q else 0)
            out.append((p, q, (p, q, comp2)))
    return tuple(out)


def _final(state: tuple[int, int, int], depot_here: bool) -> bool:
    da, db, comp = state
    return comp == 1 and da != 1 and db != 1 and (da > 0 or not depot_here)


def _aisle_options(ys: Sequence[float], full: float) -> list[tuple[str, float]]:
    if not ys:
        return [("none", 0.0), ("pass", full), ("pass2", 2 * full)]
    options = [("pass", full), ("pass2", 2 * full), ("front", 2 * ys[-1]),
               ("back", 2 * (full - ys[0]))]
    if len(ys) >= 2:
        gap = max(ys[i + 1] - ys[i] for i in range(len(ys) - 1))
        options.append(("gap", 2 * (full - gap)))
    return options


def _one_block_dp(layout: Layout, ys: dict[int, list[float]], lo: int, hi: int, depot: int
                  ) -> tuple[float, list[tuple[str, int, object]]]:
    """Cost of the shortest tour graph and its choices: ('aisle', j, kind) and
    ('cross', j, (p, q)) for the link from aisle j to j + 1."""
    full, step = layout.aisle_length_m, layout.aisle_spacing_m
    costs: dict[tuple, float] = {_EMPTY: 0.0}
    trail: list[tuple[str, int, dict]] = []
    for j in range(lo, hi + 1):
        if j > lo:
            nxt, back = {}, {}
            for state, cost in costs.items():
                for p, q, new in _after_cross(state, j - 1 == depot):
                    c = cost + (p + q) * step
                    if c < nxt.get(new, _INF):
                        nxt[new], back[new] = c, (state, (p, q))
            costs = nxt
            trail.append(("cross", j - 1, back))
        nxt, back = {}, {}
        for kind, extra in _aisle_options(ys.get(j, ()), full):
            for state, cost in costs.items():
                new, c = _after_aisle(state, kind), cost + extra
                if c < nxt.get(new, _INF):
                    nxt[new], back[new] = c, (state, kind)
        costs = nxt
        trail.append(("aisle", j, back))
    best = min((s for s in costs if _final(s, hi == depot)), key=costs.__getitem__)
    choices, state = [], best
    for what, j, back in reversed(trail):
        state, choice = back[state]
        choices.append((what, j, choice))
    return costs[best], choices[::-1]


def _tour_edges(choices, by_aisle: dict[int, list[_Stop]], full: float) -> list[tuple]:
    """The multigraph of the chosen tour: edges between ('a', j), ('b', j) and stops."""
    edges: list[tuple] = []
    for what, j, choice in choices:
        if what == "cross":
            p, q = choice
            edges += [(("a", j), ("a", j + 1))] * p + [(("b", j), ("b", j + 1))] * q
            continue
        picks = by_aisle.get(j, [])
        nodes = [("a", j)] + [("s", id(s)) for s in picks] + [("b", j)]
        ys = [0.0] + [s.y for s in picks] + [full]
        segments = range(len(nodes) - 1)
        copies = {"none": [0] * len(segments), "pass": [1] * len(segments),
                  "pass2": [2] * len(segments)}.get(choice)
        if copies is None:
            copies = [2] * len(segments)
            if choice == "front":
                copies[-1] = 0
            elif choice == "back":
                copies[0] = 0
            else:   # largest gap between two picks stays unwalked
                cut = max(range(1, len(picks)), key=lambda i: ys[i + 1] - ys[i])
                copies[cut] = 0
        for i in segments:
            edges += [(nodes[i], nodes[i + 1])] * copies[i]
    return edges


def _euler_order(edges: list[tuple], start: tuple) -> list[tuple]:
    """Vertices of an Euler circuit from `start` (Hierholzer, iterative)."""
    adjacent: dict[tuple, list[tuple[tuple, int]]] = {}
    for n, (u, v) in enumerate(edges):
        adjacent.setdefault(u, []).append((v, n))
        adjacent.setdefault(v, []).append((u, n))
    used = [False] * len(edges)
    cursor = dict.fromkeys(adjacent, 0)
    stack, circuit = [start], []
    while stack:
        v = stack[-1]
        links, i = adjacent.get(v, []), cursor.get(v, 0)
        while i < len(links) and used[links[i][1]]:
            i += 1
        cursor[v] = i
        if i == len(links):
            circuit.append(stack.pop())
        else:
            used[links[i][1]] = True
            stack.append(links[i][0])
    return circuit[::-1]


def _one_block_exact(layout: Layout, stops: list[_Stop]) -> tuple[list[_Stop], float]:
    by_aisle = _by_aisle(stops)
    depot = layout.depot_point().aisle
    lo, hi = min(min(by_aisle), depot), max(max(by_aisle), depot)
    ys = {a: [s.y for s in picks] for a, picks in by_aisle.items()}
    length, choices = _one_block_dp(layout, ys, lo, hi, depot)
    edges = _tour_edges(choices, by_aisle, layout.aisle_length_m)
    stop_of = {("s", id(s)): s for s in stops}
    order, seen = [], set()
    for node in _euler_order(edges, ("a", depot)):
        if node in stop_of and node not in seen:
            seen.add(node)
            order.append(stop_of[node])
    return order, length


# ---- multi-block: TSP over walking distances ---------------------------------------------

def _matrix(layout: Layout, stops: Sequence[_Stop]) -> list[list[float]]:
    points = [layout.depot_point()] + [s.point for s in stops]
    return [[layout.walk(p, q) for q in points] for p in points]


def _tour_length(dist: list[list[float]], tour: Sequence[int]) -> float:
    return sum(dist[tour[i - 1]][tour[i]] for i in range(len(tour)))


def _held_karp(dist: list[list[float]]) -> list[int]:
    """Optimal order of nodes 1..n from and back to node 0 (exact, O(2^n n²))."""
    n = len(dist) - 1
    full = 1 << n
    best = [[_INF] * n for _ in range(full)]
    parent = [[-1] * n for _ in range(full)]
    for k in range(n):
        best[1 << k][k] = dist[0][k + 1]
    for mask in range(1, full):
        row = best[mask]
        for j in range(n):
            cost = row[j]
            if cost == _INF:
                continue
            dj = dist[j + 1]
            for k in range(n):
                bit = 1 << k
                if mask & bit:
                    continue
                c = cost + dj[k + 1]
                if c < best[mask | bit][k]:
                    best[mask | bit][k], parent[mask | bit][k] = c, j
    mask = full - 1
    last = min(range(n), key=lambda j: best[mask][j] + dist[j + 1][0])
    order = []
    while last >= 0:
        order.append(last + 1)
        mask, last = mask ^ (1 << last), parent[mask][last]
    return order[::-1]


def _two_opt(dist: list[list[float]], tour: list[int]) -> bool:
    """One improving segment reversal, if any (tour[0] is the depot, the walk is closed)."""
    n = len(tour)
    for i in range(1, n - 1):
        a, b = tour[i - 1], tour[i]
        dab = dist[a][b]
        for j in range(i + 1, n):
            c, d = tour[j], tour[(j + 1) % n]
            if dist[a][c] + dist[b][d] < dab + dist[c][d] - 1e-9:
                tour[i:j + 1] = tour[i:j + 1][::-1]
                return True
    return False


def _or_opt(dist: list[list[float]], tour: list[int]) -> bool:
    """One improving move of a run of 1-3 stops elsewhere (either way round), if any."""
    n = len(tour)
    for size in (1, 2, 3):
        for i in range(1, n - size + 1):
            seg = tour[i:i + size]
            prev, nxt = tour[i - 1], tour[(i + size) % n]
            gain = dist[prev][seg[0]] + dist[seg[-1]][nxt] - dist[prev][nxt]
            rest = tour[:i] + tour[i + size:]
            for k in range(len(rest)):
                u, v = rest[k], rest[(k + 1) % len(rest)]
                for s in (seg, seg[::-1]):
                    if dist[u][s[0]] + dist[s[-1]][v] - dist[u][v] < gain - 1e-9:
                        tour[:] = rest[:k + 1] + s + rest[k + 1:]
                        return True
    return False


def _improve(dist: list[list[float]], tour: list[int]) -> list[int]:
    tour = list(tour)
    while _two_opt(dist, tour) or _or_opt(dist, tour):
        pass
    return tour


def _nearest_neighbour(dist: list[list[float]]) -> list[int]:
    tour, left = [0], set(range(1, len(dist)))
    while left:
        here = dist[tour[-1]]
        nxt = min(left, key=lambda k: (here[k], k))
        tour.append(nxt)
        left.remove(nxt)
    return tour


def _local_search(layout: Layout, stops: list[_Stop], dist: list[list[float]]) -> list[int]:
    """Best of several starts improved by 2-opt + or-opt, then seeded double-bridge kicks.
    The S-shape and largest-gap orders are starts, so the result is never worse than them."""
    index = {id(s): k + 1 for k, s in enumerate(stops)}
    starts = [_nearest_neighbour(dist)]
    for rule in (_sshape_order, _largest_gap_order):
        starts.append([0] + [index[id(s)] for s in rule(layout, stops)])
    tours = [_improve(dist, t) for t in starts]
    best = min(tours, key=lambda t: _tour_length(dist, t))
    rng = random.Random(len(stops))     # fixed seed: the same picks give the same route
    n = len(best) - 1
    for _ in range(KICKS if n >= 4 else 0):   # below 4 stops 2-opt + or-opt is exact
        i, j, k = sorted(rng.sample(range(1, n + 1), 3))
        kicked = _improve(dist, best[:i] + best[j:k] + best[i:j] + best[k:])
        if _tour_length(dist, kicked) < _tour_length(dist, best) - 1e-9:
            best = kicked
    return best


def _sshape_order(layout: Layout, stops: list[_Stop]) -> list[_Stop]:
    stop_of = {c: s for s in stops for c in s.codes}
    return _unique([stop_of[c] for c in sshape_route(layout, stop_of).sequence])


def _largest_gap_order(layout: Layout, stops: list[_Stop]) -> list[_Stop]:
    stop_of = {c: s for s in stops for c in s.codes}
    return _unique([stop_of[c] for c in largest_gap_route(layout, stop_of).sequence])


def _unique(stops: list[_Stop]) -> list[_Stop]:
    seen: set[int] = set()
    return [s for s in stops if not (id(s) in seen or seen.add(id(s)))]


def _tsp(layout: Layout, stops: list[_Stop], exact_max_stops: int) -> tuple[list[_Stop], float]:
    dist = _matrix(layout, stops)
    if len(stops) <= exact_max_stops:
        tour = [0] + _held_karp(dist)
    else:
        tour = _local_search(layout, stops, dist)
    return [stops[k - 1] for k in tour[1:]], _tour_length(dist, tour)
