"""Webhook signatures and the WooCommerce ping, against the signed fixtures' exact bytes."""
from __future__ import annotations

import json

import pytest

from server.domain.storefronts.signature import is_woocommerce_ping, sign, verify

from tests.conftest import STOREFRONTS
SECRET = "wavepack-test-secret"

# (body file, headers file, signature header)
SIGNED = [
    ("shopify/orders-paid.json", "shopify/orders-paid.headers.json", "X-Shopify-Hmac-Sha256"),
    ("woocommerce/order-created.json", "woocommerce/order-created.headers.json",
     "X-WC-Webhook-Signature"),
]


def _delivery(body_file: str, headers_file: str, header: str) -> tuple[bytes, str]:
    body = (STOREFRONTS / body_file).read_bytes()
    headers = json.loads((STOREFRONTS / headers_file).read_text(encoding="utf-8"))
    return body, headers[header]


@pytest.mark.parametrize("body_file,headers_file,header", SIGNED)
def test_fixture_signature_verifies_over_the_exact_bytes(body_file, headers_file, header):
    body, signed = _delivery(body_file, headers_file, header)
    assert not body.endswith(b"\n")
    assert sign(body, SECRET) == signed
    assert len(signed) == 44
    assert verify(body, signed, [SECRET])


@pytest.mark.parametrize("body_file,headers_file,header", SIGNED)
def test_wrong_secret_fails(body_file, headers_file, header):
    body, signed = _delivery(body_file, headers_file, header)
    assert not verify(body, signed, ["not-the-secret"])
    assert not verify(body, signed, [])
    assert not verify(body, signed, ["", ""])


@pytest.mark.parametrize("body_file,headers_file,header", SIGNED)
def test_reserialised_or_edited_body_fails(body_file, headers_file, header):
    body, signed = _delivery(body_file, headers_file, header)
    reserialised = json.dumps(json.loads(body), separators=(",", ":")).encode("utf-8")
    assert reserialised != body
    assert not verify(reserialised, signed, [SECRET])
    assert not verify(body + b"\n", signed, [SECRET])      # an editor's final newline


@pytest.mark.parametrize("header_value", [None, "", "   "])
def test_missing_or_empty_header_fails(header_value):
    body, _ = _delivery(*SIGNED[0])
    assert not verify(body, header_value, [SECRET])


def test_rotation_accepts_either_secret():
    body, signed = _delivery(*SIGNED[0])
    assert verify(body, signed, ["the-new-secret", SECRET])
    assert verify(body, signed, [SECRET, "the-new-secret"])
    assert verify(body, signed, iter(["", SECRET]))         # any iterable, empty ones skipped


def test_a_lone_string_secret_is_one_secret_not_its_characters():
    body, signed = _delivery(*SIGNED[0])
    assert verify(body, signed, SECRET)
    assert not verify(b"x", sign(b"x", "w"), "wavepack")   # would match 'w' if iterated


def test_header_with_surrounding_blanks_and_garbage():
    body, signed = _delivery(*SIGNED[0])
    assert verify(body, f" {signed} ", [SECRET])
    assert not verify(body, signed[:-1], [SECRET])
    assert not verify(body, "zé" + signed, [SECRET])        # non-ASCII must not raise


def test_ping_fixture_is_a_ping_and_is_unsigned():
    body = (STOREFRONTS / "woocommerce" / "ping.txt").read_bytes()
    headers = json.loads((STOREFRONTS / "woocommerce" / "ping.headers.json").read_text())
    assert body == b"webhook_id=7"
    assert is_woocommerce_ping(body)
    assert not any(name.lower().startswith("x-wc-") for name in headers)
    assert sign(body, SECRET) == "re77d9Jshy5vrL2VbNcqjqw1kbA7BEAOcKUhlZfJoJo="


@pytest.mark.parametrize("body", [
    b"webhook_id=7\n", b"webhook_id=", b"webhook_id=7&x=1", b" webhook_id=7", b"webhook_id=abc",
    b"webhook_id=-7", b"WEBHOOK_ID=7", b"", b'{"webhook_id":7}', "webhook_id=7",
])
def test_anything_else_is_not_a_ping(body):
    assert not is_woocommerce_ping(body)


def test_order_bodies_are_not_pings():
    for body_file, _, _ in SIGNED:
        assert not is_woocommerce_ping((STOREFRONTS / body_file).read_bytes())
    assert is_woocommerce_ping(b"webhook_id=1234567890")
