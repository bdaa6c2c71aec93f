"""The handheld client (handheld.client, `wavepack-handheld`) against a real Socket.IO server.

The server here is a small stand-in for the `/handheld` namespace that keeps the parts of
the protocol the client relies on: the token is checked at connect (refused with
`{"code": "unauthenticated", ...}`), every scan is stored by scan_id in a SQLite file,
and a replayed scan_id gets the FIRST stored ack again and counts nothing. Bad input gets
an error ack and stores nothing. It runs in its own process (python-socketio threading
mode under werkzeug) so a test can kill it like a crashed server and start it again on
the same port with the same store:

    python tests/integration/test_handheld_client.py PORT STORE TOKEN [--crash-after N]
                                                     [--slow RAW]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

TOKEN = "wps_test-token-1001"
ROOT = Path(__file__).resolve().parents[2]


# -- the stand-in server (runs in a subprocess) --------------------------------------

_STORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (seq INTEGER PRIMARY KEY AUTOINCREMENT,
    scan_id TEXT NOT NULL UNIQUE, event TEXT NOT NULL, payload TEXT NOT NULL,
    device TEXT, ack TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS received (n INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL, scan_id TEXT);
"""


def serve(argv: list[str]) -> None:
    import logging

    import socketio
    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("store")
    parser.add_argument("token")
    parser.add_argument("--crash-after", type=int, default=0,
                        help="exit (no ack) right after committing the Nth new scan")
    parser.add_argument("--slow", default=None,
                        help="the first delivery of this raw is acked 3 s late")
    parser.add_argument("--unavailable", type=float, default=0.0,
                        help="answer 503 with a JSON body to Socket.IO for these seconds")
    parser.add_argument("--fail-first", action="append", default=[],
                        help="RAW=CODE: answer the first delivery of RAW with error CODE")
    parser.add_argument("--refuse-unavailable", type=int, default=0,
                        help="refuse the first N connects with database_unavailable")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    db = sqlite3.connect(args.store, check_same_thread=False, isolation_level=None)
    db.executescript(_STORE_SCHEMA)
    lock = threading.Lock()
    sio = socketio.Server(async_mode="threading")
    devices: dict[str, str | None] = {}
    fail_first = dict(x.split("=", 1) for x in args.fail_first)
    refusals = [args.refuse_unavailable]

    def connect(sid, environ, auth):
        if not isinstance(auth, dict) or auth.get("token") != args.token:
            # one dict argument, as server/sockets/handheld.py raises it
            raise socketio.exceptions.ConnectionRefusedError(
                {"code": "unauthenticated", "message": "unknown token"})
        if refusals[0] > 0:             # as server/sockets/connect.py refuses it
            refusals[0] -= 1
            with lock:
                db.execute("INSERT INTO received (event, scan_id) VALUES ('refused', NULL)")
            raise socketio.exceptions.ConnectionRefusedError(
                "the database cannot be reached just now; connect again shortly",
                {"code": "database_unavailable", "message": "the database cannot be "
                 "reached just now; connect again shortly"})
        devices[sid] = auth.get("device")
        with lock:
            db.execute("INSERT INTO received (event, scan_id) VALUES ('connect', NULL)")

    def bad(message: str, field: str) -> dict:
        return {"ok": False, "error": {"code": "bad_request", "message": message,
                                       "field": field}}

    def record(event: str, sid: str, data: object) -> dict:
        scan_id = data.get("scan_id") if isinstance(data, dict) else None
        with lock:
            db.execute("INSERT INTO received (event, scan_id) VALUES (?, ?)", (event, scan_id))
        if not isinstance(scan_id, str) or not 8 <= len(scan_id) <= 64:
            return bad("scan_id must be 8-64 characters", "scan_id")
        raw = data.get("raw")
        if event != "short" and (not isinstance(raw, str) or not raw
                                 or raw.startswith("BAD")):
            return bad("raw is not a barcode", "raw")
        if raw in fail_first:                        # a server fault: nothing stored
            return {"ok": False, "error": {"code": fail_first.pop(raw), "message": "retry"}}
        body = json.dumps(data, sort_keys=True)
        with lock:
            row = db.execute("SELECT ack, payload FROM scans WHERE scan_id = ?",
                             (scan_id,)).fetchone()
            if row is not None:
                if row[1] != body:
                    return {"ok": False, "error": {"code": "scan_id_conflict",
                                                   "message": "different content"}}
                return json.loads(row[0])            # the first verdict, unchanged
            count = db.execute("SELECT COUNT(*) FROM scans").fetchone()[0] + 1
            ack = {"ok": True, "scan_id": scan_id, "verdict": "ok", "count": count,
                   "remaining": 0, "next": None}
            db.execute("INSERT INTO scans (scan_id, event, payload, device, ack)"
                       " VALUES (?, ?, ?, ?, ?)",
                       (scan_id, event, body, devices.get(sid), json.dumps(ack)))
        if count == args.crash_after:
            os._exit(3)                                # committed, ack never sent
        if raw is not None and raw == args.slow:
            time.sleep(3.0)
        return ack

    sio.on("connect", connect, namespace="/handheld")
    for event in ("scan", "short", "tote.scan"):
        sio.on(event, (lambda ev: lambda sid, data: record(ev, sid, data))(event),
               namespace="/handheld")
    sio.on("whoami", lambda sid, data: {
        "ok": True, "user": {"badge": "1001", "name": "Ana", "role": "picker"},
        "settings": {"require_location_scan": True, "require_tote_scan": False},
        "device": devices.get(sid)}, namespace="/handheld")
    sio.on("task.next", lambda sid, data: {"ok": True, "task": None, "cart": None,
                                           "asked": data}, namespace="/handheld")

    def rest(environ, start_response):
        if environ["PATH_INFO"] != "/api/v1/auth/badge" or environ["REQUEST_METHOD"] != "POST":
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": {"code": "not_found", "message": "no such route"}}']
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(size) or b"{}")
        if (body.get("badge"), body.get("pin")) != ("1001", "1111"):
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [b'{"error": {"code": "bad_credentials", "message": "badge or PIN"}}']
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"token": args.token, "role": "picker", "badge": "1001",
                            "expires_at": "2030-01-01T00:00:00+00:00"}).encode()]

    sockets = socketio.WSGIApp(sio, rest)
    up_at = time.monotonic() + args.unavailable

    def app(environ, start_response):
        if time.monotonic() < up_at:                  # a proxy in front of a server starting
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"error": {"code": "unavailable", "message": "starting"}}']
        return sockets(environ, start_response)

    server = make_server("127.0.0.1", args.port, app, threaded=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    # Run as the stand-in server: stop before importing pytest and the client, which
    # the server does not need (they would double its start-up time).
    serve(sys.argv[1:])
    sys.exit(0)

import pytest  # noqa: E402

from handheld.client import ConnectRefused, HandheldClient, LoginError, login  # noqa: E402
from handheld.queue import OfflineQueue  # noqa: E402

from ..conftest import BARCODES, console_script, wavepack_serve  # noqa: E402

CLI = console_script("wavepack-handheld")
FAST = {"backoff": (0.05, 0.25), "ack_timeout": 5.0}


class Server:
    """The stand-in server process on a fixed port, with its scan store."""

    def __init__(self, tmp_path: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = tmp_path / "server-store.sqlite3"
        self.proc: subprocess.Popen | None = None

    def start(self, *options: str) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(self.port), str(self.store), TOKEN, *options],
            stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)

    def _rows(self, sql: str) -> list[tuple]:
        db = sqlite3.connect(str(self.store))
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def scans(self) -> list[dict]:
        """Stored scans in the order the server committed them."""
        return [{"scan_id": sid, "event": ev, "device": dev, **json.loads(payload)}
                for sid, ev, payload, dev in self._rows(
                    "SELECT scan_id, event, payload, device FROM scans ORDER BY seq")]

    def connects(self) -> int:
        """How many connects the server accepted."""
        return len(self._rows("SELECT n FROM received WHERE event = 'connect'"))

    def received(self) -> list[str]:
        """The scan_id of every message the server received, in arrival order."""
        return [r[0] for r in self._rows(
            "SELECT scan_id FROM received WHERE event NOT IN ('connect', 'refused') ORDER BY n")]

    def deliveries(self, scan_id: str) -> int:
        """How many times the client sent this scan_id."""
        return self.received().count(scan_id)


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path)
    yield srv
    srv.kill()


