"""Operator commands that pull orders from storefronts (reconciliation for lost webhooks)."""
from __future__ import annotations

import click

from .cli import get_app, main


@main.group(name="pull")
def pull() -> None:
    """Pull orders from storefront APIs."""


@pull.command(name="woocommerce")
@click.argument("channel")
def pull_woocommerce(channel: str) -> None:
    """Fetch WooCommerce orders modified since the last pull of CHANNEL and apply them."""
    from . import settings
    from .services import woo_pull
    app = get_app()
    with app.app_context():
        from .store.db import db
        with db.connection_context():
            res = woo_pull.pull_woocommerce(channel, settings=settings.of(app))
    click.echo(f"pulled {res['fetched']} order(s) from {channel} modified after "
               f"{res['modified_after']}Z: {res['created']} created, {res['updated']} updated, "
               f"{res['unchanged']} unchanged, {res['duplicate']} duplicate, "
               f"{res['stale']} stale, {res['cancelled']} cancelled, "
               f"{res['exception']} exception, {res['rejected']} rejected")
    for err in res["errors"]:
        click.echo(f"  order {err['id']}: {err['code']}: {err['message']}", err=True)
