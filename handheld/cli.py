"""`wavepack-handheld`: the scanner client's command line.

`camera` and `wedge` emit each scan as a protocol `scan` message through a sink
(handheld.sink). Without `--server`: `JsonLinesSink`, one JSON line per scan on stdout
`{"scan_id", "raw", "symbology", "scanned_at"}`. With `--server URL --token T`: the
Socket.IO client (handheld.client) queues each scan on disk (`--queue`) and sends it;
each ack is printed as one JSON line `{"event", "scan_id", "ack"}`. `send` drains a
queue file left by an earlier run; `login` prints a token for a badge and PIN.

Bad input is one line `error: ...` on stderr and a non-zero exit, never a usage page or
a traceback (the command runs on handhelds and in scripts, where one line is read)."""
from __future__ import annotations

import functools
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import click

from handheld.camera import DEFAULT_DEBOUNCE_S, CameraError, scan_video
from handheld.client import (
    DEFAULT_ACK_TIMEOUT_S,
    ConnectRefused,
    Delivery,
    HandheldClient,
    HandheldError,
    ServerUnreachable,
    default_queue_path,
    login as badge_login,
)
from handheld.decode import decode_image
from handheld.queue import QueueError
from handheld.sink import ClientSink, JsonLinesSink, Sink, scan_message
from handheld.wedge import scans_from_lines, symbology_of

TOKEN_ENV = "WAVEPACK_HANDHELD_TOKEN"
EXIT_FAILED, EXIT_REFUSED = 1, 2


class Cli(click.Group):
    """Usage errors and client failures as one `error: ...` line, never a traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, **extra):  # noqa: ANN001
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as err:
            click.echo(f"error: {err.format_message()}", err=True)
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(EXIT_FAILED)
        except ConnectRefused as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_REFUSED)
        except (HandheldError, QueueError) as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_FAILED)
        sys.exit(rv if isinstance(rv, int) else 0)


def _server_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"{value!r} is not an http(s)://host[:port] URL",
                                 ctx=ctx, param=param)
    return value.rstrip("/")


def server_options(require_server: bool) -> Callable:
    """--server/--token/--handheld/--queue/--ack-timeout, shared by camera, wedge, send."""
    def decorate(f: Callable) -> Callable:
        options = [
            click.option("--server", callback=_server_url, required=require_server,
                         help="wavepack server URL; scans are sent there instead of printed"),
            click.option("--token", envvar=TOKEN_ENV, show_envvar=True,
                         help="picker token (from `wavepack-handheld login`)"),
            click.option("--handheld", default=None,
                         help="this handheld's name, stored with each scan (≤ 64 characters)"),
            click.option("--queue", "queue_path", type=click.Path(dir_okay=False),
                         required=require_server, default=None,
                         help=f"offline queue file [default: {default_queue_path()}]"),
            click.option("--ack-timeout", type=click.FloatRange(min=0.1),
                         default=DEFAULT_ACK_TIMEOUT_S, show_default=True,
                         help="seconds to wait for an ack before sending the scan again"),
        ]
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


def _check_server_options(server: str | None, token: str | None, device: str | None,
                          queue_path: str | None) -> None:
    if server is None:
        if queue_path is not None:
            raise click.UsageError("--queue needs --server")
        return
    if not token:
        raise click.UsageError(f"--server needs --token (or ${TOKEN_ENV})")
    if device is not None and not 1 <= len(device) <= 64:
        raise click.UsageError("--handheld must be 1 to 64 characters")


class AckPrinter:
    """Prints each ack as one JSON line (called on the client's sender thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self, delivery: Delivery) -> None:
        with self._lock:
            self.count += 1
            click.echo(json.dumps(delivery.as_json(), ensure_ascii=False))


def open_client(server: str, token: str, device: str | None, queue_path: str | None,
                ack_timeout: float, printer: AckPrinter) -> HandheldClient:
    """A client on the queue file, connected if the server is reachable (a warning on
    stderr if not: the scans are queued and sent when it is back); raises
    ConnectRefused for a token the server refuses."""
    client = HandheldClient(server, token, device, queue_path or default_queue_path(),
                            ack_timeout=ack_timeout, on_ack=printer)
    try:
        client.connect()
    except ServerUnreachable as err:
        click.echo(f"warning: {err}; scans are kept in {client.queue.path} and sent "
                   "when the server is back", err=True)
    except ConnectRefused:
        client.close()
        raise
    return client.start()


def make_sink(client: HandheldClient | None = None) -> Sink:
    """Where the scan commands send: the client when given, else stdout JSON lines."""
    return JsonLinesSink() if client is None else ClientSink(client)


def finish(client: HandheldClient | None, drain_timeout: float) -> None:
    """Wait for the outstanding acks (up to `drain_timeout` s); an error if some are
    missing: the scans stay in the queue file for `wavepack-handheld send`."""
    if client is None:
        return
    try:
        drained = client.wait_drained(drain_timeout)
        fatal, left, path = client.fatal, client.queue.pending_count(), client.queue.path
    finally:
        client.close()
    if fatal is not None:
        raise fatal
    if not drained:
        raise HandheldError(f"{left} message(s) still queued in {path} (server not "
                            "reachable); send them later with `wavepack-handheld send`")


def scan_command(f: Callable) -> Callable:
    """Adds the server options and --drain-timeout to a scanning command."""
    @server_options(require_server=False)
    @click.option("--drain-timeout", type=click.FloatRange(min=0.0), default=30.0,
                  show_default=True,
                  help="with --server: seconds to wait for outstanding acks at the end")
    @functools.wraps(f)
    def wrapper(server, token, handheld, queue_path, ack_timeout, drain_timeout, **kwargs):
        _check_server_options(server, token, handheld, queue_path)
        client = None
        if server is not None:
            client = open_client(server, token, handheld, queue_path, ack_timeout,
                                 AckPrinter())
        try:
            f(make_sink(client), client, **kwargs)
        except BaseException:
            if client is not None:
                client.close()
            raise
        finish(client, drain_timeout)
    return wrapper


@click.group(cls=Cli)
def main() -> None:
    """wavepack handheld tools."""


@main.command()
@click.argument("images", nargs=-1, required=True)
def decode(images: tuple[str, ...]) -> None:
    """Print one JSON line per IMAGE: {"file", "results": [{"format", "text", "gtin"}]}.

    An unreadable file gets a line with "error"; the exit code is then 1, after all files."""
    failed = False
    for path in images:
        try:
            results = decode_image(path)
        except ValueError as err:
            failed = True
            click.echo(json.dumps({"file": path, "error": str(err)}))
            continue
        click.echo(json.dumps({"file": path, "results": [
            {"format": r.format, "text": r.text, "gtin": r.gtin} for r in results]}))
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--device", required=True, help="camera index (0, 1, …) or a video file")
@click.option("--debounce", "debounce_s", type=click.FloatRange(min=0.0),
              default=DEFAULT_DEBOUNCE_S, show_default=True,
              help="seconds a code must be absent before it counts again")
@click.option("--max-frames", type=click.IntRange(min=1), default=None,
              help="stop after this many frames")
@click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True,
              help="decode every Nth frame")
