"""Reconciliation pull from the WooCommerce REST API.

WooCommerce never retries a webhook (one attempt, then the delivery is lost) and switches a
hook off after repeated failures, so every order modified since the last pull is fetched
again and sent through the same dedupe + apply path as a webhook: an order state already
pulled is a duplicate (key `<id>:<date_modified_gmt>:pull`), an order already delivered by
webhook is applied again and comes out unchanged, a newer one is updated.

`last_pulled_at` stores the start of the last successful pull; the next one asks for
`modified_after = last_pulled_at - pull_overlap_minutes`, the overlap absorbing clock skew
between the shop and us and orders saved while the previous pull ran.
"""
from __future__ import annotations

import base64
import datetime as dt
import http.client
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable, Mapping

from .. import clock
from ..config import Config
from ..domain.errors import DomainError, NotFound
from ..domain.storefronts import woocommerce
from ..store import db as store_db
from ..store.models import Channel
from . import channels, updates, webhooks
from .intake import ChannelRef

FIRST_PULL = dt.timedelta(days=7)
TIMEOUT_SECONDS = 30.0
MAX_PAGES = 1000                   # a server that never stops paging is a broken server
ORDERS_PATH = "/wp-json/wc/v3/orders"
COUNTED = ("created", "updated", "unchanged", "duplicate", "stale", "cancelled", "exception",
           "rejected")

# fetch(url, headers) -> (response headers, body bytes); raises OSError on any failure
Fetch = Callable[[str, Mapping[str, str]], tuple[Mapping[str, str], bytes]]


class PullFailed(DomainError):
    code, status = "pull_failed", 502


def pull_woocommerce(channel_name: str, *, now: dt.datetime | None = None,
                     fetch: Fetch | None = None, settings: Config) -> dict:
    """Pull every order modified since the last pull (the last 7 days the first time) and
    apply each one; returns counts by outcome. On an HTTP error or timeout raises
    PullFailed (502) and leaves last_pulled_at as it was, so the next pull asks again."""
    ch = channels.get_channel(channel_name)
    if ch.kind != "woocommerce":
        raise NotFound(f"no woocommerce channel {channel_name!r}", code="unknown_channel")
    if not ch.base_url:
        raise PullFailed(f"channel {channel_name} has no shop URL (channel add --url)")
    cfg = settings.woocommerce
    start = now or clock.now()
    since = (ch.last_pulled_at - dt.timedelta(minutes=cfg.pull_overlap_minutes)
             if ch.last_pulled_at else start - FIRST_PULL)
    counts = {"fetched": 0, **{k: 0 for k in COUNTED}, "errors": []}
    ref = channels.ref(ch)
    for page in _pages(ch, since, cfg.pull_page_size, fetch or _urllib_fetch):
        counts["fetched"] += len(page)
        for payload in page:
            _apply_one(ref, payload, counts, settings)
    with store_db.write_tx():
        Channel.update(last_pulled_at=start).where(Channel.id == ch.id).execute()
    counts["modified_after"] = _iso(since)
    return counts


def _apply_one(ref: ChannelRef, payload: object, counts: dict, settings: Config) -> None:
    """One pulled order through the webhook path; a bad one is counted, not fatal, so one
    broken order cannot stop every later order from arriving."""
    actor = f"pull:{ref.name}"
    try:
        if not isinstance(payload, dict):
            raise DomainError("an order in the response is not a JSON object",
                              code="unprocessable")
        draft = updates.checked(woocommerce.parse_order(payload))
        result = webhooks.deliver(ref, woocommerce.event_key(payload, "pull"), "pull",
                                  lambda: webhooks.apply_draft(ref, draft, actor,
                                                               settings=settings))
    except DomainError as err:
        counts["rejected"] += 1
        counts["errors"].append({"id": payload.get("id") if isinstance(payload, dict) else None,
                                 "code": err.code, "message": err.message})
        return
    outcome = "duplicate" if result is None else result[0].split(":")[0]
    counts[outcome if outcome in counts else "rejected"] += 1


def _pages(ch: Channel, since: dt.datetime, per_page: int, fetch: Fetch):
    """Yield each page (a list of order objects) until a short page or X-WP-TotalPages."""
    auth = base64.b64encode(f"{ch.api_key}:{ch.api_secret}".encode()).decode("ascii")
    headers = {"Authorization": f"Basic {auth}", "Accept": "application/json",
               "User-Agent": "wavepack-pull/1"}
    for page in range(1, MAX_PAGES + 1):
        query = urllib.parse.urlencode({
            "modified_after": _iso(since), "per_page": per_page, "page": page,
            "orderby": "modified", "order": "asc", "dates_are_gmt": "true"})
        url = f"{ch.base_url.rstrip('/')}{ORDERS_PATH}?{query}"
        got_headers, body = _get(fetch, url, headers)
        orders = _orders(body)
        yield orders
        total = _total_pages(got_headers)
        if len(orders) < per_page or (total is not None and page >= total):
            return
    raise PullFailed(f"more than {MAX_PAGES} pages of orders; stopped")


def _get(fetch: Fetch, url: str, headers: Mapping[str, str]) -> tuple[Mapping[str, str], bytes]:
    try:
        return fetch(url, headers)
    except urllib.error.HTTPError as err:
        raise PullFailed(f"WooCommerce answered HTTP {err.code} {err.reason}") from err
    except (OSError, http.client.HTTPException) as err:  # refused, timeout, reset, DNS
        reason = getattr(err, "reason", None) or err
        raise PullFailed(f"WooCommerce could not be reached: {reason}") from err


def _orders(body: bytes) -> list:
    from ..domain.exactjson import parse_json  # the one exact-JSON reader (ids stay exact)
    try:
        value = parse_json(body, replace_bad_unicode=True)   # the shop will not fix it
    except DomainError as err:
        raise PullFailed(f"WooCommerce sent a body that is not JSON: {err.message}") from err
    if not isinstance(value, list):
        raise PullFailed("WooCommerce did not answer with a list of orders")
    return value


def _total_pages(headers: Mapping[str, str]) -> int | None:
    raw = webhooks.header(headers, "X-WP-TotalPages")
    return int(raw) if raw.isdigit() else None


def _iso(t: dt.datetime) -> str:
    """UTC without an offset, as WooCommerce reads it with dates_are_gmt=true."""
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None, microsecond=0).isoformat()


def _urllib_fetch(url: str, headers: Mapping[str, str]) -> tuple[Mapping[str, str], bytes]:
    """GET with a timeout; any status outside 2xx raises HTTPError (an OSError)."""
    req = urllib.request.Request(url, headers=dict(headers), method="GET")
    with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:  # noqa: S310 (shop URL)
        return dict(resp.headers.items()), resp.read()
