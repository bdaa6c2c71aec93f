"""The handheld page's count mode in headless Chromium against a real `wavepack serve
--demo`: a supervisor schedules a count of a bin, a picker switches the page to count
mode, is refused the wrong bin, scans the right one, scans and keys the items, submits;
the server sets the bin's on-hand by the variance and frees it."""
from __future__ import annotations

from .pages import after, call, log_in, new_page, scan, verdict

SKU, GTIN, BIN = "WP-CAND-200-FIG", "9506000230016", "C-01-01-2"    # 120 on hand in main
PICKER_BADGE, PICKER_PIN = "1001", "1111"


def _bin(server) -> dict:
    status, body = call(server, "GET", f"/api/v1/stock?sku={SKU}",
                        token=server.supervisor_token)
    assert status == 200, body
    [row] = [r for r in body["locations"] if (r["warehouse"], r["location"]) == ("main", BIN)]
    return row


def test_a_scheduled_count_done_on_the_handheld_page(demo_server, browser_context_factory):
    status, body = call(demo_server, "POST", "/api/v1/counts:schedule",
                        {"warehouse": "main", "sku": SKU}, demo_server.supervisor_token)
    assert status == 201 and [c["location"] for c in body["created"]] == [BIN], body
    before = _bin(demo_server)
    assert (before["on_hand"], before["available"], before["blocked"]) \
        == (120, 0, "count_pending")

    context = browser_context_factory(locale="en-GB")
    page, errors = new_page(context, 10_000)
    page.goto(demo_server.base + "/handheld/")
    log_in(page, PICKER_BADGE, PICKER_PIN)
    page.wait_for_selector("#conn[data-status=online]")
    page.click("#count-mode")
    page.wait_for_selector("#count:not([hidden])")
    assert page.text_content("#c-location") == BIN
    assert page.text_content("#needs") == f"Scan bin {BIN}"
    assert page.text_content("#count-mode") == "Back to picking"
    assert page.is_disabled("#c-submit")
    page.focus("#scan")

    shown = scan(page, "A-01-02-3", expect="wrong_location")
    assert shown["text"] == f"Wrong bin: this count is for {BIN}"
    scan(page, BIN.lower(), expect="ok")
    assert page.text_content("#needs") == "Scan or type each item, then Submit"
    for n in (1, 2, 3):
        assert scan(page, GTIN, expect="ok")["text"] == f"{SKU} × {n}"
    assert page.input_value("[data-testid=count-qty]") == "3"
    page.fill("[data-testid=count-qty]", "116")           # keyed: the rest of the box
    page.press("[data-testid=count-qty]", "Tab")
    page.focus("#scan")
    scan(page, SKU, expect="ok")                           # a SKU typed in: one more
    assert page.input_value("[data-testid=count-qty]") == "117"
    assert _bin(demo_server)["on_hand"] == 120             # nothing sent yet

    seq = verdict(page)["seq"]
    page.click("#c-submit")
    shown = after(page, seq)
    assert shown["code"] == "count_done", shown
    assert shown["text"] == f"Count of {BIN} saved: {SKU} -3 against the books"
    page.wait_for_selector("#count[hidden]", state="attached")
    page.wait_for_function("document.getElementById('idle-text').textContent "
                           "=== 'No counts open'")
    counted = _bin(demo_server)
    assert (counted["on_hand"], counted["available"], counted["blocked"]) == (117, 117, None)
    status, body = call(demo_server, "GET", "/api/v1/counts?state=open",
                        token=demo_server.supervisor_token)
    assert status == 200 and body["counts"] == []

    page.click("#lang")                                    # the count mode speaks Chinese
    assert page.text_content("#count-mode") == "返回拣货"
    assert page.text_content("#idle-text") == "暂无盘点任务"
    page.click("#count-mode")                              # back to picking
    assert page.text_content("#count-mode") == "盘点"
    assert errors == []
