"""Order intake: accept each storefront order exactly once, validate it, hold what must be
held, reserve the rest. One path for a single API order and a 100,000-line CSV: orders are
taken in chunks, each chunk one write transaction, set-at-a-time SQL inside it."""
from __future__ import annotations

import datetime as dt
import gc
import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from peewee import IntegrityError

from .. import clock
from ..config import Config
from ..domain import lifecycle
from ..domain.money import to_minor
from ..domain.orders import OrderDraft, address_key, phone_key
from ..domain.risk import ContactTally, assess, contact_keys, hour_before
from ..domain.validation import Problem, normalise_draft, storage_problems, validate_order
from ..store import db as store_db
from ..store.bulk import insert_returning, select_in
from ..store.retry import retry_transaction
from . import audit, exceptions as exception_queue
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
    outcome: str                    # created | duplicate | rejected (not stored: `problems`)
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
                  dry_run: bool = False, chunk: int | None = None,
                  progress: Callable[[int], None] | None = None,
                  refuse_invalid: bool = False, settings: Config) -> list[IntakeResult]:
    """Store new orders (duplicates by the storefront's id are reported, not stored again),
    normalise their addresses, validate, assess risk and reserve stock. Each chunk commits
    on its own. An order with problems is stored as `invalid` with an exception for a
    person, or, with `refuse_invalid` (the native API: its caller can fix and resend),
    not stored at all: outcome `rejected` with every problem.

    A big import shares the server: a chunk's transaction is kept near
    `intake.max_write_ms` (the chunk grows or shrinks to the measured time per order, up to
    `chunk` or `intake.bulk_chunk_orders`), because on SQLite every scan waits for the one
    write lock; and between chunks the import lets every other request and socket event
    that is ready run first (`let_others_run`). From YOUNG_GC_FROM orders on, no full
    garbage collection runs until the import ends (`young_gc_only`)."""
    cfg = settings
    cap = chunk or cfg.intake.bulk_chunk_orders
    target = cfg.intake.max_write_ms / 1000
    size = cap if chunk or len(drafts) <= MIN_CHUNK else min(cap, MIN_CHUNK)
    # PostgreSQL has no one write lock that scans wait for, and a chunk's wall time there
    # counts the other requests run while it waits on the database: timing it would shrink
    # chunks to MIN_CHUNK (~150 orders/s). Fixed chunks of PG_CHUNK, others run between.
    pg = store_db.is_postgres()
    drafts = _normalised(drafts)    # before the tally: stored phones are normalised too
    results: list[IntakeResult] = []
    big = len(drafts) >= YOUNG_GC_FROM
    with young_gc_only(big):
        tally = _stored_tally(drafts)
        start = 0
        while start < len(drafts):
            part = drafts[start:start + size]
            began = time.perf_counter()
            results.extend(_with_retries(channel, part, start, actor, dry_run, tally,
                                         refuse_invalid, settings))
            took = time.perf_counter() - began
            start += len(part)
            if progress:
                progress(len(part))
            if start < len(drafts):
                if not chunk:
                    size = next_chunk_size(size, took, target, cap) if not pg \
                        else min(cap, PG_CHUNK)
                let_others_run()
    return results


YOUNG_GC_FROM = 1_000      # orders
PAUSE_EVERY = 500          # drafts handled between two let_others_run …
READ_PART = 2_000          # … and contact keys read


class _GcHeld:
    """The imports running with automatic collection off, and whether it was on before."""
    imports = 0
    was_enabled = True


@contextmanager
def young_gc_only(on: bool) -> Iterator[None]:
    """No automatic garbage collection while a big import runs; `let_others_run` collects
    the young generations between chunks (other requests' cyclic garbage dies young).
    A full collection walks every object alive, the import's drafts and results first:
    ~250 ms of CPU with 100,000 orders, every request and scan of the process stopped
    meanwhile, again each time the heap grew by a quarter. It comes back after the import,
    once its objects are gone. Imports that overlap keep it off until the last one ends."""
    if not on:
        yield
        return
    if _GcHeld.imports == 0:
        _GcHeld.was_enabled = gc.isenabled()
        gc.disable()
    _GcHeld.imports += 1
    try:
        yield
    finally:
        _GcHeld.imports -= 1
        if _GcHeld.imports == 0 and _GcHeld.was_enabled:
            gc.enable()


MIN_CHUNK = 10
PG_CHUNK = 100             # orders per transaction of a big import on PostgreSQL


def _normalised(drafts: Sequence[OrderDraft]) -> list[OrderDraft]:
    """Every draft's address normalised (~0.1 ms each: a 100,000-order import lets the
    server answer in between, like the CSV parser does)."""
    out = []
    for n, d in enumerate(drafts, 1):
        out.append(normalise_draft(d))
        if n % PAUSE_EVERY == 0 and n < len(drafts):
            let_others_run()
    return out


