"""The console's Replenishment panel (static/console/panels/replenishment.js) in headless
Chromium against a real `wavepack serve --demo`, mounted by a stand-in for the console
shell (tests/e2e/console_harness/: the WPConsole.panel API and ctx of CONSOLE-CONTRACT.md,
served through Playwright's routing until the shell is merged). A supervisor sets a face's
min / max in the panel, the worker's task and alert appear by the /console push alone;
a face with no reserve shows as a purchase suggestion and its CSV downloads; a task is
cancelled; the panel speaks English and Chinese."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .pages import call, new_page

HARNESS = Path(__file__).parent / "console_harness"
PANEL = Path(__file__).resolve().parents[2] / "static" / "console" / "panels" / "replenishment.js"
TYPES = {".html": "text/html", ".js": "text/javascript"}


def _harness_page(server, context, token: str):
    def from_disk(route, path: Path) -> None:
        route.fulfill(status=200, body=path.read_bytes(),
                      headers={"Content-Type": TYPES[path.suffix] + "; charset=utf-8"})

    context.route(f"{server.base}/console-harness/*",
                  lambda route: from_disk(route, HARNESS / route.request.url.split("/")[-1]
                                          .split("#")[0]))
    context.route(f"{server.base}/console/panels/replenishment.js",
                  lambda route: from_disk(route, PANEL))
    context.add_init_script(f"sessionStorage.setItem('harness.token', {token!r})")
    page, errors = new_page(context, 10_000)
    page.goto(server.base + "/console-harness/index.html#panel=replenishment")
    page.wait_for_selector("[data-testid=harness-live]:text('live')")
    return page, errors


def _rows(page, testid: str) -> list[str]:
    return [r.inner_text() for r in page.query_selector_all(f"[data-testid={testid}-row]")]


def test_the_replenishment_panel_live(demo_server, browser_context_factory):
    status, body = call(demo_server, "POST", "/api/v1/auth/badge",
                        {"badge": "3001", "pin": "3333"})
    assert status == 200, body
    context = browser_context_factory(locale="en-GB", accept_downloads=True,
                                      viewport={"width": 1400, "height": 1000})
    page, errors = _harness_page(demo_server, context, body["token"])
    page.wait_for_selector("[data-testid=replen-alerts-empty]")
    assert page.text_content("#tabs") == "Replenishment"
    assert page.is_visible("[data-testid=replen-tasks-empty]")
    assert page.is_visible("[data-testid=replen-suggestions-empty]")

    # a supervisor raises a face's minimum above its stock in the panel's form
    form = "[data-testid=replen-levels-form]"
    page.fill(f"{form} [name=warehouse]", "main")
    page.fill(f"{form} [name=location]", "a-02-01-2")
    page.fill(f"{form} [name=sku]", "WP-HOOD-GRY-M")
    page.fill(f"{form} [name=min]", "125")
    page.fill(f"{form} [name=max]", "140")
    page.click("[data-testid=replen-levels-save]")
    page.wait_for_selector("[data-testid=toasts] li[data-kind=ok]")
    assert page.text_content("[data-testid=toasts] li") \
        == "WP-HOOD-GRY-M at A-02-01-2: min 125, max 140"
    # the worker opens the task after the commit; the push alone brings it on screen
    page.wait_for_selector("[data-testid=replen-alerts-row]", timeout=15_000)
    [alert] = _rows(page, "replen-alerts")
    assert "A-02-01-2 WP-HOOD-GRY-M" in alert and "120 / 125" in alert
    assert page.text_content("[data-testid=replen-alert-count]") == "1"
    [task] = page.query_selector_all("[data-testid=replen-tasks-row]")
    cells = {c.get_attribute("data-col"): c.inner_text() for c in task.query_selector_all("td")}
    assert (cells["sku"], cells["suggested"], cells["reserve"], cells["moved"]) \
        == ("WP-HOOD-GRY-M", "20", "80", "0")

    # a face with no reserve anywhere: a purchase suggestion, and its CSV
    status, body = call(demo_server, "POST", "/api/v1/replenishment/levels", {"levels": [
        {"warehouse": "main", "location": "A-05-01-3", "sku": "WP-CAP-NVY", "min_qty": 130,
         "max_qty": 150}]}, demo_server.supervisor_token)
    assert status == 200, body
    page.wait_for_selector("[data-testid=replen-suggestions-row]", timeout=15_000)
    [suggestion] = _rows(page, "replen-suggestions")
    assert "WP-CAP-NVY" in suggestion and "30" in suggestion
    assert "no reserve: buy" in "".join(_rows(page, "replen-tasks"))
    with page.expect_download() as got:
        page.click("[data-testid=replen-csv]")
    text = Path(got.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["warehouse"], r["sku"], r["quantity"], r["locations"]) for r in rows] \
        == [("main", "WP-CAP-NVY", "30", "A-05-01-3")]

    # cancel the hoodie task: it leaves the open list and shows under cancelled
    hood = next(r["id"] for r in call(demo_server, "GET", "/api/v1/replenishment/tasks",
                                      token=demo_server.supervisor_token)[1]["tasks"]
                if r["sku"] == "WP-HOOD-GRY-M")
    page.once("dialog", lambda d: d.accept())
    page.click(f"[data-testid=replen-cancel][data-task='{hood}']")
    page.wait_for_selector(f"[data-testid=toasts] li:text('Task {hood} cancelled')")
    page.wait_for_function("() => document.querySelectorAll("
                           "'[data-testid=replen-tasks-row]').length === 1")
    page.select_option("[data-testid=replen-task-state]", "cancelled")
    page.wait_for_selector("[data-testid=replen-tasks-row] td[data-col=reason]"
                           ":text('by a supervisor')")
    assert page.text_content("[data-testid=replen-alert-count]") == "1"     # the cap's

    page.click("[data-testid=harness-lang]")
    assert page.text_content("#tabs") == "补货"
    assert page.is_visible("h2:text('采购建议')")
    assert errors == []
