"""Bulk intake benchmark: generated 3-line orders through intake.import_orders, the one
path every channel uses (validation, risk, reservation, audit), on a fresh database.

The naive baseline sends the same kind of orders one per transaction (chunk=1).
"""
from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

from server.domain.orders import Address, LineDraft, OrderDraft
from server.settings import current

from .common import connected, log, open_app

UTC = dt.timezone.utc
SKU_COUNT = 200
LINES_PER_ORDER = 3
MAX_QTY = 3                      # units per line: 1..3, mean 2
WAREHOUSES = (("main", "uk"), ("north", "uk"))   # `main` exists after init_db
# the second warehouse ships too (without a carrier service its orders would be held)
NORTH_SERVICES = {"north": {"north-tracked-48": {
    "carrier": "royal-mail", "service": "TPN", "label": "Tracked 48", "countries": ["GB"],
    "max_weight_g": 20000}}}
PLACED_FROM = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
ACTOR = "bench"


def sku(i: int) -> str:
    return f"BN-{i:04d}"


def location(i: int) -> str:
    """A bin per SKU: aisles A..J, bays 01..20."""
    return f"{chr(65 + i // 20)}-{i % 20 + 1:02d}-01-1"


def stock_per_warehouse(orders: int) -> int:
    """Units per SKU per warehouse: both together hold ~120% of the expected demand, so
    nearly every order reserves in full and a few at the very end run short."""
    demand = orders * LINES_PER_ORDER * (MAX_QTY + 1) / 2 / SKU_COUNT
    return int(demand * 0.6) + 10


def seed_catalogue(app, orders: int) -> int:
    """200 SKUs, one bin each in two UK warehouses, and a native channel `bench`.
    Returns the channel id."""
    from server import clock
    from server.services import channels, setup, stock
    from server.store import db as store_db
    per = stock_per_warehouse(orders)
    with connected(app):
        setup.add_warehouse(WAREHOUSES[1][0], "North warehouse", WAREHOUSES[1][1])
        stock.upsert_products([stock.ProductSpec(sku=sku(i), name=f"Bench item {i}")
                               for i in range(SKU_COUNT)], ACTOR)
        now = clock.now()
        with store_db.write_tx():
            for wh, _ in WAREHOUSES:
                for i in range(SKU_COUNT):
                    stock.change_stock(wh, location(i), sku(i), set_to=per, actor=ACTOR,
                                       now=now, reason="count")
        return channels.add_channel("bench", "native", currency="GBP", actor=ACTOR)


