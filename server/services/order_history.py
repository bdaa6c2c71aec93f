"""Order search and an order's whole history, for the supervisors' console (issue 15 §1).

Search: one text box finds orders by ref, customer e-mail, phone or name (by its start),
tracking number (outbound parcels and return labels) or SKU. Each kind of match is one
query on its own index with the same keyset (`id < cursor ORDER BY id DESC LIMIT n + 1`,
migration 0026); the pages merge them, newest order first. No query scans the orders.

Timeline: what the audit trail says about the order and everything that belongs to it
(pack sessions, shipments, print jobs, returns, outbox messages, exceptions), and the rows
that are themselves the record (handheld scans with picker and device, packing scans,
tracking events), in time order."""
from __future__ import annotations

import json
import re
from typing import Iterable

from .. import clock
from ..domain.errors import BadRequest, NotFound
from ..domain.orders import phone_key
from ..store import db as store_db
from ..store.bulk import select_in
from ..store.db import execute
from .exceptions import parse_cursor  # noqa: F401  (the same keyset cursor)

PAGE_MAX = 100
MAX_QUERY = 200
TIMELINE_MAX = 5000          # rows per source: a runaway order still answers
_ORDER_FIELDS = ("id", "ref", "status", "channel", "placed_at", "customer", "email",
                 "country", "warehouse", "ship_by")


def _iso(value) -> str | None:
    t = clock.aware_utc(value)
    return t.isoformat() if t is not None else None


def _ascii_lower(text: str) -> str:
    """lower() as SQLite's built-in does it (ASCII letters only)."""
    return "".join(c.lower() if c.isascii() else c for c in text)


def _prefix_range(prefix: str) -> tuple[str, str]:
    """[lo, hi): every string that starts with `prefix`, in byte (code point) order."""
    last = prefix[-1]
    return prefix, prefix[:-1] + (chr(ord(last) + 1) if ord(last) < 0x10FFFF else last)


def _variants(q: str) -> list[str]:
    out = [q, q.upper()]
    out.append(q[1:] if q.startswith("#") else "#" + q)
    return list(dict.fromkeys(v for v in out if v))


def _match_queries(q: str) -> list[tuple[str, str, tuple]]:
    """(kind, SQL giving order ids `id` with `{below…}` to fill, params) for each kind of
    match that `q` may be; one equality per variant, so that the index gives the rows in
    keyset order (no sort of every match)."""
    pg = store_db.is_postgres()
    upper = list(dict.fromkeys((q, q.upper())))
    out = [("ref", "SELECT id FROM sales_order WHERE ref = ? {below} ORDER BY id DESC", (v,))
           for v in _variants(q)]
    out += [("tracking", "SELECT order_id AS id FROM shipment WHERE tracking = ? "
                         "{below_order} ORDER BY order_id DESC", (v,)) for v in upper]
    out += [("return_tracking", "SELECT order_id AS id FROM return_request WHERE "
                                "return_tracking = ? AND order_id IS NOT NULL {below_order} "
                                "ORDER BY order_id DESC", (v,)) for v in upper]
    out += [("sku", "SELECT order_id AS id FROM order_line WHERE sku = ? {below_order} "
                    "ORDER BY order_id DESC", (v,)) for v in upper]
    if "@" in q:
        out.append(("email", "SELECT id FROM sales_order WHERE lower(ship_email) = ? {below} "
                             "ORDER BY id DESC", (q.lower() if pg else _ascii_lower(q),)))
    digits = phone_key(q)
    if len(digits) >= 6 and re.fullmatch(r"[+\d\s().\-/]+", q):
        out.append(("phone", "SELECT id FROM sales_order WHERE phone_key = ? {below_plus} "
                             "ORDER BY id DESC", (digits,)))
    if len(q) >= 2 and not q.isdigit():
        lo, hi = _prefix_range(q.lower() if pg else _ascii_lower(q))
        col = 'lower(ship_name) COLLATE "C"' if pg else "lower(ship_name)"
        out.append(("name", f"SELECT id FROM sales_order WHERE {col} >= ? AND {col} < ? "
                            "{below_plus} ORDER BY id DESC", (lo, hi)))
    return out


