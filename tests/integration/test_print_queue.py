"""The durable print queue against the fake ZPL printer, on SQLite and PostgreSQL: a job
is committed before it is sent, printed only once the printer took it without a fault,
kept queued with the reason while the printer is faulted, and never printed twice."""
from __future__ import annotations

import threading
import time

import pytest

from printers.drivers import TcpDriver
from printers.fake import FakePrinter
from printers.status import BadPrinterUrl
from server.domain.errors import DomainError
from server.jobs import print_worker
from server.services import print_queue
from server.store.db import db, execute
from server.store.models import WmsException
from ..exception_checks import raised
from tests.integration import test_printers

# the private cupsd of test_printers.py (module-scoped: this module gets its own)
cups, cups_env = test_printers.cups, test_printers.cups_env

ZPL = "^XA^FO50,50^A0N,40,40^FDOrder {ref}^FS^FO50,120^A0N,20,20^FDjob {{job_id}}^FS^XZ"
TIMEOUT = 1.0   # the printer's answer timeout (the silent printer waits this long)


@pytest.fixture
def printer():
    with FakePrinter() as p:
        yield p


def _in(app, fn, *args, **kwargs):
    with app.app_context(), db.connection_context():
        return fn(*args, **kwargs)


def _enqueue(app, printer, ref="1001", station="PACK-1"):
    return _in(app, print_queue.enqueue, station, printer.url, "label", ref,
               ZPL.format(ref=ref), "packer:ann")


def _send(app, printer, **kwargs):
    return _in(app, print_queue.send_next, printer.url, timeout=TIMEOUT, **kwargs)


def _job(app, job_id):
    return _in(app, print_queue.get_job, job_id)


def _marker(job_id: int) -> bytes:
    return f"^FDjob {job_id}^FS".encode()


def _received(printer, job_id) -> int:
    """How many formats the printer received that carry this job id."""
    return sum(_marker(job_id) in job for job in printer.jobs)


def _count(app, sql, params=()):
    return _in(app, lambda: execute(sql, params).fetchone()[0])


def test_job_is_committed_before_sending_and_printed_after_the_printer_has_it(
        app, printer, monkeypatch):
    job_id = _enqueue(app, printer)
    assert printer.jobs == [] and _job(app, job_id)["state"] == "queued"
    seen = {}
    real_send = TcpDriver.send

    def send(self, data):
        # another connection sees the committed row (job id in its ZPL) while it is sent
        def look():
            with app.app_context(), db.connection_context():
                row = execute("SELECT state, zpl FROM print_job WHERE id = ?",
                              (job_id,)).fetchone()
                seen["row"] = (row[0], row[1])
        reader = threading.Thread(target=look)
        reader.start()
        reader.join()
        seen["jobs_before"] = len(printer.jobs)
        return real_send(self, data)

    monkeypatch.setattr(TcpDriver, "send", send)
    outcome = _send(app, printer)
    assert (outcome.job_id, outcome.state) == (job_id, "printed")
    assert seen["row"][0] == "sending" and f"job {job_id}^FS" in seen["row"][1]
    assert seen["jobs_before"] == 0
    assert _received(printer, job_id) == 1 and printer.printed == printer.jobs
    job = _job(app, job_id)
    assert job["state"] == "printed" and job["printed_at"] and job["last_error"] == ""
    assert _send(app, printer).state == "idle"
    assert _received(printer, job_id) == 1


@pytest.mark.parametrize("fault, reason", [
    ("paused", "paused"), ("paper_out", "paper_out"), ("head_open", "head_open"),
    ("silent", "no ~HS reply"),
])
def test_a_faulted_printer_keeps_the_job_queued_with_the_reason_then_prints_it_once(
        app, printer, fault, reason):
    setattr(printer, fault, True)
    job_id = _enqueue(app, printer)
    for _ in (1, 2):
        outcome = _send(app, printer)
        assert (outcome.job_id, outcome.state) == (job_id, "queued")
        job = _job(app, job_id)
        assert job["state"] == "queued" and job["attempts"] == 0     # waiting, not failing
        assert reason in job["last_error"] and job["printed_at"] is None
        # and as a code with the printer's faults, for the station page to word
        assert job["last_error_code"] == "printer_not_ready"
        assert job["last_error_params"] == {"faults": ["offline" if fault == "silent" else fault]}
    assert printer.jobs == []
    [shown] = _in(app, print_queue.jobs_for_station, "PACK-1")
    assert shown["id"] == job_id and reason in shown["last_error"]

    printer.silent = False
    printer.resume()
    assert _send(app, printer).state == "printed"
    assert (_job(app, job_id)["last_error_code"], _job(app, job_id)["last_error_params"]) \
        == ("", {})
    assert _send(app, printer).state == "idle"
    assert _received(printer, job_id) == 1 and printer.printed == printer.jobs


