"""The print worker: one thread per printer URL, sending that printer's queued jobs
oldest first (server/services/print_queue). Each round first settles jobs left in
`sending` (a crash, or labels the printer accepted while faulted), then sends until the
queue is empty or the printer is in trouble. While the printer is faulted or offline the
worker backs off (poll_s, doubling up to max_backoff_s) instead of asking it every poll.

Every status the worker reads is recorded as the printer's live state
(services/printer_state, under the printer's name from the config), and an idle or
backed-off worker asks its printer every `status_every_s` seconds, so a station sees
"paper out" within seconds even with no jobs, and a printer that is fixed gets its
waiting jobs at once instead of after the rest of a long back-off.

One sender per printer across every process is the design: check_sending() would treat a
job that a worker in another process is sending right now as a crash leftover. So a worker
given a lease (server/jobs/leases.py, `print:<url>`; the runner gives one) sends, settles
and polls only while its process holds that printer's lock, and otherwise keeps trying to
take it (every `lock_retry_s`), so a second process takes over when the first dies.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Callable

from flask import Flask

from printers.drivers import DEFAULT_TIMEOUT_S, open_printer
from printers.status import PrinterError, PrinterStatus

from ..services import print_queue, printer_state
from ..store import db as store_db

if TYPE_CHECKING:
    from .leases import Lease

log = logging.getLogger(__name__)
_wakes: dict[str, threading.Event] = {}
_wakes_lock = threading.Lock()


def _wake_event(printer_url: str) -> threading.Event:
    with _wakes_lock:
        return _wakes.setdefault(printer_url, threading.Event())


def wake(printer_url: str) -> None:
    """Called after a job is committed, so the printer's worker need not wait for its poll."""
    _wake_event(printer_url).set()


def printer_names(app: Flask, printer_url: str) -> list[str]:
    """The configured names of this printer URL (`printers:` in the config)."""
    printers = getattr(app.config.get("WAVEPACK"), "printers", None) or {}
    return sorted(name for name, url in printers.items() if url == printer_url)


class StatusRecorder:
    """Records each status read under the printer's names, and remembers when it last
    heard, so the worker knows when its printer is due to be asked again. A status equal
    to the one recorded less than `refresh_s` ago is not written again: a busy printer
    reads its status twice a label, and the station needs changes, not every echo."""

    def __init__(self, printer_url: str, names: list[str], refresh_s: float = 1.0):
        self.url, self.names, self.refresh_s = printer_url, list(names), refresh_s
        self.last_read = float("-inf")          # time.monotonic() of the last status read
        self.last_ready: bool | None = None
        self._recorded: tuple[str, dict] | None = None
        self._recorded_at = float("-inf")

    def __call__(self, seen: PrinterStatus | PrinterError) -> None:
        now = self.last_read = time.monotonic()
        self.last_ready = isinstance(seen, PrinterStatus) and seen.ready
        described = printer_state.describe(seen)
        if described == self._recorded and now - self._recorded_at < self.refresh_s:
            return
        for name in self.names:
            printer_state.record(name, self.url, seen)
        self._recorded, self._recorded_at = described, now

    def due(self, every_s: float) -> bool:
        return time.monotonic() - self.last_read >= every_s

    def poll(self, timeout: float) -> bool:
        """Ask the printer now (needs an app context and a connection); True if ready."""
        try:
            seen: PrinterStatus | PrinterError = open_printer(self.url, timeout).status()
        except PrinterError as err:
            seen = err
        self(seen)
        return bool(self.last_ready)


