"""A fake ZPL printer on TCP, for tests and the demo.

It keeps every complete `^XA…^XZ` format it receives (`jobs`, in order), answers `~HS`
(anywhere in the stream, as a printer does with tilde commands) from its state, and can be
set to misbehave the ways real printers do:

- `paused`, `paper_out`, `head_open`: reported by ~HS; formats received meanwhile are
  kept in `jobs` but count as waiting in the buffer, and move to `printed` on `resume()`;
- `silent`: no ~HS reply at all (some printers, when faulted);
- `delay_s`: waits that long before each read (a slow or busy printer);
- `drop_after`: closes the connection (with a reset) after reading that many bytes of a
  job, and then reports a partial format until the next complete one arrives.

    with FakePrinter() as printer:          # 127.0.0.1, a free port
        open_printer(printer.url).send(b"^XA^XZ")

`python -m printers.fake --port 9100 [--paused] [--paper-out] ...` runs one in the
foreground (the demo).
"""
from __future__ import annotations

import argparse
import socket
import struct
import threading
import time

from printers.status import HS_COMMAND, PrinterStatus, format_host_status

_START, _END = b"^XA", b"^XZ"


class FakePrinter:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, paused: bool = False,
                 paper_out: bool = False, head_open: bool = False, silent: bool = False,
                 delay_s: float = 0.0, drop_after: int | None = None):
        self.host, self._port = host, port
        self.paused, self.paper_out, self.head_open = paused, paper_out, head_open
        self.silent, self.delay_s, self.drop_after = silent, delay_s, drop_after
        self.jobs: list[bytes] = []        # every complete format received, in order
        self.printed: list[bytes] = []     # those printed (received while not faulted)
        self.dropped = 0                   # connections closed mid-job
        self.status_requests = 0
        self.partial_format = False
        self._waiting: list[bytes] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._running = False

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.getsockname()[1] if self._server else self._port

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def start(self) -> FakePrinter:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((self.host, self._port))
        server.listen(16)
        server.settimeout(0.2)
        self._server, self._running = server, True
        self._thread = threading.Thread(target=self._accept_loop, name="fake-printer",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        if self._thread:
            self._thread.join(timeout=5)
        if self._server:
            self._server.close()

    def __enter__(self) -> FakePrinter:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- state --------------------------------------------------------------------------
    @property
    def faulted(self) -> bool:
        return self.paused or self.paper_out or self.head_open

    def status(self) -> PrinterStatus:
        with self._lock:
            return PrinterStatus(paper_out=self.paper_out, paused=self.paused,
                                 head_open=self.head_open, label_length_dots=1218,
                                 formats_in_buffer=len(self._waiting),
                                 partial_format=self.partial_format,
                                 labels_remaining=len(self._waiting))

    def resume(self) -> None:
        """Clear paused / paper out / head open and print what waited in the buffer."""
        with self._lock:
            self.paused = self.paper_out = self.head_open = False
            self.printed.extend(self._waiting)
            self._waiting.clear()

    def wait_for_jobs(self, count: int, timeout: float = 10.0) -> list[bytes]:
        """The jobs once at least `count` arrived (or what arrived by the timeout)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.jobs) >= count, timeout=timeout)
            return list(self.jobs)

    # -- connections --------------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._server is not None
        while self._running:
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer, received = b"", 0
        conn.settimeout(30)
        try:
            while self._running:
                if self.delay_s:
                    time.sleep(self.delay_s)
                chunk = conn.recv(4096)
                if not chunk:
                    break
                buffer += chunk
                buffer = self._answer_status(conn, buffer)
                received += len(chunk)
                if self.drop_after is not None and _START in buffer \
                        and received >= self.drop_after:
                    self._drop(conn)
                    return
                buffer = self._take_formats(buffer)
        except OSError:
            pass
        conn.close()

    def _answer_status(self, conn: socket.socket, buffer: bytes) -> bytes:
        while HS_COMMAND in buffer:
            buffer = buffer.replace(HS_COMMAND, b"", 1)
            with self._lock:
                self.status_requests += 1
            if not self.silent:
                conn.sendall(format_host_status(self.status()))
        return buffer

    def _take_formats(self, buffer: bytes) -> bytes:
        while True:
            start = buffer.find(_START)
            end = buffer.find(_END, start + len(_START)) if start >= 0 else -1
            if end < 0:
                return buffer
            job = buffer[start:end + len(_END)]
            buffer = buffer[end + len(_END):]
            with self._changed:
                self.jobs.append(job)
                self.partial_format = False
                (self._waiting if self.faulted else self.printed).append(job)
                self._changed.notify_all()

    def _drop(self, conn: socket.socket) -> None:
        # counted before the close: the client sees the reset at once and may look at once
        with self._lock:
            self.dropped += 1
            self.partial_format = True
        # linger 0: close with a reset, as a printer that loses the link does
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m printers.fake",
                                     description="A fake ZPL printer on TCP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--paused", action="store_true")
    parser.add_argument("--paper-out", action="store_true")
    parser.add_argument("--head-open", action="store_true")
    parser.add_argument("--silent", action="store_true", help="never answer ~HS")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each read")
    parser.add_argument("--drop-after", type=int, default=None,
                        help="close the connection after this many bytes of a job")
    args = parser.parse_args(argv)
    printer = FakePrinter(args.host, args.port, paused=args.paused,
                          paper_out=args.paper_out, head_open=args.head_open,
                          silent=args.silent, delay_s=args.delay, drop_after=args.drop_after)
    printer.start()
    print(f"fake ZPL printer on {printer.url} (Ctrl-C to stop)", flush=True)
    seen = 0
    try:
        while True:
            jobs = printer.wait_for_jobs(seen + 1, timeout=1.0)
            for number, job in enumerate(jobs[seen:], start=seen + 1):
                print(f"job {number}: {len(job)} bytes", flush=True)
            seen = len(jobs)
    except KeyboardInterrupt:
        pass
    finally:
        printer.stop()


__all__ = ["FakePrinter", "main"]

if __name__ == "__main__":
    main()
