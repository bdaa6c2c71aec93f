"""Order life cycle: the states and the only moves between them (a pure state machine)."""
from __future__ import annotations

from .errors import BadTransition

RECEIVED = "received"
AWAITING_PAYMENT = "awaiting_payment"
ON_HOLD = "on_hold"
INVALID = "invalid"
READY = "ready"
BACKORDERED = "backordered"
WAVED = "waved"
PICKING = "picking"
PICKED = "picked"
PACKED = "packed"
SHIPPED = "shipped"
DELIVERED = "delivered"
CLOSED = "closed"
CANCELLED = "cancelled"

STATUSES = (RECEIVED, AWAITING_PAYMENT, ON_HOLD, INVALID, READY, BACKORDERED, WAVED, PICKING,
            PICKED, PACKED, SHIPPED, DELIVERED, CLOSED, CANCELLED)

TRANSITIONS: dict[str, frozenset[str]] = {
    RECEIVED: frozenset({AWAITING_PAYMENT, ON_HOLD, INVALID, READY, BACKORDERED, CANCELLED}),
    AWAITING_PAYMENT: frozenset({ON_HOLD, READY, BACKORDERED, CANCELLED, INVALID}),
    ON_HOLD: frozenset({READY, BACKORDERED, AWAITING_PAYMENT, CANCELLED, INVALID}),
    INVALID: frozenset({AWAITING_PAYMENT, ON_HOLD, READY, BACKORDERED, CANCELLED}),
    READY: frozenset({WAVED, BACKORDERED, ON_HOLD, CANCELLED}),
    BACKORDERED: frozenset({READY, ON_HOLD, CANCELLED}),
    WAVED: frozenset({PICKING, READY, CANCELLED}),
    PICKING: frozenset({PICKED, BACKORDERED, CANCELLED}),
    PICKED: frozenset({PACKED, CANCELLED}),
    PACKED: frozenset({SHIPPED}),
    SHIPPED: frozenset({DELIVERED, CLOSED}),
    DELIVERED: frozenset({CLOSED}),
    CLOSED: frozenset(),
    CANCELLED: frozenset(),
}

# Stock is held for these (unpaid and held orders too, so payment never finds it gone);
# cancelling them releases it.
HOLDS_STOCK = frozenset({AWAITING_PAYMENT, ON_HOLD, READY, BACKORDERED, WAVED, PICKING, PICKED})
# Picking has begun: the parcel's contents and address are being acted on.
PICK_STARTED = frozenset({PICKING, PICKED, PACKED, SHIPPED, DELIVERED, CLOSED})
# The order can still be changed by the storefront without an exception.
EDITABLE = frozenset({RECEIVED, AWAITING_PAYMENT, ON_HOLD, INVALID, READY, BACKORDERED})
CANCELLABLE = frozenset(s for s, nxt in TRANSITIONS.items() if CANCELLED in nxt)


def can_move(current: str, new: str) -> bool:
    return new == current or new in TRANSITIONS.get(current, frozenset())


def check_move(current: str, new: str) -> str:
    """Return `new` if the move is allowed, else raise BadTransition."""
    if not can_move(current, new):
        raise BadTransition(f"an order that is {current} cannot become {new}",
                            detail={"from": current, "to": new})
    return new


def after_intake(*, invalid: bool, paid: bool, hold: bool, fully_reserved: bool | None) -> str:
    """The state an order reaches on intake (or re-evaluation), in the order rules apply:
    invalid first, then unpaid, then a risk hold, then what the stock allowed."""
    if invalid:
        return INVALID
    if not paid:
        return AWAITING_PAYMENT
    if hold:
        return ON_HOLD
    return READY if fully_reserved else BACKORDERED