def run_round(printer_url: str, *, max_attempts: int = print_queue.MAX_ATTEMPTS,
              timeout: float = DEFAULT_TIMEOUT_S, stop: threading.Event | None = None,
              on_status: print_queue.StatusListener | None = None,
              holding: Callable[[], bool] | None = None) -> bool:
    """One round (needs an app context and a connection). Returns True when the printer
    is in trouble (a fault, no answer, a label waiting in it), i.e. the worker backs off.
    `holding` (the printer's lock still ours) is asked before each job: once it says no,
    the round ends after the job in hand."""
    trouble = any(o.state == "sending" for o in print_queue.check_sending(
        printer_url, max_attempts=max_attempts, timeout=timeout, on_status=on_status))
    while not (stop and stop.is_set()) and (holding is None or holding()):
        outcome = print_queue.send_next(printer_url, max_attempts=max_attempts, timeout=timeout,
                                        on_status=on_status)
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
          poll_s: float = 1.0, max_backoff_s: float = 30.0,
          status_every_s: float = printer_state.STATUS_EVERY_S,
          names: list[str] | None = None, lease: Lease | None = None,
          lock_retry_s: float = 1.0) -> threading.Thread:
    """The worker thread of one printer, until `stop` is set (then it ends after the job
    in hand). Statuses are recorded under `names` (default: the printer's names in the
    app's config; none, and nothing is recorded or polled). With a `lease`, it works only
    while this process holds it."""
    stop = stop or threading.Event()
    wake_event = _wake_event(printer_url)
    recorder = StatusRecorder(printer_url,
                              printer_names(app, printer_url) if names is None else names)
    watching = bool(recorder.names)

    def poll_if_due() -> bool:
        """Ask the printer if it is due; True when it answered ready."""
        if not (watching and recorder.due(status_every_s) and holding()):
            return False
        with app.app_context(), store_db.db.connection_context():
            return recorder.poll(timeout)

    # a job is begun only while the lock stays ours for as long as one job can take
    # (status, send, status), as far as a lease renewed every few seconds can promise
    margin_s = 3 * timeout + 1

    def holding() -> bool:
        return lease is None or lease.valid(margin_s)

    def loop() -> None:
        backoff = 0.0
        while not stop.is_set():
            if lease is not None and not _hold(lease, margin_s, printer_url):
                _sleep(stop, None, lock_retry_s)   # another process sends: try again later
                continue
            wake_event.clear()
            try:
                with app.app_context(), store_db.db.connection_context():
                    trouble = run_round(printer_url, max_attempts=max_attempts,
                                        timeout=timeout, stop=stop,
                                        on_status=recorder if watching else None,
                                        holding=holding)
            except Exception as err:  # keep the worker alive; the next round tries again
                store_db.log_failure(log, f"print worker round for {printer_url} failed", err)
                trouble = True
            if trouble:  # a new job does not mend the printer: a status poll or stop does
                backoff = min(max(backoff * 2, poll_s), max_backoff_s)
                # a printer that reported a fault ends the back-off once it reports ready;
                # one that says ready but fails to print keeps backing off (still watched)
                faulted = recorder.last_ready is False
                if _wait_out_trouble(stop, backoff, status_every_s if watching else None,
                                     poll_if_due, end_when_ready=faulted):
                    backoff = 0.0                    # fixed: its jobs go out now
            else:
                backoff = 0.0
                _wait_idle(stop, wake_event, poll_s, status_every_s if watching else None,
                           poll_if_due)

    thread = threading.Thread(target=loop, name=f"wavepack-print {printer_url}", daemon=True)
    thread.start()
    return thread


def _hold(lease: Lease, margin_s: float, printer_url: str) -> bool:
    """Take or keep the printer's lock; says so in the log when that changes."""
    was = lease.held
    now = lease.hold(margin_s)
    if now and not was:
        log.info("print: this process now sends to %s", printer_url)
    elif was and not now:
        log.warning("print: this process no longer sends to %s", printer_url)
    return now


def _guarded(poll) -> bool:
    try:
        return poll()
    except Exception:  # noqa: BLE001 (a status poll must not end the worker)
        log.exception("printer status poll failed")
        return False


def _wait_out_trouble(stop: threading.Event, seconds: float, every_s: float | None,
                      poll, *, end_when_ready: bool = True) -> bool:
    """The back-off: wait `seconds`, asking the printer every `every_s` meanwhile. True
    when it answered ready and `end_when_ready` (the wait ends early), False when the
    time ran out or stop."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        step = left if every_s is None else min(left, every_s)
        _sleep(stop, None, step)
        if every_s is not None and not stop.is_set() and _guarded(poll) and end_when_ready:
            return True
    return False


def _wait_idle(stop: threading.Event, wake_event: threading.Event, seconds: float,
               every_s: float | None, poll) -> None:
    """Wait `seconds` for new jobs (a wake ends it early), asking the printer when due."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        _sleep(stop, wake_event, left if every_s is None else min(left, every_s))
        if wake_event.is_set():
            return
        if every_s is not None and not stop.is_set():
            _guarded(poll)


def start_all(app: Flask, printer_urls: list[str], stop: threading.Event,
              **options) -> list[threading.Thread]:
    """One worker per distinct printer URL (e.g. the stations' printers from config)."""
    return [start(app, url, stop, **options) for url in dict.fromkeys(printer_urls)]
