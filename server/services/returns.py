"""Returns, exchanges, repairs and refunds (issue 14 §3).

- `create_return`: an RMA for an order, checked against the channel's return policy
  (domain/returns.py); refused whole (ReturnRefused: 422 with every problem) otherwise.
  From the API, from storefront webhooks (source/external_id) and, for a parcel nobody
  announced, from the returns station (`receive_unannounced`, with an exception).
- The station: `find` (by RMA, by our returns label, by the original parcel's tracking
  number or its returns slip `R<shipment id>`), `scan_item` (verdict ok | not_in_return |
  over_return | unknown_barcode; nothing received is dropped: an extra item becomes a
  line of its own), `dispose` (grade and disposition: restock puts units on hand at a
  location and offers them to backorders, by priority then age; quarantine, repair and
  scrap only record), `close` (refund: the refund signal queued in the outbox, once;
  exchange: a replacement order through intake, reserved at once), `advance_repair`.
- `close_expired_orders`: the job that closes shipped / delivered orders whose return
  window passed with no open return.

Events after commit: "return.received" {return_id, order_id} when a parcel is first
received, "return.refunded" {return_id, order_id} when a refund return closes.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Sequence

from .. import clock, events
from ..config import Config
from ..domain import lifecycle
from ..domain import returns as rd
from ..domain.barcodes import parse_scan
from ..domain.errors import BadRequest, BadTransition, Conflict, NotFound, Unprocessable
from ..domain.orders import Address, LineDraft, OrderDraft
from ..domain.refunds import RefundLine, RefundSnapshot
from ..store import db as store_db
from ..store.db import bump_number_range, execute, is_postgres, write_tx
from . import audit, exceptions, outbox

MAX_LINES = 200


class ReturnRefused(Unprocessable):
    """A return the policy refuses, with every reason: {"error": {"code":
    "return_refused", "message", "field", "problems": [{"field", "code", "message"}]}}."""
    code = "return_refused"

    def __init__(self, problems: list[dict]):
        self.problems = list(problems)
        first = self.problems[0]
        more = len(self.problems) - 1
        message = f"{first['field']}: {first['message']}" + \
            (f" (and {more} more: see problems)" if more else "")
        super().__init__(message, field=first["field"])

    def to_dict(self) -> dict:
        body = super().to_dict()
        body["error"]["problems"] = self.problems
        return body


# ---------------------------------------------------------------- reading

_COLUMNS = ("id", "rma", "order_id", "channel_id", "kind", "status", "reason", "source",
            "external_id", "return_tracking", "label_job_id", "exchange_lines",
            "exchange_order_id", "refund_minor", "refund_outbox_id", "exception_id",
            "unannounced", "created_by", "created_at", "updated_at", "received_by",
            "received_at", "closed_at")
_TIMES = ("created_at", "updated_at", "received_at", "closed_at")
_LINE_COLUMNS = ("id", "line_no", "order_line_id", "sku", "quantity", "reason", "received",
                 "grade", "disposition", "location_id", "disposed")


def _row(return_id: int, *, lock: bool = False) -> dict:
    row = execute(f"SELECT {', '.join(_COLUMNS)} FROM return_request WHERE id = ?"
                  + (" FOR UPDATE" if lock and is_postgres() else ""),
                  (return_id,)).fetchone()
    if row is None:
        raise NotFound(f"no return {return_id}", code="unknown_return", field="return_id")
    return dict(zip(_COLUMNS, row))


def _lines(return_id: int) -> list[dict]:
    rows = execute(f"SELECT {', '.join('l.' + c for c in _LINE_COLUMNS)}, loc.code "
                   "FROM return_line l LEFT JOIN location loc ON loc.id = l.location_id "
                   "WHERE l.return_id = ? ORDER BY l.line_no", (return_id,)).fetchall()
    out = []
    for r in rows:
        d = dict(zip(_LINE_COLUMNS, r[:-1]))
        d["location"] = r[-1]
        d["announced"] = d["order_line_id"] is not None and d["quantity"] > 0
        d["missing"] = max(d["quantity"] - d["received"], 0)
        d["extra"] = max(d["received"] - d["quantity"], 0)
        out.append(d)
    return out


def view(return_id: int, *, channel_id: int | None = None) -> dict:
    """The return with its lines; a channel sees only its own (404 otherwise)."""
    r = _row(return_id)
    if channel_id is not None and r["channel_id"] != channel_id:
        raise NotFound(f"no return {return_id}", code="unknown_return", field="return_id")
    ref = execute("SELECT ref FROM sales_order WHERE id = ?", (r["order_id"],)).fetchone() \
        if r["order_id"] else None
    out = {k: r[k] for k in _COLUMNS if k not in ("exchange_lines", "unannounced")}
    for key in _TIMES:
        t = clock.aware_utc(out[key])
        out[key] = t.isoformat() if t else None
    out["order_ref"] = ref[0] if ref else None
    out["unannounced"] = bool(r["unannounced"])
    out["exchange_lines"] = json.loads(r["exchange_lines"]) if r["exchange_lines"] else []
    out["lines"] = _lines(return_id)
    return out


def list_returns(*, channel_id: int | None = None, status: str | None = None,
                 order_id: int | None = None, after: int = 0, limit: int = 50
                 ) -> tuple[list[dict], int | None]:
    if status is not None and status not in rd.STATUSES:
        raise BadRequest(f"status must be one of {', '.join(rd.STATUSES)}", field="status")
    where, params = ["id > ?"], [after]
    for column, value in (("channel_id", channel_id), ("status", status),
                          ("order_id", order_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    ids = [r[0] for r in execute(f"SELECT id FROM return_request WHERE {' AND '.join(where)} "
                                 "ORDER BY id LIMIT ?", (*params, limit + 1)).fetchall()]
    page = [view(i) for i in ids[:limit]]
    return page, (ids[limit - 1] if len(ids) > limit else None)


# ---------------------------------------------------------------- facts about an order

_delivered_column: dict[bool, bool] = {}


def _has_delivered_at() -> bool:
    """Whether sales_order has a delivered_at column (added by the tracking work): the
    policy counts from delivery where it is known."""
    pg = is_postgres()
    if pg not in _delivered_column:
        cols = {c.name for c in store_db.db.get_columns("sales_order")}
        _delivered_column[pg] = "delivered_at" in cols
    return _delivered_column[pg]


def _delivered_sql(alias: str = "o") -> str:
    return f"{alias}.delivered_at" if _has_delivered_at() else "NULL"


def find_order(order: object, channel_id: int | None) -> tuple:
    """(id, channel_id, channel name, status, ref, external_id, currency, warehouse_id,
    shipped_at, delivered_at) of an order named by id or by ref / storefront id."""
    cols = ("o.id, o.channel_id, c.name, o.status, o.ref, o.external_id, o.currency, "
            "o.warehouse_id, (SELECT MAX(s.shipped_at) FROM shipment s WHERE "
            f"s.order_id = o.id AND s.state = 'shipped'), {_delivered_sql()}")
    base = f"SELECT {cols} FROM sales_order o JOIN channel c ON c.id = o.channel_id WHERE "
    scope, sp = (" AND o.channel_id = ?", (channel_id,)) if channel_id is not None else ("", ())
    row = None
    if isinstance(order, int) and not isinstance(order, bool):
        row = execute(base + "o.id = ?" + scope, (order, *sp)).fetchone()
    elif isinstance(order, str) and order.strip():
        text = order.strip()
        for column in ("o.ref", "o.external_id"):
            rows = execute(base + f"{column} = ?" + scope + " ORDER BY o.id LIMIT 2",
                           (text, *sp)).fetchall()
            if len(rows) == 1:
                row = rows[0]
                break
            if len(rows) > 1:
                raise Conflict(f"more than one order is called {text!r}: name it by id",
                               code="ambiguous_order", field="order")
        if row is None and text.isdigit() and len(text) < 19:
            row = execute(base + "o.id = ?" + scope, (int(text), *sp)).fetchone()
    if row is None:
        raise NotFound(f"no order {order!r}", code="unknown_order", field="order")
    return row


def _line_facts(order_id: int, status: str) -> list[rd.OrderLineFacts]:
    shipped_status = status in (lifecycle.SHIPPED, lifecycle.DELIVERED, lifecycle.CLOSED)
    rows = execute(
        "SELECT ol.id, ol.sku, ol.quantity, COALESCE(p.flags, ''), "
        "(SELECT COALESCE(SUM(rl.quantity), 0) FROM return_line rl JOIN return_request r "
        " ON r.id = rl.return_id WHERE rl.order_line_id = ol.id AND r.status <> 'cancelled') "
        "FROM order_line ol LEFT JOIN product p ON p.id = ol.product_id "
        "WHERE ol.order_id = ? ORDER BY ol.line_no", (order_id,)).fetchall()
    return [rd.OrderLineFacts(lid, sku, qty if shipped_status else 0, int(returned),
                              tuple(f.strip() for f in flags.split(",") if f.strip()))
            for lid, sku, qty, flags, returned in rows]


def _next_rma() -> str:
    return rd.rma_number(bump_number_range("rma", lambda last: ((last or 0) + 1,) * 2))


def _product_ids(skus: Sequence[str]) -> dict[str, int]:
    out = {}
    for sku in set(skus):
        row = execute("SELECT id FROM product WHERE sku = ?", (sku,)).fetchone()
        if row:
            out[sku] = row[0]
    return out


# ---------------------------------------------------------------- asking for a return

def create_return(order: object, kind: str, reason: str, lines: Sequence[dict], *,
                  exchange_lines: Sequence[dict] = (), channel_id: int | None = None,
                  actor: str, settings: Config, label: bool = False, source: str = "api",
                  external_id: str = "", now: dt.datetime | None = None,
                  check_policy: bool = True) -> dict:
    """Authorise a return (inside its own write transaction, or the caller's). `lines`
    and `exchange_lines`: [{"sku", "quantity", "reason"?}]. Refused whole with
    ReturnRefused (every policy problem) or NotFound (no such order in scope); a second
    request with the same (channel, external_id) answers the first return."""
    now = now or clock.now()
    if kind not in rd.KINDS:
        raise ReturnRefused([{"field": "kind", "code": "not_allowed",
                              "message": f"kind must be one of {', '.join(rd.KINDS)}"}])
    with write_tx():
        (order_id, ch_id, ch_name, status, ref, _ext, _cur, _wh, shipped_at,
         delivered_at) = find_order(order, channel_id)
        if external_id:
            got = execute("SELECT id FROM return_request WHERE channel_id = ? AND "
                          "external_id = ?", (ch_id, external_id)).fetchone()
            if got:
                return view(got[0])
        policy = settings.returns.policy_for(ch_name)
        started = rd.window_start(policy, shipped_at=clock.aware_utc(shipped_at),
                                  delivered_at=clock.aware_utc(delivered_at))
        asked = [rd.Asked(str(ln["sku"]), int(ln["quantity"]), str(ln.get("reason") or ""))
                 for ln in lines]
        granted, problems = rd.check_request(
            policy if check_policy else rd.ReturnPolicy(window_days=36500),
            started=started if check_policy else (started or now), now=now,
            asked=asked, lines=_line_facts(order_id, status))
        swaps = [(str(ln["sku"]), int(ln["quantity"])) for ln in exchange_lines]
        products = _product_ids([s for s, _ in swaps] + [a.sku for a in asked])
        if kind == "exchange" and not swaps:
            problems.append({"field": "exchange_lines", "code": "missing",
                             "message": "an exchange names what to send instead"})
        if kind != "exchange" and swaps:
            problems.append({"field": "exchange_lines", "code": "not_allowed",
                             "message": "only an exchange has exchange_lines"})
        for i, (sku, qty) in enumerate(swaps):
            if sku not in products:
                problems.append({"field": f"exchange_lines[{i}].sku", "code": "unknown_sku",
                                 "message": f"unknown SKU {sku!r}"})
            if qty < 1:
                problems.append({"field": f"exchange_lines[{i}].quantity",
                                 "code": "out_of_range", "message": "quantity must be at least 1"})
        if problems:
            raise ReturnRefused(problems)
        rma = _next_rma()
        stamp = clock.naive_utc(now)
        return_id = execute(
            "INSERT INTO return_request (rma, order_id, channel_id, kind, status, reason, "
            "source, external_id, exchange_lines, created_by, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'authorised', ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (rma, order_id, ch_id, kind, reason or "", source, external_id,
             json.dumps([{"sku": s, "quantity": q} for s, q in swaps]) if swaps else "",
             actor, stamp, stamp)).fetchone()[0]
        for n, g in enumerate(granted, 1):
            execute("INSERT INTO return_line (return_id, line_no, order_line_id, sku, "
                    "product_id, quantity, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (return_id, n, g.order_line_id, g.sku, products.get(g.sku), g.quantity,
                     g.reason))
        audit.write([audit.row(now, actor, "return.authorise", "return", return_id, "",
                               "authorised", {"rma": rma, "order": order_id, "kind": kind,
                                              "source": source})])
        printed = print_label(return_id, actor, settings=settings) if label else None
        answer = view(return_id)
        if printed is not None:
            answer["label"] = printed
    return answer


def print_label(return_id: int, actor: str, *, settings: Config) -> dict:
    """The returns label (the RMA as its barcode, from the customer to the warehouse): a
    print job on `returns.label_printer` ({"job_id"}), or its ZPL when none is set."""
    from printers.labels import ReturnsSlip, build_returns_slip
    from .packing import documents
    from .packing.labels import label_font
    from . import print_queue
    r = _row(return_id)
    if r["order_id"] is None:
        raise Conflict("a return without an order has no label", code="no_order")
    wh = execute("SELECT w.code FROM sales_order o JOIN warehouse w ON w.id = o.warehouse_id "
                 "WHERE o.id = ?", (r["order_id"],)).fetchone()
    ref = execute("SELECT ref FROM sales_order WHERE id = ?", (r["order_id"],)).fetchone()[0]
    customer = documents.recipient(r["order_id"])
    to = documents.sender(wh[0] if wh else None, settings=settings)
    font = label_font(settings)

    def zpl(job_id: int | str) -> str:
        return build_returns_slip(ReturnsSlip(order_number=ref, rma_number=r["rma"],
                                              customer=customer, return_to=to,
                                              reason=(r["reason"] or "")[:200],
                                              job_id=job_id), font=font)
    printer = settings.returns.label_printer
    if not printer:
        return {"zpl": zpl(r["rma"]), "barcode": r["rma"]}
    job_id = print_queue.enqueue(settings.returns.label_station, settings.printers[printer],
                                 "returns", r["rma"], zpl, actor)
    execute("UPDATE return_request SET label_job_id = ?, return_tracking = ? WHERE id = ?",
            (job_id, r["rma"], return_id))
    return {"job_id": job_id, "printer": printer, "barcode": r["rma"]}


# ---------------------------------------------------------------- the station

def find(code: str) -> dict:
    """What a scanned code at the returns station names: {"match": "rma" | "return_label"
    | "tracking" | "returns_slip", "return": the open return or None, "order": {"id",
    "ref"} or None}. 404 when it names nothing we know."""
    code = (code or "").strip()
    if not code or len(code) > 64:
        raise BadRequest("scan an RMA, a returns label or a tracking number", field="code")
    row = execute("SELECT id FROM return_request WHERE rma = ? OR return_tracking = ?",
                  (code.upper(), code)).fetchone()
    if row:
        r = view(row[0])
        return {"match": "rma" if r["rma"] == code.upper() else "return_label", "return": r,
                "order": {"id": r["order_id"], "ref": r["order_ref"]} if r["order_id"] else None}
    order = execute("SELECT o.id, o.ref FROM shipment s JOIN sales_order o ON o.id = s.order_id "
                    "WHERE s.tracking = ?", (code,)).fetchone()
    match = "tracking"
    if order is None and code[:1] in "Rr" and code[1:].isdigit() and len(code) < 19:
        match = "returns_slip"      # the slip packed with the parcel: R<shipment id>
        order = execute("SELECT o.id, o.ref FROM shipment s JOIN sales_order o "
                        "ON o.id = s.order_id WHERE s.id = ?", (int(code[1:]),)).fetchone()
    if order is None:
        raise NotFound(f"nothing is known by {code!r}", code="unknown_code", field="code")
    open_ = execute("SELECT id FROM return_request WHERE order_id = ? AND status IN "
                    "('authorised', 'received') ORDER BY id LIMIT 1", (order[0],)).fetchone()
    return {"match": match, "return": view(open_[0]) if open_ else None,
            "order": {"id": order[0], "ref": order[1]}}


def receive_unannounced(*, code: str | None, kind: str = "refund", reason: str = "",
                        actor: str, now: dt.datetime | None = None) -> dict:
    """A parcel nobody announced: a return of it (status received, no lines yet: what is
    scanned becomes its lines) for the order its code names, if any, and an exception
    `return_unannounced` for a person to settle. Nothing that arrived is lost."""
    now = now or clock.now()
    if kind not in rd.KINDS:
        raise BadRequest(f"kind must be one of {', '.join(rd.KINDS)}", field="kind")
    order_id = channel_id = None
    if code:
        try:
            found = find(code)
        except NotFound:
            found = None
        if found and found["return"] is not None:
            raise Conflict(f"{code} belongs to return {found['return']['rma']}: receive that",
                           code="return_exists", detail={"id": found["return"]["id"]})
        if found and found["order"]:
            order_id = found["order"]["id"]
            channel_id = execute("SELECT channel_id FROM sales_order WHERE id = ?",
                                 (order_id,)).fetchone()[0]
    stamp = clock.naive_utc(now)
    with write_tx():
        rma = _next_rma()
        return_id = execute(
            "INSERT INTO return_request (rma, order_id, channel_id, kind, status, reason, "
            "source, unannounced, created_by, created_at, updated_at, received_by, "
            "received_at) VALUES (?, ?, ?, ?, 'received', ?, 'station', ?, ?, ?, ?, ?, ?) "
            "RETURNING id", (rma, order_id, channel_id, kind, reason or "unannounced parcel",
                             True, actor, stamp, stamp, actor, stamp)).fetchone()[0]
        exc_id = exceptions.open_exception(
            "return_unannounced", f"a parcel arrived that no return announced: opened {rma}"
            + (f" for order {code}" if order_id else " (no order matched)"),
            order_id=order_id, detail={"return_id": return_id, "rma": rma, "code": code},
            now=now, actor=actor)
        execute("UPDATE return_request SET exception_id = ? WHERE id = ?", (exc_id, return_id))
        audit.write([audit.row(now, actor, "return.unannounced", "return", return_id, "",
                               "received", {"rma": rma, "order": order_id, "code": code})])
        events.publish("return.received", return_id=return_id, order_id=order_id)
        return view(return_id)


def _mark_received(r: dict, actor: str, now: dt.datetime) -> None:
    if r["status"] != "authorised":
        return
    stamp = clock.naive_utc(now)
    execute("UPDATE return_request SET status = 'received', received_at = ?, received_by = ?, "
            "updated_at = ? WHERE id = ? AND status = 'authorised'",
            (stamp, actor, stamp, r["id"]))
    audit.write([audit.row(now, actor, "return.receive", "return", r["id"], "authorised",
                           "received")])
    events.publish("return.received", return_id=r["id"], order_id=r["order_id"])
    r["status"] = "received"


def receive(return_id: int, actor: str, now: dt.datetime | None = None) -> dict:
    """The parcel of an authorised return is at the station (scanning an item does it too)."""
    now = now or clock.now()
    with write_tx():
        r = _row(return_id, lock=True)
        if r["status"] not in ("authorised", "received"):
            raise BadTransition(f"return {r['rma']} is {r['status']}",
                                detail={"from": r["status"], "to": "received"})
        _mark_received(r, actor, now)
        return view(return_id)


def _sku_of(barcode: str) -> tuple[str | None, int | None]:
    parsed = parse_scan(barcode)
    if parsed.gtin:
        row = execute("SELECT p.sku, p.id FROM product_gtin g JOIN product p "
                      "ON p.id = g.product_id WHERE g.gtin = ?", (parsed.gtin,)).fetchone()
        if row:
            return row[0], row[1]
    row = execute("SELECT sku, id FROM product WHERE sku = ?", (barcode.strip(),)).fetchone()
    return (row[0], row[1]) if row else (None, None)


def scan_item(return_id: int, barcode: str, actor: str,
              now: dt.datetime | None = None) -> dict:
    """One item taken out of the parcel, checked against the return. ok and over_return
    count on the announced line; not_in_return adds (or counts on) a line of its own with
    nothing announced; unknown_barcode changes nothing. Answers {"verdict", "sku",
    "line", "return"}."""
    now = now or clock.now()
    if not isinstance(barcode, str) or not barcode.strip() or len(barcode) > 200:
        raise BadRequest("barcode must be 1-200 characters", field="barcode")
    with write_tx():
        r = _row(return_id, lock=True)
        if r["status"] not in ("authorised", "received"):
            raise BadTransition(f"return {r['rma']} is {r['status']}: nothing more is received",
                                detail={"from": r["status"], "to": "received"})
        sku, product_id = _sku_of(barcode)
        lines = _lines(return_id)
        verdict, hit = rd.scan_verdict(sku, [rd.LineState(ln["id"], ln["sku"], ln["quantity"],
                                                           ln["received"]) for ln in lines])
        line_id = None
        if verdict in ("ok", "over_return"):
            line_id = hit.line_id
            execute("UPDATE return_line SET received = received + 1 WHERE id = ?", (line_id,))
        elif verdict == "not_in_return":
            extra = next((ln for ln in lines if ln["sku"] == sku and not ln["announced"]), None)
            if extra is None:
                n = max((ln["line_no"] for ln in lines), default=0) + 1
                line_id = execute("INSERT INTO return_line (return_id, line_no, sku, product_id, "
                                  "quantity, reason, received) VALUES (?, ?, ?, ?, 0, "
                                  "'not in the return', 1) RETURNING id",
                                  (return_id, n, sku, product_id)).fetchone()[0]
            else:
                line_id = extra["id"]
                execute("UPDATE return_line SET received = received + 1 WHERE id = ?",
                        (line_id,))
        if verdict != "unknown_barcode":
            _mark_received(r, actor, now)
            execute("UPDATE return_line SET disposition = '', grade = '' WHERE id = ? AND "
                    "disposed < received AND disposed = 0", (line_id,))
        execute("UPDATE return_request SET updated_at = ? WHERE id = ?",
                (clock.naive_utc(now), return_id))
        audit.write([audit.row(now, actor, "return.scan", "return", return_id, "", verdict,
                               {"barcode": barcode[:64], "sku": sku, "line": line_id})])
        out = view(return_id)
    line = next((ln for ln in out["lines"] if ln["id"] == line_id), None)
    return {"verdict": verdict, "sku": sku, "line": line, "return": out}


def dispose(return_id: int, line_id: int, grade: str, disposition: str, *, actor: str,
            settings: Config, location: str | None = None, warehouse: str | None = None,
            now: dt.datetime | None = None) -> dict:
    """Grade a line's received units and decide what becomes of those not yet disposed
    of. restock (resellable only) puts them on hand at `location` (of `warehouse`, by
    default the order's) and offers them to backorders; quarantine, repair, scrap record
    it. 409 when nothing received is left to dispose of."""
    from . import stock
    now = now or clock.now()
    if grade not in rd.GRADES:
        raise BadRequest(f"grade must be one of {', '.join(rd.GRADES)}", field="grade")
    if disposition not in rd.DISPOSITIONS:
        raise BadRequest(f"disposition must be one of {', '.join(rd.DISPOSITIONS)}",
                         field="disposition")
    if disposition == "restock" and grade != "resellable":
        raise Unprocessable("only a resellable item goes back on the shelf",
                            code="not_resellable", field="disposition")
    if disposition == "restock" and not location:
        raise BadRequest("restock needs a location", field="location")
    with write_tx():
        r = _row(return_id, lock=True)
        if r["status"] != "received":
            raise BadTransition(f"return {r['rma']} is {r['status']}: receive it first",
                                detail={"from": r["status"]})
        line = next((ln for ln in _lines(return_id) if ln["id"] == line_id), None)
        if line is None:
            raise NotFound(f"return {r['rma']} has no line {line_id}", field="line_id")
        units = line["received"] - line["disposed"]
        if units <= 0:
            raise Conflict(f"nothing of line {line_id} is left to dispose of",
                           code="nothing_to_dispose", field="line_id")
        loc_id = None
        reserved = 0
        if disposition == "restock":
            wh = warehouse
            if wh is None:
                got = execute("SELECT w.code FROM sales_order o JOIN warehouse w ON "
                              "w.id = o.warehouse_id WHERE o.id = ?", (r["order_id"],)).fetchone() \
                    if r["order_id"] else None
                if got is None:
                    raise BadRequest("name the warehouse to restock into", field="warehouse")
                wh = got[0]
            row = stock.change_stock(wh, location, line["sku"], add=units, actor=actor, now=now,
                                     reason="return")
            loc_id = row.location_id
            reserved = stock.reserve_backorders([row.product_id], actor, now, settings=settings)
        stamp = clock.naive_utc(now)
        execute("UPDATE return_line SET grade = ?, disposition = ?, location_id = ?, "
                "disposed = received, disposed_by = ?, disposed_at = ? WHERE id = ?",
                (grade, disposition, loc_id, actor, stamp, line_id))
        execute("UPDATE return_request SET updated_at = ? WHERE id = ?", (stamp, return_id))
        audit.write([audit.row(now, actor, "return.dispose", "return", return_id, "",
                               disposition, {"line": line_id, "sku": line["sku"],
                                             "units": units, "grade": grade,
                                             "location": location})])
        out = view(return_id)
    out["orders_reserved"] = reserved
    return out


# ---------------------------------------------------------------- closing

def _refund_snapshot(r: dict, delivery_id: str, shipment_id: int) -> RefundSnapshot:
    ext, ref, currency = execute("SELECT external_id, ref, currency FROM sales_order "
                                 "WHERE id = ?", (r["order_id"],)).fetchone()
    rows = execute("SELECT ol.external_id, rl.sku, "
                   "CASE WHEN rl.received < rl.quantity THEN rl.received ELSE rl.quantity END, "
                   "ol.unit_price_minor FROM return_line rl JOIN order_line ol "
                   "ON ol.id = rl.order_line_id WHERE rl.return_id = ? ORDER BY rl.line_no",
                   (r["id"],)).fetchall()
    lines = tuple(RefundLine(e or "", s, int(q), int(q) * int(p or 0))
                  for e, s, q, p in rows if q)
    return RefundSnapshot(return_id=r["id"], rma=r["rma"], order_id=r["order_id"],
                          order_external_id=ext, order_ref=ref, currency=currency,
                          amount_minor=sum(ln.amount_minor for ln in lines),
                          reason=r["reason"] or "", delivery_id=delivery_id, lines=lines,
                          shipment_id=shipment_id)


def close(return_id: int, actor: str, *, settings: Config,
          now: dt.datetime | None = None) -> dict:
    """Close a received refund or exchange whose received units are all disposed of
    (units announced but missing are simply not refunded). A refund queues the refund
    signal (once: a second close is a 409, and the outbox holds one message per return);
    an exchange makes the replacement order through intake, reserved at once."""
    from . import channels, intake
    now = now or clock.now()
    with write_tx():
        r = _row(return_id, lock=True)
        if not rd.can_move(r["kind"], r["status"], "closed"):
            raise BadTransition(f"a {r['kind']} return that is {r['status']} cannot be closed",
                                detail={"from": r["status"], "to": "closed"})
        lines = _lines(return_id)
        if not any(ln["received"] for ln in lines):
            raise Conflict("nothing was received", code="nothing_received")
        left = [ln["id"] for ln in lines if ln["disposed"] < ln["received"]]
        if left:
            raise Conflict("every received item needs a disposition first",
                           code="not_disposed", detail={"lines": left})
        stamp = clock.naive_utc(now)
        updates: dict = {}
        if r["kind"] == "refund" and r["order_id"] is not None:
            snap_holder: list[RefundSnapshot] = []

            def snap_of(delivery_id: str, shipment_id: int) -> RefundSnapshot:
                snap_holder.append(_refund_snapshot(r, delivery_id, shipment_id))
                return snap_holder[0]
            refunded_by_shop = r["source"] in ("shopify_refund", "woo_refund")
            owed = _refund_snapshot(r, "", 0)     # nothing announced came back: nothing to say
            outbox_id = None if refunded_by_shop or not owed.lines else \
                outbox.enqueue_refund(return_id, snap_of, actor)
            amount = snap_holder[0].amount_minor if snap_holder else owed.amount_minor
            updates.update(refund_outbox_id=outbox_id, refund_minor=amount)
            events.publish("return.refunded", return_id=return_id, order_id=r["order_id"])
        if r["kind"] == "exchange" and r["order_id"] is not None:
            updates["exchange_order_id"] = _exchange_order(r, actor, settings=settings,
                                                           channels=channels, intake=intake,
                                                           now=now)
        sets = ", ".join(f"{k} = ?" for k in updates)
        execute(f"UPDATE return_request SET status = 'closed', closed_at = ?, updated_at = ?"
                f"{', ' + sets if sets else ''} WHERE id = ?",
                (stamp, stamp, *updates.values(), return_id))
        audit.write([audit.row(now, actor, "return.close", "return", return_id, r["status"],
                               "closed", {k: v for k, v in updates.items()})])
        return view(return_id)


def _exchange_order(r: dict, actor: str, *, settings: Config, channels, intake,
                    now: dt.datetime) -> int:
    from ..store.models import Channel
    o = execute("SELECT external_id, ref, currency, priority, ship_name, ship_phone, "
                "ship_email, ship_address1, ship_address2, ship_city, ship_region, "
                "ship_postcode, ship_country, carrier FROM sales_order WHERE id = ?",
                (r["order_id"],)).fetchone()
    (ext, ref, currency, priority, name, phone, email, a1, a2, city, region, post,
     country, carrier) = o
    swaps = json.loads(r["exchange_lines"] or "[]")
    draft = OrderDraft(
        external_id=f"{ext}-{r['rma']}"[:64], ref=f"{ref}-{r['rma']}"[:64], placed_at=now,
        currency=currency, paid=True,
        ship_to=Address(name=name, phone=phone, address1=a1, address2=a2, city=city,
                        postcode=post, country=country, region=region, email=email),
        lines=tuple(LineDraft(sku=s["sku"], quantity=int(s["quantity"]), unit_price=Decimal(0))
                    for s in swaps),
        priority=priority + 1, note=f"exchange for return {r['rma']}", carrier=carrier,
        total=Decimal(0))
    ch = channels.ref(Channel.get_by_id(r["channel_id"]))
    [result] = intake.import_orders(ch, [draft], actor, refuse_invalid=True, settings=settings)
    if result.order_id is None:
        raise Unprocessable("the exchange order was refused", code="exchange_refused",
                            detail=result.problems)
    return result.order_id


def advance_repair(return_id: int, to: str, actor: str,
                   now: dt.datetime | None = None) -> dict:
    """A repair's own steps: received → in_repair → repaired → shipped_back."""
    now = now or clock.now()
    if to not in rd.REPAIR_STEPS:
        raise BadRequest(f"status must be one of {', '.join(rd.REPAIR_STEPS)}", field="status")
    with write_tx():
        r = _row(return_id, lock=True)
        if not rd.can_move(r["kind"], r["status"], to):
            raise BadTransition(f"a {r['kind']} return that is {r['status']} cannot become {to}",
                                detail={"from": r["status"], "to": to})
        stamp = clock.naive_utc(now)
        closed = ", closed_at = ?" if to == "shipped_back" else ""
        execute(f"UPDATE return_request SET status = ?, updated_at = ?{closed} WHERE id = ?",
                (to, stamp, *((stamp,) if closed else ()), return_id))
        audit.write([audit.row(now, actor, f"return.{to}", "return", return_id, r["status"],
                               to)])
        return view(return_id)


def cancel(return_id: int, actor: str, *, channel_id: int | None = None,
           now: dt.datetime | None = None) -> dict:
    now = now or clock.now()
    with write_tx():
        r = _row(return_id, lock=True)
        if channel_id is not None and r["channel_id"] != channel_id:
            raise NotFound(f"no return {return_id}", code="unknown_return", field="return_id")
        if not rd.can_move(r["kind"], r["status"], "cancelled"):
            raise BadTransition(f"return {r['rma']} is {r['status']}: it cannot be cancelled",
                                detail={"from": r["status"], "to": "cancelled"})
        stamp = clock.naive_utc(now)
        execute("UPDATE return_request SET status = 'cancelled', updated_at = ?, closed_at = ? "
                "WHERE id = ?", (stamp, stamp, return_id))
        audit.write([audit.row(now, actor, "return.cancel", "return", return_id, r["status"],
                               "cancelled")])
        return view(return_id)


# ---------------------------------------------------------------- closing orders

def close_expired_orders(*, settings: Config, now: dt.datetime | None = None,
                         limit: int = 1000) -> int:
    """Close shipped or delivered orders whose channel's return window has passed with no
    open return (delivery time where known — a sales_order.delivered_at column — else
    the last parcel's shipped time). Returns how many were closed."""
    now = now or clock.now()
    delivered = _delivered_sql()
    rows = execute(
        "SELECT o.id, o.status, c.name, (SELECT MAX(s.shipped_at) FROM shipment s WHERE "
        f"s.order_id = o.id AND s.state = 'shipped'), {delivered} FROM sales_order o "
        "JOIN channel c ON c.id = o.channel_id WHERE o.status IN ('shipped', 'delivered') "
        "AND NOT EXISTS (SELECT 1 FROM return_request r WHERE r.order_id = o.id AND "
        "r.status IN ('authorised', 'received', 'in_repair', 'repaired')) "
        "ORDER BY o.id LIMIT ?", (limit,)).fetchall()
    due = []
    for oid, status, ch_name, shipped_at, delivered_at in rows:
        policy = settings.returns.policy_for(ch_name)
        end = rd.window_end(policy, rd.window_start(
            policy, shipped_at=clock.aware_utc(shipped_at),
            delivered_at=clock.aware_utc(delivered_at)))
        if end is not None and now > end:
            due.append((oid, status))
    if not due:
        return 0
    stamp = clock.naive_utc(now)
    closed = 0
    with write_tx():
        for oid, status in due:
            lifecycle.check_move(status, lifecycle.CLOSED)
            closed += execute(
                "UPDATE sales_order SET status = 'closed', updated_at = ? WHERE id = ? AND "
                "status = ? AND NOT EXISTS (SELECT 1 FROM return_request r WHERE "
                "r.order_id = sales_order.id AND r.status IN ('authorised', 'received', "
                "'in_repair', 'repaired'))", (stamp, oid, status)).rowcount
        audit.write([audit.row(now, "job:close-orders", "order.close", "order", oid, status,
                               "closed", {"reason": "return window passed"})
                     for oid, status in due])
    return closed


# ---------------------------------------------------------------- from the storefronts

def from_storefront(channel_id: int, sr, *, actor: str, settings: Config
                    ) -> tuple[str, int | None]:
    """A return or refund a storefront told us of (domain/storefronts/returns.py) →
    (outcome, order id). Our own refund coming back and one seen before change nothing;
    a storefront refund of a return it asked for before marks that return refunded by the
    shop (closing it sends nothing); otherwise a return is authorised for its lines (the
    storefront has decided: the window is not checked, the quantities are)."""
    row = execute("SELECT id FROM sales_order WHERE channel_id = ? AND external_id = ?",
                  (channel_id, sr.order_external_id)).fetchone()
    if row is None:
        raise NotFound(f"no order {sr.order_external_id} on this channel",
                       code="unknown_order", field="order_id")
    order_id = row[0]
    if sr.ours:
        return "own_refund", order_id
    if execute("SELECT 1 FROM return_request WHERE channel_id = ? AND external_id = ?",
               (channel_id, sr.external_id)).fetchone():
        return "duplicate_return", order_id
    with write_tx():
        if sr.source == "shopify_refund":
            asked = execute("SELECT id FROM return_request WHERE order_id = ? AND source = "
                            "'shopify_return' AND status IN ('authorised', 'received') "
                            "ORDER BY id LIMIT 1", (order_id,)).fetchone()
            if asked:
                execute("UPDATE return_request SET source = 'shopify_refund', updated_at = ? "
                        "WHERE id = ?", (clock.naive_utc(clock.now()), asked[0]))
                audit.write([audit.row(clock.now(), actor, "return.refunded_by_shop", "return",
                                       asked[0], "", sr.external_id)])
                return "return_refunded_by_shop", order_id
        if not sr.lines:
            return "refund_without_lines", order_id
        skus = dict(execute("SELECT external_id, sku FROM order_line WHERE order_id = ?",
                            (order_id,)).fetchall())
        lines = []
        for ln in sr.lines:
            if ln.line_external_id not in skus:
                raise Unprocessable(f"order line {ln.line_external_id} is not in order "
                                    f"{sr.order_external_id}", code="unknown_line")
            lines.append({"sku": skus[ln.line_external_id], "quantity": ln.quantity,
                          "reason": ln.reason})
        made = create_return(order_id, "refund", sr.reason, lines, actor=actor,
                             settings=settings, source=sr.source,
                             external_id=sr.external_id[:64], check_policy=False)
    return f"return_authorised:{made['rma']}", order_id
