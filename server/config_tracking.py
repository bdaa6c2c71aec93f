"""The `tracking:` part of config.yaml: following parcels after dispatch.

    tracking:
      delayed_after_hours: 48        # no event for this long: the shipment is delayed
      lost_after_days: 10            # no event for this long: lost
      services:                      # per carrier service id (carrier_services:), overrides
        ups-express: {delayed_after_hours: 24, lost_after_days: 5}
      feeds:                         # tracking feeds posting to /webhooks/tracking/<name>
        aftership: {kind: aftership, secret_env: WAVEPACK_AFTERSHIP_SECRET}
        17track: {kind: 17track, secret_env: WAVEPACK_17TRACK_KEY}

Secrets never sit in the file: a feed names the environment variable holding its webhook
secret (AfterShip) or API key (17TRACK), read when a delivery is checked.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

FEED_KINDS = ("aftership", "17track")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TrackingRule:
    delayed_after_hours: float
    lost_after_days: float


@dataclass(frozen=True)
class TrackingFeed:
    name: str
    kind: str                 # aftership | 17track
    secret_env: str           # the environment variable holding the secret / key


@dataclass(frozen=True)
class TrackingConfig:
    delayed_after_hours: float = 48.0
    lost_after_days: float = 10.0
    sweep_every_minutes: float = 15.0      # the delay/loss sweep (0 = off)
    poll_every_minutes: float = 60.0       # karrio tracking polls (0 = off)
    sweep_limit: int = 5000                # shipments flagged per sweep at most (next tick: more)
    poll_limit: int = 200                  # shipments polled per tick at most
    services: Mapping[str, TrackingRule] = field(default_factory=dict)
    feeds: Mapping[str, TrackingFeed] = field(default_factory=dict)

    def rule(self, service_id: str) -> TrackingRule:
        return self.services.get(service_id) or TrackingRule(self.delayed_after_hours,
                                                             self.lost_after_days)


def _positive(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"config {where} must be a number, not {value!r}") from None
    if not number > 0:
        raise ValueError(f"config {where} must be above 0, not {value!r}")
    return number


def _rule(value: Any, where: str, base: TrackingRule) -> TrackingRule:
    if not isinstance(value, Mapping):
        raise ValueError(f"config {where} must be a mapping")
    unknown = set(value) - {"delayed_after_hours", "lost_after_days"}
    if unknown:
        raise ValueError(f"config {where}: unknown keys {', '.join(sorted(unknown))}")
    hours = _positive(value.get("delayed_after_hours", base.delayed_after_hours),
                      f"{where}.delayed_after_hours")
    days = _positive(value.get("lost_after_days", base.lost_after_days),
                     f"{where}.lost_after_days")
    if days * 24 <= hours:
        raise ValueError(f"config {where}: lost_after_days ({days}) must come after "
                         f"delayed_after_hours ({hours})")
    return TrackingRule(hours, days)


def tracking_config(raw: Any) -> TrackingConfig:
    """`tracking:` → TrackingConfig; ValueError naming what is wrong."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise ValueError("config section 'tracking' must be a mapping")
    scalars = {"delayed_after_hours", "lost_after_days", "sweep_every_minutes",
               "poll_every_minutes", "sweep_limit", "poll_limit"}
    unknown = set(raw) - scalars - {"services", "feeds"}
    if unknown:
        raise ValueError(f"unknown config keys tracking.{', tracking.'.join(sorted(unknown))}")
    base = _rule({k: raw[k] for k in ("delayed_after_hours", "lost_after_days") if k in raw},
                 "tracking", TrackingRule(48.0, 10.0))
    numbers: dict[str, Any] = {}
    for key, kind, least in (("sweep_every_minutes", float, 0), ("poll_every_minutes", float, 0),
                             ("sweep_limit", int, 1), ("poll_limit", int, 1)):
        if key in raw:
            numbers[key] = kind(raw[key])
            if numbers[key] < least:
                raise ValueError(f"config tracking.{key} must be >= {least}")
    services = {}
    for sid, value in (raw.get("services") or {}).items():
        services[str(sid)] = _rule(value, f"tracking.services.{sid}", base)
    feeds = {}
    for name, value in (raw.get("feeds") or {}).items():
        where = f"tracking.feeds.{name}"
        if value is None:          # an overlay config removes a feed with `name: null`
            continue
        if not _NAME.match(str(name)):
            raise ValueError(f"config {where}: a feed name is 1-48 of A-Z a-z 0-9 _ -")
        if not isinstance(value, Mapping) or set(value) - {"kind", "secret_env"} \
                or not {"kind", "secret_env"} <= set(value):
            raise ValueError(f"config {where} needs exactly kind and secret_env")
        if value["kind"] not in FEED_KINDS:
            raise ValueError(f"config {where}.kind must be one of {', '.join(FEED_KINDS)}")
        if not _ENV.match(str(value["secret_env"])):
            raise ValueError(f"config {where}.secret_env must name an environment variable")
        feeds[str(name)] = TrackingFeed(str(name), str(value["kind"]), str(value["secret_env"]))
    return TrackingConfig(delayed_after_hours=base.delayed_after_hours,
                          lost_after_days=base.lost_after_days, services=services, feeds=feeds,
                          **numbers)
