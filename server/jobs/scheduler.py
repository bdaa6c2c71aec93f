"""Scheduled jobs inside `wavepack serve`: expire unpaid orders, pull WooCommerce orders
that a webhook missed, plan and release automatic pick waves (when configured). One daemon thread; each job runs in its own app context and
connection, and a failing job is logged and tried again next time."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from flask import Flask

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
        log.info("woocommerce pull %s: %s", ch.name, pull_woocommerce(ch.name))


def _auto_wave(app: Flask) -> None:
    from ..services.waves import auto_waves
    made = auto_waves()
    if made:
        log.info("automatic waves planned and released: %s", made)


def start(app: Flask, stop: threading.Event | None = None) -> threading.Thread:
    """Start the scheduler thread (daemon); set `stop` to end it."""
    cfg = app.config["WAVEPACK"].jobs
    jobs: list[tuple[str, float, Callable[[Flask], None]]] = [
        ("expire-unpaid", cfg.expire_unpaid_every_minutes * 60, _expire),
        ("woocommerce-pull", cfg.woocommerce_pull_every_minutes * 60, _pull_woocommerce),
    ]
    if cfg.auto_wave_every_minutes > 0:
        jobs.append(("auto-wave", cfg.auto_wave_every_minutes * 60, _auto_wave))
    stop = stop or threading.Event()
    thread = threading.Thread(target=_loop, args=(app, jobs, stop), name="wavepack-jobs",
                              daemon=True)
    thread.start()
    return thread


def _loop(app: Flask, jobs, stop: threading.Event) -> None:
    due = {name: time.monotonic() for name, _, _ in jobs}
    while not stop.is_set():
        now = time.monotonic()
        for name, every, fn in jobs:
            if now >= due[name]:
                due[name] = now + every
                run_job(app, name, fn)
        stop.wait(1.0)


def run_job(app: Flask, name: str, fn: Callable[[Flask], None]) -> bool:
    from ..store.db import db
    try:
        with app.app_context(), db.connection_context():
            fn(app)
        return True
    except Exception:  # a job must not kill the scheduler; the next round tries again
        log.exception("job %s failed", name)
        return False
