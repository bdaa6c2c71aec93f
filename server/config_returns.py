"""The `returns:` part of config.yaml: the return policy, per channel, and where returns
labels print. Read once by server.config.build_config; a mistake is a ValueError naming
the key.

    returns:
      policy:                        # every channel, unless it has its own below
        window_days: 30              # days a return may be asked for …
        window_from: delivery        # … counted from delivery (shipment when none is known) | shipment
        not_returnable_skus: []      # SKU patterns (fnmatch: "GIFT-*") never returnable
        not_returnable_flags: []     # product flags (the catalogue's categories: hygiene, perishable…)
      channels:
        shop-eu: {window_days: 14}   # keys not given come from `policy`
      label_printer: ""              # a name under `printers:` for returns labels ("" = ZPL only)
      label_station: returns         # the station name the print jobs carry
      close_orders_every_minutes: 60 # the job closing orders whose return window has passed (0 = off)
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from .config_checks import keys as _keys, mapping as _mapping
from .domain.returns import ReturnPolicy

_POLICY_KEYS = {"window_days", "window_from", "not_returnable_skus", "not_returnable_flags"}


@dataclass(frozen=True)
class ReturnsSetup:
    policy: ReturnPolicy = field(default_factory=ReturnPolicy)
    channels: Mapping[str, ReturnPolicy] = field(default_factory=dict)
    label_printer: str = ""
    label_station: str = "returns"
    close_orders_every_minutes: float = 60.0

    def policy_for(self, channel: str) -> ReturnPolicy:
        return self.channels.get(channel, self.policy)


def _policy(raw: Any, where: str, base: ReturnPolicy) -> ReturnPolicy:
    raw = _mapping(raw, where)
    _keys(raw, where, _POLICY_KEYS, set())
    out = base
    if "window_days" in raw:
        days = raw["window_days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 3650:
            raise ValueError(f"config {where}.window_days must be a whole number 0-3650")
        out = replace(out, window_days=days)
    if "window_from" in raw:
        if raw["window_from"] not in ("delivery", "shipment"):
            raise ValueError(f"config {where}.window_from must be delivery or shipment")
        out = replace(out, window_from=raw["window_from"])
    for key in ("not_returnable_skus", "not_returnable_flags"):
        if key in raw:
            items = raw[key] or []
            if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
                raise ValueError(f"config {where}.{key} must be a list of texts")
            out = replace(out, **{key: tuple(items)})
    return out


def returns_setup(raw: Any, printers: Mapping[str, str]) -> ReturnsSetup:
    raw = _mapping(raw, "returns")
    _keys(raw, "returns", {"policy", "channels", "label_printer", "label_station",
                           "close_orders_every_minutes"}, set())
    base = _policy(raw.get("policy"), "returns.policy", ReturnPolicy())
    channels = {str(name): _policy(value, f"returns.channels.{name}", base)
                for name, value in _mapping(raw.get("channels"), "returns.channels").items()
                if value is not None}
    printer = str(raw.get("label_printer") or "")
    if printer and printer not in printers:
        raise ValueError(f"config returns.label_printer: no printer {printer!r} under printers:")
    station = str(raw.get("label_station") or "returns")
    if len(station) > 64:
        raise ValueError("config returns.label_station: at most 64 characters")
    try:
        every = float(raw.get("close_orders_every_minutes", 60.0))
    except (TypeError, ValueError) as err:
        raise ValueError("config returns.close_orders_every_minutes must be a number") from err
    return ReturnsSetup(policy=base, channels=channels, label_printer=printer,
                        label_station=station, close_orders_every_minutes=every)
