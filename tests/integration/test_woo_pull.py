"""Reconciliation pull from WooCommerce, against a local fake of its REST API."""
from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlparse

import pytest
from click.testing import CliRunner

from server.cli import main
from server.domain.errors import DomainError
from server.services import channels, woo_pull
from server.store.db import db
from server.store.models import Channel, Order
from server.settings import current

from ..conftest import make_app
from ..fake_woocommerce import FakeWooCommerce
from ..factories import seed
from .test_webhooks import CATALOGUE, counts, ctx, woo_payload

NOW = dt.datetime(2025, 6, 13, 12, 0, tzinfo=dt.timezone.utc)


def _order(order_id: int, modified: str, **changes) -> dict:
    """The fixture order under another id, modified at `modified` (UTC)."""
    payload = woo_payload()
    payload.update(id=order_id, number=str(order_id), date_modified_gmt=modified, **changes)
    payload["billing"]["phone"] = f"+4477009{order_id % 100000:05d}"   # no contact-rate hold
    return payload


def _setup(app, shop: FakeWooCommerce, name: str = "woo") -> None:
    seed(app, skus=CATALOGUE)
    with ctx(app):
        channels.add_channel(name, "woocommerce", secret="s", base_url=shop.base_url,
                             api_key=shop.key, api_secret=shop.secret)


def _pull(app, name: str = "woo", now: dt.datetime = NOW, **kw) -> dict:
    with ctx(app):
        return woo_pull.pull_woocommerce(name, now=now, **kw, settings=current())


def _last_pulled(app, name: str = "woo"):
    with ctx(app):
        return Channel.get(Channel.name == name).last_pulled_at


@pytest.fixture
def shop():
    with FakeWooCommerce() as fake:
        yield fake


def test_pull_creates_then_duplicates_then_updates(app, shop):
    _setup(app, shop)
    for i, when in enumerate(("2025-06-12T09:00:00", "2025-06-12T10:00:00",
                              "2025-06-13T11:55:00")):
        shop.put(_order(5001 + i, when))
    shop.put(_order(4000, "2025-06-01T09:00:00"))                 # older than 7 days
    first = _pull(app)
    assert (first["fetched"], first["created"]) == (3, 3)
    assert first["modified_after"] == "2025-06-06T12:00:00"      # first pull: 7 days back
    req = shop.requests[0]
    assert req["authorization"].startswith("Basic ")
    assert req["query"] == {"modified_after": "2025-06-06T12:00:00", "per_page": "100",
                            "page": "1", "orderby": "modified", "order": "asc",
                            "dates_are_gmt": "true"}
    assert _last_pulled(app) == NOW
    with ctx(app):
        assert {o.external_id: o.status for o in Order.select()} == {
            "5001": "ready", "5002": "ready", "5003": "ready"}
    later = NOW + dt.timedelta(hours=1)
    second = _pull(app, now=later)
    assert second["modified_after"] == "2025-06-13T11:50:00"     # last pull - 10 min overlap
    assert (second["fetched"], second["duplicate"], second["created"]) == (1, 1, 0)
    shop.put(_order(5002, "2025-06-13T12:55:00", customer_note="ring the bell"))
    third = _pull(app, now=later + dt.timedelta(hours=1))
    assert (third["fetched"], third["updated"]) == (1, 1)
    with ctx(app):
        assert Order.get(Order.external_id == "5002").note == "ring the bell"


def test_pull_pages_through_results(db_url, shop):
    from server import clock
    app = make_app(db_url, woocommerce={"pull_page_size": 2})
    try:
        _setup(app, shop)
        for i in range(5):
            shop.put(_order(6001 + i, f"2025-06-12T0{i}:00:00"))
        result = _pull(app)
        assert (result["fetched"], result["created"]) == (5, 5)
        assert [r["query"]["page"] for r in shop.requests] == ["1", "2", "3"]
        assert counts(app)[0] == 5
    finally:
        clock.set_clock(None)
        if not db.is_closed():
            db.close()


