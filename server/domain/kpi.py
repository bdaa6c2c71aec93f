"""The warehouse KPIs (issue W5 §3), pure: each takes fact rows and gives a Report.

A fact row is one thing that happened (a shipped order, a picker's scans in a quarter
hour, a stage duration), with a weight `n` (or counters) so the service can hand over
rows the database has already grouped: one row of n = 40 counts as forty identical
rows. Times are aware UTC datetimes; days, weeks and hours are the warehouse's local ones
(`tz`, an IANA name), so an order shipped at 23:30 UTC is counted on the local day it was
shipped, wherever that is.

What each KPI means:
- order accuracy: shipped orders with neither a `wrong_item` verdict at packing nor a
  return whose reason says wrong item, over shipped orders (by the day first shipped);
- on-time shipping: orders with a ship-by promise shipped by it, over those with one;
- pick accuracy: pick tasks whose first pick scan was `ok`, over tasks scanned;
- cycle time per stage: median and p90 of each stage of the orders received in the
  range (STAGES); the bottleneck is the stage with the longest median;
- picker / packer lines per hour: lines done over active hours (quarter hours with at
  least one scan), error rate: scans with a verdict other than ok over scans;
- short-pick rate: short picks over pick tasks started;
- inventory turnover per SKU: units shipped over the average stock (see turnover());
- printer uptime: the share of the range a printer had no printer_fault open.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

# the quarter hour: every real UTC offset is a multiple of it, so a quarter-hour bucket
# always falls inside one local hour and one local day
BUCKET_SECONDS = 900

# the order's stages, in order: (stage name, from milestone, to milestone)
MILESTONES = ("received", "reserved", "waved", "picked", "packed", "shipped", "delivered")
STAGES = tuple((f"{a}_to_{b}", a, b) for a, b in zip(MILESTONES, MILESTONES[1:]))

WRONG_ITEM = "wrong_item"


@dataclass
class Table:
    columns: tuple[str, ...]
    rows: list[list] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"columns": list(self.columns), "rows": self.rows}


@dataclass
class Report:
    summary: dict
    tables: dict[str, Table]

    def as_dict(self) -> dict:
        return {"summary": self.summary,
                "tables": {name: t.as_dict() for name, t in self.tables.items()}}


# --- time -------------------------------------------------------------------------------

def local(at: dt.datetime, tz: str) -> dt.datetime:
    """`at` (aware, or naive UTC) in the time zone `tz`."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return at.astimezone(ZoneInfo(tz))


def local_day(at: dt.datetime, tz: str) -> dt.date:
    return local(at, tz).date()


def week_of(day: dt.date) -> dt.date:
    """The Monday of the ISO week of `day`."""
    return day - dt.timedelta(days=day.weekday())


