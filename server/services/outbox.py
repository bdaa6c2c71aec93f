"""The storefront outbox: a shipped parcel is told to its storefront, exactly once.

enqueue_shipped() stores one message per shipment (UNIQUE (shipment_id, kind)) with a
snapshot of what to say, inside the packing service's own write transaction, so a shipment
is never shipped without its message nor messaged without being shipped. deliver_due()
(the worker, server/jobs/outbox_worker.py) sends what is due, outside any transaction:

- claim: due rows (`pending`, or `sending` whose lease ran out: a worker died mid-send) go
  to `sending` with attempts + 1 and a lease; PostgreSQL claims with FOR UPDATE SKIP
  LOCKED, SQLite under its BEGIN IMMEDIATE write lock, and the UPDATE is conditional, so
  two workers never claim one row;
- send (server/domain/fulfilment.py builds each request): `sent` only on a 2xx answer to
  every step; anything else keeps last_status / last_error and waits
  base·2^(attempts-1) s (capped, jittered) in `pending`; after MAX_ATTEMPTS tries, or at
  once when the storefront refuses for good (a 4xx other than 408/409/429, or nothing of
  ours left to fulfil), `failed` with an exception for a person, who can retry() it;
- exactly once: a try that may have reached the storefront (a timeout after the request
  went out) is never simply repeated. From the second try on, Shopify is first asked for
  the order's fulfilments carrying our tracking number and WooCommerce for a note naming
  it; native receivers deduplicate on X-Wavepack-Delivery, which every retry repeats.
  A worker only records the result of its own claim (the attempts number must still match).
"""
from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import random
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .. import clock
from ..domain import fulfilment as ful
from ..domain.errors import BadRequest, Conflict, DomainError, NotFound
from ..domain.exactjson import parse_json
from .. import events
from ..store.db import execute, is_postgres, write_tx
from . import audit, exceptions
from .webhooks import header

log = logging.getLogger(__name__)

STATES = ("pending", "sending", "sent", "failed")
MAX_ATTEMPTS = 8              # tries before `failed` (+ an exception)
BACKOFF_BASE_S = 30.0         # first retry after 15–30 s, then doubling…
BACKOFF_CAP_S = 3600.0        # …up to an hour
TIMEOUT_S = 15.0              # per HTTP request
LEASE_S = 300.0               # a `sending` row older than this is taken to be abandoned
BATCH = 20                    # rows claimed per deliver_due() round
_ERROR_MAX = 2000
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})

# send(request, timeout) -> (status, headers, body); raises OSError when no answer came
wake_event = threading.Event()   # set by wake(); the worker waits on it between polls

Send = Callable[[ful.Request, float], tuple[int, Mapping[str, str], bytes]]


