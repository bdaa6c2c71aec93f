"""`wavepack worker`: the background work as a process of its own (server/jobs/runner.py)."""
from __future__ import annotations

import os
import signal
import sys
import threading

import click

from .cli import get_app, main


@main.command(name="worker")
@click.option("--only", default=None, metavar="KINDS",
              help="comma-separated: print,outbox,inbox,jobs (default: all of them)")
def worker(only: str | None) -> None:
    """Run the print workers, storefront outbox, webhook inbox and scheduled jobs in this
    process, beside any number of others sharing the database (`serve --no-workers`)."""
    from .jobs import runner
    kinds = runner.parse_only(only)              # a bad --only: error, exit 1, nothing run
    from . import telemetry
    telemetry.prepare(fresh=False)               # joins the web processes' metrics
    stop = threading.Event()

    def on_signal(*_):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)     # stopped while starting: starts, then stops
    signal.signal(signal.SIGINT, on_signal)
    app = get_app()
    workers = runner.start_workers(app, kinds, stop)
    if not workers.running:                      # error: …, exit 1
        raise ValueError(f"nothing to run: {', '.join(workers.skipped)}")
    click.echo(f"wavepack worker {os.getpid()} running {workers.describe()}")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    workers.shutdown()                           # the job in hand finishes, locks released
    click.echo(f"wavepack worker {os.getpid()} stopped")