@scan_command
def camera(sink: Sink, client: HandheldClient | None, device: str, debounce_s: float,
           max_frames: int | None, stride: int) -> None:
    """Scan with an OpenCV camera or a video file; one JSON line per debounced scan
    (with --server: one JSON line per ack).

    Exit code 2 with a message on stderr when the device cannot be opened."""
    try:
        for scan in scan_video(device, debounce_s=debounce_s, max_frames=max_frames,
                               stride=stride):
            sink.send(scan_message(scan.text, scan.format))
            _stop_if_refused(client)
    except CameraError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


@main.command()
@scan_command
def wedge(sink: Sink, client: HandheldClient | None) -> None:
    """Read a keyboard-wedge / serial scanner on stdin: one JSON line per scanned line
    (with --server: one JSON line per ack)."""
    try:
        for text in scans_from_lines(sys.stdin):
            sink.send(scan_message(text, symbology_of(text)))
            _stop_if_refused(client)
    except KeyboardInterrupt:
        pass


def _stop_if_refused(client: HandheldClient | None) -> None:
    # the token expired or was revoked mid-shift: say so now, not at the end of stdin
    if client is not None and client.fatal is not None:
        raise client.fatal


@main.command()
@server_options(require_server=True)
@click.option("--timeout", type=click.FloatRange(min=0.0), default=120.0, show_default=True,
              help="seconds to wait for every queued message to be acked")
def send(server: str, token: str | None, handheld: str | None, queue_path: str,
         ack_timeout: float, timeout: float) -> None:
    """Send the messages left in a queue file (in order), one JSON line per ack.

    Exit 0 when the queue is empty at the end; non-zero with a message when the server
    cannot be reached, refuses the token, or acks are still missing after --timeout."""
    _check_server_options(server, token, handheld, queue_path)
    if not Path(queue_path).is_file():
        raise click.UsageError(f"queue file not found: {queue_path}")
    printer = AckPrinter()
    client = HandheldClient(server, token, handheld, queue_path, ack_timeout=ack_timeout,
                            on_ack=printer)
    if client.queue.pending_count() == 0:
        client.close()
        click.echo("queue empty: nothing to send", err=True)
        return
    try:
        client.connect()
    except HandheldError:
        client.close()
        raise
    finish(client.start(), timeout)
    click.echo(f"sent {printer.count} message(s); queue empty", err=True)


@main.command()
@click.option("--server", callback=_server_url, required=True, help="wavepack server URL")
@click.option("--badge", required=True, help="badge number")
@click.option("--pin", required=True, help="PIN")
def login(server: str, badge: str, pin: str) -> None:
    """Log in with a badge and PIN; print the token (for --token / $WAVEPACK_HANDHELD_TOKEN)."""
    click.echo(badge_login(server, badge, pin)["token"])


if __name__ == "__main__":
    main()