def test_a_dropped_connection_is_never_printed_and_resent_once(app, printer):
    printer.drop_after = 10
    job_id = _enqueue(app, printer)
    outcome = _send(app, printer)
    assert (outcome.job_id, outcome.state) == (job_id, "queued")
    job = _job(app, job_id)
    assert printer.dropped == 1 and printer.jobs == []
    assert "dropped the connection" in job["last_error"] and job["attempts"] == 1
    printer.drop_after = None
    assert _send(app, printer).state == "printed"
    assert _received(printer, job_id) == 1


@pytest.mark.parametrize("fault, reason", [
    ("paper_out", "accepted by the printer, not yet printed: sent, but printer"),
    ("head_open", "head_open"),
    ("silent", "accepted by the printer, not yet printed: printer"),   # no ~HS reply after
])
def test_a_label_accepted_before_a_fault_waits_and_is_never_resent(
        app, printer, monkeypatch, fault, reason):
    job_id = _enqueue(app, printer)
    real_send = TcpDriver.send

    def send_then_fault(self, data):
        result = real_send(self, data)
        setattr(printer, fault, True)
        return result

    monkeypatch.setattr(TcpDriver, "send", send_then_fault)
    outcome = _send(app, printer)
    assert outcome.state == "sending" and reason in outcome.error
    monkeypatch.setattr(TcpDriver, "send", real_send)
    [again] = _in(app, print_queue.check_sending, printer.url, timeout=TIMEOUT)
    assert again.state == "sending" and _job(app, job_id)["state"] == "sending"
    assert _job(app, job_id)["printed_at"] is None
    assert _send(app, printer).state == "idle"            # not queued: never resent
    printer.silent = False
    printer.resume()
    [settled] = _in(app, print_queue.check_sending, printer.url, timeout=TIMEOUT)
    assert settled.state == "printed" and _job(app, job_id)["state"] == "printed"
    assert _received(printer, job_id) == 1


def test_reprint_is_refused_while_the_job_can_still_print(app, printer):
    job_id = _enqueue(app, printer)
    with pytest.raises(DomainError) as err:
        _in(app, print_queue.reprint, job_id, "supervisor:bo")
    assert err.value.code == "not_printed_yet"
    with pytest.raises(DomainError) as err:
        _in(app, print_queue.reprint, job_id + 99, "supervisor:bo")
    assert err.value.code == "not_found"
    assert _count(app, "SELECT COUNT(*) FROM print_job") == 1
    assert _send(app, printer).state == "printed"
    copy = _in(app, print_queue.reprint, job_id, "packer:ann")
    assert _send(app, printer).state == "printed" and _job(app, copy)["reprint_of"] == job_id
    assert len(printer.jobs) == 2 and _received(printer, job_id) == 2   # original + the copy


def _crash_mid_send(app, job_id, accepted=False):
    def crash():
        execute("UPDATE print_job SET state = 'sending', accepted_at = "
                + ("updated_at" if accepted else "NULL") + " WHERE id = ?", (job_id,))
    _in(app, crash)


