"""What GET /metrics reads from the database at scrape time: the depth of the work queues
and the open exceptions. Each is a count over an indexed state column of rows that are
few while things are healthy (pending, in flight, open), so a scrape every 15 s costs a
handful of index range scans and nothing of the pick-scan path."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .. import clock
from ..store.db import execute

# queue → (table, its waiting states, the column its age is measured from)
QUEUES = {
    "inbox": ("webhook_event", ("pending",), "received_at"),     # webhook deliveries to apply
    "outbox": ("outbox", ("pending", "sending"), "created_at"),  # storefront updates to send
    "print": ("print_job", ("queued", "sending"), "created_at"),  # labels to print
}
ACTIVE_EXCEPTION_STATES = ("open", "acknowledged")


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    state: str
    count: int
    oldest_age_s: float     # the oldest waiting row's age (0 when none waits)


def queue_depths(now: dt.datetime | None = None) -> list[QueueDepth]:
    """Every queue in every waiting state (zeros included: a series that vanishes when its
    queue empties breaks alert rules like `wavepack_queue_depth > 100 for 10m`)."""
    now = now or clock.now()
    out = []
    for queue, (table, states, since) in QUEUES.items():
        marks = ", ".join("?" * len(states))
        got = {state: (n, oldest) for state, n, oldest in execute(
            f"SELECT state, COUNT(*), MIN({since}) FROM {table} WHERE state IN ({marks}) "
            "GROUP BY state", states).fetchall()}
        for state in states:
            n, oldest = got.get(state, (0, None))
            age = (now - clock.aware_utc(oldest)).total_seconds() if oldest is not None else 0.0
            out.append(QueueDepth(queue, state, int(n), max(0.0, age)))
    return out


def open_exceptions() -> list[tuple[str, str, int]]:
    """(type, severity, count) of the exceptions still open or acknowledged."""
    marks = ", ".join("?" * len(ACTIVE_EXCEPTION_STATES))
    rows = execute(f"SELECT type, severity, COUNT(*) FROM wms_exception WHERE state IN "
                   f"({marks}) GROUP BY type, severity ORDER BY type, severity",
                   ACTIVE_EXCEPTION_STATES).fetchall()
    return [(str(t), str(s), int(n)) for t, s, n in rows]


def printers_by_state() -> list[tuple[str, int]]:
    """(state, printers) from the status the print workers last recorded."""
    return [(str(s), int(n)) for s, n in execute(
        "SELECT state, COUNT(*) FROM printer_status GROUP BY state ORDER BY state").fetchall()]
