"""A bin as the console shows it (each SKU's on hand, reserved, available; blocked and a
pending count), its movements (the stock audit trail, newest first, keyset-paged), and a
supervisor's stock adjustment with a reason (issue 15 §1).

An adjustment is idempotent by the client's key (stock_adjustment.client_key UNIQUE, with
the request's hash): a retry answers the first result and changes nothing; the same key
for another adjustment is a 409. It never takes a bin below what is reserved there (409
below_reserved, nothing changed); stock going up is offered to backorders first, as goods
received and restocked returns are."""
from __future__ import annotations

from peewee import IntegrityError

from .. import clock
from ..config import Config
from ..domain import adjustments as rules
from ..domain.errors import Conflict, NotFound, Unprocessable
from ..domain.locations import parse_location
from ..store import db as store_db
from ..store.db import execute
from ..store.retry import retry_transaction
from . import stock as stock_svc
from .order_history import audit_value

PAGE_MAX = 200


def _iso(value) -> str | None:
    t = clock.aware_utc(value)
    return t.isoformat() if t is not None else None


def find_location(warehouse: str | None, code: str) -> tuple[int, str, str, str | None]:
    """(location id, warehouse code, location code, blocked) of a bin; without a warehouse
    the code must name one bin in one warehouse."""
    try:
        canonical = parse_location(code).code
    except ValueError as err:
        raise Unprocessable(str(err), code="bad_location", field="location") from err
    sql = ("SELECT l.id, w.code, l.code, l.blocked FROM location l "
           "JOIN warehouse w ON w.id = l.warehouse_id WHERE l.code = ?")
    params: tuple = (canonical,)
    if warehouse:
        sql += " AND w.code = ?"
        params += (warehouse,)
    rows = execute(sql + " ORDER BY w.code LIMIT 10", params).fetchall()
    if not rows:
        where = f" in warehouse {warehouse}" if warehouse else ""
        raise NotFound(f"no location {canonical}{where}", code="unknown_location",
                       field="location")
    if len(rows) > 1:
        raise Unprocessable(f"location {canonical} is in several warehouses "
                            f"({', '.join(r[1] for r in rows)}): say which",
                            code="ambiguous_location", field="warehouse")
    return tuple(rows[0])


def bin_view(warehouse: str | None, location: str) -> dict:
    """Every SKU in one bin with its numbers; a blocked bin shows nothing available."""
    loc_id, wh, code, blocked = find_location(warehouse, location)
    count = execute("SELECT id, reason, created_at FROM count_task WHERE location_id = ? "
                    "AND state = 'open'", (loc_id,)).fetchone()
    rows = execute(
        "SELECT p.sku, p.name, s.on_hand, s.reserved, s.min_qty, s.updated_at FROM stock s "
        "JOIN product p ON p.id = s.product_id WHERE s.location_id = ? ORDER BY p.sku",
        (loc_id,)).fetchall()
    return {"warehouse": wh, "location": code, "blocked": blocked,
            "count_pending": {"id": count[0], "reason": count[1],
                              "created_at": _iso(count[2])} if count else None,
            "items": [{"sku": sku, "name": name, "on_hand": oh, "reserved": r,
                       "available": 0 if blocked else oh - r, "min_qty": mn,
                       "updated_at": _iso(upd)}
                      for sku, name, oh, r, mn, upd in rows]}


def movements(warehouse: str | None, location: str, *, cursor: int | None = None,
              limit: int = 50) -> tuple[dict, str | None]:
    """The bin's audit trail newest first: each stock row's and the location's own (block,
    unblock), one keyset query per row on audit (entity, entity_id, id), merged."""
    loc_id, wh, code, _ = find_location(warehouse, location)
    subjects = [("stock", str(sid), sku) for sid, sku in execute(
        "SELECT s.id, p.sku FROM stock s JOIN product p ON p.id = s.product_id "
        "WHERE s.location_id = ?", (loc_id,)).fetchall()]
    subjects.append(("location", str(loc_id), None))
    rows = []
    below = " AND id < ?" if cursor else ""
    for entity, eid, sku in subjects:
        params = (entity, eid) + ((cursor,) if cursor else ()) + (limit + 1,)
        rows += [(r, sku) for r in execute(
            "SELECT id, at, actor, action, before, after, detail FROM audit "
            f"WHERE entity = ? AND entity_id = ?{below} ORDER BY id DESC LIMIT ?",
            params).fetchall()]
    rows.sort(key=lambda x: x[0][0], reverse=True)
    more = len(rows) > limit
    rows = rows[:limit]
    page = [{"id": rid, "at": _iso(at), "actor": actor, "action": action, "sku": sku,
             "before": audit_value(before), "after": audit_value(after), "detail": audit_value(detail)}
            for (rid, at, actor, action, before, after, detail), sku in rows]
    return ({"warehouse": wh, "location": code, "movements": page},
            str(rows[-1][0][0]) if more else None)


