"""CPU-heavy work off the request path: a pool of worker processes, and a cache of what
they made.

Why: `wavepack serve` runs every request and every handheld's Socket.IO events on one
gevent hub in one thread. A packing slip took ~1 s of CPU (2-4 s on a loaded machine);
drawn in a request it stalled every handheld on the floor for that long. Now the request
hands the drawing to a worker process and waits for it in a way that yields to the hub.

- Processes, not threads: the work is pure Python (fpdf2, fontTools) and holds the GIL.
- Started lazily, on the first job, with the 'spawn' (or 'forkserver') start method: a
  fresh interpreter, never a fork of this gevent-patched process (a forked hub, its
  sockets and its locks are not safe to use). 'spawn' is the default because starting a
  worker then never waits in the event loop: the parent execs the child and hands it its
  start data through a pipe, while a forkserver start waits (in a blocking read, in the
  hub) until the forkserver has forked, and for its imports the first time (measured:
  the event loop stalled ~7 s starting the pool on a loaded machine). Workers run at a
  lower CPU priority (`worker_nice`), each in a session of its own (autogroups: see
  `_own_cpu_group`), so a busy pool cannot starve the hub of the cores it shares.
- Waiting: ``Future.result()``. Under `wavepack serve` threading is gevent-patched, so the
  wait is a gevent wait and the hub keeps serving; in threads (tests, `flask run`) it blocks
  the calling thread only.
- A worker that died (crash, OOM kill) breaks the executor: it is replaced and the job tried
  once more; a second failure is :class:`PoolUnavailable` (HTTP 503), never a 500. A job
  over `timeout_seconds` is :class:`JobTimeout` (503) and the pool is replaced, which stops
  the stuck worker.
- `close_pools()` (at exit, and when `wavepack serve` stops) cancels queued jobs, waits for
  running ones and stops the workers.

:class:`RenderCache` keeps what was made, keyed by everything it depends on, bounded in bytes
(least recently used out first), and runs one job for callers asking for the same key at the
same moment.
"""
from __future__ import annotations

import atexit
import collections
import logging
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable

log = logging.getLogger(__name__)
START_ALLOWANCE_S = 60.0   # a job that starts the pool waits for the workers' start too


class PoolUnavailable(RuntimeError):
    """The worker pool could not run the job (its workers died twice in a row)."""


class JobTimeout(RuntimeError):
    """The job did not finish within the pool's timeout."""


@dataclass(frozen=True)
class PoolSettings:
    workers: int = 2
    timeout_seconds: float = 30.0
    worker_nice: int = 5
    max_jobs_per_worker: int = 500
    start_method: str = "spawn"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:                      # a server that died but was not reaped yet (Linux)
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _watch_server(pid: int) -> None:
    """Exit once the server is gone. A worker waits for jobs on a queue it holds both ends
    of, so a server killed without shutting its pool down (SIGKILL, OOM) would otherwise
    leave its workers (and the forkserver, which lives while they do) behind for good."""
    while _alive(pid):
        time.sleep(1.0)
    os._exit(0)


def _own_cpu_group(priority: int) -> None:
    """A session of its own at `priority`, for Linux's autogroup scheduling (shell sessions,
    desktops, this CI; a systemd service's cgroup is not affected): nice only ranks tasks
    inside one group, and a worker busy in the server's group used up that group's CPU
    share, so handheld requests waited for the other groups' turns. Measured on the shared
    2-core machine, 4 stations drawing back to back: scan median ~2.5x in the server's
    group (worker nice 10 or 19 alike); in groups of their own at the default weight ~1.3x
    to 2.7x (two worker groups outweighed the server's one); at nice 5 ~1.0x, PDFs ~5 s;
    at nice 10 the workers starved among the other groups and documents timed out."""
    try:
        os.setsid()
        with open("/proc/self/autogroup", "w", encoding="ascii") as f:
            f.write(str(priority))
    except OSError:              # not Linux, no autogroup, or not allowed: as it was
        pass


def _worker_start(priority: int, warm: Callable[[], Any] | None, server_pid: int) -> None:
    """In each new worker: watch the server, lower its CPU priority, then load what every
    job needs."""
    threading.Thread(target=_watch_server, args=(server_pid,), name="watch-server",
                     daemon=True).start()
    try:                         # absolute: a replaced worker must not go lower each time
        if os.getpriority(os.PRIO_PROCESS, 0) < priority:
            os.setpriority(os.PRIO_PROCESS, 0, priority)
    except OSError:              # not allowed here: run at the server's priority
        pass
    _own_cpu_group(priority)
    if warm is not None:
        try:
            warm()
        except Exception as err:  # noqa: BLE001 - the job itself will report it
            log.warning("worker warm-up failed: %s", err)


_starting = threading.Lock()     # worker process starts and pool teardowns, one at a time


