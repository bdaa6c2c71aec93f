"""Server-side handling times of socket events (the figure the scan SLO is about: from
the event reaching its handler to the ack leaving it, commit included), kept for the
last WINDOW events per event name; read by GET /api/v1/metrics/handheld."""
from __future__ import annotations

import threading
from collections import deque

WINDOW = 100_000
_lock = threading.Lock()
_times: dict[str, deque[float]] = {}
_errors: dict[str, int] = {}


def record(event: str, seconds: float, ok: bool = True) -> None:
    with _lock:
        _times.setdefault(event, deque(maxlen=WINDOW)).append(seconds * 1000.0)
        if not ok:
            _errors[event] = _errors.get(event, 0) + 1


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    index = min(len(values) - 1, max(0, int(round(q * (len(values) - 1)))))
    return values[index]


def snapshot(reset: bool = False) -> dict[str, dict[str, float]]:
    """{event: {n, median_ms, p99_ms, max_ms, errors}} over the window."""
    with _lock:
        data = {k: sorted(v) for k, v in _times.items()}
        errors = dict(_errors)
        if reset:
            _times.clear()
            _errors.clear()
    return {k: {"n": len(v), "median_ms": round(_quantile(v, 0.5), 3),
                "p99_ms": round(_quantile(v, 0.99), 3), "max_ms": round(v[-1], 3) if v else 0.0,
                "errors": errors.get(k, 0)}
            for k, v in data.items()}
