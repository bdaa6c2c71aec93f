"""`wavepack worker` as real processes beside each other, sharing one database (SQLite
file or PostgreSQL schema): one sender per printer (labels printed exactly once, a
killed sender taken over with nothing lost or doubled), SIGTERM after the job in hand,
scheduled ticks run once, outbox messages sent once, webhook deliveries applied once,
wake-ups across processes by NOTIFY on PostgreSQL, a bad --only refused."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from printers.fake import FakePrinter

from ..conftest import PG_BASE, console_script, make_app, stop_process, wavepack_serve
from .test_outbox import ORDER_ID, ship, shop, wh  # noqa: F401 (fixtures)
from .test_webhooks import SHOPIFY_ID, ctx, seed_shops, shopify_delivery, shopify_payload

LABEL = "^XA^FO50,50^A0N,40,40^FDjob {job_id}^FS^XZ"
JOB_ON_LABEL = re.compile(rb"job (\d+)")


@dataclass
class Worker:
    """A running `wavepack worker`: everything it printed (stdout and stderr), the process."""

    proc: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while text not in self.output and time.monotonic() < deadline:
            time.sleep(0.05)
        return text in self.output


@contextlib.contextmanager
def wavepack_worker(db_url: str, config: str, *args: str, data_dir: Path):
    """`wavepack worker ARGS` as a user starts it, with DATABASE_URL and a config overlay;
    up once it says what it runs. Stopped (SIGTERM, then kill) at the end."""
    overlay = data_dir / f"worker-{time.monotonic_ns()}.yaml"
    overlay.write_text(config, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAVEPACK_")}
    env.update(DATABASE_URL=db_url, WAVEPACK_CONFIG=str(overlay),
               WAVEPACK_SERVER_DATA_DIR=str(data_dir))
    proc = subprocess.Popen([console_script("wavepack"), "worker", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    worker = Worker(proc)
    threading.Thread(target=lambda: worker.lines.extend(proc.stdout), daemon=True).start()
    try:
        assert worker.wait_for(" running ", 60), worker.output
        yield worker
    finally:
        stop_process(proc, 30)


def _printing(printer: FakePrinter, poll_s: float = 0.2) -> str:
    return (f'printers:\n  label-1: {{url: "{printer.url}"}}\n'
            f"printing: {{poll_seconds: {poll_s}, timeout_seconds: 2}}\n"
            "jobs: {lease_seconds: 4}\n")


def _enqueue(app, printer: FakePrinter, n: int) -> list[int]:
    from server.services import print_queue
    with ctx(app):
        return [print_queue.enqueue("station-1", printer.url, "label", f"order {i}", LABEL,
                                    "test") for i in range(n)]


def _jobs(app, ids: list[int]) -> dict[int, dict]:
    from server.services import print_queue
    with ctx(app):
        return {i: print_queue.get_job(i) for i in ids}


def _settled(app, ids: list[int], timeout: float = 60.0) -> dict[int, dict]:
    """The jobs once none is queued or sending any more (or the time is up)."""
    deadline = time.monotonic() + timeout
    jobs = _jobs(app, ids)
    while any(j["state"] in ("queued", "sending") for j in jobs.values()) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
        jobs = _jobs(app, ids)
    return jobs


def _on_printer(printer: FakePrinter) -> list[int]:
    return [int(JOB_ON_LABEL.search(job).group(1)) for job in printer.jobs]


@pytest.fixture
def printer():
    with FakePrinter() as fake:
        yield fake


def test_a_bad_only_is_refused(tmp_path):
    for bad in ("print,bogus", "", "print;outbox"):
        done = subprocess.run([console_script("wavepack"), "worker", "--only", bad],
                              env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/no.db"},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done
        assert done.stderr.startswith("error: --only takes") and "Traceback" not in done.stderr
    assert not (tmp_path / "no.db").exists()              # nothing was opened or created


def test_a_worker_with_nothing_to_run_says_so(tmp_path, db_url):
    make_app(db_url, webhooks={"process": "inline"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAVEPACK_")}
    done = subprocess.run([console_script("wavepack"), "worker", "--only", "print,inbox"],
                          env={**env, "DATABASE_URL": db_url, "WAVEPACK_WEBHOOKS_PROCESS":
                               "inline"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done
    assert done.stderr == ("error: nothing to run: print (no printers configured), inbox "
                           "(webhooks.process is inline)\n")


def test_two_workers_print_every_label_exactly_once(tmp_path, db_url, printer):
    app = make_app(db_url)
    config = _printing(printer)
    with wavepack_worker(db_url, config, data_dir=tmp_path) as one, \
            wavepack_worker(db_url, config, data_dir=tmp_path) as two:
        ids = _enqueue(app, printer, 20)
        jobs = _settled(app, ids)
        assert {j["state"] for j in jobs.values()} == {"printed"}, jobs
        more = _enqueue(app, printer, 5)                 # and again, with both still there
        assert {j["state"] for j in _settled(app, more).values()} == {"printed"}
        time.sleep(0.5)
        assert sorted(_on_printer(printer)) == ids + more  # each once, none twice
        senders = [w for w in (one, two) if "now sends to" in w.output]
        assert len(senders) == 1, one.output + two.output


def test_a_killed_sender_is_taken_over_with_nothing_lost_or_doubled(tmp_path, db_url,
                                                                    printer):
    app = make_app(db_url)
    printer.delay_s = 0.02                               # a label takes a few reads
    config = _printing(printer)
    with wavepack_worker(db_url, config, data_dir=tmp_path) as one, \
            wavepack_worker(db_url, config, data_dir=tmp_path) as two:
        ids = _enqueue(app, printer, 30)
        printer.wait_for_jobs(5, timeout=30)
        [sender] = [w for w in (one, two) if "now sends to" in w.output]
        [other] = [w for w in (one, two) if w is not sender]
        sender.proc.kill()                                # kill -9 mid-stream
        sender.proc.wait(10)
        jobs = _settled(app, ids)
        assert other.wait_for("now sends to", 1), other.output
    on_printer = _on_printer(printer)
    assert len(on_printer) == len(set(on_printer))        # no label printed twice
    printed = [i for i, j in jobs.items() if j["state"] == "printed"]
    failed = [i for i, j in jobs.items() if j["state"] == "failed"]
    assert sorted(printed + failed) == ids, jobs          # none left behind
    assert set(printed) <= set(on_printer)
    # the one label in hand when it was killed may be in doubt: never resent blindly,
    # failed as unconfirmed with an exception naming it, for a person to look for
    assert len(failed) <= 1 and all(jobs[i]["last_error_code"] == "unconfirmed"
                                    for i in failed), jobs
    if failed:
        from server.store.models import WmsException
        with ctx(app):
            assert WmsException.select().where(WmsException.type == "print_unconfirmed") \
                .count() == 1


def test_sigterm_finishes_the_job_in_hand_then_exits_0(tmp_path, db_url, printer):
    app = make_app(db_url)
    printer.delay_s = 0.3                                 # a label takes about a second
    with wavepack_worker(db_url, _printing(printer), data_dir=tmp_path) as worker:
        ids = _enqueue(app, printer, 3)
        deadline = time.monotonic() + 30
        while _jobs(app, ids)[ids[0]]["state"] != "sending" and time.monotonic() < deadline:
            time.sleep(0.02)
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(30) == 0, worker.output
    jobs = _jobs(app, ids)
    assert jobs[ids[0]]["state"] == "printed", jobs       # the job in hand finished
    assert [j["state"] for j in jobs.values()].count("sending") == 0
    assert _on_printer(printer) == [i for i in ids if jobs[i]["state"] == "printed"]
    assert "stopped" in worker.output
    if not db_url.startswith("postgres"):                # its lease was given back
        from server.store.db import execute
        with ctx(app):
            assert execute("SELECT COUNT(*) FROM worker_lease").fetchone()[0] == 0


def test_a_label_queued_elsewhere_wakes_the_worker_through_notify(tmp_path, pg_schema,
                                                                   printer):
    db_url = f"{PG_BASE}?schema={pg_schema}"
    app = make_app(db_url)
    # the worker's own poll is 30 s: only a NOTIFY from this (other) process wakes it
    with wavepack_worker(db_url, _printing(printer, poll_s=30), "--only", "print",
                         data_dir=tmp_path) as worker:
        assert worker.wait_for("now sends to")
        [first] = _enqueue(app, printer, 1)
        assert _settled(app, [first], 20)[first]["state"] == "printed"
        time.sleep(0.5)                                   # the worker is idle, waiting
        [second] = _enqueue(app, printer, 1)
        assert _settled(app, [second], 20)[second]["state"] == "printed", worker.output
    assert _on_printer(printer) == [first, second]


def test_a_scheduled_job_runs_once_per_tick_across_workers(tmp_path, db_url):
    make_app(db_url)
    config = ("jobs: {expire_unpaid_every_minutes: 0.015, woocommerce_pull_every_minutes: "
              "60}\n")
    with wavepack_worker(db_url, config, "--only", "jobs", data_dir=tmp_path) as one, \
            wavepack_worker(db_url, config, "--only", "jobs", data_dir=tmp_path) as two:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_ticks(one) + _ticks(two)) < 4:
            time.sleep(0.1)
    ran = _ticks(one) + _ticks(two)
    assert len(ran) >= 4, one.output + two.output
    assert len(ran) == len(set(ran))                      # no tick ran twice


def _ticks(worker: Worker) -> list[int]:
    return [int(t) for t in re.findall(r"job expire-unpaid tick (\d+) runs", worker.output)]


def test_two_workers_send_each_outbox_message_once(tmp_path, db_url, wh, shop):  # noqa: F811
    shipments = [ship(wh, shop, "cb", ORDER_ID + i) for i in range(10)]
    config = "jobs: {outbox_poll_seconds: 0.2}\n"
    with wavepack_worker(db_url, config, "--only", "outbox", data_dir=tmp_path), \
            wavepack_worker(db_url, config, "--only", "outbox", data_dir=tmp_path):
        deadline = time.monotonic() + 30
        while len(shop.deliveries) < len(shipments) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
    from server.store.db import execute
    with ctx(wh):
        rows = execute("SELECT state, attempts FROM outbox").fetchall()
    assert sorted(rows) == [("sent", 1)] * len(shipments)
    assert len(shop.deliveries) == len(shipments)          # each message once


def test_two_workers_apply_each_webhook_delivery_once(tmp_path, db_url):
    app = make_app(db_url, webhooks={"process": "async", "max_attempts": 3})
    seed_shops(app, stock=100)
    client = app.test_client()
    for i in range(12):
        payload = shopify_payload()
        payload["id"] = int(SHOPIFY_ID) + i
        payload["name"] = f"#{2000 + i}"
        body, headers = shopify_delivery(payload, "orders/paid")
        answer = client.post("/webhooks/shopify/shop", data=body, headers=headers)
        assert answer.get_json()["outcome"] == "queued"
    config = "webhooks: {process: async}\n"
    from server.store.db import execute
    with wavepack_worker(db_url, config, "--only", "inbox", data_dir=tmp_path), \
            wavepack_worker(db_url, config, "--only", "inbox", data_dir=tmp_path):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with ctx(app):
                if execute("SELECT COUNT(*) FROM webhook_event WHERE state = 'pending'"
                           ).fetchone()[0] == 0:
                    break
            time.sleep(0.1)
    with ctx(app):
        events = execute("SELECT state, attempts, outcome FROM webhook_event").fetchall()
        orders = execute("SELECT COUNT(*), COUNT(DISTINCT external_id) FROM sales_order"
                         ).fetchone()
    assert sorted(events) == [("done", 0, "created")] * 12, events
    assert tuple(orders) == (12, 12)


def test_serve_no_workers_leaves_the_printer_to_a_worker_process(tmp_path, db_url, printer):
    app = make_app(db_url)
    overlay = tmp_path / "serve.yaml"
    overlay.write_text(_printing(printer), encoding="utf-8")
    with wavepack_serve(tmp_path / "data", "--no-workers", db_url=db_url,
                        WAVEPACK_CONFIG=str(overlay)) as served:
        assert " * workers: none here (--no-workers)" in served.banner
        [job] = _enqueue(app, printer, 1)
        time.sleep(1.5)                                   # many of its 0.2 s polls
        assert _jobs(app, [job])[job]["state"] == "queued" and printer.jobs == []
        with wavepack_worker(db_url, _printing(printer), data_dir=tmp_path):
            assert _settled(app, [job])[job]["state"] == "printed"
    assert _on_printer(printer) == [job]
