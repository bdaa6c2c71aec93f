"""Following the parcel: tracking events from carriers (API, feeds, karrio polls) recorded
once each, the shipment's state from its latest event, delivery, and the sweep that flags
shipments gone quiet as delayed or lost.

Events are written a batch at a time: one SELECT of the shipments, one INSERT … ON
CONFLICT DO NOTHING RETURNING (UNIQUE (carrier, event_id): a resent event is a duplicate,
however many arrive at once), one guarded UPDATE per moved shipment set (`last_event_at <
new`, so a late event never moves a shipment back). A delivered shipment whose order has
no other parcel on the way moves the order to `delivered`. After commit each shipment
that moved is announced as "shipment.tracking" {shipment_id, order_id, status,
occurred_at}.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any, Callable, Iterable, Mapping

from .. import clock, events
from ..config import Config
from ..domain import lifecycle
from ..domain import tracking_events as te
from ..domain.errors import NotFound, Unauthorized, Unprocessable
from ..store.bulk import insert_returning, select_in, update_many
from ..store.db import execute, is_postgres, write_tx
from ..store.retry import retry_transaction
from . import audit, exceptions

_COLUMNS = ("carrier", "event_id", "shipment_id", "status", "occurred_at", "location",
            "detail", "received_at")


def _naive(at: dt.datetime) -> dt.datetime:
    return clock.naive_utc(at)


# ---- the API body ------------------------------------------------------------------------

def events_from_body(body: Mapping) -> list[te.TrackingEvent]:
    """POST /tracking-events (already schema-checked) → events; every bad time at once as
    a 422 `invalid_event` with field paths."""
    out, problems = [], []
    for i, ev in enumerate(body["events"]):
        try:
            at = te.parse_time(ev["occurred_at"])
        except ValueError as err:
            problems.append({"field": f"events[{i}].occurred_at", "message": str(err)})
            continue
        number = te.normalise_tracking(ev["tracking_number"])
        if not number:
            problems.append({"field": f"events[{i}].tracking_number", "message": "empty"})
            continue
        out.append(te.TrackingEvent(ev["event_id"], number, ev["status"], at,
                                    ev.get("location") or "", ev.get("detail") or ""))
    if problems:
        raise Unprocessable(f"{problems[0]['field']}: {problems[0]['message']}",
                            code="invalid_event", field=problems[0]["field"],
                            detail=problems)
    return out


# ---- recording ---------------------------------------------------------------------------

def record_events(carrier: str, batch: list[te.TrackingEvent], *, actor: str,
                  only_carrier: str | None = None, now: dt.datetime | None = None) -> dict:
    """Record `batch` under `carrier` (a carrier code, or feed:NAME); returns {"accepted",
    "duplicates", "unknown"}. With `only_carrier`, shipments of another carrier count as
    unknown (a carrier token speaks for its own parcels only)."""
    now = now or clock.now()
    first: dict[str, te.TrackingEvent] = {}
    for ev in batch:
        first.setdefault(ev.event_id, ev)
    numbers = list(dict.fromkeys(ev.tracking_number for ev in first.values()))
    # two batches touching the same parcels in another order may deadlock on PostgreSQL:
    # the loser was rolled back whole (nothing published) and is run again
    return retry_transaction(lambda: _record(carrier, batch, first, numbers, actor,
                                             only_carrier, now), what="tracking events")


def _record(carrier: str, batch: list[te.TrackingEvent], first: dict, numbers: list[str],
            actor: str, only_carrier: str | None, now: dt.datetime) -> dict:
    with write_tx():
        found = select_in("SELECT id, tracking, order_id, carrier FROM shipment "
                          "WHERE tracking IN ({in})", numbers) if numbers else []
        ships = {t: (sid, oid) for sid, t, oid, c in found
                 if only_carrier is None or c == only_carrier}
        unknown = [n for n in numbers if n not in ships]
        rows = [(carrier, ev.event_id, ships[ev.tracking_number][0], ev.status,
                 _naive(ev.occurred_at), ev.location[:300], ev.detail, _naive(now))
                for ev in first.values() if ev.tracking_number in ships]
        inserted = {r[0] for r in insert_returning("tracking_event", _COLUMNS, rows,
                                                   ["event_id"], ignore_conflicts=True)}
        accepted = [ev for ev in first.values() if ev.event_id in inserted]
        moved = _move_shipments(accepted, ships, actor, now)
    return {"accepted": len(accepted), "duplicates": len(batch) - len(accepted)
            - sum(1 for ev in batch if ev.tracking_number in unknown),
            "unknown": unknown, "moved": moved}


def _move_shipments(accepted: list[te.TrackingEvent], ships: dict, actor: str,
                    now: dt.datetime) -> int:
    by_shipment: dict[int, te.TrackingEvent] = {}
    for ev in accepted:
        sid = ships[ev.tracking_number][0]
        if sid not in by_shipment or ev.order_key > by_shipment[sid].order_key:
            by_shipment[sid] = ev
    if not by_shipment:
        return 0
    rows = [(sid, ev.status, _naive(ev.occurred_at),
             _naive(ev.occurred_at) if ev.status == te.DELIVERED else None)
            for sid, ev in sorted(by_shipment.items())]       # one lock order
    update_many("shipment", "id", [("id", "bigint"), ("status", "varchar"),
                                   ("at", "timestamp"), ("delivered", "timestamp")], rows,
                sets="tracking_status = {status}, last_event_at = {at}, quiet_since = {at}, "
                     "tracking_flag = '', delivered_at = {delivered}",
                where="(last_event_at IS NULL OR last_event_at < {at})")
    # which ones moved: the row now holds this batch's latest event (row locks held)
    now_rows = select_in("SELECT id, order_id, tracking_status, last_event_at FROM shipment "
                         "WHERE id IN ({in})", list(by_shipment))
    delivered_orders = set()
    moved = 0
    for sid, oid, status, last in now_rows:
        ev = by_shipment[sid]
        if status != ev.status or clock.aware_utc(last) != ev.occurred_at:
            continue
        moved += 1
        events.publish("shipment.tracking", shipment_id=sid, order_id=oid, status=status,
                       occurred_at=ev.occurred_at.isoformat())
        if status == te.DELIVERED:
            delivered_orders.add(oid)
    _deliver_orders(sorted(delivered_orders), actor, now)
    return moved


def _deliver_orders(order_ids: list[int], actor: str, now: dt.datetime) -> None:
    """Orders whose every parcel is delivered → delivered (from shipped only), with the
    time of their last delivery; a few statements whatever the number of orders."""
    if not order_ids:
        return
    done = select_in("SELECT order_id, MAX(delivered_at) FROM shipment WHERE order_id IN ({in}) "
                     "AND state <> 'cancelled' GROUP BY order_id HAVING SUM(CASE WHEN "
                     "tracking_status = 'delivered' THEN 0 ELSE 1 END) = 0", order_ids)
    if not done:
        return
    lock = " FOR UPDATE" if is_postgres() else ""
    shipped = {r[0] for r in select_in("SELECT id FROM sales_order WHERE id IN ({in}) AND "
                                       "status = ?" + lock, [r[0] for r in done],
                                       after=[lifecycle.SHIPPED])}
    rows = [(oid, at) for oid, at in sorted(done) if oid in shipped]
    update_many("sales_order", "id", [("id", "bigint"), ("at", "timestamp"),
                                      ("updated", "timestamp"), ("was", "varchar")],
                [(oid, at, _naive(now), lifecycle.SHIPPED) for oid, at in rows],
                sets=f"status = '{lifecycle.DELIVERED}', delivered_at = {{at}}, "
                     "updated_at = {updated}", where="status = {was}")
    audit.write([audit.row(now, actor, "order.status", "order", oid, lifecycle.SHIPPED,
                           lifecycle.DELIVERED) for oid, _ in rows])


# ---- feeds (AfterShip, 17TRACK) ----------------------------------------------------------

def receive_feed(name: str, headers: Mapping[str, str], raw: bytes, *, settings: Config,
                 environ: Mapping[str, str] | None = None) -> dict:
    """A tracking feed's delivery: signature checked on the raw bytes first (401 and
    nothing written when it fails), then its events recorded under `feed:NAME`."""
    feed = settings.tracking.feeds.get(name)
    if feed is None:
        raise NotFound(f"no tracking feed {name!r} (tracking.feeds in config)", field="feed")
    secret = (os.environ if environ is None else environ).get(feed.secret_env, "")
    if not secret:
        raise Unauthorized(f"the secret of feed {name!r} ({feed.secret_env}) is not set",
                           code="feed_unconfigured")
    if feed.kind == "aftership":
        ok = te.aftership_signature_ok(raw, headers.get("aftership-hmac-sha256"), secret)
    else:
        ok = te.seventeen_sign_ok(raw, headers.get("sign"), secret)
    if not ok:
        raise Unauthorized("bad signature", code="bad_signature")
    try:
        body = json.loads(raw)
    except ValueError:
        raise Unprocessable("the body is not JSON", code="bad_body") from None
    event_name = body.get("event") if isinstance(body, dict) else None
    if feed.kind == "aftership" and event_name not in (None, "tracking_update"):
        return {"accepted": 0, "duplicates": 0, "unknown": [], "ignored": event_name}
    if feed.kind == "17track" and event_name not in (None, "TRACKING_UPDATED"):
        return {"accepted": 0, "duplicates": 0, "unknown": [], "ignored": event_name}
    try:
        batch = te.parse_aftership(body) if feed.kind == "aftership" else te.parse_17track(body)
    except (ValueError, TypeError, AttributeError) as err:
        raise Unprocessable(f"{feed.kind} body: {err}", code="bad_body") from None
    result = record_events(f"feed:{name}", batch, actor=f"feed:{name}")
    result.pop("moved")
    return result


# ---- karrio polling ----------------------------------------------------------------------

def poll_karrio(*, settings: Config, adapter_for: Callable | None = None,
                now: dt.datetime | None = None) -> dict:
    """Ask karrio's tracking for the open shipments of carrier services connected through
    karrio (oldest quiet first, up to tracking.poll_limit); record what it answers."""
    from ..carrier_adapters import CarrierError, KarrioAdapter
    now = now or clock.now()
    karrio_services = {s.id: s for s in settings.setup.services if s.adapter == "karrio"
                       and settings.setup.carriers.get(s.carrier) is not None
                       and settings.setup.carriers[s.carrier].karrio is not None}
    if not karrio_services:
        return {"polled": 0, "accepted": 0, "failed": 0}
    make = adapter_for or (lambda svc: KarrioAdapter(
        svc, settings.setup.carriers[svc.carrier].karrio))
    open_rows = select_in(
        "SELECT id, tracking, carrier_service, carrier FROM shipment WHERE state = 'shipped' "
        "AND tracking_status NOT IN ('delivered', 'returned_to_sender') "
        "AND carrier_service IN ({in}) ORDER BY quiet_since, id "
        f"LIMIT {int(settings.tracking.poll_limit)}", list(karrio_services))
    polled = accepted = failed = 0
    adapters: dict[str, Any] = {}
    for _sid, tracking, service_id, carrier in open_rows:
        svc = karrio_services[service_id]
        try:
            adapter = adapters.get(service_id) or adapters.setdefault(service_id, make(svc))
            found = adapter.track(tracking)
        except CarrierError:
            failed += 1
            continue
        polled += 1
        batch = []
        for ev in found:
            status = te.karrio_status(getattr(ev, "status", ""))
            if status is None:
                continue
            try:       # carriers' local times without an offset are taken as UTC
                at = te.parse_time(ev.at if "+" in ev.at[10:] or ev.at.endswith("Z")
                                   else ev.at + "+00:00")
            except ValueError:
                continue
            batch.append(te.TrackingEvent(
                te.content_id("karrio", tracking, ev.at, ev.code, ev.description), tracking,
                status, at, ev.location, ev.description))
        if batch:
            accepted += record_events(carrier, batch, actor="karrio", now=now)["accepted"]
    return {"polled": polled, "accepted": accepted, "failed": failed}


# ---- reading -----------------------------------------------------------------------------

def _iso(value) -> str | None:
    return clock.aware_utc(value).isoformat() if value else None


def has_tracking_number(text: str) -> bool:
    return execute("SELECT 1 FROM shipment WHERE tracking = ?",
                   (te.normalise_tracking(text),)).fetchone() is not None


def shipment_timeline(tracking_number: str, *, channel_id: int | None = None) -> dict:
    """The shipment with this tracking number and every event, oldest first. A channel
    sees its own orders' shipments only (another's is 404, as if it did not exist)."""
    number = te.normalise_tracking(tracking_number)
    row = execute(
        "SELECT sh.id, sh.order_id, o.ref, o.channel_id, sh.carrier, sh.carrier_service, "
        "sh.service, sh.tracking, sh.state, sh.tracking_status, sh.tracking_flag, "
        "sh.shipped_at, sh.last_event_at, sh.delivered_at, o.status, sh.parcel_no, "
        "sh.parcel_count FROM shipment sh JOIN sales_order o ON o.id = sh.order_id "
        "WHERE sh.tracking = ?", (number,)).fetchone()
    if row is None or (channel_id is not None and row[3] != channel_id):
        raise NotFound(f"no shipment with tracking number {tracking_number!r}",
                       field="tracking_number")
    timeline = [{"event_id": r[0], "source": r[1], "status": r[2], "occurred_at": _iso(r[3]),
                 "location": r[4], "detail": r[5], "received_at": _iso(r[6])}
                for r in execute("SELECT event_id, carrier, status, occurred_at, location, "
                                 "detail, received_at FROM tracking_event WHERE shipment_id = ? "
                                 "ORDER BY occurred_at, id", (row[0],)).fetchall()]
    return {"id": row[0], "order_id": row[1], "order_ref": row[2], "carrier": row[4],
            "carrier_service": row[5], "service": row[6], "tracking_number": row[7],
            "state": row[8], "tracking_status": row[9] or None, "flag": row[10] or None,
            "shipped_at": _iso(row[11]), "last_event_at": _iso(row[12]),
            "delivered_at": _iso(row[13]), "order_status": row[14], "parcel": row[15],
            "parcels": row[16], "events": timeline}


# ---- the delay / loss sweep --------------------------------------------------------------

_TRAVELLING = ("state = 'shipped' AND tracking_status NOT IN ('delivered', "
               "'returned_to_sender')")       # the predicate of index shipment_sweep


def _groups(settings: Config) -> Iterable[tuple[str, tuple, Any]]:
    """(SQL condition on carrier_service, its parameters, its rule): one per service with
    its own thresholds, and one for all the others."""
    own = sorted(settings.tracking.services)
    for sid in own:
        yield "carrier_service = ?", (sid,), settings.tracking.services[sid]
    base = settings.tracking.rule("\x00none")
    if own:
        yield f"carrier_service NOT IN ({', '.join('?' * len(own))})", tuple(own), base
    else:
        yield "1 = 1", (), base


SWEEP_CHUNK = 200      # shipments flagged per transaction (SQLite's one writer waits less)


def sweep(*, settings: Config, now: dt.datetime | None = None) -> dict:
    """Flag travelling shipments with no event for their service's delayed_after_hours as
    delayed, and for lost_after_days as lost, each with an exception (shipment_delayed,
    shipment_lost). A shipment is flagged once per silence: a new event clears its flag.
    Up to tracking.sweep_limit per run, SWEEP_CHUNK per transaction."""
    now = now or clock.now()
    found = {"delayed": 0, "lost": 0}
    for cond, params, rule in _groups(settings):
        lost_before = _naive(now - dt.timedelta(days=rule.lost_after_days))
        delayed_before = _naive(now - dt.timedelta(hours=rule.delayed_after_hours))
        for flag, before, flags in (("lost", lost_before, ("", "delayed")),
                                    ("delayed", delayed_before, ("",))):
            while True:
                left = min(SWEEP_CHUNK, settings.tracking.sweep_limit - sum(found.values()))
                if left <= 0:
                    return found
                n = _flag_chunk(flag, cond, params, flags, before, left, rule, now)
                found[flag] += n
                if n < left:
                    break
    return found


def _flag_chunk(flag: str, cond: str, params: tuple, flags: tuple, before: dt.datetime,
                limit: int, rule, now: dt.datetime) -> int:
    marks = ", ".join("?" * len(flags))
    with write_tx():
        rows = execute(
            f"SELECT id, order_id, tracking, carrier, quiet_since FROM shipment "
            f"WHERE {_TRAVELLING} AND {cond} AND tracking_flag IN ({marks}) "
            f"AND quiet_since < ? ORDER BY quiet_since LIMIT {int(limit)}",
            (*params, *flags, before)).fetchall()
        if not rows:
            return 0
        update_many("shipment", "id", [("id", "bigint"), ("flag", "varchar")],
                    [(r[0], flag) for r in rows], sets="tracking_flag = {flag}")
        trail = []
        for sid, oid, tracking, carrier, quiet in rows:
            hours = (now - clock.aware_utc(quiet)).total_seconds() / 3600
            exceptions.open_exception(
                f"shipment_{flag}",
                f"shipment {tracking} ({carrier}) has had no tracking event for "
                f"{hours:.0f} h: {flag}", order_id=oid, now=now,
                detail={"shipment_id": sid, "tracking_number": tracking, "carrier": carrier,
                        "quiet_since": _iso(quiet),
                        "delayed_after_hours": rule.delayed_after_hours,
                        "lost_after_days": rule.lost_after_days})
            trail.append(audit.row(now, "system", f"shipment.{flag}", "shipment", sid, "",
                                   flag))
        audit.write(trail)
    return len(rows)
