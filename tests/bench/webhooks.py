"""Webhook benchmark: signed Shopify `orders/paid` deliveries through the WSGI app
(app.test_client(), in-process), each a new order; then re-deliveries of events already
taken (dedupe); and GET /healthz over the same stack as the baseline.

Bodies are the shared fixture with new order, line and contact ids, signed over the exact
bytes sent (base64 HMAC-SHA256), each with its own X-Shopify-Event-Id.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .common import connected, log, open_app

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "storefronts" / "shopify" \
    / "orders-paid.json"
SECRET = "wavepack-bench-secret"
CHANNEL = "shop"
WARMUP = 20


class NotRegistered(Exception):
    """The webhooks blueprint is not in the app (yet)."""


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery(template: dict, n: int) -> tuple[bytes, dict]:
    """The fixture as order n: new ids (order, lines), name and contact; signed."""
    p = copy.deepcopy(template)
    oid = 5_000_000_000_000_000_000 + n          # Shopify ids exceed 2^53: keep them that big
    p["id"] = oid
    p["admin_graphql_api_id"] = f"gid://shopify/Order/{oid}"
    p["name"], p["order_number"], p["number"] = f"#B{n}", 100_000 + n, n
    for k, item in enumerate(p["line_items"]):
        item["id"] = 6_000_000_000_000_000_000 + n * 10 + k
    phone, street = f"+4477{n:08d}", f"{n} Wharf Street"
    for addr in (p.get("shipping_address"), p.get("billing_address")):
        if addr:
            addr["phone"], addr["address1"] = phone, street
    p["email"] = p["contact_email"] = f"b{n}@example.com"
    body = json.dumps(p, separators=(",", ":")).encode()
    return body, {"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid",
                  "X-Shopify-Hmac-Sha256": sign(body),
                  "X-Shopify-Event-Id": str(uuid.uuid4()),
                  "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                  "X-Shopify-Shop-Domain": "wavepack-bench.myshopify.com"}


@dataclass
class WebhookRun:
    deliveries: list[float] = field(default_factory=list)   # seconds per request
    deliveries_wall: float = 0.0
    duplicates: list[float] = field(default_factory=list)
    duplicates_wall: float = 0.0
    healthz: list[float] = field(default_factory=list)
    healthz_wall: float = 0.0
    applied: list[float] = field(default_factory=list)       # inbox worker, per delivery
    applied_wall: float = 0.0
    problems: list[str] = field(default_factory=list)        # new deliveries and the books
    dup_problems: list[str] = field(default_factory=list)    # re-deliveries


def _timed(send, items) -> tuple[list[float], float, list]:
    lat, answers = [], []
    t_all = time.perf_counter()
    for item in items:
        t0 = time.perf_counter()
        resp = send(item)
        lat.append(time.perf_counter() - t0)
        answers.append(resp)
    return lat, time.perf_counter() - t_all, answers


def seed(app, template: dict, n: int) -> None:
    """The fixture's SKUs with stock for every delivery, and the Shopify channel."""
    from server import clock
    from server.services import channels, stock
    from server.store import db as store_db
    if "webhooks" not in app.blueprints:
        raise NotRegistered("webhook endpoint not registered yet")
    skus = sorted({item["sku"] for item in template["line_items"]})
    units = 3 * (n + WARMUP) * max(item["quantity"] for item in template["line_items"])
    with connected(app):
        stock.upsert_products([stock.ProductSpec(sku=s, name=s) for s in skus], "bench")
        with store_db.write_tx():
            for i, s in enumerate(skus):
                stock.change_stock("main", f"W-{i + 1:02d}-01-1", s, set_to=units,
                                   actor="bench", now=clock.now(), reason="count")
        channels.add_channel(CHANNEL, "shopify", secret=SECRET, actor="bench")


def run_webhooks(url: str, n: int, dupes: int) -> WebhookRun:
    """n new-order deliveries, `dupes` re-deliveries, n GET /healthz; all through the app."""
    template = json.loads(FIXTURE.read_bytes())
    app = open_app(url)
    seed(app, template, n)
    client = app.test_client()
    path = f"/webhooks/shopify/{CHANNEL}"

    def post(d):
        return client.post(path, data=d[0], headers=d[1])

    def health(_):
        return client.get("/healthz")

    bodies = [delivery(template, i) for i in range(n + WARMUP)]
    run = WebhookRun()
    _timed(post, bodies[:WARMUP])
    _timed(health, range(WARMUP))
    log(f"    … {n:,} webhook deliveries")
    run.deliveries, run.deliveries_wall, answers = _timed(post, bodies[WARMUP:])
    # production mode answers once the delivery is recorded ("queued"); the inbox worker
    # applies it afterwards (measured below)
    bad = [(a.status_code, a.get_json(silent=True)) for a in answers
           if a.status_code != 200 or (a.get_json(silent=True) or {}).get("outcome")
           not in ("queued", "created")]
    if bad:
        run.problems.append(f"{len(bad)} deliveries not recorded, first: {bad[0]}")
    again = [bodies[WARMUP + i % n] for i in range(dupes)]
    run.duplicates, run.duplicates_wall, answers = _timed(post, again)
    bad = [(a.status_code, a.get_json(silent=True)) for a in answers
           if a.status_code != 200 or not (a.get_json(silent=True) or {}).get("duplicate")]
    if bad:
        run.dup_problems.append(f"{len(bad)} re-deliveries not answered 200 duplicate, "
                                f"first: {bad[0]}")
    run.healthz, run.healthz_wall, answers = _timed(health, range(n))
    if any(a.status_code != 200 for a in answers):
        run.problems.append("GET /healthz failed")
    with connected(app):
        from server.jobs import inbox
        from server.services.webhooks import process_event
        from server.settings import of
        cfg = of(app)
        run.applied, run.applied_wall, results = _timed(
            lambda event_id: process_event(event_id, settings=cfg), inbox.pending(10 ** 9))
        failed = [r for r in results if r is None or r[0] != "created"]
        if failed:
            run.problems.append(f"{len(failed)} deliveries not applied as new orders, "
                                f"first: {failed[0]}")
        run.problems += _verify(n + WARMUP)
    return run


def _verify(expected: int) -> list[str]:
    from server.store.db import execute

    from .intake import verify
    problems = verify(expected)
    events = execute("SELECT COUNT(*) FROM webhook_event").fetchone()[0]
    if events != expected:
        problems.append(f"{events} webhook events recorded, expected {expected}")
    return problems
