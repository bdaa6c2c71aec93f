"""The handheld web page in headless Chromium against a real `wavepack serve --demo`.

A picker logs in with the demo badge, works a whole released cart through the page (one
wrong item, one short pick), loses the network mid-cart (scans go to IndexedDB, survive a
page reload, and replay in order), and the server's order lines end with exactly the
units scanned. Plus: zh-CN strings for a zh-CN browser, and the error for a bad PIN.
"""
from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import zxingcpp

from server.demo_data import PRODUCTS

from .pages import call, log_in, new_page, released_wave, scan, verdict

GTIN = {sku: gtin for sku, gtin, *_ in PRODUCTS}
ORDERS = {   # ref → lines; every SKU in one order only, so a task's SKU names its line
    "E2E-A": [("WP-TEE-BLK-M", 2), ("WP-MUG-350-SAGE", 1)],
    "E2E-B": [("WP-SOCK-3PK-M", 3), ("WP-CAP-NVY", 1)],
    "E2E-C": [("WP-NOTE-A5-DOT", 2), ("WP-HOOD-GRY-M", 1)],
}
SHORT_SKU = "WP-SOCK-3PK-M"        # one unit found, the rest short
STRANGER = "WP-BOTL-750-STL"       # a known product on no task of this cart: wrong_item
PICKER_BADGE, PICKER_PIN = "1001", "1111"


def _open(context, server, before_load=None):
    page, errors = new_page(context, 10_000)
    extra = before_load(page) if before_load else None
    page.goto(server.base + "/handheld/")
    return page, errors, extra


def _task(page) -> dict | None:
    """What the page shows: the current task, or None (cart done / no work)."""
    return page.evaluate("""() => {
        const el = (id) => document.getElementById(id);
        if (el('task').hidden) return null;
        return {task_id: Number(el('task').dataset.taskId), needs: el('needs').dataset.needs,
                location: el('t-location').textContent, sku: el('t-sku').textContent,
                quantity: Number(el('t-quantity').textContent),
                picked: Number(el('t-picked').textContent),
                remaining: Number(el('t-remaining').textContent),
                position: el('t-position').textContent};
    }""")


def _confirm_put(page, by_label: bool) -> bool:
    """The put-to-tote step (picking.confirm_tote, on by default): after a task's last unit
    the page shows the tote and waits for its label or a tap. Confirms it when shown."""
    if page.is_hidden("#put"):
        return False
    if by_label:
        scan(page, page.get_attribute("#put", "data-label"), expect="ok")
    else:
        page.click("#put-confirm")
    page.wait_for_selector("#put", state="hidden")
    return True


def _pending(page) -> int:
    count = page.get_attribute("#pending", "data-count")
    return int(count or 0)


def _work_offline(page, context, task: dict) -> int:
    """Lose the network at the start of `task`; scan its location and every unit while
    offline; reload the page, still offline (the service worker serves it, the scans are
    read back from IndexedDB); get the network back and wait until they have replayed.
    Returns the units scanned."""
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    context.set_offline(True)
    page.wait_for_selector("#conn[data-status=offline]")
    typed = [task["location"]] + [GTIN[task["sku"]]] * task["remaining"]
    for n, text in enumerate(typed, 1):
        scan(page, text, expect="queued")
        assert _pending(page) == n
    assert page.text_content("#pending") == f"{len(typed)} waiting to send"
    assert _task(page)["picked"] == task["picked"], "the page must not count by itself"

    page.reload()
    page.wait_for_function(f"document.getElementById('pending').dataset.count === '{len(typed)}'")
    assert page.get_attribute("#conn", "data-status") == "offline"
    stored = page.evaluate(f"() => Outbox.all('{PICKER_BADGE}')")
    assert [r["payload"]["raw"] for r in stored] == typed      # in the order typed
    assert all(r["event"] == "scan" for r in stored)
    assert len({r["scan_id"] for r in stored}) == len(typed)

    context.set_offline(False)
    page.wait_for_selector("#conn[data-status=online]", timeout=15_000)
    page.wait_for_selector("#pending[hidden]", state="attached", timeout=15_000)
    page.wait_for_function(f"""() => {{ const t = document.getElementById('task');
        return t.hidden || t.dataset.taskId !== '{task["task_id"]}'; }}""")
    return task["remaining"]