class StorefrontError(Exception):
    """A step was not acknowledged: `status` is the HTTP status (None: no answer at all)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status

    @property
    def permanent(self) -> bool:
        return self.status is not None and 400 <= self.status < 500 \
            and self.status not in _RETRYABLE_4XX


@dataclass(frozen=True)
class Outcome:
    """What one try of one message did."""

    outbox_id: int
    state: str                 # sent | pending | failed
    attempts: int
    status: int | None = None
    error: str = ""
    remote_id: str | None = None


# ---------------------------------------------------------------- enqueue

def enqueue_shipped(shipment_id: int, actor: str) -> int | None:
    """Queue the fulfilment message of a shipped shipment; returns the outbox row id.

    Call it inside the write transaction that ships the shipment (write_tx() nests as a
    savepoint), and wake() after that transaction commits. A second call for the same
    shipment returns the existing row's id; a channel with nowhere to send (no shop URL,
    no callback URL) gets no row: None. An unknown or cancelled shipment is refused
    (NotFound / Conflict)."""
    now = clock.now()
    with write_tx():
        row = execute("SELECT s.order_id, s.state, o.channel_id FROM shipment s "
                      "JOIN sales_order o ON o.id = s.order_id WHERE s.id = ?",
                      (shipment_id,)).fetchone()
        if row is None:
            raise NotFound(f"no shipment {shipment_id}", field="shipment_id")
        order_id, state, channel_id = row
        if state == "cancelled":
            raise Conflict(f"shipment {shipment_id} is cancelled", code="shipment_cancelled",
                           field="shipment_id")
        if not _storefront(channel_id).reachable():
            return None
        snap = snapshot(shipment_id, delivery_id=str(uuid.uuid4()), now=now)
        stamp = clock.naive_utc(now)
        got = execute(
            "INSERT INTO outbox (channel_id, shipment_id, kind, payload, state, attempts, "
            "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING id",
            (channel_id, shipment_id, ful.KIND, snap.to_json(), stamp, stamp, stamp)).fetchone()
        if got is None:
            return execute("SELECT id FROM outbox WHERE shipment_id = ? AND kind = ?",
                           (shipment_id, ful.KIND)).fetchone()[0]
        audit.write([audit.row(now, actor, "outbox.enqueue", "outbox", got[0], "", "pending",
                               {"shipment": shipment_id, "order": order_id})])
    return got[0]


def snapshot(shipment_id: int, *, delivery_id: str, now: dt.datetime) -> ful.ShipmentSnapshot:
    """What the storefront will be told about this shipment. Its lines are the units
    verified at the bench that went into this parcel (pack_unit, failed QC left out) or,
    when it has none, the order's lines."""
    (order_id, session_id, carrier, service, tracking, sscc, parcel_no, parcel_count,
     shipped_at, external_id, ref) = execute(
        "SELECT s.order_id, s.session_id, s.carrier, s.service, s.tracking, s.sscc, "
        "s.parcel_no, s.parcel_count, s.shipped_at, o.external_id, o.ref FROM shipment s "
        "JOIN sales_order o ON o.id = s.order_id WHERE s.id = ?", (shipment_id,)).fetchone()
    lines = execute(
        "SELECT l.external_id, l.sku, COUNT(u.id) FROM pack_unit u "
        "JOIN order_line l ON l.id = u.order_line_id WHERE u.session_id = ? "
        "AND u.qc_state <> 'failed' AND COALESCE(u.parcel_no, 1) = ? "
        "GROUP BY l.id, l.external_id, l.sku, l.line_no "
        "ORDER BY l.line_no", (session_id, parcel_no)).fetchall() if session_id else []
    if not lines:
        lines = execute("SELECT external_id, sku, quantity FROM order_line WHERE order_id = ? "
                        "ORDER BY line_no", (order_id,)).fetchall()
    shipped = clock.aware_utc(shipped_at) or now
    return ful.ShipmentSnapshot(
        shipment_id=shipment_id, order_id=order_id, order_external_id=external_id,
        order_ref=ref, carrier=carrier, service=service, tracking=tracking, sscc=sscc,
        parcel_no=parcel_no, parcel_count=parcel_count,
        shipped_at=shipped.astimezone(dt.UTC).isoformat(timespec="seconds"),
        delivery_id=delivery_id,
        lines=tuple(ful.LineSnapshot(external_id=e or "", sku=s, quantity=int(q))
                    for e, s, q in lines))


def _storefront(channel_id: int) -> ful.Storefront:
    kind, base_url, api_key, api_secret, secret, callback_url = execute(
        "SELECT kind, base_url, api_key, api_secret, secret, callback_url FROM channel "
        "WHERE id = ?", (channel_id,)).fetchone()
    # Shopify's Admin API access token is kept as the channel's api_secret (api_key
    # accepted when that is the only one given)
    return ful.Storefront(kind=kind, base_url=base_url, token=api_secret or api_key,
                          key=api_key, secret=api_secret, callback_url=callback_url,
                          signing_secret=secret)


# ---------------------------------------------------------------- deliver

