"""Telling the customer (issue 14 §4): per-channel HMAC-signed notification webhooks sent
through the outbox, and the ship-by at-risk sweep. docs/notifications.md has the payloads.

Each notification is one outbox row (kind `notify.<kind>`, dedupe_key UNIQUE), inserted
with ON CONFLICT DO NOTHING, so however often a path runs (a retried event, a sweep run
twice) the customer hears once. Paths that own the change enqueue inside the transaction
that commits it (received and backordered at intake/reservation, shipped at dispatch); the
others subscribe to after-commit events (server/events.py) and enqueue in a write
transaction of their own: "shipment.tracking" (delivered, delivery delayed),
"return.received", "return.refunded". A channel with no notify URL under
`notifications.channels` gets no row at all.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import uuid
from typing import Any, Iterable, Sequence

from .. import clock, events
from ..config import Config
from ..domain import lifecycle
from ..domain import notify as dn
from ..store import db as store_db
from ..store.bulk import insert_returning, select_in
from ..store.db import execute, write_tx
from . import audit, exceptions

log = logging.getLogger(__name__)

OUTBOX_COLUMNS = ("channel_id", "order_id", "shipment_id", "kind", "dedupe_key", "payload",
                  "state", "attempts", "next_attempt_at", "created_at", "updated_at")
# not yet picked: an order in one of these states can still miss its ship-by
NOT_PICKED = (lifecycle.RECEIVED, lifecycle.AWAITING_PAYMENT, lifecycle.ON_HOLD,
              lifecycle.READY, lifecycle.BACKORDERED, lifecycle.WAVED, lifecycle.PICKING)
AT_RISK = "ship_by_at_risk"      # the exception type
# literal statuses: the predicate of migration 0021's partial index, so both planners use it
AT_RISK_SQL = (
    "SELECT id, ref, ship_by, status FROM sales_order WHERE at_risk_at IS NULL "
    "AND ship_by IS NOT NULL AND status IN ("
    + ", ".join(f"'{s}'" for s in NOT_PICKED) + ") AND ship_by <= ? "
    "ORDER BY ship_by, id LIMIT ?")


def at_risk_sql() -> str:
    """The sweep's query. SQLite's planner, without statistics, prefers the status index
    (every order ever shipped…): it is told which index to use."""
    if store_db.is_postgres():
        return AT_RISK_SQL
    return AT_RISK_SQL.replace("FROM sales_order ", "FROM sales_order INDEXED BY "
                               "sales_order_ship_by_open ", 1)


def _iso(value: Any) -> str | None:
    t = clock.aware_utc(value)
    return t.astimezone(dt.UTC).isoformat(timespec="seconds") if t else None


def _order_part(oid: int, ref: str, external_id: str, ship_by: Any) -> dict:
    return {"id": external_id, "ref": ref, "wavepack_id": oid, "ship_by": _iso(ship_by)}


def _insert(settings: Config, messages: Sequence[tuple], actor: str,
            now: dt.datetime) -> list[int]:
    """Store messages (channel name, channel id, order id, shipment id, kind, subject,
    subject id, body details, order part); those already stored are skipped. Call inside
    a write transaction. Returns the ids of the new rows."""
    stamp = clock.naive_utc(now)
    at = _iso(now)
    rows = []
    for channel, channel_id, oid, sid, kind, subject, subject_id, details, order in messages:
        target = settings.notify.targets.get(channel)
        if target is None:
            continue
        body = dn.body(kind, delivery_id=str(uuid.uuid4()), occurred_at=at, channel=channel,
                       order=order, **details)
        payload = json.dumps({"url": target.url, "secret_env": target.secret_env,
                              "body": body}, sort_keys=True, ensure_ascii=False)
        rows.append((channel_id, oid, sid, dn.outbox_kind(kind),
                     dn.dedupe_key(kind, subject, subject_id), payload, "pending", 0,
                     stamp, stamp, stamp))
    if not rows:
        return []
    got = [r[0] for r in insert_returning("outbox", OUTBOX_COLUMNS, rows, ("id",),
                                          ignore_conflicts=True)]
    if got:
        audit.write([audit.row(now, actor, "outbox.enqueue", "outbox", i, "", "pending")
                     for i in got])
        events.publish("outbox.queued")        # wakes the outbox worker after commit
    return got


# ---------------------------------------------------------------- orders

def order_notices(kind: str, order_ids: Iterable[int], *, settings: Config, actor: str,
                  now: dt.datetime | None = None, reason: str | None = None) -> list[int]:
    """Queue `received` or `delayed` (with `reason` at_risk | backordered) for these
    orders, inside the caller's write transaction. Nothing is read when no channel has a
    notify URL."""
    ids = list(dict.fromkeys(order_ids))
    if not settings.notify.targets or not ids:
        return []
    if kind == "delayed" and reason not in dn.DELAY_REASONS:
        raise ValueError(f"a delay needs a reason: {', '.join(dn.DELAY_REASONS)}")
    now = now or clock.now()
    rows = select_in("SELECT o.id, o.ref, o.external_id, o.ship_by, c.name, c.id "
                     "FROM sales_order o JOIN channel c ON c.id = o.channel_id "
                     "WHERE o.id IN ({in})", ids)
    details = {"reason": reason} if kind == "delayed" else {}
    with write_tx():
        return _insert(settings, [(name, cid, oid, None, kind, "order", oid, details,
                                   _order_part(oid, ref, ext, ship_by))
                                  for oid, ref, ext, ship_by, name, cid in rows], actor, now)


# ---------------------------------------------------------------- shipments

def _shipment_rows(shipment_id: int) -> tuple | None:
    return execute(
        "SELECT s.id, s.order_id, s.carrier, s.service, s.tracking, s.parcel_no, "
        "s.parcel_count, s.shipped_at, o.ref, o.external_id, o.ship_by, c.name, c.id "
        "FROM shipment s JOIN sales_order o ON o.id = s.order_id "
        "JOIN channel c ON c.id = o.channel_id WHERE s.id = ?", (shipment_id,)).fetchone()


def shipment_notice(kind: str, shipment_id: int, *, settings: Config, actor: str,
                    now: dt.datetime | None = None, status: str | None = None,
                    status_at: str | None = None) -> int | None:
    """Queue `shipped`, `delivered` or `delivery_delayed` for one shipment (inside the
    caller's write transaction, or one of its own). Returns the new row id, or None
    (already told, unknown shipment, channel without notify URL)."""
    if not settings.notify.targets:
        return None
    now = now or clock.now()
    with write_tx():
        row = _shipment_rows(shipment_id)
        if row is None:
            return None
        (sid, oid, carrier, service, tracking, parcel_no, parcel_count, shipped_at, ref,
         ext, ship_by, name, cid) = row
        if name not in settings.notify.targets:
            return None
        account = settings.setup.carriers.get(carrier)
        shipment = {"id": sid, "carrier": carrier,
                    "carrier_name": getattr(account, "label", "") or carrier,
                    "service": service, "tracking": tracking,
                    "tracking_url": settings.notify.tracking_url(carrier, tracking) or None,
                    "parcel_no": parcel_no, "parcel_count": parcel_count,
                    "shipped_at": _iso(shipped_at)}
        details: dict[str, Any] = {"shipment": shipment}
        if status is not None:
            details["tracking_status"] = {"status": status, "occurred_at": status_at}
        got = _insert(settings, [(name, cid, oid, sid, kind, "shipment", sid, details,
                                  _order_part(oid, ref, ext, ship_by))], actor, now)
    return got[0] if got else None


# ---------------------------------------------------------------- returns

def return_notice(kind: str, return_id: int, order_id: int, *, settings: Config,
                  actor: str, now: dt.datetime | None = None) -> int | None:
    """Queue `return_received` or `refund_issued` for one return, in a transaction."""
    if not settings.notify.targets:
        return None
    now = now or clock.now()
    with write_tx():
        row = execute("SELECT o.id, o.ref, o.external_id, o.ship_by, c.name, c.id "
                      "FROM sales_order o JOIN channel c ON c.id = o.channel_id "
                      "WHERE o.id = ?", (order_id,)).fetchone()
        if row is None:
            return None
        oid, ref, ext, ship_by, name, cid = row
        got = _insert(settings, [(name, cid, oid, None, kind, "return", return_id,
                                  {"return": _return_part(return_id)},
                                  _order_part(oid, ref, ext, ship_by))], actor, now)
    return got[0] if got else None


def _return_part(return_id: int) -> dict:
    """The return's id, and its RMA and refund amount where the returns tables exist."""
    part: dict[str, Any] = {"id": return_id}
    if not _has_table("return_request"):
        return part
    row = execute("SELECT rma FROM return_request WHERE id = ?", (return_id,)).fetchone()
    if row is not None:
        part["rma"] = row[0]
    return part


def _has_table(name: str) -> bool:
    if store_db.is_postgres():
        return execute("SELECT 1 FROM information_schema.tables WHERE table_name = ? "
                       "AND table_schema = current_schema()", (name,)).fetchone() is not None
    return execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                   (name,)).fetchone() is not None