_ADJ_FIELDS = ("id", "client_key", "warehouse", "location", "sku", "before", "after",
               "reason", "note", "orders_reserved", "created_by", "created_at")


def _adjustment(where: str, params: tuple) -> dict | None:
    row = execute(
        "SELECT a.id, a.client_key, w.code, l.code, p.sku, a.before_qty, a.after_qty, "
        "a.reason, a.note, a.orders_reserved, a.created_by, a.created_at, a.request_hash "
        "FROM stock_adjustment a JOIN warehouse w ON w.id = a.warehouse_id "
        "JOIN location l ON l.id = a.location_id JOIN product p ON p.id = a.product_id "
        f"WHERE {where}", params).fetchone()
    if row is None:
        return None
    out = dict(zip(_ADJ_FIELDS, row[:-1]))
    out["created_at"] = _iso(out["created_at"])
    out["delta"] = out["after"] - out["before"]
    out["request_hash"] = row[-1]
    return out


def _answer(adj: dict, replayed: bool) -> dict:
    out = {k: v for k, v in adj.items() if k != "request_hash"}
    view = bin_view(adj["warehouse"], adj["location"])
    out["stock"] = next((i for i in view["items"] if i["sku"] == adj["sku"]), None)
    out["replayed"] = replayed
    return out


def _replay(client_key: str, request_hash: str) -> dict | None:
    found = _adjustment("a.client_key = ?", (client_key,))
    if found is None:
        return None
    if found["request_hash"] != request_hash:
        raise Conflict("this client_key was already used for a different adjustment",
                       code="client_key_conflict", field="client_key")
    return _answer(found, replayed=True)


def adjust(*, client_key: str, warehouse: str | None, location: str, sku: str,
           counted: int | None, delta: int | None, reason: str, note: str, actor: str,
           settings: Config) -> dict:
    """Set a bin's on-hand of one SKU to what was counted, or move it by `delta`, with a
    reason; audited (stock.adjust), idempotent by `client_key`."""
    if (counted is None) == (delta is None):
        raise Unprocessable("give counted or delta, not both", code="counted_or_delta",
                            field="counted")
    if delta == 0:
        raise Unprocessable("delta must not be 0", code="bad_quantity", field="delta")
    if reason not in rules.REASONS:
        raise Unprocessable(f"reason must be one of {', '.join(rules.REASONS)}",
                            code="bad_reason", field="reason")
    note = (note or "").strip()
    if reason in rules.NOTE_REQUIRED and not note:
        raise Unprocessable(f"a note is required with reason {reason}", code="note_required",
                            field="note")
    loc_id, wh, code, _ = find_location(warehouse, location)
    fingerprint = rules.request_hash({"warehouse": wh, "location": code, "sku": sku,
                                      "counted": counted, "delta": delta, "reason": reason,
                                      "note": note})
    done = _replay(client_key, fingerprint)
    if done is not None:
        return done

    def once() -> dict:
        now = clock.now()
        with store_db.write_tx():
            again = _replay(client_key, fingerprint)
            if again is not None:
                return again
            pid = stock_svc._product_id(sku)
            row = execute("SELECT on_hand, reserved FROM stock WHERE location_id = ? "
                          "AND product_id = ?", (loc_id, pid)).fetchone()
            before, reserved = row if row else (0, 0)
            after = rules.target(before, counted=counted, delta=delta)
            if after < reserved or after < 0:
                raise Conflict(
                    f"{sku} at {code}: {after} on hand would be less than the {reserved} "
                    f"reserved there (on hand now {before}); release or pick those first",
                    code="below_reserved", field="counted" if counted is not None else "delta",
                    detail={"on_hand": before, "reserved": reserved, "after": after})
            row = stock_svc.change_stock(wh, code, sku, set_to=after, actor=actor, now=now,
                                         reason="adjust",
                                         detail={"reason": reason, "note": note,
                                                 "client_key": client_key})
            filled = stock_svc.reserve_backorders([pid], actor, now, settings=settings) \
                if after > before else 0
            execute("INSERT INTO stock_adjustment (client_key, request_hash, warehouse_id, "
                    "location_id, product_id, stock_id, before_qty, after_qty, reason, note, "
                    "orders_reserved, created_by, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (client_key, fingerprint, row.warehouse_id, loc_id, pid, row.id, before,
                     after, reason, note, filled, actor, clock.naive_utc(now)))
        return _answer(_adjustment("a.client_key = ?", (client_key,)), replayed=False)

    try:
        return retry_transaction(once, what="stock adjustment")
    except IntegrityError:          # a racing twin with the same key committed first
        done = _replay(client_key, fingerprint)
        if done is None:
            raise
        return done
