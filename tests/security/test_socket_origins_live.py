"""The Socket.IO origin check over a real WebSocket handshake, against a real `wavepack
serve` (gevent), on every namespace: a page of another origin is refused before any
namespace sees it; the server's own origin and those in server.allowed_origins connect."""
from __future__ import annotations

import pytest
import socketio

from tests import live as _live

live_floor, live_async_mode = _live.live_floor, _live.live_async_mode    # the fixtures
EVIL = "http://evil.example"
CONSOLE_HOST = "https://console.example"
# namespace → the floor's badge allowed there
NAMESPACES = {"/handheld": "p1", "/console": "s1"}


def _connect(url: str, namespace: str, token: str, origin: str) -> socketio.Client:
    sio = socketio.Client(reconnection=False,
                          websocket_extra_options={"origin": origin,
                                                   "class_": _live._QuickClose})
    sio.connect(url, auth={"token": token}, transports=["websocket"], namespaces=[namespace],
                wait_timeout=10)
    return sio


@pytest.mark.parametrize("namespace", sorted(NAMESPACES))
def test_a_cross_origin_websocket_is_refused_on_every_namespace(live_floor, namespace):
    live = live_floor.start(WAVEPACK_SERVER_ALLOWED_ORIGINS=CONSOLE_HOST)
    token = live_floor.floor.tokens[NAMESPACES[namespace]]
    for origin in (EVIL, CONSOLE_HOST + ".evil.example", "null"):
        with pytest.raises(socketio.exceptions.ConnectionError):
            _connect(live.url, namespace, token, origin).disconnect()
    for origin in (live.url, CONSOLE_HOST):
        sio = _connect(live.url, namespace, token, origin)
        try:
            assert namespace in sio.namespaces, origin
            assert sio.call("whoami", {}, namespace=namespace, timeout=30)["ok"] is True
        finally:
            sio.disconnect()