class WorkerPool:
    """A ProcessPoolExecutor that starts on the first job and replaces itself when broken."""

    def __init__(self, settings: PoolSettings, warm: Callable[[], Any] | None = None):
        if settings.start_method not in multiprocessing.get_all_start_methods() \
                or settings.start_method == "fork":
            raise ValueError(f"documents.start_method must be spawn or forkserver, "
                             f"got {settings.start_method!r}")
        self.settings = settings
        self._warm = warm
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.starts = 0            # executors started (1 + replacements)
        self.jobs = 0

    def _current(self) -> tuple[ProcessPoolExecutor, bool]:
        """The executor, and whether this call started it."""
        with self._lock:
            if self._closed:
                raise PoolUnavailable("the worker pool is shut down")
            if self._executor is None:
                s = self.settings
                context = multiprocessing.get_context(s.start_method)
                if s.start_method == "forkserver":
                    context.set_forkserver_preload(["printers.documents"])
                extra = {"max_tasks_per_child": s.max_jobs_per_worker} \
                    if s.max_jobs_per_worker > 0 else {}
                self._executor = ProcessPoolExecutor(
                    max_workers=s.workers, mp_context=context, initializer=_worker_start,
                    initargs=(min(19, os.getpriority(os.PRIO_PROCESS, 0)
                                  + max(0, s.worker_nice)), self._warm, os.getpid()),
                    **extra)
                self.starts += 1
                return self._executor, True
            return self._executor, False

    def _replace(self, broken: ProcessPoolExecutor, why: str) -> None:
        """Drop `broken` and stop its workers, once: the jobs that were running on it all
        see it break, and the first of them replaces it."""
        with self._lock:
            if self._executor is not broken:
                return                       # replaced already
            self._executor = None
        log.warning("document worker pool replaced: %s", why)
        # a stuck worker is terminated (the executor has no public way to stop one)
        with _starting:
            for proc in list((getattr(broken, "_processes", None) or {}).values()):
                if proc.is_alive():
                    proc.terminate()
            broken.shutdown(wait=False, cancel_futures=True)

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` in a worker process; its exception is raised here."""
        for attempt in (1, 2):
            executor, started = self._current()
            try:
                # submit starts worker processes on demand: one start at a time across all
                # pools, since a start racing another thread's (or a replaced pool's pipes
                # closing) can hand the child a closed descriptor ("bad value(s) in
                # fds_to_keep"); such a refusal replaces the executor like a broken one
                with _starting:
                    future = executor.submit(fn, *args, **kwargs)
            except (RuntimeError, ValueError, OSError) as err:  # broken, or shut down meanwhile
                self._replace(executor, f"it refused a job ({err})")
                if attempt == 2:
                    raise PoolUnavailable("the document workers stopped twice in a row; "
                                          "try again") from None
                continue
            self.jobs += 1
            try:                             # (a job's own RuntimeError passes through)
                return future.result(timeout=self.settings.timeout_seconds
                                     + (START_ALLOWANCE_S if started else 0))
            except BrokenProcessPool as err:
                self._replace(executor, f"a worker died ({err})")
                if attempt == 2:
                    raise PoolUnavailable("the document workers stopped twice in a row; "
                                          "try again") from None
            except FutureTimeout:
                if not future.cancel():      # running: its worker is stuck, stop it
                    self._replace(executor, f"a job ran over "
                                            f"{self.settings.timeout_seconds:g} s")
                raise JobTimeout(f"not done within {self.settings.timeout_seconds:g} s") \
                    from None
        raise AssertionError("unreachable")

    def pids(self) -> list[int]:
        """Process ids of the live workers (tests and diagnostics)."""
        executor = self._executor
        return [p.pid for p in (getattr(executor, "_processes", None) or {}).values()
                if p.is_alive()] if executor else []

    def close(self) -> None:
        """Cancel queued jobs, wait for running ones, stop the workers (idempotent)."""
        with self._lock:
            executor, self._executor, self._closed = self._executor, None, True
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _on_gevent() -> bool:
    if "gevent.monkey" not in sys.modules:
        return False
    from gevent import monkey
    return monkey.is_module_patched("threading")


def beside_the_loop(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` in one of gevent's native threads when this process runs on gevent, so C
    code that releases the GIL (argon2's PIN hashing: 64 MiB and ~0.1 s of CPU, over 1 s on
    a loaded machine) runs beside the event loop instead of stopping it; called directly
    otherwise (request threads already run side by side)."""
    if _on_gevent():
        import gevent
        return gevent.get_hub().threadpool.apply(fn, args)
    return fn(*args)


_pools: dict[tuple, WorkerPool] = {}
_pools_lock = threading.Lock()


def shared_pool(settings: PoolSettings, warm: Callable[[], Any] | None = None) -> WorkerPool:
    """The process's pool for these settings (apps built with the same settings, as tests
    build many, share one; nothing starts until the first job)."""
    key = (settings, warm)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool._closed:
            pool = _pools[key] = WorkerPool(settings, warm)
        return pool


def close_pools() -> None:
    """Shut every pool of this process down (at exit; `wavepack serve` on SIGTERM)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


atexit.register(close_pools)


class RenderCache:
    """What the workers made, by key: least recently used out first once over `max_bytes`.
    Callers asking for a key being made at that moment wait for that one job."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._size = 0
        self._making: dict[str, Future] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_or_make(self, key: str, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            pending = self._making.get(key)
            if pending is None:
                pending = self._making[key] = Future()
                self.misses += 1
                mine = True
            else:
                self.hits += 1
                mine = False
        if not mine:
            return pending.result()
        try:
            value = make()
        except BaseException as err:
            with self._lock:
                del self._making[key]
            pending.set_exception(err)
            raise
        with self._lock:
            del self._making[key]
            self._store(key, value)
        pending.set_result(value)
        return value

    def _store(self, key: str, value: bytes) -> None:
        if len(value) > self.max_bytes:
            return
        self._items[key] = value
        self._size += len(value)
        while self._size > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._size -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        return self._size


__all__ = ["JobTimeout", "PoolSettings", "PoolUnavailable", "RenderCache", "WorkerPool",
           "beside_the_loop", "close_pools", "shared_pool"]
