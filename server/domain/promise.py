"""The ship-by promise: when an order received at a given instant leaves the warehouse,
from its channel's cut-off time and working days. Pure: no clock, no I/O.

An order received on a working day before the cut-off (local time of the rule's time zone)
ships that day; received at or after the cut-off, or on a day off (a weekday not worked or a
holiday), it ships the next working day. `handling_days` more working days are added after
that. The promise is that day at `dispatch` local time, returned in UTC. Local times are
read with zoneinfo, so a daylight-saving change between receipt and dispatch is counted
right (the wall-clock time stays, the UTC offset changes)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {**{d: i for i, d in enumerate(WEEKDAYS)},
              **{d: i for i, d in enumerate(("monday", "tuesday", "wednesday", "thursday",
                                             "friday", "saturday", "sunday"))}}
MAX_SEARCH_DAYS = 400          # a rule with no working day in a year ahead is refused


@dataclass(frozen=True)
class PromiseRule:
    cutoff: dt.time = dt.time(14, 0)                  # local time the day's orders close
    dispatch: dt.time = dt.time(18, 0)                # local time the promise falls at
    timezone: str = "UTC"
    weekdays: frozenset[int] = frozenset(range(5))    # 0 = Monday
    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    handling_days: int = 0

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {self.timezone!r}") from err
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("weekdays must name at least one day, mon … sun")
        if self.handling_days < 0:
            raise ValueError("handling_days must be 0 or more")
        if self.dispatch < self.cutoff:
            raise ValueError("dispatch must not be before the cut-off")

    def working(self, day: dt.date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays


def rule_from_mapping(raw: dict) -> PromiseRule:
    """A rule from config: {cutoff: "14:00", dispatch: "18:00", timezone: "Europe/London",
    weekdays: [mon, tue, …], holidays: ["2026-12-25", …], handling_days: 0}."""
    unknown = set(raw) - {"cutoff", "dispatch", "timezone", "weekdays", "holidays",
                          "handling_days"}
    if unknown:
        raise ValueError(f"unknown keys {', '.join(sorted(unknown))}")
    kw: dict = {}
    for key in ("cutoff", "dispatch"):
        if key in raw:
            kw[key] = _time(raw[key], key)
    if "timezone" in raw:
        kw["timezone"] = str(raw["timezone"])
    if "weekdays" in raw:
        names = [str(d).strip().lower() for d in raw["weekdays"] or ()]
        bad = [n for n in names if n not in _DAY_NAMES]
        if bad:
            raise ValueError(f"weekdays: unknown day {bad[0]!r} (mon … sun)")
        kw["weekdays"] = frozenset(_DAY_NAMES[n] for n in names)
    if "holidays" in raw:
        try:
            kw["holidays"] = frozenset(d if isinstance(d, dt.date) else dt.date.fromisoformat(
                str(d)) for d in raw["holidays"] or ())
        except ValueError as err:
            raise ValueError(f"holidays: {err}") from err
    if "handling_days" in raw:
        kw["handling_days"] = int(raw["handling_days"])
    return PromiseRule(**kw)


def _time(value, key: str) -> dt.time:
    if isinstance(value, int):        # YAML 1.1 reads 14:00 unquoted as 840 (sexagesimal)
        return dt.time(value // 60, value % 60)
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError as err:
        raise ValueError(f"{key}: {value!r} is not a time of day (HH:MM)") from err


def ship_day(rule: PromiseRule, received_at: dt.datetime) -> dt.date:
    """The local date the order ships on."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must carry a time zone")
    local = received_at.astimezone(ZoneInfo(rule.timezone))
    day = local.date()
    if not rule.working(day) or local.time() >= rule.cutoff:
        day = _next_working(rule, day)
    for _ in range(rule.handling_days):
        day = _next_working(rule, day)
    return day


def ship_by(rule: PromiseRule, received_at: dt.datetime) -> dt.datetime:
    """The promised ship-by instant (UTC) of an order received at `received_at` (aware)."""
    day = ship_day(rule, received_at)
    local = dt.datetime.combine(day, rule.dispatch, tzinfo=ZoneInfo(rule.timezone))
    return local.astimezone(dt.UTC)


def _next_working(rule: PromiseRule, day: dt.date) -> dt.date:
    for _ in range(MAX_SEARCH_DAYS):
        day += dt.timedelta(days=1)
        if rule.working(day):
            return day
    raise ValueError("no working day within a year")