def deliver_due(now: dt.datetime | None = None, limit: int = BATCH, *,
                send: Send | None = None, max_attempts: int = MAX_ATTEMPTS,
                backoff_base_s: float = BACKOFF_BASE_S, backoff_cap_s: float = BACKOFF_CAP_S,
                timeout_s: float = TIMEOUT_S, lease_s: float = LEASE_S,
                rng: random.Random | None = None) -> list[Outcome]:
    """Send up to `limit` due messages, claiming one at a time (so a lease never runs out
    while the message waits behind others); needs an open connection. `now` (tests) is
    the time of every claim and retry date; by default the clock's. Returns what
    happened to each message."""
    policy = _Policy(send or urllib_send, timeout_s, max_attempts, backoff_base_s,
                     backoff_cap_s, rng)
    outcomes = []
    for _ in range(limit):
        claimed = _claim(now or clock.now(), lease_s)
        if claimed is None:
            break
        outcomes.append(_deliver_one(*claimed, policy, now))
    return outcomes


@dataclass(frozen=True)
class _Policy:
    send: Send
    timeout_s: float
    max_attempts: int
    base_s: float
    cap_s: float
    rng: random.Random | None

    def wait_s(self, attempts: int) -> float:
        return ful.backoff_seconds(attempts, self.base_s, self.cap_s, self.rng)


def _claim(now: dt.datetime, lease_s: float) -> tuple[int, int] | None:
    """The most overdue message, now `sending` with attempts + 1 and a lease (committed):
    (id, attempts), or None when nothing is due."""
    stamp = clock.naive_utc(now)
    skip_locked = " FOR UPDATE SKIP LOCKED" if is_postgres() else ""
    with write_tx():
        row = execute("SELECT id, attempts FROM outbox WHERE state IN ('pending', 'sending') "
                      "AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1"
                      + skip_locked, (stamp,)).fetchone()
        if row is None:
            return None
        outbox_id, attempts = row
        claimed = execute(
            "UPDATE outbox SET state = 'sending', attempts = ?, next_attempt_at = ?, "
            "updated_at = ? WHERE id = ? AND attempts = ? AND state IN ('pending', 'sending') "
            "AND next_attempt_at <= ?",
            (attempts + 1, clock.naive_utc(now + dt.timedelta(seconds=lease_s)), stamp,
             outbox_id, attempts, stamp)).rowcount
    return (outbox_id, attempts + 1) if claimed == 1 else None


def _deliver_one(outbox_id: int, attempts: int, policy: _Policy,
                 now: dt.datetime | None) -> Outcome:
    channel_id, payload = execute("SELECT channel_id, payload FROM outbox WHERE id = ?",
                                  (outbox_id,)).fetchone()
    snap = ful.ShipmentSnapshot.from_json(payload)
    shop = _storefront(channel_id)
    call = _Caller(policy.send, policy.timeout_s)
    try:
        remote_id = _FLOWS[shop.kind](shop, snap, call, attempts > 1)
    except (StorefrontError, DomainError) as err:
        permanent = isinstance(err, DomainError) or err.permanent
        return _record_failure(outbox_id, snap, attempts, call.last_status, str(err),
                               permanent or attempts >= policy.max_attempts,
                               policy.wait_s(attempts), now)
    except Exception as err:  # a bug must not stop the worker: count it as a failed try
        log.exception("outbox message %s failed", outbox_id)
        return _record_failure(outbox_id, snap, attempts, call.last_status,
                               f"{type(err).__name__}: {err}",
                               attempts >= policy.max_attempts, policy.wait_s(attempts), now)
    return _record_sent(outbox_id, attempts, call.last_status, remote_id, now)


def _record_sent(outbox_id: int, attempts: int, status: int | None, remote_id: str | None,
                 now: dt.datetime | None) -> Outcome:
    now = now or clock.now()
    with write_tx():
        sent = execute(
            "UPDATE outbox SET state = 'sent', sent_at = ?, updated_at = ?, remote_id = ?, "
            "last_status = ?, last_error = '' WHERE id = ? AND state = 'sending' "
            "AND attempts = ?", (clock.naive_utc(now), clock.naive_utc(now),
                                 (remote_id or "")[:120] or None, status, outbox_id,
                                 attempts)).rowcount
        if sent:     # sent at last (after a retry): its failure needs nobody any more
            shipment = execute("SELECT shipment_id FROM outbox WHERE id = ?",
                               (outbox_id,)).fetchone()[0]
            exceptions.resolve_for_subject("shipment", ("outbox_failed",), "job:outbox", now,
                                           subject_id=shipment, resolution="sent")
        audit.write([audit.row(now, "job:outbox", "outbox.sent", "outbox", outbox_id,
                               "sending", "sent", {"remote_id": remote_id,
                                                   "attempts": attempts})])
    return Outcome(outbox_id, "sent", attempts, status, "", remote_id)