def next_chunk_size(size: int, took_s: float, target_s: float, cap: int) -> int:
    """Orders in the next chunk so that its transaction takes about target_s, judged by
    the last one; it changes by at most 2x at a time (one slow commit is not a trend)."""
    if took_s <= 0:
        return min(cap, size * 2)
    wanted = size * target_s / took_s
    return max(MIN_CHUNK, min(cap, int(min(size * 2, max(size / 2, wanted)))))


def let_others_run() -> None:
    """Give the processor to every other request and socket event that is ready. Under
    gevent (`wavepack serve`) wait until the hub is idle: a zero sleep alone resumes before
    the hub polls for I/O, so requests that arrived meanwhile would still wait. In threads,
    yield the GIL.

    While automatic garbage collection is off (a CSV being parsed, a big import) the
    young generations are collected here: the few hundred orders' objects made since the
    last call, a millisecond or so, instead of all of them at once later."""
    if not gc.isenabled():
        gc.collect(1)
    gevent = sys.modules.get("gevent")
    if gevent is not None and _gevent_patched():
        gevent.idle()
    else:
        time.sleep(0)


def _gevent_patched() -> bool:
    from gevent import monkey
    return monkey.is_module_patched("socket")


def _with_retries(channel, part, offset, actor, dry_run, tally,
                  refuse_invalid, settings: Config) -> list[IntakeResult]:
    """One chunk in its own transaction, run again (store.retry) when the database rolled
    it back (a deadlock, a serialization failure, a lost connection before COMMIT, SQLite
    busy) or when another import stored one of its orders first (_Race, a unique key):
    the next run reads those as duplicates."""
    def chunk() -> list[IntakeResult]:
        added: list[tuple[set[str], dt.datetime]] = []
        out: list[IntakeResult] = []
        try:
            with store_db.write_tx():
                out = _import_chunk(channel, part, offset, actor, clock.now(), tally, added,
                                    settings, refuse_invalid)
                if dry_run:
                    raise _DryRun
            return out
        except _DryRun:
            return out
        except BaseException:
            _untally(tally, added)      # its orders were not stored: they count for nobody
            raise

    return retry_transaction(chunk, what="intake chunk", attempts=CHUNK_ATTEMPTS,
                             also=(_Race, IntegrityError))


CHUNK_ATTEMPTS = 8


def _untally(tally: ContactTally, added: list[tuple[set[str], dt.datetime]]) -> None:
    for keys, at in added:
        tally.remove(keys, at)
    added.clear()


def _import_chunk(channel: ChannelRef, drafts: Sequence[OrderDraft], offset: int, actor: str,
                  now: dt.datetime, tally: ContactTally,
                  added: list[tuple[set[str], dt.datetime]], cfg: Config,
                  refuse_invalid: bool = False) -> list[IntakeResult]:
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
    decided = []
    for i in new:
        d = drafts[i]
        problems = validate_order(d, products, channel_currency=channel.currency,
                                  total_tolerance=cfg.intake.total_tolerance)
        if problems and refuse_invalid:
            results[i] = IntakeResult(offset + i, "rejected", d.ref,
                                      problems=[p.to_dict() for p in problems])
            continue
        keys, at = _contact(d)                 # every stored order counts for its contact
        recent = tally.count(keys, at)
        tally.add(keys, at)
        added.append((keys, at))
        holds = [] if problems or d.cancelled else assess(d, rules, recent_same_contact=recent)
        decided.append((i, d, problems, holds))
    if not decided:
        return results  # type: ignore[return-value]
    ids = _insert_orders(channel, decided, now)
    if len(ids) != len(decided):
        raise _Race()
    lines = _insert_lines(decided, ids, products)
    needs = [OrderNeed(ids[d.external_id], lifecycle.RECEIVED, d.ship_to.country,
                       d.ship_to.postcode, channel.allow_split, None,
                       [(lid, pid, q) for lid, pid, q in lines[ids[d.external_id]] if q > 0],
                       paid=d.paid, hold=bool(holds))
             for _, d, problems, holds in decided if not problems and not d.cancelled]
    outcome = reserve(needs, actor, now, settings=cfg)
    _trail(channel, decided, ids, actor, now, cfg)
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
    "ship_original", "note", "carrier", "source", "total_minor", "shipping_minor",
    "discount_minor", "problems", "phone_key", "address_key", "source_updated_at", "ship_by",
    "invoice_requested", "created_at", "updated_at", "shipping_method", "hold_code")


