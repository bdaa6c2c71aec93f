"""Tracking events: our status vocabulary, the order of events, and the tracking feeds'
formats and signatures (AfterShip webhooks, 17TRACK push), mapped to ours. Pure: no I/O.

A shipment's state is that of its latest event by `occurred_at`; two events at the same
instant are ordered by RANK (a delivery beats the scan that came with it), so events
arriving out of order never move a shipment backwards.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Mapping

PICKED_UP, IN_TRANSIT, OUT_FOR_DELIVERY = "picked_up", "in_transit", "out_for_delivery"
DELIVERED, FAILED_ATTEMPT = "delivered", "failed_attempt"
RETURNED_TO_SENDER, EXCEPTION = "returned_to_sender", "exception"
STATUSES = (PICKED_UP, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, FAILED_ATTEMPT,
            RETURNED_TO_SENDER, EXCEPTION)
# a shipment in one of these has arrived somewhere for good: the delay sweep leaves it
FINAL = frozenset({DELIVERED, RETURNED_TO_SENDER})
RANK = {PICKED_UP: 0, IN_TRANSIT: 1, EXCEPTION: 2, FAILED_ATTEMPT: 3, OUT_FOR_DELIVERY: 4,
        RETURNED_TO_SENDER: 5, DELIVERED: 6}

_SPACES = re.compile(r"[\s-]+")


@dataclass(frozen=True)
class TrackingEvent:
    event_id: str
    tracking_number: str
    status: str
    occurred_at: dt.datetime         # aware UTC
    location: str = ""
    detail: str = ""

    @property
    def order_key(self) -> tuple:
        return (self.occurred_at, RANK[self.status])


def normalise_tracking(text: str) -> str:
    """Tracking numbers compare without spaces or dashes, in upper case."""
    return _SPACES.sub("", text).upper()


def parse_time(text: Any) -> dt.datetime:
    """An ISO 8601 / RFC 3339 time WITH its offset → aware UTC; ValueError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a time is required")
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (add Z or +hh:mm)")
    return at.astimezone(dt.timezone.utc)


def latest(events) -> TrackingEvent | None:
    """The event a shipment's state follows."""
    return max(events, key=lambda e: e.order_key, default=None)


