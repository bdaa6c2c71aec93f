"""The print worker: one thread per printer URL, sending that printer's queued jobs
oldest first (server/services/print_queue). Each round first settles jobs left in
`sending` (a crash, or labels the printer accepted while faulted), then sends until the
queue is empty or the printer is in trouble. While the printer is faulted or offline the
worker backs off (poll_s, doubling up to max_backoff_s) instead of asking it every poll.

One worker per printer is the design: check_sending() would treat a job that a worker in
another process is sending right now as a crash leftover.
"""
from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from printers.drivers import DEFAULT_TIMEOUT_S

from ..services import print_queue
from ..store import db as store_db

log = logging.getLogger(__name__)
_wakes: dict[str, threading.Event] = {}
_wakes_lock = threading.Lock()


def _wake_event(printer_url: str) -> threading.Event:
    with _wakes_lock:
        return _wakes.setdefault(printer_url, threading.Event())


def wake(printer_url: str) -> None:
    """Called after a job is committed, so the printer's worker need not wait for its poll."""
    _wake_event(printer_url).set()


def run_round(printer_url: str, *, max_attempts: int = print_queue.MAX_ATTEMPTS,
              timeout: float = DEFAULT_TIMEOUT_S, stop: threading.Event | None = None) -> bool:
    """One round (needs an app context and a connection). Returns True when the printer
    is in trouble (a fault, no answer, a label waiting in it), i.e. the worker backs off."""
    trouble = any(o.state == "sending" for o in print_queue.check_sending(
        printer_url, max_attempts=max_attempts, timeout=timeout))
    while not (stop and stop.is_set()):
        outcome = print_queue.send_next(printer_url, max_attempts=max_attempts, timeout=timeout)
        if outcome.job_id is None:
            break
        if outcome.printer_trouble:
            return True
    return trouble


def _sleep(stop: threading.Event, wake_event: threading.Event | None, seconds: float) -> None:
    """Wait `seconds`, ending early on stop (and on wake, when one is given)."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if wake_event is not None and wake_event.wait(min(left, 0.1)):
            return
        if wake_event is None:
            stop.wait(min(left, 0.1))


def start(app: Flask, printer_url: str, stop: threading.Event | None = None, *,
          max_attempts: int = print_queue.MAX_ATTEMPTS, timeout: float = DEFAULT_TIMEOUT_S,
          poll_s: float = 1.0, max_backoff_s: float = 30.0) -> threading.Thread:
    """The worker thread (daemon) of one printer, until `stop` is set."""
    stop = stop or threading.Event()
    wake_event = _wake_event(printer_url)

    def loop() -> None:
        backoff = 0.0
        while not stop.is_set():
            wake_event.clear()
            try:
                with app.app_context(), store_db.db.connection_context():
                    trouble = run_round(printer_url, max_attempts=max_attempts,
                                        timeout=timeout, stop=stop)
            except Exception:  # keep the worker alive; the next round tries again
                log.exception("print worker round for %s failed", printer_url)
                trouble = True
            if trouble:  # a new job does not mend the printer: only stop ends the wait
                backoff = min(max(backoff * 2, poll_s), max_backoff_s)
                _sleep(stop, None, backoff)
            else:
                backoff = 0.0
                _sleep(stop, wake_event, poll_s)

    thread = threading.Thread(target=loop, name=f"wavepack-print {printer_url}", daemon=True)
    thread.start()
    return thread


def start_all(app: Flask, printer_urls: list[str], stop: threading.Event,
              **options) -> list[threading.Thread]:
    """One worker per distinct printer URL (e.g. the stations' printers from config)."""
    return [start(app, url, stop, **options) for url in dict.fromkeys(printer_urls)]
