"""What docs/security.md promises at the HTTP and Socket.IO edge: webhooks answer signed
calls only, no cookie authenticates anything (so no cross-site request can act for a
user), any cookie the app sets carries Secure/HttpOnly/SameSite, the security headers
and CSPs of pages, the API and /docs, and the Socket.IO origin check on every namespace."""
from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from server.api.headers import API_CSP
from tests.conftest import make_app
from tests.integration.test_webhooks import SECRET, seed_shops, shopify_delivery, \
    shopify_payload
from tests.security import table

FEED_ENV = "WAVEPACK_SECURITY_TEST_FEED_SECRET"
EVIL = "http://evil.example"
HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


@pytest.fixture
def app(db_url, monkeypatch):
    monkeypatch.setenv(FEED_ENV, "feed-secret")
    app = make_app(db_url, tracking={"feeds": {"aftership": {"kind": "aftership",
                                                              "secret_env": FEED_ENV}}},
                   server={"allowed_origins": "https://console.example, http://10.0.0.5:8000"})
    seed_shops(app)
    yield app
    from server import clock
    from server.store.db import db
    clock.set_clock(None)
    if not db.is_closed():
        db.close()


def _token(app, **kw) -> str:
    from server.services import auth
    from server.store.db import db
    with app.app_context(), db.connection_context():
        if kw.get("role"):
            kw["user_id"] = auth.add_user(f"u-{kw['role']}", kw["role"], "1234")
        return auth.create_token(**kw)


# ---- webhooks: HMAC, never a token ---------------------------------------------------------

def test_webhooks_refuse_unsigned_calls(app):
    client = app.test_client()
    admin = {"Authorization": f"Bearer {_token(app, role='admin')}"}
    body, signed = shopify_delivery(shopify_payload(), "orders/paid")
    unsigned = {k: v for k, v in signed.items() if "Hmac" not in k}
    for path in ("/webhooks/shopify/shop", "/webhooks/woocommerce/woo",
                 "/webhooks/tracking/aftership"):
        for headers in ({}, admin, {**unsigned, **admin}):
            r = client.post(path, data=body, headers={"Content-Type": "application/json",
                                                      **headers})
            assert r.status_code == 401, (path, headers, r.get_json())
            assert r.get_json()["error"]["code"] == "bad_signature"
    forged = {**unsigned, "X-Shopify-Hmac-Sha256": base64.b64encode(
        hashlib.sha256(body).digest()).decode()}          # a digest, but not keyed
    assert client.post("/webhooks/shopify/shop", data=body, headers=forged).status_code == 401
    # the same delivery, signed with the channel's secret, is taken
    r = client.post("/webhooks/shopify/shop", data=body, headers=signed)
    assert r.status_code in (200, 201), r.get_json()
    assert SECRET  # the channel's secret the delivery was signed with (seed_shops)


# ---- cookies: none authenticates, none is set without its flags ----------------------------

def test_a_request_carrying_only_cookies_is_unauthenticated(app):
    """The tokens a page holds, sent the way a browser sends them cross-site (cookies),
    authenticate nothing: every route that needs a caller answers 401, and no socket
    namespace connects. So no form on another site can act for a logged-in user, and the
    API needs no CSRF token (webhooks: HMAC of the body, above)."""
    raw = _token(app, role="admin")
    cookies = "; ".join(f"{name}={raw}" for name in (
        "token", "session", "Authorization", "wavepack_token", "access_token"))
    client = app.test_client()
    public = {(m, r) for m, r in __import__(
        "tests.security.test_route_table", fromlist=["PUBLIC"]).PUBLIC}
    checked = 0
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (method, rule.rule) in public or rule.endpoint == "static":
                continue
            path = table._path(rule, {"channel": "shop", "feed": "aftership"})
            kw = {"json": {}} if method != "GET" else {}
            r = client.open(path, method=method, headers={"Cookie": cookies}, **kw)
            assert r.status_code == 401, (method, path, r.status_code, r.get_json())
            checked += 1
    assert checked > 50
    sio = app.extensions["socketio"]
    for ns in table.socket_namespaces(app):
        sock = sio.test_client(app, namespace=ns, headers={"Cookie": cookies})
        assert not sock.is_connected(ns), ns
        sock = sio.test_client(app, namespace=ns, auth={"token": raw},
                               headers={"Cookie": cookies})
        assert sock.is_connected(ns), ns                   # the same token, as auth: in
        sock.disconnect(namespace=ns)


def test_any_cookie_the_app_sets_gets_httponly_samesite_and_secure_over_tls(db_url):
    app = make_app(db_url, server={"proxy_hops": 1})
    app.add_url_rule("/test-cookie", "test_cookie", lambda: _set_cookie())
    client = app.test_client()
    plain = client.get("/test-cookie").headers.get_all("Set-Cookie")
    assert len(plain) == 1 and "HttpOnly" in plain[0] and "SameSite=Strict" in plain[0]
    assert "Secure" not in plain[0]                       # plain http: a browser drops it
    tls = client.get("/test-cookie", headers={"X-Forwarded-Proto": "https"})
    [cookie] = tls.headers.get_all("Set-Cookie")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    lax = client.get("/test-cookie?samesite=Lax").headers.get_all("Set-Cookie")
    assert "SameSite=Lax" in lax[0] and "SameSite=Strict" not in lax[0]


