"""End-to-end fixtures: a real `wavepack serve --demo` process and Debian's headless
Chromium driven by Playwright (no browser download: `make setup` installs `chromium`).

Without chromium or playwright the tests skip locally and fail when CI=true."""
from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..conftest import need, wavepack_serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@dataclass(frozen=True)
class DemoServer:
    base: str
    banner: str
    api_token: str          # the demo-api channel: creates orders
    supervisor_token: str   # waves, and reading orders back
    output: list[str] = field(default_factory=list, repr=False)

    def log(self, last: int = 60) -> str:
        """The server's last output lines, for failure messages."""
        return "".join(self.output[-last:])


@contextlib.contextmanager
def _serve_demo(data: Path, **env_extra: str):
    """`wavepack serve --demo` on a free port with its own data dir, as a user starts it."""
    with wavepack_serve(data / "data", "--demo", **env_extra) as served:
        banner = served.banner
        api = re.search(r"demo-api channel: (wpc_\S+)", banner).group(1)
        sup = re.search(r"supervisor: (wps_\S+)", banner).group(1)
        yield DemoServer(served.base, banner, api, sup, served.lines)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory) -> DemoServer:
    """The demo server with its default settings (location scans on, totes by slot)."""
    with _serve_demo(tmp_path_factory.mktemp("e2e-server")) as server:
        yield server


@pytest.fixture(scope="module")
def demo_server_tote_scans(tmp_path_factory) -> DemoServer:
    """The demo server with picking.require_tote_scan on: totes are bound before picking."""
    with _serve_demo(tmp_path_factory.mktemp("e2e-server-totes"),
                     WAVEPACK_PICKING_REQUIRE_TOTE_SCAN="true") as server:
        yield server


@pytest.fixture(scope="session")
def playwright():
    """Playwright, once per test process; skips (fails with CI=true) without chromium."""
    need(os.path.exists(CHROMIUM), f"Debian chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "the playwright Python package")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def chromium(playwright):
    """Debian's chromium, headless."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def chromium_with_camera(playwright, tmp_path):
    """A chromium whose camera is a video file: launch(video) with a .y4m/.mjpeg path."""
    browsers = []

    def launch(video: Path):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + [
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"])
        browsers.append(browser)
        return browser

    yield launch
    for browser in browsers:
        browser.close()


@pytest.fixture
def browser_context_factory(chromium):
    """New isolated browser contexts (own storage, own IndexedDB), closed after the test."""
    contexts = []

    def make(browser=None, **options):
        options.setdefault("viewport", {"width": 412, "height": 860})
        # Playwright evaluates a wait_for_function expression with eval() in the page, which
        # the pages' CSP refuses (server/api/headers.py); tests/e2e/test_page_security.py
        # runs the pages under their CSP (bypass_csp=False) and the others test behaviour
        options.setdefault("bypass_csp", True)
        ctx = (browser or chromium).new_context(**options)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()
