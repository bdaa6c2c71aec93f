"""`wavepack-handheld`: the scanner client's command line.

`camera` and `wedge` emit each scan as a protocol `scan` message through a sink
(handheld.sink): today `JsonLinesSink`, one JSON line per scan on stdout
`{"scan_id", "raw", "symbology", "scanned_at"}`; the Socket.IO sender with the offline
queue replaces it by returning another sink from `make_sink`."""
from __future__ import annotations

import json
import sys

import click

from handheld.camera import DEFAULT_DEBOUNCE_S, CameraError, scan_video
from handheld.decode import decode_image
from handheld.sink import JsonLinesSink, Sink, scan_message
from handheld.wedge import scans_from_lines, symbology_of


def make_sink() -> Sink:
    """The sink the scan commands send to (stdout JSON lines until the Socket.IO sender)."""
    return JsonLinesSink()


@click.group()
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
def camera(device: str, debounce_s: float, max_frames: int | None, stride: int) -> None:
    """Scan with an OpenCV camera or a video file; one JSON line per debounced scan.

    Exit code 2 with a message on stderr when the device cannot be opened."""
    sink = make_sink()
    try:
        for scan in scan_video(device, debounce_s=debounce_s, max_frames=max_frames,
                               stride=stride):
            sink.send(scan_message(scan.text, scan.format))
    except CameraError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


@main.command()
def wedge() -> None:
    """Read a keyboard-wedge / serial scanner on stdin: one JSON line per scanned line."""
    sink = make_sink()
    try:
        for text in scans_from_lines(sys.stdin):
            sink.send(scan_message(text, symbology_of(text)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
