"""The after-commit event hook: services say what happened; subscribers (worker wake-ups,
console pushes, metrics) register for it. Services never import jobs or sockets.

    events.publish("print_job.queued", printer_url=url)     # in a service
    events.subscribe("print_job.queued", wake_printer)      # in jobs/ or sockets/, at start

`publish` inside a write transaction (store.db.write_tx) is held until the outermost
transaction commits and dropped if it rolls back, so nobody is told of a change that did
not happen; outside one it is delivered at once (code that committed on its own
connection, such as the PostgreSQL scan path, publishes after its COMMIT). Subscribers
run in the publishing thread (greenlet under gevent) in the order they subscribed; one
that raises is logged and the others still run: the commit has happened and its answer
must still go out. A subscriber that does slow work hands it to its own thread.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger(__name__)

ANY = "*"       # subscribe to every event


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]

_lock = threading.Lock()
_subscribers: dict[str, tuple[Subscriber, ...]] = {}
_local = threading.local()       # greenlet-local under gevent's monkey patching


def subscribe(name: str, fn: Subscriber) -> Callable[[], None]:
    """Call `fn(event)` after each commit that published `name` (or every event, with ANY).
    Subscribing the same function twice is one subscription. Returns the unsubscriber."""
    with _lock:
        now = _subscribers.get(name, ())
        if fn not in now:
            _subscribers[name] = now + (fn,)
    return lambda: unsubscribe(name, fn)


def unsubscribe(name: str, fn: Subscriber) -> None:
    with _lock:
        _subscribers[name] = tuple(f for f in _subscribers.get(name, ()) if f is not fn)


def publish(name: str, **data: Any) -> None:
    """Announce `name`: held until the surrounding write transaction commits, else now."""
    event = Event(name, data)
    held = getattr(_local, "held", None)
    if held is not None:
        held.append(event)
    else:
        _deliver(event)


def _deliver(event: Event) -> None:
    for fn in _subscribers.get(event.name, ()) + _subscribers.get(ANY, ()):
        try:
            fn(event)
        except Exception:  # noqa: BLE001 (the commit stands; the other subscribers still run)
            log.exception("event subscriber %r failed on %s", fn, event.name)


class transaction:
    """Used by store.db.write_tx around its outermost transaction: events published inside
    are delivered after it commits, in order, and dropped when it rolls back."""

    def __enter__(self) -> None:
        self.outer = getattr(_local, "held", None)
        if self.outer is None:
            _local.held = []

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.outer is not None:       # nested: the outermost one decides
            return
        held, _local.held = _local.held, None
        if exc_type is None:
            for event in held:
                _deliver(event)


def held() -> list[Event]:
    """Events waiting for the current transaction's commit (for tests and diagnostics)."""
    return list(getattr(_local, "held", None) or ())
