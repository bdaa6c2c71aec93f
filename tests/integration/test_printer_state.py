"""Live printer state (services/printer_state) on SQLite and PostgreSQL: what is recorded
for each status read, staleness, and the print worker recording every status it reads and
asking an idle printer every few seconds, so a station sees "paper out" with no jobs."""
from __future__ import annotations

import datetime as dt
import threading

import pytest

from printers.fake import FakePrinter
from printers.status import PrinterFault, PrinterOffline, PrinterStatus
from server import clock
from server.jobs import print_worker
from server.services import print_queue, printer_state
from server.store.db import db, execute

from ..conftest import make_app
from ..exception_checks import raised
from .test_print_queue import _in, _wait_until

LABEL = "^XA^FO50,50^A0N,40,40^FDjob {job_id}^FS^XZ"


@pytest.fixture
def printer():
    with FakePrinter() as fake:
        yield fake


@pytest.mark.parametrize("seen, state, faults", [
    (PrinterStatus(label_length_dots=1218), "ready", []),
    (PrinterStatus(paper_out=True, paused=True), "paper_out", ["paper_out", "paused"]),
    (PrinterStatus(head_open=True), "head_open", ["head_open"]),
    (PrinterStatus(ribbon_out=True), "ribbon_out", ["ribbon_out"]),
    (PrinterStatus(paused=True), "paused", ["paused"]),
    (PrinterStatus(buffer_full=True), "buffer_full", ["buffer_full"]),
    (PrinterStatus().with_faults("queue_stopped", message="jammed"), "queue_stopped",
     ["queue_stopped"]),
    (PrinterOffline("printer tcp://p:9100: no ~HS reply within 5 s"), "offline", ["offline"]),
    (PrinterFault("CUPS queue 'x' does not exist", ["queue_missing"]), "queue_missing",
     ["queue_missing"]),
    (RuntimeError("boom"), "error", ["error"]),
])
def test_record_and_get(dbconn, seen, state, faults):
    printer_state.record("label-1", "tcp://p:9100", seen)
    got = printer_state.get("label-1")
    assert (got["name"], got["url"], got["state"], got["faults"]) == \
        ("label-1", "tcp://p:9100", state, faults)
    assert got["stale"] is False and got["last_state"] == state and got["age_s"] < 5
    if isinstance(seen, PrinterStatus):
        assert got["detail"]["online"] is True
        assert got["detail"]["paper_out"] == seen.paper_out
        assert got["detail"]["label_length_dots"] == seen.label_length_dots
    else:
        assert str(seen) in got["reason"] and got["detail"]["ready"] is False
    [listed] = printer_state.all()
    assert {**listed, "age_s": 0} == {**got, "age_s": 0}


def test_one_row_per_printer_updated_in_place(dbconn):
    printer_state.record("label-1", "tcp://a:9100", PrinterStatus(paper_out=True))
    printer_state.record("label-2", "tcp://b:9100", PrinterStatus())
    printer_state.record("label-1", "tcp://a:9100", PrinterStatus())
    assert [(p["name"], p["state"]) for p in printer_state.all()] == \
        [("label-1", "ready"), ("label-2", "ready")]
    assert execute("SELECT COUNT(*) FROM printer_status").fetchone()[0] == 2


def test_a_state_older_than_three_polls_is_unknown(dbconn):
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    clock.set_clock(lambda: start)
    printer_state.record("label-1", "tcp://a:9100", PrinterStatus(paper_out=True))
    limit = printer_state.STALE_FACTOR * printer_state.STATUS_EVERY_S
    clock.set_clock(lambda: start + dt.timedelta(seconds=limit))
    assert printer_state.get("label-1")["state"] == "paper_out"
    clock.set_clock(lambda: start + dt.timedelta(seconds=limit + 1))
    stale = printer_state.get("label-1")
    assert (stale["state"], stale["stale"], stale["last_state"]) == \
        ("unknown", True, "paper_out")
    assert "no status for" in stale["reason"]
    assert printer_state.get("label-1", status_every_s=10)["state"] == "paper_out"


