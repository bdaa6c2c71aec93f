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
