"""Printer drivers, one per URL scheme, behind `open_printer(url)`:

- `tcp://host:port` raw TCP (port 9100 by default): the bytes on one connection,
  status by `~HS` on the same port.
- `cups://queue` a CUPS (raw) queue through the `zebra` package. zebra runs
  `lpr -P<queue> -oraw` and never checks the result, so the driver finds the job id
  itself (`lpstat -W all -o`), waits until the job left the queue, and reports a
  stopped or rejecting queue, a held job or a job that did not complete as a fault. A job
  still stuck when the timeout ends is cancelled, so a retry can never print it twice.
  When the queue's device is `socket://host:port` its `~HS` status is checked as well.
- `file:///path` appends the bytes to a file (for the demo and tests); always ready.

`print_checked` is the safe way to print: status before, send, status after; any fault
raises, so nothing is reported printed that was not.
"""
from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from printers.status import (
    BadPrinterUrl,
    PrinterError,
    PrinterFault,
    PrinterOffline,
    PrinterStatus,
    query_status,
)

__all__ = [
    "BadPrinterUrl", "CupsDriver", "FileDriver", "PrinterError", "PrinterFault",
    "PrinterOffline", "PrintResult", "TcpDriver", "open_printer", "print_checked",
]

DEFAULT_PORT = 9100
DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PrintResult:
    url: str
    bytes_sent: int
    job_id: str | None
    status_after: PrinterStatus


class TcpDriver:
    """A ZPL printer on a raw TCP port."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, timeout: float = DEFAULT_TIMEOUT_S):
        self.host, self.port, self.timeout = host, port, timeout
        self.url = f"tcp://{host}:{port}"

    def status(self) -> PrinterStatus:
        return query_status(self.host, self.port, self.timeout)

    def send(self, data: bytes) -> str | None:
        """Send one job on its own connection and wait until the printer has read all
        of it (it closes its side after our end of stream). A reset or a close before
        that means the job was cut: PrinterOffline."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as err:
            raise PrinterOffline(f"printer {self.url} unreachable: {err}") from err
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            # the printer closes after reading our end of stream; waiting for that close
            # is what tells a job read in full from one still in (or lost from) the kernel
            while sock.recv(4096):
                pass
        except TimeoutError as err:
            raise PrinterOffline(
                f"printer {self.url} did not take the job within {self.timeout:g} s "
                "(it may still print it: check before resending)") from err
        except OSError as err:
            raise PrinterOffline(f"printer {self.url} dropped the connection mid-job: "
                                 f"{err}") from err
        finally:
            sock.close()
        return None


class FileDriver:
    """Appends each job to a file; its status is always ready."""

    def __init__(self, path: Path):
        self.path = path
        self.url = f"file://{path}"

    def status(self) -> PrinterStatus:
        if not self.path.parent.is_dir():
            raise PrinterOffline(f"{self.path.parent} is not a directory")
        return PrinterStatus()

    def send(self, data: bytes) -> str | None:
        try:
            with self.path.open("ab") as out:
                out.write(data)
        except OSError as err:
            raise PrinterOffline(f"cannot write {self.path}: {err}") from err
        return None


_JOB_LINE = re.compile(r"^(?P<id>\S+-(?P<n>\d+))\s+(?P<user>\S+)\s")
_BAD_JOB_ALERTS = ("canceled", "cancelled", "aborted", "stopped", "held", "hold")


