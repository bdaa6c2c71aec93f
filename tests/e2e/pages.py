"""What the e2e tests of the handheld and the pack station pages do alike: the API called
as a client would, a wave of orders made and released, a page opened with its script
errors collected, the badge login typed in, and a keyboard-wedge scan waited on through
the verdict banner (its data-seq counts the messages shown, static/common/page.js)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

SHIP_TO = {"name": "Olive Baker", "phone": "+447700900101", "address1": "27 Granby St",
           "city": "Leicester", "postcode": "LE1 6EJ", "country": "GB"}


def call(server, method: str, path: str, body=None, token: str | None = None):
    """One API call; (status, parsed JSON body), errors included."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def released_wave(server, orders: dict, fields: dict | None = None, **common) -> dict[str, int]:
    """`orders` (ref → [(sku, quantity)]) through the API, each with the order fields in
    `common` and `fields[ref]`, one wave over them, released; order id by ref."""
    ids = {}
    for ref, lines in orders.items():
        order = {"ref": ref, "placed_at": "2025-06-02T09:12:00+01:00", "currency": "GBP",
                 "paid": True, "ship_to": SHIP_TO, **common,
                 "lines": [{"sku": sku, "quantity": q, "unit_price": "10.00"}
                           for sku, q in lines]}
        order.update((fields or {}).get(ref, {}))
        status, body = call(server, "POST", "/api/v1/orders", order, server.api_token)
        assert status == 201 and body["status"] == "ready", body
        ids[ref] = body["id"]
    status, wave = call(server, "POST", "/api/v1/waves",
                        {"warehouse": "main", "max_orders": 40, "totes": 8},
                        server.supervisor_token)
    assert status == 201, (status, wave, server.log())
    status, body = call(server, "POST", f"/api/v1/waves/{wave['id']}/release", {},
                        server.supervisor_token)
    assert status == 200, (status, body, server.log())
    return ids


def new_page(context, timeout_ms: int):
    """A page of `context` and the list its uncaught script errors go to."""
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    return page, errors


def log_in(page, badge: str, pin: str) -> None:
    page.fill("#badge", badge)
    page.fill("#pin", pin)
    page.click("#login-button")


def verdict(page) -> dict:
    """The banner as shown: messages so far (seq), the server's code, kind, text."""
    return page.evaluate("""() => { const v = document.getElementById('verdict');
        return {seq: Number(v.dataset.seq || 0), code: v.dataset.code, kind: v.dataset.kind,
                class: v.className, text: v.textContent, hidden: v.hidden,
                colour: getComputedStyle(v).backgroundColor}; }""")


def after(page, before: int) -> dict:
    """The banner once a message after the `before`th is shown."""
    page.wait_for_function(
        "n => Number(document.getElementById('verdict').dataset.seq || 0) > n", arg=before)
    return verdict(page)


def scan(page, text: str, expect: str) -> dict:
    """Type `text` + Enter the way a keyboard-wedge scanner does, into whatever has the
    focus (the page must keep it on the scan field); wait for what the page shows, which
    must carry the code `expect`."""
    before = verdict(page)["seq"]
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    shown = after(page, before)
    assert shown["code"] == expect, (text, shown)
    return shown