class AckDropper:
    """Sits on the page's WebSocket and loses the next ack the server sends once armed:
    the server has stored and counted the scan, the page never hears of it. (Playwright
    routes WebSockets from a script in the page: set it up before the page loads.)"""

    def __init__(self, page):
        self.armed = False
        self.dropped: list[str] = []
        page.route_web_socket(re.compile(r".*/socket\.io/.*"), self._route)

    def _route(self, ws):
        server = ws.connect_to_server()
        server.on_message(lambda msg: self._from_server(ws, msg))
        ws.on_message(lambda msg: server.send(msg))

    def _from_server(self, ws, msg):
        if self.armed and isinstance(msg, str) and msg.startswith("43/handheld,"):
            self.armed = False
            self.dropped.append(msg)
            return
        ws.send(msg)


def _scan_losing_the_ack(page, context, dropper: AckDropper, task: dict) -> None:
    """A scan whose ack is lost, then a reconnect: the page sends the same scan_id again
    and shows the server's first verdict; the server must not count it twice."""
    before = verdict(page)["seq"]
    dropper.armed = True
    page.keyboard.type(GTIN[task["sku"]])
    page.keyboard.press("Enter")
    deadline = time.monotonic() + 10
    while not dropper.dropped and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert dropper.dropped, "the scan never reached the server over the WebSocket"
    assert _pending(page) == 1 and verdict(page)["seq"] == before
    context.set_offline(True)
    page.wait_for_selector("#conn[data-status=offline]")
    context.set_offline(False)
    page.wait_for_selector("#pending[hidden]", state="attached", timeout=15_000)
    shown = verdict(page)
    assert shown["seq"] > before and shown["code"] == "ok", shown
    # the verdict and the task are drawn from different messages after a reconnect: wait
    # until the task shows the unit too, so the next step reads what the server holds
    page.wait_for_function("""t => { const el = (id) => document.getElementById(id);
        return !el('put').hidden || el('task').hidden
            || el('task').dataset.taskId !== String(t.task_id)
            || Number(el('t-picked').textContent) > t.picked; }""", arg=task)


def test_picker_works_a_cart_through_a_lost_connection(demo_server, browser_context_factory):
    order_ids = released_wave(demo_server, ORDERS)
    context = browser_context_factory(locale="en-GB")
    page, errors, dropper = _open(context, demo_server, AckDropper)
    log_in(page, PICKER_BADGE, PICKER_PIN)
    page.wait_for_selector("#conn[data-status=online]")
    page.wait_for_selector("#task:not([hidden])")
    first = _task(page)
    assert re.fullmatch(r"1 of \d+", first["position"]), first
    # whoami's user name (protocol doc), or the badge when the server sends no name
    assert page.text_content("#who") in ("Pat Picker", PICKER_BADGE)

    units = Counter()                  # sku → units put in the tote, as the picker counts
    wrong_done = short_done = offline_done = lost_ack_done = False
    puts = 0
    for _ in range(100):
        if _confirm_put(page, by_label=puts % 2 == 0):   # label and tap, in turn
            puts += 1
            continue
        task = _task(page)
        if task is None:
            break
        if task["needs"] == "tote":
            scan(page, f"TOTE-{task['task_id']}", expect="ok")
        elif task["needs"] == "location":
            if not offline_done and short_done:
                units[task["sku"]] += _work_offline(page, context, task)
                offline_done = True
                continue
            scan(page, task["location"], expect="ok")
            assert "verdict ok" == verdict(page)["class"]
        elif not wrong_done:
            shown = scan(page, GTIN[STRANGER], expect="wrong_item")
            assert shown["class"] == "verdict error"
            assert _task(page)["picked"] == task["picked"]
            wrong_done = True
        elif task["sku"] == SHORT_SKU and not short_done and task["picked"] == 1:
            before = verdict(page)["seq"]
            page.click("#short")                      # arms it: a second tap confirms
            assert "1 of 3" in page.text_content("#short")
            page.click("#short")
            page.wait_for_function(
                "n => Number(document.getElementById('verdict').dataset.seq) > n", arg=before)
            shown = verdict(page)
            assert shown["code"] == "short" and shown["class"] == "verdict warn", shown
            # what happened, worded from the ack's notice: nothing written off, a count due
            assert shown["text"] == "2 backordered, bin sent for count", shown
            short_done = True
        elif not lost_ack_done:
            _scan_losing_the_ack(page, context, dropper, task)
            units[task["sku"]] += 1
            lost_ack_done = True
        else:
            scan(page, GTIN[task["sku"]], expect="ok")
            units[task["sku"]] += 1
    else:
        pytest.fail(f"the cart never finished; page shows {_task(page)}")

    assert wrong_done and short_done and offline_done and lost_ack_done and puts >= 2
    assert page.get_attribute("#idle-text", "hidden") is None
    assert errors == []

    # the server counted every unit exactly once: the offline scans, replayed after a
    # reload, and the short pick's found unit included
    for ref, lines in ORDERS.items():
        status, order = call(demo_server, "GET", f"/api/v1/orders/{order_ids[ref]}",
                             token=demo_server.supervisor_token)
        assert status == 200
        by_sku = {ln["sku"]: ln for ln in order["lines"]}
        for sku, quantity in lines:
            line = by_sku[sku]
            assert line["picked"] == units[sku], (ref, line, units)
            if sku == SHORT_SKU:    # the rest either re-picked elsewhere or backordered
                assert line["picked"] + line["backordered"] == quantity, line
            else:
                assert line["picked"] == quantity, (ref, line)


