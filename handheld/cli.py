"""`wavepack-handheld`: the scanner client's command line."""
from __future__ import annotations

import json
import sys

import click

from handheld.decode import decode_image


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


if __name__ == "__main__":
    main()
