"""Packing slips and invoices drawn in the worker pool (server/offload.py) and kept by
content, on SQLite and PostgreSQL: a reopened document is the same bytes without drawing, a
change to the order draws it anew, killed workers are replaced without the packer seeing
an error, a pool that cannot run is a clear 503; and under a real `wavepack serve` (gevent)
the server keeps answering while a document is drawn, and while a badge PIN is checked
(argon2, in a native thread beside the event loop)."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

from server.offload import PoolSettings, WorkerPool
from server.api.pack import documents_renderer
from server.services.packing import documents

from ..conftest import descendants, make_app, need, wavepack_serve
from ..floor import PICK_CFG, build_floor

STATIONS = {"printers": {"label-1": {"url": "file:///dev/null"}},
            "stations": {"pack-1": {"warehouse": "main", "printer": "label-1"}}}


@pytest.fixture
def floor(db_url):
    from server import clock
    app = make_app(db_url, picking=PICK_CFG, **STATIONS)
    floor = build_floor(app)
    floor.order("DOC-1", (("SOCK", 2), ("MUG", 1)), invoice_requested=True)
    floor.wave(totes=4)
    floor.pick_all()
    r = floor.api("post", "/api/v1/pack/sessions", floor.tokens["k1"],
                  json={"station": "pack-1", "scan": "DOC-1"})
    assert r.status_code == 201, r.get_json()
    floor.session = r.get_json()["id"]
    yield floor
    clock.set_clock(None)


def get_pdf(floor, kind: str):
    return floor.api("get", f"/api/v1/pack/sessions/{floor.session}/documents/{kind}.pdf",
                     floor.tokens["k1"])


def pdf_text(pdf: bytes) -> str:
    need(bool(__import__("shutil").which("pdftotext")), "poppler-utils (pdftotext)")
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()


def sql(floor, statement: str, params=()) -> None:
    from server.store.db import db, execute
    with floor.app.app_context(), db.connection_context():
        with db.atomic():
            execute(statement, params)


def test_reopening_is_the_same_pdf_without_drawing_and_a_change_draws_it_anew(floor):
    renderer = documents_renderer(floor.app)
    assert renderer.pool is not None and renderer.cache is not None
    jobs = renderer.pool.jobs
    first = get_pdf(floor, "packing_slip")
    assert first.status_code == 200 and first.data.startswith(b"%PDF-")
    again = get_pdf(floor, "packing_slip")
    assert again.data == first.data                        # identical bytes …
    assert renderer.pool.jobs == jobs + 1                  # … drawn once
    assert (renderer.cache.hits, renderer.cache.misses) == (1, 1)
    invoice = get_pdf(floor, "invoice")                    # another document: drawn
    assert invoice.status_code == 200 and invoice.data != first.data
    assert renderer.pool.jobs == jobs + 2

    sql(floor, "UPDATE sales_order SET ship_name = ? WHERE ref = ?", ("Ada Lovelace", "DOC-1"))
    changed = get_pdf(floor, "packing_slip")
    assert changed.status_code == 200 and changed.data != first.data
    assert renderer.pool.jobs == jobs + 3
    assert "Ada Lovelace" in pdf_text(changed.data)
    assert get_pdf(floor, "packing_slip").data == changed.data and renderer.pool.jobs == jobs + 3

    sql(floor, "UPDATE order_line SET quantity = 1 WHERE sku = ? AND order_id = "
               "(SELECT id FROM sales_order WHERE ref = ?)", ("SOCK", "DOC-1"))
    fewer = get_pdf(floor, "invoice")
    assert fewer.data != invoice.data and renderer.pool.jobs == jobs + 4


def test_killed_workers_are_replaced_and_the_packer_gets_the_pdf(floor):
    pool = documents_renderer(floor.app).pool
    assert get_pdf(floor, "packing_slip").status_code == 200
    pids = pool.pids()
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    r = get_pdf(floor, "invoice")                          # not cached: drawn by a new worker
    assert r.status_code == 200 and r.data.startswith(b"%PDF-")
    assert not set(pool.pids()) & set(pids)


def test_a_pool_that_cannot_run_is_a_clear_503_and_nothing_is_kept(floor):
    closed = WorkerPool(PoolSettings(workers=1))
    closed.close()
    renderer = documents_renderer(floor.app)
    floor.app.extensions["wavepack.documents"] = documents.Renderer(closed, renderer.cache)
    r = get_pdf(floor, "packing_slip")
    assert r.status_code == 503
    assert r.get_json()["error"]["code"] == "documents_unavailable"
    assert len(renderer.cache) == 0
    floor.app.extensions["wavepack.documents"] = renderer
    assert get_pdf(floor, "packing_slip").status_code == 200


def test_without_a_pool_the_documents_are_drawn_in_process(db_url):
    app = make_app(db_url, picking=PICK_CFG, documents={"workers": 0, "cache_mb": 0},
                   **STATIONS)
    floor = build_floor(app)
    floor.order("DOC-2", (("TEE", 1),))
    floor.wave(totes=4)
    floor.pick_all()
    r = floor.api("post", "/api/v1/pack/sessions", floor.tokens["k1"],
                  json={"station": "pack-1", "scan": "DOC-2"})
    floor.session = r.get_json()["id"]
    renderer = documents_renderer(app)
    assert renderer.pool is None and renderer.cache is None
    r = get_pdf(floor, "packing_slip")
    assert r.status_code == 200 and "DOC-2" in pdf_text(r.data)


def test_the_server_answers_while_a_document_is_drawn(floor, db_url, tmp_path):
    """A real `wavepack serve` (gevent) on the floor's database: while a station's PDF is
    being drawn, /healthz requests sent after it keep being answered before it is done.
    Drawn in the event loop (as before the pool), none could be: the loop was busy."""
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump(STATIONS))
    token = floor.tokens["k1"]
    with wavepack_serve(tmp_path / "data", db_url=db_url,
                        WAVEPACK_CONFIG=str(overlay)) as served:
        assert "Socket.IO: gevent" in served.banner
        health = requests.Session()
        assert health.get(f"{served.base}/healthz", timeout=30).status_code == 200
        for kind in ("packing_slip", "invoice"):  # the first also starts the pool
            sent, done, answer = threading.Event(), threading.Event(), {}

            def fetch(kind=kind, sent=sent, done=done, answer=answer):
                sent.set()
                answer["r"] = requests.get(
                    f"{served.base}/api/v1/pack/sessions/{floor.session}/documents/"
                    f"{kind}.pdf", headers={"Authorization": f"Bearer {token}"}, timeout=120)
                done.set()

            thread = threading.Thread(target=fetch)
            thread.start()
            sent.wait(10)
            answered_meanwhile = 0
            while not done.is_set():
                r = health.get(f"{served.base}/healthz", timeout=30)
                assert r.status_code == 200
                answered_meanwhile += not done.is_set()
            thread.join(120)
            r = answer["r"]
            assert r.status_code == 200 and r.content.startswith(b"%PDF-"), r.text[:300]
            assert answered_meanwhile >= 3, (kind, answered_meanwhile)
        workers = descendants(served.proc.pid)
        assert workers                    # the pool's processes (forkserver, workers)
    # stopped with SIGTERM, as a service manager stops it: no worker is left behind
    assert wait_until(lambda: not [p for p in workers if alive(p)]), \
        [p for p in workers if alive(p)]


def answered_meanwhile(base: str, slow) -> tuple[int, object]:
    """How many /healthz requests, sent one after another once `slow()` started in a thread,
    were answered before it returned; and what it returned."""
    sent, done, answer = threading.Event(), threading.Event(), {}

    def run():
        sent.set()
        answer["r"] = slow()
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    sent.wait(10)
    health, count = requests.Session(), 0
    while not done.is_set():
        assert health.get(f"{base}/healthz", timeout=60).status_code == 200
        count += not done.is_set()
    thread.join(120)
    return count, answer["r"]


def test_the_server_answers_while_a_pin_is_checked(floor, db_url, tmp_path):
    """A badge whose PIN hash costs 4× the default (argon2 time cost 12): while its login
    is checked, /healthz keeps being answered. Checked in the event loop, none could be."""
    from argon2 import PasswordHasher
    slow_hash = PasswordHasher(time_cost=12).hash("2468")
    sql(floor, "UPDATE app_user SET pin_hash = ? WHERE badge = ?", (slow_hash, "p2"))
    with wavepack_serve(tmp_path / "data", db_url=db_url) as served:
        assert "Socket.IO: gevent" in served.banner
        count, r = answered_meanwhile(served.base, lambda: requests.post(
            f"{served.base}/api/v1/auth/badge", json={"badge": "p2", "pin": "2468"},
            timeout=120))
        assert r.status_code == 200 and r.json()["role"] == "picker", r.text
        assert count >= 3, count
        r = requests.post(f"{served.base}/api/v1/auth/badge",
                          json={"badge": "p2", "pin": "0000"}, timeout=120)
        assert r.status_code == 401


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(check, within_s: float = 20.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()
