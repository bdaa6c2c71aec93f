"""Storefront webhooks: Shopify and WooCommerce order deliveries, each taken exactly once.

The order of checks matters and is the same for both platforms:

1. the channel exists and is of that platform (else 404);
2. the signature is checked over the raw bytes, before any parsing, against the channel's
   secret and, during a rotation, its previous one (else 401 and nothing written);
   WooCommerce's unsigned ping is answered 200 here, touching nothing;
3. the body is parsed as exact JSON (400) and the order in it by the platform parser,
   which also refuses what no table could hold (422);
4. an unknown topic is acknowledged (200) and ignored, so WooCommerce never counts it as a
   failure (it disables a hook after a few failed deliveries and never retries);
5. one write transaction records the delivery in webhook_event (the event key is UNIQUE,
   so a replay or a second subscription's copy is a duplicate even when 50 arrive at once)
   with its raw body; the 200 is sent only after that commit. The inbox worker
   (jobs/inbox.py) then applies it in its own transaction, retrying what fails; with
   `webhooks.process: inline` it is applied before answering instead.

A business-rule refusal while applying an order becomes an exception for a person and a
200, never a 4xx/5xx that would make the platform resend it or switch the hook off.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import replace
from typing import Callable, Mapping

from .. import clock, events
from ..config import Config
from ..domain.errors import DomainError, NotFound, Unauthorized
from ..domain import lifecycle
from ..domain.orders import Address, OrderDraft
from ..domain.validation import Problem
from ..domain.storefronts import shopify, signature, woocommerce
from ..domain.storefronts._fields import exact_id, require_object
from ..store import db as store_db
from ..store.bulk import insert_returning
from ..store.db import execute
from ..store.models import Channel
from ..store.retry import retry_transaction
from . import audit, channels, exceptions, updates
from .intake import ChannelRef

log = logging.getLogger(__name__)

ROTATION_GRACE = dt.timedelta(hours=1)   # Shopify signs with the old secret for up to an hour
MAX_KEY = 200                            # webhook_event.event_key VARCHAR(200)
SHOPIFY_TOPICS = frozenset({"orders/create", "orders/paid", "orders/updated",
                            "orders/cancelled", "orders/delete"})
WOO_TOPICS = frozenset({"order.created", "order.updated", "order.restored", "order.deleted"})
PING_TYPES = frozenset({"", "application/x-www-form-urlencoded"})

Handler = Callable[[], tuple[str, int | None]]


def header(headers: Mapping, name: str) -> str:
    """A header value by case-insensitive name ('' when absent); works for Flask's
    Headers and for a plain dict as well."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == lowered), None)
    return str(value).strip() if value is not None else ""


def receive_shopify(channel_name: str, headers: Mapping, body: bytes, *,
                    settings: Config) -> tuple[int, dict]:
    """One Shopify order webhook delivery → (HTTP status, JSON body)."""
    ch = _channel(channel_name, "shopify")
    _verify(ch, body, header(headers, "X-Shopify-Hmac-Sha256"))
    _require_json(header(headers, "Content-Type"))
    payload = _parse_json(body)
    topic = header(headers, "X-Shopify-Topic").lower()
    if topic not in SHOPIFY_TOPICS:
        return 200, {"ok": True, "ignored": topic}
    # Event-Id names the event (the same across retries and subscriptions); Webhook-Id
    # only one delivery, so it is a fallback for deliveries that lack the Event-Id.
    key = header(headers, "X-Shopify-Event-Id") or header(headers, "X-Shopify-Webhook-Id") \
        or "body:" + hashlib.sha256(topic.encode() + b"\n" + body).hexdigest()
    handler(ch, topic, payload, settings)   # parse now: a body no table can hold is a 422
    return answer(enqueue(channels.ref(ch), key, topic, body, settings=settings))


