"""Opening a pack session on the order a scan names (or reopening the packer's own), and
the packer's and supervisor's actions on a live one: hold, release, cancel. `in_session`
and `hold_session` are the two steps every action on a session shares (verification,
cartons and weight use them too)."""
from __future__ import annotations

import datetime as dt
import json
from typing import Callable

from ... import clock
from ...config import Config
from ...domain import lifecycle
from ...domain.errors import Conflict, Forbidden, NotFound
from ...domain.totes import parse_label
from ...store.db import execute, write_tx
from .. import audit
from ..exceptions import open_exception, resolve_for_order
from ._common import Packer, SessionRow, check_live, check_mine, load_session, naive, row_lock
from .stations import station
from .view import session_view

# the exception types a hold opens, resolved together by a release
HOLD_EXCEPTIONS = ("pack_wrong_items", "pack_check_failed", "pack_weight", "pack_hold")


def in_session(packer: Packer, session_id: int,
               act: Callable[[SessionRow, dt.datetime], None], *, settings: Config) -> dict:
    """One locked write transaction on a live session of this packer: `act(session, now)`,
    then the session as it is after (read inside the same transaction)."""
    now = clock.now()
    with write_tx():
        s = load_session(session_id, lock=True)
        check_mine(packer, s)
        check_live(s)
        act(s, now)
        execute("UPDATE pack_session SET updated_at = ? WHERE id = ?", (naive(now), s.id))
        return session_view(s.id, settings=settings)


def hold_session(s: SessionRow, packer: Packer, reason: str, exception_type: str,
                 now: dt.datetime, code: str, params: dict) -> None:
    """Hold the session: `reason` is the English sentence (API, audit, exception), `code`
    and `params` what the station pages word in their language (pack i18n `hold.<code>`)."""
    at = naive(now)
    execute("UPDATE pack_session SET state = 'held', hold_reason = ?, hold_code = ?, "
            "hold_params = ?, held_at = ?, updated_at = ? WHERE id = ?",
            (reason, code, json.dumps(params, ensure_ascii=False), at, at, s.id))
    open_exception(exception_type, f"order {s.ref} held at station {s.station}: {reason}",
                   order_id=s.order_id, detail={"session": s.id, "station": s.station},
                   now=at, actor=packer.actor)
    audit.write([audit.row(now, packer.actor, "pack.hold", "pack_session", s.id, s.state,
                           "held", {"reason": reason})])
    s.state, s.hold_reason = "held", reason
    s.hold_code, s.hold_params = code, json.dumps(params, ensure_ascii=False)


# ---- opening ----------------------------------------------------------------------------

def _order_for_scan(scan: str) -> int:
    text = scan.strip()
    if text.startswith("#") and text[1:].isdigit():
        row = execute("SELECT id FROM sales_order WHERE id = ?", (int(text[1:]),)).fetchone()
        if row:
            return row[0]
    rows = execute("SELECT id, status FROM sales_order WHERE ref = ? ORDER BY id",
                   (text,)).fetchall()
    if len(rows) > 1:
        rows = [r for r in rows if r[1] == lifecycle.PICKED] or rows
        if len(rows) > 1:
            raise Conflict(f"{len(rows)} orders carry the reference {text!r}: scan the order "
                           f"number (#id) from the packing slip", code="ambiguous_order",
                           field="scan")
    if rows:
        return rows[0][0]
    row = execute("SELECT order_id FROM tote WHERE barcode = ? ORDER BY id DESC LIMIT 1",
                  (text,)).fetchone()
    if row:
        return row[0]
    label = parse_label(text)
    if label is not None:
        return _order_on_cart(label.cart_id, label.slot)
    raise NotFound(f"no order or tote {text!r}", code="not_found", field="scan")


def _order_on_cart(cart_id: int, slot: int | None) -> int:
    """A tote slot label names its order; a cart label the first order of the cart (by
    slot) that is picked and not being packed."""
    if slot is not None:
        row = execute("SELECT order_id FROM tote WHERE cart_id = ? AND slot = ?",
                      (cart_id, slot)).fetchone()
        if row is None:
            raise NotFound(f"cart {cart_id} has no tote {slot}", code="not_found",
                           field="scan")
        return row[0]
    row = execute("SELECT tt.order_id FROM tote tt JOIN sales_order o ON o.id = tt.order_id "
                  "WHERE tt.cart_id = ? AND o.status = ? AND NOT EXISTS (SELECT 1 FROM "
                  "pack_session s WHERE s.order_id = o.id AND s.state IN ('open', 'held')) "
                  "ORDER BY tt.slot LIMIT 1", (cart_id, lifecycle.PICKED)).fetchone()
    if row is None:
        raise NotFound(f"no order of cart {cart_id} is waiting to be packed",
                       code="cart_empty", field="scan", detail={"cart": cart_id})
    return row[0]


