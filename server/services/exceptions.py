"""Exceptions: every failure a person must act on, with a type, an owner and a state."""
from __future__ import annotations

import datetime as dt
import json

from ..store.models import WmsException
from . import audit


def open_exception(type_: str, message: str, *, order_id: int | None = None,
                   detail: object = None, owner_role: str = "supervisor",
                   now: dt.datetime, actor: str = "system",
                   count_task_id: int | None = None) -> int:
    exc = WmsException.create(type=type_, order=order_id, owner_role=owner_role, state="open",
                              count_task_id=count_task_id,
                              message=message,
                              detail=json.dumps(detail, ensure_ascii=False, default=str)
                              if detail is not None else "",
                              created_at=now)
    audit.write([audit.row(now, actor, "exception.open", "exception", exc.id, "", "open",
                           {"type": type_, "order": order_id})])
    return exc.id


def resolve_for_order(order_id: int, type_: str, actor: str, now: dt.datetime) -> None:
    ids = [e.id for e in WmsException.select(WmsException.id).where(
        (WmsException.order == order_id) & (WmsException.type == type_)
        & (WmsException.state == "open"))]
    if not ids:
        return
    WmsException.update(state="resolved", resolved_at=now, resolved_by=actor).where(
        WmsException.id.in_(ids)).execute()
    audit.write([audit.row(now, actor, "exception.resolve", "exception", i, "open", "resolved")
                 for i in ids])


def resolve_for_count(count_task_id: int, actor: str, now: dt.datetime,
                      detail: object = None) -> list[int]:
    """Resolve the open exceptions a cycle count settles (stock discrepancies at its bin);
    returns their ids."""
    ids = [e.id for e in WmsException.select(WmsException.id).where(
        (WmsException.count_task_id == count_task_id) & (WmsException.state == "open"))
        .order_by(WmsException.id)]
    if not ids:
        return []
    WmsException.update(state="resolved", resolved_at=now, resolved_by=actor).where(
        WmsException.id.in_(ids)).execute()
    audit.write([audit.row(now, actor, "exception.resolve", "exception", i, "open", "resolved",
                           {"count": count_task_id, **(detail or {})}) for i in ids])
    return ids


def to_dict(exc: WmsException) -> dict:
    return {"id": exc.id, "type": exc.type, "order_id": exc.order_id, "owner": exc.owner_role,
            "state": exc.state, "message": exc.message,
            "detail": json.loads(exc.detail) if exc.detail else None,
            "created_at": exc.created_at.isoformat()}
