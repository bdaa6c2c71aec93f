"""A storefront's newer view of an order it already sent: apply what may still change,
turn what may not (a new address or new lines once picking began, a cancel once packed)
into an exception for a person, and ignore views older than the one stored.

Storefronts give no ordering guarantee (Shopify says so; WooCommerce builds the payload when
the delivery runs), so every view carries `source_updated_at` and an older one is "stale".
Everything runs inside the caller's write transaction (write_tx nests as a savepoint).

Outcomes: created | stale | cancelled | exception | updated | unchanged.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field

from .. import clock
from ..config import Config
from ..domain import lifecycle
from ..domain.money import to_minor
from ..domain.orders import OrderDraft, address_key, phone_key
from ..domain.risk import assess
from ..domain.errors import Unprocessable
from ..domain.validation import normalise_draft, storage_problems, validate_order
from ..store import db as store_db
from ..store.bulk import insert_many, select_in
from ..store.db import execute
from ..store.models import Order, WmsException
from . import audit, exceptions, intake, orders
from .intake import ChannelRef
from .reservation import release_order

# Stored columns that end up on the shipping label: changing them after picking began must
# not happen silently (the parcel may already carry the old label).
LABEL_COLUMNS = ("ship_name", "ship_phone", "ship_address1", "ship_address2", "ship_city",
                 "ship_postcode", "ship_country", "ship_region", "carrier")
# A new destination may be served best by another warehouse: reserve again.
DESTINATION_COLUMNS = frozenset({"ship_country", "ship_postcode"})


@dataclass
class _Plan:
    """What an update will write: column values, the audit before/after, and the stock work."""
    values: dict = field(default_factory=dict)
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    exception: bool = False
    replace_lines: bool = False
    release: bool = False
    settle: bool = False

    def change(self, order: Order, values: dict) -> dict:
        """Plan the columns whose value differs; return {column: (old, new)} of those."""
        diff = {k: (getattr(order, k), v) for k, v in values.items() if getattr(order, k) != v}
        for k, (old, new) in diff.items():
            self.values[k], self.before[k], self.after[k] = new, old, new
        return diff


def apply_update(channel: ChannelRef, draft: OrderDraft, actor: str, *,
                 settings: Config) -> str:
    """Apply `draft`, the storefront's current view of one of its orders; see the module
    docstring for the outcomes. An order not stored yet is created through intake."""
    draft = normalise_draft(checked(draft))   # compared with the stored, normalised address
    now = clock.now()
    with store_db.write_tx():
        order = _locked(channel.id, draft.external_id)
        if order is None:
            [result] = intake.import_orders(channel, [draft], actor, settings=settings)
            if result.outcome == "created":
                return "created"
            if result.outcome == "rejected":    # checked() should have caught it already
                raise Unprocessable("the order cannot be stored", detail=result.problems)
            # another delivery stored it between our read and our insert: update it instead
            order = _locked(channel.id, draft.external_id)
        if _is_stale(order, draft):
            return "stale"
        if draft.cancelled:
            return _cancel(order, draft.source_updated_at, actor, now, settings)
        if order.status == lifecycle.CANCELLED:
            return _after_cancel(order, draft, actor, now)
        return _update(channel, order, draft, actor, now, settings)


def checked(draft: OrderDraft) -> OrderDraft:
    """`draft`, or Unprocessable (422) when no table could hold it (too long, too large,
    dates beyond what can be stored): refused before anything is written."""
    problems = [p.to_dict() for p in storage_problems(draft)]
    if problems:
        first = problems[0]
        raise Unprocessable(first["message"], code=first["code"], field=first["field"],
                            detail=problems)
    return draft


def cancel_external(channel: ChannelRef, external_id: str, actor: str, *,
                    settings: Config) -> str:
    """The storefront deleted or cancelled an order it names only by id (WooCommerce's
    order.deleted may carry nothing else). 'unknown_order' when we never stored it."""
    now = clock.now()
    with store_db.write_tx():
        order = _locked(channel.id, external_id)
        if order is None:
            return "unknown_order"
        return _cancel(order, None, actor, now, settings)


def order_id_for(channel_id: int, external_id: str) -> int | None:
    """The stored order's id, if there is one."""
    row = execute("SELECT id FROM sales_order WHERE channel_id = ? AND external_id = ?",
                  (channel_id, external_id)).fetchone()
    return row[0] if row else None


def _locked(channel_id: int, external_id: str) -> Order | None:
    """The stored order, its row locked on PostgreSQL so two deliveries for one order take
    turns (SQLite's BEGIN IMMEDIATE already serialises every writer)."""
    q = Order.select().where((Order.channel == channel_id) & (Order.external_id == external_id))
    if store_db.is_postgres():
        q = q.for_update()
    return q.first()


def _is_stale(order: Order, draft: OrderDraft) -> bool:
    """Older than the view already applied (equal times are applied: same-second updates)."""
    return bool(draft.source_updated_at and order.source_updated_at
                and draft.source_updated_at < order.source_updated_at)


