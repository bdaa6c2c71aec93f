"""Wake-ups of the background workers, subscribed to the after-commit event hook
(server/events.py): a label queued wakes its printer's worker, a shipment queued for
the storefront wakes the outbox worker, a webhook recorded wakes the inbox worker. The
services only publish; they do not know which workers run, or where.

In this process the wake-up is a threading.Event. On PostgreSQL the event is also sent
with pg_notify after the commit (one statement on the publisher's connection), and each
process running workers listens (listen(): a thread on a connection of its own) and wakes
its own workers, so a label queued by a web process prints at once in a worker process.
On SQLite the workers poll instead."""
from __future__ import annotations

import json
import logging
import threading

from flask import Flask

from .. import events
from ..services.outbox import OUTBOX_QUEUED
from ..services.print_queue import PRINT_JOB_QUEUED
from ..services.reservation import STOCK_LEVELS
from ..services.webhooks import WEBHOOK_RECEIVED
from ..store import db as store_db

log = logging.getLogger(__name__)


def _print(data: dict) -> None:
    from . import print_worker
    print_worker.wake(data["printer_url"])


def _outbox(data: dict) -> None:
    from ..services import outbox
    outbox.wake_event.set()


def _inbox(data: dict) -> None:
    from . import inbox
    inbox.wake()


def _replenish(data: dict) -> None:
    from . import replenish_worker
    replenish_worker.wake(data.get("stock_ids"))     # none (a NOTIFY): every face


_LOCAL = {PRINT_JOB_QUEUED: _print, OUTBOX_QUEUED: _outbox, WEBHOOK_RECEIVED: _inbox,
          STOCK_LEVELS: _replenish}


def wake_here(name: str, data: dict) -> None:
    """Wake this process's worker for event `name` (unknown names are ignored)."""
    wake = _LOCAL.get(name)
    if wake is not None:
        wake(data)


def _local(event: events.Event) -> None:
    wake_here(event.name, event.data)


def channel() -> str:
    """The NOTIFY channel of this database and schema (test runs use a schema each)."""
    schema = getattr(store_db.db.obj, "_schema", None)
    return f"wavepack_{schema}" if schema else "wavepack"


def _notify(event: events.Event) -> None:
    """Tell the other processes (PostgreSQL): one pg_notify on this thread's connection."""
    if not store_db.is_postgres():
        return
    if event.name == STOCK_LEVELS:
        from . import replenish_worker
        if replenish_worker.running:   # this process checks them; the others sweep anyway
            return
    payload = json.dumps({"event": event.name, **{k: v for k, v in event.data.items()
                                                  if k == "printer_url"}})
    if store_db.db.is_closed():
        with store_db.db.connection_context():
            store_db.execute("SELECT pg_notify(?, ?)", (channel(), payload))
    else:
        store_db.execute("SELECT pg_notify(?, ?)", (channel(), payload))


def install() -> None:
    """Subscribe the wake-ups (idempotent: the app factory calls it for every app)."""
    for name in _LOCAL:
        events.subscribe(name, _local)
        events.subscribe(name, _notify)


def listen(app: Flask, stop: threading.Event, *, retry_s: float = 1.0) -> threading.Thread:
    """The listener thread (PostgreSQL): LISTEN on a connection of its own and wake this
    process's workers for each notification, until `stop`. A lost connection is opened
    again, and every worker is woken then (a notification may have been missed)."""
    from .leases import dedicated_connection
    name = channel()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn = dedicated_connection()
            except Exception:  # noqa: BLE001 (the database is away: try again)
                log.warning("wake-up listener cannot connect; the workers poll meanwhile")
                stop.wait(retry_s)
                continue
            try:
                conn.execute(f'LISTEN "{name}"')
                _wake_all(app)
                while not stop.is_set():
                    for note in conn.notifies(timeout=1.0):
                        _dispatch(note.payload)
            except Exception:  # noqa: BLE001 (a dropped session: listen again)
                log.warning("wake-up listener lost its connection; listening again")
                stop.wait(retry_s)
            finally:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass

    thread = threading.Thread(target=loop, name="wavepack-listen", daemon=True)
    thread.start()
    return thread


def _dispatch(payload: str) -> None:
    try:
        data = json.loads(payload)
        wake_here(data.pop("event"), data)
    except Exception:  # noqa: BLE001 (a stray notification must not stop the listener)
        log.warning("ignored a wake-up notification %r", payload[:200])


def _wake_all(app: Flask) -> None:
    for url in set(app.config["WAVEPACK"].printers.values()):
        _print({"printer_url": url})
    _outbox({})
    _inbox({})
    _replenish({})
