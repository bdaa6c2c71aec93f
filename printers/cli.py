"""`wavepack-print`: the printer library's command line.

    wavepack-print status URL            the parsed state as JSON on stdout;
                                         exit 0 ready, 1 fault, 2 no reply (offline)
    wavepack-print send URL FILE.zpl     status, send, status again; JSON on stdout when
                                         printed, else `error: <reason>` and exit 1 (fault)
                                         or 2 (offline / no reply / connection dropped)

URL is `tcp://host:port`, `cups://queue` or `file:///path`. Bad input (unknown URL, a
missing file) is one line `error: ...` on stderr and exit 64, never a usage page or a
traceback.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from printers.drivers import DEFAULT_TIMEOUT_S, open_printer, print_checked
from printers.status import (
    BadPrinterUrl,
    PrinterError,
    PrinterFault,
    PrinterOffline,
    StatusParseError,
)

EXIT_READY, EXIT_FAULT, EXIT_OFFLINE, EXIT_USAGE = 0, 1, 2, 64


class Cli(click.Group):
    """Usage errors and printer failures as one `error: ...` line."""

    def main(self, args=None, prog_name=None, complete_var=None, **extra):  # noqa: ANN001
        if not (sys.argv[1:] if args is None else args):
            click.echo("error: missing command: status URL | send URL FILE.zpl "
                       "(--help for more)", err=True)
            sys.exit(EXIT_USAGE)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except (click.ClickException, BadPrinterUrl) as err:
            message = err.format_message() if isinstance(err, click.ClickException) else err
            click.echo(f"error: {message}", err=True)
            sys.exit(EXIT_USAGE)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(EXIT_FAULT)
        except PrinterOffline as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_OFFLINE)
        except PrinterError as err:   # faults, malformed status replies
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_FAULT)
        sys.exit(rv if isinstance(rv, int) else 0)


_timeout = click.option("--timeout", type=click.FloatRange(min=0.05), default=DEFAULT_TIMEOUT_S,
                        show_default=True, help="seconds to wait for the printer")


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Print ZPL labels and read printer status (tcp://, cups://, file:// URLs)."""


@main.command()
@click.argument("url")
@_timeout
def status(url: str, timeout: float) -> int:
    """Print the printer's state as JSON; exit 0 ready, 1 fault, 2 no reply."""
    printer = open_printer(url, timeout=timeout)
    try:
        state = printer.status()
    except PrinterOffline as err:
        _emit({"url": printer.url, "online": False, "ready": False, "faults": ["offline"],
               "error": str(err)})
        return EXIT_OFFLINE
    except StatusParseError as err:
        _emit({"url": printer.url, "online": True, "ready": False,
               "faults": ["bad_status_reply"], "error": str(err)})
        return EXIT_FAULT
    _emit({"url": printer.url, **state.to_dict()})
    return EXIT_READY if state.ready else EXIT_FAULT


@main.command()
@click.argument("url")
@click.argument("zpl_file", metavar="FILE.zpl",
                type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@_timeout
def send(url: str, zpl_file: Path, timeout: float) -> int:
    """Check status, send FILE.zpl, check again; non-zero unless it printed."""
    data = zpl_file.read_bytes()
    if not data.strip():
        raise click.UsageError(f"{zpl_file} is empty")
    printer = open_printer(url, timeout=timeout)
    try:
        result = print_checked(printer, data)
    except PrinterFault as err:
        click.echo(f"error: {err}", err=True)
        return EXIT_FAULT
    _emit({"url": result.url, "printed": True, "bytes": result.bytes_sent,
           "job_id": result.job_id, "status": result.status_after.to_dict()})
    return EXIT_READY


def _emit(payload: dict) -> None:
    click.echo(json.dumps(payload, sort_keys=True))


if __name__ == "__main__":
    main()
