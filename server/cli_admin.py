"""Operator commands for channels, users, tokens, warehouses and jobs."""
from __future__ import annotations

import click

from .cli import get_app, main


@main.group(name="channel")
def channel_group() -> None:
    """Storefront channels."""


@channel_group.command(name="add")
@click.argument("name")
@click.option("--kind", type=click.Choice(["shopify", "woocommerce", "native"]), required=True)
@click.option("--secret", default="", help="webhook signing secret (Shopify/WooCommerce)")
@click.option("--allow-split", is_flag=True, help="orders may ship from several warehouses")
@click.option("--currency", default="", help="the only currency this channel sells in")
@click.option("--url", "base_url", default="",
              help="shop URL (WooCommerce pulls; Shopify/WooCommerce fulfilments)")
@click.option("--consumer-key", default="", help="WooCommerce REST consumer key")
@click.option("--consumer-secret", default="", help="WooCommerce REST consumer secret")
@click.option("--access-token", default="",
              help="Shopify Admin API access token (fulfilments go back with it)")
@click.option("--callback-url", default="", help="native channels: fulfilment callback URL")
def channel_add(name, kind, secret, allow_split, currency, base_url, consumer_key,
                consumer_secret, access_token, callback_url) -> None:
    """Add a storefront channel."""
    from .services import channels
    if access_token:
        if kind != "shopify" or consumer_secret:
            raise click.UsageError("--access-token is for Shopify channels only")
        consumer_secret = access_token      # the outbox reads Shopify's token from api_secret
    with get_app().app_context():
        from .store.db import db
        with db.connection_context():
            cid = channels.add_channel(name, kind, secret=secret, allow_split=allow_split,
                                       currency=currency, base_url=base_url,
                                       api_key=consumer_key, api_secret=consumer_secret,
                                       callback_url=callback_url)
    click.echo(f"channel {name} ({kind}) added, id {cid}")


@main.group(name="user")
def user_group() -> None:
    """Warehouse staff."""


@user_group.command(name="add")
@click.argument("badge")
@click.option("--role", type=click.Choice(["picker", "packer", "supervisor", "admin"]),
              required=True)
@click.option("--pin", required=True, help="at least 4 digits")
@click.option("--name", default="")
def user_add(badge, role, pin, name) -> None:
    """Add a user who logs in with BADGE and PIN."""
    from .services import auth
    with get_app().app_context():
        from .store.db import db
        with db.connection_context():
            auth.add_user(badge, role, pin, name)
    click.echo(f"user {badge} ({role}) added")


@user_group.command(name="disable")
@click.argument("badge")
def user_disable(badge) -> None:
    """Disable the user with BADGE: logins refused, every token revoked, open handheld
    sockets closed at their next event."""
    _set_active(badge, False)
    click.echo(f"user {badge} disabled; their sessions are revoked")


@user_group.command(name="enable")
@click.argument("badge")
def user_enable(badge) -> None:
    """Let a disabled user log in again (with a new login: old sessions stay revoked)."""
    _set_active(badge, True)
    click.echo(f"user {badge} enabled")


@user_group.command(name="reset-pin")
@click.argument("badge")
@click.option("--pin", required=True, help="at least 4 digits")
def user_reset_pin(badge, pin) -> None:
    """Give the user with BADGE a new PIN (a lockout is lifted; sessions stay)."""
    from .services import auth
    with get_app().app_context():
        from .store.db import db
        with db.connection_context():
            auth.reset_pin(badge, pin)
    click.echo(f"user {badge}: PIN reset")


def _set_active(badge: str, active: bool) -> None:
    from .services import auth
    with get_app().app_context():
        from .store.db import db
        with db.connection_context():
            auth.set_user_active(badge, active)


@main.group(name="token")
def token_group() -> None:
    """API tokens."""


@token_group.command(name="create")
@click.option("--channel", default=None, help="a channel token, scoped to that channel's orders")
@click.option("--role", type=click.Choice(["picker", "packer", "supervisor", "admin"]),
              default=None, help="a staff token with this role")
@click.option("--carrier", default=None,
              help="a carrier token (a carrier under carriers: in config): it may only post "
                   "tracking events for that carrier")
@click.option("--metrics", is_flag=True,
              help="a token for Prometheus: it may only read GET /metrics")
@click.option("--label", default="")
@click.option("--hours", type=float, default=None, help="expire after this many hours")
def token_create(channel, role, carrier, metrics, label, hours) -> None:
    """Create an API token; it is printed once, alone on the last line."""
    from .services import auth
    from .settings import of
    if sum(map(bool, (channel, role, carrier, metrics))) != 1:
        raise click.UsageError("give exactly one of --channel, --role, --carrier or --metrics")
    app = get_app()
    if carrier and carrier not in of(app).setup.carriers:
        raise click.UsageError(f"no carrier {carrier!r} under carriers: in config (known: "
                               f"{', '.join(sorted(of(app).setup.carriers)) or 'none'})")
    with app.app_context():
        from .store.db import db
        with db.connection_context():
            raw = auth.create_token(channel=channel, role=role, carrier=carrier, label=label,
                                    hours=hours, metrics=metrics)
    who = f"channel {channel}" if channel else f"carrier {carrier}" if carrier else \
        "metrics" if metrics else role
    click.echo(f"token for {who} (shown once):")
    click.echo(raw)


@token_group.command(name="revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id) -> None:
    """Revoke the API token with TOKEN_ID (as `GET /api/v1/admin/tokens` lists them)."""
    from .services import auth
    with get_app().app_context():
        from .store.db import db
        with db.connection_context():
            done = auth.revoke_token(token_id)
    click.echo(f"token {token_id} revoked" if done else f"token {token_id} was revoked already")


@main.group(name="warehouse")
def warehouse_group() -> None:
    """Warehouses."""


@warehouse_group.command(name="add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--zone", default="", help="shipping zone it serves from (see zones in config)")
def warehouse_add(code, name, zone) -> None:
    """Add a warehouse."""
    from .services import setup
    with get_app().app_context():
        from .store.db import db
        with db.connection_context():
            wid = setup.add_warehouse(code, name, zone)
    click.echo(f"warehouse {code} added, id {wid}")


@main.command(name="expire-unpaid")
def expire_unpaid() -> None:
    """Cancel unpaid orders older than intake.unpaid_cancel_after_hours (releasing stock)."""
    from .jobs import expiry
    with get_app().app_context():
        from .store.db import db
        with db.connection_context():
            n = expiry.cancel_unpaid()
    click.echo(f"cancelled {n} unpaid order(s)")