def _set_cookie():
    from flask import make_response, request
    resp = make_response("ok")
    resp.set_cookie("probe", "1", httponly=False, samesite=request.args.get("samesite"))
    return resp


# ---- headers -------------------------------------------------------------------------------

def _csp(resp) -> dict[str, str]:
    return {d.split()[0]: d.split(None, 1)[1] if " " in d.strip() else ""
            for d in (p.strip() for p in resp.headers["Content-Security-Policy"].split(";"))
            if d}


@pytest.mark.parametrize("page", ["handheld", "pack", "returns", "exceptions", "console", ""])
def test_pages_allow_only_their_own_scripts_and_no_framing(app, page):
    """Every page, the console and the landing page ("/") among them."""
    resp = app.test_client().get(f"/{page}/" if page else "/", base_url="http://wms.local:8000")
    assert resp.status_code == 200
    csp = _csp(resp)
    assert csp["script-src"] == "'self' 'wasm-unsafe-eval'"     # no inline script, no eval
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and csp["default-src"] == "'self'"
    assert csp["connect-src"] == "'self' ws://wms.local:8000 wss://wms.local:8000"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    html = resp.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "an inline script"
    assert not re.search(r"\son[a-z]+=\"", html), "an inline event handler"
    assert not re.search(r"<[^>]+\sstyle=", html), "an inline style"
    assert "Strict-Transport-Security" not in resp.headers        # plain http


def test_api_answers_forbid_everything_and_docs_allow_their_own_style(app):
    client = app.test_client()
    for path in ("/api/v1/orders", "/healthz", "/openapi.json", "/api/v1/nope"):
        resp = client.get(path)
        assert resp.headers["Content-Security-Policy"] == API_CSP, path
        assert resp.headers["X-Content-Type-Options"] == "nosniff", path
    docs = client.get("/docs")
    html = docs.get_data(as_text=True)
    [style] = re.findall(r"<style>(.*?)</style>", html, re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    csp = _csp(docs)
    assert csp["style-src"] == f"'sha256-{digest}'" and csp["default-src"] == "'none'"
    assert "<script" not in html


def test_hsts_only_on_answers_that_went_over_tls(db_url):
    app = make_app(db_url, server={"proxy_hops": 1})
    client = app.test_client()
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
    tls = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert tls.headers["Strict-Transport-Security"].startswith("max-age=")
    direct = make_app(db_url).test_client()       # not behind a proxy: the header is ignored
    assert "Strict-Transport-Security" not in direct.get(
        "/healthz", headers={"X-Forwarded-Proto": "https"}).headers


# ---- Socket.IO: the origin check, for every namespace ---------------------------------------

def _handshake(client, origin: str | None):
    return client.get(HANDSHAKE, headers={"Origin": origin} if origin else {})


def test_socketio_accepts_its_own_origin_and_the_configured_ones_only(app):
    client = app.test_client()
    own = "http://localhost"
    for origin in (own, "https://console.example", "http://10.0.0.5:8000", None):
        r = _handshake(client, origin)
        assert r.status_code == 200 and r.get_data(as_text=True).startswith("0{"), origin
    for origin in (EVIL, "https://localhost", "http://localhost.evil.example",
                   "https://console.example.evil", "null"):
        r = _handshake(client, origin)
        assert r.status_code == 400, origin
    # X-Forwarded-Host/-Proto from the client itself are not believed (no proxy_hops)
    r = client.get(HANDSHAKE, headers={"Origin": EVIL, "X-Forwarded-Host": "evil.example",
                                       "X-Forwarded-Proto": "http"})
    assert r.status_code == 400


def test_every_namespace_refuses_a_packet_from_another_origin(app):
    """The check is Engine.IO's, on every request of a connection, before a namespace sees
    a packet: a session opened from the right origin cannot be driven from another one."""
    client = app.test_client()
    token = _token(app, role="supervisor")
    opened = json.loads(_handshake(client, "http://localhost").get_data(as_text=True)[1:])
    url = f"{HANDSHAKE}&sid={opened['sid']}"
    namespaces = table.socket_namespaces(app)
    assert {"/handheld", "/console"} <= set(namespaces)
    for ns in namespaces:
        packet = f'40{ns},{json.dumps({"token": token})}'
        r = client.post(url, data=packet, headers={"Origin": EVIL,
                                                    "Content-Type": "text/plain"})
        assert r.status_code == 400, ns
        r = client.post(url, data=packet, headers={"Origin": "http://localhost",
                                                    "Content-Type": "text/plain"})
        assert r.status_code == 200 and r.get_data(as_text=True) == "OK", ns
