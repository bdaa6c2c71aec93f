"""Webhook signatures (Shopify and WooCommerce sign the same way) and the WooCommerce ping.

signature = base64(HMAC-SHA256(key = secret as UTF-8, message = the raw request body)).
Verify on the raw bytes *before* any JSON parsing: neither platform's encoding survives a
parse and re-serialise.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Iterable

_PING = re.compile(rb"webhook_id=[0-9]+")


def sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, body)), standard alphabet with padding (44 characters)."""
    digest = hmac.new(secret.encode("utf-8"), bytes(body), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, header_value: str | None, secrets: Iterable[str]) -> bool:
    """True when `header_value` is the signature of `body` under any non-empty secret.

    Several secrets are accepted so that a rotation can overlap (Shopify keeps signing with
    the old secret for up to an hour). Each comparison is constant-time, and every secret is
    tried, so timing does not tell which one matched. A missing or empty header is False.
    """
    if not header_value or not header_value.strip():
        return False
    if isinstance(secrets, str):          # a lone secret passed by mistake: not its characters
        secrets = (secrets,)
    provided = header_value.strip().encode("utf-8", "replace")
    matched = False
    for secret in secrets:
        if secret:
            expected = sign(body, secret).encode("ascii")
            matched = hmac.compare_digest(expected, provided) or matched
    return matched


def is_woocommerce_ping(body: bytes) -> bool:
    """True only for the unsigned ping WooCommerce sends to a new webhook URL.

    The body is exactly `webhook_id=<digits>`: no trailing newline, no other field.
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        return False
    return _PING.fullmatch(bytes(body)) is not None
