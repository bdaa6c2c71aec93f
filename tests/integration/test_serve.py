"""`wavepack serve --demo` as a user starts it (on SQLite and on PostgreSQL): a real server process on a free port with
the demo warehouse; an order through the API, a Shopify delivery applied by the inbox
worker, the docs page, and a clean stop."""
import json
import re
import time
import urllib.error
import urllib.request

import pytest

from server.domain.storefronts.signature import sign

from ..conftest import STOREFRONTS, make_app, wavepack_serve



def _call(url: str, method: str = "GET", body: bytes | None = None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture
def server(tmp_path, db_url):
    pg = db_url.startswith("postgres")
    if pg:
        make_app(db_url)          # this worker's schema, emptied: the demo is created afresh
    with wavepack_serve(tmp_path / "data", "--demo", db_url=db_url if pg else None) as served:
        yield served.base, served.banner


def test_demo_server_takes_orders_and_webhooks(server, tmp_path, db_url):
    base, banner = server
    assert f"wavepack serving on {base}" in banner
    assert "badge 3001 PIN 3333  (supervisor)" in banner
    api = re.search(r"demo-api channel: (wpc_\S+)", banner).group(1)
    sup = re.search(r"supervisor: (wps_\S+)", banner).group(1)
    status, body = _call(base + "/healthz")
    kind = "postgresql" if db_url.startswith("postgres") else "sqlite"
    assert status == 200 and json.loads(body)["database"] == kind
    assert (tmp_path / "data" / "wavepack.db").exists() == (kind == "sqlite")
    status, body = _call(base + "/docs")
    assert status == 200 and b"/api/v1/orders" in body

    order = {"ref": "E2E-1", "placed_at": "2025-06-02T09:12:00+01:00", "currency": "GBP",
             "paid": True, "ship_to": {"name": "O B", "phone": "+447700900101",
                                       "address1": "27 Granby St", "city": "Leicester",
                                       "postcode": "LE1 6EJ", "country": "GB"},
             "lines": [{"sku": "WP-TEE-BLK-M", "quantity": 2, "unit_price": "24.00"}]}
    status, body = _call(base + "/api/v1/orders", "POST", json.dumps(order).encode(),
                         {"Authorization": f"Bearer {api}", "Content-Type": "application/json"})
    assert status == 201 and json.loads(body)["status"] == "ready", body

    raw = (STOREFRONTS / "shopify" / "orders-paid.json").read_bytes()
    headers = json.loads((STOREFRONTS / "shopify" / "orders-paid.headers.json").read_text())
    assert headers["X-Shopify-Hmac-Sha256"] == sign(raw, "wavepack-test-secret")
    status, body = _call(base + "/webhooks/shopify/demo-shopify", "POST", raw, headers)
    assert status == 200 and json.loads(body)["outcome"] == "queued"
    deadline, found = time.monotonic() + 15, []
    while time.monotonic() < deadline and not found:      # the inbox worker applies it
        _, body = _call(base + "/api/v1/orders?limit=50",
                        headers={"Authorization": f"Bearer {sup}"})
        found = [o for o in json.loads(body)["orders"] if o["ref"] == "#1001"]
        time.sleep(0.2)
    assert found and found[0]["external_id"] == "1858075858435891816"
    assert found[0]["status"] == "ready"
    status, _ = _call(base + "/webhooks/shopify/demo-shopify", "POST", raw,
                      {**headers, "X-Shopify-Hmac-Sha256": sign(raw, "wrong")})
    assert status == 401

    # the demo's ready orders for Rotterdam make one wave a picker can start on
    assert "6 ready in warehouse rtm" in banner and f"handheld {base}/handheld/" in banner
    status, body = _call(base + "/api/v1/waves", "POST", json.dumps({"warehouse": "rtm"}).encode(),
                         {"Authorization": f"Bearer {sup}", "Content-Type": "application/json"})
    wave = json.loads(body)
    assert status == 201 and wave["orders"] == 6 and wave["skipped"] == [], body
    assert wave["length_m"] <= wave["sshape_length_m"]
    status, body = _call(base + "/handheld/")
    assert status == 200 and b"<html" in body.lower()
