"""The console's Stock and Users & tokens panels (static/console/panels/stock.js,
admin.js) in headless Chromium against a real `wavepack serve --demo`, through the panel
harness (console_panels.py).

Stock: a supervisor looks a SKU up, opens its bin from the list, adjusts it by a count
with a reason (the bin and its movements show the new figure and the reason), is refused
an adjustment below what is reserved with the server's words (nothing changes), and a
retry of a request whose answer was lost (the network cut by the browser) counts once.
Admin: an admin adds a user who can then log in, resets their PIN, disables them (a
second click confirms; their session stops working), creates a token whose secret shows
once, and revokes it; a supervisor gets no Users & tokens tab."""
from __future__ import annotations

import uuid

from .console_panels import badge_login, open_console, open_panel
from .pages import call, new_page

SUPERVISOR = ("3001", "3333")
ADMIN = ("9001", "9999")
WAIT_MS = 15_000
SKU, BIN = "WP-NOTE-A5-DOT", "C-02-03-1"   # demo stock; demo orders reserve it in rtm only


def bin_numbers(server, token) -> dict:
    status, body = call(server, "GET", f"/api/v1/stock/bin?warehouse=main&location={BIN}", token=token)
    assert status == 200, body
    return next(i for i in body["items"] if i["sku"] == SKU)


def test_stock_lookup_adjust_refusal_and_lost_answer(demo_server, browser_context_factory):
    page, errors = new_page(browser_context_factory(viewport={"width": 1280, "height": 900}),
                            WAIT_MS)
    panel = open_panel(page, demo_server, "stock", *SUPERVISOR)
    sup = demo_server.supervisor_token
    start = bin_numbers(demo_server, sup)

    panel.get_by_test_id("stock-sku").fill(SKU)
    panel.get_by_test_id("stock-sku-go").click()
    main = panel.locator(f"[data-testid='stock-sku-row'][data-location='{BIN}']"
                         "[data-warehouse='main']")
    main.wait_for()
    main.get_by_test_id("stock-sku-bin").click()
    row = panel.locator(f"[data-testid='stock-bin-row'][data-sku='{SKU}']")
    row.wait_for()
    assert row.get_by_test_id("on-hand").inner_text() == str(start["on_hand"])

    # a count with a reason
    row.get_by_test_id("adjust-open").click()
    panel.get_by_test_id("adjust-qty").fill(str(start["on_hand"] - 2))
    panel.get_by_test_id("adjust-reason").select_option("damaged")
    panel.get_by_test_id("adjust-note").fill("two covers torn")
    panel.get_by_test_id("adjust-save").click()
    page.wait_for_function(
        f"() => document.querySelector(\"[data-testid='stock-bin-row'][data-sku='{SKU}'] "
        f"[data-testid='on-hand']\").textContent === '{start['on_hand'] - 2}'")
    assert bin_numbers(demo_server, sup)["on_hand"] == start["on_hand"] - 2
    move = panel.locator("[data-testid='move-row'][data-action='stock.adjust']").first
    assert "Damaged" in move.inner_text() and "two covers torn" in move.inner_text()

    # below what is reserved: make a reservation there first, then count lower
    status, order = call(demo_server, "POST", "/api/v1/orders", {
        "ref": f"E2E-STK-{uuid.uuid4().hex[:6]}", "placed_at": "2025-06-02T09:12:00+01:00",
        "currency": "GBP", "paid": True,
        "ship_to": {"name": "Olive Baker", "phone": "+447700900101", "address1": "27 Granby St",
                    "city": "Leicester", "postcode": "LE1 6EJ", "country": "GB"},
        "lines": [{"sku": SKU, "quantity": 3, "unit_price": "4.00"}]}, demo_server.api_token)
    assert status == 201 and order["status"] == "ready", order
    panel.get_by_test_id("stock-bin-go").click()
    row.get_by_test_id("reserved").wait_for()
    page.wait_for_function(
        f"() => document.querySelector(\"[data-testid='stock-bin-row'][data-sku='{SKU}'] "
        "[data-testid='reserved']\").textContent !== '0'")
    before = bin_numbers(demo_server, sup)
    row.get_by_test_id("adjust-open").click()
    panel.get_by_test_id("adjust-qty").fill(str(before["reserved"] - 1))
    panel.get_by_test_id("adjust-save").click()
    error = panel.get_by_test_id("adjust-error")
    error.wait_for()
    assert "reserved" in error.inner_text()
    assert bin_numbers(demo_server, sup) == before

    # the answer is lost once: the page keeps the key, the retry counts once
    panel.get_by_test_id("adjust-mode").select_option("delta")
    panel.get_by_test_id("adjust-qty").fill("5")
    panel.get_by_test_id("adjust-reason").select_option("found")
    lost = {"n": 0}

    def lose_first_answer(route):
        if lost["n"] == 0:
            lost["n"] += 1
            route.fetch()            # the server does it ...
            route.abort("connectionreset")   # ... and the browser never hears back
        else:
            route.continue_()
    page.route(f"{demo_server.base}/api/v1/stock/adjustments", lose_first_answer)
    panel.get_by_test_id("adjust-save").click()
    page.wait_for_function("() => (document.querySelector(\"[data-testid='adjust-error']\")"
                           " || {}).textContent?.includes('try again')")
    assert bin_numbers(demo_server, sup)["on_hand"] == before["on_hand"] + 5
    panel.get_by_test_id("adjust-save").click()
    page.get_by_test_id("toast").filter(has_text="→").last.wait_for()
    page.wait_for_function(
        f"() => document.querySelector(\"[data-testid='stock-bin-row'][data-sku='{SKU}'] "
        f"[data-testid='on-hand']\").textContent === '{before['on_hand'] + 5}'")
    assert bin_numbers(demo_server, sup)["on_hand"] == before["on_hand"] + 5   # once
    assert errors == []


