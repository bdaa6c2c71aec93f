"""Stock API: availability per location, goods received."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import settings
from ..domain.errors import BadRequest
from ..services import stock
from .common import json_body, require_staff

bp = Blueprint("stock", __name__, url_prefix="/api/v1")


@bp.get("/stock")
def get_stock():
    require_staff("supervisor", "admin")
    sku = request.args.get("sku", "").strip()
    if not sku:
        raise BadRequest("sku is required", field="sku")
    return jsonify(stock.stock_for_sku(sku))


@bp.post("/stock/receipts")
def post_receipt():
    p = require_staff("supervisor", "admin")
    body = json_body("StockReceipt")
    lines = [(ln["warehouse"], ln["location"], ln["sku"], ln["quantity"]) for ln in body["lines"]]
    return jsonify(stock.receive(lines, p.actor, body.get("reference", ""),
                                 settings=settings.current())), 201