def order_row(channel_id: int, d: OrderDraft, status: str, problems: list[Problem],
              holds: list[str], now: dt.datetime) -> tuple:
    """A sales_order row (ORDER_COLUMNS) for a draft."""
    s, cur, at = d.ship_to, d.currency, clock.naive_utc(now)
    return (
        channel_id, d.external_id, d.ref, status, "; ".join(holds), cur, d.paid,
        d.payment_method, d.priority, clock.naive_utc(d.placed_at), s.name, s.phone, s.email,
        s.address1, s.address2, s.city, s.region, s.postcode, s.country, ship_original(d),
        d.note, d.carrier, d.source,
        to_minor(d.total, cur) if d.total is not None else None,
        to_minor(d.shipping, cur), to_minor(d.discount, cur),
        json.dumps([p.to_dict() for p in problems], ensure_ascii=False) if problems else "",
        phone_key(s.phone), address_key(s), clock.naive_utc(d.source_updated_at), clock.naive_utc(d.ship_by),
        d.invoice_requested, at, at,
        json.dumps(list(d.shipping_method), ensure_ascii=False) if d.shipping_method else "",
        "risk_hold" if holds else "")


def ship_original(d: OrderDraft) -> str:
    """The `ship_original` column: the address fields as sent, where normalisation
    changed them (JSON), or ''."""
    original = d.extra.get("ship_to_original")
    return json.dumps(original, ensure_ascii=False, sort_keys=True) if original else ""


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


def _trail(channel: ChannelRef, decided, ids: dict[str, int], actor: str, now,
           settings: Config) -> None:
    trail, exceptions = [], []
    at = clock.naive_utc(now)
    for _, d, problems, holds in decided:
        oid = ids[d.external_id]
        trail.append(audit.row(now, actor, "order.received", "order", oid, "",
                               _initial_status(d, problems),
                               {"ref": d.ref, "channel": channel.name}))
        if problems:
            exceptions.append(dict(type_="invalid_order", order_id=oid,
                                   message="; ".join(p.message for p in problems),
                                   detail=[p.to_dict() for p in problems],
                                   subject=("order", oid, d.ref)))
        elif holds and not d.cancelled:
            exceptions.append(dict(type_="risk_hold", order_id=oid, message="; ".join(holds),
                                   detail=holds, subject=("order", oid, d.ref)))
    audit.write(trail)
    exception_queue.open_many(exceptions, now=at, actor=actor, settings=settings)


def _contact(d: OrderDraft) -> tuple[set[str], dt.datetime]:
    return (contact_keys(phone_key(d.ship_to.phone), address_key(d.ship_to)),
            clock.naive_utc(d.placed_at))


def _stored_tally(drafts: Sequence[OrderDraft]) -> ContactTally:
    """The stored orders to these drafts' phones and addresses in the hour before the
    earliest of them up to the latest: read once per import, then each new order of the
    import is added as it is decided (a per-import tally, linear in the import's size)."""
    tally = ContactTally()
    keys = []
    for n, d in enumerate(drafts, 1):      # ~0.4 s of CPU for 100,000: others run between
        if not storage_problems(d):        # (a placed_at past year 9999 in UTC: refused)
            keys.append((phone_key(d.ship_to.phone), address_key(d.ship_to),
                         clock.naive_utc(d.placed_at)))
        if n % PAUSE_EVERY == 0:
            let_others_run()
    if not keys:
        return tally
    lo = hour_before(min(k[2] for k in keys))
    hi = max(k[2] for k in keys)
    phones = sorted({k[0] for k in keys if k[0]})
    addrs = sorted({k[1] for k in keys if k[1]})
    for p, a, t in _stored_contacts(lo, hi, phones, addrs):
        tally.add(contact_keys(p, a), t)
    return tally


def _stored_contacts(lo, hi, phones: list[str], addrs: list[str]) -> list[tuple]:
    """Read in parts of READ_PART keys, others running between (on SQLite a read holds
    the whole process: 100,000 phones are 100 statements)."""
    out = []
    for k in range(0, len(phones), READ_PART):
        if k:
            let_others_run()
        out += select_in("SELECT phone_key, '', placed_at FROM sales_order WHERE status <> "
                         "'cancelled' AND placed_at >= ? AND placed_at <= ? AND phone_key IN ({in})",
                         phones[k:k + READ_PART], before=(lo, hi))
    for k in range(0, len(addrs), READ_PART):
        if k or phones:
            let_others_run()
        out += select_in("SELECT '', address_key, placed_at FROM sales_order WHERE status <> "
                         "'cancelled' AND placed_at >= ? AND placed_at <= ? "
                         "AND address_key IN ({in})", addrs[k:k + READ_PART], before=(lo, hi))
    return [(p, a, _as_dt(t)) for p, a, t in out]


def _as_dt(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value))
