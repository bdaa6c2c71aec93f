"""The pack page's queue and what people expect around it, in headless Chromium against
a real `wavepack serve --demo` whose station pack-1 prints on a fake ZPL printer: the
orders picked and waiting are listed (cart, tote, order, age, ship-by), one opens with a
click and another with a tote label scan, a tote label printed from the queue reaches the
printer, a parcel confirmed without weighing says so, and a hold reason is worded on the
Chinese page from the server's code."""
from __future__ import annotations

import pytest

from printers.fake import FakePrinter

from .pages import call, log_in, new_page, scan
from .test_pack_page import GTIN, PACKER_BADGE, PACKER_PIN, STATION, _picked_orders, \
    serve_pack_station

ORDERS = {
    "Q-SOON": [("WP-TEE-BLK-L", 1)],
    "Q-LATE": [("WP-MUG-350-CHAR", 1)],
    "Q-HOLD": [("WP-NOTE-A5-DOT", 1)],
}
FIELDS = {"Q-SOON": {"ship_by": "2030-01-01T12:00:00Z"},
          "Q-LATE": {"ship_by": "2031-01-01T12:00:00Z"},
          "Q-HOLD": {"ship_by": "2032-01-01T12:00:00Z"}}
STRANGER = "WP-BOTL-750-STL"        # a known product in none of these orders


@pytest.fixture(scope="module")
def printer():
    with FakePrinter() as p:
        yield p


@pytest.fixture(scope="module")
def server(tmp_path_factory, printer):
    with serve_pack_station(tmp_path_factory.mktemp("e2e-queue"), printer) as s:
        yield s


@pytest.fixture(scope="module")
def picked(server):
    return _picked_orders(server, ORDERS, FIELDS)


def _queue(page) -> list[dict]:
    return page.evaluate("""() => [...document.querySelectorAll('#queue tbody tr')].map(r => ({
        order: r.dataset.order, busy: r.classList.contains('busy'),
        tote: r.querySelector('td.tote').textContent, age: r.querySelector('td.age').textContent,
        ship_by: r.querySelector('td.ship-by').textContent}))""")


def _station(page):
    log_in(page, PACKER_BADGE, PACKER_PIN)
    page.click(f"#stations button[data-station='{STATION}']")
    page.wait_for_selector("#work-view:not([hidden])")
    page.wait_for_selector("#pack-queue:not([hidden])")


def _wait_rows(page, orders: list[str]) -> None:
    page.wait_for_function("refs => JSON.stringify([...document.querySelectorAll("
                           "'#queue tbody tr')].map(r => r.dataset.order)) === "
                           "JSON.stringify(refs)", arg=orders)


def test_queue_open_print_and_unweighed_confirm(server, printer, picked,
                                               browser_context_factory):
    context = browser_context_factory(locale="en-GB", viewport={"width": 1280, "height": 900})
    page, errors = new_page(context, 20_000)
    page.goto(server.base + "/pack/")
    _station(page)
    _wait_rows(page, ["Q-SOON", "Q-LATE", "Q-HOLD"])          # most urgent first
    rows = _queue(page)
    assert all(r["tote"].startswith("cart ") and " · tote " in r["tote"] for r in rows), rows
    assert all(r["age"].endswith("min") for r in rows) and not any(r["busy"] for r in rows)
    assert "2030" in rows[0]["ship_by"]

    # the tote label of Q-LATE, from its row: the printer gets it, nothing opens
    before = len(printer.jobs)
    page.click("#queue tbody tr[data-order='Q-LATE'] button.print-tote")
    page.wait_for_function("document.getElementById('verdict').dataset.code === 'label_queued'")
    assert page.text_content("#verdict").startswith("Tote label queued: cart ")
    jobs = printer.wait_for_jobs(before + 1, timeout=20)
    label = jobs[-1].decode()
    assert "^FDQ-LATE^FS" in label and "^BCN" in label and "^FDCART-" in label
    assert page.is_hidden("#order")

    # a click opens Q-SOON; its parcel confirmed without weighing is stored as unweighed
    page.click("#queue tbody tr[data-order='Q-SOON']")
    page.wait_for_selector("#order:not([hidden])")
    assert page.text_content("#o-ref") == "Q-SOON" and page.is_hidden("#pack-queue")
    scan(page, GTIN["WP-TEE-BLK-L"], expect="ok")
    page.wait_for_selector("#confirm:not([disabled])")
    page.click("#confirm")
    page.wait_for_selector("#shipment:not([hidden])")
    weight = page.text_content("#shipment-weight")
    assert weight.startswith("Not weighed (expected ") and weight.endswith(" g)"), weight
    assert page.get_attribute("#shipment-weight", "data-weighed") == "false"
    status, order = call(server, "GET", f"/api/v1/orders/{picked['Q-SOON']}",
                         token=server.supervisor_token)
    assert status == 200 and order["status"] == "packed"

    # next order: the queue again, without Q-SOON; Q-LATE opens by its tote label scan
    page.click("#next-order")
    _wait_rows(page, ["Q-LATE", "Q-HOLD"])
    tote_label = next(line for line in label.split("^FS") if "^FDCART-" in line)
    tote_label = tote_label.split("^FD")[-1]
    shown = scan(page, tote_label, expect="opened")
    assert shown["text"] == "Order Q-LATE"
    page.click("#cancel-session")                      # give it back (a second tap confirms)
    page.click("#cancel-session")
    page.wait_for_function("document.getElementById('verdict').dataset.code === 'cancelled'")
    _wait_rows(page, ["Q-LATE", "Q-HOLD"])
    assert errors == []


def test_a_hold_reason_in_chinese(server, picked, browser_context_factory):
    context = browser_context_factory(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page, errors = new_page(context, 20_000)
    page.goto(server.base + "/pack/")
    _station(page)
    page.wait_for_selector("#queue tbody tr[data-order='Q-HOLD']")
    page.click("#queue tbody tr[data-order='Q-HOLD']")
    page.wait_for_selector("#order:not([hidden])")
    for _ in range(2):
        scan(page, GTIN[STRANGER], expect="not_in_order")
    scan(page, GTIN[STRANGER], expect="not_in_order")
    page.wait_for_selector("#hold:not([hidden])")
    assert page.get_attribute("#hold", "data-code") == "wrong_items"
    assert page.text_content("#hold") == "暂停原因：扫描错误商品 3 次：请检查周转箱"
    page.click("#lang")                                   # the same hold, in English
    assert page.text_content("#hold") == "Held: 3 wrong items scanned: check the tote"
    assert errors == []
