"""Storefront webhook endpoints. Thin: the raw body and the headers go to the service
untouched, because the signature covers the exact bytes (never parse before verifying)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import settings
from ..services import webhooks

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.post("/shopify/<channel>")
def shopify(channel: str):
    """A Shopify order webhook (orders/create, paid, updated, cancelled, delete)."""
    status, body = webhooks.receive_shopify(channel, request.headers, request.get_data(),
                                            settings=settings.current())
    return jsonify(body), status


@bp.post("/woocommerce/<channel>")
def woocommerce(channel: str):
    """A WooCommerce order webhook (order.created, updated, restored, deleted) or its ping."""
    status, body = webhooks.receive_woocommerce(channel, request.headers, request.get_data(),
                                                request.headers.get("Content-Type", ""),
                                                settings=settings.current())
    return jsonify(body), status