def test_a_job_found_sending_without_proof_is_failed_for_a_person_not_resent(app, printer):
    job_id = _enqueue(app, printer)
    _crash_mid_send(app, job_id)
    [outcome] = _in(app, print_queue.check_sending, printer.url, timeout=TIMEOUT)
    assert outcome.state == "failed" and f"job {job_id}" in outcome.error
    failed = _job(app, job_id)
    assert (failed["last_error_code"], failed["last_error_params"]) == ("unconfirmed",
                                                                       {"job": job_id})
    assert _send(app, printer).state == "idle" and printer.jobs == []
    exc = _in(app, WmsException.get, WmsException.type == "print_unconfirmed")
    assert exc.state == "open" and str(job_id) in exc.message
    raised(app, "print_unconfirmed", "printer")

    new_id = _in(app, print_queue.reprint, job_id, "supervisor:bo")
    new = _job(app, new_id)
    assert new["reprint_of"] == job_id and new["state"] == "queued"
    assert _count(app, "SELECT COUNT(*) FROM audit WHERE action = 'print_job.reprint' AND "
                       "entity_id = ? AND actor = 'supervisor:bo'", (str(job_id),)) == 1
    assert _send(app, printer).state == "printed"
    [label] = printer.jobs
    assert _marker(new_id) not in label and f"REPRINT job {new_id} of {job_id}".encode() in label
    assert _received(printer, job_id) == 1                 # the original label's text, once
    assert _send(app, printer).state == "idle" and len(printer.jobs) == 1


def test_a_job_found_sending_is_resent_when_the_printer_holds_only_a_cut_format(app, printer):
    job_id = _enqueue(app, printer)
    _crash_mid_send(app, job_id)
    printer.partial_format = True
    [outcome] = _in(app, print_queue.check_sending, printer.url, timeout=TIMEOUT)
    assert outcome.state == "queued" and _job(app, job_id)["attempts"] == 1
    assert _send(app, printer).state == "printed"
    assert _received(printer, job_id) == 1


def test_a_job_found_sending_after_the_printer_took_it_is_printed_without_resending(
        app, printer):
    job_id = _enqueue(app, printer)
    _crash_mid_send(app, job_id, accepted=True)
    printer.silent = True
    [outcome] = _in(app, print_queue.check_sending, printer.url, timeout=TIMEOUT)
    assert outcome.state == "sending" and "status unknown" in outcome.error
    assert _job(app, job_id)["last_error_code"] == "status_unknown"
    printer.silent = False
    [outcome] = _in(app, print_queue.check_sending, printer.url, timeout=TIMEOUT)
    assert outcome.state == "printed" and printer.jobs == []


def test_after_max_attempts_the_job_fails_and_an_exception_is_opened(app, printer):
    printer.drop_after = 10               # every try is cut mid-label (the printer drops it)
    job_id = _enqueue(app, printer)
    assert _send(app, printer, max_attempts=2).state == "queued"
    assert _send(app, printer, max_attempts=2).state == "failed"
    assert _job(app, job_id)["state"] == "failed"
    assert _send(app, printer, max_attempts=2).state == "idle"
    exc = _in(app, WmsException.get, WmsException.type == "print_failed")
    assert "dropped" in exc.message and printer.jobs == []
    raised(app, "print_failed", "printer")


def test_a_printer_out_of_paper_for_long_never_fails_the_label(app, printer):
    printer.paper_out = True
    job_id = _enqueue(app, printer)
    for _ in range(10):
        assert _send(app, printer, max_attempts=2).state == "queued"
    assert _job(app, job_id)["attempts"] == 0
    printer.resume()
    assert _send(app, printer, max_attempts=2).state == "printed"
    assert _received(printer, job_id) == 1