def receive_woocommerce(channel_name: str, headers: Mapping, body: bytes,
                        content_type: str = "", *, settings: Config) -> tuple[int, dict]:
    """One WooCommerce webhook delivery (or the ping) → (HTTP status, JSON body)."""
    ch = _channel(channel_name, "woocommerce")
    sent = header(headers, "X-WC-Webhook-Signature")
    mimetype = (content_type or "").split(";")[0].strip().lower()
    if not sent and mimetype in PING_TYPES and signature.is_woocommerce_ping(body):
        # sent unsigned when a hook is saved; anything but exactly 200 shows as an error
        return 200, {"ok": True, "ping": True}
    _verify(ch, body, sent)
    _require_json(mimetype)
    payload = require_object(_parse_json(body))
    topic = header(headers, "X-WC-Webhook-Topic").lower()
    if topic not in WOO_TOPICS:
        return 200, {"ok": True, "ignored": topic}
    key = _key(woocommerce.event_key(payload, topic))
    handler(ch, topic, payload, settings)
    return answer(enqueue(channels.ref(ch), key, topic, body, settings=settings))


def handler(ch: Channel, topic: str, payload: object, settings: Config) -> Handler:
    """What applying this delivery means, built from its parsed body (Unprocessable when
    the body holds no usable order)."""
    ref, actor = channels.ref(ch), f"webhook:{ch.name}"
    if topic in ("orders/delete", "order.deleted"):   # the body may be just {"id": N}
        external_id = exact_id(require_object(payload).get("id"), "id")
        return lambda: _cancel(ref, external_id, actor, settings)
    parser = shopify if ch.kind == "shopify" else woocommerce
    draft = updates.checked(parser.parse_order(require_object(payload)))
    if topic == "orders/cancelled":    # the topic says so even if cancelled_at is missing
        draft = replace(draft, cancelled=True)
    return lambda: apply_draft(ref, draft, actor, settings=settings)


def answer(result: tuple[str, int | None] | None) -> tuple[int, dict]:
    """The HTTP answer for a delivery's result (None: a duplicate)."""
    if result is None:
        return 200, {"ok": True, "duplicate": True}
    outcome, order_id = result
    return 200, {"ok": True, "outcome": outcome, "order_id": order_id}


WEBHOOK_RECEIVED = "webhook.received"   # after commit: {event_id}, for the inbox worker


def enqueue(channel: ChannelRef, event_key: str, topic: str, body: bytes, *,
            settings: Config) -> tuple[str, int | None] | None:
    """Record the delivery (None when this event was recorded before). The UNIQUE
    (channel_id, event_key) decides, not a read: a concurrent copy waits for the first
    one's commit and then inserts nothing. Then apply it now (inline) or let the worker."""
    if store_db.is_postgres():
        # one INSERT is atomic on its own: autocommit saves the BEGIN/COMMIT round trips
        got = _record(channel, event_key, topic, clock.now(), body=body.decode("utf-8"))
    else:
        with store_db.write_tx():
            got = _record(channel, event_key, topic, clock.now(), body=body.decode("utf-8"))
    if got is None:
        return None
    if settings.webhooks.process == "inline":
        done = process_event(got[0], settings=settings)
        return done if done is not None else ("queued", None)
    events.publish(WEBHOOK_RECEIVED, event_id=got[0])   # the inbox worker's wake-up
    return "queued", None


def process_event(event_id: int, *, settings: Config
                  ) -> tuple[str, int | None] | None:
    """Apply one recorded delivery, once; None when it is not (or no longer) pending."""
    # PostgreSQL may pick this transaction as a deadlock victim: it is run again whole
    return retry_transaction(lambda: _process_once(event_id, settings),
                             what=f"webhook event {event_id}")


def _process_once(event_id: int, settings: Config) -> tuple[str, int | None] | None:
    now = clock.now()
    lock = " FOR UPDATE SKIP LOCKED" if store_db.is_postgres() else ""
    with store_db.write_tx():
        row = execute("SELECT channel_id, event_key, topic, body FROM webhook_event "
                      "WHERE id = ? AND state = 'pending'" + lock, (event_id,)).fetchone()
        if row is None:
            return None
        channel_id, event_key, topic, body = row
        ch = Channel.get_by_id(channel_id)
        payload = _parse_json(body.encode("utf-8"))
        outcome, order_id = _apply(channels.ref(ch), event_key, topic,
                                   lambda: handler(ch, topic, payload, settings)(), now)
        execute("UPDATE webhook_event SET outcome = ?, state = 'done', processed_at = ? "
                "WHERE id = ?", (outcome[:200], clock.naive_utc(now), event_id))
    return outcome, order_id


