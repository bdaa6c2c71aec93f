"""Security headers on every answer (docs/security.md, "Headers").

Pages (static/: plain scripts and styles from their own origin, the handheld's vendored
zxing-wasm decoder, Socket.IO over WebSocket to the same host, label previews and PDFs as
blob: URLs) get a Content-Security-Policy that allows exactly that; the API's answers (JSON,
PDF, PNG) one that allows nothing, so a response opened as a document runs no script;
/docs (server-rendered, one inline <style>, no script) its style by hash. Every answer
says nosniff, no framing, no referrer; HSTS only on answers that went over TLS (behind
nginx with TLS and `server.proxy_hops`, where X-Forwarded-Proto says https).

wavepack sets no cookie: callers authenticate with `Authorization: Bearer` only, which a
browser never sends by itself, so no cross-site request can act for a logged-in user
(tests/security/test_security_http.py proves it and that no answer carries Set-Cookie)."""
from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, request

NOSNIFF = "nosniff"
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def page_csp(host: str) -> str:
    """The pages' policy. 'wasm-unsafe-eval' lets the handheld compile its vendored barcode
    decoder (WebAssembly, no JavaScript eval); blob: is the label previews (img) and the
    packing slip / invoice PDFs opened in a tab (object, frame); ws(s)://host the Socket.IO
    connection for browsers whose 'self' does not cover WebSocket."""
    sockets = f" ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
    return ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
            "img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
            f"connect-src 'self'{sockets}; worker-src 'self'; manifest-src 'self'; "
            "object-src 'self' blob:; frame-src 'self' blob:; frame-ancestors 'none'; "
            "base-uri 'self'; form-action 'self'")


_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


def _docs_csp() -> str:
    from .openapi import DOCS_TEMPLATE
    styles = re.findall(r"<style>(.*?)</style>", DOCS_TEMPLATE, re.S)
    hashes = " ".join("'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode()).digest())
                      .decode() for s in styles)
    return (f"default-src 'none'; style-src {hashes}; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'none'")


def install(app: Flask) -> None:
    docs_csp = _docs_csp()

    @app.after_request
    def _security_headers(resp: Response) -> Response:
        h = resp.headers
        h.setdefault("X-Content-Type-Options", NOSNIFF)
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "no-referrer")
        endpoint = request.endpoint or ""
        if endpoint.startswith("pages."):
            policy = page_csp(request.host)
        elif endpoint == "openapi.docs":
            policy = docs_csp
        else:
            policy = API_CSP
        h.setdefault("Content-Security-Policy", policy)
        if request.is_secure:
            h.setdefault("Strict-Transport-Security", "max-age=31536000")
        cookies = h.getlist("Set-Cookie")
        if cookies:
            h.setlist("Set-Cookie", [cookie_flags(c, request.is_secure) for c in cookies])
        return resp


def cookie_flags(cookie: str, secure: bool) -> str:
    """A Set-Cookie value with HttpOnly, SameSite (Strict unless it says otherwise) and,
    over TLS, Secure. wavepack sets none itself; this holds for whatever a library or a
    later route sets (a cookie that authenticated anything would also need CSRF checks)."""
    attrs = {part.split("=", 1)[0].strip().lower() for part in cookie.split(";")[1:]}
    if "httponly" not in attrs:
        cookie += "; HttpOnly"
    if "samesite" not in attrs:
        cookie += "; SameSite=Strict"
    if secure and "secure" not in attrs:
        cookie += "; Secure"
    return cookie
