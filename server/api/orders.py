"""Orders API: create (idempotent), read, list, cancel, release a hold, CSV import."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import settings
from ..domain import lifecycle
from ..domain.errors import BadRequest, Conflict, DomainError, InvalidOrder
from ..domain.native import parse_native_order
from ..services import channels, csv_import, idempotency, intake, orders
from ..store import db as store_db
from ..store.models import Channel
from ..store.retry import retry_transaction
from .common import caller, int_arg, json_body, require_staff

bp = Blueprint("orders", __name__, url_prefix="/api/v1")


def _channel_scope() -> int | None:
    """A channel token sees its own orders only; staff see all."""
    p = caller()
    if p.kind == "channel":
        return p.channel_id
    require_staff("supervisor", "admin", "packer", "picker")
    return None


@bp.post("/orders")
def create_order():
    """Refused orders (422 `invalid_order`, every problem in `problems`) leave nothing
    behind: no order, no exception, no audit row, and no Idempotency-Key answer to replay,
    so the corrected order may be sent again under the same key."""
    p = caller()
    if p.kind != "channel":
        raise DomainError("orders are created with a channel token", code="forbidden", status=403)
    body = json_body("NativeOrder", invalid_order=True)
    draft = parse_native_order(body)
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        digest = idempotency.request_hash("POST", request.path, request.get_data(cache=True))
        replay = idempotency.claim(p.channel_id, key, digest)
        if replay is not None:
            return jsonify(replay.body), replay.status
    def create() -> tuple[int, dict]:
        with store_db.write_tx():
            status, answer = _create(p, draft)
            if key is not None:
                idempotency.finish(p.channel_id, key, status, answer)
        return status, answer

    try:
        # a deadlock with another intake rolled it back whole: run it again
        status, answer = retry_transaction(create, what=f"order {draft.ref}")
        return jsonify(answer), status

    except InvalidOrder:
        if key is not None:  # nothing was done: the key is free for the corrected order
            idempotency.abandon(p.channel_id, key)
        raise
    except DomainError as err:
        if key is not None:  # a refusal about the order's state is an answer too: replay it
            with store_db.write_tx():
                idempotency.finish(p.channel_id, key, err.status, err.to_dict())
        raise
    except Exception:
        if key is not None:
            idempotency.abandon(p.channel_id, key)
        raise


def _create(p, draft) -> tuple[int, dict]:
    ch = channels.ref(Channel.get_by_id(p.channel_id))
    cfg = settings.current()
    [result] = intake.import_orders(ch, [draft], p.actor, refuse_invalid=True, settings=cfg)
    if result.outcome == "duplicate":
        raise Conflict(f"order {draft.ref!r} was already received", code="duplicate_order",
                       field="ref", detail={"id": result.order_id})
    if result.outcome == "rejected":
        raise InvalidOrder(result.problems)
    answer = orders.to_dict(orders.load(result.order_id), settings=cfg)
    answer["hold_reasons"] = result.hold_reasons
    return 201, answer


@bp.get("/orders/<id:order_id>")
def get_order(order_id: int):
    order = orders.load(order_id, _channel_scope())
    p = caller()
    return jsonify(orders.view_for(order, p.role, p.user_id, settings=settings.current()))


@bp.get("/orders")
def list_orders():
    status = request.args.get("status") or None
    if status and status not in lifecycle.STATUSES:
        raise BadRequest(f"unknown status {status!r}", field="status",
                         detail={"allowed": list(lifecycle.STATUSES)})
    limit = int_arg("limit", 50, 1, 500)
    after = int_arg("cursor", 0, 0, 2**62)
    scope = _channel_scope()
    page, nxt = orders.list_orders(channel_id=scope, status=status, after=after, limit=limit,
                                   settings=settings.current(),
                                   floor=caller().role in ("picker", "packer"))
    return jsonify({"orders": page, "next_cursor": nxt})


@bp.post("/orders/<id:order_id>/cancel")
def cancel_order(order_id: int):
    p = caller()
    reason = ""
    if request.content_length:
        reason = json_body("CancelRequest").get("reason", "")
    if p.kind == "channel":
        return jsonify(orders.cancel(order_id, p.actor, channel_id=p.channel_id, reason=reason,
                                     settings=settings.current()))
    require_staff("supervisor", "admin")
    return jsonify(orders.cancel(order_id, p.actor, reason=reason, settings=settings.current()))


@bp.post("/orders/<id:order_id>/release")
def release_order(order_id: int):
    p = require_staff("supervisor", "admin")
    return jsonify(orders.release_hold(order_id, p.actor, settings=settings.current()))


@bp.post("/orders/<id:order_id>/carrier")
def assign_carrier(order_id: int):
    """A supervisor names the carrier service; an order held for carrier_unmapped goes on."""
    p = require_staff("supervisor", "admin")
    body = json_body("CarrierAssignment")
    return jsonify(orders.assign_carrier(order_id, body["carrier"], body["service"], p.actor,
                                         settings=settings.current()))


@bp.post("/orders:import")
def import_orders_csv():
    """CSV upload (multipart field `file`): all-or-nothing per order, a report per line."""
    p = caller()
    if p.kind == "channel":
        ch = Channel.get_by_id(p.channel_id)
    else:
        require_staff("supervisor", "admin")
        name = request.args.get("channel")
        ch = channels.get_channel(name) if name else csv_import.default_channel()
    if (request.mimetype or "") != "multipart/form-data":
        raise DomainError("upload the CSV as multipart/form-data, field `file`",
                          code="unsupported_media_type", status=415)
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("multipart field `file` is missing", field="file")
    dry_run = request.args.get("dry_run", "").lower() in ("1", "true", "yes")
    report = csv_import.import_orders_csv(upload.read(), ch, p.actor, dry_run=dry_run,
                                          settings=settings.current())
    body = report.to_dict()
    body["dry_run"] = dry_run
    return jsonify(body), 200 if dry_run else 201
