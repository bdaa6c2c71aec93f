"""The handheld page's replenish mode in headless Chromium against a real `wavepack serve
--demo`: a supervisor raises a pick face's minimum above its stock, the server's
replenishment worker opens a task (and its alert), a picker switches the page to replenish
mode, is refused a bin that holds no reserve, a wrong pick face and too many units, moves
the suggested units from the reserve bin, and the face is refilled: stock moved, task done,
alert closed. The page speaks English and Chinese."""
from __future__ import annotations

import time

from .pages import after, call, log_in, new_page, scan, verdict

SKU, GTIN = "WP-TEE-WHT-M", "9506000210032"
FACE, RESERVE = "A-01-03-1", "R-01-01-1"      # demo: 120 at the face, 200 in reserve (main)
PICKER_BADGE, PICKER_PIN = "1001", "1111"


def _stock(server) -> dict[str, tuple[int, int]]:
    status, body = call(server, "GET", f"/api/v1/stock?sku={SKU}", token=server.supervisor_token)
    assert status == 200, body
    return {r["location"]: (r["on_hand"], r["reserved"]) for r in body["locations"]
            if r["warehouse"] == "main"}


def _tasks(server, state="open") -> list[dict]:
    status, body = call(server, "GET", f"/api/v1/replenishment/tasks?state={state}",
                        token=server.supervisor_token)
    assert status == 200, body
    return body["tasks"]


def _move(page, quantity: int, expect: str) -> dict:
    page.fill("[data-testid=replen-qty]", str(quantity))
    seq = verdict(page)["seq"]
    page.click("[data-testid=replen-submit]")
    shown = after(page, seq)
    assert shown["code"] == expect, shown
    page.focus("#scan")
    return shown


def test_a_replenishment_done_on_the_handheld_page(demo_server, browser_context_factory):
    assert _stock(demo_server) == {FACE: (120, 0), RESERVE: (200, 0)}
    status, body = call(demo_server, "POST", "/api/v1/replenishment/levels", {"levels": [
        {"warehouse": "main", "location": FACE, "sku": SKU, "min_qty": 130, "max_qty": 150}]},
        demo_server.supervisor_token)
    assert status == 200 and body["levels"][0]["below_min"], body
    deadline = time.monotonic() + 15           # the worker, woken after the commit
    while not _tasks(demo_server) and time.monotonic() < deadline:
        time.sleep(0.1)
    [task] = _tasks(demo_server)
    assert (task["location"], task["suggested"], task["reserve_available"]) == (FACE, 30, 200)

    context = browser_context_factory(locale="en-GB")
    page, errors = new_page(context, 10_000)
    page.goto(demo_server.base + "/handheld/")
    log_in(page, PICKER_BADGE, PICKER_PIN)
    page.wait_for_selector("#conn[data-status=online]")
    page.click("[data-testid=replen-mode]")
    page.wait_for_selector("#replen:not([hidden])")
    assert page.text_content("[data-testid=replen-target]") == FACE
    assert page.text_content("[data-testid=replen-sku]") == SKU
    assert page.text_content("[data-testid=replen-source]") == f"{RESERVE} (200 free)"
    assert page.text_content("[data-testid=replen-remaining]") == "30"
    assert page.input_value("[data-testid=replen-qty]") == "30"
    assert page.text_content("#needs") == f"Scan reserve bin {RESERVE}"
    assert page.text_content("[data-testid=replen-mode]") == "Back to picking"
    assert page.is_hidden("[data-testid=count-mode]")
    assert page.is_disabled("[data-testid=replen-submit]")
    page.focus("#scan")

    # a bin that holds another product: the server refuses the move, nothing changes
    scan(page, "A-01-02-3", expect="ok")
    scan(page, FACE, expect="ok")
    shown = _move(page, 30, expect="wrong_source")
    assert shown["text"] == "That bin holds no reserve of this product"
    assert page.text_content("#needs") == f"Scan reserve bin {RESERVE}"

    scan(page, RESERVE.lower(), expect="ok")
    assert scan(page, GTIN, expect="ok")["text"] == f"{SKU}: right product"
    assert scan(page, "A-01-02-3", expect="wrong_target")["text"] \
        == f"Wrong bin: this task refills {FACE}"
    scan(page, FACE, expect="ok")
    assert page.text_content("#needs") == "Check the units, then Move"
    assert _move(page, 31, expect="over_quantity")["text"] == "More than this task asks for"
    assert _stock(demo_server) == {FACE: (120, 0), RESERVE: (200, 0)}     # refused: nothing

    shown = _move(page, 30, expect="replen_done")
    assert shown["text"] == f"Moved 30 from {RESERVE} to {FACE}: face refilled"
    page.wait_for_function(
        "() => document.getElementById('idle-text').textContent === 'No replenishment to do'")
    assert _stock(demo_server) == {FACE: (150, 0), RESERVE: (170, 0)}
    [done] = _tasks(demo_server, "done")
    assert (done["id"], done["moved"], done["close_reason"]) == (task["id"], 30, "refilled")
    status, body = call(demo_server, "GET", "/api/v1/replenishment/alerts",
                        token=demo_server.supervisor_token)
    assert body == {"alerts": []}
    status, exc = call(demo_server, "GET", f"/api/v1/exceptions/{task['exception']}",
                       token=demo_server.supervisor_token)
    assert (exc["type"], exc["state"]) == ("replenishment_needed", "resolved"), exc

    page.click("[data-testid=lang]")
    assert page.text_content("#idle-text") == "暂无补货任务"
    assert page.text_content("[data-testid=replen-mode]") == "返回拣货"
    page.click("[data-testid=replen-mode]")            # back to picking
    page.wait_for_selector("#replen", state="hidden")
    assert page.is_visible("[data-testid=count-mode]")
    assert errors == []
