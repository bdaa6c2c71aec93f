"""The console's Orders panel (static/console/panels/orders.js) in headless Chromium
against a real `wavepack serve --demo`, through the panel harness (console_panels.py):
a supervisor finds an order by its ref and by SKU, opens its timeline (received, the
wave, a picker's scan with the handheld's device) and reads it in Chinese; an unknown
ref shows the empty state; a picker's badge gets no Orders tab."""
from __future__ import annotations

import uuid

from ..live import Handheld
from .console_panels import badge_login, open_console, open_panel
from .pages import call, new_page, released_wave

SUPERVISOR = ("3001", "3333")
PICKER = ("1001", "1111")
WAIT_MS = 15_000


def test_search_an_order_and_read_its_timeline(demo_server, browser_context_factory):
    ref = f"E2E-ORD-{uuid.uuid4().hex[:6].upper()}"
    ids = released_wave(demo_server, {ref: [("WP-CAND-200-FIG", 1)]})
    picker = badge_login(demo_server, *PICKER)
    hh = Handheld(demo_server.base, picker["token"], "HH-E2E-ORD")
    try:
        task = hh.call("task.next")["task"]
        assert task is not None
        ack = hh.call("scan", {"scan_id": str(uuid.uuid4()), "raw": task["location"]})
        assert ack.get("ok"), ack
    finally:
        hh.close()

    page, errors = new_page(browser_context_factory(viewport={"width": 1280, "height": 900}),
                            WAIT_MS)
    panel = open_panel(page, demo_server, "orders", *SUPERVISOR)
    panel.get_by_test_id("orders-q").fill(ref.lower())
    panel.get_by_test_id("orders-search").click()
    rows = panel.get_by_test_id("orders-row")
    rows.first.wait_for()
    assert rows.count() == 1 and rows.first.get_attribute("data-order-id") == str(ids[ref])
    assert "ref" in rows.first.inner_text()

    rows.first.click()
    panel.get_by_test_id("timeline").wait_for()
    assert ref in panel.get_by_test_id("timeline-title").inner_text()
    actions = [r.get_attribute("data-action")
               for r in panel.get_by_test_id("timeline-row").all()]
    assert actions[0] == "order.received" and "scan.pick" in actions
    scan_row = panel.locator("[data-testid='timeline-row'][data-action='scan.pick']").first
    text = scan_row.inner_text()
    assert "user:1001" in text and "HH-E2E-ORD" in text and task["location"] in text
    assert "Pick scan" in text

    page.get_by_test_id("harness-lang").click()
    page.wait_for_function("() => document.querySelector(\"[data-testid='timeline-title']\")"
                           ".textContent.includes('时间线')")
    assert "拣货扫描" in scan_row.inner_text()
    page.get_by_test_id("harness-lang").click()

    panel.get_by_test_id("timeline-back").click()
    panel.get_by_test_id("orders-q").fill("WP-CAND-200-FIG")
    panel.get_by_test_id("orders-search").click()
    page.wait_for_function("() => [...document.querySelectorAll(\"[data-testid='orders-row']\")]"
                           f".some(r => r.dataset.orderId === '{ids[ref]}')")
    panel.get_by_test_id("orders-q").fill("NO-SUCH-ORDER-ANYWHERE")
    panel.get_by_test_id("orders-search").click()
    panel.get_by_test_id("orders-empty").wait_for()
    assert errors == []


def test_a_picker_gets_no_orders_tab(demo_server, browser_context_factory):
    page, errors = new_page(browser_context_factory(), WAIT_MS)
    login = open_console(page, demo_server, *PICKER, tab="orders")
    for tab in ("orders", "stock", "admin"):
        assert page.get_by_test_id(f"tab-{tab}").count() == 0
    # and the API behind it refuses the picker's token as well
    status, _ = call(demo_server, "GET", "/api/v1/orders/search?q=x", token=login["token"])
    assert status == 403 and errors == []
