"""Every page under the Content-Security-Policy the server sends (server/api/headers.py) in
headless Chromium: it loads, logs in and does its first work with no violation reported,
the handheld compiles its vendored barcode decoder (WebAssembly) and opens its Socket.IO
connection; and a script injected inline, as an XSS would, is blocked."""
from __future__ import annotations

import pytest

from .pages import log_in, new_page

# page → (badge, PIN of the demo user, what shows once logged in)
PAGES = {
    "handheld": ("1001", "1111", "#work-view:not([hidden])"),
    "pack": ("2001", "2222", "#station-view:not([hidden]), #work-view:not([hidden])"),
    "returns": ("2001", "2222", "#work-view:not([hidden])"),
    "exceptions": ("3001", "3333", "#work-view:not([hidden])"),
    "console": ("3001", "3333", "#work-view:not([hidden]) #tabs button"),
}
WATCH = """() => { window.__csp = [];
  document.addEventListener('securitypolicyviolation',
    (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI)); }"""


@pytest.mark.parametrize("page_name", sorted(PAGES))
def test_a_page_works_under_its_csp_and_blocks_inline_script(demo_server,
                                                             browser_context_factory,
                                                             page_name):
    badge, pin, ready = PAGES[page_name]
    context = browser_context_factory(locale="en-GB", bypass_csp=False)
    page, errors = new_page(context, 15_000)
    console = []
    page.on("console", lambda m: console.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.add_init_script(f"({WATCH})()")
    resp = page.goto(f"{demo_server.base}/{page_name}/")
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    log_in(page, badge, pin)
    page.wait_for_selector(ready)
    if page_name == "handheld":
        page.wait_for_selector("#conn[data-status=online]")           # Socket.IO is up
        assert page.evaluate("Camera.loadZxing().then(() => true)")    # wasm compiled
    page.wait_for_timeout(500)
    assert page.evaluate("window.__csp") == [] and console == [], (page.evaluate(
        "window.__csp"), console)
    assert errors == []
    # what an injected <script> would do: blocked, and reported
    page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__pwned = true'; document.body.appendChild(s); }""")
    page.wait_for_function("() => window.__csp.length > 0")
    assert page.evaluate("window.__pwned === undefined")
    assert page.evaluate("window.__csp")[0].startswith("script-src")
