"""The exception queue page (/exceptions/) in headless Chromium against a real
`wavepack serve --demo`, on SQLite and on PostgreSQL.

The exceptions are raised by the code path that detects them, never by inserting rows: a
picker's handheld (Socket.IO, as tests/live.py's client) reports a bin short (a pick
denial), and the server opens a stock discrepancy for a supervisor. The supervisor logs
in with a badge, finds it in the queue, acknowledges it, assigns it, adds a note and
resolves it (open → acknowledged → resolved), and the API shows the result; acknowledging
it again is refused and the page shows the server's 409 message. A second short raised
while the page is open appears without a reload (the page polls). The page reads in
Chinese after the language switch; an overdue exception is highlighted once its due time
passes (the browser's clock run forward); a picker's badge is refused the page.
"""
from __future__ import annotations

import re
import uuid

import pytest

from ..conftest import PG_BASE, need, wavepack_serve
from ..live import Handheld
from .conftest import DemoServer
from .pages import call, log_in, new_page, released_wave

ORDERS = {"E2E-EXC-A": [("WP-TEE-BLK-M", 1), ("WP-MUG-350-SAGE", 1)]}
SUPERVISOR_BADGE, SUPERVISOR_PIN = "3001", "3333"
PICKER_BADGE, PICKER_PIN = "1001", "1111"
TYPE = "stock_discrepancy"        # what a pick denial (short) opens
OWNER = f"user:{SUPERVISOR_BADGE}"
WAIT_MS = 15_000