def test_zh_cn_browser_gets_chinese_and_the_choice_is_remembered(demo_server,
                                                                  browser_context_factory):
    context = browser_context_factory(locale="zh-CN")
    page, errors, _ = _open(context, demo_server)
    assert page.evaluate("navigator.language") == "zh-CN"
    assert page.text_content("#login-button") == "登录"
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.get_attribute("#scan", "placeholder") == "扫描或输入条码，然后回车"
    page.click("#lang")
    assert page.text_content("#login-button") == "Log in"
    page.reload()
    assert page.text_content("#login-button") == "Log in"      # the switch is remembered
    page.click("#lang")
    log_in(page, PICKER_BADGE, "0000")
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.text_content("#login-error") == "工牌或密码错误"
    assert errors == []


def test_bad_pin_shows_an_error_and_stays_logged_out(demo_server, browser_context_factory):
    context = browser_context_factory(locale="en-US")
    page, errors, _ = _open(context, demo_server)
    assert page.text_content("#login-button") == "Log in"
    log_in(page, PICKER_BADGE, "0000")
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.text_content("#login-error") == "Badge or PIN not recognised"
    assert page.get_attribute("#login-error", "data-code") == "bad_credentials"
    assert page.is_hidden("#work-view")
    assert page.evaluate("localStorage.getItem('wp.session')") is None
    assert errors == []