# ---------------------------------------------------------------- at risk

def flag_at_risk(*, settings: Config, now: dt.datetime | None = None,
                 actor: str = "job:ship-by", limit: int = 1000) -> list[int]:
    """Orders not picked `notifications.at_risk_hours` before their ship-by, not flagged
    yet: each gets at_risk_at, one `ship_by_at_risk` exception and a `delayed`
    notification, in one transaction (the conditional UPDATE flags each order once, even
    when two sweeps race). The exceptions of orders picked (or cancelled) since are
    resolved. Returns the orders flagged."""
    now = now or clock.now()
    horizon = clock.naive_utc(now + dt.timedelta(hours=settings.notify.at_risk_hours))
    with write_tx():
        rows = execute(at_risk_sql(), (horizon, limit)).fetchall()
        flagged = []
        stamp = clock.naive_utc(now)
        for oid, ref, ship_by, status in rows:
            if execute("UPDATE sales_order SET at_risk_at = ? WHERE id = ? "
                       "AND at_risk_at IS NULL", (stamp, oid)).rowcount != 1:
                continue
            flagged.append(oid)
            exceptions.open_exception(
                AT_RISK, f"order {ref} is {status} and must ship by {_iso(ship_by)}",
                order_id=oid, detail={"ship_by": _iso(ship_by), "status": status,
                                      "hours_before": settings.notify.at_risk_hours},
                now=now, actor=actor)
        _settle_at_risk(actor, now)
        if flagged:
            audit.write([audit.row(now, actor, "order.at_risk", "order", oid, "", "at_risk")
                         for oid in flagged])
            order_notices("delayed", flagged, settings=settings, actor=actor, now=now,
                          reason="at_risk")
    return flagged


