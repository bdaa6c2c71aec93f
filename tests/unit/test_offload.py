"""The worker pool and the render cache (server/offload.py): jobs run in other processes at a
lower priority, a dead worker is replaced and its job tried once more, twice dead is a clear
PoolUnavailable, a stuck job times out and its worker is stopped, close() stops everything;
the cache is bounded in bytes and makes a key being made only once.

The jobs below are module functions: the workers import this module to run them.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from server.offload import (JobTimeout, PoolSettings, PoolUnavailable, RenderCache, WorkerPool)


def whoami() -> tuple[int, int]:
    return os.getpid(), os.getpriority(os.PRIO_PROCESS, 0)


def session() -> int:
    return os.getsid(0)


def die_once(flag: str) -> str:
    if not os.path.exists(flag):
        open(flag, "w").close()
        os._exit(3)                       # as a segfault or the OOM killer would end it
    return "second try"


def die() -> None:
    os._exit(3)


def refuse() -> None:
    raise ValueError("not a document")


def wait(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:                              # our child: reap it if it is a zombie
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return False


@pytest.fixture(params=["forkserver", "spawn"])
def pool(request):
    pool = WorkerPool(PoolSettings(workers=1, timeout_seconds=20, worker_nice=10,
                                   start_method=request.param))
    yield pool
    pool.close()


def test_jobs_run_in_a_worker_process_started_on_the_first_job(pool):
    assert pool.starts == 0 and pool.pids() == []          # nothing started yet
    pid, nice = pool.run(whoami)
    assert pid != os.getpid() and pool.pids() == [pid] and pool.starts == 1
    assert nice >= min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)   # below the server
    assert pool.run(whoami)[0] == pid                      # the same worker again
    assert pool.run(session) not in (os.getsid(0), 0)      # a CPU group of its own


def test_a_jobs_exception_is_raised_in_the_caller_and_the_pool_carries_on(pool):
    with pytest.raises(ValueError, match="not a document"):
        pool.run(refuse)
    assert pool.run(wait, 0) == 0 and pool.starts == 1


def test_a_worker_dying_mid_job_is_replaced_and_the_job_tried_once_more(pool, tmp_path):
    first = pool.run(whoami)[0]
    assert pool.run(die_once, str(tmp_path / "flag")) == "second try"
    assert pool.starts == 2 and gone(first)
    assert pool.run(whoami)[0] != first


def test_workers_dying_twice_is_a_clear_error_and_the_next_job_works(pool):
    with pytest.raises(PoolUnavailable, match="twice"):
        pool.run(die)
    assert pool.run(wait, 0) == 0


def test_an_idle_worker_killed_from_outside_is_replaced(pool):
    pid = pool.run(whoami)[0]
    os.kill(pid, signal.SIGKILL)
    assert gone(pid)
    assert pool.run(whoami)[0] not in (pid, os.getpid())


def test_a_stuck_job_times_out_and_its_worker_is_stopped():
    pool = WorkerPool(PoolSettings(workers=1, timeout_seconds=1, start_method="forkserver"))
    try:
        pid = pool.run(whoami)[0]
        with pytest.raises(JobTimeout):
            pool.run(wait, 60)
        assert gone(pid)                  # not left running the stuck job
        assert pool.run(whoami)[0] != pid
    finally:
        pool.close()


def test_close_stops_the_workers_and_refuses_new_jobs(pool):
    pid = pool.run(whoami)[0]
    pool.close()
    assert gone(pid) and pool.pids() == []
    with pytest.raises(PoolUnavailable):
        pool.run(whoami)
    pool.close()                          # twice is fine


def test_fork_is_refused():
    with pytest.raises(ValueError, match="spawn or forkserver"):
        WorkerPool(PoolSettings(start_method="fork"))


# ---- the cache ----------------------------------------------------------------------------

def test_cache_keeps_recent_items_within_its_byte_bound():
    cache = RenderCache(max_bytes=10)
    assert cache.get_or_make("a", lambda: b"aaaa") == b"aaaa"
    assert cache.get_or_make("b", lambda: b"bbbb") == b"bbbb"
    assert cache.get_or_make("a", lambda: b"other") == b"aaaa"     # a hit, a is recent
    cache.get_or_make("c", lambda: b"cccc")                         # 12 bytes: b goes
    assert cache.size == 8 and len(cache) == 2
    assert cache.get_or_make("b", lambda: b"BBBB") == b"BBBB"       # made again
    assert cache.get_or_make("big", lambda: b"x" * 11) == b"x" * 11  # too big to keep
    assert "big" not in cache._items and (cache.hits, cache.misses) == (1, 5)


def test_cache_makes_a_key_once_for_callers_asking_at_the_same_moment():
    cache, release, calls = RenderCache(1000), threading.Event(), []

    def make() -> bytes:
        calls.append(1)
        release.wait(10)
        return b"pdf"

    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_make("k", make)))
               for _ in range(4)]
    for t in threads:
        t.start()
    while not cache._making:
        time.sleep(0.01)
    time.sleep(0.1)                       # the other three are waiting on the first
    release.set()
    for t in threads:
        t.join(10)
    assert results == [b"pdf"] * 4 and calls == [1]


def test_cache_keeps_no_failure_and_the_waiters_get_the_error():
    cache = RenderCache(1000)

    def broken() -> bytes:
        raise PoolUnavailable("workers gone")

    with pytest.raises(PoolUnavailable):
        cache.get_or_make("k", broken)
    assert cache.get_or_make("k", lambda: b"ok") == b"ok" and not cache._making


def test_workers_of_a_killed_server_do_not_outlive_it(tmp_path):
    """A server killed without shutting its pool down (SIGKILL, the OOM killer): its workers
    notice and exit instead of waiting for jobs for good."""
    import subprocess
    import sys
    script = ("import sys, time\n"
              "from server.offload import PoolSettings, WorkerPool\n"
              "from tests.unit.test_offload import whoami\n"
              "pool = WorkerPool(PoolSettings(workers=2, start_method=sys.argv[1]))\n"
              "print(pool.run(whoami)[0], flush=True)\n"
              "time.sleep(600)\n")
    for method in ("forkserver", "spawn"):
        server = subprocess.Popen([sys.executable, "-c", script, method], stdout=subprocess.PIPE,
                                  text=True, cwd=os.path.dirname(os.path.dirname(
                                      os.path.dirname(os.path.abspath(__file__)))))
        try:
            worker = int(server.stdout.readline())
            os.kill(server.pid, signal.SIGKILL)
            server.wait(10)
            assert gone(worker, within_s=15), f"{method}: worker {worker} outlived its server"
        finally:
            if server.poll() is None:
                server.kill()


def test_jobs_running_when_the_pool_breaks_are_all_tried_again_once(tmp_path):
    """Four jobs on two workers when one worker dies: every caller sees the executor break,
    one replaces it, all four are tried again on the new one; none gets an internal error."""
    pool = WorkerPool(PoolSettings(workers=2, timeout_seconds=60))
    try:
        pool.run(whoami)
        flag = str(tmp_path / "flag")
        results, errors = [], []

        def job(n: int) -> None:
            try:
                results.append(pool.run(die_once, flag) if n == 0 else pool.run(wait, 0.5))
            except Exception as err:  # noqa: BLE001 - the assertion below names it
                errors.append(err)

        threads = [threading.Thread(target=job, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors and sorted(map(str, results)) == ["0.5"] * 3 + ["second try"]
        assert pool.starts == 2
    finally:
        pool.close()