def test_two_workers_racing_never_send_one_job_twice(app, printer):
    ids = [_enqueue(app, printer, ref=str(2000 + n), station=f"PACK-{n % 3}")
           for n in range(24)]
    outcomes: list[list] = [[], []]
    start = threading.Barrier(2)

    def worker(mine):
        with app.app_context(), db.connection_context():
            start.wait()
            while True:
                outcome = print_queue.send_next(printer.url, timeout=5.0)
                if outcome.job_id is None:
                    return
                mine.append(outcome)

    threads = [threading.Thread(target=worker, args=(o,)) for o in outcomes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [o.job_id for o in outcomes[0] + outcomes[1]]
    assert sorted(done) == ids
    assert all(o.state == "printed" for o in outcomes[0] + outcomes[1])
    assert len(printer.jobs) == 24 and all(_received(printer, i) == 1 for i in ids)
    assert _count(app, "SELECT COUNT(*) FROM print_job WHERE state = 'printed'") == 24


@pytest.mark.parametrize("url, zpl, error", [
    ("lpt://desk", ZPL, BadPrinterUrl),
    ("tcp://", ZPL, BadPrinterUrl),
    (None, "", DomainError),
    (None, "   ", DomainError),
    (None, "^XA^FDno job id^FS^XZ", DomainError),
    (None, "just text {job_id}", DomainError),
    (None, lambda job_id: "", DomainError),
])
def test_bad_input_is_refused_and_stores_nothing(app, printer, url, zpl, error):
    with pytest.raises(error):
        _in(app, print_queue.enqueue, "PACK-1", url or printer.url, "label", "1001", zpl,
            "packer:ann")
    assert issubclass(error, (ValueError, DomainError))
    assert _count(app, "SELECT COUNT(*) FROM print_job") == 0
    assert _count(app, "SELECT COUNT(*) FROM audit WHERE entity = 'print_job'") == 0


def test_unknown_kind_and_station_are_refused(app, printer):
    for station, kind in (("PACK-1", "poster"), ("", "label")):
        with pytest.raises(DomainError):
            _in(app, print_queue.enqueue, station, printer.url, kind, "1", ZPL, "packer:ann")
    assert _count(app, "SELECT COUNT(*) FROM print_job") == 0


def test_a_callable_label_gets_the_job_id(app, printer):
    job_id = _in(app, print_queue.enqueue, "PACK-1", printer.url, "sscc", "P-1",
                 lambda n: f"^XA^FDjob {n}^FS^XZ", "packer:ann")
    assert _send(app, printer).state == "printed"
    assert printer.jobs == [f"^XA^FDjob {job_id}^FS^XZ".encode()]


def _wait_until(condition, what, limit_s=20.0):
    """Wait for a worker thread's effect (a liveness limit, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def test_the_worker_backs_off_while_out_of_paper_then_prints_each_job_once(app, printer):
    printer.paper_out = True
    stop = threading.Event()
    thread = print_worker.start(app, printer.url, stop, timeout=TIMEOUT, poll_s=0.05,
                                max_backoff_s=0.2, max_attempts=1000)
    try:
        ids = [_enqueue(app, printer, ref=str(3000 + n)) for n in range(3)]
        print_worker.wake(printer.url)
        _wait_until(lambda: "paper_out" in _job(app, ids[0])["last_error"], "the reason")
        assert printer.jobs == [] and _job(app, ids[0])["state"] == "queued"
        printer.resume()
        printer.wait_for_jobs(3)
        _wait_until(lambda: all(_job(app, i)["state"] == "printed" for i in ids), "printed")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(printer.jobs) == 3 and all(_received(printer, i) == 1 for i in ids)


def test_a_worker_starting_after_a_crash_settles_jobs_left_sending(app, printer):
    accepted, cut, queued = (_enqueue(app, printer, ref=str(4000 + n)) for n in range(3))
    _crash_mid_send(app, accepted, accepted=True)
    _crash_mid_send(app, cut)
    stop = threading.Event()
    thread = print_worker.start(app, printer.url, stop, timeout=TIMEOUT, poll_s=0.05)
    try:
        printer.wait_for_jobs(1)
        _wait_until(lambda: _job(app, queued)["state"] == "printed", "the queued job")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert _job(app, accepted)["state"] == "printed"       # the printer had it: not resent
    assert _job(app, cut)["state"] == "failed"              # may have printed: a person checks
    assert [_received(printer, i) for i in (accepted, cut, queued)] == [0, 0, 1]
    assert _count(app, "SELECT COUNT(*) FROM wms_exception WHERE type = 'print_unconfirmed'") == 1


# -- fault gaps: a slow printer, a printer that goes silent after taking the label, two
# worker processes racing, and the queue printing through a real CUPS --------------------

def test_a_slow_printer_within_the_timeout_prints_once(app, printer):
    printer.delay_s = 0.2
    job_id = _enqueue(app, printer)
    assert _in(app, print_queue.send_next, printer.url, timeout=2.0).state == "printed"
    assert _received(printer, job_id) == 1


def test_a_printer_too_slow_to_answer_gets_nothing_and_the_job_waits(app, printer):
    printer.delay_s = 1.0                         # its ~HS answer comes after our 0.3 s
    job_id = _enqueue(app, printer)
    outcome = _in(app, print_queue.send_next, printer.url, timeout=0.3)
    assert (outcome.job_id, outcome.state) == (job_id, "queued")
    assert "no ~HS reply" in _job(app, job_id)["last_error"] and printer.jobs == []
    printer.delay_s = 0.0
    assert _send(app, printer).state == "printed" and _received(printer, job_id) == 1


def test_a_printer_too_slow_to_take_the_label_is_never_resent_nor_marked_printed(
        app, printer):
    """Status within the timeout, but the printer reads the label so slowly that the send
    times out after it took the bytes: the label may be printing, so the job is not
    `printed` and not resent; a person is asked (print_unconfirmed)."""
    printer.delay_s = 0.7                         # ~HS in 0.7 s; the send takes ~1.4 s
    job_id = _enqueue(app, printer)
    outcome = _in(app, print_queue.send_next, printer.url, timeout=1.2)
    assert (outcome.job_id, outcome.state) == (job_id, "failed"), outcome
    assert "did not take the job" in outcome.error and f"job {job_id}" in outcome.error
    printer.delay_s = 0.0
    assert _send(app, printer).state == "idle"
    assert _received(printer, job_id) == 1        # the one label it took; never a second
    assert _count(app, "SELECT COUNT(*) FROM wms_exception WHERE type = "
                       "'print_unconfirmed'") == 1


RACER = """
import json, sys
from server import create_app
from server.services import print_queue
from server.store.db import db
app = create_app({"database": {"url": sys.argv[1]}})
done = []
with app.app_context(), db.connection_context():
    while True:
        outcome = print_queue.send_next(sys.argv[2], timeout=5.0)
        if outcome.job_id is None:
            break
        done.append([outcome.job_id, outcome.state])
print(json.dumps(done))
"""


def test_two_worker_processes_racing_never_send_one_job_twice(app, printer, db_url):
    """Two OS processes (own connections, own in-flight sets) drain one printer's queue:
    on PostgreSQL FOR UPDATE SKIP LOCKED, on SQLite BEGIN IMMEDIATE decides each claim."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path
    ids = [_enqueue(app, printer, ref=str(5000 + n), station=f"PACK-{n % 4}")
           for n in range(40)]
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", RACER, db_url, printer.url], cwd=root,
                              env=os.environ.copy(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    done = [tuple(d) for out, _ in outs for d in json.loads(out.strip().splitlines()[-1])]
    assert sorted(j for j, _ in done) == ids and {s for _, s in done} == {"printed"}
    assert len(printer.jobs) == 40 and all(_received(printer, i) == 1 for i in ids)
    assert _count(app, "SELECT COUNT(*) FROM print_job WHERE state = 'printed'") == 40


@pytest.fixture
def cups_queue(request, printer, monkeypatch):
    """A raw queue on the private cupsd of test_printers.py, its device the fake printer."""
    from tests.integration.test_printers import add_queue
    env = request.getfixturevalue("cups_env")
    name = f"pq{printer.port}"
    add_queue(env, name, printer.port)
    return env, name


def test_the_queue_prints_through_cups_and_zebra_once(app, printer, cups_queue):
    import subprocess
    env, queue = cups_queue
    url = f"cups://{queue}"
    first = _in(app, print_queue.enqueue, "PACK-1", url, "label", "C-1",
                ZPL.format(ref="C-1"), "packer:ann")
    assert _in(app, print_queue.send_next, url, timeout=10.0).state == "printed"
    [label] = printer.wait_for_jobs(1)
    sent = _in(app, print_queue.job_zpl, first).encode("utf-8")
    assert label == sent                                          # byte for byte

    subprocess.run(["cupsdisable", "-r", "jammed at PACK-1", queue], env=env, check=True)
    second = _in(app, print_queue.enqueue, "PACK-1", url, "label", "C-2",
                 ZPL.format(ref="C-2"), "packer:ann")
    outcome = _in(app, print_queue.send_next, url, timeout=10.0)
    assert (outcome.job_id, outcome.state) == (second, "queued")
    assert "queue_stopped" in _job(app, second)["last_error"] and len(printer.jobs) == 1
    subprocess.run(["cupsenable", queue], env=env, check=True)
    assert _in(app, print_queue.send_next, url, timeout=10.0).state == "printed"
    printer.wait_for_jobs(2)
    assert [_received(printer, i) for i in (first, second)] == [1, 1]
    assert _in(app, print_queue.send_next, url, timeout=10.0).state == "idle"