class CupsDriver:
    """A CUPS queue, printed to through the `zebra` package (lpr -oraw)."""

    POLL_S = 0.05

    def __init__(self, queue: str, timeout: float = DEFAULT_TIMEOUT_S):
        self.queue, self.timeout = queue, timeout
        self.url = f"cups://{queue}"

    # -- lpstat -------------------------------------------------------------------------
    def _lpstat(self, *args: str) -> str:
        if shutil.which("lpstat") is None:
            raise PrinterOffline("CUPS client tools (lpstat) are not installed")
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        try:
            done = subprocess.run(["lpstat", *args], capture_output=True, text=True,
                                  env=env, timeout=self.timeout)
        except subprocess.TimeoutExpired as err:
            raise PrinterOffline(f"CUPS did not answer within {self.timeout:g} s") from err
        if done.returncode != 0 and not done.stdout:
            message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
            if "does not exist" in message or "Invalid destination" in message:
                raise PrinterFault(f"CUPS queue {self.queue!r} does not exist",
                                   ["queue_missing"])
            raise PrinterOffline(f"CUPS: {message or 'lpstat failed'}")
        return done.stdout

    def _jobs(self, which: str) -> dict[str, tuple[str, str]]:
        """job id -> (user, alerts/status text) for this queue."""
        jobs: dict[str, tuple[str, str]] = {}
        current = None
        for line in self._lpstat("-l", "-W", which, "-o", self.queue).splitlines():
            m = _JOB_LINE.match(line)
            if m and m["id"].rsplit("-", 1)[0] == self.queue:
                current = m["id"]
                jobs[current] = (m["user"], "")
            elif current and line.startswith("\t"):
                user, text = jobs[current]
                jobs[current] = (user, (text + " " + line.strip()).strip())
        return jobs

    def _queue_faults(self) -> tuple[list[str], str]:
        """Fault codes of the queue, and the reason CUPS gives (the printer-state message)."""
        faults = []
        state = self._lpstat("-p", self.queue)
        reason = " ".join(state.split("\n", 1)[1].split()) if "\n" in state.strip() else ""
        if f"printer {self.queue} disabled" in state:
            faults.append("queue_stopped")
        if "not accepting" in self._lpstat("-a", self.queue):
            faults.append("queue_rejecting")
        for text in (t for _, t in self._jobs("not-completed").values()):
            if "hold" in text or "held" in text:
                faults.append("job_held")
                break
        return faults, reason

    def _device(self) -> tuple[str, int] | None:
        line = self._lpstat("-v", self.queue)
        m = re.search(r"socket://([^:/\s]+)(?::(\d+))?", line)
        return (m[1], int(m[2] or DEFAULT_PORT)) if m else None

    # -- driver -------------------------------------------------------------------------
    def status(self) -> PrinterStatus:
        faults, reason = self._queue_faults()
        device = self._device()
        base = query_status(*device, self.timeout) if device else PrinterStatus()
        return base.with_faults(*faults, message=reason) if faults else base

    def send(self, data: bytes) -> str | None:
        from zebra import Zebra

        me = getpass.getuser()
        before = set(self._jobs("all"))
        Zebra(self.queue).output(data)   # lpr; its exit code is lost, hence the checks
        new = [j for j, (user, _) in self._jobs("all").items()
               if j not in before and user == me]
        if not new:
            faults, reason = self._queue_faults()
            raise PrinterFault(f"CUPS did not queue the job on {self.queue!r}"
                               + (f": {', '.join(faults)} {reason}".rstrip() if faults else ""),
                               faults or ["not_queued"])
        job = max(new, key=lambda j: int(j.rsplit("-", 1)[1]))
        self._wait_done(job)
        return job

    def _wait_done(self, job: str) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            pending = self._jobs("not-completed")
            if job not in pending:
                break
            text = pending[job][1]
            if ("hold" in text or "held" in text) or time.monotonic() >= deadline:
                faults = self._queue_faults()[0] or ["job_not_completed"]
                self._cancel(job)
                raise PrinterFault(f"CUPS job {job} not printed ({text or 'pending'}); "
                                   "cancelled so that it cannot print later", faults)
            time.sleep(self.POLL_S)
        text = self._jobs("completed").get(job, ("", "job-missing"))[1]
        if any(word in text for word in _BAD_JOB_ALERTS) or "job-missing" in text:
            raise PrinterFault(f"CUPS job {job} did not complete: {text}", ["job_failed"])

    def _cancel(self, job: str) -> None:
        subprocess.run(["cancel", job], capture_output=True, timeout=self.timeout,
                       env={**os.environ, "LC_ALL": "C"})


Driver = TcpDriver | CupsDriver | FileDriver


def open_printer(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> Driver:
    """The driver for `tcp://host[:port]`, `cups://queue` or `file:///path`."""
    parts = urlsplit(url)
    if parts.scheme == "tcp":
        if not parts.hostname:
            raise BadPrinterUrl(f"{url!r}: tcp:// needs a host (tcp://host:9100)")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as err:
            raise BadPrinterUrl(f"{url!r}: bad port") from err
        return TcpDriver(parts.hostname, port, timeout)
    if parts.scheme == "cups":
        queue = unquote(parts.netloc or parts.path.lstrip("/"))
        if not queue or not re.fullmatch(r"[A-Za-z0-9_.@-]+", queue):
            raise BadPrinterUrl(f"{url!r}: cups:// needs a queue name (cups://label1)")
        return CupsDriver(queue, timeout)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise BadPrinterUrl(f"{url!r}: file:// needs an absolute path (file:///tmp/x.zpl)")
        return FileDriver(Path(unquote(parts.path)))
    raise BadPrinterUrl(f"{url!r}: unknown printer URL (tcp://host:port, cups://queue, "
                        "file:///path)")


def print_checked(printer: Driver, data: bytes) -> PrintResult:
    """Status, send, status: raises PrinterFault/PrinterOffline unless the printer was
    ready before, took every byte, and is still without fault after."""
    before = printer.status()
    if not before.ready:
        raise PrinterFault(f"not sent: printer {printer.url} reports "
                           f"{', '.join(before.faults)}{_why(before)}", before.faults, before)
    job_id = printer.send(data)
    after = printer.status()
    faults = after.faults + (["partial_format"] if after.partial_format else [])
    if faults:
        raise PrinterFault(f"sent, but printer {printer.url} now reports "
                           f"{', '.join(faults)}{_why(after)}: the label may not have printed",
                           faults, after)
    return PrintResult(printer.url, len(data), job_id, after)


def _why(status: PrinterStatus) -> str:
    return f" ({status.message})" if status.message else ""