def test_admin_users_and_tokens(demo_server, browser_context_factory):
    page, errors = new_page(browser_context_factory(viewport={"width": 1400, "height": 900}),
                            WAIT_MS)
    panel = open_panel(page, demo_server, "admin", *ADMIN)
    badge = f"e2e{uuid.uuid4().hex[:5]}"
    panel.locator("[data-testid='user-row'][data-badge='9001']").wait_for()
    panel.get_by_test_id("user-badge").fill(badge)
    panel.get_by_test_id("user-name").fill("Eve Tester")
    panel.get_by_test_id("user-role").select_option("packer")
    panel.get_by_test_id("user-pin").fill("5678")
    panel.get_by_test_id("user-add").click()
    row = panel.locator(f"[data-testid='user-row'][data-badge='{badge}']")
    row.wait_for()
    session = badge_login(demo_server, badge, "5678")["token"]

    row.get_by_test_id("user-reset-pin").click()
    panel.get_by_test_id("new-pin").fill("8765")
    panel.get_by_test_id("pin-save").click()
    panel.get_by_test_id("pin-form").wait_for(state="detached")
    assert call(demo_server, "POST", "/api/v1/auth/badge",
                {"badge": badge, "pin": "5678"})[0] == 401
    assert badge_login(demo_server, badge, "8765")["role"] == "packer"

    row.get_by_test_id("user-disable").click()
    assert row.get_by_test_id("user-disable").inner_text() == "Sure?"
    row.get_by_test_id("user-disable").click()
    page.locator(f"[data-testid='user-row'][data-badge='{badge}'][data-active='false']").wait_for()
    assert call(demo_server, "GET", "/api/v1/pack/stations", token=session)[0] == 401

    panel.get_by_test_id("token-kind").select_option("role")
    panel.get_by_test_id("token-value").fill("supervisor")
    panel.get_by_test_id("token-label").fill("wall screen")
    panel.get_by_test_id("token-hours").fill("8")
    panel.get_by_test_id("token-create").click()
    secret = panel.get_by_test_id("token-secret")
    secret.wait_for()
    raw = secret.inner_text()
    assert raw.startswith("wps_")
    assert call(demo_server, "GET", "/api/v1/exceptions", token=raw)[0] == 200
    assert raw not in panel.get_by_test_id("tokens").inner_text()
    status, listed = call(demo_server, "GET", "/api/v1/admin/tokens",
                          token=badge_login(demo_server, *ADMIN)["token"])
    tid = next(t["id"] for t in listed["tokens"] if t["label"] == "wall screen")
    trow = panel.locator(f"[data-testid='token-row'][data-token-id='{tid}']")
    trow.get_by_test_id("token-revoke").click()
    trow.get_by_test_id("token-revoke").click()
    trow.get_by_test_id("token-revoke").wait_for(state="detached")
    assert call(demo_server, "GET", "/api/v1/exceptions", token=raw)[0] == 401

    page.get_by_test_id("harness-lang").click()
    page.wait_for_function("() => document.body.textContent.includes('用户')")
    assert errors == []


def test_a_supervisor_gets_no_admin_tab(demo_server, browser_context_factory):
    page, errors = new_page(browser_context_factory(), WAIT_MS)
    login = open_console(page, demo_server, *SUPERVISOR, tab="admin")
    assert page.get_by_test_id("tab-admin").count() == 0
    assert page.get_by_test_id("tab-stock").count() == 1
    assert call(demo_server, "GET", "/api/v1/admin/users", token=login["token"])[0] == 403
    assert errors == []
