"""The production runtime, for real: `wavepack serve-prod` starts nginx, two web processes
(`serve --no-workers`) and one `wavepack worker` on PostgreSQL and Redis. A handheld
connected through nginx scans; consoles connected straight to each web process both see
the scan (so the one on the other process heard it through the Redis message queue), as
does a long-polling console through nginx (held on one process by the address hash); a
picker is refused by /console; a label reprinted through nginx prints exactly once on a
fake printer, sent by the worker process. With CI=true a missing nginx, PostgreSQL or
Redis fails the test (need())."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid

import pytest
import requests
import socketio

from printers.fake import FakePrinter

from ..conftest import PG_BASE, console_script, free_port, make_app, need, need_nginx, redis_up
from ..floor import PICK_CFG, build_floor

LABEL = "^XA^FO50,50^A0N,40,40^FDcluster {job_id}^FS^XZ"


def _until(check, within_s=15.0, what="the condition"):
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"waited {within_s} s for {what}"
        time.sleep(0.05)


class _Console:
    """A /console client that records what is pushed to it."""

    def __init__(self, url: str, token: str, transport: str = "websocket") -> None:
        self.got: list[tuple[str, dict]] = []
        self.sio = socketio.Client(reconnection=False)
        for name in ("scan.recorded", "print_job.queued"):
            self.sio.on(name, lambda data, name=name: self.got.append((name, data)),
                        namespace="/console")
        self.sio.connect(url, namespaces=["/console"], transports=[transport], wait_timeout=10,
                         auth={"token": token, "warehouse": "main"})

    def seen(self, name: str) -> list[dict]:
        return [data for n, data in self.got if n == name]


@pytest.fixture
def cluster(tmp_path, request):
    nginx = need_nginx()
    need(redis_up(), "Redis at 127.0.0.1:6379")
    schema = request.getfixturevalue("pg_schema")
    db_url = f"{PG_BASE}?schema={schema}"
    app = make_app(db_url, picking=PICK_CFG)        # an empty schema, migrated
    floor = build_floor(app)
    floor.order("CL-1", [("SOCK", 1)])
    floor.wave()
    with FakePrinter() as printer:
        overlay = tmp_path / "cluster.yaml"
        overlay.write_text(
            f'printers:\n  label-1: {{url: "{printer.url}"}}\n'
            "printing: {poll_seconds: 0.2, timeout_seconds: 2}\n"
            "picking: {plan_time_budget_s: 0.2}\n"
            "jobs: {enabled: false}\n", encoding="utf-8")
        port, backends = free_port(), [free_port(), free_port()]
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAVEPACK_")}
        env.update(DATABASE_URL=db_url, SOCKETIO_MESSAGE_QUEUE="redis://127.0.0.1:6379/0",
                   WAVEPACK_SERVER_MESSAGE_QUEUE_CHANNEL=f"wp-test-{uuid.uuid4().hex}",
                   WAVEPACK_AUTH_RATE_LIMIT_PREFIX=f"wp-test-{uuid.uuid4().hex}",
                   WAVEPACK_CONFIG=str(overlay), WAVEPACK_SERVER_DATA_DIR=str(tmp_path / "data"),
                   WAVEPACK_DOCUMENTS_WORKERS="0")
        proc = subprocess.Popen(
            [console_script("wavepack"), "serve-prod", "--host", "127.0.0.1", "--port",
             str(port), "--backend-ports", ",".join(map(str, backends)),
             "--run-dir", str(tmp_path / "run")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
        try:
            _until(lambda: any("wavepack serving on" in x for x in lines)
                   or proc.poll() is not None, 120, "serve-prod to start")
            assert proc.poll() is None, "".join(lines)
            assert f"http://127.0.0.1:{port}" in "".join(lines)
            yield floor, printer, f"http://127.0.0.1:{port}", backends, lines, app, nginx
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
            assert code == 0 and "serve-prod: stopped" in "".join(lines), "".join(lines)


def test_a_scan_through_nginx_reaches_consoles_on_both_processes_and_a_label_prints_once(
        cluster):
    floor, printer, front, backends, lines, app, _nginx = cluster
    sup = floor.tokens["s1"]
    direct = [_Console(f"http://127.0.0.1:{p}", sup) for p in backends]
    polling = _Console(front, sup, transport="polling")

    # a picker is refused by /console, through nginx, with the reason
    refused: list = []
    picker_console = socketio.Client(reconnection=False)
    picker_console.on("connect_error", refused.append, namespace="/console")
    with pytest.raises(socketio.exceptions.ConnectionError):
        picker_console.connect(front, namespaces=["/console"], transports=["websocket"],
                               auth={"token": floor.tokens["p1"]}, wait_timeout=10)
    # python-socketio hands the refusal's data over as {"message", "data": {"code", ...}}
    codes = [(r.get("data") or r).get("code") for r in refused if isinstance(r, dict)]
    assert codes == ["forbidden"], refused

    # the handheld scans through nginx
    hh = socketio.Client(reconnection=False)
    hh.connect(front, namespaces=["/handheld"], transports=["websocket"], wait_timeout=10,
               auth={"token": floor.tokens["p1"], "device": "HH-cluster"})
    try:
        task = hh.call("task.next", {}, namespace="/handheld", timeout=15)["task"]
        scan_id = str(uuid.uuid4())
        got = hh.call("scan", {"scan_id": scan_id, "raw": task["location"]},
                      namespace="/handheld", timeout=15)
        assert got["verdict"] == "ok", got
    finally:
        hh.disconnect()
    for console in direct + [polling]:
        _until(lambda c=console: c.seen("scan.recorded"), what="the scan on a console")
        [seen] = console.seen("scan.recorded")
        assert (seen["scan_id"], seen["user"], seen["device"], seen["location"]) == \
            (scan_id, "p1", "HH-cluster", task["location"])
    served_by = [name for name in ("web1", "web2")
                 if any(x.startswith(f"{name} |") and "/handheld scan" in x for x in lines)]
    assert len(served_by) == 1, served_by        # one process held the handheld's socket

    # a label: printed by the worker process, reprinted through nginx, each exactly once
    from server.services import print_queue
    from server.store.db import db
    with app.app_context(), db.connection_context():
        job_id = print_queue.enqueue("pack-1", printer.url, "label", "CL-1", LABEL, "test")
    assert printer.wait_for_jobs(1, timeout=20)
    _until(lambda: _state(app, job_id) == "printed", what="the job marked printed")
    r = requests.post(f"{front}/api/v1/print-jobs/{job_id}/reprint", timeout=15,
                      headers={"Authorization": f"Bearer {sup}"}, json={"reason": "torn"})
    assert r.status_code == 201, r.text
    reprint = r.json()["id"]
    _until(lambda: _state(app, reprint) == "printed", what="the reprint marked printed")
    for console in direct:                     # queued in a web process, heard on both
        _until(lambda c=console: any(d["job_id"] == reprint
                                     for d in c.seen("print_job.queued")),
               what="print_job.queued on a console")
    time.sleep(1.0)                            # a second sender would have sent it by now
    assert len(printer.jobs) == 2, printer.jobs
    assert b"REPRINT" in printer.jobs[1] and b"REPRINT" not in printer.jobs[0]
    assert any(x.startswith("worker |") for x in lines)
    for console in direct + [polling]:
        console.sio.disconnect()


def _state(app, job_id):
    from server.services import print_queue
    from server.store.db import db
    with app.app_context(), db.connection_context():
        return print_queue.get_job(job_id)["state"]
