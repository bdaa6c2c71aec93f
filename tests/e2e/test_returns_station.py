"""The returns station web page in headless Chromium against a real `wavepack serve --demo`,
on SQLite and on PostgreSQL.

The server runs as the pack page's e2e runs it (station pack-1 printing on a fake ZPL
printer), with one more native channel whose callback URL is a fake storefront in this
process (tests/fake_storefront.py). An order of that channel is picked over Socket.IO,
packed and dispatched through the API, and a refund return of one of its tees is
authorised through the API. At the station a packer scans the RMA, the tee (ok), a second
tee (over_return), a label that is no product (unknown_barcode) and the order's mug that
is not in the return (not_in_return, shown in red), puts the mug in quarantine, grades the
tees resellable and restocks them to their bin, and closes the return: the tee's on-hand
is two up, and the refund of the one tee authorised reaches the storefront exactly once.
A repair return goes through its own steps (in repair, repaired, shipped back) instead
of closing. The page also speaks Chinese (an unannounced parcel opened, scrapped and
closed there), and a picker's badge is refused.
"""
from __future__ import annotations

import dataclasses
import json
import time
import uuid

import pytest

from printers.fake import FakePrinter
from server.demo_data import PRODUCTS

from ..conftest import PG_BASE, _pg_available, need
from ..fake_storefront import FakeStorefront
from .pages import after, call, log_in, new_page, scan, verdict
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

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def station(request, tmp_path_factory):
    """(server, shop): the demo server on each database, with a native channel CHANNEL
    whose callbacks go to the fake storefront `shop` (one per server); the server's
    api_token is CHANNEL's token, so the orders made with it are CHANNEL's."""
    data = tmp_path_factory.mktemp("e2e-returns")
    env = {}
    if request.param == "postgresql":
        need(_pg_available(), "PostgreSQL at 127.0.0.1:5432 (database test)")
        schema = f"wp_e2e_returns_{uuid.uuid4().hex[:8]}"
        env["DATABASE_URL"] = f"{PG_BASE}?schema={schema}"
    try:
        with FakeStorefront() as shop, FakePrinter() as printer, \
                serve_pack_station(data, printer, **env) as server:
            url = env.get("DATABASE_URL") or f"sqlite:///{data / 'data' / 'wavepack.db'}"
            token = _add_channel(url, shop.callback_url, shop.signing_secret)
            yield dataclasses.replace(server, api_token=token), shop
    finally:
        if env:
            import psycopg
            with psycopg.connect(PG_BASE, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def returns_server(station):
    return station[0]


@pytest.fixture(scope="module")
def shop(station):
    return station[1]


def _add_channel(url: str, callback_url: str, secret: str) -> str:
    """Channel CHANNEL (native, callbacks to `callback_url`) in the served server's
    database at `url`, as `wavepack channel add` does, and a token of it (in this process:
    two CLI runs cost ~13 s)."""
    from server import create_app
    from server.services import auth, channels
    from server.store.db import db
    app = create_app({"database": {"url": url}, "testing": True}, create_db=False)
    with app.app_context(), db.connection_context():
        channels.add_channel(CHANNEL, "native", secret=secret, callback_url=callback_url)
        return auth.create_token(channel=CHANNEL, label="e2e returns")


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



def _authorise(server, lines, kind: str = "refund") -> dict:
    """A return of ORDER authorised through the API by its channel."""
    status, body = call(server, "POST", "/api/v1/returns",
                        {"order": ORDER, "kind": kind, "reason": "too small",
                         "lines": [{"sku": sku, "quantity": q, "reason": "size"}
                                   for sku, q in lines]}, server.api_token)
    assert status == 201 and body["status"] == "authorised", body
    return body


def _refund_requests(shop, rma: str) -> list[dict]:
    """The native callbacks that carry `rma` (the shipment's fulfilment is another)."""
    return [r for r in shop.calls("POST", "/callback") if rma.encode() in r["body"]]


def _wait_outbox_sent(server, return_id: int) -> dict:
    """The return's refund message once the outbox worker has sent it."""
    status, body = call(server, "GET", f"/api/v1/returns/{return_id}",
                        token=server.supervisor_token)
    assert status == 200 and body["refund_outbox_id"], body
    for _ in range(200):
        status, box = call(server, "GET", "/api/v1/outbox?state=sent",
                           token=server.supervisor_token)
        assert status == 200, box
        sent = [m for m in box["outbox"] if m["id"] == body["refund_outbox_id"]]
        if sent:
            return sent[0]
        time.sleep(0.05)
    pytest.fail(f"the refund was never sent: {body} {server.log()}")


def _tap(page, selector: str, expect: str) -> dict:
    """Tap a button; what the banner then shows, which must carry the code `expect`."""
    before = verdict(page)["seq"]
    page.click(selector)
    shown = after(page, before)
    assert shown["code"] == expect, (selector, shown)
    return shown


def _log_in_at_station(context, server):
    page, errors = _open_page(context, server)
    log_in(page, PACKER_BADGE, PACKER_PIN)
    page.wait_for_selector("#work-view:not([hidden])")
    return page, errors


# ---- the tests ----------------------------------------------------------------------------

def test_a_return_is_received_restocked_and_refunded_once(returns_server, shipped, shop,
                                                         browser_context_factory):
    server = returns_server
    ret = _authorise(server, [(TEE, 1)])
    tee_before = _on_hand(server, TEE, HOME[TEE])
    context = browser_context_factory(locale="en-GB", viewport={"width": 1280, "height": 900})
    page, errors = _log_in_at_station(context, server)
    assert page.text_content("#needs") == \
        "Scan the RMA, the return label or the original tracking number"

    # the RMA opens the return and receives its parcel
    shown = scan(page, ret["rma"], expect="opened")
    assert shown["text"] == f"Return {ret['rma']}" and shown["kind"] == "ok"
    assert page.text_content("#r-rma") == ret["rma"]
    assert page.text_content("#r-order") == ORDER
    assert page.text_content("#r-status") == "Received"
    assert _lines(page) == {TEE: (1, 0, "", "")}
    assert page.text_content("#needs") == "Scan each item in the parcel"
    page.reload()                      # the open return is shown again, as the server has it
    page.wait_for_selector("#return:not([hidden])")
    assert page.text_content("#r-rma") == ret["rma"] and _lines(page) == {TEE: (1, 0, "", "")}

    # the tee: ok; a second tee (one was authorised): over_return; a label that is no
    # product: unknown_barcode, nothing counted; the mug shipped in the same order but not
    # returned: red, a line of its own
    shown = scan(page, GTIN[TEE], expect="ok")
    assert shown["kind"] == "ok" and shown["text"] == "OK"
    shown = scan(page, GTIN[TEE], expect="over_return")
    assert shown["text"] == "More than the return allows" and shown["kind"] == "error"
    shown = scan(page, "NOT-A-PRODUCT-7", expect="unknown_barcode")
    assert shown["kind"] == "warn"
    shown = scan(page, GTIN[MUG], expect="not_in_return")
    assert shown["text"] == "Not in this return" and shown["colour"] == "rgb(185, 28, 28)"
    assert _lines(page) == {TEE: (1, 2, "", ""), MUG: (0, 1, "", "")}
    assert page.get_attribute(f"#lines tr[data-sku='{MUG}']", "class").split().count("extra") == 1

    # closing before every item has its disposition is refused, and said so
    shown = _tap(page, "#close-return", "not_disposed")
    assert MUG in shown["text"] and TEE in shown["text"]

    # the mug (the line last scanned is the one being graded): damaged, quarantined
    assert page.text_content("#dispose-title") == f"{MUG}: 1 received"
    page.click("#grades button[data-grade=damaged]")
    page.click("#dispositions button[data-disposition=quarantine]")
    _tap(page, "#dispose-save", "disposed")
    assert page.is_hidden("#dispose")

    # the tee, tapped: resellable, restocked to its bin scanned with the wedge
    page.click(f"#lines tr[data-sku='{TEE}']")
    page.click("#grades button[data-grade=resellable]")
    page.click("#dispositions button[data-disposition=restock]")
    assert page.evaluate("document.activeElement.id") == "location"
    before = verdict(page)["seq"]
    page.keyboard.type(HOME[TEE])
    page.keyboard.press("Enter")
    assert after(page, before)["code"] == "disposed"
    assert _lines(page) == {TEE: (1, 2, "Resellable", f"Restock → {HOME[TEE]}"),
                            MUG: (0, 1, "Damaged", "Quarantine")}
    assert page.text_content("#needs") == "Every item is graded: close the return"

    # closed: on hand two up at the bin (both tees came back), the refund of the one
    # authorised (10.00) at the storefront exactly once
    shown = _tap(page, "#close-return", "closed")
    assert shown["text"] == f"Return {ret['rma']} closed"
    assert page.text_content("#r-status") == "Closed"
    assert page.is_visible("#next-return") and page.is_hidden("#close-return")
    assert _on_hand(server, TEE, HOME[TEE]) == tee_before + 2
    sent = _wait_outbox_sent(server, ret["id"])
    assert sent["attempts"] == 1, sent
    refunds = _refund_requests(shop, ret["rma"])
    assert len(refunds) == 1, refunds
    assert refunds[0]["headers"].get("x-wavepack-event") == "return.refunded", refunds[0]
    assert json.loads(refunds[0]["body"])["refund"]["amount"] == "10.00", refunds[0]
    status, body = call(server, "POST", f"/api/v1/returns/{ret['id']}/close", {},
                        server.supervisor_token)
    assert status == 409, body
    assert len(_refund_requests(shop, ret["rma"])) == 1

    page.click("#next-return")
    assert page.is_hidden("#return")
    assert errors == []


def test_a_repair_goes_through_its_own_steps(returns_server, shipped, browser_context_factory):
    server = returns_server
    ret = _authorise(server, [(MUG, 1)], kind="repair")
    context = browser_context_factory(locale="en-GB", viewport={"width": 1280, "height": 900})
    page, errors = _log_in_at_station(context, server)
    scan(page, ret["rma"], expect="opened")
    assert page.text_content("#r-kind") == "Repair"
    scan(page, GTIN[MUG], expect="ok")
    page.click("#grades button[data-grade=damaged]")
    page.click("#dispositions button[data-disposition=repair]")
    _tap(page, "#dispose-save", "disposed")
    assert page.is_hidden("#close-return")           # a repair is not closed: it is sent back
    for step, words, status in (("in_repair", "Send to repair", "In repair"),
                                ("repaired", "Repaired", "Repaired"),
                                ("shipped_back", "Shipped back to the customer", "Shipped back")):
        assert page.text_content("#repair-step") == words
        shown = _tap(page, "#repair-step", step)
        assert shown["text"] == f"Return {ret['rma']}: {status}"
        assert page.text_content("#r-status") == status
    assert page.is_hidden("#repair-step") and page.is_visible("#next-return")
    # its RMA scanned again: shown, and said to be over
    shown = scan(page, ret["rma"], expect="return_shipped_back")
    assert shown["kind"] == "warn" and shown["text"] == f"Return {ret['rma']} is Shipped back"
    status, body = call(server, "GET", f"/api/v1/returns/{ret['id']}",
                        token=server.supervisor_token)
    assert body["status"] == "shipped_back" and body["lines"][0]["disposition"] == "repair"
    assert errors == []


def test_chinese_words_and_an_unannounced_parcel(returns_server, browser_context_factory):
    server = returns_server
    context = browser_context_factory(locale="zh-CN")
    page, errors = _log_in_at_station(context, server)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.title() == "wavepack 退货工作台"
    assert page.text_content("#needs") == "扫描退货授权号（RMA）、退货面单或原运单号"
    assert page.get_attribute("#scan", "placeholder") == "扫描或输入条码，然后回车"

    # a parcel nothing knows: said in Chinese, then opened as an unannounced return
    shown = scan(page, "PARCEL-NOBODY-SENT-1", expect="unknown_code")
    assert shown["text"] == "无法识别此条码"
    assert page.text_content("#unannounced-title") == "未找到 PARCEL-NOBODY-SENT-1 对应的退货"
    page.fill("#unannounced-note", "一件T恤，无寄件人")
    shown = _tap(page, "#unannounced-open", "unannounced")
    assert shown["text"].startswith("未预报退货 ")
    rma = page.text_content("#r-rma")
    assert shown["text"] == f"未预报退货 {rma} 已登记：已通知主管"
    assert page.text_content("#r-status") == "已收货"
    assert page.text_content("#r-exception").startswith("未预报包裹：已为主管创建异常 ")
    shown = scan(page, GTIN[TEE], expect="not_in_return")
    assert shown["text"] == "不在此退货单中"
    assert page.text_content("#r-order") == "—"          # no order matched
    assert page.text_content("#grades button[data-grade=missing_parts]") == "缺少配件"
    page.click("#grades button[data-grade=damaged]")
    page.click("#dispositions button[data-disposition=scrap]")
    shown = _tap(page, "#dispose-save", "disposed")
    assert shown["text"] == f"{TEE}：报废"
    assert page.text_content("#close-return") == "关闭退货单"
    shown = _tap(page, "#close-return", "closed")
    assert shown["text"] == f"退货单 {rma} 已关闭" and page.text_content("#r-status") == "已关闭"

    # back to English with the button, remembered
    page.click("#lang")
    assert page.text_content("#next-return") == "Next parcel"
    assert page.text_content("#r-status") == "Closed"
    assert page.evaluate("localStorage.getItem('wp.returns.lang')") == "en"
    assert errors == []


def test_a_picker_badge_is_refused(returns_server, browser_context_factory):
    server = returns_server
    context = browser_context_factory(locale="en-GB")
    page, errors = _open_page(context, server)
    log_in(page, PICKER_BADGE, PICKER_PIN)
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.get_attribute("#login-error", "data-code") == "forbidden"
    assert page.text_content("#login-error") == "This badge may not receive returns"
    assert page.is_hidden("#work-view")
    assert page.evaluate("sessionStorage.getItem('wp.returns.auth')") is None
    # and the server says the same to the picker's token
    picker = _staff_token(server, PICKER_BADGE, PICKER_PIN)
    status, body = call(server, "GET", "/api/v1/returns/find?code=X", token=picker)
    assert status == 403, body
    assert errors == []
