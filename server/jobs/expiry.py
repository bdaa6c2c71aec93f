"""Unpaid orders past their time are cancelled, and their stock goes back on the shelf."""
from __future__ import annotations

import datetime as dt
import logging


from .. import clock
from ..settings import current
from ..domain import lifecycle
from ..domain.errors import DomainError
from ..store.models import Order
from ..services import orders

log = logging.getLogger(__name__)


def cancel_unpaid(now: dt.datetime | None = None) -> int:
    """Cancel every order still awaiting payment `unpaid_cancel_after_hours` after it was
    received. Returns how many were cancelled."""
    now = now or clock.now()
    settings = current()
    hours = settings.intake.unpaid_cancel_after_hours
    cutoff = (now - dt.timedelta(hours=hours)).astimezone(dt.timezone.utc).replace(tzinfo=None)
    ids = [o.id for o in Order.select(Order.id).where(
        (Order.status == lifecycle.AWAITING_PAYMENT) & (Order.created_at < cutoff))]
    done = 0
    for oid in ids:
        try:
            orders.cancel(oid, "job:expire-unpaid", reason="unpaid past the time limit",
                          expect_status=lifecycle.AWAITING_PAYMENT, settings=settings)
            done += 1
        except DomainError as err:  # paid or changed meanwhile: leave it
            log.info("order %s not expired: %s", oid, err.message)
    return done
