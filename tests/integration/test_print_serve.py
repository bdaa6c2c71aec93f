"""`wavepack serve` runs a print worker for each printer in the config: a label job queued
in the database reaches the (fake) printer once and is marked printed; a paper-out printer
keeps it queued with the reason until it is fixed (SQLite and PostgreSQL)."""
import time

import pytest

from printers.fake import FakePrinter

from ..conftest import make_app, wavepack_serve
LABEL = "^XA^FO50,50^A0N,40,40^FDjob {job_id}^FS^XZ"


@pytest.fixture
def printer():
    with FakePrinter() as fake:
        yield fake


def _job(app, job_id):
    from server.services import print_queue
    from server.store.db import db
    with app.app_context(), db.connection_context():
        return print_queue.get_job(job_id)


def _wait(app, job_id, state, seconds=20.0):
    deadline = time.monotonic() + seconds
    job = _job(app, job_id)
    while job["state"] != state and time.monotonic() < deadline:
        time.sleep(0.1)
        job = _job(app, job_id)
    return job


def test_the_server_prints_queued_labels_once(tmp_path, db_url, printer):
    app = make_app(db_url)
    overlay = tmp_path / "printers.yaml"
    overlay.write_text(f'printers:\n  label-1: {{url: "{printer.url}"}}\n'
                       "printing: {poll_seconds: 0.2, timeout_seconds: 2}\n", encoding="utf-8")
    env = {"WAVEPACK_CONFIG": str(overlay), "WAVEPACK_JOBS_ENABLED": "false"}
    printer.paper_out = True
    from server.services import print_queue
    from server.store.db import db
    with app.app_context(), db.connection_context():
        job_id = print_queue.enqueue("station-1", printer.url, "label", "order 1", LABEL, "test")
    with wavepack_serve(tmp_path / "data", db_url=db_url, **env):
        deadline = time.monotonic() + 20          # the worker tried and put it back
        stuck = _job(app, job_id)
        while not (stuck["state"] == "queued" and stuck["last_error"]) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
            stuck = _job(app, job_id)
        assert stuck["state"] == "queued" and "paper" in stuck["last_error"].lower(), stuck
        assert printer.printed == []
        # the station's view: the worker recorded what the printer said, under its name
        assert _printer_state(app)["state"] == "paper_out"
        printer.paper_out = False
        done = _wait(app, job_id, "printed")
        assert done["state"] == "printed", done
        assert printer.wait_for_jobs(1) == [LABEL.replace("{job_id}", str(job_id)).encode()]
        time.sleep(0.5)
        assert len(printer.jobs) == 1                     # never sent twice
        deadline = time.monotonic() + 20                  # read again after the label
        while _printer_state(app)["state"] != "ready" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _printer_state(app)["state"] == "ready"


def _printer_state(app, name="label-1"):
    from server.services import printer_state
    from server.store.db import db
    with app.app_context(), db.connection_context():
        return printer_state.get(name) or {"state": None}
