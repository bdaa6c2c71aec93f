"""Audit rows: who (user, token or system), what, before → after, when. Written in the
same transaction as the change they describe."""
from __future__ import annotations

import datetime as dt
import json

from .. import clock, events
from ..store.bulk import insert_many

COLUMNS = ("at", "actor", "action", "entity", "entity_id", "before", "after", "detail")


def row(at: dt.datetime, actor: str, action: str, entity: str, entity_id: object,
        before: object = "", after: object = "", detail: object = "") -> tuple:
    """One audit row as a tuple for write()."""
    return (clock.naive_utc(at), actor, action, entity, str(entity_id), _text(before), _text(after),
            _text(detail))


def write(rows: list[tuple]) -> None:
    insert_many("audit", COLUMNS, rows)
    announce(rows)


# ---- what the floor hears: the trail's changes as after-commit events -------------------------
# Every change of an order's status, a wave's or cart's, or an exception's writes an audit
# row in its own transaction; the supervisors' consoles (sockets/console.py) are told of
# them from those rows, so no use case needs its own publish and no query is added.

ORDER_STATUS = "order.status"        # {orders: [{order_id, from, to}], count, warehouse?}
WAVE_CHANGED = "wave.changed"        # {waves: [{wave_id, action, from, to}], carts: [...]}
EXCEPTION_CHANGED = "exception.changed"  # {exceptions: [{exception_id, action, from, to}], count}
ANNOUNCED_MAX = 200                  # entries in one event; `count` says how many there were

_ORDER_ACTIONS = ("order.status", "order.received", "order.close")


def announce(rows: list[tuple], warehouse: str | None = None) -> None:
    """Publish order.status, wave.changed and exception.changed for the audit `rows` (held
    until the surrounding transaction commits). `warehouse` when the caller knows it."""
    orders, waves, carts, excs = [], [], [], []
    for _at, _actor, action, entity, entity_id, before, after, detail in rows:
        if entity == "order" and action in _ORDER_ACTIONS:
            orders.append({"order_id": _int(entity_id), "from": before or None, "to": after})
        elif entity == "wave":
            waves.append({"wave_id": _int(entity_id), "action": action,
                          "from": before or None, "to": after})
        elif entity == "cart":
            carts.append({"cart_id": _int(entity_id), "action": action,
                          "from": before or None, "to": after})
        elif entity == "exception":
            excs.append({"exception_id": _int(entity_id), "action": action,
                         "from": before or None, "to": after})
    where = {"warehouse": warehouse} if warehouse else {}
    if orders:
        events.publish(ORDER_STATUS, orders=orders[:ANNOUNCED_MAX], count=len(orders), **where)
    if waves or carts:
        events.publish(WAVE_CHANGED, waves=waves[:ANNOUNCED_MAX],
                       carts=carts[:ANNOUNCED_MAX], count=len(waves) + len(carts), **where)
    if excs:
        events.publish(EXCEPTION_CHANGED, exceptions=excs[:ANNOUNCED_MAX], count=len(excs))


def _int(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))