def _record_failure(outbox_id: int, snap: ful.ShipmentSnapshot, attempts: int,
                    status: int | None, error: str, give_up: bool, wait_s: float,
                    now: dt.datetime | None) -> Outcome:
    now = now or clock.now()
    state = "failed" if give_up else "pending"
    error = error[:_ERROR_MAX]
    with write_tx():
        changed = execute(
            "UPDATE outbox SET state = ?, last_status = ?, last_error = ?, next_attempt_at = ?, "
            "updated_at = ? WHERE id = ? AND state = 'sending' AND attempts = ?",
            (state, status, error, clock.naive_utc(now + dt.timedelta(seconds=wait_s)),
             clock.naive_utc(now), outbox_id, attempts)).rowcount
        if changed and give_up:
            exceptions.open_exception(
                "outbox_failed", f"storefront was not told that shipment {snap.shipment_id} "
                f"(tracking {snap.tracking}) shipped after {attempts} tries: {error}",
                order_id=snap.order_id, detail={"outbox_id": outbox_id, "status": status},
                now=now, actor="job:outbox",
                subject=("shipment", snap.shipment_id, snap.tracking))
    log.warning("outbox %s try %s: %s", outbox_id, attempts, error)
    return Outcome(outbox_id, state, attempts, status, error)


class _Caller:
    """Sends one request; the parsed JSON answer of a 2xx, StorefrontError otherwise."""

    def __init__(self, send: Send, timeout_s: float):
        self.send, self.timeout_s = send, timeout_s
        self.last_status: int | None = None

    def __call__(self, req: ful.Request) -> object:
        where = f"{req.method} {ful.safe_url(req.url)}"
        try:
            status, headers, body = self.send(req, self.timeout_s)
        except (OSError, http.client.HTTPException) as err:  # refused, timeout, reset, DNS
            reason = getattr(err, "reason", None) or err
            self.last_status = None
            raise StorefrontError(f"{where}: no answer ({reason})") from err
        self.last_status = status
        if not 200 <= status < 300:
            text = body[:300].decode("utf-8", "replace")
            raise StorefrontError(f"{where}: HTTP {status} {text}".strip(), status)
        if not body.strip() or "json" not in header(headers, "Content-Type").lower():
            return None
        try:
            return parse_json(body, replace_bad_unicode=True)
        except DomainError:
            return None


def _shopify(shop: ful.Storefront, snap: ful.ShipmentSnapshot, call: _Caller,
             retry: bool) -> str | None:
    if retry:   # the last try may have made it: never create a second fulfilment
        found = ful.find_shopify_fulfilment(snap, call(ful.shopify_fulfilments_request(shop,
                                                                                       snap)))
        if found:
            return found
    orders = call(ful.shopify_fulfillment_orders_request(shop, snap))
    return ful.shopify_created_id(call(ful.shopify_create_request(shop, snap, orders))) or None


def _woocommerce(shop: ful.Storefront, snap: ful.ShipmentSnapshot, call: _Caller,
                 retry: bool) -> str | None:
    note_id = ful.woo_note_exists(snap, call(ful.woo_notes_request(shop, snap))) \
        if retry else None
    if note_id is None:
        added = call(ful.woo_add_note_request(shop, snap))
        note_id = str(added.get("id", "")) if isinstance(added, dict) else ""
    call(ful.woo_complete_request(shop, snap))     # idempotent: completed stays completed
    return note_id or None


def _native(shop: ful.Storefront, snap: ful.ShipmentSnapshot, call: _Caller,
            retry: bool) -> str | None:
    call(ful.native_request(shop, snap))           # the receiver dedupes on the delivery id
    return snap.delivery_id


_FLOWS = {"shopify": _shopify, "woocommerce": _woocommerce, "native": _native}


