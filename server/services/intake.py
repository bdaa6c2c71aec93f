"""Order intake: accept each storefront order exactly once, validate it, hold what must be
held, reserve the rest. One path for a single API order and a 100,000-line CSV: orders are
taken in chunks, each chunk one write transaction, set-at-a-time SQL inside it."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Sequence

from flask import current_app
from peewee import IntegrityError, OperationalError

from .. import clock
from ..domain import lifecycle
from ..domain.money import to_minor
from ..domain.orders import OrderDraft, address_key, phone_key
from ..domain.risk import assess
from ..domain.validation import Problem, storage_problems, validate_order
from ..store import db as store_db
from ..store.bulk import insert_many, insert_returning, select_in
from . import audit
from .reservation import OrderNeed, reserve

HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class ChannelRef:
    id: int
    name: str
    kind: str
    allow_split: bool = False
    currency: str = ""


@dataclass
class IntakeResult:
    index: int                      # position in the input
    outcome: str                    # created | duplicate | rejected (cannot be stored)
    ref: str
    order_id: int | None = None
    status: str | None = None
    problems: list[dict] = field(default_factory=list)
    hold_reasons: list[str] = field(default_factory=list)


class _Race(Exception):
    """Another transaction stored one of these orders first: redo the chunk."""


class _DryRun(Exception):
    pass


def import_orders(channel: ChannelRef, drafts: Sequence[OrderDraft], actor: str, *,
                  dry_run: bool = False, chunk: int | None = None) -> list[IntakeResult]:
    """Store new orders (duplicates by the storefront's id are reported, not stored again),
    validate, assess risk and reserve stock. Each chunk commits on its own."""
    cfg = current_app.config["WAVEPACK"]
    size = chunk or cfg.intake.bulk_chunk_orders
    results: list[IntakeResult] = []
    for start in range(0, len(drafts), size):
        part = drafts[start:start + size]
        results.extend(_with_retries(channel, part, start, actor, dry_run))
    return results


def _with_retries(channel, part, offset, actor, dry_run) -> list[IntakeResult]:
    for attempt in range(8):
        try:
            out: list[IntakeResult] = []
            with store_db.write_tx():
                out = _import_chunk(channel, part, offset, actor, clock.now())
                if dry_run:
                    raise _DryRun
            return out
        except _DryRun:
            return out
        except (_Race, IntegrityError):
            if attempt == 7:
                raise
        except OperationalError as err:  # PostgreSQL deadlock / serialization: retry
            if "deadlock" not in str(err).lower() or attempt == 7:
                raise
    raise AssertionError("unreachable")


def _import_chunk(channel: ChannelRef, drafts: Sequence[OrderDraft], offset: int, actor: str,
                  now: dt.datetime) -> list[IntakeResult]:
    cfg = current_app.config["WAVEPACK"]
    existing = {r[0]: (r[1], r[2]) for r in select_in(
        "SELECT external_id, id, status FROM sales_order WHERE channel_id = ? "
        "AND external_id IN ({in})", list({d.external_id for d in drafts}), before=(channel.id,))}
    products = dict(select_in("SELECT sku, id FROM product WHERE sku IN ({in})",
                              list({ln.sku for d in drafts for ln in d.lines})))
    results: list[IntakeResult | None] = [None] * len(drafts)
    new: list[int] = []
    for i, d in enumerate(drafts):
        unstorable = storage_problems(d)
        if unstorable:
            results[i] = IntakeResult(offset + i, "rejected", d.ref,
                                      problems=[p.to_dict() for p in unstorable])
        elif d.external_id in existing:
            oid, status = existing[d.external_id]
            results[i] = IntakeResult(offset + i, "duplicate", d.ref, oid, status)
        else:
            existing[d.external_id] = (None, None)   # a repeat inside this chunk
            new.append(i)
    if not new:
        return results  # type: ignore[return-value]
    rules = cfg.risk
    recent = _recent_contacts([drafts[i] for i in new])
    decided = []
    for k, i in enumerate(new):
        d = drafts[i]
        problems = validate_order(d, products, channel_currency=channel.currency,
                                  total_tolerance=cfg.intake.total_tolerance)
        holds = [] if problems or d.cancelled else assess(d, rules, recent_same_contact=recent[k])
        decided.append((i, d, problems, holds))
    ids = _insert_orders(channel, decided, now)
    if len(ids) != len(decided):
        raise _Race()
    lines = _insert_lines(decided, ids, products)
    needs = [OrderNeed(ids[d.external_id], lifecycle.RECEIVED, d.ship_to.country,
                       d.ship_to.postcode, channel.allow_split, None,
                       [(lid, pid, q) for lid, pid, q in lines[ids[d.external_id]] if q > 0],
                       paid=d.paid, hold=bool(holds))
             for _, d, problems, holds in decided if not problems and not d.cancelled]
    outcome = reserve(needs, actor, now)
    _trail(channel, decided, ids, actor, now)
    for i, d, problems, holds in decided:
        oid = ids[d.external_id]
        status = outcome.status.get(oid) or _initial_status(d, problems)
        gate = [outcome.held[oid]] if oid in outcome.held else []
        results[i] = IntakeResult(offset + i, "created", d.ref, oid, status,
                                  [p.to_dict() for p in problems], holds + gate)
    return results  # type: ignore[return-value]


def _initial_status(d: OrderDraft, problems: list[Problem]) -> str:
    if problems:
        return lifecycle.INVALID
    if d.cancelled:
        return lifecycle.CANCELLED
    return lifecycle.RECEIVED


ORDER_COLUMNS = (
    "channel_id", "external_id", "ref", "status", "hold_reason", "currency", "paid",
    "payment_method", "priority", "placed_at", "ship_name", "ship_phone", "ship_email",
    "ship_address1", "ship_address2", "ship_city", "ship_region", "ship_postcode", "ship_country",
    "note", "carrier", "source", "total_minor", "shipping_minor", "discount_minor", "problems",
    "phone_key", "address_key", "source_updated_at", "ship_by", "invoice_requested", "created_at",
    "updated_at", "shipping_method", "hold_code")


def order_row(channel_id: int, d: OrderDraft, status: str, problems: list[Problem],
              holds: list[str], now: dt.datetime) -> tuple:
    """A sales_order row (ORDER_COLUMNS) for a draft."""
    s, cur, at = d.ship_to, d.currency, clock.naive_utc(now)
    return (
        channel_id, d.external_id, d.ref, status, "; ".join(holds), cur, d.paid,
        d.payment_method, d.priority, clock.naive_utc(d.placed_at), s.name, s.phone, s.email,
        s.address1, s.address2, s.city, s.region, s.postcode, s.country,
        d.note, d.carrier, d.source,
        to_minor(d.total, cur) if d.total is not None else None,
        to_minor(d.shipping, cur), to_minor(d.discount, cur),
        json.dumps([p.to_dict() for p in problems], ensure_ascii=False) if problems else "",
        phone_key(s.phone), address_key(s), clock.naive_utc(d.source_updated_at), clock.naive_utc(d.ship_by),
        d.invoice_requested, at, at,
        json.dumps(list(d.shipping_method), ensure_ascii=False) if d.shipping_method else "",
        "risk_hold" if holds else "")


def _insert_orders(channel: ChannelRef, decided, now) -> dict[str, int]:
    rows = [order_row(channel.id, d, _initial_status(d, problems), problems, holds, now)
            for _, d, problems, holds in decided]
    got = insert_returning("sales_order", ORDER_COLUMNS, rows, ("external_id", "id"),
                           ignore_conflicts=True)
    return {ext: oid for ext, oid in got}


LINE_COLUMNS = ("order_id", "line_no", "sku", "product_id", "name", "external_id", "quantity",
                "unit_price_minor", "line_total_minor")


def line_rows(order_id: int, d: OrderDraft, products: dict[str, int]) -> list[tuple]:
    cur = d.currency
    return [(order_id, n, ln.sku, products.get(ln.sku), ln.name, ln.external_id, ln.quantity,
             to_minor(ln.unit_price, cur),
             to_minor(ln.line_total if ln.line_total is not None
                      else ln.unit_price * ln.quantity, cur))
            for n, ln in enumerate(d.lines, start=1)]


def _insert_lines(decided, ids: dict[str, int], products: dict[str, int]
                  ) -> dict[int, list[tuple[int, int, int]]]:
    """Insert every line; return order id → [(line id, product id, quantity)]."""
    rows = [r for _, d, _, _ in decided for r in line_rows(ids[d.external_id], d, products)]
    got = insert_returning("order_line", LINE_COLUMNS, rows, ("id", "order_id", "line_no"))
    by_key = {(oid, no): lid for lid, oid, no in got}
    out: dict[int, list[tuple[int, int, int]]] = {}
    for r in rows:
        out.setdefault(r[0], []).append((by_key[(r[0], r[1])], r[3], r[6]))
    return out


def _trail(channel: ChannelRef, decided, ids: dict[str, int], actor: str, now) -> None:
    trail, exceptions = [], []
    at = clock.naive_utc(now)
    for _, d, problems, holds in decided:
        oid = ids[d.external_id]
        trail.append(audit.row(now, actor, "order.received", "order", oid, "",
                               _initial_status(d, problems),
                               {"ref": d.ref, "channel": channel.name}))
        if problems:
            exceptions.append(("invalid_order", oid, "supervisor", "open",
                               "; ".join(p.message for p in problems),
                               json.dumps([p.to_dict() for p in problems], ensure_ascii=False),
                               at))
        elif holds and not d.cancelled:
            exceptions.append(("risk_hold", oid, "supervisor", "open", "; ".join(holds),
                               json.dumps(holds, ensure_ascii=False), at))
    audit.write(trail)
    insert_many("wms_exception", ("type", "order_id", "owner_role", "state", "message", "detail",
                                  "created_at"), exceptions)


def _recent_contacts(drafts: Sequence[OrderDraft]) -> list[int]:
    """For each draft: how many other orders went to its phone or address in the hour
    before it was placed (stored orders, and earlier drafts of this batch)."""
    keys = [(phone_key(d.ship_to.phone), address_key(d.ship_to), clock.naive_utc(d.placed_at))
            for d in drafts]
    lo = min(k[2] for k in keys) - HOUR
    hi = max(k[2] for k in keys)
    phones = sorted({k[0] for k in keys if k[0]})
    addrs = sorted({k[1] for k in keys if k[1]})
    stored = _stored_contacts(lo, hi, phones, addrs)
    index: dict[str, list[dt.datetime]] = {}
    for p, a, t in stored:
        for key in {f"p:{p}" if p else "", f"a:{a}" if a else ""} - {""}:
            index.setdefault(key, []).append(t)
    counts = []
    for p, a, t in keys:
        mine = {f"p:{p}" if p else "", f"a:{a}" if a else ""} - {""}
        counts.append(max((sum(1 for x in index.get(k, ()) if t - HOUR <= x <= t) for k in mine),
                          default=0))
        for k in mine:
            index.setdefault(k, []).append(t)
    return counts


def _stored_contacts(lo, hi, phones: list[str], addrs: list[str]) -> list[tuple]:
    out = []
    if phones:
        out += select_in("SELECT phone_key, '', placed_at FROM sales_order WHERE status <> "
                         "'cancelled' AND placed_at >= ? AND placed_at <= ? AND phone_key IN ({in})",
                         phones, before=(lo, hi))
    if addrs:
        out += select_in("SELECT '', address_key, placed_at FROM sales_order WHERE status <> "
                         "'cancelled' AND placed_at >= ? AND placed_at <= ? "
                         "AND address_key IN ({in})", addrs, before=(lo, hi))
    return [(p, a, _as_dt(t)) for p, a, t in out]


def _as_dt(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value))
