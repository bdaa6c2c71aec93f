"""The pack station web page in headless Chromium against a real `wavepack serve --demo`.

The demo server runs with one station, pack-1, whose label printer is a fake ZPL printer
in this process (a WAVEPACK_CONFIG overlay points label-1 at it), so the test can take
its paper away and count what it received. Two orders are picked over Socket.IO as a
handheld does; then the packer packs one of them through the page: opens it by scanning
its reference, scans an item of the other order (red, not counted), scans every unit
(one of them with its answer lost on the way back: the page sends the same scan_id again
and the server counts it once), weighs, confirms while the printer is out of paper (the
page shows it and the label job stays queued), puts paper back (the job becomes printed;
the printer got the label exactly once), previews and reprints it, and reads it all in
Chinese after the language switch.
"""
from __future__ import annotations

import contextlib
import json
import re
import time
import uuid

import pytest

from printers.fake import FakePrinter
from server.demo_data import PRODUCTS

from ..live import Handheld
from .conftest import _serve_demo
from .pages import after, call, log_in, new_page, released_wave, scan, verdict

GTIN = {sku: gtin for sku, gtin, *_ in PRODUCTS}
ORDERS = {   # one wave: PACK-B's bottle is the "tote mix-up" item scanned into PACK-A
    "E2E-PACK-A": [("WP-TEE-BLK-M", 2), ("WP-MUG-350-SAGE", 1)],
    "E2E-PACK-B": [("WP-BOTL-750-STL", 1)],
}
PACKED, OTHER = "E2E-PACK-A", "E2E-PACK-B"
PACKER_BADGE, PACKER_PIN = "2001", "2222"
PICKER_BADGE, PICKER_PIN = "1001", "1111"
STATION = "pack-1"
SLOW_S = 60_000     # ms: a printer coming back waits for the print worker's back-off


# ---- the server, its printer, a picked wave ------------------------------------------------

@pytest.fixture(scope="module")
def label_printer():
    with FakePrinter() as printer:
        yield printer


@pytest.fixture(scope="module")
def pack_server(tmp_path_factory, label_printer):
    """`wavepack serve --demo` with station pack-1 printing on the fake printer."""
    with serve_pack_station(tmp_path_factory.mktemp("e2e-pack"), label_printer) as server:
        yield server


@contextlib.contextmanager
def serve_pack_station(data, label_printer, **env):
    """`wavepack serve --demo` in `data` with station pack-1 printing on `label_printer`
    (and `env` in its environment, e.g. DATABASE_URL)."""
    overlay = data / "pack-station.yaml"
    overlay.write_text(
        f'printers:\n  label-1: {{url: "{label_printer.url}"}}\n'
        f"stations:\n  {STATION}: {{warehouse: main, printer: label-1}}\n"
        # every round a faulted printer refuses counts as an attempt, and max_attempts of
        # them fail the label: with poll_seconds 0.2 that is ~3 s of paper out. The page
        # must show a label waiting for as long as the packer takes to load paper.
        "printing: {poll_seconds: 0.2, timeout_seconds: 2, max_attempts: 1000}\n",
        encoding="utf-8")
    with _serve_demo(data, WAVEPACK_CONFIG=str(overlay), **env) as server:
        yield server


@pytest.fixture(scope="module")
def picked(pack_server) -> dict[str, int]:
    """ORDERS picked on the pack server: order id by ref."""
    return _picked_orders(pack_server)


def _picked_orders(server, orders=None, fields=None) -> dict[str, int]:
    """`orders` (ref → [(sku, quantity)], default ORDERS) through the API, with the native
    order fields in `fields` (ref → {field: value}), one wave over them, released, and every unit picked over
    Socket.IO as the picker's handheld does (tests/live.py's client); order id by ref."""
    ids = released_wave(server, orders or ORDERS, fields, carrier="Royal Mail")
    status, login = call(server, "POST", "/api/v1/auth/badge",
                         {"badge": PICKER_BADGE, "pin": PICKER_PIN})
    assert status == 200, login
    handheld = Handheld(server.base, login["token"], "HH-E2E-PACK")
    try:
        task = handheld.call("task.next")["task"]
        for _ in range(100):
            if task is None:
                break
            raw = task["location"] if task["needs"] == "location" else GTIN[task["sku"]]
            ack = handheld.call("scan", {"scan_id": str(uuid.uuid4()), "raw": raw})
            assert ack["ok"], (task, ack)
            task = ack["next"] or handheld.call("task.next")["task"]
        else:
            pytest.fail(f"the wave never finished picking; at {task}")
    finally:
        handheld.close()
    for ref, order_id in ids.items():
        status, order = call(server, "GET", f"/api/v1/orders/{order_id}",
                             token=server.supervisor_token)
        assert status == 200 and order["status"] == "picked", (ref, order)
    return ids