def content_id(*parts: Any) -> str:
    """A stable event id for feeds that send none per checkpoint: the same checkpoint sent
    again (feeds resend the whole history each time) gets the same id."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


# ---- AfterShip ---------------------------------------------------------------------------
# https://www.aftership.com/docs/tracking/webhook/webhook-signature: header
# aftership-hmac-sha256 = base64(HMAC-SHA256(webhook secret, raw body)).

def aftership_signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    if not header or not secret:
        return False
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256)
                                .digest()).decode("ascii")
    return hmac.compare_digest(expected, header.strip())


# delivery tag (and subtag) → ours; None: not a movement of the parcel (info received,
# pending) and not recorded
_AFTERSHIP_TAGS = {"InTransit": IN_TRANSIT, "OutForDelivery": OUT_FOR_DELIVERY,
                   "AvailableForPickup": OUT_FOR_DELIVERY, "AttemptFail": FAILED_ATTEMPT,
                   "Delivered": DELIVERED, "Exception": EXCEPTION, "Expired": EXCEPTION,
                   "InfoReceived": None, "Pending": None}
_AFTERSHIP_SUBTAGS = {"InTransit_002": PICKED_UP,           # acceptance scan
                      "Exception_010": RETURNED_TO_SENDER,  # returning to sender
                      "Exception_011": RETURNED_TO_SENDER}  # returned to sender


def aftership_status(tag: str | None, subtag: str | None = None) -> str | None:
    if subtag in _AFTERSHIP_SUBTAGS:
        return _AFTERSHIP_SUBTAGS[subtag]
    return _AFTERSHIP_TAGS.get(tag or "")


def parse_aftership(body: Mapping) -> list[TrackingEvent]:
    """A tracking_update webhook: one event per checkpoint of `msg.checkpoints` (AfterShip
    sends the whole history each time; content ids make the repeats duplicates)."""
    msg = body.get("msg") if isinstance(body, Mapping) else None
    if not isinstance(msg, Mapping) or not isinstance(msg.get("tracking_number"), str):
        raise ValueError("msg.tracking_number is missing")
    number = normalise_tracking(msg["tracking_number"])
    out = []
    for cp in msg.get("checkpoints") or []:
        if not isinstance(cp, Mapping):
            raise ValueError("msg.checkpoints holds a non-object")
        status = aftership_status(cp.get("tag"), cp.get("subtag"))
        if status is None:
            continue
        at = parse_time(cp.get("checkpoint_time"))
        location = cp.get("location") or ", ".join(
            str(cp[k]) for k in ("city", "state", "country_name") if cp.get(k))
        out.append(TrackingEvent(
            content_id("aftership", number, cp.get("checkpoint_time"), cp.get("tag"),
                       cp.get("subtag"), cp.get("message")),
            number, status, at, str(location or "")[:300], str(cp.get("message") or "")[:2000]))
    return out


# ---- 17TRACK -----------------------------------------------------------------------------
# 17TRACK push (API v2): header `sign` = hex SHA-256 of (raw body + "/" + API key).

def seventeen_sign_ok(body: bytes, sign: str | None, key: str) -> bool:
    if not sign or not key:
        return False
    expected = hashlib.sha256(body + b"/" + key.encode("utf-8")).hexdigest()
    return hmac.compare_digest(expected, sign.strip().lower())


# event stage / main status → ours
_SEVENTEEN = {"PickedUp": PICKED_UP, "InfoReceived": None, "NotFound": None,
              "Departure": IN_TRANSIT, "Arrival": IN_TRANSIT, "InTransit": IN_TRANSIT,
              "AvailableForPickup": OUT_FOR_DELIVERY, "OutForDelivery": OUT_FOR_DELIVERY,
              "DeliveryFailure": FAILED_ATTEMPT, "Delivered": DELIVERED,
              "Returning": RETURNED_TO_SENDER, "Returned": RETURNED_TO_SENDER,
              "Exception": EXCEPTION, "Expired": EXCEPTION}


def seventeen_status(stage: str | None, sub_status: str | None = None) -> str | None:
    if sub_status and sub_status.startswith("Exception_Return"):
        return RETURNED_TO_SENDER
    if sub_status and sub_status.split("_")[0] in _SEVENTEEN and not stage:
        stage = sub_status.split("_")[0]
    return _SEVENTEEN.get(stage or "")


def parse_17track(body: Mapping) -> list[TrackingEvent]:
    """A TRACKING_UPDATED push: the events of every provider in data.track_info.tracking."""
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, Mapping) or not isinstance(data.get("number"), str):
        raise ValueError("data.number is missing")
    number = normalise_tracking(data["number"])
    info = data.get("track_info") or {}
    providers = ((info.get("tracking") or {}).get("providers") or []) \
        if isinstance(info, Mapping) else []
    out = []
    for provider in providers:
        for ev in (provider or {}).get("events") or []:
            if not isinstance(ev, Mapping):
                raise ValueError("an event is not an object")
            status = seventeen_status(ev.get("stage"), ev.get("sub_status"))
            if status is None:
                continue
            when = ev.get("time_utc") or ev.get("time_iso")
            location = ev.get("location")
            if isinstance(location, Mapping):
                location = ", ".join(str(v) for v in location.values() if v)
            out.append(TrackingEvent(
                content_id("17track", number, when, ev.get("stage"), ev.get("sub_status"),
                           ev.get("description")),
                number, status, parse_time(when), str(location or "")[:300],
                str(ev.get("description") or "")[:2000]))
    return out


# ---- karrio ------------------------------------------------------------------------------
# karrio's tracker statuses (karrio.core.units.TrackerStatus) → ours

_KARRIO = {"in_transit": IN_TRANSIT, "out_for_delivery": OUT_FOR_DELIVERY,
           "delivered": DELIVERED, "delivery_failed": FAILED_ATTEMPT,
           "delivery_delayed": IN_TRANSIT, "ready_for_pickup": OUT_FOR_DELIVERY,
           "on_hold": EXCEPTION, "return_to_sender": RETURNED_TO_SENDER,
           "picked_up": PICKED_UP, "pending": None, "unknown": None, "cancelled": None}


def karrio_status(status: str | None) -> str | None:
    return _KARRIO.get((status or "").strip().lower())