def test_configured_printers_never_read_are_unknown(dbconn):
    printer_state.record("label-1", "tcp://a:9100", PrinterStatus())
    printer_state.record("old", "tcp://gone:9100", PrinterStatus())
    rows = printer_state.for_printers({"label-2": "tcp://b:9100", "label-1": "tcp://a:9100"})
    assert [(r["name"], r["state"]) for r in rows] == [("label-1", "ready"),
                                                        ("label-2", "unknown")]
    # the config moved label-1 to another printer: what was read from the old one is not it
    [moved] = printer_state.for_printers({"label-1": "tcp://new:9100"})
    assert moved["state"] == "unknown" and moved["url"] == "tcp://new:9100"
    assert printer_state.one_printer("old", None)["state"] == "ready"
    assert printer_state.one_printer("nobody", None) is None


def test_send_next_reports_every_status_it_reads(app, printer):
    seen = []
    job_id = _in(app, print_queue.enqueue, "PACK-1", printer.url, "label", "1", LABEL, "t")
    assert _in(app, print_queue.send_next, printer.url, timeout=1.0,
               on_status=seen.append).state == "printed"
    assert len(seen) == 2 and all(s.ready for s in seen)       # before and after the label
    printer.silent = True
    _in(app, print_queue.enqueue, "PACK-1", printer.url, "label", "2", LABEL, "t")
    assert _in(app, print_queue.send_next, printer.url, timeout=0.3,
               on_status=seen.append).state == "queued"
    assert isinstance(seen[-1], PrinterOffline)
    assert _in(app, print_queue.get_job, job_id)["state"] == "printed"


def test_a_failing_status_listener_never_changes_what_is_printed(app, printer):
    def broken(_seen):
        raise RuntimeError("database away")
    job_id = _in(app, print_queue.enqueue, "PACK-1", printer.url, "label", "1", LABEL, "t")
    assert _in(app, print_queue.send_next, printer.url, timeout=1.0,
               on_status=broken).state == "printed"
    assert len(printer.jobs) == 1 and _in(app, print_queue.get_job, job_id)["state"] == "printed"


@pytest.fixture
def configured(db_url, printer):
    """An app whose config names the fake printer `label-1`."""
    app = make_app(db_url, printers={"label-1": {"url": printer.url}})
    yield app
    clock.set_clock(None)
    if not db.is_closed():
        db.close()


def _state(app, name="label-1"):
    return _in(app, printer_state.get, name) or {"state": None}


def test_an_idle_worker_shows_paper_out_within_seconds_and_then_ready(configured, printer):
    app = configured
    assert print_worker.printer_names(app, printer.url) == ["label-1"]
    stop = threading.Event()
    thread = print_worker.start(app, printer.url, stop, timeout=1.0, poll_s=0.05,
                                status_every_s=0.2)
    try:
        _wait_until(lambda: _state(app)["state"] == "ready", "ready")
        printer.paper_out = True
        _wait_until(lambda: _state(app)["state"] == "paper_out", "paper out, no jobs")
        assert _state(app)["detail"]["paper_out"] is True
        printer.resume()
        printer.head_open = True
        _wait_until(lambda: _state(app)["state"] == "head_open", "head open")
        printer.head_open = False
        printer.silent = True
        _wait_until(lambda: _state(app)["state"] == "offline", "silent: offline")
        assert "no ~HS reply" in _state(app)["reason"]
        printer.silent = False
        _wait_until(lambda: _state(app)["state"] == "ready", "ready again")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive() and printer.jobs == []
    # each outage raised one printer_fault exception on the printer, closed when it came back
    faults = _in(app, lambda: [tuple(r) for r in db.execute_sql(
        "SELECT state, resolution, message FROM wms_exception WHERE type = 'printer_fault' "
        "AND subject_ref = 'label-1' ORDER BY id").fetchall()])
    assert faults and "paper_out" in faults[0][2], faults
    assert {(f[0], f[1]) for f in faults} == {("resolved", "recovered")}
    assert len(faults) <= 3          # paper out (, head open), silent: never one per read
    raised(app, "printer_fault", "printer", ref="label-1", state="resolved")