# ---- reading the page ------------------------------------------------------------------------

def _open_page(context, server):
    page, errors = new_page(context, 15_000)
    page.goto(server.base + "/pack/")
    return page, errors


def _lines(page) -> dict[str, tuple[int, int, int]]:
    """sku → (quantity, verified, remaining) as the lines table shows them."""
    rows = page.evaluate("""() => [...document.querySelectorAll('#lines tbody tr')].map(r =>
        [r.dataset.sku, ...['quantity', 'verified', 'remaining'].map(c =>
            Number(r.querySelector('td.' + c).textContent))])""")
    return {sku: (q, v, r) for sku, q, v, r in rows}


class LostAnswer:
    """Loses the answer to the next /scan call once armed: the request reaches the server
    (which stores and counts the scan), the page sees a network error instead of the
    answer. The page must send it again with the same scan_id."""

    def __init__(self, page):
        self.armed = False
        self.lost: list[dict] = []
        self.seen: list[dict] = []
        page.route(re.compile(r".*/api/v1/pack/sessions/\d+/scan$"), self._route)

    def _route(self, route):
        body = json.loads(route.request.post_data or "{}")
        self.seen.append(body)
        if not self.armed:
            route.continue_()
            return
        self.armed = False
        answer = route.fetch()
        self.lost.append({"status": answer.status, "request": body})
        route.abort("connectionreset")


def _wait_printer(page, state: str, timeout: int = 30_000) -> None:
    page.wait_for_selector(f"#printer[data-state={state}]", timeout=timeout)


# ---- the tests -------------------------------------------------------------------------------