def _settle_at_risk(actor: str, now: dt.datetime) -> None:
    """Open at-risk exceptions of orders picked since (or cancelled) resolve by themselves."""
    done = [r[0] for r in execute(
        "SELECT DISTINCT e.order_id FROM wms_exception e JOIN sales_order o "
        "ON o.id = e.order_id WHERE e.type = ? AND e.state = 'open' AND o.status NOT IN ("
        + ", ".join(f"'{s}'" for s in NOT_PICKED) + ")", (AT_RISK,)).fetchall()]
    for oid in done:
        exceptions.resolve_for_order(oid, AT_RISK, actor, now)


# ---------------------------------------------------------------- subscribers

class _Installed:
    settings: Config | None = None


def on_tracking(event: events.Event) -> None:
    """"shipment.tracking" {shipment_id, order_id, status, occurred_at}."""
    status = str(event.data.get("status", ""))
    kind = "delivered" if status == "delivered" else \
        "delivery_delayed" if status in dn.DELIVERY_DELAY_STATUSES else None
    if kind is None or _Installed.settings is None:
        return
    occurred = event.data.get("occurred_at")
    with _connection():
        shipment_notice(kind, int(event.data["shipment_id"]), settings=_Installed.settings,
                        actor="event:shipment.tracking", status=status,
                        status_at=_iso(occurred) if isinstance(occurred, dt.datetime)
                        else (str(occurred) if occurred else None))


def on_return(event: events.Event) -> None:
    """"return.received" / "return.refunded" {return_id, order_id}."""
    if _Installed.settings is None or event.data.get("order_id") is None:
        return
    kind = "return_received" if event.name == "return.received" else "refund_issued"
    with _connection():
        return_notice(kind, int(event.data["return_id"]), int(event.data["order_id"]),
                      settings=_Installed.settings, actor=f"event:{event.name}")


SUBSCRIBED = {"shipment.tracking": on_tracking, "return.received": on_return,
              "return.refunded": on_return}


def install(settings: Config) -> None:
    """Subscribe the notification enqueuers (the app factory calls it; the latest app's
    settings are used: one app per process outside tests)."""
    _Installed.settings = settings
    for name, fn in SUBSCRIBED.items():
        events.subscribe(name, fn)


class _connection:
    """The caller's open connection, or one of our own for the subscriber's work."""

    def __enter__(self) -> None:
        self.ctx = store_db.db.connection_context() if store_db.db.is_closed() else None
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc) -> None:
        if self.ctx is not None:
            self.ctx.__exit__(*exc)


# ---------------------------------------------------------------- sending

def secret_for(message: dict, channel_secret: str) -> str:
    """The signing secret: the environment variable named by the channel's `secret_env`,
    else the channel's own webhook secret."""
    name = message.get("secret_env") or ""
    return (os.environ.get(name) if name else None) or channel_secret
