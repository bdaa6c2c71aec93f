"""Server logs: one line per HTTP request and per Socket.IO event, JSON or plain text.

`LOG_FORMAT=json` writes one JSON object per line (for a log shipper), anything else plain
text; `LOG_LEVEL` (default INFO) filters. create_app calls `configure` (one handler on the
`server` logger, replaced, never doubled, when tests build many apps) and `install`
(the request hooks).

A request line has method, path (never the query string), status, duration_ms,
request_id, user and client (the caller's address: X-Forwarded-For's when
server.proxy_hops says a proxy sets it); a socket line has event, namespace, ok, code, duration_ms and user.
The request id is the caller's `X-Request-Id` when it is a sane token (up to 128
characters of letters, digits and `-_.:`), else a new one; it is echoed in the response's
`X-Request-Id` so a support ticket can quote it. `user` is who the token belongs to
('user:B17', 'token:3(channel:shop)'), never the token. Headers, bodies, query strings
and PINs are never logged, and a redaction filter masks anything shaped like a bearer
token or one of our API tokens that some other log call might carry.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
import uuid
from typing import Any

from flask import Flask, g, request

ACCESS = logging.getLogger("server.access")
SOCKET = logging.getLogger("server.socket")
_ROOT = "server"
_MARK = "_wavepack_handler"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SECRETS = re.compile(r"(?i)(bearer\s+)\S+|\bwp[cs]_[A-Za-z0-9_-]{16,}")


def _redact(text: str) -> str:
    return _SECRETS.sub(lambda m: (m.group(1) or "") + "[redacted]", text)


class RedactSecrets(logging.Filter):
    """Mask bearer tokens and wavepack API tokens in a record's message and fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = _redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: _redact(v) if isinstance(v, str) else v
                             for k, v in fields.items()}
        return True


class JsonFormatter(logging.Formatter):
    """{"ts", "level", "logger", "msg", ...fields, "exc"} on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exc"] = _redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`2026-12-07T01:30:00.123Z INFO server.access POST /api/v1/orders 201 12.3ms rid=… user=…`"""

    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created, dt.timezone.utc) \
            .isoformat(timespec="milliseconds").replace("+00:00", "Z")
        text = f"{ts} {record.levelname} {record.name} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + _redact(self.formatException(record.exc_info))
        return text


def configure(env: dict | None = None) -> logging.Handler:
    """One stderr handler on the `server` logger, JSON when LOG_FORMAT=json."""
    env = os.environ if env is None else env
    root = logging.getLogger(_ROOT)
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler()
    setattr(handler, _MARK, True)
    as_json = (env.get("LOG_FORMAT") or "").strip().lower() == "json"
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    handler.addFilter(RedactSecrets())
    root.addHandler(handler)
    level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    root.setLevel(level if level in logging.getLevelNamesMapping() else logging.INFO)
    return handler


def _who() -> str | None:
    p = g.get("principal")
    return p.actor if p is not None else None


def install(app: Flask) -> None:
    """Time every request and log it when its response is ready (errors included)."""

    def start() -> None:
        g.log_started = time.perf_counter()
        sent = request.headers.get("X-Request-Id", "")
        g.request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex

    def finish(response):
        rid = g.get("request_id") or uuid.uuid4().hex
        response.headers["X-Request-Id"] = rid
        started = g.get("log_started")
        ms = round((time.perf_counter() - started) * 1000, 2) if started else 0.0
        fields = {"method": request.method, "path": request.path,
                  "status": response.status_code, "duration_ms": ms, "request_id": rid,
                  "user": _who(), "client": request.remote_addr}
        ACCESS.info("%s %s %s %.1fms rid=%s user=%s client=%s", request.method, request.path,
                    response.status_code, ms, rid, fields["user"] or "-", fields["client"],
                    extra={"fields": fields})
        return response

    app.before_request_funcs.setdefault(None, []).insert(0, start)
    app.after_request(finish)


def socket_event(event: str, namespace: str, answer: Any, seconds: float,
                 user: str | None) -> None:
    """One line for a Socket.IO event: its ack's ok/code, how long it took, who sent it."""
    ok = not (isinstance(answer, dict) and (answer.get("ok") is False or "error" in answer))
    code = None
    if isinstance(answer, dict):
        error = answer.get("error")
        code = error.get("code") if isinstance(error, dict) else answer.get("code")
        if code is None and not ok:
            code = answer.get("verdict")     # a scan the server refused: wrong_item, …
    ms = round(seconds * 1000, 2)
    fields = {"event": event, "namespace": namespace, "ok": ok, "code": code,
              "duration_ms": ms, "user": user}
    SOCKET.info("%s %s %s %.1fms user=%s", namespace, event, "ok" if ok else code or "error",
                ms, user or "-", extra={"fields": fields})