def test_packer_packs_a_whole_order_through_a_paper_out(pack_server, label_printer, picked,
                                                       browser_context_factory):
    server, printer, order_ids = pack_server, label_printer, picked
    context = browser_context_factory(locale="en-GB", viewport={"width": 1280, "height": 900})
    page, errors = _open_page(context, server)
    lost = LostAnswer(page)

    # badge + PIN, then the station (remembered for the next login)
    log_in(page, PACKER_BADGE, PACKER_PIN)
    page.click(f"#stations button[data-station='{STATION}']")
    page.wait_for_selector("#work-view:not([hidden])")
    assert page.evaluate("localStorage.getItem('wp.pack.station')") == STATION
    assert page.evaluate("JSON.parse(sessionStorage.getItem('wp.pack.auth')).badge") == PACKER_BADGE
    _wait_printer(page, "ready")
    assert page.text_content("#printer-text") == "Ready"
    assert page.text_content("#needs") == "Scan a tote or the order's packing slip"

    # the order's reference opens the session
    shown = scan(page, PACKED, expect="opened")
    assert shown["text"] == f"Order {PACKED}" and shown["kind"] == "ok"
    assert page.text_content("#o-ref") == PACKED
    assert _lines(page) == {"WP-TEE-BLK-M": (2, 0, 2), "WP-MUG-350-SAGE": (1, 0, 1)}
    assert page.is_disabled("#confirm")
    assert page.text_content("#carton-name").strip()            # a carton is suggested
    assert page.text_content("#inserts").strip()                 # packing slip, returns slip

    # Confirm pressed anyway (keyboard): the server refuses, the page says what is missing
    before = verdict(page)["seq"]
    page.keyboard.press("Control+Enter")
    shown = after(page, before)
    assert shown["code"] == "not_verified", shown
    assert shown["text"].startswith("Not all items verified:") and "WP-TEE-BLK-M" in shown["text"]

    # an item of the other order in the wave: red, its own tone, nothing counted
    shown = scan(page, GTIN[ORDERS[OTHER][0][0]], expect="wrong_item")
    assert shown["kind"] == "error" and shown["colour"] == "rgb(185, 28, 28)", shown
    assert _lines(page) == {"WP-TEE-BLK-M": (2, 0, 2), "WP-MUG-350-SAGE": (1, 0, 1)}

    # the first tee: the server's answer is lost; the page retries with the same scan_id
    before = verdict(page)["seq"]
    lost.armed = True
    page.keyboard.type(GTIN["WP-TEE-BLK-M"])
    page.keyboard.press("Enter")
    page.wait_for_function("""n => { const v = document.getElementById('verdict');
        return Number(v.dataset.seq) > n && v.dataset.code === 'ok'; }""", arg=before)
    assert len(lost.lost) == 1 and lost.lost[0]["status"] == 200, lost.lost
    resent = [s for s in lost.seen if s["scan_id"] == lost.lost[0]["request"]["scan_id"]]
    assert len(resent) == 2 and resent[0] == resent[1], resent      # same id, same content
    assert _lines(page)["WP-TEE-BLK-M"] == (2, 1, 1)                 # counted once

    # every other unit
    for sku in ("WP-TEE-BLK-M", "WP-MUG-350-SAGE"):
        shown = scan(page, GTIN[sku], expect="ok")
        assert shown["colour"] == "rgb(21, 128, 61)", shown
    assert _lines(page) == {"WP-TEE-BLK-M": (2, 2, 0), "WP-MUG-350-SAGE": (1, 1, 0)}
    page.wait_for_selector("#confirm:not([disabled])")
    assert page.text_content("#needs") == "All items verified: weigh the parcel and confirm"
    # one more mug than ordered: red, not counted
    shown = scan(page, GTIN["WP-MUG-350-SAGE"], expect="over_pack")
    assert shown["kind"] == "error"

    # the scale: the expected weight as the page shows it, within tolerance
    expected = re.match(r"Expected (\d+) g ± (\d+) g", page.text_content("#weight-expected"))
    assert expected, page.text_content("#weight-expected")
    page.fill("#weight-input", expected.group(1))
    before = verdict(page)["seq"]
    page.click("#weight-save")
    assert after(page, before)["code"] == "weight_ok"
    assert page.get_attribute("#weight-result", "data-ok") == "true"

    # the printer runs out of paper: the page says so, and what to do
    printer.paper_out = True
    _wait_printer(page, "paper_out")
    assert page.text_content("#printer-text") == "Paper out"
    assert page.text_content("#printer-help") == "Load labels, then press FEED"

    # confirm: tracking number at once, the label waits for paper
    page.click("#confirm")
    page.wait_for_selector("#shipment:not([hidden])")
    tracking = page.text_content("#tracking")
    assert re.fullmatch(r"RR\d{9}GB", tracking), tracking           # Royal Mail, UPU S10
    page.wait_for_function("document.getElementById('label-error').textContent !== ''")
    assert "paper" in page.text_content("#label-error").lower()
    page.wait_for_timeout(3000)
    # each round the worker claims the job (`sending`) and puts it back (`queued`, with the
    # reason) when the printer refuses it: a poll may catch the short `sending` in between
    page.wait_for_function("() => { const l = document.getElementById('label-state');"
                           " return l.dataset.state === 'queued' && l.textContent === 'Queued'; }",
                           timeout=5_000)
    assert printer.jobs == []
    status, order = call(server, "GET", f"/api/v1/orders/{order_ids[PACKED]}",
                         token=server.supervisor_token)
    assert status == 200 and order["status"] == "packed", order

    # paper back: the page sees the printer ready, the label prints, once
    printer.resume()
    _wait_printer(page, "ready")
    page.wait_for_selector("#label-state[data-state=printed]", timeout=SLOW_S)
    assert page.text_content("#label-state") == "Printed"
    assert len(printer.wait_for_jobs(1)) == 1
    assert tracking.encode() in printer.jobs[0]
    time.sleep(1.0)
    assert len(printer.jobs) == 1, "the label was sent twice"

    # the label preview (fetched with the token, shown from a blob: URL)
    page.wait_for_selector("#label-preview:not([hidden])")
    page.wait_for_function("document.getElementById('label-preview').naturalWidth > 0")
    assert page.get_attribute("#label-preview", "src").startswith("blob:")

    # a reprint asks why, and prints once more
    first_job = page.get_attribute("#label-state", "data-job")
    page.click("#reprint")
    page.fill("#reprint-reason", "label smudged")
    before = verdict(page)["seq"]
    page.click("#reprint-send")
    assert after(page, before)["code"] == "reprint"
    page.wait_for_function(f"""() => {{ const s = document.getElementById('label-state');
        return s.dataset.job !== '{first_job}' && s.dataset.state === 'printed'; }}""",
                           timeout=SLOW_S)
    assert len(printer.wait_for_jobs(2)) == 2 and tracking.encode() in printer.jobs[1]

    # the same screen in Chinese
    page.click("#lang")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.text_content("#printer-text") == "就绪"
    assert page.text_content("#label-state") == "已打印"
    assert page.text_content("#needs") == "面单已完成：贴到包裹上，然后扫描下一个订单"
    assert page.text_content("#reprint") == "重新打印"
    assert page.text_content("#o-state") == "已确认"
    printer.head_open = True
    _wait_printer(page, "head_open")
    assert page.text_content("#printer-text") == "打印头未合上"
    assert page.text_content("#printer-help") == "合上打印头"
    printer.resume()
    _wait_printer(page, "ready")
    page.click("#lang")
    assert page.text_content("#printer-text") == "Ready"
    assert errors == []


