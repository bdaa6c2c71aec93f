"""The supervisors' console (/console/) and the landing page (/) in headless Chromium
against real `wavepack serve --demo` processes.

A supervisor logs in with a badge; a picker's handheld (python-socketio over the
/handheld protocol, tests/live.py) scans, and each scan is on the console's floor within
1 s of the handheld's ack. With two server processes on one PostgreSQL database sharing
Redis as the Socket.IO message queue, the console connected to process B shows a scan made
on process A. A picker's and a packer's badge are refused the page, and their tokens the
/console namespace. The exception panel takes a short pick's exception from open to
resolved; the waves panel releases a planned wave. The landing page links every page and
shows the demo logins (the demo only)."""
from __future__ import annotations

import re
import statistics
import time
import uuid

import pytest
import socketio

from ..conftest import PG_BASE, need, redis_up, wavepack_serve
from ..live import Handheld
from .conftest import DemoServer
from .pages import call, log_in, new_page, released_wave

SUPERVISOR = ("3001", "3333")
PICKER = ("1001", "1111")
PACKER = ("2001", "2222")
WAIT_MS = 15_000
ON_SCREEN_MS = 1000          # a scan on the console's floor within this after the ack


def _server(served) -> DemoServer:
    banner = served.banner
    return DemoServer(served.base, banner,
                      re.search(r"demo-api channel: (wpc_\S+)", banner).group(1),
                      re.search(r"supervisor: (wps_\S+)", banner).group(1), served.lines)


def _badge_token(server, badge: str, pin: str) -> str:
    status, login = call(server, "POST", "/api/v1/auth/badge", {"badge": badge, "pin": pin})
    assert status == 200, login
    return login["token"]


def open_console(context, base: str, badge=SUPERVISOR):
    page, errors = new_page(context, WAIT_MS)
    page.goto(base + "/console/")
    log_in(page, *badge)
    return page, errors


def wait_live(page) -> None:
    page.wait_for_selector('[data-testid="live"][data-state="on"]')
    assert page.locator('[data-testid="paused"]').is_hidden()


def scan_seen(page, scan_id: str, timeout_ms: float = ON_SCREEN_MS) -> float:
    """Wait (at most timeout_ms) for the scan's row on the floor; the page's own time of
    seeing it (ms since the epoch)."""
    row = page.wait_for_selector(f'[data-testid="floor-scans"] tr[data-scan-id="{scan_id}"]',
                                 timeout=timeout_ms)
    return float(row.get_attribute("data-seen-at"))


def pick_scans(server, handheld, refs: dict, page, n: int) -> list[float]:
    """Up to `n` scans of the picker's cart (bin, then each unit); after each ack the scan
    is on the page within ON_SCREEN_MS. Returns ack → on-screen delays in ms."""
    delays = []
    task = handheld.call("task.next")["task"]
    assert task is not None
    while task is not None and len(delays) < n:
        raw = task["location"] if task["needs"] == "location" else task["gtins"][0]
        scan_id = str(uuid.uuid4())
        ack = handheld.call("scan", {"scan_id": scan_id, "raw": raw})
        acked = time.time() * 1000
        assert ack.get("verdict") == "ok", ack
        seen = scan_seen(page, scan_id)
        delays.append(max(0.0, seen - acked))
        task = ack.get("next")
    return delays


# ---- one server on SQLite -------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with wavepack_serve(tmp_path_factory.mktemp("e2e-console") / "data", "--demo") as served:
        yield _server(served)


def test_the_landing_page_links_every_page_and_shows_the_demo_logins(server, browser_context_factory):
    page, errors = new_page(browser_context_factory(locale="en-GB"), WAIT_MS)
    page.goto(server.base + "/")
    for name, href in (("console", "/console/"), ("handheld", "/handheld/"), ("pack", "/pack/"),
                       ("returns", "/returns/"), ("exceptions", "/exceptions/"),
                       ("docs", "/docs")):
        assert page.get_attribute(f'[data-testid="link-{name}"]', "href") == href
    page.wait_for_selector('[data-testid="demo"]:not([hidden])')
    rows = page.locator('[data-testid="logins"] tr')
    assert rows.count() == 4
    assert "3001" in page.locator('[data-testid="logins"] tr[data-role="supervisor"]').inner_text()
    page.click('[data-testid="lang"]')
    assert page.locator("h1").inner_text() == "仓库扫描与履约"
    assert "主管" in page.locator('[data-testid="logins"]').inner_text()
    page.click('[data-testid="link-console"]')
    page.wait_for_url("**/console/")
    assert errors == []
    for banner_line in ("/console/", "/returns/", "/exceptions/"):
        assert banner_line in server.banner
    assert re.search(r"home\s+http://\S+/\n", server.banner)


