"""The webhook inbox worker: applies recorded storefront deliveries in the order they
arrived. A delivery that fails is tried again later (back-off), and after
`webhooks.max_attempts` it becomes an exception for a person and, when its order does not
exist yet, an order in state `invalid` (the raw body stays in webhook_event); nothing is
dropped.

Any number of processes may drain one inbox: each delivery is taken in a transaction that
holds it (FOR UPDATE SKIP LOCKED on PostgreSQL, so the others take the next one; SQLite's
one writer otherwise) until it is applied or its failed try is counted, so no delivery is
applied twice and no failure is counted twice; a process killed mid-way rolls back and the
delivery is simply still pending. Deliveries are taken oldest first; two processes may
apply two deliveries at once (an order's own rows serialise them, and updates older than
what is stored are ignored by their date)."""
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
from .print_worker import _sleep  # wait until stop, wake or the poll is up

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


def drain(limit: int = 500, stop: threading.Event | None = None) -> int:
    """Apply pending deliveries (oldest first) until none is due, `limit` were taken or
    `stop`; returns how many were applied."""
    done = 0
    for _ in range(limit):
        if stop is not None and stop.is_set():
            break
        taken = apply_next()
        if taken is None:
            break
        done += taken
    return done


def apply_next() -> int | None:
    """Take the oldest due delivery and apply it, or count its failed try, in one
    transaction holding it: 1 applied, 0 failed (retried later), None when none is due."""
    now = clock.naive_utc(clock.now())
    lock = " FOR UPDATE SKIP LOCKED" if store_db.is_postgres() else ""
    with store_db.write_tx():
        row = execute("SELECT id FROM webhook_event WHERE state = 'pending' AND (available_at "
                      "IS NULL OR available_at <= ?) ORDER BY id LIMIT 1" + lock,
                      (now,)).fetchone()
        if row is None:
            return None
        try:
            applied = process_event(row[0], settings=current_app.config["WAVEPACK"])  # a savepoint: a failure undoes only it
        except Exception as err:  # the delivery stays recorded: count the try, retry later
            log.exception("webhook event %s failed", row[0])
            record_failure(row[0], err)
            return 0
    return 0 if applied is None else 1


def record_failure(event_id: int, err: Exception) -> None:
    now = clock.now()
    limit = current_app.config["WAVEPACK"].webhooks.max_attempts
    with store_db.write_tx():
        row = execute("SELECT w.attempts, w.topic, w.event_key, w.channel_id, c.name "
                      "FROM webhook_event w JOIN channel c ON c.id = w.channel_id "
                      "WHERE w.id = ?", (event_id,)).fetchone()
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
                now=now, actor="job:inbox", settings=current_app.config["WAVEPACK"],
                subject=None if order_id is not None else ("channel", row[3], row[4]))


def start(app: Flask, stop: threading.Event | None = None) -> threading.Thread:
    """The worker thread: drains whenever woken, and at least every second, until `stop`
    (then it ends after the delivery in hand)."""
    stop = stop or threading.Event()

    def loop() -> None:
        while not stop.is_set():
            _wake.clear()
            try:
                with app.app_context(), store_db.db.connection_context():
                    drain(stop=stop)
            except Exception as err:  # keep the worker alive; the next round tries again
                store_db.log_failure(log, "inbox worker round failed", err)
            _sleep(stop, _wake, 1.0)

    thread = threading.Thread(target=loop, name="wavepack-inbox", daemon=True)
    thread.start()
    return thread