def open_session(packer: Packer, station_name: str, scan: str, *,
                 settings: Config) -> tuple[dict, bool]:
    """Open (or reopen) the packing of the order a tote / pick slip / order number names.
    Returns (session, created)."""
    st = station(station_name, settings=settings)
    now = clock.now()
    with write_tx():
        order_id = _order_for_scan(scan)
        order = execute("SELECT o.status, o.ref, w.code FROM sales_order o LEFT JOIN warehouse w "
                        "ON w.id = o.warehouse_id WHERE o.id = ?" + row_lock("o"),
                        (order_id,)).fetchone()
        status, ref, warehouse = order
        live = execute("SELECT id, station, packer_id FROM pack_session WHERE order_id = ? AND "
                       "state IN ('open', 'held')", (order_id,)).fetchone()
        if live:
            if live[1] == st.name and (live[2] == packer.user_id or packer.supervisor):
                return session_view(live[0], settings=settings), False
            raise Conflict(f"order {ref} is being packed at station {live[1]}",
                           code="already_packing", field="scan",
                           detail={"station": live[1], "session": live[0]})
        if status != lifecycle.PICKED:
            raise Conflict(f"order {ref} is {status}; only picked orders can be packed",
                           code="not_picked", field="scan", detail={"status": status})
        if warehouse and warehouse != st.warehouse:
            raise Conflict(f"order {ref} ships from warehouse {warehouse}, station {st.name} "
                           f"is in {st.warehouse}", code="wrong_warehouse", field="station")
        busy = execute("SELECT id FROM pack_session WHERE station = ? AND state = 'open'",
                       (st.name,)).fetchone()
        if busy:
            raise Conflict(f"station {st.name} is packing session {busy[0]}: confirm, hold or "
                           f"cancel it first", code="station_busy", field="station",
                           detail={"session": busy[0]})
        at = naive(now)
        session_id = execute(
            "INSERT INTO pack_session (station, order_id, packer_id, state, opened_by_scan, "
            "created_at, updated_at) VALUES (?, ?, ?, 'open', ?, ?, ?) RETURNING id",
            (st.name, order_id, packer.user_id, scan[:120], at, at)).fetchone()[0]
        audit.write([audit.row(now, packer.actor, "pack.open", "pack_session", session_id, "",
                               "open", {"order": order_id, "station": st.name})])
        return session_view(session_id, settings=settings), True


# ---- hold, release, cancel ----------------------------------------------------------------

def hold(packer: Packer, session_id: int, reason: str, *, settings: Config) -> dict:
    """Hold the session by hand, for a supervisor."""
    def act(s: SessionRow, now: dt.datetime) -> None:
        if s.state == "held":
            raise Conflict(f"pack session {s.id} is already held", code="session_held")
        hold_session(s, packer, reason, "pack_hold", now, "by_hand", {"reason": reason})

    return in_session(packer, session_id, act, settings=settings)


def release(packer: Packer, session_id: int, note: str, *, settings: Config) -> dict:
    """A supervisor releases a held session: packing goes on, its hold exceptions are
    resolved and the wrong-scan count starts afresh."""
    if not packer.supervisor:
        raise Forbidden("only a supervisor can release a held order", code="supervisor_only")

    def act(s: SessionRow, now: dt.datetime) -> None:
        if s.state != "held":
            raise Conflict(f"pack session {s.id} is not held", code="not_held")
        at = naive(now)
        execute("UPDATE pack_session SET state = 'open', hold_reason = '', hold_code = '', "
                "hold_params = '', released_by = ?, updated_at = ? WHERE id = ?",
                (packer.actor, at, s.id))
        for kind in HOLD_EXCEPTIONS:
            resolve_for_order(s.order_id, kind, packer.actor, at)
        audit.write([audit.row(now, packer.actor, "pack.release", "pack_session", s.id, "held",
                               "open", {"note": note, "reason": s.hold_reason})])

    return in_session(packer, session_id, act, settings=settings)


def cancel(packer: Packer, session_id: int, *, settings: Config) -> dict:
    """Stop packing: the order stays picked, its verified units are forgotten."""
    def act(s: SessionRow, now: dt.datetime) -> None:
        execute("UPDATE pack_session SET state = 'cancelled', closed_at = ? WHERE id = ?",
                (naive(now), s.id))
        audit.write([audit.row(now, packer.actor, "pack.cancel", "pack_session", s.id, s.state,
                               "cancelled")])

    return in_session(packer, session_id, act, settings=settings)
