"""Sales analytics (issue W5 §4), pure: fact rows in, a kpi.Report out.

Money stays in minor units and per currency (two channels selling in EUR and GBP are
never added up). Days, weeks and hours are the warehouse's local ones (`tz`).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping

from .kpi import Report, Table, local, local_day, normalise_reason, ratio, week_of

RANKING_TOP = 50


@dataclass(frozen=True)
class Sale:
    """Orders placed in the quarter hour at `at` on a channel, in a currency."""
    at: dt.datetime
    channel: str
    currency: str
    orders: int = 1
    units: int = 0
    revenue_minor: int = 0


def sales_trend(rows: Iterable[Sale], tz: str) -> Report:
    """Orders, units and revenue by local day and by ISO week (Monday), per channel."""
    day: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    week: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        d = local_day(r.at, tz)
        for acc in (day[(d, r.channel, r.currency)], week[(week_of(d), r.channel, r.currency)],
                    totals[r.currency]):
            acc[0] += r.orders
            acc[1] += r.units
            acc[2] += r.revenue_minor
    cols = ("channel", "currency", "orders", "units", "revenue_minor")
    return Report({
        "orders": sum(a[0] for a in totals.values()),
        "units": sum(a[1] for a in totals.values()),
        "revenue_minor": {cur: a[2] for cur, a in sorted(totals.items())},
    }, {
        "by_day": Table(("day", *cols), [[k[0].isoformat(), k[1], k[2], *v]
                                         for k, v in sorted(day.items())]),
        "by_week": Table(("week", *cols), [[k[0].isoformat(), k[1], k[2], *v]
                                           for k, v in sorted(week.items())]),
    })


@dataclass(frozen=True)
class ProductSale:
    """A SKU's sales in a currency: units, revenue, order lines (an order names a SKU on
    one line, so: orders)."""
    sku: str
    name: str
    currency: str
    units: int
    revenue_minor: int
    lines: int


def product_ranking(rows: Iterable[ProductSale], top: int = RANKING_TOP) -> Report:
    """The `top` products by units, and by revenue per currency."""
    rows = list(rows)
    units: dict[str, list] = {}
    for r in rows:
        acc = units.setdefault(r.sku, [r.sku, r.name, 0, 0])
        acc[2] += r.units
        acc[3] += r.lines
    by_units = sorted(units.values(), key=lambda a: (-a[2], a[0]))[:top]
    by_revenue = sorted(([r.sku, r.name, r.currency, r.revenue_minor, r.units] for r in rows),
                        key=lambda a: (a[2], -a[3], a[0]))
    per_currency: dict[str, int] = defaultdict(int)
    kept = []
    for line in by_revenue:
        per_currency[line[2]] += 1
        if per_currency[line[2]] <= top:
            kept.append(line)
    return Report({"products": len(units), "units": sum(a[2] for a in units.values())}, {
        "by_units": Table(("sku", "name", "units", "order_lines"), by_units),
        "by_revenue": Table(("sku", "name", "currency", "revenue_minor", "units"), kept),
    })


@dataclass(frozen=True)
class Returned:
    """Units of a SKU returned for a reason (return lines authorised in the range)."""
    sku: str
    reason: str
    units: int
    lines: int = 1


def return_rates(returned: Iterable[Returned], sold: Mapping[str, int]) -> Report:
    """Return rate per product (units returned / units sold in the same range) and the
    reasons (normalised: 'Wrong_item' and 'wrong item' are one)."""
    per_sku: dict[str, int] = defaultdict(int)
    reasons: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in returned:
        per_sku[r.sku] += r.units
        acc = reasons[normalise_reason(r.reason)]
        acc[0] += r.lines
        acc[1] += r.units
    skus = sorted(set(per_sku) | {s for s, n in sold.items() if n})
    products = [[s, sold.get(s, 0), per_sku.get(s, 0), ratio(per_sku.get(s, 0), sold.get(s, 0))]
                for s in skus]
    products.sort(key=lambda p: (-(p[3] or 0), -p[2], p[0]))
    units = sum(per_sku.values())
    total_sold = sum(sold.values())
    return Report({"sold": total_sold, "returned": units, "return_rate": ratio(units, total_sold)}, {
        "by_product": Table(("sku", "sold", "returned", "return_rate"), products),
        "by_reason": Table(("reason", "lines", "units", "share"), [
            [k, v[0], v[1], ratio(v[1], units)]
            for k, v in sorted(reasons.items(), key=lambda kv: (-kv[1][1], kv[0]))]),
    })


FREQUENCY_BANDS = ((1, 1), (2, 2), (3, 5), (6, 10), (11, None))


def purchase_frequency(counts: Mapping[int, int]) -> Report:
    """`counts`: orders per customer → customers with that many orders in the range.
    Customers by band, the repeat share (two orders or more) and the mean."""
    customers = sum(counts.values())
    orders = sum(k * v for k, v in counts.items())
    repeat = sum(v for k, v in counts.items() if k >= 2)
    bands = []
    for lo, hi in FREQUENCY_BANDS:
        n = sum(v for k, v in counts.items() if k >= lo and (hi is None or k <= hi))
        label = str(lo) if lo == hi else (f"{lo}+" if hi is None else f"{lo}-{hi}")
        bands.append([label, n, ratio(n, customers)])
    return Report({"customers": customers, "orders": orders, "repeat_customers": repeat,
                   "repeat_rate": ratio(repeat, customers),
                   "orders_per_customer": round(orders / customers, 3) if customers else None},
                  {"by_band": Table(("orders", "customers", "share"), bands)})


@dataclass(frozen=True)
class Payment:
    method: str
    channel: str
    currency: str
    orders: int
    revenue_minor: int


def payment_label(method: str) -> str:
    """One payment method label: a storefront's gateway names lower-cased, blanks
    squeezed; 'unknown' when the storefront sent none."""
    text = " ".join((method or "").lower().split())
    return text or "unknown"


def payment_share(rows: Iterable[Payment]) -> Report:
    """Share of orders per payment method (and revenue per currency)."""
    methods: dict[str, int] = defaultdict(int)
    detail: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        label = payment_label(r.method)
        methods[label] += r.orders
        acc = detail[(label, r.channel, r.currency)]
        acc[0] += r.orders
        acc[1] += r.revenue_minor
    total = sum(methods.values())
    return Report({"orders": total, "methods": len(methods)}, {
        "by_method": Table(("method", "orders", "share"), [
            [m, n, ratio(n, total)] for m, n in sorted(methods.items(),
                                                      key=lambda kv: (-kv[1], kv[0]))]),
        "by_channel": Table(("method", "channel", "currency", "orders", "revenue_minor"),
                            [[*k, *v] for k, v in sorted(detail.items())]),
    })


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Activity:
    """`n` things (orders placed, pick scans) in the quarter hour starting at `at`."""
    at: dt.datetime
    n: int


def peak_hours(orders: Iterable[Activity], scans: Iterable[Activity], tz: str) -> Report:
    """Weekday × local hour heat maps of orders placed and of pick scans; the summary
    names the busiest cell of each."""
    summary, tables = {}, {}
    for what, rows in (("orders", orders), ("scans", scans)):
        grid = [[0] * 24 for _ in WEEKDAYS]
        for r in rows:
            t = local(r.at, tz)
            grid[t.weekday()][t.hour] += r.n
        flat = [(grid[d][h], -d, -h) for d in range(7) for h in range(24)]
        best, d, h = max(flat)
        summary[what] = sum(sum(row) for row in grid)
        summary[f"peak_{what}"] = ({"weekday": WEEKDAYS[-d], "hour": -h, "n": best}
                                   if best else None)
        tables[what] = Table(("weekday", *(f"h{h:02d}" for h in range(24))),
                             [[WEEKDAYS[i], *grid[i]] for i in range(7)])
    return Report(summary, tables)
