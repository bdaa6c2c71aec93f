"""Scheduled jobs: expire unpaid orders, pull WooCommerce orders that a webhook missed,
plan and release automatic pick waves (when configured), flag orders at risk of missing
their ship-by (services/notify.py), flag shipments gone quiet as delayed or lost (tracking
sweep), poll karrio-connected carriers for tracking and close orders whose return window
passed, escalate overdue exceptions. One thread per process that runs
them (`wavepack serve`, `wavepack worker`); each job runs in its own app context and
connection, and a failing job is logged and tried again next tick.

Time is cut into ticks of each job's period (tick = floor(epoch seconds / period)), and a
tick runs once across every process sharing the database: the process whose INSERT of
(job, tick) into job_tick lands runs it, the others' INSERT … ON CONFLICT DO NOTHING
inserts nothing. A process that starts runs the current tick unless another already did."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from flask import Flask

from .. import clock
from ..store.db import log_failure
from .leases import HOLDER

log = logging.getLogger(__name__)


def _expire(app: Flask) -> None:
    from .expiry import cancel_unpaid
    n = cancel_unpaid()
    if n:
        log.info("cancelled %d unpaid orders", n)


def _pull_woocommerce(app: Flask) -> None:
    from ..services.woo_pull import pull_woocommerce
    from ..store.models import Channel
    for ch in Channel.select().where((Channel.kind == "woocommerce") & (Channel.base_url != "")):
        log.info("woocommerce pull %s: %s", ch.name,
                 pull_woocommerce(ch.name, settings=app.config["WAVEPACK"]))


def _auto_wave(app: Flask) -> None:
    from ..services.waves import auto_waves
    made = auto_waves(settings=app.config["WAVEPACK"])
    if made:
        log.info("automatic waves planned and released: %s", made)


def _tracking_sweep(app: Flask) -> None:
    from ..services.tracking import sweep
    found = sweep(settings=app.config["WAVEPACK"])
    if any(found.values()):
        log.info("tracking sweep: %s", found)


def _tracking_poll(app: Flask) -> None:
    from ..services.tracking import poll_karrio
    done = poll_karrio(settings=app.config["WAVEPACK"])
    if done["polled"] or done["failed"]:
        log.info("karrio tracking poll: %s", done)


def _close_orders(app: Flask) -> None:
    from ..services.returns import close_expired_orders
    n = close_expired_orders(settings=app.config["WAVEPACK"])
    if n:
        log.info("closed %d orders whose return window passed", n)


def _ship_by_at_risk(app: Flask) -> None:
    from ..services.notify import flag_at_risk
    flagged = flag_at_risk(settings=app.config["WAVEPACK"])
    if flagged:
        log.info("orders at risk of missing their ship-by: %s", flagged)


def _escalate_exceptions(app: Flask) -> None:
    from ..services.exceptions import escalate_overdue
    raised = escalate_overdue(settings=app.config["WAVEPACK"])
    if raised:
        log.info("overdue exceptions escalated: %s", raised)


def start(app: Flask, stop: threading.Event | None = None) -> threading.Thread:
    """Start the scheduler thread (daemon); set `stop` to end it."""
    cfg = app.config["WAVEPACK"].jobs
    jobs: list[tuple[str, float, Callable[[Flask], None]]] = [
        ("expire-unpaid", cfg.expire_unpaid_every_minutes * 60, _expire),
        ("woocommerce-pull", cfg.woocommerce_pull_every_minutes * 60, _pull_woocommerce),
    ]
    if cfg.at_risk_every_minutes > 0:
        jobs.append(("ship-by-at-risk", cfg.at_risk_every_minutes * 60, _ship_by_at_risk))
    if cfg.auto_wave_every_minutes > 0:
        jobs.append(("auto-wave", cfg.auto_wave_every_minutes * 60, _auto_wave))
    track = app.config["WAVEPACK"].tracking
    if track.sweep_every_minutes > 0:
        jobs.append(("tracking-sweep", track.sweep_every_minutes * 60, _tracking_sweep))
    if track.poll_every_minutes > 0 and any(s.adapter == "karrio"
                                            for s in app.config["WAVEPACK"].setup.services):
        jobs.append(("tracking-poll", track.poll_every_minutes * 60, _tracking_poll))
    close_every = app.config["WAVEPACK"].returns.close_orders_every_minutes
    if close_every > 0:
        jobs.append(("close-orders", close_every * 60, _close_orders))
    escalate_every = app.config["WAVEPACK"].exceptions.escalate_every_minutes
    if escalate_every > 0:
        jobs.append(("exception-escalate", escalate_every * 60, _escalate_exceptions))
    stop = stop or threading.Event()
    thread = threading.Thread(target=_loop, args=(app, jobs, stop), name="wavepack-jobs",
                              daemon=True)
    thread.start()
    return thread


KEEP_TICKS_S = 7 * 86400      # job_tick rows older than this are deleted by the winners


def _loop(app: Flask, jobs, stop: threading.Event) -> None:
    seen: dict[str, int] = {}
    while not stop.is_set():
        now = time.time()        # the wall clock: ticks are shared with other machines
        for name, every, fn in jobs:
            tick = int(now // every)
            if seen.get(name) != tick and not stop.is_set():
                seen[name] = tick
                if claim_tick(app, name, tick, every):
                    log.info("job %s tick %d runs in %s", name, tick, HOLDER)
                    run_job(app, name, fn)
        stop.wait(min(1.0, min((every for _, every, _ in jobs), default=1.0) / 4))


def claim_tick(app: Flask, job: str, tick: int, every: float) -> bool:
    """Whether this process runs `job`'s `tick` (its INSERT landed); False also when the
    database cannot say (the tick is left to the others, or skipped)."""
    from ..store.db import db, execute, write_tx
    try:
        with app.app_context(), db.connection_context(), write_tx():
            won = execute("INSERT INTO job_tick (job, tick, holder, started_at) "
                          "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                          (job, tick, HOLDER, clock.naive_utc(clock.now()))).rowcount == 1
            if won:
                execute("DELETE FROM job_tick WHERE job = ? AND tick < ?",
                        (job, tick - max(1, int(KEEP_TICKS_S // every))))
            return won
    except Exception as err:  # noqa: BLE001 (no database: nobody here runs it)
        log_failure(log, f"job {job}: could not claim tick {tick}", err)
        return False


def run_job(app: Flask, name: str, fn: Callable[[Flask], None]) -> bool:
    from ..store.db import db
    try:
        with app.app_context(), db.connection_context():
            fn(app)
        return True
    except Exception as err:  # a job must not kill the scheduler; the next round tries again
        log_failure(log, f"job {name} failed", err)
        return False
