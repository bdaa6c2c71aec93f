"""The soak's warehouse, built in a fresh PostgreSQL schema before the stack starts.

- Pick work for the handhelds: tests/bench/scans.py's floor (SKUS products with GTINs, one
  bin each, stock, ready orders through intake, planned and released as waves through
  POST /api/v1/waves), one picker (and session token) per handheld.
- Orders to pack: the first carts of those waves picked in this process over /handheld
  (the Socket.IO test client, a picker of its own), until every station has its orders;
  a packer per station.
- The storefront: a Shopify channel with its webhook secret and stock for the fixture's
  SKUs (tests/bench/webhooks.py's seed).
- The carrier: shipped orders with one shipment each of carrier `royal-mail` (set-based
  SQL: their history is not what the soak is about) and a carrier token.
- Supervisors for the consoles.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from dataclasses import dataclass, field

from .. import scans
from ..common import close_db, connected, log
from ..webhooks import FIXTURE

CARRIER = "royal-mail"
PIN = "4321"


@dataclass
class Seeded:
    handhelds: list[str]                    # picker tokens
    wrong_gtins: list[str]
    consoles: list[str]                     # supervisor tokens
    stations: list[tuple[str, list[str]]]   # (packer token, order refs), one per station
    carrier_token: str
    tracking: list[str]                     # shipped parcels' tracking numbers
    supervisor: str
    orders: int = 0
    carts: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def seed(url: str, *, handhelds: int, orders: int, consoles: int, stations: int,
         per_station: int, webhooks: int, shipments: int) -> Seeded:
    """Everything the soak's clients need, in the schema of `url` (`?schema=` URL)."""
    quiet, os.environ["LOG_LEVEL"] = os.environ.get("LOG_LEVEL"), "WARNING"  # not a line a scan
    try:
        return _seed(url, handhelds=handhelds, orders=orders, consoles=consoles,
                     stations=stations, per_station=per_station, webhooks=webhooks,
                     shipments=shipments)
    finally:
        if quiet is None:
            os.environ.pop("LOG_LEVEL", None)
        else:
            os.environ["LOG_LEVEL"] = quiet


def _seed(url: str, *, handhelds: int, orders: int, consoles: int, stations: int,
          per_station: int, webhooks: int, shipments: int) -> Seeded:
    t0 = time.perf_counter()
    floor = scans.seed_floor(url, orders, handhelds + 1)
    from server import create_app
    from server.services import auth
    app = create_app({"database": {"url": url}, "testing": True,
                      "picking": {"plan_time_budget_s": 0.2}})
    refs = pick_carts(app, floor.tokens[-1], stations * per_station)
    with connected(app):
        packers, sups = [], []
        for i in range(stations):
            user = auth.add_user(f"PK{i + 1:02d}", "packer", PIN, f"Soak packer {i + 1}")
            packers.append(auth.create_token(role="packer", label="soak", hours=24,
                                             user_id=user, actor="soak"))
        for i in range(consoles):
            user = auth.add_user(f"SV{i + 1:02d}", "supervisor", PIN, f"Soak supervisor {i + 1}")
            sups.append(auth.create_token(role="supervisor", label="soak", hours=24,
                                          user_id=user, actor="soak"))
        carrier_token = auth.create_token(carrier=CARRIER, label="soak", actor="soak")
        tracking = shipped_parcels(shipments)
    from ..webhooks import seed as seed_storefront
    seed_storefront(app, json.loads(FIXTURE.read_bytes()), webhooks)
    close_db()
    mine = [refs[i::stations] for i in range(stations)]
    return Seeded(handhelds=floor.tokens[:handhelds],
                  wrong_gtins=[scans.gtin(i) for i in range(scans.SKUS)], consoles=sups,
                  stations=list(zip(packers, mine)), carrier_token=carrier_token,
                  tracking=tracking, supervisor=floor.supervisor, orders=floor.orders,
                  carts=floor.carts, seconds=time.perf_counter() - t0)


def pick_carts(app, token: str, want: int) -> list[str]:
    """Pick whole carts over /handheld (the test client, in this process) until at least
    `want` orders are picked; their references, oldest first."""
    from server.store.db import db, execute
    sio = app.extensions["socketio"]
    hh = sio.test_client(app, namespace="/handheld",
                         auth={"token": token, "device": "SOAK-PREPICK"})
    ns = "/handheld"
    t0 = time.perf_counter()
    try:
        while True:
            with app.app_context(), db.connection_context():
                refs = [r[0] for r in execute(
                    "SELECT ref FROM sales_order WHERE status = 'picked' ORDER BY id")]
            if len(refs) >= want:
                log(f"  {len(refs)} orders picked for the stations in "
                    f"{time.perf_counter() - t0:.0f} s")
                return refs[:want]
            task = hh.emit("task.next", {}, namespace=ns, callback=True)["task"]
            if task is None:
                raise RuntimeError(f"no cart left to pick for the stations ({len(refs)} "
                                   f"of {want} orders picked)")
            while task is not None:
                for raw in [task["location"]] + [task["gtins"][0]] * task["remaining"]:
                    ack = hh.emit("scan", {"scan_id": str(uuid.uuid4()), "raw": raw,
                                           "task": task["task_id"]},
                                  namespace=ns, callback=True)
                    if ack.get("verdict") != "ok":
                        raise RuntimeError(f"pre-pick scan refused: {ack}")
                task = ack["next"]
    finally:
        hh.disconnect(namespace=ns)


def shipped_parcels(n: int) -> list[str]:
    """n shipped orders of their own channel, one shipment each of CARRIER (set-based:
    one INSERT … SELECT each); their tracking numbers."""
    from server.store.db import db, execute, write_tx
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with write_tx():
        execute("INSERT INTO channel (name, kind, created_at) VALUES ('soak-shipped', "
                "'native', ?)", (now,))
        cid = execute("SELECT id FROM channel WHERE name = 'soak-shipped'").fetchone()[0]
        db.execute_sql(
            "INSERT INTO sales_order (channel_id, external_id, ref, status, currency, "
            "placed_at, created_at, updated_at) SELECT %s, 'SH' || g, 'SH-' || g, 'shipped', "
            "'GBP', %s, %s, %s FROM generate_series(1, %s) g", (cid, now, now, now, n))
        db.execute_sql(
            "INSERT INTO shipment (order_id, station, carrier, carrier_service, tracking, sscc, "
            "state, parcel_no, parcel_count, created_by, created_at, shipped_at, quiet_since) "
            "SELECT o.id, 'soak-seed', %s, 'rm-tracked-48', 'SOAK' || o.external_id, "
            "'9' || lpad(o.id::text, 17, '0'), 'shipped', 1, 1, 'soak', %s, %s, %s "
            "FROM sales_order o WHERE o.channel_id = %s", (CARRIER, now, now, now, cid))
    return [f"SOAKSH{g}" for g in range(1, n + 1)]