@pytest.fixture
def make_client(tmp_path):
    clients: list[HandheldClient] = []

    def make(url: str, token: str = TOKEN, **kwargs) -> HandheldClient:
        acks = kwargs.pop("acks", None)
        client = HandheldClient(url, token, kwargs.pop("device", "HH-07"),
                                kwargs.pop("queue_path", tmp_path / "queue.sqlite3"),
                                **(FAST | kwargs),
                                on_ack=None if acks is None else acks.append)
        clients.append(client)
        return client
    yield make
    for client in clients:
        client.close()


def run_cli(*args: str, stdin: str = "", env: dict | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0, proc
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


# -- the client ----------------------------------------------------------------------

def test_scans_taken_while_the_server_is_down_are_replayed_in_order(server, make_client):
    acks: list = []
    client = make_client(server.url, acks=acks).start()
    ids = [client.scan(f"A-0{i}-01-1") for i in range(4)]
    ids.append(client.tote_scan("TOTE-0042"))
    ids.append(client.short(17, 1, "bin empty"))
    time.sleep(0.3)                                     # several failed connects
    assert not client.connected and acks == []
    assert [m.scan_id for m in client.queue.pending()] == ids

    server.start()
    assert client.wait_drained(10)
    stored = server.scans()
    assert [s["scan_id"] for s in stored] == ids        # each once, in the order taken
    assert [s["event"] for s in stored] == ["scan"] * 4 + ["tote.scan", "short"]
    assert stored[0]["raw"] == "A-00-01-1" and "symbology" not in stored[0]   # None left out
    assert stored[5]["task"] == 17 and stored[5]["found"] == 1
    assert {s["device"] for s in stored} == {"HH-07"}
    assert [d.scan_id for d in acks] == ids
    assert [d.ack["count"] for d in acks] == [1, 2, 3, 4, 5, 6]
    assert client.queue.ack_for(ids[2]) == acks[2].ack


def test_server_crash_before_an_ack_every_scan_counted_once_in_order(server, make_client):
    server.start("--crash-after", "3")     # commits the 3rd scan, dies before acking it
    acks: list = []
    client = make_client(server.url, acks=acks).start()
    ids = [client.scan(f"0400638133393{i}") for i in range(8)]
    server.proc.wait(timeout=10)
    assert server.proc.returncode == 3
    assert len(acks) == 2 and client.queue.pending_count() == 6

    server.start()                          # same port, same store
    assert client.wait_drained(10)
    assert [s["scan_id"] for s in server.scans()] == ids
    assert [d.scan_id for d in acks] == ids
    assert [d.ack["count"] for d in acks] == list(range(1, 9))
    assert server.deliveries(ids[2]) >= 2   # resent with the same scan_id, counted once


def test_an_http_error_page_while_connecting_is_an_outage_not_a_refusal(server, make_client):
    server.start("--unavailable", "1.0")
    acks: list = []
    client = make_client(server.url, acks=acks).start()
    sid = client.scan("A-01-01-1")
    assert client.wait_drained(10), client.fatal
    assert [d.scan_id for d in acks] == [sid] and client.fatal is None


def test_a_late_ack_is_resent_with_the_same_scan_id_and_gets_the_first_verdict(
        server, make_client):
    server.start("--slow", "SLOW-1")
    acks: list = []
    client = make_client(server.url, acks=acks, ack_timeout=1.0).start()
    ids = [client.scan("FIRST"), client.scan("SLOW-1"), client.scan("THIRD")]
    assert client.wait_drained(10)
    assert [s["scan_id"] for s in server.scans()] == ids
    received = server.received()
    assert received.count(ids[1]) >= 2
    # nothing behind it is sent before the late one has its ack
    last_slow = len(received) - 1 - received[::-1].index(ids[1])
    assert received.index(ids[2]) > last_slow
    assert [d.ack["count"] for d in acks] == [1, 2, 3]


def test_an_error_ack_is_final_and_not_sent_again(server, make_client):
    server.start()
    acks: list = []
    client = make_client(server.url, acks=acks).start()
    bad, good = client.scan("BAD-label"), client.scan("A-01-01-1")
    assert client.wait_drained(10)
    assert acks[0].ack["ok"] is False and acks[0].ack["error"]["code"] == "bad_request"
    assert client.queue.ack_for(bad) == acks[0].ack
    assert server.deliveries(bad) == 1
    assert [s["scan_id"] for s in server.scans()] == [good]


def test_internal_and_unauthenticated_error_acks_are_retried_in_place(server, make_client):
    server.start("--fail-first", "R-2=internal", "--fail-first", "R-3=unauthenticated")
    acks: list = []
    client = make_client(server.url, acks=acks).start()
    ids = [client.scan(f"R-{i}") for i in range(1, 5)]
    assert client.wait_drained(10)
    assert [s["scan_id"] for s in server.scans()] == ids     # stored once each, in order
    assert [d.ack["ok"] for d in acks] == [True] * 4
    assert server.deliveries(ids[1]) >= 2 and server.deliveries(ids[2]) >= 2
    assert server.connects() == 2        # `unauthenticated` made it log in again


def test_database_unavailable_and_session_expired_acks_keep_the_scan(server, make_client):
    """Neither stored the scan: it stays first in line and is sent again (after logging in
    again for session_expired), never dropped as if answered."""
    server.start("--fail-first", "D-2=database_unavailable",
                 "--fail-first", "D-3=session_expired")
    acks: list = []
    client = make_client(server.url, acks=acks).start()
    ids = [client.scan(f"D-{i}") for i in range(1, 5)]
    assert client.wait_drained(10)
    assert [s["scan_id"] for s in server.scans()] == ids
    assert [d.ack["ok"] for d in acks] == [True] * 4
    assert server.deliveries(ids[1]) >= 2 and server.deliveries(ids[2]) >= 2
    assert server.connects() == 2        # `session_expired` made it connect again


def test_a_connect_refused_as_database_unavailable_is_tried_again(server, make_client):
    """`database_unavailable` at connect says "not now", not "never": the client keeps
    its queue and connects again with back-off, where a bad token stops it."""
    server.start("--refuse-unavailable", "3")
    acks: list = []
    client = make_client(server.url, acks=acks).start()
    ids = [client.scan(f"U-{i}") for i in range(3)]
    assert client.wait_drained(20), client.fatal
    assert client.fatal is None
    assert [s["scan_id"] for s in server.scans()] == ids
    assert len(server._rows("SELECT n FROM received WHERE event = 'refused'")) == 3
    assert server.connects() == 1


def test_bad_token_is_refused_with_a_clear_error_and_scans_stay_queued(server, make_client,
                                                                     tmp_path):
    server.start()
    client = make_client(server.url, token="wps_wrong")
    with pytest.raises(ConnectRefused) as err:
        client.connect()
    assert err.value.code == "unauthenticated"
    assert "connection refused by server: unauthenticated" in str(err.value)

    errors: list = []
    client = make_client(server.url, token="wps_wrong", queue_path=tmp_path / "q2.sqlite3")
    client._on_error = errors.append
    client.scan("A-01-01-1")
    client.start()
    assert client.wait_drained(5) is False
    assert isinstance(client.fatal, ConnectRefused) and errors == [client.fatal]
    assert client.queue.pending_count() == 1 and server.scans() == []


def test_reads_are_not_queued(server, make_client):
    client = make_client(server.url)
    with pytest.raises(Exception, match="not connected"):
        client.whoami(timeout=0.2)
    server.start()
    client.start()
    me = client.whoami(timeout=5)
    assert me["user"]["role"] == "picker" and me["device"] == "HH-07"
    assert client.task_next() == {"ok": True, "task": None, "cart": None, "asked": {}}
    assert client.task_next(warehouse="rtm")["asked"] == {"warehouse": "rtm"}
    assert client.queue.counts() == {"pending": 0, "done": 0}


def test_login(server):
    server.start()
    assert login(server.url, "1001", "1111")["token"] == TOKEN
    with pytest.raises(LoginError, match="bad badge or PIN"):
        login(server.url, "1001", "0000")
    server.kill()
    with pytest.raises(LoginError, match="cannot reach"):
        login(server.url, "1001", "1111", timeout=2)


# -- the command line ----------------------------------------------------------------

def test_cli_wedge_sends_through_the_server_and_prints_each_ack(server, tmp_path):
    server.start()
    queue = tmp_path / "wedge.sqlite3"
    gs1 = "]C10104006381333931" + "10LOT<GS>17270630"
    proc = run_cli("wedge", "--server", server.url, "--queue", str(queue),
                   "--handheld", "HH-12", stdin=f"A-03-02-1\n{gs1}\nBAD\n\nTOTE-7\n",
                   env={"WAVEPACK_HANDHELD_TOKEN": TOKEN})
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [line["event"] for line in lines] == ["scan"] * 4
    assert [line["ack"]["ok"] for line in lines] == [True, True, False, True]
    stored = server.scans()
    assert [s["raw"] for s in stored] == ["A-03-02-1", gs1.replace("<GS>", "\x1d"), "TOTE-7"]
    assert stored[1]["symbology"] == "CODE128" and stored[0]["device"] == "HH-12"
    assert [s["scan_id"] for s in stored] == [lines[i]["scan_id"] for i in (0, 1, 3)]
    with OfflineQueue(queue) as q:
        assert q.counts() == {"pending": 0, "done": 4}


SHARED_PHOTOS = BARCODES


def test_cli_camera_sends_each_decoded_code_through_the_server(server, tmp_path):
    import cv2
    import numpy as np

    photos = {"ean13/zxing_ean13-1_18.png": None, "code128/zxing_code128-1_7.png": None}
    with open(SHARED_PHOTOS / "manifest.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["file"] in photos:
                photos[row["file"]] = (row["format"], row["text"])
    video = tmp_path / "two.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
    blank = np.full((480, 640, 3), 255, np.uint8)
    for name in photos:
        img = cv2.imread(str(SHARED_PHOTOS / name), cv2.IMREAD_COLOR)
        scale = min(640 / img.shape[1], 480 / img.shape[0], 1.0)
        img = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)))
        frame = blank.copy()
        frame[:img.shape[0], :img.shape[1]] = img
        for f in [frame] * 4 + [blank] * 2:
            writer.write(f)
    writer.release()

    server.start()
    proc = run_cli("camera", "--device", str(video), "--server", server.url,
                   "--token", TOKEN, "--queue", str(tmp_path / "cam.sqlite3"))
    assert proc.returncode == 0, proc.stderr
    stored = server.scans()
    assert [(s["symbology"], s["raw"]) for s in stored] == list(photos.values())
    acks = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [a["scan_id"] for a in acks] == [s["scan_id"] for s in stored]
    assert all(a["ack"]["ok"] for a in acks)


