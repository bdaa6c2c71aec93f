"""The returns station web page in headless Chromium against a real `wavepack serve --demo`.

The server runs as the pack page's e2e runs it (station pack-1 printing on a fake ZPL
printer), with one more native channel whose callback URL is a fake storefront in this
process (tests/fake_storefront.py). An order of that channel is picked over Socket.IO,
packed and dispatched through the API, and a refund return of one of its tees is
authorised through the API. At the station a packer scans the RMA, the tee (ok) and the
order's mug that is not in the return (not_in_return, shown in red), grades the tee
resellable and restocks it to a bin, puts the mug in quarantine, and closes the return:
the tee's on-hand is one up and the refund signal reaches the storefront exactly once.
The page also speaks Chinese, and a picker's badge is refused.
"""
from __future__ import annotations

import dataclasses
import subprocess
import time
import uuid

import pytest

from printers.fake import FakePrinter
from server.demo_data import PRODUCTS

from ..conftest import console_script
from ..fake_storefront import FakeStorefront
from .pages import call, log_in, new_page, scan, verdict
from .test_pack_page import _picked_orders, serve_pack_station

GTIN = {sku: gtin for sku, gtin, *_ in PRODUCTS}
HOME = {sku: loc for sku, *_, loc in PRODUCTS}
TEE, MUG = "WP-TEE-BLK-M", "WP-MUG-350-SAGE"
ORDER = "E2E-RET-1"
PACKER_BADGE, PACKER_PIN = "2001", "2222"
PICKER_BADGE, PICKER_PIN = "1001", "1111"
STATION = "pack-1"
CHANNEL = "e2e-shop"


# ---- the server, its storefront, a shipped order, an authorised return ----------------------

@pytest.fixture(scope="module")
def shop():
    with FakeStorefront() as fake:
        yield fake


@pytest.fixture(scope="module")
def returns_server(tmp_path_factory, shop):
    """The demo server, with a native channel CHANNEL whose callbacks go to `shop`; its
    api_token is CHANNEL's token, so the orders made with it are CHANNEL's."""
    data = tmp_path_factory.mktemp("e2e-returns")
    with FakePrinter() as printer, serve_pack_station(data, printer) as server:
        wavepack = _cli(data, server)
        wavepack("channel", "add", CHANNEL, "--kind", "native", "--secret", shop.signing_secret,
                 "--callback-url", shop.callback_url)
        token = wavepack("token", "create", "--channel", CHANNEL).strip().splitlines()[-1]
        yield dataclasses.replace(server, api_token=token)


def _cli(data, server):
    """`wavepack ARGS` on the served server's database (SQLite: the same data dir)."""
    env_out = {"WAVEPACK_SERVER_DATA_DIR": str(data / "data"),
               "WAVEPACK_CONFIG": str(data / "pack-station.yaml")}

    def run(*args: str) -> str:
        import os
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | env_out
        done = subprocess.run([console_script("wavepack"), *args], env=env, text=True,
                              capture_output=True, timeout=60)
        assert done.returncode == 0, (args, done.stdout, done.stderr, server.log())
        return done.stdout

    return run


def _staff_token(server, badge: str, pin: str) -> str:
    status, body = call(server, "POST", "/api/v1/auth/badge", {"badge": badge, "pin": pin})
    assert status == 200, body
    return body["token"]


@pytest.fixture(scope="module")
def shipped(returns_server) -> int:
    """ORDER (2 tees, 1 mug) picked, packed at pack-1 and dispatched through the API."""
    server = returns_server
    (order_id,) = _picked_orders(server, {ORDER: [(TEE, 2), (MUG, 1)]}).values()
    packer = _staff_token(server, PACKER_BADGE, PACKER_PIN)
    status, s = call(server, "POST", "/api/v1/pack/sessions", {"station": STATION, "scan": ORDER},
                     packer)
    assert status == 201, s
    for sku in (TEE, TEE, MUG):
        status, v = call(server, "POST", f"/api/v1/pack/sessions/{s['id']}/scan",
                         {"scan_id": str(uuid.uuid4()), "raw": GTIN[sku]}, packer)
        assert status == 200 and v["verdict"] == "ok", v
    status, done = call(server, "POST", f"/api/v1/pack/sessions/{s['id']}/confirm", {}, packer)
    assert status == 201, done
    job = done["label_job"]["id"]
    for _ in range(200):     # the print worker sends the label to the fake printer
        status, j = call(server, "GET", f"/api/v1/print-jobs/{job}", token=packer)
        if j["state"] == "printed":
            break
        time.sleep(0.05)
    assert j["state"] == "printed", (j, server.log())
    status, body = call(server, "POST", f"/api/v1/shipments/{done['shipment']['id']}/dispatch",
                        {}, packer)
    assert status == 200 and body["state"] == "shipped", body
    return order_id


def _on_hand(server, sku: str, location: str) -> int:
    status, body = call(server, "GET", f"/api/v1/stock?sku={sku}", token=server.supervisor_token)
    assert status == 200, body
    return sum(r["on_hand"] for r in body["locations"]
               if r["warehouse"] == "main" and r["location"] == location)


# ---- the page ----------------------------------------------------------------------------

def _open_page(context, server):
    page, errors = new_page(context, 15_000)
    page.goto(server.base + "/returns/")
    return page, errors


def _lines(page) -> dict[str, tuple[int, int, str, str]]:
    """sku → (expected, received, grade, disposition) as the lines table shows them."""
    rows = page.evaluate("""() => [...document.querySelectorAll('#lines tbody tr')].map(r =>
        [r.dataset.sku, ...['quantity', 'received', 'grade', 'disposition'].map(c =>
            r.querySelector('td.' + c).textContent)])""")
    return {sku: (int(q), int(r), g, d) for sku, q, r, g, d in rows}


def test_smoke_shipped(returns_server, shipped):
    status, order = call(returns_server, "GET", f"/api/v1/orders/{shipped}",
                         token=returns_server.supervisor_token)
    assert order["status"] == "shipped", order
