"""GET /metrics (server/api/metrics.py, server/telemetry.py) on SQLite and PostgreSQL: read
with prometheus_client's own parser after real scans over /handheld, real prints to the
fake ZPL printer and real webhook refusals; who may read it; and two real `wavepack serve`
processes in multi-process mode whose counters add up in one scrape."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from printers.fake import FakePrinter
from server import clock
from server.services import auth, channels, exceptions, print_queue
from server.store.db import db, execute, write_tx

from ..conftest import console_script, make_app, stop_process, wavepack_serve
from ..floor import PICK_CFG, PRODUCTS, build_floor, sid

GTIN = {sku: g for sku, g, _, _ in PRODUCTS}
BIN = {sku: loc for sku, _, loc, _ in PRODUCTS}
ZPL = "^XA^FO50,50^A0N,40,40^FDOrder {ref}^FS^FO50,120^A0N,20,20^FDjob {{job_id}}^FS^XZ"


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, ((label, value), …)): value} of a scrape, through prometheus_client's
    parser (which refuses a malformed exposition)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(scraped: dict, name: str, **labels) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client, token: str) -> dict:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.get_data(True)
    assert r.content_type.startswith("text/plain")
    return samples(r.get_data(True))


def _in(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)


@pytest.fixture
def floor(db_url):
    app = make_app(db_url, picking=PICK_CFG)
    yield build_floor(app)
    clock.set_clock(None)


@pytest.fixture
def scraper(floor):
    return _in(floor.app, auth.create_token, metrics=True, label="prometheus")


def _ack(hh, event, data=None):
    return hh.emit(event, data if data is not None else {}, namespace="/handheld",
                   callback=True)


def test_scans_prints_webhook_refusals_queues_and_exceptions_show_in_a_scrape(floor, scraper):
    client = floor.app.test_client()
    before = scrape(client, scraper)
    # two stored verdicts (the bin, a wrong item) and an error ack through /handheld
    floor.order("M-1", (("SOCK", 2),))
    floor.wave(totes=1)
    hh = floor.socket("p1")
    _ack(hh, "task.next")
    answers = [_ack(hh, "scan", {"scan_id": sid(), "raw": raw})
               for raw in (BIN["SOCK"], GTIN["MUG"], GTIN["SOCK"])]
    assert [a["verdict"] for a in answers] == ["ok", "wrong_item", "ok"], answers
    assert _ack(hh, "scan", {"scan_id": sid(), "raw": ""})["error"]["code"] == "bad_request"
    hh.disconnect(namespace="/handheld")
    # a label printed, and a try refused by a printer out of paper (the job waits: queued)
    with FakePrinter() as good, FakePrinter(paper_out=True) as empty:
        printed = _in(floor.app, print_queue.enqueue, "PACK-1", good.url, "label", "M-1",
                      ZPL.format(ref="M-1"), "packer:k1")
        waiting = _in(floor.app, print_queue.enqueue, "PACK-2", empty.url, "label", "M-2",
                      ZPL.format(ref="M-2"), "packer:k1")
        assert _in(floor.app, print_queue.send_next, good.url, timeout=1.0).state == "printed"
        assert _in(floor.app, print_queue.send_next, empty.url, timeout=1.0).state == "queued"
    assert _in(floor.app, print_queue.get_job, printed)["state"] == "printed"
    assert _in(floor.app, print_queue.get_job, waiting)["state"] == "queued"
    # webhook refusals: an unknown channel, a wrong signature
    _in(floor.app, channels.add_channel, "shop", "shopify", secret="s3cret")
    assert client.post("/webhooks/shopify/nowhere", data=b"{}").status_code == 404
    for _ in range(2):
        r = client.post("/webhooks/shopify/shop", data=b'{"id": 1}',
                        headers={"X-Shopify-Hmac-Sha256": "bm90IGl0",
                                 "X-Shopify-Topic": "orders/paid",
                                 "Content-Type": "application/json"})
        assert r.status_code == 401, r.get_json()
    # an exception a supervisor must act on

    def raise_one():
        with write_tx():
            exceptions.open_exception("stock_discrepancy", "bin A-03-02-1 counted short",
                                      now=clock.now(), actor="test")
    _in(floor.app, raise_one)

    after = scrape(client, scraper)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("wavepack_scans_total", verdict="ok", warehouse="main") == 2
    assert grew("wavepack_scans_total", verdict="wrong_item", warehouse="main") == 1
    assert grew("wavepack_scan_verdict_seconds_count") == 3          # error acks are not
    assert grew("wavepack_scan_verdict_seconds_bucket", le="+Inf") == 3
    assert grew("wavepack_handheld_error_acks_total", event="scan", code="bad_request") == 1
    assert grew("wavepack_labels_printed_total") == 1
    assert grew("wavepack_print_failures_total", reason="printer_not_ready",
                fault="paper_out") == 1
    assert grew("wavepack_webhook_rejections_total", source="shopify",
                cause="unknown_channel") == 1
    assert grew("wavepack_webhook_rejections_total", source="shopify",
                cause="bad_signature") == 2
    # read from the database at scrape time
    assert value(after, "wavepack_queue_depth", queue="print", state="queued") == 1
    assert value(after, "wavepack_queue_depth", queue="print", state="sending") == 0
    assert value(after, "wavepack_queue_depth", queue="inbox", state="pending") == 0
    assert ("wavepack_queue_depth", (("queue", "outbox"), ("state", "pending"))) in after
    assert value(after, "wavepack_queue_oldest_age_seconds", queue="print",
                 state="queued") >= 0
    assert value(after, "wavepack_exceptions_open", type="stock_discrepancy",
                 severity="medium") == 1
    assert value(after, "wavepack_database_up") == 1
    kind = "postgresql" if floor.app.config["WAVEPACK"].database_url.startswith("postgres") \
        else "sqlite"
    build = [k for k in after if k[0] == "wavepack_build_info"]
    assert len(build) == 1 and ("database", kind) in build[0][1]


def test_the_scrape_is_refused_without_a_scrapers_credentials(floor, scraper):
    client = floor.app.test_client()
    r = client.get("/metrics")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": "Bearer wpm_nonsense"}
                      ).status_code == 401
    channel = _in(floor.app, auth.create_token, channel="api")
    for token in (floor.tokens["p1"], floor.tokens["k1"], channel):
        r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    for token in (scraper, floor.supervisor):
        assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}
                          ).status_code == 200
    # the metrics token reads nothing else: no order, no stock, no console
    for path in ("/api/v1/stock?sku=SOCK", "/api/v1/orders", "/api/v1/exceptions"):
        r = client.get(path, headers={"Authorization": f"Bearer {scraper}"})
        assert r.status_code == 403, (path, r.status_code)
    sio = floor.app.extensions["socketio"]
    console = sio.test_client(floor.app, namespace="/console", auth={"token": scraper})
    assert not console.is_connected(namespace="/console")
    # a revoked scraper is refused like an unknown one
    with floor.app.app_context(), db.connection_context(), write_tx():
        execute("UPDATE api_token SET revoked_at = ? WHERE kind = 'metrics'",
                (clock.naive_utc(clock.now()),))
    assert client.get("/metrics", headers={"Authorization": f"Bearer {scraper}"}
                      ).status_code == 401


def test_allow_listed_addresses_scrape_without_a_token(db_url):
    inside = make_app(db_url, metrics={"allow_from": "10.0.0.0/8, 127.0.0.1"})
    assert inside.test_client().get("/metrics").status_code == 200
    elsewhere = make_app(db_url, metrics={"allow_from": "10.0.0.0/8"})
    assert elsewhere.test_client().get("/metrics").status_code == 401
    assert elsewhere.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}
                                       ).status_code == 200
    with pytest.raises(ValueError, match="metrics.allow_from"):
        make_app(db_url, metrics={"allow_from": "10.0.0.300"})


def test_the_cli_makes_a_metrics_token(floor):
    runner = floor.app.test_cli_runner()
    with floor.app.app_context():
        result = runner.invoke(args=["token", "create", "--metrics", "--label", "prom"])
        both = runner.invoke(args=["token", "create", "--metrics", "--role", "admin"])
    assert result.exit_code == 0, result.output
    raw = result.output.strip().splitlines()[-1]
    assert raw.startswith("wpm_")
    assert floor.app.test_client().get("/metrics", headers={
        "Authorization": f"Bearer {raw}"}).status_code == 200
    assert both.exit_code != 0 and "exactly one" in both.output


# ---- several processes ------------------------------------------------------------------

def _refuse_webhooks(base: str, n: int) -> None:
    for _ in range(n):
        r = requests.post(f"{base}/webhooks/woocommerce/nowhere", data=b"{}", timeout=10,
                          headers={"Content-Type": "application/json"})
        assert r.status_code == 404, r.text


def _scrape_url(base: str, token: str) -> dict:
    r = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"},
                     timeout=10)
    assert r.status_code == 200, r.text
    return samples(r.text)


def test_two_server_processes_add_up_in_one_scrape(tmp_path, db_url):
    """Two `wavepack serve --no-workers` on one database and one PROMETHEUS_MULTIPROC_DIR
    (as serve-prod runs them): either one's scrape counts the other's refusals too, and a
    process that is gone keeps its counts (a total never goes backwards)."""
    app = make_app(db_url)
    token = _in(app, auth.create_token, metrics=True)
    db.close()
    folder = tmp_path / "metrics"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder), "WAVEPACK_JOBS_ENABLED": "false"}
    url = app.config["WAVEPACK"].database_url
    with wavepack_serve(tmp_path / "a", "--no-workers", db_url=url, **env) as a:
        with wavepack_serve(tmp_path / "b", "--no-workers", db_url=url, **env) as b:
            _refuse_webhooks(a.base, 3)
            _refuse_webhooks(b.base, 2)
            for base in (a.base, b.base):
                got = _scrape_url(base, token)
                assert value(got, "wavepack_webhook_rejections_total", source="woocommerce",
                             cause="unknown_channel") == 5
            files = {p.name for p in folder.glob("*.db")}
            assert any(str(a.proc.pid) in f for f in files)
            assert any(str(b.proc.pid) in f for f in files)
        # b stopped: a's scrape still counts its refusals
        got = _scrape_url(a.base, token)
        assert value(got, "wavepack_webhook_rejections_total", source="woocommerce",
                     cause="unknown_channel") == 5


def test_a_deployment_starts_its_metrics_afresh_and_joiners_mark_the_dead(tmp_path):
    """`prepare(fresh=True)` (serve with its workers, serve-prod) empties the directory;
    `prepare(fresh=False)` (serve --no-workers, worker) keeps the counters of processes
    that are gone and removes only their live gauges."""
    folder = tmp_path / "metrics"
    code = (
        "import os, sys\n"
        "from server import telemetry\n"
        "telemetry.prepare(fresh=sys.argv[1] == 'fresh')\n"
        "print(sorted(os.listdir(os.environ['PROMETHEUS_MULTIPROC_DIR'])))\n")
    folder.mkdir()
    gone = _dead_pid()
    (folder / f"counter_{gone}.db").write_bytes(b"")
    (folder / f"gauge_livesum_{gone}.db").write_bytes(b"")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    python = str(Path(console_script("wavepack")).with_name("python"))
    joined = subprocess.run([python, "-c", code, "join"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert joined.returncode == 0, joined.stderr
    assert joined.stdout.strip() == str([f"counter_{gone}.db"])
    fresh = subprocess.run([python, "-c", code, "fresh"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.strip() == "[]"


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_worker_joins_the_web_processes_metrics(tmp_path, db_url):
    """`wavepack worker` with the deployment's directory: its print workers' counts reach
    a web process's scrape (labels printed by the worker, scraped from `serve`)."""
    with FakePrinter() as printer:
        app = make_app(db_url, printers={"label-1": {"url": printer.url}})
        token = _in(app, auth.create_token, metrics=True)
        job = _in(app, print_queue.enqueue, "PACK-1", printer.url, "label", "W-1",
                  ZPL.format(ref="W-1"), "packer:k1")
        db.close()
        folder = tmp_path / "metrics"
        url = app.config["WAVEPACK"].database_url
        env = {**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
               "PROMETHEUS_MULTIPROC_DIR": str(folder), "DATABASE_URL": url,
               "WAVEPACK_SERVER_DATA_DIR": str(tmp_path),
               "WAVEPACK_CONFIG": str(_printer_overlay(tmp_path, printer.url))}
        with wavepack_serve(tmp_path / "web", "--no-workers", db_url=url,
                            PROMETHEUS_MULTIPROC_DIR=str(folder),
                            WAVEPACK_CONFIG=env["WAVEPACK_CONFIG"]) as web:
            worker = subprocess.Popen([console_script("wavepack"), "worker", "--only",
                                       "print"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    got = _scrape_url(web.base, token)
                    if value(got, "wavepack_labels_printed_total") >= 1:
                        break
                    time.sleep(0.3)
                assert value(got, "wavepack_labels_printed_total") == 1
                assert value(got, "wavepack_queue_depth", queue="print", state="queued") == 0
            finally:
                stop_process(worker)
        assert _in(app, print_queue.get_job, job)["state"] == "printed"


def _printer_overlay(tmp_path: Path, url: str) -> Path:
    overlay = tmp_path / "printers.yaml"
    overlay.write_text(f"printers:\n  label-1:\n    url: {url}\n", encoding="utf-8")
    return overlay

