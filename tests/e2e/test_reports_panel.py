"""The console's reports panel (static/console/panels/reports.js) in headless Chromium
against a real `wavepack serve --demo`: orders made through the API appear in the KPI
cards' neighbours — the sales trend drawn by the vendored Chart.js, the weekday × hour
heat map in the warehouse's time zone, the payment methods — a table exports as CSV
through ctx.download, the words switch to Chinese, and no script error is raised.

Until the console shell (w5-shell) is merged the panel runs in tests/e2e/harness/
console_panel.html, a stand-in giving the contract's WPConsole.panel and ctx; the test
serves the harness, the panel and the vendored chart library from the working tree."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from .pages import SHIP_TO, call, new_page

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "harness" / "console_panel.html"
CONSOLE = ROOT / "static" / "console"
WAIT_MS = 15_000


def _file(body: str, content_type: str):
    return lambda route: route.fulfill(content_type=content_type, body=body)


def _serve_console(page, base: str) -> None:
    harness = HARNESS.read_text(encoding="utf-8").replace("PANEL.js", "reports.js")
    page.route(re.compile(re.escape(f"{base}/console/harness.html") + r"(\?.*)?$"),
               _file(harness, "text/html"))
    for path in ("panels/reports.js", "vendor/chart.umd.min.js"):
        page.route(f"{base}/console/{path}",
                   _file((CONSOLE / path).read_text(encoding="utf-8"), "text/javascript"))


def test_the_reports_panel_draws_the_numbers_and_exports_csv(demo_server, chromium):
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for i, method in enumerate(("paypal", "paypal", "card")):
        status, body = call(demo_server, "POST", "/api/v1/orders", {
            "ref": f"E2E-RPT-{i}", "placed_at": now.isoformat(), "currency": "GBP",
            "paid": True, "payment_method": method, "ship_to": SHIP_TO,
            "lines": [{"sku": "WP-TEE-BLK-M", "quantity": 2, "unit_price": "10.00"}]},
            demo_server.api_token)
        assert status == 201, body
    context = chromium.new_context(accept_downloads=True)
    try:
        page, errors = new_page(context, WAIT_MS)
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.add_init_script(f"window.HARNESS_TOKEN = {demo_server.supervisor_token!r};")
        _serve_console(page, demo_server.base)
        page.goto(f"{demo_server.base}/console/harness.html?panel=reports")
        try:
            page.wait_for_function("document.body.getAttribute('data-harness') === 'shown'")
        except Exception:
            raise AssertionError((errors, console,
                                  page.evaluate("document.body.outerHTML")[:2000])) from None
        assert page.evaluate("window.HARNESS_TOASTS") == []
        cards = page.locator("[data-testid^=kpi-] .kpi-value")
        assert cards.count() == 8
        assert page.get_by_test_id("reports-tz").inner_text() == "days in Europe/London"
        # the trend is a Chart.js line chart holding today's orders
        drawn = page.evaluate("""() => {
            const c = document.querySelector('[data-testid=chart-sales-trend]');
            const ch = c && window.Chart.getChart(c);
            return ch && {type: ch.config.type,
                          total: ch.data.datasets.reduce(
                              (n, d) => n + d.data.reduce((a, b) => a + b, 0), 0)}; }""")
        assert drawn is not None and drawn["type"] == "line" and drawn["total"] >= 3, drawn
        share = page.evaluate("""() => {
            const ch = window.Chart.getChart(
                document.querySelector('[data-testid=chart-payment-methods]'));
            return Object.fromEntries(ch.data.labels.map((l, i) =>
                [l, ch.data.datasets[0].data[i]])); }""")
        assert share.get("paypal", 0) >= 2 and share.get("card", 0) >= 1, share
        # the heat map: London's weekday and hour of the orders
        local = now.astimezone(ZoneInfo("Europe/London"))
        row = page.locator("[data-testid=heatmap] tr").nth(1 + local.weekday())
        cell = row.locator("td").nth(local.hour)
        assert int(cell.get_attribute("data-n")) >= 3
        # CSV through ctx.download
        with page.expect_download() as got:
            page.get_by_test_id("csv-payment-methods").click()
        download = got.value
        assert download.suggested_filename.startswith("payment-methods-by_method-")
        text = Path(download.path()).read_text(encoding="utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["method", "orders", "share"]
        assert any(r[0] == "paypal" and int(r[1]) >= 2 for r in rows[1:]), rows
        assert console == [] and errors == [], (console, errors)
        # a filter the server refuses is told, not swallowed
        page.get_by_test_id("reports-channel").fill("no-such-channel")
        page.get_by_test_id("reports-refresh").click()
        page.wait_for_function("window.HARNESS_TOASTS.length > 0")
        kind, message = page.evaluate("window.HARNESS_TOASTS[0]")
        assert kind == "error" and "no-such-channel" in message
        page.evaluate("window.HARNESS_SETLANG('zh-CN')")
        assert page.get_by_test_id("kpi-order-accuracy").locator("div").first.inner_text() \
            == "订单准确率"
        assert errors == [], errors
    finally:
        context.close()
