"""Customer notification requests (domain/notify.py): signed like the native callback, the
same bytes and delivery id on every build, one dedupe key per kind and subject."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from server.domain import notify as dn


def message() -> dict:
    body = dn.body("shipped", delivery_id="d-1", occurred_at="2026-12-07T16:00:00+00:00",
                   channel="shop-a", order={"id": "9007199254740993", "ref": "#1",
                                            "wavepack_id": 4, "ship_by": None},
                   shipment={"tracking": "RR1GB", "carrier_name": "Royal Mail — 皇家"})
    return {"url": "https://shop.example/n", "secret_env": "", "body": body}


def test_the_request_is_signed_over_the_exact_bytes():
    req = dn.request("https://shop.example/n", "k3y", message())
    headers = dict(req.headers)
    expected = base64.b64encode(hmac.new(b"k3y", req.body, hashlib.sha256).digest()).decode()
    assert headers["X-Wavepack-Signature"] == expected
    assert headers["X-Wavepack-Event"] == "order.shipped"
    assert headers["X-Wavepack-Delivery"] == "d-1"
    assert (req.method, req.url) == ("POST", "https://shop.example/n")
    parsed = json.loads(req.body)
    assert parsed["order"]["id"] == "9007199254740993"          # exact text
    assert "皇家".encode() in req.body                            # UTF-8, not \\u escapes
    assert dn.request("https://shop.example/n", "k3y", message()).body == req.body


def test_dedupe_keys_and_kinds():
    assert dn.dedupe_key("shipped", "shipment", 7) == "notify.shipped:shipment:7"
    assert dn.outbox_kind("refund_issued") == "notify.refund_issued"
    assert all(len(dn.outbox_kind(k)) <= 32 for k in dn.EVENTS)    # outbox.kind VARCHAR(32)
    with pytest.raises(ValueError):
        dn.outbox_kind("party")
