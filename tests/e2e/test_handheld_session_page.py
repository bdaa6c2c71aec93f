"""The handheld page when its session ends under an open socket (a supervisor disabled the
picker): the scan made then is not lost as if answered; the page goes back to the badge
login saying the session expired, the scan stays in the page's outbox, nothing counted."""
from __future__ import annotations

import subprocess
import time

import pytest

from ..conftest import console_script
from .conftest import _serve_demo
from .pages import call, log_in, new_page, released_wave

ORDERS = {"E2E-S": [("WP-TEE-BLK-M", 2)]}


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """A demo server of its own: this test disables the demo picker."""
    data = tmp_path_factory.mktemp("e2e-session")
    with _serve_demo(data) as server:
        yield server, data / "data"


def test_a_disabled_picker_goes_back_to_login_and_keeps_the_scan(own_server,
                                                                 browser_context_factory):
    own_server, data_dir = own_server
    order_ids = released_wave(own_server, ORDERS)
    context = browser_context_factory(locale="en-GB")
    page, errors = new_page(context, 10_000)
    page.goto(own_server.base + "/handheld/")
    log_in(page, "1001", "1111")
    page.wait_for_selector("#conn[data-status=online]")
    page.wait_for_selector("#task:not([hidden])")
    disabled = subprocess.run(
        [console_script("wavepack"), "user", "disable", "1001"], capture_output=True,
        text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "WAVEPACK_SERVER_DATA_DIR": str(data_dir)})
    assert disabled.returncode == 0, disabled.stderr
    time.sleep(3.5)      # another process disabled it: the server looks again within 3 s
    page.keyboard.type(page.text_content("#t-location"))
    page.keyboard.press("Enter")
    page.wait_for_selector("#login-error:not([hidden])", timeout=15_000)
    assert page.get_attribute("#login-error", "data-code") == "session_expired"
    assert page.text_content("#login-error") == "Session expired: log in again"
    assert page.is_hidden("#work-view")
    kept = page.evaluate("""() => new Promise((resolve) => {
        const req = indexedDB.open('wavepack-handheld');
        req.onsuccess = () => {
          const db = req.result;
          const all = db.transaction('outbox', 'readonly').objectStore('outbox').count();
          all.onsuccess = () => resolve(all.result);
        };
        req.onerror = () => resolve(-2);
      })""")
    assert kept == 1, kept
    status, order = call(own_server, "GET", f"/api/v1/orders/{order_ids['E2E-S']}",
                         token=own_server.supervisor_token)
    assert status == 200 and order["lines"][0]["picked"] == 0
    assert errors == []
