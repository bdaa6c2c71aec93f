"""Starts the background work of one process: the print workers (one per configured
printer), the storefront outbox, the webhook inbox and the scheduled jobs. The one code
path for both ways of running them: embedded in `wavepack serve` (the default; `serve
--no-workers` for production) and `wavepack worker [--only print,outbox,inbox,jobs]`, of
which any number may run, on any machines sharing one database:

- a printer gets one sender across all processes: its lock (server/jobs/leases.py);
  the others keep trying to take it, so one takes over when its sender dies;
- queues are claimed row by row (FOR UPDATE SKIP LOCKED on PostgreSQL, guarded updates
  under SQLite's one writer): no label, message or delivery is handled twice;
- wake-ups cross processes by LISTEN/NOTIFY on PostgreSQL (server/jobs/wakeups.py); on
  SQLite each worker polls (printing.poll_seconds, jobs.outbox_poll_seconds, 1 s inbox);
- a scheduled job's tick runs in one process (server/jobs/scheduler.py, job_tick).

`Workers.shutdown()` (SIGTERM) lets each worker finish the job in hand, then releases the
locks."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from .leases import Leases

log = logging.getLogger(__name__)

KINDS = ("print", "outbox", "inbox", "jobs")


def parse_only(text: str | None) -> tuple[str, ...]:
    """`--only print,outbox` → ("print", "outbox"); None or "" → every kind. ValueError
    (the CLI's `error: …`, exit 1) naming what is not a kind."""
    if text is None:
        return KINDS
    wanted = [part.strip().lower() for part in text.split(",") if part.strip()]
    bad = [w for w in wanted if w not in KINDS]
    if bad or not wanted:
        raise ValueError(f"--only takes a comma-separated list of {', '.join(KINDS)}; "
                         f"not {', '.join(map(repr, bad)) or 'an empty list'}")
    return tuple(k for k in KINDS if k in wanted)


@dataclass
class Workers:
    """What one process runs: its threads, its locks and the stop signal they share."""

    stop: threading.Event
    running: list[str] = field(default_factory=list)   # "print (2 printers)", "outbox"…
    skipped: list[str] = field(default_factory=list)   # "jobs (jobs.enabled is false)"
    threads: list[threading.Thread] = field(default_factory=list)
    leases: Leases | None = None

    def describe(self) -> str:
        text = ", ".join(self.running) or "nothing"
        return text + (f"; not {', '.join(self.skipped)}" if self.skipped else "")

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop: every worker finishes the job in hand, then the locks are released."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)
        if self.leases is not None:
            self.leases.close()


def start_workers(app: Flask, only: tuple[str, ...] = KINDS,
                  stop: threading.Event | None = None) -> Workers:
    """Start the selected kinds of work that the config enables (printers configured,
    jobs.enabled for the scheduled jobs and the outbox, webhooks.process async for the
    inbox), with the cross-process wake-up listener on PostgreSQL."""
    from ..store import db as store_db
    from . import inbox, outbox_worker, print_worker, replenish_worker, scheduler, wakeups
    from .leases import Leases
    cfg = app.config["WAVEPACK"]
    workers = Workers(stop or threading.Event())
    printers = list(dict.fromkeys(cfg.printers.values()))
    if "print" in only:
        if printers:
            leases = workers.leases = Leases(app, workers.stop)
            for url in printers:
                workers.threads.append(print_worker.start(
                    app, url, workers.stop, max_attempts=cfg.printing.max_attempts,
                    timeout=cfg.printing.timeout_seconds, poll_s=cfg.printing.poll_seconds,
                    lease=leases.lease(f"print:{url}")))
            workers.running.append(f"print ({len(printers)} printer"
                                   f"{'s' if len(printers) != 1 else ''})")
        else:
            workers.skipped.append("print (no printers configured)")
    if "outbox" in only:
        if cfg.jobs.enabled:
            workers.threads.append(outbox_worker.start(
                app, workers.stop, poll_s=cfg.jobs.outbox_poll_seconds,
                max_attempts=cfg.outbox.max_attempts,
                backoff_base_s=cfg.outbox.backoff_base_seconds,
                backoff_cap_s=cfg.outbox.backoff_cap_seconds,
                timeout_s=cfg.outbox.timeout_seconds,
                lease_s=cfg.outbox.lease_seconds))
            workers.running.append("outbox")
        else:
            workers.skipped.append("outbox (jobs.enabled is false)")
    if "inbox" in only:
        if cfg.webhooks.process == "async":
            workers.threads.append(inbox.start(app, workers.stop))
            workers.running.append("inbox")
        else:
            workers.skipped.append("inbox (webhooks.process is inline)")
    if "jobs" in only:
        if cfg.jobs.enabled:
            workers.threads.append(scheduler.start(app, workers.stop))
            workers.threads.append(replenish_worker.start(app, workers.stop))
            workers.running.append("jobs")
        else:
            workers.skipped.append("jobs (jobs.enabled is false)")
    if workers.running and store_db.is_postgres():
        wakeups.listen(app, workers.stop)   # NOTIFY from other processes wakes ours
    return workers