def test_an_order_already_delivered_by_webhook_comes_out_unchanged(app, shop):
    from server.services import webhooks
    from server.domain.storefronts import woocommerce
    _setup(app, shop)
    payload = _order(7001, "2025-06-12T09:00:00")
    with ctx(app):
        ref = channels.ref(channels.get_channel("woo"))
        webhooks.deliver(ref, woocommerce.event_key(payload, "order.created"), "order.created",
                         lambda: webhooks.apply_draft(ref, woocommerce.parse_order(payload), "t",
                                                      settings=current()))
    shop.put(payload)
    result = _pull(app)
    assert (result["fetched"], result["unchanged"], result["created"]) == (1, 1, 0)


def test_one_broken_order_does_not_stop_the_pull(app, shop):
    _setup(app, shop)
    shop.put(_order(8001, "2025-06-12T09:00:00"))
    broken = _order(8002, "2025-06-12T10:00:00")
    broken["line_items"] = "nope"
    shop.put(broken)
    result = _pull(app)
    assert (result["created"], result["rejected"]) == (1, 1)
    assert result["errors"][0]["id"] == 8002
    assert _last_pulled(app) == NOW


@pytest.mark.parametrize("failure", ["down", "http_500", "bad_credentials"])
def test_failed_pull_raises_and_keeps_last_pulled_at(app, shop, failure):
    _setup(app, shop)
    shop.put(_order(9001, "2025-06-12T09:00:00"))
    before = NOW - dt.timedelta(hours=2)
    with ctx(app):
        Channel.update(last_pulled_at=before).where(Channel.name == "woo").execute()
    if failure == "down":
        shop.stop()
    elif failure == "http_500":
        shop.fail_status = 500
    else:
        with ctx(app):
            Channel.update(api_secret="wrong").where(Channel.name == "woo").execute()
    with pytest.raises(DomainError) as err:
        _pull(app)
    assert (err.value.code, err.value.status) == ("pull_failed", 502)
    assert _last_pulled(app) == before
    assert counts(app)[0] == 0


def test_timeout_is_a_pull_failure(app, shop):
    _setup(app, shop)

    def slow(url, headers):
        raise TimeoutError("timed out")

    with pytest.raises(DomainError) as err:
        _pull(app, fetch=slow)
    assert err.value.code == "pull_failed" and "timed out" in err.value.message
    assert _last_pulled(app) is None


def test_fetch_hook_receives_the_query(app, shop):
    _setup(app, shop)
    seen = []

    def fetch(url, headers):
        seen.append((parse_qs(urlparse(url).query), headers["Authorization"]))
        return {"X-WP-TotalPages": "1"}, b"[]"

    assert _pull(app, fetch=fetch)["fetched"] == 0
    [(query, auth)] = seen
    assert query["dates_are_gmt"] == ["true"] and auth.startswith("Basic ")


def test_unknown_or_wrong_kind_channel(app, shop):
    _setup(app, shop)
    with pytest.raises(DomainError) as err:
        _pull(app, "api")                     # the native channel seed() adds
    assert err.value.status == 404


def test_cli_pull_woocommerce(app, shop):
    import server.cli_pull  # noqa: F401  (adds `pull` to the command group)
    from server import clock
    clock.set_clock(lambda: NOW)              # the app fixture puts the wall clock back
    _setup(app, shop)
    shop.put(_order(9101, "2025-06-12T09:00:00"))
    with app.app_context():
        ok = CliRunner().invoke(main, ["pull", "woocommerce", "woo"], catch_exceptions=False)
        assert ok.exit_code == 0, ok.output
        assert "1 created" in ok.output
        shop.stop()
        failed = CliRunner().invoke(main, ["pull", "woocommerce", "woo"])
        assert failed.exit_code == 1
        assert "error: WooCommerce could not be reached" in failed.output