def park_unapplied(event_id: int, error: str, now: dt.datetime) -> int | None:
    """A delivery the inbox gave up on still becomes an order: `invalid`, its problem
    naming the delivery (whose raw body stays in webhook_event.body), with an
    invalid_order exception, so it shows in the orders list a person works through instead
    of living only in a log. Runs inside the caller's transaction; returns the order id,
    or None when the order exists already (the failed update's exception says so) or the
    delivery names no order to create (a delete)."""
    row = execute("SELECT channel_id, event_key, topic, body FROM webhook_event WHERE id = ?",
                  (event_id,)).fetchone()
    if row is None or row[2] in ("orders/delete", "order.deleted"):
        return None
    channel_id, event_key, topic, body = row
    ch = Channel.get_by_id(channel_id)
    problem = Problem("webhook", "unapplied_delivery",
                      f"{topic} delivery {event_key} (webhook event {event_id}) could not be "
                      f"applied: {error}"[:1000])
    for draft in _drafts_of(ch, event_key, body, now):
        if updates.order_id_for(ch.id, draft.external_id) is not None:
            return None
        try:
            with store_db.write_tx():       # a savepoint: a draft that cannot be stored either
                return _insert_invalid(channels.ref(ch), draft, problem, event_id, now)
        except Exception:   # noqa: BLE001 (the fallback draft below holds nothing of the body)
            log.exception("webhook event %s: order not stored as sent", event_id)
    return None


def _drafts_of(ch: Channel, event_key: str, body: str, now: dt.datetime):
    """The order as the delivery says it, if it still parses, then a bare one holding only
    its id: each is tried until one can be stored."""
    external_id = f"event:{event_key}"
    if len(external_id) > 64:           # sales_order.external_id VARCHAR(64)
        external_id = "event:" + hashlib.sha256(event_key.encode("utf-8", "surrogatepass")
                                                ).hexdigest()[:58]
    try:
        payload = require_object(_parse_json(body.encode("utf-8")))
        parser = shopify if ch.kind == "shopify" else woocommerce
        draft = parser.parse_order(payload)
        yield draft
        external_id = draft.external_id
    except Exception:   # noqa: BLE001 (whatever failed, the bare draft below still holds)
        log.warning("webhook %s: delivery body does not parse as an order", event_key)
    yield OrderDraft(external_id=external_id, ref=external_id[:64], placed_at=now,
                     currency="", paid=False, ship_to=Address(), lines=())


def _insert_invalid(channel: ChannelRef, draft: OrderDraft, problem: Problem, event_id: int,
                    now: dt.datetime) -> int | None:
    from .intake import ORDER_COLUMNS, order_row
    got = insert_returning("sales_order", ORDER_COLUMNS,
                           [order_row(channel.id, draft, lifecycle.INVALID, [problem], [], now)],
                           ("id",), ignore_conflicts=True)
    if not got:
        return None
    order_id = got[0][0]
    exceptions.open_exception("invalid_order", problem.message, order_id=order_id,
                              detail={"event_id": event_id, "problems": [problem.to_dict()]},
                              now=now, actor="job:inbox")
    audit.write([audit.row(now, "job:inbox", "order.received", "order", order_id, "",
                           lifecycle.INVALID, {"ref": draft.ref, "channel": channel.name,
                                               "webhook_event": event_id})])
    return order_id


def deliver(channel: ChannelRef, event_key: str, topic: str, handle: Handler
            ) -> tuple[str, int | None] | None:
    """Record an event and apply it in one transaction (the WooCommerce pull, which has
    the order in hand and wants its outcome); None when the event was recorded before.
    A transaction the database rolled back recorded nothing and is run again whole."""
    def once() -> tuple[str, int | None] | None:
        now = clock.now()
        with store_db.write_tx():
            got = _record(channel, event_key, topic, now, processed=True)
            if got is None:
                return None
            outcome, order_id = _apply(channel, event_key, topic, handle, now)
            execute("UPDATE webhook_event SET outcome = ? WHERE id = ?",
                    (outcome[:200], got[0]))
        return outcome, order_id
    return retry_transaction(once, what=f"{topic} event {event_key}")


