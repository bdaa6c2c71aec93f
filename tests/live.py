"""A real `wavepack serve` process for handheld tests over the wire.

Seed a database in this process (create_app(config) + services: tests/floor.py's
build_floor, orders, waves), then start `wavepack serve` as a subprocess against the SAME
database (env DATABASE_URL; for PostgreSQL the URL carries `?schema=`) on a free port with
its own WAVEPACK_SERVER_DATA_DIR, wait for " * Running on", talk to it with the
python-socketio client over websocket and plain HTTP, and stop it at the end.

    def test_x(live_floor):
        live_floor.floor.order("A-1", (("SOCK", 2),))    # seed first (make_app truncates PG)
        live_floor.floor.wave()
        live = live_floor.start()                         # then the server
        hh = live.connect("p1")
        hh.call("task.next")

`live_floor` runs on SQLite and PostgreSQL (through conftest's db_url) and serves with
gevent, as `wavepack serve` does in production; a test or module can override the
`live_async_mode` fixture (e.g. `@pytest.mark.parametrize("live_async_mode",
["threading"])`). `Live.kill()` (SIGKILL) and `Live.restart()` (same port, same data) let a
test crash the server between scans.
"""
from __future__ import annotations

import ast
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import socketio
import websocket

from .conftest import console_script, make_app
from .floor import PICK_CFG, Floor, build_floor

NAMESPACE = "/handheld"
START_TIMEOUT_S = 60        # a liveness bound for start-up, not a measurement
ACK_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Refused(Exception):
    """A connect the server refused: `data` is the namespace's connect_error payload
    (None when the refusal came from the transport, before Socket.IO spoke)."""

    def __init__(self, message: str, data: object):
        super().__init__(f"{message}: {data!r}")
        self.data = data

    @property
    def code(self) -> str | None:
        """The refusal's code: `{"code", "message"}` as docs/handheld-protocol.md says, or
        as python-socketio wraps a one-argument ConnectionRefusedError(dict) today:
        `{"message": "<the dict's repr>"}` (the clients read both)."""
        data = self.data
        if not isinstance(data, dict):
            return None
        if isinstance(data.get("code"), str):
            return data["code"]
        if isinstance(data.get("data"), dict):
            return data["data"].get("code")
        text = data.get("message")
        if isinstance(text, str) and text.startswith("{"):
            try:
                inner = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return None
            return inner.get("code") if isinstance(inner, dict) else None
        return None


class _QuickClose(websocket.WebSocket):
    """websocket-client's close() waits up to 3 s for the server's close frame, which the
    engine.io client's own read loop has usually consumed already (so a refused connect
    or a disconnect took 3 s at random): wait a moment only."""

    def close(self, status=websocket.STATUS_NORMAL, reason=b"", timeout=0.2):
        super().close(status, reason, timeout)


