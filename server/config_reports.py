"""The `reports:` part of config.yaml: the time zone each warehouse counts its days and
hours in (reports group by local day, ISO week and hour of day), and the one used when a
report covers every warehouse. IANA names, read with zoneinfo; a name zoneinfo does not
know is a ValueError naming the key, so a bad config stops `wavepack serve` at start.

    reports:
      timezone: Europe/London          # reports over all warehouses
      warehouses:                      # warehouse code → its local time zone
        main: Europe/London
        sh: Asia/Shanghai
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class ReportsConfig:
    timezone: str = "UTC"
    warehouses: Mapping[str, str] = field(default_factory=dict)

    def timezone_of(self, warehouse: str | None) -> str:
        """The time zone a report for `warehouse` (None: all of them) counts days in."""
        if warehouse is None:
            return self.timezone
        return self.warehouses.get(warehouse, self.timezone)


def _zone(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"config {where}: an IANA time zone name, like Europe/London")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"config {where}: unknown time zone {name!r}") from err
    return name


def reports_config(raw: Any) -> ReportsConfig:
    if raw is None:
        return ReportsConfig()
    if not isinstance(raw, Mapping) or set(raw) - {"timezone", "warehouses"}:
        raise ValueError("config reports: a mapping of timezone and warehouses")
    default = _zone(raw.get("timezone") or "UTC", "reports.timezone")
    warehouses = raw.get("warehouses") or {}
    if not isinstance(warehouses, Mapping):
        raise ValueError("config reports.warehouses: a mapping of warehouse code → time zone")
    return ReportsConfig(default, {str(code): _zone(tz, f"reports.warehouses.{code}")
                                   for code, tz in warehouses.items()})
