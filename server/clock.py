"""The one clock. Services call now(); tests set it. The domain takes `now` as an argument."""
from __future__ import annotations

import datetime as _dt
from typing import Callable

_source: Callable[[], _dt.datetime] | None = None


def now() -> _dt.datetime:
    """Aware UTC time from the configured source (the wall clock unless a test set one)."""
    if _source is not None:
        return _source()
    return _dt.datetime.now(_dt.timezone.utc)


def set_clock(source: Callable[[], _dt.datetime] | None) -> None:
    """Tests: set_clock(lambda: fixed_time); set_clock(None) restores the wall clock."""
    global _source
    _source = source


def naive_utc(t: _dt.datetime | None) -> _dt.datetime | None:
    """What the database columns hold: UTC without tzinfo. A naive input is taken as UTC
    already (every naive time in this code base is); None stays None."""
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(_dt.timezone.utc).replace(tzinfo=None)


def aware_utc(value: object) -> _dt.datetime | None:
    """A stored time back as an aware UTC datetime (SQLite hands raw rows back as text)."""
    if value is None:
        return None
    if not isinstance(value, _dt.datetime):
        value = _dt.datetime.fromisoformat(str(value))
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
