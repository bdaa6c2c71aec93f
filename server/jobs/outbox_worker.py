"""The outbox worker: tells storefronts about shipped parcels (server/services/outbox.py).

Each round sends every due message; between rounds it waits `poll_s`, or less when
outbox.wake() is called (a shipment was queued, a person pressed retry). Several workers
(threads or processes) may run against one database: each message is claimed by one.
"""
from __future__ import annotations

import logging
import threading

from flask import Flask

from ..services import outbox
from ..store import db as store_db
from .print_worker import _sleep  # wait until stop, wake or the poll is up

log = logging.getLogger(__name__)


def run_round(stop: threading.Event | None = None, **options) -> int:
    """Send what is due, one message at a time, until nothing is or `stop` (then after
    the message in hand); needs an app context and a connection. Returns how many tries
    were made. `options` go to deliver_due()."""
    tries = 0
    while not (stop is not None and stop.is_set()):
        done = outbox.deliver_due(**{**options, "limit": 1})   # claims one at a time anyway
        if not done:
            break
        tries += 1
    return tries


def start(app: Flask, stop_event: threading.Event, *, poll_s: float = 5.0,
          **options) -> threading.Thread:
    """The worker thread (daemon), until `stop_event` is set. `options` go to
    deliver_due() (max_attempts, backoff_base_s, backoff_cap_s, timeout_s, lease_s)."""

    def loop() -> None:
        while not stop_event.is_set():
            outbox.wake_event.clear()
            try:
                with app.app_context(), store_db.db.connection_context():
                    run_round(stop=stop_event, **options)
            except Exception as err:  # keep the worker alive; the next round tries again
                store_db.log_failure(log, "outbox worker round failed", err)
            _sleep(stop_event, outbox.wake_event, poll_s)

    thread = threading.Thread(target=loop, name="wavepack-outbox", daemon=True)
    thread.start()
    return thread