def _touch(order: Order, seen: dt.datetime | None, now: dt.datetime) -> None:
    """Remember the newest view seen, so an older delivery arriving later is stale."""
    if seen is not None and order.source_updated_at != seen:
        Order.update(source_updated_at=clock.naive_utc(seen), updated_at=clock.naive_utc(now)).where(
            Order.id == order.id).execute()


def _cancel(order: Order, seen: dt.datetime | None, actor: str, now: dt.datetime,
            settings: Config) -> str:
    """Cancel and release the stock, unless the parcel is packed or gone: then a person
    must stop it (or arrange a return), so only an exception is opened."""
    _touch(order, seen, now)
    if order.status == lifecycle.CANCELLED:
        return "unchanged"
    if order.status not in lifecycle.CANCELLABLE:
        _open_once("cancel_after_pack",
                   f"the storefront cancelled order {order.ref} but it is already {order.status}",
                   order.id, {"status": order.status}, actor, now)
        return "exception"
    orders.cancel(order.id, actor, reason="cancelled by the storefront", settings=settings)
    return "cancelled"


def _after_cancel(order: Order, draft: OrderDraft, actor: str, now: dt.datetime) -> str:
    """A cancelled order stays cancelled; if the storefront now says it is paid, money was
    taken for an order we will not ship, and a person must sort that out."""
    _touch(order, draft.source_updated_at, now)
    if draft.paid and not order.paid:
        _open_once("paid_after_cancel",
                   f"the storefront reports order {order.ref} paid, but it was cancelled here",
                   order.id, {"status": order.status}, actor, now)
        return "exception"
    return "unchanged"


def _open_once(type_: str, message: str, order_id: int, detail: object, actor: str,
               now: dt.datetime) -> None:
    """Open an exception unless the same one is already open (storefronts resend updates)."""
    text = json.dumps(detail, ensure_ascii=False, default=str)
    if not WmsException.select().where(
            (WmsException.order == order_id) & (WmsException.type == type_)
            & (WmsException.state.in_(exceptions.ACTIVE))
            & (WmsException.detail == text)).exists():
        exceptions.open_exception(type_, message, order_id=order_id, detail=detail, now=now,
                                  actor=actor)


def _update(channel: ChannelRef, order: Order, draft: OrderDraft, actor: str,
            now: dt.datetime, cfg: Config) -> str:
    """Plan every change the order's status allows, then write it."""
    products = dict(select_in("SELECT sku, id FROM product WHERE sku IN ({in})",
                              sorted({ln.sku for ln in draft.lines})))
    problems = validate_order(draft, products, channel_currency=channel.currency,
                              total_tolerance=cfg.intake.total_tolerance)
    if problems:  # keep the last good version; a person decides what to do with this one
        _touch(order, draft.source_updated_at, now)
        if order.status == lifecycle.INVALID:   # still invalid: its invalid_order is open
            return "unchanged"
        _open_once("invalid_update", f"the storefront's update of order {order.ref} is invalid: "
                   + "; ".join(p.message for p in problems), order.id,
                   {"problems": [p.to_dict() for p in problems]}, actor, now)
        return "exception"
    plan = _Plan()
    _plan_label(plan, order, draft, actor, now)
    _plan_method(plan, order, draft, actor, now)
    _plan_lines(plan, order, draft, actor, now)
    plan.change(order, {"note": draft.note, "priority": draft.priority,
                        "ship_email": draft.ship_to.email,
                        "payment_method": draft.payment_method})
    if draft.paid and not order.paid:   # never back to unpaid: a refund is after-sales work
        plan.change(order, {"paid": True})
        plan.settle = plan.settle or order.status == lifecycle.AWAITING_PAYMENT
    if order.status == lifecycle.INVALID:  # it validates now: store it afresh and reserve
        plan.replace_lines = plan.settle = True
        plan.change(order, {"problems": ""})
    _write(plan, channel, order, draft, products, actor, now, cfg)
    if plan.exception:
        return "exception"
    return "updated" if plan.before else "unchanged"


def _plan_method(plan: _Plan, order: Order, draft: OrderDraft, actor: str,
                 now: dt.datetime) -> None:
    """A new shipping method: before waving, the carrier service is chosen again (a
    supervisor's choice too); after that, an exception and the service stays."""
    method = json.dumps(list(draft.shipping_method), ensure_ascii=False) \
        if draft.shipping_method else ""
    if (order.shipping_method or "") == method:
        return
    if order.status not in lifecycle.EDITABLE:
        plan.exception = True
        _open_once("carrier_changed_after_wave",
                   f"the storefront changed the shipping method of order {order.ref} while "
                   f"it is {order.status}; its carrier service is kept", order.id,
                   {"old": order.shipping_method, "new": method}, actor, now)
        return
    plan.change(order, {"shipping_method": method, "carrier_service": "",
                        "carrier_source": ""})
    plan.settle = True


