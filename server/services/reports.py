"""Reports (issue W5 §3-4): KPIs and sales analytics for a date range, a warehouse and a
channel. Each report is one or two grouped queries (the database adds up, over the fact
tables of migration 0023 where the base tables are large) and a pure function of
server/domain/kpi.py or analytics.py over the rows they return.

Ranges: `from` / `to` are local dates (or ISO times) in the warehouse's time zone
(config `reports:`); a `to` date includes that whole day. Pick and pack figures are kept
per quarter hour, so a range given as a time mid-quarter counts whole quarter hours.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Callable
from zoneinfo import ZoneInfo

from .. import clock
from ..config import Config
from ..domain import analytics, kpi
from ..domain.errors import Unprocessable
from ..store.db import execute, kind

DEFAULT_DAYS = 30
MAX_DAYS = 366
BUCKET = kpi.BUCKET_SECONDS


@dataclass(frozen=True)
class Scope:
    """What a report covers: [start, end) in UTC, the local time zone, the filters."""
    start: dt.datetime
    end: dt.datetime
    tz: str
    warehouse: str | None = None
    warehouse_id: int | None = None
    channel: str | None = None
    channel_id: int | None = None

    def as_dict(self) -> dict:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "timezone": self.tz,
                "warehouse": self.warehouse, "channel": self.channel}


# --- the scope from the query string -----------------------------------------------------

def _moment(raw: str, tz: str, field: str, *, end: bool) -> dt.datetime:
    """A local date (the day's start; with end=True the next day's) or an ISO time (naive:
    local) as aware UTC."""
    if len(raw) > 40:
        raise Unprocessable(f"{field} is longer than 40 characters", field=field)
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            if end:
                day += dt.timedelta(days=1)
            t = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(tz))
        else:
            t = dt.datetime.fromisoformat(raw)
            if t.tzinfo is None:
                t = t.replace(tzinfo=ZoneInfo(tz))
        return t.astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):
        raise Unprocessable(f"{field} must be a date like 2026-12-01 or an ISO 8601 time",
                            field=field) from None


def scope(settings: Config, *, start: str | None, end: str | None, warehouse: str | None,
          channel: str | None, now: dt.datetime | None = None) -> Scope:
    """Check and resolve the query: unknown warehouse or channel, a bad or reversed or
    too long range → Unprocessable naming the field. Default: the last 30 local days,
    today included."""
    now = now or clock.now()
    wh_id = ch_id = None
    if warehouse:
        row = execute("SELECT id FROM warehouse WHERE code = ?", (warehouse[:64],)).fetchone()
        if row is None:
            raise Unprocessable(f"no warehouse {warehouse[:64]!r}", field="warehouse",
                                code="unknown_warehouse")
        wh_id = row[0]
    if channel:
        row = execute("SELECT id FROM channel WHERE name = ?", (channel[:120],)).fetchone()
        if row is None:
            raise Unprocessable(f"no channel {channel[:120]!r}", field="channel",
                                code="unknown_channel")
        ch_id = row[0]
    tz = settings.reports.timezone_of(warehouse or None)
    today = kpi.local_day(now, tz)
    stop = _moment(end, tz, "to", end=True) if end else _moment(
        (today + dt.timedelta(days=1)).isoformat(), tz, "to", end=False)
    if start:
        begin = _moment(start, tz, "from", end=False)
    else:
        try:
            first = kpi.local_day(stop - dt.timedelta(seconds=1), tz) \
                - dt.timedelta(days=DEFAULT_DAYS - 1)
        except OverflowError:
            raise Unprocessable("to is too early for a report", field="to",
                                code="bad_range") from None
        begin = _moment(first.isoformat(), tz, "from", end=False)
    if begin >= stop:
        raise Unprocessable("from must be before to", field="from", code="bad_range")
    if stop - begin > dt.timedelta(days=MAX_DAYS):
        raise Unprocessable(f"a report covers at most {MAX_DAYS} days", field="from",
                            code="bad_range")
    return Scope(begin, stop, tz, warehouse or None, wh_id, channel or None, ch_id)


# --- SQL helpers --------------------------------------------------------------------------

_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+/-]{1,64}$")


def _bucket(column: str, sc: Scope, unit: str = "hour") -> str:
    """The time a row is counted at, grouped as finely as the report needs. PostgreSQL:
    the local day or hour itself (AT TIME ZONE knows the zone's daylight saving), so a
    90-day report reads 90 (or 2,160) groups; SQLite, which has no time zones: the UTC
    quarter hour (every real offset is a multiple of it), turned local in Python.
    `column`: a naive-UTC timestamp, or `bucket:<expr>` for a stored quarter hour."""
    stored = column.startswith("bucket:")
    expr = column[len("bucket:"):] if stored else column
    if kind() == "postgresql":
        if not _ZONE_NAME.match(sc.tz):     # config-checked; never inlined unless plain
            raise ValueError(f"time zone {sc.tz!r}")
        utc = f"to_timestamp({expr} * {BUCKET})" if stored else f"({expr} AT TIME ZONE 'UTC')"
        return f"date_trunc('{unit}', {utc} AT TIME ZONE '{sc.tz}')"
    if stored:
        return expr
    return f"CAST(strftime('%s', {expr}) AS INTEGER) / {BUCKET}"


def _seconds(later: str, earlier: str) -> str:
    if kind() == "postgresql":
        return f"extract(epoch FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def _at(value, sc: Scope) -> dt.datetime:
    """A grouped time from _bucket() as aware UTC: a quarter-hour number (SQLite) or a
    local day or hour (PostgreSQL; a repeated autumn hour reads as its first, which is
    the same local day and hour)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=ZoneInfo(sc.tz)).astimezone(dt.timezone.utc)
    return dt.datetime.fromtimestamp(int(value) * BUCKET, dt.timezone.utc)