def urllib_send(req: ful.Request, timeout_s: float) -> tuple[int, Mapping[str, str], bytes]:
    """One HTTP request with a timeout: (status, headers, body) for any status; OSError
    when no answer came (refused, reset, timeout)."""
    r = urllib.request.Request(req.url, data=req.body, headers=dict(req.headers),
                               method=req.method)
    try:
        with urllib.request.urlopen(r, timeout=timeout_s) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers.items()), err.read()


# ---------------------------------------------------------------- people

_FIELDS = ("o.id", "c.name", "c.kind", "o.shipment_id", "s.order_id", "s.tracking", "o.kind",
           "o.state", "o.attempts", "o.next_attempt_at", "o.last_status", "o.last_error",
           "o.remote_id", "o.created_at", "o.updated_at", "o.sent_at")
_KEYS = ("id", "channel", "channel_kind", "shipment_id", "order_id", "tracking", "kind",
         "state", "attempts", "next_attempt_at", "last_status", "last_error", "remote_id",
         "created_at", "updated_at", "sent_at")
_TIMES = frozenset({"next_attempt_at", "created_at", "updated_at", "sent_at"})


def list_outbox(state: str | None = None, limit: int = 100) -> list[dict]:
    """Messages, newest first, optionally only those in one state (BadRequest for an
    unknown state)."""
    if state is not None and state not in STATES:
        raise BadRequest(f"state must be one of {', '.join(STATES)}", code="bad_state",
                            field="state")
    where, params = ("WHERE o.state = ?", [state]) if state else ("", [])
    rows = execute(f"SELECT {', '.join(_FIELDS)} FROM outbox o "
                   "JOIN channel c ON c.id = o.channel_id JOIN shipment s ON s.id = o.shipment_id "
                   f"{where} ORDER BY o.id DESC LIMIT ?", (*params, limit)).fetchall()
    return [_item(r) for r in rows]


def get_outbox(outbox_id: int) -> dict:
    row = execute(f"SELECT {', '.join(_FIELDS)} FROM outbox o "
                  "JOIN channel c ON c.id = o.channel_id JOIN shipment s ON s.id = o.shipment_id "
                  "WHERE o.id = ?", (outbox_id,)).fetchone()
    if row is None:
        raise NotFound(f"no outbox message {outbox_id}", field="outbox_id")
    return _item(row)


def _item(row: tuple) -> dict:
    out = dict(zip(_KEYS, row))
    for key in _TIMES:
        t = clock.aware_utc(out[key])
        out[key] = t.isoformat() if t else None
    return out


def retry(outbox_id: int, actor: str) -> dict:
    """Send a `failed` (or waiting `pending`) message again now, with a fresh count of
    tries (audited). A message that is `sent` or being sent is refused (409)."""
    now = clock.now()
    with write_tx():
        row = execute("SELECT state, attempts FROM outbox WHERE id = ?" +
                      (" FOR UPDATE" if is_postgres() else ""), (outbox_id,)).fetchone()
        if row is None:
            raise NotFound(f"no outbox message {outbox_id}", field="outbox_id")
        state, attempts = row
        if state not in ("failed", "pending"):
            raise Conflict(f"outbox message {outbox_id} is {state}", code=f"outbox_{state}",
                           field="outbox_id")
        execute("UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, "
                "updated_at = ? WHERE id = ?",
                (clock.naive_utc(now), clock.naive_utc(now), outbox_id))
        audit.write([audit.row(now, actor, "outbox.retry", "outbox", outbox_id, state,
                               "pending", {"attempts_before": attempts})])
    wake()
    return get_outbox(outbox_id)


OUTBOX_QUEUED = "outbox.queued"      # after the commit that queued or released a message


def wake() -> None:
    """Announce that a message is due (after commit when inside a write transaction); the
    jobs' subscriber (server/jobs/wakeups.py) nudges the outbox worker."""
    events.publish(OUTBOX_QUEUED)


def payload(outbox_id: int) -> dict:
    """The stored snapshot of one message, as JSON (support and tests)."""
    row = execute("SELECT payload FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
    if row is None:
        raise NotFound(f"no outbox message {outbox_id}", field="outbox_id")
    return json.loads(row[0])
