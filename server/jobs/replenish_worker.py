"""The replenishment worker: checks pick faces after the commits that changed their stock.

Services publish "stock.levels" (services/reservation.stock_levels_changed) with the stock
rows they touched; jobs/wakeups.py hands the ids to wake() here, after the commit and in
the committing thread, which only adds them to a set: the reservation or scan that
published pays nothing more. This thread then runs services/replenishment.check() on the
rows gathered (one short transaction for a whole batch of them) and, every
`replenishment.sweep_every_seconds`, on every pick face, which catches what a wake-up
missed (a crash between a commit and its check, a web process running no worker: there,
on PostgreSQL, the wake-up crosses processes by NOTIFY and the worker sweeps).

One worker per process that runs `jobs` (`wavepack serve`, `wavepack worker`); several
processes may check at once: the partial UNIQUE index on replen_task keeps one open task
per face, and a face's exception opens only with the task that was inserted."""
from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from ..store import db as store_db
from .print_worker import _sleep

log = logging.getLogger(__name__)
_wake = threading.Event()
_lock = threading.Lock()
_pending: set[int] = set()
_sweep = False
running = 0            # workers running in this process (wakeups: no NOTIFY needed then)
rounds = 0             # rounds done by this process's workers (tests wait on it)
BATCH_PAUSE_S = 0.05   # gather the stock rows of a burst of commits into one check
PENDING_MAX = 100_000  # more rows than this waiting: check every face instead (a sweep)


def wake(stock_ids=None) -> None:
    """Check these stock rows soon; None: check every pick face (a sweep)."""
    global _sweep
    with _lock:
        if stock_ids is None:
            _sweep = True
        else:
            _pending.update(stock_ids)
            if len(_pending) > PENDING_MAX:   # (a process whose worker never drains them)
                _pending.clear()
                _sweep = True
    _wake.set()


def _take() -> tuple[list[int], bool]:
    global _sweep
    with _lock:
        ids, sweep = sorted(_pending), _sweep
        _pending.clear()
        _sweep = False
    return ids, sweep


def run_once(app: Flask, sweep: bool = False) -> dict:
    """One round: the rows woken for (or every face); for tests and the loop."""
    from ..services import replenishment
    ids, asked = _take()
    with app.app_context(), store_db.db.connection_context():
        return replenishment.check(None if sweep or asked else ids,
                                   settings=app.config["WAVEPACK"])


def start(app: Flask, stop: threading.Event | None = None) -> threading.Thread:
    """The worker thread: a sweep at start, then a check whenever woken and a sweep every
    `replenishment.sweep_every_seconds` (0: only at start and when asked), until `stop`."""
    global running
    stop = stop or threading.Event()
    every = app.config["WAVEPACK"].replenishment.sweep_every_seconds
    running += 1

    def loop() -> None:
        global running, rounds
        last_sweep = 0.0
        try:
            while not stop.is_set():
                _wake.clear()
                sweep = bool(every) and time.monotonic() - last_sweep >= every \
                    or last_sweep == 0.0
                try:
                    done = run_once(app, sweep=sweep)
                    if sweep:
                        last_sweep = time.monotonic()
                    if done["opened"] or done["closed"]:
                        log.info("replenishment: tasks opened %s, closed %s", done["opened"],
                                 done["closed"])
                except Exception:  # keep the worker alive; the next round tries again
                    log.exception("replenishment worker round failed")
                rounds += 1
                _sleep(stop, _wake, min(every or 60.0, 60.0))
                _sleep(stop, None, BATCH_PAUSE_S)
        finally:
            running -= 1

    thread = threading.Thread(target=loop, name="wavepack-replenish", daemon=True)
    thread.start()
    return thread