def _range(sc: Scope, column: str) -> tuple[str, list]:
    return f"{column} >= ? AND {column} < ?", [clock.naive_utc(sc.start), clock.naive_utc(sc.end)]


def _filters(sc: Scope, wh: str = "o.warehouse_id", ch: str = "o.channel_id") -> tuple[str, list]:
    sql, params = "", []
    if sc.warehouse_id is not None:
        sql, params = sql + f" AND {wh} = ?", params + [sc.warehouse_id]
    if sc.channel_id is not None:
        sql, params = sql + f" AND {ch} = ?", params + [sc.channel_id]
    return sql, params


def _where(sc: Scope, column: str, **kw) -> tuple[str, list]:
    r, p = _range(sc, column)
    f, q = _filters(sc, **kw)
    return r + f, p + q


def _buckets(sc: Scope) -> list:
    return [int(sc.start.timestamp()) // BUCKET, -(-int(sc.end.timestamp()) // BUCKET)]


_SOLD = "o.status NOT IN ('cancelled', 'invalid')"
_WRONG_RETURN = ("lower(replace(replace(COALESCE(NULLIF(l.reason, ''), r.reason), '_', ' '), "
                 "'-', ' ')) LIKE ?")


# --- fact rows ------------------------------------------------------------------------

def shipped_orders(sc: Scope) -> list[kpi.ShippedOrder]:
    """Orders first shipped in the range, grouped by what the two KPIs need. The orders
    with a wrong item (at packing, or returned as one) are few: found once each and
    joined, not looked up order by order."""
    where, params = _where(sc, "st.shipped_at")
    rows = execute(
        f"SELECT {_bucket('st.shipped_at', sc, 'day')}, c.name, "
        "CASE WHEN wp.order_id IS NULL THEN 0 ELSE 1 END, "
        "CASE WHEN wr.order_id IS NULL THEN 0 ELSE 1 END, "
        "CASE WHEN o.ship_by IS NULL THEN 0 ELSE 1 END, "
        "CASE WHEN o.ship_by IS NOT NULL AND st.shipped_at <= o.ship_by THEN 1 ELSE 0 END, "
        "COUNT(*) FROM order_stage st JOIN sales_order o ON o.id = st.order_id "
        "JOIN channel c ON c.id = o.channel_id "
        "LEFT JOIN (SELECT DISTINCT ps.order_id FROM pack_scan x JOIN pack_session ps ON "
        "ps.id = x.session_id WHERE x.verdict = 'wrong_item') wp ON wp.order_id = o.id "
        "LEFT JOIN (SELECT DISTINCT r.order_id FROM return_request r JOIN return_line l ON "
        f"l.return_id = r.id WHERE {_WRONG_RETURN}) wr ON wr.order_id = o.id "
        f"WHERE {where} GROUP BY 1, 2, 3, 4, 5, 6", ["%wrong item%", *params]).fetchall()
    return [kpi.ShippedOrder(_at(b, sc), ch, bool(pw), bool(rw), bool(pr), bool(ot), int(n))
            for b, ch, pw, rw, pr, ot, n in rows]


def stage_durations(sc: Scope) -> list[kpi.StageDuration]:
    """Each stage's duration (to the whole minute below, after rounding to the second) of
    the orders received in the range: one pass over the orders, each read once per stage
    (a cross join with the stage numbers)."""
    where, params = _where(sc, "st.received_at")
    stages = " UNION ALL ".join(f"SELECT {i} AS k" for i in range(len(kpi.STAGES)))
    secs = " ".join(f"WHEN {i} THEN {_seconds(f'st.{b}_at', f'st.{a}_at')}"
                    for i, (_, a, b) in enumerate(kpi.STAGES))
    valid = " ".join(f"WHEN {i} THEN st.{b}_at >= st.{a}_at"
                     for i, (_, a, b) in enumerate(kpi.STAGES))
    rows = execute(
        f"SELECT s.k, c.name, CAST(round(CASE s.k {secs} END) AS BIGINT) / 60 * 60, COUNT(*) "
        "FROM order_stage st JOIN sales_order o ON o.id = st.order_id "
        f"JOIN channel c ON c.id = o.channel_id CROSS JOIN ({stages}) s "
        f"WHERE {where} AND CASE s.k {valid} END GROUP BY 1, 2, 3", params).fetchall()
    return [kpi.StageDuration(kpi.STAGES[k][0], ch, float(sec), int(n))
            for k, ch, sec, n in rows]


def pick_stats(sc: Scope) -> list[kpi.PickStat]:
    f, q = _filters(sc, wh="p.warehouse_id", ch="p.channel_id")
    rows = execute(
        f"SELECT {_bucket('bucket:p.bucket', sc, 'day')}, c.name, SUM(p.scans), "
        "SUM(p.errors), SUM(p.tasks), SUM(p.first), "
        "SUM(p.first_ok), SUM(p.shorts), SUM(p.units) FROM pick_stat p "
        "JOIN channel c ON c.id = p.channel_id WHERE p.bucket >= ? AND p.bucket < ?"
        f"{f} GROUP BY 1, 2", _buckets(sc) + q).fetchall()
    return [kpi.PickStat(_at(b, sc), "", ch, *map(int, rest)) for b, ch, *rest in rows]


def people(sc: Scope, table: str) -> list[kpi.PersonWork]:
    """Per picker (pick_stat) or packer (pack_stat): lines, scans, errors, active quarters."""
    lines = "p.tasks" if table == "pick_stat" else "p.lines"
    f, q = _filters(sc, wh="p.warehouse_id", ch="p.channel_id")
    rows = execute(
        f"SELECT COALESCE(u.badge, ''), COALESCE(u.name, ''), SUM({lines}), SUM(p.scans), "
        f"SUM(p.errors), COUNT(DISTINCT p.bucket) FROM {table} p "
        "LEFT JOIN app_user u ON u.id = p.user_id WHERE p.bucket >= ? AND p.bucket < ?"
        f"{f} GROUP BY u.badge, u.name", _buckets(sc) + q).fetchall()
    return [kpi.PersonWork(badge or "?", name, *map(int, rest)) for badge, name, *rest in rows]


def _units_by_sku(sc: Scope, column: str, join: str = "", extra: str = "",
                  by_currency: bool = True) -> list:
    """(sku, [currency,] units, revenue, lines) of the order lines whose order's `column`
    is in the range. sales_order is joined only when a filter or the currency needs it."""
    where, params = _where(sc, column)
    orders = by_currency or sc.warehouse_id is not None or sc.channel_id is not None \
        or column.startswith("o.")
    cur = "o.currency, " if by_currency else ""
    return execute(
        f"SELECT l.sku, {cur}SUM(l.quantity), SUM(l.line_total_minor), COUNT(*) "
        f"FROM order_line l {join} "
        + ("JOIN sales_order o ON o.id = l.order_id " if orders else "")
        + f"WHERE {where}{extra} GROUP BY l.sku{', o.currency' if by_currency else ''}",
        params).fetchall()


def _names(skus) -> dict[str, str]:
    """Catalogue names of `skus` (a SKU sold but not in the catalogue has none)."""
    skus = sorted(set(skus))
    out: dict[str, str] = {}
    for i in range(0, len(skus), 500):
        part = skus[i:i + 500]
        out.update(execute(f"SELECT sku, name FROM product WHERE sku IN "
                           f"({', '.join('?' * len(part))})", part).fetchall())
    return out


def sku_flows(sc: Scope) -> list[kpi.SkuFlow]:
    shipped: dict[str, list] = {}
    for sku, units, *_ in _units_by_sku(
            sc, "st.shipped_at", "JOIN order_stage st ON st.order_id = l.order_id",
            by_currency=False):
        shipped[sku] = ["", int(units)]
    stock_sql = ("SELECT p.sku, p.name, SUM(s.on_hand) FROM stock s JOIN product p ON "
                 "p.id = s.product_id")
    params: list = []
    if sc.warehouse_id is not None:
        stock_sql, params = stock_sql + " WHERE s.warehouse_id = ?", [sc.warehouse_id]
    on_hand = {sku: (name, int(n)) for sku, name, n in
               execute(stock_sql + " GROUP BY p.sku, p.name", params).fetchall()}
    out = []
    for sku in sorted(set(shipped) | {s for s, (_, n) in on_hand.items() if n}):
        name = on_hand[sku][0] if sku in on_hand else shipped[sku][0]
        out.append(kpi.SkuFlow(sku, name or "", shipped.get(sku, [None, 0])[1],
                               on_hand.get(sku, ("", 0))[1]))
    return out


def printer_faults(settings: Config, sc: Scope) -> tuple[list[str], list[kpi.Fault]]:
    printers = sorted(settings.printers)
    if sc.warehouse is not None:
        printers = sorted({st.printer for st in settings.setup.stations.values()
                           if st.warehouse == sc.warehouse})
    rows = execute(
        "SELECT subject_ref, created_at, resolved_at FROM wms_exception WHERE type = "
        "'printer_fault' AND created_at < ? AND (resolved_at IS NULL OR resolved_at > ?)",
        (clock.naive_utc(sc.end), clock.naive_utc(sc.start))).fetchall()
    faults = [kpi.Fault(ref, clock.aware_utc(a), clock.aware_utc(b)) for ref, a, b in rows
              if sc.warehouse is None or ref in printers]
    return printers, faults


def sales(sc: Scope) -> list[analytics.Sale]:
    where, params = _where(sc, "o.placed_at")
    b = _bucket("o.placed_at", sc, "day")
    orders = execute(
        f"SELECT {b}, c.name, o.currency, COUNT(*) FROM sales_order o JOIN channel c ON "
        f"c.id = o.channel_id WHERE {where} AND {_SOLD} GROUP BY 1, 2, 3", params).fetchall()
    lines = {(bk, ch, cur): (int(n), int(rev)) for bk, ch, cur, n, rev in execute(
        f"SELECT {b}, c.name, o.currency, SUM(l.quantity), SUM(l.line_total_minor) "
        "FROM order_line l JOIN sales_order o ON o.id = l.order_id JOIN channel c ON "
        f"c.id = o.channel_id WHERE {where} AND {_SOLD} GROUP BY 1, 2, 3", params).fetchall()}
    return [analytics.Sale(_at(bk, sc), ch, cur, int(n), *lines.get((bk, ch, cur), (0, 0)))
            for bk, ch, cur, n in orders]


def product_sales(sc: Scope) -> list[analytics.ProductSale]:
    rows = _units_by_sku(sc, "o.placed_at", extra=f" AND {_SOLD}")
    names = _names(r[0] for r in rows)
    return [analytics.ProductSale(sku, names.get(sku, ""), cur, int(u), int(rev), int(n))
            for sku, cur, u, rev, n in rows]


def returned(sc: Scope) -> list[analytics.Returned]:
    where, params = _where(sc, "r.created_at", ch="COALESCE(o.channel_id, r.channel_id)")
    rows = execute(
        "SELECT l.sku, COALESCE(NULLIF(l.reason, ''), r.reason), "
        "SUM(CASE WHEN l.quantity > 0 THEN l.quantity ELSE l.received END), COUNT(*) "
        "FROM return_line l JOIN return_request r ON r.id = l.return_id "
        f"LEFT JOIN sales_order o ON o.id = r.order_id WHERE {where} AND r.status <> "
        "'cancelled' GROUP BY 1, 2", params).fetchall()
    return [analytics.Returned(sku, reason or "", int(u), int(n)) for sku, reason, u, n in rows]


_CUSTOMER = ("COALESCE(NULLIF(lower(o.ship_email), ''), NULLIF(o.phone_key, ''), "
             "NULLIF(o.address_key, ''), 'order:' || CAST(o.id AS VARCHAR(20)))")


def customer_counts(sc: Scope) -> dict[int, int]:
    """Orders per customer → customers (a customer: the e-mail, else the phone, else the
    address key the risk check computes, else the order on its own)."""
    where, params = _where(sc, "o.placed_at")
    rows = execute(f"SELECT n, COUNT(*) FROM (SELECT COUNT(*) AS n FROM sales_order o "
                   f"WHERE {where} AND {_SOLD} GROUP BY {_CUSTOMER}) x GROUP BY n",
                   params).fetchall()
    return {int(n): int(c) for n, c in rows}


def payments(sc: Scope) -> list[analytics.Payment]:
    where, params = _where(sc, "o.placed_at")
    rows = execute(
        "SELECT o.payment_method, c.name, o.currency, COUNT(*), SUM(COALESCE(o.total_minor, 0)) "
        f"FROM sales_order o JOIN channel c ON c.id = o.channel_id WHERE {where} AND {_SOLD} "
        "GROUP BY 1, 2, 3", params).fetchall()
    return [analytics.Payment(m or "", ch, cur, int(n), int(rev)) for m, ch, cur, n, rev in rows]


def activity(sc: Scope) -> tuple[list[analytics.Activity], list[analytics.Activity]]:
    where, params = _where(sc, "o.placed_at")
    orders = execute(f"SELECT {_bucket('o.placed_at', sc)}, COUNT(*) FROM sales_order o "
                     f"WHERE {where} GROUP BY 1", params).fetchall()
    f, q = _filters(sc, wh="p.warehouse_id", ch="p.channel_id")
    scans = execute(f"SELECT {_bucket('bucket:p.bucket', sc)}, SUM(p.scans) FROM pick_stat p "
                    f"WHERE p.bucket >= ? AND p.bucket < ?{f} GROUP BY 1",
                    _buckets(sc) + q).fetchall()
    return ([analytics.Activity(_at(b, sc), int(n)) for b, n in orders],
            [analytics.Activity(_at(b, sc), int(n)) for b, n in scans])


# --- the reports ---------------------------------------------------------------------

def _days(sc: Scope) -> float:
    return (sc.end - sc.start).total_seconds() / 86400


Runner = Callable[[Config, Scope, dt.datetime], kpi.Report]

REPORTS: dict[str, tuple[str, str, Runner]] = {
    "order-accuracy": ("kpi", "Order accuracy",
                       lambda s, sc, now: kpi.order_accuracy(shipped_orders(sc), sc.tz)),
    "on-time": ("kpi", "On-time shipping",
                lambda s, sc, now: kpi.on_time_shipping(shipped_orders(sc), sc.tz)),
    "pick-accuracy": ("kpi", "Pick accuracy",
                      lambda s, sc, now: kpi.pick_accuracy(pick_stats(sc), sc.tz)),
    "cycle-time": ("kpi", "Cycle time per stage",
                   lambda s, sc, now: kpi.cycle_time(stage_durations(sc))),
    "pickers": ("kpi", "Pickers", lambda s, sc, now: kpi.people_performance(
        people(sc, "pick_stat"), "picker")),
    "packers": ("kpi", "Packers", lambda s, sc, now: kpi.people_performance(
        people(sc, "pack_stat"), "packer")),
    "short-picks": ("kpi", "Short picks",
                    lambda s, sc, now: kpi.short_picks(pick_stats(sc), sc.tz)),
    "inventory-turnover": ("kpi", "Inventory turnover",
                           lambda s, sc, now: kpi.turnover(sku_flows(sc), _days(sc))),
    "printer-uptime": ("kpi", "Printer uptime", lambda s, sc, now: kpi.printer_uptime(
        *printer_faults(s, sc), sc.start, sc.end, now)),
    "sales-trend": ("analytics", "Sales trend",
                    lambda s, sc, now: analytics.sales_trend(sales(sc), sc.tz)),
    "product-ranking": ("analytics", "Product ranking",
                        lambda s, sc, now: analytics.product_ranking(product_sales(sc))),
    "returns": ("analytics", "Returns", lambda s, sc, now: analytics.return_rates(
        returned(sc), _sold_units(sc))),
    "customer-frequency": ("analytics", "Purchase frequency",
                           lambda s, sc, now: analytics.purchase_frequency(customer_counts(sc))),
    "payment-methods": ("analytics", "Payment methods",
                        lambda s, sc, now: analytics.payment_share(payments(sc))),
    "peak-hours": ("analytics", "Peak hours",
                   lambda s, sc, now: analytics.peak_hours(*activity(sc), sc.tz)),
}


def _sold_units(sc: Scope) -> dict[str, int]:
    return {sku: int(u) for sku, u, *_ in _units_by_sku(sc, "o.placed_at", extra=f" AND {_SOLD}",
                                                       by_currency=False)}


def check_name(name: str) -> str:
    if name not in REPORTS:
        raise Unprocessable(f"no report {name[:64]!r}; reports: {', '.join(REPORTS)}",
                            field="name", code="unknown_report")
    return name


def run(settings: Config, name: str, sc: Scope, *, now: dt.datetime | None = None) -> dict:
    """The report `name` over `sc`: {report, kind, title, from, to, timezone, warehouse,
    channel, summary, tables: {name: {columns, rows}}}."""
    kind_, title, runner = REPORTS[check_name(name)]
    result = runner(settings, sc, now or clock.now())
    return {"report": name, "kind": kind_, "title": title, **sc.as_dict(), **result.as_dict()}