class Handheld:
    """One python-socketio client on /handheld over websocket."""

    def __init__(self, url: str, token: str | None, device: str = "", *,
                 origin: str | None = None, reconnect: bool = False):
        extra: dict = {"class_": _QuickClose}
        if origin is not None:
            extra["origin"] = origin
        self.sio = socketio.Client(reconnection=reconnect, reconnection_delay=0.1,
                                   reconnection_delay_max=0.5, randomization_factor=0.1,
                                   websocket_extra_options=extra)
        self.errors: list[object] = []
        self.drops = 0                       # disconnects seen (a reconnect may follow)
        self.sio.on("connect_error", self.errors.append, namespace=NAMESPACE)
        self.sio.on("disconnect", self._dropped, namespace=NAMESPACE)
        auth = None
        if token is not None:
            auth = {"token": token, **({"device": device} if device else {})}
        try:
            self.sio.connect(url, auth=auth, transports=["websocket"],
                             namespaces=[NAMESPACE], wait_timeout=10)
        except socketio.exceptions.ConnectionError as err:
            self.close()
            raise Refused(str(err), self.errors[-1] if self.errors else None) from None

    def _dropped(self, *_reason) -> None:
        self.drops += 1

    @property
    def connected(self) -> bool:
        return self.sio.connected and NAMESPACE in self.sio.namespaces

    def call(self, event: str, data: object = None, timeout: float = ACK_TIMEOUT_S):
        return self.sio.call(event, {} if data is None else data, namespace=NAMESPACE,
                             timeout=timeout)

    def emit(self, event: str, data: object, callback) -> None:
        """Send without waiting; `callback(ack)` runs when the ack arrives."""
        self.sio.emit(event, data, namespace=NAMESPACE, callback=callback)

    def wait_connected(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not self.connected:
            if time.monotonic() > deadline:
                raise AssertionError("the handheld did not reconnect")
            time.sleep(0.02)

    def wait_dropped(self, drops_before: int, timeout: float = START_TIMEOUT_S) -> None:
        """Until the client has seen its connection end (it may be back already)."""
        deadline = time.monotonic() + timeout
        while self.drops <= drops_before:
            if time.monotonic() > deadline:
                raise AssertionError("the handheld did not notice the connection end")
            time.sleep(0.02)

    def cut(self) -> None:
        """The network drops: the TCP connection ends with no goodbye to the server."""
        before = self.drops
        self.sio.eio.ws.sock.shutdown(socket.SHUT_RDWR)
        self.wait_dropped(before)

    def close(self) -> None:
        self.sio.disconnect()


@dataclass
class Live:
    """A running `wavepack serve`."""
    url: str
    port: int
    tokens: dict[str, str]
    env: dict[str, str]
    args: list[str]
    proc: subprocess.Popen | None = None
    output: list[str] = field(default_factory=list)
    clients: list[Handheld] = field(default_factory=list)

    @property
    def supervisor(self) -> str:
        return self.tokens["s1"]

    # -- the process ---------------------------------------------------------------------
    def _spawn(self) -> None:
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        proc, seen = self.proc, threading.Event()

        def drain() -> None:          # read all output, so a chatty server never blocks
            for line in proc.stdout:
                self.output.append(line)
                if "Running on" in line:
                    seen.set()
            seen.set()

        threading.Thread(target=drain, daemon=True).start()
        if not seen.wait(START_TIMEOUT_S) or proc.poll() is not None:
            self.stop()
            raise AssertionError("wavepack serve did not start:\n" + "".join(self.output))

    def kill(self) -> None:
        """SIGKILL: the server dies between two instructions, as in a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=20)

    def restart(self) -> None:
        """Start the server again on the same port with the same database."""
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        self._spawn()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)

    # -- talking to it -----------------------------------------------------------------------
    def connect(self, badge: str | None, *, token: str | None = None, device: str | None = None,
                origin: str | None = None, reconnect: bool = False) -> Handheld:
        """A handheld logged in as `badge` (its seeded token), or with `token`."""
        if token is None and badge is not None:
            token = self.tokens[badge]
        hh = Handheld(self.url, token, device if device is not None else f"HH-{badge}",
                      origin=origin, reconnect=reconnect)
        self.clients.append(hh)
        return hh

    def http(self, method: str, path: str, token: str | None = None, body: object = None,
             headers: dict | None = None) -> tuple[int, object]:
        hdrs = {"Authorization": f"Bearer {token or self.supervisor}", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=ACK_TIMEOUT_S) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def order(self, order_id: int) -> dict:
        status, body = self.http("GET", f"/api/v1/orders/{order_id}")
        assert status == 200, body
        return body

    def close_clients(self) -> None:
        for hh in self.clients:
            try:
                hh.close()
            except Exception:
                pass
        self.clients.clear()


@dataclass
class LiveFloor:
    """The seeded floor (in this process) and the server started over it."""
    floor: Floor
    db_url: str
    data_dir: Path
    async_mode: str
    picking: dict
    live: Live | None = None

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Read the shared database from the test process (what the server committed)."""
        from server.store.db import db, execute
        with self.floor.app.app_context(), db.connection_context():
            return [tuple(r) for r in execute(sql, params).fetchall()]

    def start(self, **env_extra: str) -> Live:
        """The server, with `env_extra` (e.g. WAVEPACK_SERVER_ALLOWED_ORIGINS) in its env."""
        assert self.live is None, "already started"
        port = free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("WAVEPACK_") and k not in ("DATABASE_URL", "PORT")}
        env.update(DATABASE_URL=self.db_url, PORT=str(port),
                   WAVEPACK_SERVER_DATA_DIR=str(self.data_dir),
                   WAVEPACK_SERVER_HOST="127.0.0.1",
                   WAVEPACK_JOBS_ENABLED="false",          # no scheduler changing orders
                   WAVEPACK_WEBHOOKS_PROCESS="inline", **env_extra)
        for key, value in self.picking.items():
            env[f"WAVEPACK_PICKING_{key.upper()}"] = str(value).lower() \
                if isinstance(value, bool) else str(value)
        args = [console_script("wavepack"), "serve", "--host", "127.0.0.1", "--port", str(port),
                "--async-mode", self.async_mode]
        self.live = Live(f"http://127.0.0.1:{port}", port, dict(self.floor.tokens), env, args)
        self.live._spawn()
        banner = "".join(self.live.output)
        assert f"(Socket.IO: {self.async_mode})" in banner, banner
        return self.live


@pytest.fixture
def live_async_mode() -> str:
    return "gevent"


@pytest.fixture
def live_floor(db_url, tmp_path, live_async_mode):
    """A seeded floor (tests/floor.py) whose `start()` serves it from a real process."""
    from server import clock
    from server.store.db import db
    app = make_app(db_url, picking=PICK_CFG)
    lf = LiveFloor(build_floor(app), db_url, tmp_path / "server-data", live_async_mode,
                   dict(PICK_CFG))
    try:
        yield lf
    finally:
        if lf.live is not None:
            lf.live.stop()
            lf.live.close_clients()
        clock.set_clock(None)
        if not db.is_closed():
            db.close()
