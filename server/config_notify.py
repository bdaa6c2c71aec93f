"""Config of issue 14 §4, telling the customer: the ship-by promise per channel
(`promise:`) and the customer notification webhooks (`notifications:`). See
docs/notifications.md."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .domain.promise import PromiseRule, rule_from_mapping

SECTIONS = ("promise", "notifications")


@dataclass(frozen=True)
class NotifyTarget:
    """Where one channel's customer notifications go: `url` (POST), signed with the secret
    in the environment variable `secret_env` (else the channel's own webhook secret)."""

    url: str
    secret_env: str = ""


@dataclass(frozen=True)
class NotifySetup:
    promise_default: PromiseRule | None = None
    promise_channels: Mapping[str, PromiseRule] = field(default_factory=dict)
    at_risk_hours: float = 4.0          # not picked this long before ship-by: at risk
    targets: Mapping[str, NotifyTarget] = field(default_factory=dict)   # channel name →
    tracking_urls: Mapping[str, str] = field(default_factory=dict)      # carrier code →

    def promise_for(self, channel: str) -> PromiseRule | None:
        return self.promise_channels.get(channel, self.promise_default)

    def tracking_url(self, carrier: str, tracking: str) -> str:
        template = self.tracking_urls.get(carrier, "")
        return template.replace("{tracking}", tracking) if template and tracking else ""


def notify_setup(raw: Mapping[str, Any]) -> NotifySetup:
    promise = raw.get("promise") or {}
    notes = raw.get("notifications") or {}
    if not isinstance(promise, Mapping) or not isinstance(notes, Mapping):
        raise ValueError("config sections promise and notifications must be mappings")
    unknown = set(promise) - {"default", "channels"}
    if unknown:
        raise ValueError(f"unknown config keys promise.{', promise.'.join(sorted(unknown))}")
    default = _rule(promise.get("default"), "promise.default")
    channels = {}
    for name, block in (promise.get("channels") or {}).items():
        rule = _rule(block, f"promise.channels.{name}")
        if rule is not None:
            channels[str(name)] = rule
    unknown = set(notes) - {"at_risk_hours", "channels", "tracking_urls"}
    if unknown:
        raise ValueError("unknown config keys notifications."
                         + ", notifications.".join(sorted(unknown)))
    targets = {}
    for name, block in (notes.get("channels") or {}).items():
        if block is None:
            continue
        where = f"notifications.channels.{name}"
        if not isinstance(block, Mapping) or set(block) - {"url", "secret_env"}:
            raise ValueError(f"config {where}: a mapping of url and secret_env")
        url = str(block.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"config {where}.url: an http(s) URL is required")
        targets[str(name)] = NotifyTarget(url, str(block.get("secret_env") or ""))
    urls = {str(k): str(v) for k, v in (notes.get("tracking_urls") or {}).items() if v}
    bad = [k for k, v in urls.items() if "{tracking}" not in v]
    if bad:
        raise ValueError(f"config notifications.tracking_urls.{bad[0]}: the template must "
                         "contain {tracking}")
    hours = float(notes.get("at_risk_hours", 4.0))
    if hours < 0:
        raise ValueError("config notifications.at_risk_hours must be 0 or more")
    return NotifySetup(default, channels, hours, targets, urls)


def _rule(block: Any, where: str) -> PromiseRule | None:
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise ValueError(f"config {where}: a mapping (cutoff, dispatch, timezone, weekdays, "
                         "holidays, handling_days)")
    try:
        return rule_from_mapping(dict(block))
    except ValueError as err:
        raise ValueError(f"config {where}: {err}") from err