# ---- the floor: a released wave and a picker who finds bins short -------------------------

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo_server(request, tmp_path_factory):
    """`wavepack serve --demo` on SQLite (its data dir) or in a PostgreSQL schema of its own."""
    data = tmp_path_factory.mktemp("e2e-exceptions")
    db_url, schema = None, None
    if request.param == "postgresql":
        import psycopg
        try:
            psycopg.connect(PG_BASE, connect_timeout=5).close()
            up = True
        except Exception:   # noqa: BLE001 (any failure means: not usable)
            up = False
        need(up, "PostgreSQL at 127.0.0.1:5432 (database test)")
        schema = f"wp_e2e_exc_{uuid.uuid4().hex[:8]}"
        db_url = f"{PG_BASE}?schema={schema}"
    try:
        with wavepack_serve(data / "data", "--demo", db_url=db_url) as served:
            banner = served.banner
            yield DemoServer(served.base, banner,
                             re.search(r"demo-api channel: (wpc_\S+)", banner).group(1),
                             re.search(r"supervisor: (wps_\S+)", banner).group(1),
                             served.lines)
    finally:
        if schema:
            import psycopg
            with psycopg.connect(PG_BASE, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def floor(demo_server):
    """One order of two lines waved and released; the picker's handheld on its cart."""
    released_wave(demo_server, ORDERS, carrier="Royal Mail")
    status, login = call(demo_server, "POST", "/api/v1/auth/badge",
                         {"badge": PICKER_BADGE, "pin": PICKER_PIN})
    assert status == 200, login
    handheld = Handheld(demo_server.base, login["token"], "HH-E2E-EXC")
    yield demo_server, handheld, login["token"]
    handheld.close()


def short_next_task(handheld) -> dict:
    """The picker's next task reported short: nothing found in its bin."""
    task = handheld.call("task.next")["task"]
    assert task is not None
    ack = handheld.call("short", {"scan_id": str(uuid.uuid4()), "task": task["task_id"],
                                  "found": 0, "reason": "bin empty"})
    assert ack["ok"], (task, ack)
    return task


def raised_at_least(server, handheld, n: int) -> list[dict]:
    """The shorts' exceptions, shorting the next tasks until there are `n`: the tests of this
    module share one floor, and xdist may run any of them first or alone."""
    while len(found := exceptions(server, type=TYPE)) < n:
        short_next_task(handheld)
    return found


def exceptions(server, **query) -> list[dict]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    status, body = call(server, "GET", f"/api/v1/exceptions?{qs}",
                        token=server.supervisor_token)
    assert status == 200, (status, body, server.log())
    return body["exceptions"]


def open_page(context, server):
    page, errors = new_page(context, WAIT_MS)
    page.goto(server.base + "/exceptions/")
    return page, errors


def notice(page) -> dict:
    return page.evaluate("""() => { const n = document.getElementById('notice');
        return {seq: Number(n.dataset.seq || 0), code: n.dataset.code, kind: n.dataset.kind,
                text: n.textContent, hidden: n.hidden}; }""")


def after_notice(page, before: int) -> dict:
    page.wait_for_function(
        "n => Number(document.getElementById('notice').dataset.seq || 0) > n", arg=before)
    return notice(page)


def row(page, exc_id: int):
    return page.locator(f'#list tbody tr[data-id="{exc_id}"]')


def detail_state(page, expect: str) -> None:
    page.wait_for_selector(f'#d-state[data-state="{expect}"]')


# ---- the tests ----------------------------------------------------------------------------

def test_a_supervisor_works_a_short_pick_from_open_to_resolved(floor, browser_context_factory):
    server, handheld, _ = floor
    task = short_next_task(handheld)
    raised = [e for e in exceptions(server, type=TYPE) if e["state"] == "open"]
    assert len(raised) == 1, raised
    exc = raised[0]

    ctx = browser_context_factory(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page, errors = open_page(ctx, server)
    log_in(page, SUPERVISOR_BADGE, SUPERVISOR_PIN)
    page.wait_for_selector("#work-view:not([hidden])")
    shown = row(page, exc["id"])
    shown.wait_for()
    assert shown.get_attribute("data-state") == "open"
    subject = exc["subject"]
    assert subject["kind"] in ("bin", "order"), subject
    assert (subject["ref"] or f"#{subject['id']}") in shown.locator("td.subject").text_content()
    assert shown.locator("td.due").text_content().startswith(("in ", "overdue by "))

    # the filters go to the server: a type with nothing raised shows nothing
    page.fill("#f-type", "print_failed")
    page.click("#f-apply")
    page.wait_for_selector("#list-empty:not([hidden])")
    page.fill("#f-type", TYPE)
    page.click("#f-apply")
    row(page, exc["id"]).click()
    detail_state(page, "open")
    assert page.text_content("#d-type") == "Stock discrepancy"

    # a second short while the page is open appears without a reload
    handheld_task = short_next_task(handheld)
    second = [e for e in exceptions(server, type=TYPE, state="open") if e["id"] != exc["id"]]
    assert len(second) == 1 and handheld_task["task_id"] != task["task_id"]
    row(page, second[0]["id"]).wait_for()

    seq = notice(page)["seq"]
    page.click("#a-ack")
    assert after_notice(page, seq)["code"] == "ack"
    detail_state(page, "acknowledged")

    seq = notice(page)["seq"]
    page.click("#a-assign")
    page.fill("#assign-owner", OWNER)
    page.click("#assign-send")
    assert after_notice(page, seq)["code"] == "assign"
    page.wait_for_function("b => document.getElementById('d-owner').textContent.includes(b)",
                           arg=OWNER)
    # the owner filter: "Mine" shows what is assigned to this badge, and only that
    page.click("#f-mine")
    page.wait_for_function("() => document.querySelectorAll('#list tbody tr').length === 1")
    assert page.get_attribute("#list tbody tr", "data-id") == str(exc["id"])
    assert page.input_value("#f-owner") == OWNER

    seq = notice(page)["seq"]
    page.fill("#note-text", "bin A-01 recounted: 3 units behind the shelf")
    page.click("#note-send")
    assert after_notice(page, seq)["code"] == "notes"
    page.wait_for_selector("#d-notes li")
    assert "behind the shelf" in page.text_content("#d-notes")

    seq = notice(page)["seq"]
    page.click("#a-resolve")
    page.fill("#resolve-code", "stock_corrected")
    page.fill("#resolve-note", "count done")
    page.click("#resolve-send")
    got = after_notice(page, seq)
    assert got["code"] == "resolve", got
    detail_state(page, "resolved")

    steps = page.eval_on_selector_all("#d-history li", "lis => lis.map(li => li.dataset.step)")
    assert steps == ["h_raised", "h_acknowledged", "h_resolved"], steps
    assert "user:3001" in page.text_content('#d-history li[data-step="h_resolved"]')
    assert task["location"] in page.text_content("#d-detail")

    (done,) = [e for e in exceptions(server, type=TYPE, state="resolved") if e["id"] == exc["id"]]
    assert done["owner"] == OWNER, done
    assert "stock_corrected" in str(done["resolution"])
    assert any("behind the shelf" in str(n) for n in done["notes"]), done["notes"]

    # a resolved exception cannot be acknowledged: the server's 409 message is shown
    status, refusal = call(server, "POST", f"/api/v1/exceptions/{exc['id']}/ack", {},
                           server.supervisor_token)
    assert status == 409, refusal
    seq = notice(page)["seq"]
    page.click("#a-ack")
    got = after_notice(page, seq)
    assert got["kind"] == "error" and got["code"] == refusal["error"]["code"], got
    assert refusal["error"]["message"] in got["text"], (got, refusal)
    detail_state(page, "resolved")

    # in Chinese
    page.click("#lang")
    assert page.text_content("#d-state") == "已解决"
    assert page.text_content("#d-type") == "库存差异"
    assert page.text_content("#a-ack") == "确认"
    assert "被拒绝" in page.text_content("#notice")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert errors == []


def test_the_queue_pages_by_cursor(floor, browser_context_factory):
    server, handheld, _ = floor
    raised = raised_at_least(server, handheld, 2)
    assert len(raised) == 2, raised        # the order's two lines, both short
    ctx = browser_context_factory(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page, errors = new_page(ctx, WAIT_MS)
    page.goto(server.base + "/exceptions/?limit=1")     # one exception a page
    log_in(page, SUPERVISOR_BADGE, SUPERVISOR_PIN)
    page.fill("#f-type", TYPE)
    page.click("#f-apply")
    page.wait_for_selector(f'#list tbody tr[data-id="{raised[0]["id"]}"]')
    assert page.locator("#list tbody tr").count() == 1
    page.click("#more")
    page.wait_for_selector(f'#list tbody tr[data-id="{raised[1]["id"]}"]')
    assert page.locator("#list tbody tr").count() == 2
    page.wait_for_selector("#more", state="hidden")      # the server said: no next page
    assert errors == []


def test_an_exception_past_its_due_time_is_highlighted(floor, browser_context_factory):
    server, handheld, _ = floor
    raised_at_least(server, handheld, 2)    # the first may be resolved by the test above
    live = [e for e in exceptions(server, type=TYPE) if e["state"] in ("open", "acknowledged")]
    assert live and live[0]["due_at"], live
    exc = live[0]
    ctx = browser_context_factory(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page, errors = new_page(ctx, WAIT_MS)
    page.clock.install()                    # the browser's clock, run forward below
    page.goto(server.base + "/exceptions/")
    log_in(page, SUPERVISOR_BADGE, SUPERVISOR_PIN)
    shown = row(page, exc["id"])
    shown.wait_for()
    if not exc["overdue"]:
        assert shown.get_attribute("data-overdue") == "false"
        assert "overdue" not in (shown.get_attribute("class") or "")
        page.clock.fast_forward("49:00:00")   # past the 24 h SLA of config.yaml
    page.wait_for_selector(f'#list tbody tr[data-id="{exc["id"]}"].overdue')
    assert shown.locator("td.due").text_content().startswith("overdue by ")
    colour = shown.locator("td.due").evaluate("td => getComputedStyle(td).color")
    assert colour == "rgb(185, 28, 28)", colour
    assert errors == []


def test_a_picker_badge_is_refused_the_page(floor, browser_context_factory):
    server, handheld, picker_token = floor
    ctx = browser_context_factory(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page, errors = open_page(ctx, server)
    log_in(page, PICKER_BADGE, PICKER_PIN)
    page.wait_for_selector('#login-error[data-code="forbidden"]:not([hidden])')
    assert page.text_content("#login-error") == "This badge may not work the exception queue"
    assert page.is_hidden("#work-view")
    # nor may the picker's token do what the page's buttons do
    (exc, *_) = raised_at_least(server, handheld, 1)
    status, body = call(server, "POST", f"/api/v1/exceptions/{exc['id']}/dismiss",
                        {"note": "not mine"}, picker_token)
    assert status == 403, (status, body)
    # a picker's login planted in the page's storage is not taken either
    page.evaluate("""t => sessionStorage.setItem('wp.exceptions.auth',
                        JSON.stringify({token: t, badge: '1001', role: 'picker'}))""", picker_token)
    page.reload()
    page.wait_for_selector("#login-view:not([hidden])")
    assert page.is_hidden("#work-view")
    assert errors == []
