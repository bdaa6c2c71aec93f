"""The `exceptions:` part of config.yaml: the SLA of each exception type (how long a
person has before it is overdue), the severity it opens with and who owns it, with
defaults for the types not named. Read once by server.config.build_config; a mistake is
a ValueError naming the key, so a bad config stops `wavepack serve` at start.

    exceptions:
      escalate_every_minutes: 5      # the escalation job's period (0 = off)
      default: {sla_hours: 24, severity: medium, owner: supervisor}
      types:
        invalid_order: {sla_hours: 4, severity: high}
        short_pick: {sla_hours: 2, severity: high, owner: supervisor}
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from .config_checks import entries as _entries, keys as _keys, mapping as _mapping

SEVERITIES = ("low", "medium", "high", "critical")
OWNER_ROLES = ("picker", "packer", "supervisor", "admin")
_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_USER = re.compile(r"^user:[A-Za-z0-9._-]{1,100}$")
_RULE_KEYS = {"sla_hours", "severity", "owner"}


def valid_owner(owner: object) -> bool:
    """A role name or `user:<badge>`."""
    return isinstance(owner, str) and (owner in OWNER_ROLES or bool(_USER.match(owner)))


@dataclass(frozen=True)
class Sla:
    sla_hours: float = 24.0
    severity: str = "medium"
    owner: str = "supervisor"

    @property
    def period(self) -> dt.timedelta:
        return dt.timedelta(hours=self.sla_hours)


@dataclass(frozen=True)
class ExceptionsConfig:
    escalate_every_minutes: float = 5.0
    default: Sla = field(default_factory=Sla)
    types: Mapping[str, Sla] = field(default_factory=dict)

    def sla(self, type_: str) -> Sla:
        return self.types.get(type_, self.default)


def _rule(raw: Mapping, where: str, base: Sla) -> Sla:
    _keys(raw, where, _RULE_KEYS, set())
    hours = raw.get("sla_hours", base.sla_hours)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= 8760:
        raise ValueError(f"config {where}.sla_hours: a number of hours above 0 and at most "
                         f"8760, not {hours!r}")
    severity = raw.get("severity", base.severity)
    if severity not in SEVERITIES:
        raise ValueError(f"config {where}.severity: one of {', '.join(SEVERITIES)}, "
                         f"not {severity!r}")
    owner = raw.get("owner", base.owner)
    if not valid_owner(owner):
        raise ValueError(f"config {where}.owner: a role ({', '.join(OWNER_ROLES)}) or "
                         f"user:<badge>, not {owner!r}")
    return Sla(float(hours), severity, owner)


def exceptions_config(raw: Any) -> ExceptionsConfig:
    section = _mapping(raw, "exceptions")
    _keys(section, "exceptions", {"escalate_every_minutes", "default", "types"}, set())
    every = section.get("escalate_every_minutes", 5.0)
    if isinstance(every, bool) or not isinstance(every, (int, float)) or every < 0:
        raise ValueError("config exceptions.escalate_every_minutes: a number of minutes "
                         f"(0 = off), not {every!r}")
    default = _rule(_mapping(section.get("default"), "exceptions.default"),
                    "exceptions.default", Sla())
    types = {}
    for name, where, value in _entries(section.get("types"), "exceptions.types"):
        if not isinstance(name, str) or not _TYPE.match(name):
            raise ValueError(f"config {where}: a type name is lower-case letters, digits "
                             "and _")
        types[name] = _rule(value, where, default)
    return ExceptionsConfig(float(every), default, types)
