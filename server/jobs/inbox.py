"""The webhook inbox worker: applies recorded storefront deliveries in the order they
arrived. A delivery that fails is tried again later (back-off), and after
`webhooks.max_attempts` it becomes an exception for a person and, when its order does not
exist yet, an order in state `invalid` (the raw body stays in webhook_event); nothing is
dropped."""
from __future__ import annotations

import datetime as dt
import logging
import threading

from flask import Flask, current_app

from .. import clock
from ..services import exceptions
from ..domain.exactjson import replace_lone_surrogates
from ..services.webhooks import park_unapplied, process_event
from ..store import db as store_db
from ..store.db import execute

log = logging.getLogger(__name__)
_wake = threading.Event()


def wake() -> None:
    """Called after a delivery is committed, so the worker need not wait for its poll."""
    _wake.set()


def pending(limit: int = 500) -> list[int]:
    now = clock.naive_utc(clock.now())
    return [r[0] for r in execute(
        "SELECT id FROM webhook_event WHERE state = 'pending' AND (available_at IS NULL "
        "OR available_at <= ?) ORDER BY id LIMIT ?", (now, limit)).fetchall()]


def drain(limit: int = 500) -> int:
    """Apply pending deliveries (oldest first); returns how many were applied."""
    done = 0
    for event_id in pending(limit):
        try:
            if process_event(event_id) is not None:
                done += 1
        except Exception as err:  # the delivery stays recorded: count the try, retry later
            log.exception("webhook event %s failed", event_id)
            record_failure(event_id, err)
    return done


def record_failure(event_id: int, err: Exception) -> None:
    now = clock.now()
    limit = current_app.config["WAVEPACK"].webhooks.max_attempts
    with store_db.write_tx():
        row = execute("SELECT attempts, topic, event_key FROM webhook_event WHERE id = ?",
                      (event_id,)).fetchone()
        if row is None:
            return
        attempts = row[0] + 1
        failed = attempts >= limit
        retry_at = now + dt.timedelta(seconds=min(2 ** attempts, 3600))
        # the error's text may quote the very characters that made it fail
        error = replace_lone_surrogates(f"{type(err).__name__}: {err}").replace("\x00", "")
        execute("UPDATE webhook_event SET attempts = ?, last_error = ?, available_at = ?, "
                "state = ? WHERE id = ?",
                (attempts, error[:2000], clock.naive_utc(retry_at),
                 "failed" if failed else "pending", event_id))
        if failed:
            order_id = park_unapplied(event_id, error, now)
            if order_id is not None:
                execute("UPDATE webhook_event SET outcome = ? WHERE id = ?",
                        (f"invalid:{order_id}", event_id))
            exceptions.open_exception(
                "webhook_failed", f"{row[1]} delivery {row[2]} failed {attempts} times: "
                f"{error}"[:2000], order_id=order_id, detail={"event_id": event_id},
                now=now, actor="job:inbox")


def start(app: Flask, stop: threading.Event | None = None) -> threading.Thread:
    """The worker thread (daemon): drains whenever woken, and at least every second."""
    stop = stop or threading.Event()

    def loop() -> None:
        while not stop.is_set():
            _wake.clear()
            try:
                with app.app_context(), store_db.db.connection_context():
                    drain()
            except Exception:  # keep the worker alive; the next round tries again
                log.exception("inbox worker round failed")
            _wake.wait(1.0)

    thread = threading.Thread(target=loop, name="wavepack-inbox", daemon=True)
    thread.start()
    return thread