def _newest(statement: str, params: tuple, cursor: int | None, want: int) -> list[int]:
    """Up to `want` distinct order ids below `cursor`, newest first (a SKU on two lines
    of one order comes back twice: ask again below the last one seen)."""
    found: list[int] = []
    while len(found) < want:
        below = cursor if not found else found[-1]
        # `+id`: where the index does not hold the id after the key (name, phone), the
        # keyset must not tempt the planner into walking the primary key instead
        sql = (statement.replace("{below}", "AND id < ?" if below else "")
               .replace("{below_plus}", "AND +id < ?" if below else "")
               .replace("{below_order}", "AND order_id < ?" if below else "") + " LIMIT ?")
        batch = [r[0] for r in execute(sql, params + ((below,) if below else ()) + (want,))]
        found += dict.fromkeys(batch)      # all below the last one found: no repeats
        if len(batch) < want:
            break
    return found[:want]


def search(q: str, *, cursor: int | None = None, limit: int = 25) -> tuple[list[dict], str | None]:
    """One page of orders matching `q` (newest first) and the next page's cursor."""
    q = (q or "").strip()
    if not q:
        raise BadRequest("q is required: a ref, customer, phone, e-mail, tracking number or SKU",
                         field="q")
    if len(q) > MAX_QUERY:
        raise BadRequest(f"q is longer than {MAX_QUERY} characters", field="q")
    matched: dict[int, set[str]] = {}
    for kind, statement, params in _match_queries(q):
        for oid in _newest(statement, params, cursor, limit + 1):
            matched.setdefault(oid, set()).add(kind)
    ids = sorted(matched, reverse=True)[:limit + 1]
    more = len(ids) > limit
    ids = ids[:limit]
    rows = {r[0]: r for r in select_in(
        "SELECT o.id, o.ref, o.status, c.name, o.placed_at, o.ship_name, o.ship_email, "
        "o.ship_country, w.code, o.ship_by FROM sales_order o "
        "JOIN channel c ON c.id = o.channel_id LEFT JOIN warehouse w ON w.id = o.warehouse_id "
        "WHERE o.id IN ({in})", ids)} if ids else {}
    page = []
    for oid in ids:
        r = dict(zip(_ORDER_FIELDS, rows[oid]))
        r["placed_at"], r["ship_by"] = _iso(r["placed_at"]), _iso(r["ship_by"])
        r["matched"] = sorted(matched[oid])
        page.append(r)
    return page, (str(ids[-1]) if more else None)


# --- the timeline --------------------------------------------------------------------------

def audit_value(text: str):
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _ids(statement: str, params: tuple) -> list[int]:
    return [r[0] for r in execute(statement + f" LIMIT {TIMELINE_MAX}", params).fetchall()]


def _more(statement: str, ids: list[int]) -> set[int]:
    return {r[0] for r in select_in(statement, ids)} if ids else set()


def _audit_rows(subjects: dict[str, Iterable[int]]) -> list[dict]:
    """Audit rows about these entities (each lookup on audit_entity)."""
    out = []
    for entity, ids in subjects.items():
        keys = [str(i) for i in ids]
        if not keys:
            continue
        for at, actor, action, eid, before, after, detail, rid in select_in(
                "SELECT at, actor, action, entity_id, before, after, detail, id FROM audit "
                f"WHERE entity = '{entity}' AND entity_id IN ({{in}})", keys):
            out.append({"at": _iso(at), "action": action, "actor": actor, "entity": entity,
                        "entity_id": eid, "before": audit_value(before), "after": audit_value(after),
                        "detail": audit_value(detail), "source": "audit", "seq": rid})
    return out


