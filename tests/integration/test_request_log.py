"""One log line per HTTP request and per Socket.IO event (server/logs.py): status, duration,
request id (the caller's X-Request-Id or a new one, echoed back), who; JSON with
LOG_FORMAT=json; never a token, an Authorization header or a PIN. SQLite and PostgreSQL."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

from server import logs
from server.services import auth
from server.store.db import db

from ..conftest import make_app
from ..factories import seed
from ..floor import PICK_CFG, build_floor
from .test_orders_api import ORDER


def _lines(caplog, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger]


def _token(app, **kw) -> str:
    with app.app_context(), db.connection_context():
        return auth.create_token(**kw)


def test_each_request_logs_status_duration_id_and_user(app, client, caplog):
    seed(app)
    token = _token(app, channel="api")
    caplog.set_level(logging.INFO, logger="server.access")
    bad = {**ORDER, "ship_to": {**ORDER["ship_to"], "country": "ZZ"}}
    r = client.post("/api/v1/orders", json=bad, headers={
        "Authorization": f"Bearer {token}", "X-Request-Id": "ticket-42.a"})
    assert r.status_code == 422 and r.headers["X-Request-Id"] == "ticket-42.a"
    ok = client.get("/healthz?token=query-secret")
    minted = ok.headers["X-Request-Id"]
    assert len(minted) == 32
    first, second = _lines(caplog, "server.access")
    assert first.fields == {"method": "POST", "path": "/api/v1/orders", "status": 422,
                            "duration_ms": first.fields["duration_ms"],
                            "request_id": "ticket-42.a", "user": "token:" + first.fields[
                                "user"].split(":", 1)[1], "client": "127.0.0.1"}
    assert first.fields["duration_ms"] > 0 and "channel:api" in first.fields["user"]
    assert (second.fields["path"], second.fields["status"], second.fields["request_id"],
            second.fields["user"]) == ("/healthz", ok.status_code, minted, None)
    text = "\n".join(r.getMessage() + json.dumps(r.fields) for r in caplog.records)
    assert token not in text and "Bearer" not in text and "query-secret" not in text


def test_forwarded_client_is_believed_only_behind_a_proxy(db_url, caplog):
    """X-Forwarded-For/-Proto name the client in the log (and the rate-limit key) only
    when server.proxy_hops says a proxy sets them; otherwise anyone could claim any
    address. With one hop only the last address (the one nginx appended) counts."""
    caplog.set_level(logging.INFO, logger="server.access")
    forwarded = {"X-Forwarded-For": "10.9.9.9, 203.0.113.7", "X-Forwarded-Proto": "https"}
    direct = make_app(db_url).test_client()
    assert direct.get("/healthz", headers=forwarded).status_code == 200
    proxied = make_app(db_url, server={"proxy_hops": 1})
    seen = {}

    @proxied.get("/test-scheme")
    def _scheme():
        from flask import request
        seen["scheme"] = request.scheme
        return "ok"

    assert proxied.test_client().get("/test-scheme", headers=forwarded).status_code == 200
    assert [r.fields["client"] for r in _lines(caplog, "server.access")] == \
        ["127.0.0.1", "203.0.113.7"]
    assert seen["scheme"] == "https"


def test_a_bad_request_id_is_replaced(app, client, caplog):
    caplog.set_level(logging.INFO, logger="server.access")
    r = client.get("/healthz", headers={"X-Request-Id": "x" * 129})
    assert r.headers["X-Request-Id"] != "x" * 129 and len(r.headers["X-Request-Id"]) == 32
    r = client.get("/healthz", headers={"X-Request-Id": "no spaces\tor tabs"})
    assert r.headers["X-Request-Id"] != "no spaces\tor tabs"


def test_errors_and_unknown_routes_are_logged_too(app, client, caplog):
    caplog.set_level(logging.INFO, logger="server.access")
    assert client.get("/nowhere").status_code == 404
    assert client.get("/api/v1/orders").status_code == 401
    assert client.get("/api/v1/orders%00").status_code in (400, 404)
    got = [(r.fields["path"], r.fields["status"]) for r in _lines(caplog, "server.access")]
    assert got[:2] == [("/nowhere", 404), ("/api/v1/orders", 401)] and len(got) == 3


def test_pins_and_tokens_stay_out_of_the_log(app, client, caplog):
    with app.app_context(), db.connection_context():
        auth.add_user("B9", "picker", "4711")
    caplog.set_level(logging.DEBUG, logger="server")
    r = client.post("/api/v1/auth/badge", json={"badge": "B9", "pin": "4711"})
    token = r.get_json()["token"]
    client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
    client.post("/api/v1/auth/badge", json={"badge": "B9", "pin": "0000"})
    logging.getLogger("server.test").warning("caller sent Authorization: Bearer %s", token)
    out = "\n".join(logs.JsonFormatter().format(r) for r in caplog.records)
    assert "4711" not in out and token not in out and "[redacted]" in out
    users = [r.fields["user"] for r in _lines(caplog, "server.access")]
    assert users == [None, "user:B9", None]


def test_socket_events_get_a_line(db_url, caplog):
    from server import clock
    app = make_app(db_url, picking=PICK_CFG)
    floor = build_floor(app, spare=0)
    try:
        caplog.set_level(logging.INFO, logger="server.socket")
        hh = floor.socket("p1")
        hh.emit("whoami", {}, namespace="/handheld", callback=True)
        hh.emit("scan", {"scan_id": "x"}, namespace="/handheld", callback=True)
        sio = floor.app.extensions["socketio"]
        sio.test_client(floor.app, namespace="/handheld", auth={"token": "wps_" + "n" * 40})
        hh.disconnect(namespace="/handheld")
    finally:
        clock.set_clock(None)
    got = [(r.fields["event"], r.fields["ok"], r.fields["code"], r.fields["user"])
           for r in _lines(caplog, "server.socket")]
    assert got[:3] == [("connect", True, None, "user:p1"), ("whoami", True, None, "user:p1"),
                       ("scan", False, got[2][2], "user:p1")]
    assert got[2][2] and ("connect", False, "unauthenticated", None) in got
    assert ("disconnect", True, None, "user:p1") in got
    assert all(r.fields["namespace"] == "/handheld" and r.fields["duration_ms"] >= 0
               for r in _lines(caplog, "server.socket"))
    assert "n" * 40 not in "\n".join(r.getMessage() for r in caplog.records)


SERVE_ONE = textwrap.dedent("""
    import sys
    from server import create_app
    app = create_app({"database": {"url": sys.argv[1]}, "testing": True})
    client = app.test_client()
    client.get("/healthz", headers={"X-Request-Id": "rid-1",
                                    "Authorization": "Bearer wpc_secretsecretsecretsecret"})
    client.post("/api/v1/orders", json={}, headers={"Authorization": "Bearer nope"})
""")


def test_log_format_json_writes_one_object_per_line(db_url):
    env = {**os.environ, "LOG_FORMAT": "json"}
    done = subprocess.run([sys.executable, "-c", SERVE_ONE, db_url],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    access = [x for x in lines if x["logger"] == "server.access"]
    assert [(x["method"], x["path"], x["status"]) for x in access] == [
        ("GET", "/healthz", access[0]["status"]), ("POST", "/api/v1/orders", 401)]
    assert access[0]["request_id"] == "rid-1" and access[0]["duration_ms"] >= 0
    assert len(access[1]["request_id"]) == 32 and access[1]["user"] is None
    assert {"ts", "level", "msg"} <= access[0].keys()
    assert "secret" not in done.stderr and "Authorization" not in done.stderr
    assert "nope" not in done.stderr
    plain = subprocess.run([sys.executable, "-c", SERVE_ONE, db_url],
                           env={**os.environ, "LOG_FORMAT": "text"}, capture_output=True,
                           text=True, timeout=120)
    assert "server.access GET /healthz" in plain.stderr and "rid=rid-1" in plain.stderr
    assert not plain.stderr.lstrip().startswith("{")
