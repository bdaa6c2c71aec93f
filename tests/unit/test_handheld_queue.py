"""The handheld's offline queue (handheld.queue): order, dedupe, durability, threads."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import uuid

import pytest

from handheld.queue import OfflineQueue, QueueError


def msg(n: int, scan_id: str | None = None) -> dict:
    return {"scan_id": scan_id or f"scan-{n:06d}", "raw": f"code-{n}", "symbology": None}


@pytest.fixture
def queue(tmp_path):
    q = OfflineQueue(tmp_path / "q.sqlite3")
    yield q
    q.close()


def test_pending_is_in_insertion_order_not_scan_id_order(queue) -> None:
    ids = [str(uuid.uuid4()) for _ in range(40)]   # random ids: sorting them would reorder
    for i, sid in enumerate(ids):
        assert queue.put("scan", msg(i, sid)) is True
    assert [m.scan_id for m in queue.pending()] == ids
    assert [m.payload["raw"] for m in queue.pending(limit=3)] == ["code-0", "code-1", "code-2"]
    assert queue.next_pending().scan_id == ids[0]


def test_done_messages_leave_pending_and_keep_their_ack(queue) -> None:
    for i in range(5):
        queue.put("scan", msg(i))
    assert queue.mark_done("scan-000002", {"ok": True, "verdict": "ok"}) is True
    assert [m.scan_id for m in queue.pending()] == [
        "scan-000000", "scan-000001", "scan-000003", "scan-000004"]
    assert queue.ack_for("scan-000002") == {"ok": True, "verdict": "ok"}
    assert queue.ack_for("scan-000001") is None           # still pending
    assert queue.counts() == {"pending": 4, "done": 1}


def test_first_ack_is_kept_and_unknown_scan_ids_are_not_done(queue) -> None:
    queue.put("scan", msg(1))
    assert queue.mark_done("scan-000001", {"ok": True}) is True
    assert queue.mark_done("scan-000001", {"ok": False}) is False
    assert queue.ack_for("scan-000001") == {"ok": True}
    assert queue.mark_done("never-queued", {"ok": True}) is False
    assert queue.ack_for("never-queued") is None


def test_same_scan_id_twice_is_a_no_op_first_payload_wins(queue) -> None:
    assert queue.put("scan", {"scan_id": "dup-000001", "raw": "first"}) is True
    assert queue.put("short", {"scan_id": "dup-000001", "raw": "second"}) is False
    pending = queue.pending()
    assert len(pending) == 1
    assert (pending[0].event, pending[0].payload["raw"]) == ("scan", "first")
    queue.mark_done("dup-000001", {"ok": True})
    assert queue.put("scan", {"scan_id": "dup-000001", "raw": "third"}) is False
    assert queue.counts() == {"pending": 0, "done": 1}     # a done scan is not re-queued


@pytest.mark.parametrize("payload", [{}, {"scan_id": ""}, {"scan_id": 7}, "not a dict",
                                     {"scan_id": "x-000001", "bad": {1, 2}}])
def test_messages_without_a_scan_id_or_not_json_are_refused(queue, payload) -> None:
    with pytest.raises(QueueError):
        queue.put("scan", payload)
    assert queue.counts() == {"pending": 0, "done": 0}


def test_wal_and_full_sync(queue) -> None:
    assert queue._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert queue._db.execute("PRAGMA synchronous").fetchone()[0] == 2   # FULL


def test_queue_survives_reopen(tmp_path) -> None:
    path = tmp_path / "sub" / "q.sqlite3"        # parent directories are created
    with OfflineQueue(path) as q:
        for i in range(3):
            q.put("scan", msg(i))
        q.mark_done("scan-000000", {"ok": True, "n": 0})
    with OfflineQueue(path) as q:
        assert [m.scan_id for m in q.pending()] == ["scan-000001", "scan-000002"]
        assert q.ack_for("scan-000000") == {"ok": True, "n": 0}
        q.put("scan", msg(3))
        assert [m.scan_id for m in q.pending()][-1] == "scan-000003"


def test_a_put_survives_the_process_being_killed(tmp_path) -> None:
    path = tmp_path / "q.sqlite3"
    code = (
        "import os, signal, sys\n"
        "from handheld.queue import OfflineQueue\n"
        "q = OfflineQueue(sys.argv[1])\n"
        "q.put('scan', {'scan_id': 'killed-0001', 'raw': 'A-01-01-1'})\n"
        "q.put('tote.scan', {'scan_id': 'killed-0002', 'raw': 'TOTE-9'})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")       # no close, no atexit, no flush
    proc = subprocess.run([sys.executable, "-c", code, str(path)], timeout=30)
    assert proc.returncode == -9
    with OfflineQueue(path) as q:
        assert [(m.event, m.scan_id) for m in q.pending()] == [
            ("scan", "killed-0001"), ("tote.scan", "killed-0002")]


def test_a_file_that_is_not_a_queue_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "junk"
    path.write_bytes(b"this is not an sqlite database" * 200)
    with pytest.raises(QueueError, match="cannot open queue file"):
        OfflineQueue(path)


def test_concurrent_puts_from_threads_keep_each_threads_order_and_dedupe(queue) -> None:
    threads, per_thread = 8, 60
    results: dict[int, list[bool]] = {}
    start = threading.Barrier(threads)

    def worker(t: int) -> None:
        start.wait()
        out = []
        for i in range(per_thread):
            out.append(queue.put("scan", msg(0, f"t{t}-{i:04d}")))
            # every thread also tries the same shared ids: each must be queued once
            out.append(queue.put("scan", msg(0, f"shared-{i:04d}")))
        results[t] = out

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    pending = [m.scan_id for m in queue.pending()]
    assert len(pending) == len(set(pending)) == threads * per_thread + per_thread
    shared_wins = sum(r[1::2].count(True) for r in results.values())
    assert shared_wins == per_thread                      # each shared id won exactly once
    for t in range(threads):
        own = [s for s in pending if s.startswith(f"t{t}-")]
        assert own == [f"t{t}-{i:04d}" for i in range(per_thread)]   # per-thread order kept


def test_concurrent_marks_and_two_connections_on_one_file(tmp_path) -> None:
    path = tmp_path / "q.sqlite3"
    producer, consumer = OfflineQueue(path), OfflineQueue(path)
    n = 200
    done: list[str] = []

    def produce() -> None:
        for i in range(n):
            producer.put("scan", msg(i))

    def consume() -> None:
        while len(done) < n:
            head = consumer.next_pending()
            if head is None:
                continue
            assert consumer.mark_done(head.scan_id, {"ok": True, "seq": head.seq})
            done.append(head.scan_id)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert done == [f"scan-{i:06d}" for i in range(n)]
    assert producer.counts() == {"pending": 0, "done": n}
    raw = sqlite3.connect(str(path))
    assert raw.execute("SELECT COUNT(DISTINCT scan_id), COUNT(*) FROM outbox").fetchone() == (n, n)
    raw.close()
    producer.close()
    consumer.close()