def test_cli_killed_client_replays_its_queue_with_send(server, tmp_path):
    queue = tmp_path / "shift.sqlite3"
    proc = subprocess.Popen(
        [CLI, "wedge", "--server", server.url, "--token", TOKEN, "--queue", str(queue)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdin.write("L-1\nL-2\nL-3\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if queue.exists():
            with OfflineQueue(queue) as q:
                if q.pending_count() == 3:
                    break
        time.sleep(0.05)
    proc.kill()                                   # the handheld's battery dies
    proc.communicate(timeout=10)

    server.start()
    sent = run_cli("send", "--server", server.url, "--token", TOKEN, "--queue", str(queue))
    assert sent.returncode == 0, sent.stderr
    lines = [json.loads(x) for x in sent.stdout.splitlines()]
    assert [s["raw"] for s in server.scans()] == ["L-1", "L-2", "L-3"]
    assert [line["scan_id"] for line in lines] == [s["scan_id"] for s in server.scans()]
    again = run_cli("send", "--server", server.url, "--token", TOKEN, "--queue", str(queue))
    assert (again.returncode, again.stdout) == (0, "")
    assert "nothing to send" in again.stderr


def test_cli_wedge_with_server_down_keeps_scans_and_says_so(server, tmp_path):
    queue = tmp_path / "offline.sqlite3"
    proc = run_cli("wedge", "--server", server.url, "--token", TOKEN, "--queue", str(queue),
                   "--drain-timeout", "0.5", stdin="X-1\nX-2\n")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "warning: cannot reach" in proc.stderr
    assert "error: 2 message(s) still queued in" in proc.stderr
    with OfflineQueue(queue) as q:
        assert [m.payload["raw"] for m in q.pending()] == ["X-1", "X-2"]
    unreachable = run_cli("send", "--server", server.url, "--token", TOKEN,
                          "--queue", str(queue))
    assert "cannot reach" in one_error_line(unreachable)
    with OfflineQueue(queue) as q:
        assert q.pending_count() == 2


def test_cli_login_bad_token_and_bad_input(server, tmp_path):
    server.start()
    proc = run_cli("login", "--server", server.url, "--badge", "1001", "--pin", "1111")
    assert (proc.returncode, proc.stdout.strip()) == (0, TOKEN)
    bad_pin = run_cli("login", "--server", server.url, "--badge", "1001", "--pin", "9999")
    assert "bad badge or PIN" in one_error_line(bad_pin)
    refused = run_cli("wedge", "--server", server.url, "--token", "wps_nope",
                      "--queue", str(tmp_path / "q.sqlite3"), stdin="A-1\n")
    assert refused.returncode == 2
    assert "refused by server: unauthenticated: unknown token" in one_error_line(refused)
    cases = {
        ("send", "--server", server.url, "--token", TOKEN, "--queue", str(tmp_path / "no")):
            "queue file not found",
        ("wedge", "--server", server.url): "--server needs --token",
        ("wedge", "--server", "not-a-url", "--token", TOKEN): "not an http(s)://",
    }
    for args, message in cases.items():
        proc = run_cli(*args, env={"WAVEPACK_HANDHELD_TOKEN": ""})
        assert message in one_error_line(proc)


# -- the real server -----------------------------------------------------------------

def _http(base: str, method: str, path: str, body: object, token: str) -> tuple[int, dict]:
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


@pytest.fixture
def wavepack_server(tmp_path):
    """`wavepack serve --demo` (gevent, its own SQLite data dir) on a free port."""
    with wavepack_serve(tmp_path / "data", "--demo") as served:
        banner = served.banner
        yield {"base": served.base,
               "api": re.search(r"demo-api channel: (wpc_\S+)", banner).group(1),
               "supervisor": re.search(r"supervisor: (wps_\S+)", banner).group(1)}


def test_picking_a_whole_cart_on_the_real_wavepack_server(wavepack_server, make_client,
                                                          tmp_path):
    from server.demo_data import PRODUCTS
    gtin = {sku: code for sku, code, *_ in PRODUCTS}
    base = wavepack_server["base"]
    orders = {"HH-A": [("WP-TEE-BLK-M", 2), ("WP-SOCK-3PK-M", 1)], "HH-B": [("WP-CAP-NVY", 2)]}
    ids = {}
    for ref, lines in orders.items():
        status, body = _http(base, "POST", "/api/v1/orders", {
            "ref": ref, "placed_at": "2025-06-02T09:12:00+01:00", "currency": "GBP",
            "paid": True, "ship_to": {"name": "O B", "phone": "+447700900101",
                                      "address1": "27 Granby St", "city": "Leicester",
                                      "postcode": "LE1 6EJ", "country": "GB"},
            "lines": [{"sku": s, "quantity": q, "unit_price": "10.00"} for s, q in lines]},
            wavepack_server["api"])
        assert status == 201, body
        ids[ref] = body["id"]
    status, wave = _http(base, "POST", "/api/v1/waves",
                         {"warehouse": "main", "max_orders": 40, "totes": 4},
                         wavepack_server["supervisor"])
    assert status == 201, wave
    status, _ = _http(base, "POST", f"/api/v1/waves/{wave['id']}/release", {},
                      wavepack_server["supervisor"])
    assert status == 200

    with pytest.raises(ConnectRefused) as refused:
        make_client(base, "wps_not-a-token", queue_path=tmp_path / "r.sqlite3").connect()
    assert refused.value.code == "unauthenticated"

    acks: list = []
    client = make_client(base, login(base, "1001", "1111")["token"], acks=acks).start()
    assert client.whoami()["user"]["device"] == "HH-07"
    first_task = task = client.task_next()["task"]
    for _ in range(20):              # 3 tasks: 3 location scans + 5 units + 3 tote confirms
        if task is None:
            break
        client.scan(task["location"] if task["needs"] == "location" else gtin[task["sku"]])
        assert client.wait_drained(10)
        ack = acks[-1].ack
        assert ack["verdict"] == "ok", ack
        if ack.get("put", {}).get("confirm"):     # the task's last unit: its tote label
            client.tote_confirm(ack["put"]["task_id"], ack["put"]["label"])
            assert client.wait_drained(10)
            assert acks[-1].ack["verdict"] == "ok", acks[-1].ack
        task = ack["next"]
    assert task is None and len(acks) == 11
    assert [a.event for a in acks].count("tote.confirm") == 3
    done = client.cart_summary(first_task["cart"])["cart"]
    assert (done["status"], done["order_count"], done["units"]) == ("done", 2, 5)
    for ref, lines in orders.items():
        status, order = _http(base, "GET", f"/api/v1/orders/{ids[ref]}", None,
                              wavepack_server["supervisor"])
        assert {ln["sku"]: ln["picked"] for ln in order["lines"]} == dict(lines), order

    # a lost ack resent from another queue: the server's first verdict, counted once
    replay = make_client(base, login(base, "1001", "1111")["token"],
                         queue_path=tmp_path / "replay.sqlite3")
    first = next(a for a in acks if a.event == "scan" and a.ack.get("put"))
    replay.enqueue(first.event, first.payload)
    replay.start()
    assert replay.wait_drained(10)
    assert replay.queue.ack_for(first.scan_id) == first.ack
    status, order = _http(base, "GET", f"/api/v1/orders/{ids['HH-A']}", None,
                          wavepack_server["supervisor"])
    assert {ln["sku"]: ln["picked"] for ln in order["lines"]} == dict(orders["HH-A"])
