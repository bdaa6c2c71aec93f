"""Shipments: one per parcel of a confirmed session, each with its label job; dispatch
when the parcel leaves with the carrier, which queues the fulfilment for the storefront."""
from __future__ import annotations

from ... import clock
from ...config import Config
from ...domain import lifecycle
from ...domain.barcodes import parse_scan
from ...domain.errors import Conflict, NotFound
from ...store.db import execute, write_tx
from .. import audit, notify, outbox, print_queue
from ._common import naive, row_lock

_SHIPMENT = ("SELECT sh.id, sh.order_id, o.ref, sh.station, sh.carrier, sh.service, "
             "sh.tracking, sh.sscc, sh.carton, sh.weight_g, sh.expected_weight_g, sh.parcel_no, "
             "sh.parcel_count, sh.label_job_id, sh.state, sh.created_at, sh.shipped_at "
             "FROM shipment sh JOIN sales_order o ON o.id = sh.order_id ")


def _shipment_dict(r) -> dict:
    return {"id": r[0], "order_id": r[1], "order_ref": r[2], "station": r[3], "carrier": r[4],
            "service": r[5], "tracking": r[6], "sscc": r[7], "carton": r[8], "weight_g": r[9],
            "weighed": r[9] is not None, "expected_weight_g": r[10], "parcel": r[11],
            "parcels": r[12], "label_job": r[13], "state": r[14],
            "created_at": clock.aware_utc(r[15]).isoformat(),
            "shipped_at": clock.aware_utc(r[16]).isoformat() if r[16] else None}


def shipment_view(shipment_id: int) -> dict:
    """One shipment (a parcel): carrier, tracking number, SSCC, carton, weights, label job."""
    row = execute(_SHIPMENT + "WHERE sh.id = ?", (shipment_id,)).fetchone()
    if row is None:
        raise NotFound(f"no shipment {shipment_id}", field="shipment")
    return _shipment_dict(row)


def shipments_for_order(order_id: int) -> list[dict]:
    """The order's shipments, by parcel number."""
    return [_shipment_dict(r) for r in execute(_SHIPMENT + "WHERE sh.order_id = ? ORDER BY "
                                                "sh.parcel_no", (order_id,)).fetchall()]


def _label_job_view(job_id: int | None) -> dict | None:
    if job_id is None:
        return None
    job = print_queue.get_job(job_id)
    return job and {"id": job["id"], "state": job["state"], "last_error": job["last_error"],
                    "last_error_code": job["last_error_code"],
                    "last_error_params": job["last_error_params"],
                    "attempts": job["attempts"]}


def shipments_of_session(session_id: int) -> list[dict]:
    """The session's shipments, one per parcel, each with its label job."""
    out = []
    for (shipment_id,) in execute("SELECT id FROM shipment WHERE session_id = ? ORDER BY "
                                  "parcel_no", (session_id,)).fetchall():
        shipment = shipment_view(shipment_id)
        out.append({**shipment, "label": _label_job_view(shipment["label_job"])})
    return out


def find_shipment(raw: str) -> int:
    """The shipment a scanned tracking number or SSCC (plain, or GS1 AI 00) names."""
    text = raw.strip().replace(" ", "").upper()
    parsed = parse_scan(raw)
    sscc = parsed.sscc or (text if text.isdigit() and len(text) == 18 else None)
    row = execute("SELECT id FROM shipment WHERE tracking = ? OR sscc = ?",
                  (text, sscc or text)).fetchone()
    if row is None:
        raise NotFound(f"no shipment with tracking number or SSCC {raw!r}", field="raw")
    return row[0]


def dispatch(actor: str, shipment_id: int, *,
             settings: Config | None = None) -> tuple[dict, bool]:
    """The parcel leaves with the carrier: shipment and order → shipped, and the
    fulfilment is queued for the storefront in the same transaction, with the customer's
    `shipped` notification when `settings` name a notify URL for its channel. Again →
    unchanged."""
    now = clock.now()
    with write_tx():
        row = execute("SELECT sh.state, sh.order_id, o.status, sh.label_job_id FROM shipment sh "
                      "JOIN sales_order o ON o.id = sh.order_id WHERE sh.id = ?"
                      + row_lock("sh"), (shipment_id,)).fetchone()
        if row is None:
            raise NotFound(f"no shipment {shipment_id}", field="shipment")
        state, order_id, order_status, job = row
        if state == "shipped":
            return shipment_view(shipment_id), False
        if state != "packed":
            raise Conflict(f"shipment {shipment_id} is {state}", code=f"shipment_{state}")
        job_state = (print_queue.get_job(job) or {}).get("state") if job else None
        if job_state != "printed":
            raise Conflict(f"the label of shipment {shipment_id} is not printed yet "
                           f"({job_state or 'no label'})", code="label_not_printed")
        at = naive(now)
        execute("UPDATE shipment SET state = 'shipped', shipped_at = ?, quiet_since = ? "
                "WHERE id = ?", (at, at, shipment_id))   # quiet_since: the delay sweep's clock
        trail = [audit.row(now, actor, "shipment.dispatch", "shipment", shipment_id, "packed",
                           "shipped")]
        if order_status == lifecycle.PACKED and not execute(
                "SELECT 1 FROM shipment WHERE order_id = ? AND state = 'packed'",
                (order_id,)).fetchone():
            execute("UPDATE sales_order SET status = ?, updated_at = ? WHERE id = ? AND "
                    "status = ?", (lifecycle.SHIPPED, at, order_id, lifecycle.PACKED))
            trail.append(audit.row(now, actor, "order.status", "order", order_id,
                                   lifecycle.PACKED, lifecycle.SHIPPED))
        audit.write(trail)
        if outbox.enqueue_shipped(shipment_id, actor) is not None:
            outbox.wake()                  # delivered after this transaction commits
        if settings is not None:
            notify.shipment_notice("shipped", shipment_id, settings=settings, actor=actor,
                                   now=now)
        result = shipment_view(shipment_id)
    return result, True