def timeline(order_id: int) -> dict:
    """The order's history, oldest first: each entry {at, action, actor, entity, entity_id,
    before, after, detail, source}."""
    head = execute("SELECT o.id, o.ref, o.status, c.name, o.placed_at, o.created_at "
                   "FROM sales_order o JOIN channel c ON c.id = o.channel_id WHERE o.id = ?",
                   (order_id,)).fetchone()
    if head is None:
        raise NotFound(f"no order {order_id}", code="not_found")
    oid, ref, status, channel, placed_at, created_at = head
    sessions = _ids("SELECT id FROM pack_session WHERE order_id = ?", (oid,))
    shipments = _ids("SELECT id FROM shipment WHERE order_id = ?", (oid,))
    returns = _ids("SELECT id FROM return_request WHERE order_id = ?", (oid,))
    jobs = set(_ids("SELECT id FROM print_job WHERE reference = ?", (f"order:{ref}"[:120],)))
    jobs |= _more("SELECT label_job_id FROM shipment WHERE id IN ({in}) "
                  "AND label_job_id IS NOT NULL", shipments)
    jobs |= _more("SELECT label_job_id FROM return_request WHERE id IN ({in}) "
                  "AND label_job_id IS NOT NULL", returns)
    outbox = set(_ids("SELECT id FROM outbox WHERE order_id = ?", (oid,)))
    outbox |= _more("SELECT id FROM outbox WHERE shipment_id IN ({in})", shipments)
    outbox |= _more("SELECT id FROM outbox WHERE return_id IN ({in})", returns)
    excs = _ids("SELECT id FROM wms_exception WHERE order_id = ?", (oid,))
    entries = _audit_rows({"order": [oid], "pack_session": sessions, "shipment": shipments,
                           "print_job": sorted(jobs), "return": returns,
                           "outbox": sorted(outbox), "exception": excs})
    entries += _pick_scans(oid) + _pack_scans(sessions) + _tracking(shipments)
    if not any(e["action"] == "order.received" for e in entries):
        # orders from before intake audited their arrival: the row itself says when
        entries.append({"at": _iso(created_at), "action": "order.received", "actor": "",
                        "entity": "order", "entity_id": str(oid), "before": None,
                        "after": status, "detail": {"channel": channel}, "source": "order",
                        "seq": 0})
    # same instant: arrival first (intake writes its reservation's rows before its own),
    # then audit rows in the order written, then the rows that are their own record
    rank = {"order": 0, "audit": 1}
    entries.sort(key=lambda e: (e["at"] or "", e["action"] != "order.received",
                                rank.get(e["source"], 2), e["seq"]))
    for e in entries:
        del e["seq"]
    return {"order": {"id": oid, "ref": ref, "status": status, "channel": channel,
                      "placed_at": _iso(placed_at)},
            "entries": entries}


def _pick_scans(order_id: int) -> list[dict]:
    rows = execute(
        "SELECT s.received_at, s.scanned_at, s.kind, s.verdict, s.raw, s.device, u.badge, "
        "t.sku, t.location_code, t.id, s.id, s.counted, s.scan_id FROM pick_task t "
        "JOIN scan s ON s.task_id = t.id LEFT JOIN app_user u ON u.id = s.user_id "
        f"WHERE t.order_id = ? ORDER BY s.id LIMIT {TIMELINE_MAX}", (order_id,)).fetchall()
    return [{"at": _iso(received), "action": "scan.short" if kind == "short" else "scan.pick",
             "actor": f"user:{badge}" if badge else "", "entity": "pick_task",
             "entity_id": str(task), "before": None, "after": verdict,
             "detail": {"kind": kind, "verdict": verdict, "raw": raw, "device": device,
                        "sku": sku, "location": loc, "counted": counted,
                        "scanned_at": _iso(scanned), "scan_id": scan_id},
             "source": "scan", "seq": sid}
            for received, scanned, kind, verdict, raw, device, badge, sku, loc, task, sid,
            counted, scan_id in rows]


def _pack_scans(sessions: list[int]) -> list[dict]:
    if not sessions:
        return []
    rows = select_in(
        "SELECT p.received_at, p.kind, p.verdict, p.raw, p.station, u.badge, p.session_id, "
        "p.id, ol.sku, p.counted FROM pack_scan p LEFT JOIN app_user u ON u.id = p.user_id "
        "LEFT JOIN order_line ol ON ol.id = p.order_line_id WHERE p.session_id IN ({in})",
        sessions)
    return [{"at": _iso(at), "action": "scan.pack", "actor": f"user:{badge}" if badge else "",
             "entity": "pack_session", "entity_id": str(session), "before": None,
             "after": verdict, "detail": {"kind": kind, "verdict": verdict, "raw": raw,
                                          "station": station, "sku": sku, "counted": counted},
             "source": "pack_scan", "seq": pid}
            for at, kind, verdict, raw, station, badge, session, pid, sku, counted in rows]


def _tracking(shipments: list[int]) -> list[dict]:
    if not shipments:
        return []
    rows = select_in(
        "SELECT e.occurred_at, e.carrier, e.status, e.location, e.detail, s.tracking, "
        "e.shipment_id, e.id, e.received_at FROM tracking_event e "
        "JOIN shipment s ON s.id = e.shipment_id WHERE e.shipment_id IN ({in})", shipments)
    return [{"at": _iso(at), "action": f"tracking.{status}", "actor": f"carrier:{carrier}",
             "entity": "shipment", "entity_id": str(sid), "before": None, "after": status,
             "detail": {"tracking": tracking, "location": loc, "detail": detail,
                        "received_at": _iso(received)},
             "source": "tracking_event", "seq": eid}
            for at, carrier, status, loc, detail, tracking, sid, eid, received in rows]