def make_drafts(start: int, count: int, *, prefix: str = "B", seed: int = 7) -> list[OrderDraft]:
    """Orders start..start+count-1: paid, GB, 3 distinct SKUs, each to its own phone and
    address (so the orders-per-contact risk rule holds none of them). Deterministic."""
    rnd = random.Random(seed * 1_000_003 + start)
    out = []
    for n in range(start, start + count):
        skus = rnd.sample(range(SKU_COUNT), LINES_PER_ORDER)
        lines = tuple(LineDraft(sku=sku(s), quantity=rnd.randint(1, MAX_QTY),
                                unit_price=Decimal(5 + s % 40) + Decimal("0.99"),
                                name=f"Bench item {s}", external_id=f"{n}-{k}")
                      for k, s in enumerate(skus, start=1))
        total = sum((ln.unit_price * ln.quantity for ln in lines), Decimal(0)) + Decimal("3.95")
        out.append(OrderDraft(
            external_id=f"{prefix}{n:07d}", ref=f"{prefix}-{n}",
            placed_at=PLACED_FROM + dt.timedelta(seconds=n // 10),
            currency="GBP", paid=True,
            ship_to=Address(name=f"Bench Customer {n}", phone=f"+4477{n:08d}",
                            address1=f"{n} Bench Street", city="Leeds",
                            postcode=f"LS{n % 28 + 1} {n % 9 + 1}AB", country="GB",
                            email=f"c{n}@example.com"),
            lines=lines, payment_method="card", total=total, shipping=Decimal("3.95"),
            carrier="Royal Mail Tracked 48"))
    return out


@dataclass
class IntakeRun:
    orders: int
    seconds: float                                   # time inside import_orders only
    latencies: list[float] = field(default_factory=list)   # one per call (chunk or order)
    problems: list[str] = field(default_factory=list)      # failed correctness checks
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0


# --notify: the channel promises a ship-by (computed per chunk) and has a notify URL, so
# every order also gets its "received" notification queued in the outbox (never sent here)
NOTIFY_CONFIG = {
    "promise": {"default": {"cutoff": "14:00", "dispatch": "18:00", "timezone": "Europe/London"}},
    "notifications": {"channels": {"bench": {"url": "http://127.0.0.1:9/notify"}}},
}


def run_intake(url: str, orders: int, chunk: int, *, progress_every: float = 15.0,
               profile: Callable | None = None, notify: bool = False) -> IntakeRun:
    """Seed a catalogue on `url`, import `orders` orders `chunk` at a time through
    intake.import_orders (one call per chunk, timed), then check the books balance."""
    from server.services import channels, intake
    app = open_app(url, carrier_services=NORTH_SERVICES, **(NOTIFY_CONFIG if notify else {}))
    channel_id = seed_catalogue(app, orders)
    run = IntakeRun(orders, 0.0)
    outcomes: dict[str, int] = {}
    last_note = time.perf_counter()
    with connected(app):
        from server.store.models import Channel
        ch = channels.ref(Channel.get_by_id(channel_id))
        for start in range(0, orders, chunk):
            drafts = make_drafts(start, min(chunk, orders - start))
            t0 = time.perf_counter()
            if profile is not None:
                results = profile(intake.import_orders, ch, drafts, ACTOR, chunk=chunk)
            else:
                results = intake.import_orders(ch, drafts, ACTOR, chunk=chunk, settings=current())
            took = time.perf_counter() - t0
            run.seconds += took
            run.latencies.append(took)
            for r in results:
                outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
            if time.perf_counter() - last_note > progress_every:
                last_note = time.perf_counter()
                log(f"    … {start + len(drafts):,}/{orders:,} orders, "
                    f"{(start + len(drafts)) / run.seconds:,.0f}/s so far")
        run.problems = verify(orders)
        if outcomes.get("created", 0) != orders:
            run.problems.append(f"import outcomes {outcomes}, expected {orders} created")
        run.statuses = status_counts()
    return run


def verify(orders: int) -> list[str]:
    """What does not add up after an import (empty: all checks passed)."""
    from server.store.db import execute
    problems = []
    over = execute("SELECT COUNT(*) FROM stock WHERE reserved > on_hand OR reserved < 0"
                   ).fetchone()[0]
    if over:
        problems.append(f"{over} stock rows reserved > on_hand")
    stored = execute("SELECT COUNT(*) FROM sales_order").fetchone()[0]
    if stored != orders:
        problems.append(f"{stored} orders stored, expected {orders}")
    lines = execute("SELECT COALESCE(SUM(reserved), 0) FROM order_line").fetchone()[0]
    stock = execute("SELECT COALESCE(SUM(reserved), 0) FROM stock").fetchone()[0]
    alloc = execute("SELECT COALESCE(SUM(quantity), 0) FROM allocation").fetchone()[0]
    if not int(lines) == int(stock) == int(alloc):
        problems.append(f"reserved: order lines {lines}, stock {stock}, allocations {alloc}")
    unsettled = execute("SELECT COUNT(*) FROM order_line WHERE reserved + backordered <> quantity"
                        ).fetchone()[0]
    if unsettled:
        problems.append(f"{unsettled} lines neither reserved nor backordered in full")
    return problems


def status_counts() -> dict[str, int]:
    from server.store.db import execute
    return dict(execute("SELECT status, COUNT(*) FROM sales_order GROUP BY status "
                        "ORDER BY COUNT(*) DESC").fetchall())