def test_pickers_and_packers_are_refused_the_console_and_its_namespace(
        server, browser_context_factory):
    for badge in (PICKER, PACKER):
        page, errors = open_console(browser_context_factory(), server.base, badge)
        err = page.wait_for_selector('[data-testid="login-error"]:not([hidden])')
        assert err.get_attribute("data-code") == "forbidden"
        assert "Supervisors and admins only" in err.inner_text()
        assert page.locator("#work-view").is_hidden() and errors == []
        refused: list = []
        sio = socketio.Client(reconnection=False)
        sio.on("connect_error", refused.append, namespace="/console")
        with pytest.raises(socketio.exceptions.ConnectionError):
            sio.connect(server.base, namespaces=["/console"], transports=["websocket"],
                        auth={"token": _badge_token(server, *badge)}, wait_timeout=10)
        assert refused and "forbidden" in repr(refused[0]), refused


def test_a_handheld_scan_is_on_the_floor_within_a_second(server, browser_context_factory):
    page, errors = open_console(browser_context_factory(viewport={"width": 1400, "height": 900}),
                                server.base)
    page.wait_for_selector('[data-testid="tab-floor"][aria-selected="true"]')
    for name in ("floor", "exceptions", "actions"):
        assert page.locator(f'[data-testid="tab-{name}"]').count() == 1
    wait_live(page)
    page.wait_for_selector('[data-testid="floor-funnel"]')
    refs = released_wave(server, {"E2E-CON-1": [("WP-TEE-BLK-M", 2), ("WP-MUG-350-SAGE", 1)]},
                         carrier="Royal Mail")
    handheld = Handheld(server.base, _badge_token(server, *PICKER), "HH-E2E-CON")
    try:
        delays = pick_scans(server, handheld, refs, page, n=4)
    finally:
        handheld.close()
    assert len(delays) == 4
    # the picker's row: where they are, units counted
    picker = page.locator('[data-testid="floor-pickers"] tr[data-picker="1001"]')
    picker.wait_for()
    assert int(picker.locator('[data-testid="picker-units"]').inner_text()) >= 2
    print(f"ack → on the console: median {statistics.median(delays):.0f} ms, "
          f"max {max(delays):.0f} ms over {len(delays)} scans")
    # the snapshot after the pushes: the wave's progress on the floor
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="wave-picked"]')]
        .some((c) => Number(c.textContent.split('/')[0]) >= 2)""")
    assert errors == []


def test_the_exception_panel_takes_one_from_open_to_resolved(server, browser_context_factory):
    page, errors = open_console(browser_context_factory(viewport={"width": 1400, "height": 900}),
                                server.base)
    page.click('[data-testid="tab-exceptions"]')
    wait_live(page)
    released_wave(server, {"E2E-CON-EXC": [("WP-TEE-WHT-M", 1)]}, carrier="Royal Mail")
    handheld = Handheld(server.base, _badge_token(server, *PICKER), "HH-E2E-EXC")
    try:
        task = handheld.call("task.next")["task"]
        ack = handheld.call("short", {"scan_id": str(uuid.uuid4()), "task": task["task_id"],
                                      "found": 0, "reason": "bin empty"})
        assert ack["ok"], ack
    finally:
        handheld.close()
    status, body = call(server, "GET", "/api/v1/exceptions?state=open&type=stock_discrepancy",
                        token=server.supervisor_token)
    exc = next(e for e in body["exceptions"] if e["subject"]["ref"] == task["location"])
    row = page.locator(f'[data-testid="exc-list"] tr[data-id="{exc["id"]}"]')
    row.wait_for()                                         # pushed, no reload
    assert row.get_attribute("data-state") == "open"
    assert re.search(r"in \d|overdue", row.locator("td.due").inner_text())
    row.click()
    page.click('[data-testid="exc-resolve"]')
    page.fill('[data-testid="exc-resolution"]', "counted")
    page.fill('[data-testid="exc-note"]', "bin counted, stock corrected")
    page.click('[data-testid="exc-send"]')
    page.wait_for_selector('[data-testid="exc-detail"][data-state="resolved"]')
    status, got = call(server, "GET", f"/api/v1/exceptions/{exc['id']}",
                       token=server.supervisor_token)
    assert (got["state"], got["resolution"]) == ("resolved", "counted")
    page.wait_for_selector(f'[data-testid="exc-list"] tr[data-id="{exc["id"]}"]', state="detached")
    assert errors == []


def test_a_planned_wave_is_released_from_the_page(server, browser_context_factory):
    for ref in ("E2E-CON-W1",):
        order = {"ref": ref, "placed_at": "2025-06-02T09:12:00+01:00", "currency": "GBP",
                 "paid": True, "carrier": "Royal Mail",
                 "ship_to": {"name": "Olive Baker", "phone": "+447700900101",
                             "address1": "27 Granby St", "city": "Leicester",
                             "postcode": "LE1 6EJ", "country": "GB"},
                 "lines": [{"sku": "WP-TEE-BLK-L", "quantity": 1, "unit_price": "10.00"}]}
        status, body = call(server, "POST", "/api/v1/orders", order, server.api_token)
        assert status == 201, body
    status, wave = call(server, "POST", "/api/v1/waves", {"warehouse": "main", "totes": 4},
                        server.supervisor_token)
    assert status == 201 and wave["status"] == "draft", wave
    page, errors = open_console(browser_context_factory(viewport={"width": 1400, "height": 900}),
                                server.base)
    page.click('[data-testid="tab-actions"]')
    row = page.locator(f'[data-testid="waves-list"] tr[data-wave="{wave["id"]}"]')
    row.wait_for()
    assert row.get_attribute("data-status") == "draft"
    row.locator('[data-testid="wave-release"]').click()
    page.wait_for_selector('[data-testid="toast"][data-kind="ok"]')
    page.wait_for_selector(f'[data-testid="waves-list"] tr[data-wave="{wave["id"]}"]'
                           '[data-status="released"]')
    status, got = call(server, "GET", f"/api/v1/waves/{wave['id']}", token=server.supervisor_token)
    assert got["status"] == "released"
    # the console in Chinese: the shell's and the panel's words
    page.click('[data-testid="lang"]')
    assert page.locator('[data-testid="tab-actions"]').inner_text() == "波次与暂挂"
    assert page.locator('[data-testid="tab-floor"]').inner_text() == "现场"
    assert errors == []


def test_the_live_view_pauses_while_the_feed_is_down_and_reloads_when_back(
        server, browser_context_factory):
    """The page's WebSocket is cut (Playwright stands between page and server): the banner
    says the live view is paused; socket.io reconnects by itself, the banner goes and the
    floor loads its snapshot again (pushes missed meanwhile are not replayed)."""
    context = browser_context_factory(viewport={"width": 1400, "height": 900})
    sockets = []

    def through(ws) -> None:
        ws.connect_to_server()
        sockets.append(ws)

    context.route_web_socket(re.compile(r".*/socket\.io/.*"), through)
    page, errors = new_page(context, WAIT_MS)
    snapshots: list[str] = []
    page.on("request", lambda r: snapshots.append(r.url) if "/api/v1/floor" in r.url else None)
    page.goto(server.base + "/console/")
    log_in(page, *SUPERVISOR)
    wait_live(page)
    page.wait_for_selector('[data-testid="floor-funnel"]')
    before = len(snapshots)
    sockets[-1].close()
    banner = page.wait_for_selector('[data-testid="paused"]:not([hidden])')
    assert "Live view paused" in banner.inner_text()
    assert page.get_attribute('[data-testid="live"]', "data-state") == "off"
    wait_live(page)                                   # back by itself
    deadline = time.monotonic() + 10
    while len(snapshots) <= before and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert len(snapshots) > before, "the floor was not loaded again after the reconnect"
    assert len(sockets) >= 2 and errors == []


# ---- two server processes, one PostgreSQL database, Redis between them -----------------------

@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    import psycopg
    try:
        psycopg.connect(PG_BASE, connect_timeout=5).close()
        up = True
    except Exception:   # noqa: BLE001 (any failure means: not usable)
        up = False
    need(up, "PostgreSQL at 127.0.0.1:5432 (database test)")
    need(redis_up(), "Redis at 127.0.0.1:6379")
    schema = f"wp_e2e_con_{uuid.uuid4().hex[:8]}"
    db_url = f"{PG_BASE}?schema={schema}"
    shared = {"SOCKETIO_MESSAGE_QUEUE": "redis://127.0.0.1:6379/0",
              "WAVEPACK_SERVER_MESSAGE_QUEUE_CHANNEL": f"wp-test-{uuid.uuid4().hex}",
              "WAVEPACK_AUTH_RATE_LIMIT_PREFIX": f"wp-test-{uuid.uuid4().hex}"}
    tmp = tmp_path_factory.mktemp("e2e-console-two")
    try:
        with wavepack_serve(tmp / "a", "--demo", db_url=db_url, **shared) as a, \
                wavepack_serve(tmp / "b", "--no-workers", db_url=db_url, **shared) as b:
            yield _server(a), b.base
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_a_scan_on_process_a_is_on_the_console_of_process_b(two_processes,
                                                            browser_context_factory):
    a, b_base = two_processes
    assert a.base != b_base
    page, errors = open_console(browser_context_factory(viewport={"width": 1400, "height": 900}),
                                b_base)
    wait_live(page)
    page.wait_for_selector('[data-testid="floor-funnel"]')
    refs = released_wave(a, {"E2E-TWO-1": [("WP-TEE-BLK-M", 2)]}, carrier="Royal Mail")
    handheld = Handheld(a.base, _badge_token(a, *PICKER), "HH-E2E-TWO")
    try:
        delays = pick_scans(a, handheld, refs, page, n=3)
    finally:
        handheld.close()
    assert len(delays) == 3
    print(f"process A ack → console on B: median {statistics.median(delays):.0f} ms")
    assert errors == []