def ratio(part: float, whole: float) -> float | None:
    """part / whole rounded to 4 places; None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


def percentile(values: Iterable[tuple[float, int]], q: float) -> float | None:
    """The q-quantile (0..1) of weighted values [(value, weight)], nearest rank: the
    smallest value with at least q of the weight at or below it."""
    pairs = sorted((v, w) for v, w in values if w > 0)
    total = sum(w for _, w in pairs)
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value, weight in pairs:
        seen += weight
        if seen >= rank:
            return value
    return pairs[-1][0]


# --- shipped orders: accuracy and on-time ----------------------------------------------

@dataclass(frozen=True)
class ShippedOrder:
    """An order first shipped at `at`. wrong_at_packing: a wrong_item verdict at the pack
    bench; wrong_item_return: a return line whose reason says wrong item; promised: it had
    a ship-by; on_time: shipped at or before it."""
    at: dt.datetime
    channel: str
    wrong_at_packing: bool = False
    wrong_item_return: bool = False
    promised: bool = False
    on_time: bool = False
    n: int = 1


def is_wrong_item_reason(reason: str) -> bool:
    """A return reason that says the customer got the wrong item (Shopify's WRONG_ITEM,
    'Wrong item sent', 'wrong-item'…)."""
    return "wrong item" in normalise_reason(reason)


def normalise_reason(reason: str) -> str:
    """A return reason as one label: lower case, `_`/`-` as spaces, blanks squeezed;
    'unspecified' when empty."""
    text = " ".join((reason or "").lower().replace("_", " ").replace("-", " ").split())
    return text or "unspecified"


def _day_and_channel(rows: Iterable, tz: str, counts: Callable[[object], Sequence[int]],
                     columns: Sequence[str], line: Callable[[list[int]], list]) -> Report:
    """Add up each row's `counts` by local day and by channel; `line` turns a sum into
    the table's values (columns), the summary is `line` of the grand total. Days and
    channels with nothing counted are left out."""
    by_day: dict[dt.date, list[int]] = {}
    by_channel: dict[str, list[int]] = {}
    total: list[int] | None = None
    for r in rows:
        values = counts(r)
        total = total or [0] * len(values)
        for acc in (by_day.setdefault(local_day(r.at, tz), [0] * len(values)),
                    by_channel.setdefault(r.channel, [0] * len(values)), total):
            for i, v in enumerate(values):
                acc[i] += v
    summary = dict(zip(columns, line(total))) if total else dict(
        zip(columns, line([0] * len(columns))))
    return Report(summary, {
        "by_day": Table(("day", *columns), [[d.isoformat(), *line(by_day[d])]
                                            for d in sorted(by_day) if any(by_day[d])]),
        "by_channel": Table(("channel", *columns), [[c, *line(by_channel[c])]
                                                    for c in sorted(by_channel)
                                                    if any(by_channel[c])]),
    })


def order_accuracy(rows: Iterable[ShippedOrder], tz: str) -> Report:
    """Shipped orders without a wrong item (at packing or returned), by day and channel."""
    def counts(r):
        wrong = r.wrong_at_packing or r.wrong_item_return
        return (r.n, 0 if wrong else r.n, r.n if r.wrong_at_packing else 0,
                r.n if r.wrong_item_return else 0)
    return _day_and_channel(
        rows, tz, counts,
        ("shipped", "accurate", "accuracy", "wrong_at_packing", "wrong_item_returns"),
        lambda a: [a[0], a[1], ratio(a[1], a[0]), a[2], a[3]])


def on_time_shipping(rows: Iterable[ShippedOrder], tz: str) -> Report:
    """Orders with a ship-by promise shipped by it, by day and channel (orders without a
    promise are counted apart, not in the rate)."""
    return _day_and_channel(
        rows, tz, lambda r: (r.n if r.promised else 0, r.n if r.promised and r.on_time else 0,
                             0 if r.promised else r.n),
        ("promised", "on_time", "on_time_rate", "late", "without_promise"),
        lambda a: [a[0], a[1], ratio(a[1], a[0]), a[0] - a[1], a[2]])


# --- cycle time -------------------------------------------------------------------------

@dataclass(frozen=True)
class StageDuration:
    """n orders spent `seconds` in `stage` (one of STAGES' names)."""
    stage: str
    channel: str
    seconds: float
    n: int = 1


def stage_durations(milestones: Mapping[str, dt.datetime | None]) -> list[tuple[str, float]]:
    """One order's stage durations from its milestone times (a missing milestone ends
    the stages that need it; a stage that ran backwards — a re-waved order — is left out)."""
    out = []
    for name, a, b in STAGES:
        start, end = milestones.get(a), milestones.get(b)
        if start is not None and end is not None and end >= start:
            out.append((name, (end - start).total_seconds()))
    return out


def cycle_time(rows: Iterable[StageDuration]) -> Report:
    """Median and p90 per stage (all channels, and per channel); the bottleneck is the
    stage with the longest median (ties: the later stage)."""
    per_stage: dict[str, list[tuple[float, int]]] = defaultdict(list)
    per_channel: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    for r in rows:
        per_stage[r.stage].append((r.seconds, r.n))
        per_channel[(r.channel, r.stage)].append((r.seconds, r.n))
    order = {name: i for i, (name, _, _) in enumerate(STAGES)}

    def line(values):
        return [sum(w for _, w in values), percentile(values, 0.5), percentile(values, 0.9)]

    stages = [[name, *line(per_stage.get(name, []))] for name, _, _ in STAGES]
    timed = [s for s in stages if s[2] is not None]
    bottleneck = max(timed, key=lambda s: (s[2], order[s[0]]))[0] if timed else None
    cols = ("orders", "median_seconds", "p90_seconds")
    return Report({"bottleneck": bottleneck,
                   "stages": {s[0]: dict(zip(cols, s[1:])) for s in stages}}, {
        "by_stage": Table(("stage", *cols), stages),
        "by_channel": Table(("channel", "stage", *cols), [
            [c, s, *line(v)] for (c, s), v in sorted(per_channel.items(),
                                                      key=lambda kv: (kv[0][0],
                                                                      order.get(kv[0][1], 99)))]),
    })


# --- people: pickers and packers ------------------------------------------------------

@dataclass(frozen=True)
class PickStat:
    """One picker's pick work in one quarter hour starting at `at`: pick scans, those with
    a verdict other than ok, tasks started (first scan of a task, pick or short), tasks
    whose first pick scan this was and of those the ok ones, short picks, units."""
    at: dt.datetime
    user: str
    channel: str
    scans: int = 0
    errors: int = 0
    tasks: int = 0
    first: int = 0
    first_ok: int = 0
    shorts: int = 0
    units: int = 0


@dataclass(frozen=True)
class PersonWork:
    """One picker's or packer's work over the range: lines done (pick tasks started, or
    order lines verified at the bench), scans, scans with a verdict other than ok, and the
    quarter hours in which they scanned at least once (their active time)."""
    badge: str
    name: str
    lines: int
    scans: int
    errors: int
    quarters: int


def pick_accuracy(rows: Iterable[PickStat], tz: str) -> Report:
    """Tasks whose first pick scan was ok, over tasks with a pick scan; by day, channel."""
    return _day_and_channel(rows, tz, lambda r: (r.first, r.first_ok),
                            ("tasks", "first_scan_ok", "pick_accuracy"),
                            lambda a: [a[0], a[1], ratio(a[1], a[0])])


def short_picks(rows: Iterable[PickStat], tz: str) -> Report:
    """Short picks over pick tasks started, by day and channel."""
    return _day_and_channel(rows, tz, lambda r: (r.tasks, r.shorts),
                            ("tasks", "shorts", "short_rate"),
                            lambda a: [a[0], a[1], ratio(a[1], a[0])])


PEOPLE_COLUMNS = ("badge", "name", "lines", "active_hours", "lines_per_hour", "scans",
                  "errors", "error_rate")


def people_performance(rows: Iterable[PersonWork], who: str) -> Report:
    """Lines per active hour and scan error rate per person (`who`: picker or packer),
    busiest first; the summary over everyone."""
    acc: dict[str, list] = {}
    for r in rows:
        a = acc.setdefault(r.badge, [r.name, 0, 0, 0, 0])
        a[1] += r.lines
        a[2] += r.scans
        a[3] += r.errors
        a[4] += r.quarters
    out = []
    for badge, (name, lines, scans, errors, quarters) in acc.items():
        hours = quarters * BUCKET_SECONDS / 3600
        out.append([badge, name, lines, hours, round(lines / hours, 2) if hours else None,
                    scans, errors, ratio(errors, scans)])
    out.sort(key=lambda p: (-p[2], p[0]))
    lines, hours = sum(p[2] for p in out), sum(p[3] for p in out)
    scans, errors = sum(p[5] for p in out), sum(p[6] for p in out)
    return Report({f"{who}s": len(out), "lines": lines, "active_hours": hours,
                   "lines_per_hour": round(lines / hours, 2) if hours else None,
                   "scans": scans, "errors": errors, "error_rate": ratio(errors, scans)},
                  {f"by_{who}": Table(PEOPLE_COLUMNS, out)})


# --- stock and printers ---------------------------------------------------------------

@dataclass(frozen=True)
class SkuFlow:
    """A SKU's units shipped in the range and its stock on hand now."""
    sku: str
    name: str
    shipped: int
    on_hand: int


def turnover(rows: Iterable[SkuFlow], days: float) -> Report:
    """Turnover = units shipped / average stock over the range, the average taken
    between the stock at the start (estimated as on hand now + shipped since: receipts
    in the range are not known here) and on hand now; days of cover = on hand / units
    shipped per day. Fastest movers first."""
    out = []
    for r in rows:
        start = r.on_hand + r.shipped
        average = (start + r.on_hand) / 2
        per_day = r.shipped / days if days else 0
        out.append([r.sku, r.name, r.shipped, r.on_hand,
                    round(r.shipped / average, 3) if average else None,
                    round(r.on_hand / per_day, 1) if per_day else None])
    out.sort(key=lambda x: (-(x[4] or 0), -x[2], x[0]))
    shipped = sum(x[2] for x in out)
    on_hand = sum(x[3] for x in out)
    average = (on_hand + shipped + on_hand) / 2
    return Report({"skus": len(out), "shipped": shipped, "on_hand": on_hand,
                   "turnover": round(shipped / average, 3) if average else None,
                   "days": days}, {
        "by_sku": Table(("sku", "name", "shipped", "on_hand", "turnover", "days_of_cover"),
                        out)})


@dataclass(frozen=True)
class Fault:
    """A printer_fault exception: open from `start` until `end` (None: still open)."""
    printer: str
    start: dt.datetime
    end: dt.datetime | None


def printer_uptime(printers: Sequence[str], faults: Iterable[Fault], start: dt.datetime,
                   end: dt.datetime, now: dt.datetime) -> Report:
    """Per printer: the seconds of [start, min(end, now)) covered by an open fault
    (overlapping faults counted once), uptime = 1 - down / range, faults begun in it."""
    stop = min(end, now)
    span = max(0.0, (stop - start).total_seconds())
    spans: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {p: [] for p in printers}
    begun: dict[str, int] = defaultdict(int)
    for f in faults:
        a, b = max(f.start, start), min(f.end or stop, stop)
        spans.setdefault(f.printer, [])
        if start <= f.start < stop:
            begun[f.printer] += 1
        if b > a:
            spans[f.printer].append((a, b))
    out = []
    for printer in sorted(spans):
        down, last = 0.0, None
        for a, b in sorted(spans[printer]):
            if last is not None and a < last:
                a = last
            if b > a:
                down += (b - a).total_seconds()
            last = b if last is None else max(last, b)
        out.append([printer, begun[printer], round(down), ratio(span - down, span)])
    total_down = sum(x[2] for x in out)
    return Report({"printers": len(out), "faults": sum(x[1] for x in out),
                   "down_seconds": total_down,
                   "uptime": ratio(span * len(out) - total_down, span * len(out))},
                  {"by_printer": Table(("printer", "faults", "down_seconds", "uptime"), out)})
