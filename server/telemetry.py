"""Operations metrics for Prometheus (GET /metrics, api/metrics.py): the counters and
histograms the code increments where things happen, and the multi-process setup that lets
several processes (the web processes of `serve-prod` or systemd, `wavepack worker`) add up
in one scrape.

Multi-process mode (prometheus_client's): with PROMETHEUS_MULTIPROC_DIR set, every process
writes its values to memory-mapped files in that directory and a scrape of any web process
sums every file. The variable must be set before prometheus_client is first imported (it
picks its value class then), so the CLI calls `prepare()` at the top of `serve` and
`worker`, and `serve-prod` sets it for its children:

- the process that starts a deployment (serve-prod; `wavepack serve` with its workers, i.e.
  alone) empties the directory: a deployment's counters start at zero;
- a process that joins one (`serve --no-workers`, `worker`) only creates the directory if
  missing and marks the processes whose files are there but which are no longer alive
  dead (`mark_process_dead`: their live gauges stop counting; their counters stay, so a
  total never goes backwards while the deployment runs);
- every process marks itself dead when it exits cleanly.

Unset: the metrics live in this process's registry (`wavepack serve` with its workers as
threads is then the whole deployment; `serve --no-workers` would not see a worker's print
failures, which is why serve-prod and the systemd units set it).

Counters are incremented where the thing happens (the handheld handler times a scan's
verdict) or by after-commit event subscribers (`install`, server/events.py): never an
extra query in the pick-scan path. What lives in the database (queue depths, open
exceptions) is counted at scrape time by api/metrics.py's collector.
"""
from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
from pathlib import Path

from . import events

log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_FILE_PID = re.compile(r"_(\d+)\.db$")


# ---- the directory ----------------------------------------------------------------------

def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def prepare(*, fresh: bool) -> str | None:
    """Make PROMETHEUS_MULTIPROC_DIR (when set) ready for this process: emptied when this
    process starts the deployment (`fresh`), else created if missing and the files of
    processes no longer alive marked dead. Returns the directory (None: single process)."""
    path = multiprocess_dir()
    if path is None:
        return None
    folder = Path(path)
    if fresh:
        reset_dir(folder)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        mark_dead_processes(folder)
    atexit.register(_mark_self_dead, str(folder), os.getpid())
    return str(folder)


def reset_dir(folder: Path) -> None:
    """An empty directory for a new deployment (its files removed, the directory kept: it
    may be a mount point or belong to another user)."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # alive, someone else's
        return True
    return True


def mark_dead_processes(folder: Path) -> list[int]:
    """mark_process_dead for every process that left files in `folder` and is gone."""
    from prometheus_client import multiprocess
    pids = {int(m.group(1)) for f in folder.glob("*.db") if (m := _FILE_PID.search(f.name))}
    dead = sorted(p for p in pids if p != os.getpid() and not _alive(p))
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(folder))
    return dead


def mark_dead(pid: int, path: str | None) -> None:
    """A child of this process (serve-prod's) has exited: its live gauges stop counting."""
    if path and Path(path).is_dir():
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid, path)


def _mark_self_dead(path: str, pid: int) -> None:
    if os.getpid() == pid and Path(path).is_dir():     # not in a forked child
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid, path)


# ---- the metrics ------------------------------------------------------------------------

class _Metrics:
    """Made on first use (after the CLI has set the directory): prometheus_client chooses
    between in-memory and file-backed values when it is imported."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        from prometheus_client import disable_created_metrics
        disable_created_metrics()     # no `_created` series beside every counter
        # this process's own registry (single-process mode); in multi-process mode the
        # values go to the directory's files and the scrape reads those instead
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.scans = Counter(
            "wavepack_scans", "Pick scans stored, by verdict (counted after commit)",
            ["verdict", "warehouse"], registry=r)
        self.scan_seconds = Histogram(
            "wavepack_scan_verdict_seconds", "Server-side time of a handheld scan: the "
            "event reaching its handler to the ack leaving it, commit included",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r)
        self.handheld_errors = Counter(
            "wavepack_handheld_error_acks", "Handheld events answered with an error ack, "
            "by event and code", ["event", "code"], registry=r)
        self.labels_printed = Counter(
            "wavepack_labels_printed", "Print jobs the printer took and reported printed",
            registry=r)
        self.print_failures = Counter(
            "wavepack_print_failures", "Print tries that did not print, by reason "
            "(printer_not_ready with the printer's fault, cut_format, unconfirmed, "
            "max_attempts)", ["reason", "fault"], registry=r)
        self.webhook_rejections = Counter(
            "wavepack_webhook_rejections", "Webhook deliveries refused with a 4xx or 5xx, by "
            "webhook and cause (the error code of the answer)", ["source", "cause"],
            registry=r)
        self.console_events = Counter(
            "wavepack_console_events", "Events the console feed emitted or dropped (its "
            "queue full)", ["outcome"], registry=r)
        self.console_queue = Gauge(
            "wavepack_console_queue_depth", "Events waiting for the console feed's sender "
            "(summed over live processes)", registry=r, multiprocess_mode="livesum")
        self.console_connections = Gauge(
            "wavepack_console_connections", "Consoles connected (summed over live processes)",
            registry=r, multiprocess_mode="livesum")


_metrics: _Metrics | None = None


def metrics() -> _Metrics:
    global _metrics
    if _metrics is None:
        _metrics = _Metrics()
    return _metrics


def registry():
    """The registry a scrape reads this process's metrics from (multi-process: the files)."""
    from prometheus_client import CollectorRegistry
    if multiprocess_dir() is None:
        return metrics().registry
    from prometheus_client import multiprocess
    metrics()          # this process's series exist (at zero) before its first event
    scraped = CollectorRegistry(auto_describe=True)
    multiprocess.MultiProcessCollector(scraped)
    return scraped


# ---- after-commit subscribers -----------------------------------------------------------

def _on_scan(event: events.Event) -> None:
    metrics().scans.labels(str(event.data.get("verdict") or ""),
                           str(event.data.get("warehouse") or "")).inc()


def _on_printed(_event: events.Event) -> None:
    metrics().labels_printed.inc()


def _on_print_trouble(event: events.Event) -> None:
    metrics().print_failures.labels(str(event.data.get("reason") or ""),
                                    str(event.data.get("fault") or "")).inc()


def install() -> None:
    """Subscribe the counters to the event hook (once per process; create_app calls it)."""
    from .services.picking import SCAN_RECORDED
    from .services.print_queue import PRINT_JOB_PRINTED, PRINT_JOB_TROUBLE
    metrics()
    events.subscribe(SCAN_RECORDED, _on_scan)
    events.subscribe(PRINT_JOB_PRINTED, _on_printed)
    events.subscribe(PRINT_JOB_TROUBLE, _on_print_trouble)
