"""Wake-ups of this process's background workers, subscribed to the after-commit event
hook (server/events.py): a label queued wakes its printer's worker, a shipment queued for
the storefront wakes the outbox worker, a webhook recorded wakes the inbox worker. The
services only publish; they do not know which workers run, or where."""
from __future__ import annotations

from .. import events
from ..services.outbox import OUTBOX_QUEUED
from ..services.print_queue import PRINT_JOB_QUEUED
from ..services.webhooks import WEBHOOK_RECEIVED


def _print(event: events.Event) -> None:
    from . import print_worker
    print_worker.wake(event.data["printer_url"])


def _outbox(event: events.Event) -> None:
    from ..services import outbox
    outbox.wake_event.set()


def _inbox(event: events.Event) -> None:
    from . import inbox
    inbox.wake()


def install() -> None:
    """Subscribe the wake-ups (idempotent: the app factory calls it for every app)."""
    events.subscribe(PRINT_JOB_QUEUED, _print)
    events.subscribe(OUTBOX_QUEUED, _outbox)
    events.subscribe(WEBHOOK_RECEIVED, _inbox)
