"""Storefront channels: the shops that push orders, with their webhook secrets."""
from __future__ import annotations

from .. import clock
from ..domain.errors import NotFound, Unprocessable
from ..store import db as store_db
from ..store.models import Channel
from . import audit
from .intake import ChannelRef

KINDS = ("shopify", "woocommerce", "native")


def add_channel(name: str, kind: str, *, secret: str = "", allow_split: bool = False,
                currency: str = "", base_url: str = "", api_key: str = "", api_secret: str = "",
                callback_url: str = "", actor: str = "cli") -> int:
    if kind not in KINDS:
        raise Unprocessable(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise Unprocessable("channel name: letters, digits, '-' and '_' only", field="name")
    now = clock.now()
    with store_db.write_tx():
        if Channel.get_or_none(Channel.name == name):
            raise Unprocessable(f"channel {name!r} already exists", code="duplicate",
                                field="name")
        ch = Channel.create(name=name, kind=kind, secret=secret, allow_split=allow_split,
                            currency=currency.upper(), base_url=base_url, api_key=api_key,
                            api_secret=api_secret, callback_url=callback_url, created_at=now)
        audit.write([audit.row(now, actor, "channel.add", "channel", ch.id, "", kind)])
    return ch.id


def get_channel(name: str) -> Channel:
    ch = Channel.get_or_none(Channel.name == name)
    if ch is None:
        raise NotFound(f"no channel {name!r}", code="unknown_channel")
    return ch


def ref(ch: Channel) -> ChannelRef:
    return ChannelRef(id=ch.id, name=ch.name, kind=ch.kind, allow_split=bool(ch.allow_split),
                      currency=ch.currency)