def test_a_fixed_printer_ends_the_back_off_and_prints_each_job_once(configured, printer):
    """Backed off for a long time (poll 10 s, back-off up to 60 s): the status poll sees
    the printer fixed and its jobs go out at once, each once."""
    app = configured
    printer.paused = True
    ids = [_in(app, print_queue.enqueue, "PACK-1", printer.url, "label", str(n), LABEL, "t")
           for n in range(3)]
    stop = threading.Event()
    thread = print_worker.start(app, printer.url, stop, timeout=1.0, poll_s=10.0,
                                max_backoff_s=60.0, status_every_s=0.2, max_attempts=1000)
    try:
        _wait_until(lambda: _state(app)["state"] == "paused", "paused")
        _wait_until(lambda: "paused" in _in(app, print_queue.get_job, ids[0])["last_error"],
                    "the job's reason")
        assert printer.jobs == []
        printer.resume()
        _wait_until(lambda: all(_in(app, print_queue.get_job, i)["state"] == "printed"
                                for i in ids), "printed before the 10 s back-off ended",
                    limit_s=8.0)
        assert _state(app)["state"] == "ready"
    finally:
        stop.set()
        thread.join(timeout=10)
    assert len(printer.jobs) == 3
    assert all(sum(f"job {i}^FS".encode() in j for j in printer.jobs) == 1 for i in ids)


def test_a_worker_without_a_configured_name_records_nothing(app, printer):
    stop = threading.Event()
    thread = print_worker.start(app, printer.url, stop, timeout=1.0, poll_s=0.05,
                                status_every_s=0.05)
    try:
        job_id = _in(app, print_queue.enqueue, "PACK-1", printer.url, "label", "1", LABEL, "t")
        print_worker.wake(printer.url)
        _wait_until(lambda: _in(app, print_queue.get_job, job_id)["state"] == "printed",
                    "printed")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert _in(app, printer_state.all) == []


def test_the_recorder_writes_changes_at_once_and_echoes_once_a_second(dbconn):
    recorder = print_worker.StatusRecorder("tcp://a:9100", ["label-1"], refresh_s=60)
    writes = []
    real = printer_state.record

    def counting(*args, **kwargs):
        writes.append(args[2])
        return real(*args, **kwargs)

    import unittest.mock
    with unittest.mock.patch.object(printer_state, "record", counting):
        recorder(PrinterStatus())
        recorder(PrinterStatus())                       # the same: not written again
        recorder(PrinterStatus(paper_out=True))         # a change: written at once
        recorder(PrinterOffline("no ~HS reply"))
        recorder(PrinterOffline("no ~HS reply"))
    assert len(writes) == 3 and printer_state.get("label-1")["state"] == "offline"
    assert recorder.last_ready is False and not recorder.due(60)


def test_stations_printing_at_once_through_one_process_print_each_label_once(db_url):
    """The bench's run (tests/bench/printing.py), small: 4 stations × 5 labels, printers in
    their own process, the workers here; every label at its printer exactly once."""
    from tests.bench.printing import run_printing
    make_app(db_url)                        # a clean schema
    run = run_printing(db_url, stations=4, labels=5)
    assert run.problems == [] and run.jobs == 20 and len(run.latencies) == 20
    assert run.status_rows == 4             # each printer's live state was recorded


def test_a_printer_that_says_ready_but_drops_every_label_keeps_its_back_off(
        configured, printer):
    """Status polls end a back-off only for a printer that reported a fault: one that
    answers ready and then cuts every label is retried with a doubling wait, not at every
    poll (attempts over ~3 s: 0.2 + 0.4 + 0.8 + 1.6 → at most 5, polling would give ~15)."""
    import time
    app = configured
    printer.drop_after = 10
    job_id = _in(app, print_queue.enqueue, "PACK-1", printer.url, "label", "1", LABEL, "t")
    stop = threading.Event()
    thread = print_worker.start(app, printer.url, stop, timeout=1.0, poll_s=0.2,
                                max_backoff_s=60.0, status_every_s=0.1, max_attempts=1000)
    try:
        time.sleep(3.0)
        job = _in(app, print_queue.get_job, job_id)
        assert job["state"] == "queued" and "dropped" in job["last_error"]
        assert 1 <= job["attempts"] <= 5, job["attempts"]
        assert _state(app)["state"] == "ready"        # what the printer itself says
    finally:
        stop.set()
        thread.join(timeout=10)
    assert printer.jobs == []