def _record(channel: ChannelRef, event_key: str, topic: str, now: dt.datetime, *,
            body: str = "", processed: bool = False) -> tuple | None:
    """Insert the event unless its key is taken (then None): the dedupe itself."""
    return execute("INSERT INTO webhook_event (channel_id, event_key, topic, outcome, "
                   "received_at, body, state, processed_at) VALUES (?, ?, ?, '', ?, ?, ?, ?) "
                   "ON CONFLICT DO NOTHING RETURNING id",
                   (channel.id, _key(event_key), topic[:64], clock.naive_utc(now), body,
                    "done" if processed else "pending",
                    clock.naive_utc(now) if processed else None)).fetchone()


def _apply(channel: ChannelRef, event_key: str, topic: str, handle: Handler,
           now: dt.datetime) -> tuple[str, int | None]:
    """Run `handle` in a savepoint; a business-rule refusal becomes an exception for a
    person and the outcome 'rejected:<code>', never an error the storefront sees."""
    try:
        with store_db.write_tx():
            return handle()
    except DomainError as err:
        log.warning("%s %s from %s refused: %s", topic, event_key, channel.name, err.message)
        exceptions.open_exception("webhook_rejected", f"{topic} from {channel.name}: "
                                  f"{err.message}", detail={"event": event_key,
                                                            "error": err.to_dict()},
                                  now=now, actor=f"webhook:{channel.name}",
                                  subject=("channel", channel.id, channel.name))
        return f"rejected:{err.code}", None


def apply_draft(channel: ChannelRef, draft: OrderDraft, actor: str, *,
                settings: Config) -> tuple[str, int | None]:
    """Apply one order view (created or updated); (outcome, order id) for `deliver`."""
    outcome = updates.apply_update(channel, draft, actor, settings=settings)
    return outcome, updates.order_id_for(channel.id, draft.external_id)


def _cancel(channel: ChannelRef, external_id: str, actor: str,
            settings: Config) -> tuple[str, int | None]:
    """Cancel an order named only by its id (a delete); (outcome, order id)."""
    outcome = updates.cancel_external(channel, external_id, actor, settings=settings)
    return outcome, updates.order_id_for(channel.id, external_id)


def _channel(name: str, kind: str) -> Channel:
    """The channel, or 404 — also for a channel of another platform, so a URL reveals no
    more than that nothing of that kind lives there."""
    ch = Channel.get_or_none(Channel.name == name)
    if ch is None or ch.kind != kind:
        raise NotFound(f"no {kind} channel {name!r}", code="unknown_channel")
    return ch


def _verify(ch: Channel, body: bytes, sent: str) -> None:
    """401 unless `sent` signs these exact bytes with the secret, or with the previous
    secret within an hour of a rotation."""
    secrets = [ch.secret]
    rotated = ch.secret_rotated_at
    if ch.previous_secret and (rotated is None or clock.now() - rotated <= ROTATION_GRACE):
        secrets.append(ch.previous_secret)
    if not signature.verify(body, sent or None, secrets):
        raise Unauthorized("missing or wrong webhook signature", code="bad_signature")


def _require_json(content_type: str) -> None:
    """Both platforms send order deliveries as application/json; anything else is not one."""
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise DomainError("an order delivery must be application/json",
                          code="unsupported_media_type", status=415)


def _parse_json(body: bytes):
    """The one exact-JSON reader (64-bit ids stay int, decimals Decimal). A lone surrogate
    (valid JSON, no character: no database takes it) becomes U+FFFD: the delivery is
    signed, the storefront would resend it unchanged, and its order must exist; the raw
    body is kept as sent in webhook_event.body."""
    from ..domain.exactjson import parse_json
    return parse_json(body, replace_bad_unicode=True)


def _key(raw: str) -> str:
    """An event key that fits the column and any database (no NUL or control characters);
    any other key is hashed, staying unique."""
    if len(raw) <= MAX_KEY and raw.isprintable():
        return raw
    return "sha256:" + hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()