def test_zh_cn_browser_and_who_may_pack(pack_server, browser_context_factory):
    """A zh-CN browser gets Chinese; a picker's badge is not let in; a packer's station is
    remembered, so the next login goes straight to it."""
    context = browser_context_factory(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page, errors = _open_page(context, pack_server)
    assert page.text_content("#login-button") == "登录"
    assert page.get_attribute("#scan", "placeholder") == "扫描或输入条码，然后回车"
    log_in(page, PICKER_BADGE, PICKER_PIN)
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.text_content("#login-error") == "此工牌无包装权限"
    assert page.evaluate("sessionStorage.getItem('wp.pack.auth')") is None
    log_in(page, PACKER_BADGE, "0000")
    page.wait_for_function("document.getElementById('login-error').textContent === '工牌或密码错误'")
    log_in(page, PACKER_BADGE, PACKER_PIN)
    page.wait_for_selector("#station-view:not([hidden])")
    assert page.text_content("#station-view h1") == "请选择包装台"
    page.click(f"#stations button[data-station='{STATION}']")
    page.wait_for_selector("#printer:not([hidden])")
    assert page.text_content("#needs") == "请扫描周转箱或订单装箱单"
    shown = scan(page, "NO-SUCH-ORDER", expect="not_found")
    assert shown["text"] == "找不到此条码对应的订单", shown
    page.click("#logout")
    log_in(page, PACKER_BADGE, PACKER_PIN)
    page.wait_for_selector("#work-view:not([hidden])")          # the station remembered
    assert page.text_content("#station-change") == f"包装台 {STATION}"
    assert errors == []


def test_too_many_wrong_items_hold_the_order_and_it_is_given_back(pack_server, picked,
                                                                  browser_context_factory):
    """hold_after_wrong_scans (3) wrong items: the order is held (purple, the reason shown),
    nothing counts, Confirm is refused; given back, the order stays picked."""
    server = pack_server
    context = browser_context_factory(locale="en-GB", viewport={"width": 1280, "height": 900})
    page, errors = _open_page(context, server)
    log_in(page, PACKER_BADGE, PACKER_PIN)
    page.click(f"#stations button[data-station='{STATION}']")
    page.wait_for_selector("#work-view:not([hidden])")
    scan(page, OTHER, expect="opened")
    assert _lines(page) == {"WP-BOTL-750-STL": (1, 0, 1)}

    for sku in ("WP-CAND-200-FIG", "WP-CAND-200-FIG"):                    # in no order
        shown = scan(page, GTIN[sku], expect="not_in_order")
        assert shown["kind"] == "error", shown
    held = scan(page, GTIN["WP-TEE-WHT-M"], expect="not_in_order")
    assert held["kind"] == "held" and held["colour"] == "rgb(126, 34, 206)", held
    assert held["text"] == "On hold: a supervisor must release this order"
    page.wait_for_selector("#hold:not([hidden])")
    assert page.text_content("#hold").startswith("Held: ")
    assert page.get_attribute("#o-state", "data-state") == "held"
    assert page.text_content("#needs") == "On hold: a supervisor must release this order"

    # the right item now counts for nothing, and Confirm is refused
    shown = scan(page, GTIN["WP-BOTL-750-STL"], expect="on_hold")
    assert shown["kind"] == "held", shown
    assert _lines(page) == {"WP-BOTL-750-STL": (1, 0, 1)}
    assert page.is_disabled("#confirm")
    before = verdict(page)["seq"]
    page.keyboard.press("Control+Enter")
    assert after(page, before)["code"] == "on_hold"

    # give it back (two taps): the order stays picked for another station
    page.click("#cancel-session")
    assert page.text_content("#cancel-session").startswith("Give this order back?")
    before = verdict(page)["seq"]
    page.click("#cancel-session")
    assert after(page, before)["code"] == "cancelled"
    assert page.is_hidden("#order")
    assert page.text_content("#needs") == "Scan a tote or the order's packing slip"
    status, order = call(server, "GET", f"/api/v1/orders/{picked[OTHER]}",
                         token=server.supervisor_token)
    assert status == 200 and order["status"] == "picked", order
    assert errors == []