def _camera_video(path: Path, text: str) -> Path:
    """A 640x480 Y4M video of an EAN-13 label on white: Chromium's fake camera plays it."""
    label = np.array(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.EAN13)
                     .to_image(scale=3))
    frame = np.full((480, 640), 255, np.uint8)
    top, left = (480 - label.shape[0]) // 2, (640 - label.shape[1]) // 2
    frame[top:top + label.shape[0], left:left + label.shape[1]] = label
    chroma = np.full((240, 320), 128, np.uint8).tobytes() * 2
    with path.open("wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(10):
            f.write(b"FRAME\n" + frame.tobytes() + chroma)
    return path


def test_camera_reads_a_label_once_with_the_vendored_decoder(demo_server, chromium_with_camera,
                                                            browser_context_factory, tmp_path):
    gtin = GTIN["WP-TEE-BLK-M"]
    browser = chromium_with_camera(_camera_video(tmp_path / "label.y4m", gtin))
    context = browser_context_factory(browser, locale="en-GB")
    page, errors, _ = _open(context, demo_server)
    wasm = []
    page.on("request", lambda req: wasm.append(req.url) if req.url.endswith(".wasm") else None)
    log_in(page, PICKER_BADGE, PICKER_PIN)
    page.wait_for_selector("#work-view:not([hidden])")
    assert page.evaluate("Camera.loadZxing().then(() => true)")   # preloaded after login
    # offline, so the read stays in the outbox where the test can see exactly what it was
    context.set_offline(True)
    page.wait_for_selector("#conn[data-status=offline]")
    assert page.evaluate("'BarcodeDetector' in window") is False   # zxing-wasm does it
    page.click("#camera")
    page.wait_for_function("document.getElementById('pending').dataset.count === '1'",
                           timeout=15_000)
    page.wait_for_timeout(2500)            # the label stays in view: still one scan
    stored = page.evaluate(f"() => Outbox.all('{PICKER_BADGE}')")
    assert [(r["event"], r["payload"]["raw"], r["payload"]["symbology"]) for r in stored] == [
        ("scan", gtin, "EAN13")]
    assert wasm == [demo_server.base + "/handheld/vendor/zxing_reader.wasm"]
    page.click("#camera")                  # stops the camera
    assert page.is_hidden("#camera-box")
    assert errors == []


def test_totes_bound_offline_in_slot_order_then_the_cart_picked(demo_server_tote_scans,
                                                                browser_context_factory):
    """require_tote_scan on: the page asks for a tote per slot; scanned offline, it keeps
    asking for the next slot by itself and sends them as tote.scan, in order."""
    server = demo_server_tote_scans
    order_ids = released_wave(server, ORDERS)
    context = browser_context_factory(locale="en-GB")
    page, errors, _ = _open(context, server)
    log_in(page, PICKER_BADGE, PICKER_PIN)
    page.wait_for_selector("#conn[data-status=online]")
    page.wait_for_selector("#task:not([hidden])")
    assert _task(page)["needs"] == "tote"

    context.set_offline(True)
    page.wait_for_selector("#conn[data-status=offline]")
    totes = []
    while (asked := re.fullmatch(r"Scan a tote for slot (\d+)", page.text_content("#needs"))):
        slot = int(asked.group(1))
        assert slot == len(totes) + 1, totes        # slot order, counted locally offline
        totes.append(f"TOTE-{slot:02d}")
        scan(page, totes[-1], expect="queued")
    assert len(totes) == len(ORDERS)
    assert page.text_content("#needs") == "Scan the next tote"
    stored = page.evaluate(f"() => Outbox.all('{PICKER_BADGE}')")
    assert [(r["event"], r["payload"]["raw"]) for r in stored] == [
        ("tote.scan", t) for t in totes]

    context.set_offline(False)
    page.wait_for_selector("#pending[hidden]", state="attached", timeout=15_000)
    page.wait_for_function("document.getElementById('needs').dataset.needs !== 'tote'")

    for _ in range(100):
        if _confirm_put(page, by_label=True):         # a bound tote: its own barcode
            continue
        task = _task(page)
        if task is None:
            break
        text = task["location"] if task["needs"] == "location" else GTIN[task["sku"]]
        scan(page, text, expect="ok")
    else:
        pytest.fail(f"the cart never finished; page shows {_task(page)}")
    assert errors == []
    for ref, lines in ORDERS.items():
        status, order = call(server, "GET", f"/api/v1/orders/{order_ids[ref]}",
                             token=server.supervisor_token)
        assert status == 200
        assert [(ln["sku"], ln["picked"]) for ln in order["lines"]] == lines, order["lines"]


def test_an_expired_session_goes_back_to_login(demo_server, browser_context_factory):
    """A token the server no longer knows: the connect is refused (unauthenticated), the
    page asks for the badge again instead of retrying forever."""
    context = browser_context_factory(locale="en-GB")
    context.add_init_script("""localStorage.setItem('wp.session', JSON.stringify(
        {token: 'wps_no-such-token', badge: '1001', role: 'picker', name: ''}));""")
    page, errors, _ = _open(context, demo_server)
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.get_attribute("#login-error", "data-code") == "unauthenticated"
    assert page.text_content("#login-error") == "Session expired: log in again"
    assert page.is_hidden("#work-view")
    assert errors == []
