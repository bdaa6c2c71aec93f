"""`wavepack import orders|catalogue|stock FILE.csv`."""
from __future__ import annotations

import sys

import click

from .cli import get_app, main


@main.group(name="import")
def import_group() -> None:
    """Import CSV files."""


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


@import_group.command(name="orders")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--channel", default=None, help="channel name (default: the first native channel)")
@click.option("--dry-run", is_flag=True, help="check and report, store nothing")
def import_orders(file: str, channel: str | None, dry_run: bool) -> None:
    """Import orders (one row per order line). Exit 1 if any row was refused."""
    from . import settings
    from .services import channels, csv_import
    data = _read(file)
    app = get_app()
    with app.app_context():
        from .store.db import db
        with db.connection_context():
            ch = channels.get_channel(channel) if channel else csv_import.default_channel()
            total = max(1, data.count(b"\n"))
            with click.progressbar(length=total, label="importing", file=sys.stderr) as bar:
                report = csv_import.import_orders_csv(data, ch, "cli", dry_run=dry_run,
                                                      progress=bar.update,
                                                      settings=settings.of(app))
    for entry in report.lines:
        if entry["outcome"] == "rejected" or entry.get("reasons"):
            where = ",".join(str(n) for n in entry["lines"])
            for r in entry.get("reasons", []):
                at = r.get("line", where)
                click.echo(f"line {at} ({entry['order_ref']}): {entry['outcome']}"
                           f"{' invalid' if entry['outcome'] == 'created' else ''}: "
                           f"{r.get('field') or ''} {r['message']}".rstrip())
    prefix = "dry run: would have " if dry_run else ""
    click.echo(f"{prefix}created {report.created} (invalid {report.invalid}), "
               f"duplicate {report.duplicate}, rejected {report.rejected}")
    if report.rejected:
        sys.exit(1)


@import_group.command(name="catalogue")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--warehouse", default="main", help="warehouse whose bins the location column names")
def import_catalogue(file: str, warehouse: str) -> None:
    """Import products (sku,gtin,name,unit_weight_g,location)."""
    from .services import csv_import
    with get_app().app_context():
        from .store.db import db
        with db.connection_context():
            result = csv_import.import_catalogue_csv(_read(file), "cli", warehouse)
    _report_rows(result, "products")


@import_group.command(name="stock")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_stock(file: str) -> None:
    """Import stock counts (warehouse,location,sku,quantity): sets on-hand per location."""
    from . import settings
    from .services import csv_import
    app = get_app()
    with app.app_context():
        from .store.db import db
        with db.connection_context():
            result = csv_import.import_stock_csv(_read(file), "cli", settings=settings.of(app))
    _report_rows(result, "stock rows")


def _report_rows(result: dict, what: str) -> None:
    for e in result["rejected"]:
        click.echo(f"line {e['line']}: {e.get('field') or ''} {e['message']}".replace("  ", " "))
    click.echo(f"imported {result['imported']} {what}, rejected {len(result['rejected'])}")
    if result["rejected"]:
        sys.exit(1)
