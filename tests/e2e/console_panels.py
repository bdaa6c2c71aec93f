"""Open one console panel in Chromium against a real server, before the console shell is
merged: the harness (tests/e2e/console_harness_orders/, the contract's WPConsole.panel and ctx)
and the panel files (static/console/panels/) are served by Playwright at
/__console_harness__/ on the server's own origin, so every REST call the panel makes goes
to the real server with the logged-in token.

At merge time (the shell's static/console/ served at /console/) `open_console` is the one
function to switch: log in on /console/ with the badge and click the panel's tab."""
from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import urlencode, urlparse

from .pages import call

ROOT = Path(__file__).resolve().parent
HARNESS = ROOT / "console_harness_orders"
PANELS = ROOT.parent.parent / "static" / "console" / "panels"
PREFIX = "/__console_harness__/"


def _serve(route) -> None:
    path = urlparse(route.request.url).path[len(PREFIX):]
    file = (PANELS / path[len("panels/"):]) if path.startswith("panels/") else HARNESS / (
        path or "index.html")
    base = PANELS if path.startswith("panels/") else HARNESS
    if not file.resolve().is_relative_to(base.resolve()) or not file.is_file():
        route.fulfill(status=404, body="not found")
        return
    route.fulfill(status=200, body=file.read_bytes(),
                  content_type=mimetypes.guess_type(file.name)[0] or "text/plain")


def badge_login(server, badge: str, pin: str) -> dict:
    status, body = call(server, "POST", "/api/v1/auth/badge", {"badge": badge, "pin": pin})
    assert status == 200, body
    return body


def open_console(page, server, badge: str, pin: str, *, tab: str = "", lang: str = "en"
                 ) -> dict:
    """The console (here: the harness) logged in as `badge`, asked to show `tab`; returns
    the login. The tabs it shows are those of the badge's role."""
    login = badge_login(server, badge, pin)
    page.route(f"{server.base}{PREFIX}**", _serve)
    frag = urlencode({"token": login["token"], "role": login["role"], "badge": badge,
                      "lang": lang, "tab": tab})
    page.goto(f"{server.base}{PREFIX}index.html#{frag}")
    page.wait_for_selector("body[data-ready='1']")
    return login


def open_panel(page, server, name: str, badge: str, pin: str, *, lang: str = "en"):
    """Log in as `badge` and show panel `name`; returns the panel's section locator."""
    open_console(page, server, badge, pin, tab=name, lang=lang)
    section = page.locator(f"[data-testid='panel-{name}']")
    section.wait_for()
    return section