def _plan_label(plan: _Plan, order: Order, draft: OrderDraft, actor: str,
                now: dt.datetime) -> None:
    """A new address (or carrier): applied before picking; after that, an exception and the
    old address stays, so no label changes without a person knowing."""
    s = draft.ship_to
    new = dict(zip(LABEL_COLUMNS, (s.name, s.phone, s.address1, s.address2, s.city,
                                   s.postcode, s.country, s.region, draft.carrier)))
    diff = {k: (getattr(order, k), v) for k, v in new.items() if getattr(order, k) != v}
    if not diff:
        return
    if order.status in lifecycle.PICK_STARTED:
        plan.exception = True
        _open_once("address_changed_after_pick",
                   f"the storefront changed the address of order {order.ref} after picking "
                   f"began ({order.status}); the old address is kept",
                   order.id, {"old": {k: o for k, (o, _) in diff.items()},
                              "new": {k: n for k, (_, n) in diff.items()}}, actor, now)
        return
    plan.change(order, {**new, "phone_key": phone_key(s.phone), "address_key": address_key(s),
                        "ship_original": intake.ship_original(draft)})
    if DESTINATION_COLUMNS & diff.keys() and order.status in lifecycle.EDITABLE:
        plan.release = plan.settle = True


def _stored_lines(order_id: int) -> list[list]:
    rows = execute("SELECT sku, quantity FROM order_line WHERE order_id = ? ORDER BY line_no",
                   (order_id,)).fetchall()
    return [[sku, qty] for sku, qty in rows]


def _plan_lines(plan: _Plan, order: Order, draft: OrderDraft, actor: str,
                now: dt.datetime) -> None:
    """New lines (compared as a multiset of sku × quantity): replaced while the order is
    editable, an exception once it is on a wave or being picked."""
    editable = order.status in lifecycle.EDITABLE
    if editable:  # amounts are storefront facts; they follow the lines they describe
        cur = draft.currency
        plan.change(order, {
            "total_minor": to_minor(draft.total, cur) if draft.total is not None else None,
            "shipping_minor": to_minor(draft.shipping, cur),
            "discount_minor": to_minor(draft.discount, cur)})
    old = _stored_lines(order.id)
    new = [[ln.sku, ln.quantity] for ln in draft.lines]
    if Counter(map(tuple, old)) == Counter(map(tuple, new)):
        return
    if not editable:
        plan.exception = True
        kind = "pick" if order.status in lifecycle.PICK_STARTED else "wave"
        _open_once(f"lines_changed_after_{kind}",
                   f"the storefront changed the lines of order {order.ref} while it is "
                   f"{order.status}; the old lines are kept", order.id,
                   {"old": old, "new": new}, actor, now)
        return
    plan.replace_lines = plan.release = plan.settle = True
    plan.before["lines"], plan.after["lines"] = old, new


def _write(plan: _Plan, channel: ChannelRef, order: Order, draft: OrderDraft,
           products: dict[str, int], actor: str, now: dt.datetime, settings: Config) -> None:
    """Release, replace lines, write the columns, reserve again, offer freed stock on."""
    freed: set[int] = set()
    if plan.release or plan.replace_lines:
        freed = release_order(order.id, actor, now)  # allocations go before their lines
        plan.values["warehouse"] = None              # reserve anew from the best warehouse
    if plan.replace_lines:
        execute("DELETE FROM order_line WHERE order_id = ?", (order.id,))
        insert_many("order_line", intake.LINE_COLUMNS,
                    intake.line_rows(order.id, draft, products))
    if plan.replace_lines and plan.settle:
        _plan_risk(plan, order, draft, actor, now, settings)
    values = {**plan.values, "updated_at": clock.naive_utc(now)}
    if draft.source_updated_at is not None:
        values["source_updated_at"] = clock.naive_utc(draft.source_updated_at)
    Order.update(**values).where(Order.id == order.id).execute()
    if plan.settle:
        orders.settle(Order.get_by_id(order.id), actor, now, settings=settings)
    if freed:
        from .stock import reserve_backorders   # stock imports reservation, as we do
        reserve_backorders(freed, actor, now, settings=settings)
    if plan.before:
        audit.write([audit.row(now, actor, "order.updated", "order", order.id,
                               plan.before, plan.after, {"ref": order.ref})])
    if order.status == lifecycle.INVALID and plan.settle:
        exceptions.resolve_for_order(order.id, "invalid_order", actor, now)


def _plan_risk(plan: _Plan, order: Order, draft: OrderDraft, actor: str,
               now: dt.datetime, settings: Config) -> None:
    """New lines are assessed like a new order; a new reason adds to the hold."""
    rules = settings.risk
    held = [r for r in (order.hold_reason or "").split("; ") if r]
    fresh = [r for r in assess(draft, rules) if r not in held]
    if fresh:
        plan.change(order, {"hold_reason": "; ".join(held + fresh)})
        _open_once("risk_hold", "; ".join(fresh), order.id, fresh, actor, now)

