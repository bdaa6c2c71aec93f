"""Returns, exchanges, repairs and refunds (issue 14 §3), on SQLite and PostgreSQL: the
API with its policy, the returns station's service routes, the refund signal through the
outbox to a local fake storefront (once, even when it fails first), the exchange order,
restock feeding backorders, and the job closing orders past their return window."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from server import clock
from server.domain.orders import LineDraft
from server.services import auth, channels, intake, outbox, returns
from server.settings import current
from server.store.db import execute, write_tx

from ..factories import draft, seed
from . import test_outbox
from .test_outbox import NOW
from .test_webhooks import ctx

SHIPPED = dt.datetime(2025, 6, 10, 12, 0, tzinfo=dt.UTC)
LINE_A, LINE_B = 7300000000000000501, 7300000000000000502
FAST = {"timeout_s": 0.5, "backoff_base_s": 30.0, "backoff_cap_s": 600.0}
TEE, MUG, BOTL = "WP-TEE-BLK-M", "WP-MUG-350-SAGE", "WP-BOTL-750-STL"


# `shop` (a local fake storefront) and `wh` (catalogue, stock, channels shop / woo / cb
# pointing at it, the clock at NOW) are test_outbox's fixtures.
shop, wh = test_outbox.shop, test_outbox.wh


_serial = iter(range(1, 10**6))


def shipped_order(app, shop, channel: str = "shop", *, order_id: int | None = None,
                  lines=((TEE, 2), (MUG, 1)), shipped_at: dt.datetime = SHIPPED,
                  status: str = "shipped") -> int:
    """An order on `channel` (known to the fake storefront) whose parcel shipped at
    `shipped_at`; returns its id."""
    n = next(_serial)
    ext = order_id or 7300000000000000000 + n
    ids = [LINE_A + 10 * n, LINE_B + 10 * n]
    if channel == "shop":
        shop.add_shopify_order(ext, {ids[i]: q for i, (_, q) in enumerate(lines)})
    elif channel == "woo":
        shop.add_woo_order(ext)
    d = dataclasses.replace(
        draft(f"R{ext}"), external_id=str(ext),
        lines=tuple(LineDraft(sku, q, draft("x").lines[0].unit_price, external_id=str(ids[i]))
                    for i, (sku, q) in enumerate(lines)))
    with ctx(app):
        ch = channels.get_channel(channel)
        [result] = intake.import_orders(channels.ref(ch), [d], "test", settings=current())
        stamp = clock.naive_utc(shipped_at)
        with write_tx():
            execute("UPDATE sales_order SET status = ? WHERE id = ?", (status, result.order_id))
            execute("UPDATE order_line SET reserved = 0 WHERE order_id = ?", (result.order_id,))
            execute("INSERT INTO shipment (order_id, station, carrier, service, tracking, sscc, "
                    "state, created_by, created_at, shipped_at) VALUES (?, 'P1', 'Royal Mail', "
                    "'Tracked 48', ?, ?, 'shipped', 'packer:1', ?, ?)",
                    (result.order_id, f"RR{n:08d}5GB", f"{n:018d}", stamp, stamp))
    return result.order_id


def token(app, role: str = "supervisor", channel: str | None = None) -> dict:
    with ctx(app):
        raw = auth.create_token(channel=channel) if channel else auth.create_token(role=role)
    return {"Authorization": f"Bearer {raw}"}


def count(app, sql: str, *params) -> int:
    with ctx(app):
        return execute(sql, params).fetchone()[0]


def deliver(app, at: dt.datetime = NOW, **kw) -> list[outbox.Outcome]:
    with ctx(app):
        return outbox.deliver_due(now=at, **{**FAST, **kw})


def tracking_of(app, order_id: int) -> str:
    with ctx(app):
        return execute("SELECT tracking FROM shipment WHERE order_id = ?",
                       (order_id,)).fetchone()[0]


def ask(client, headers, order, lines, kind="refund", **extra):
    body = {"order": order, "kind": kind, "reason": "too small",
            "lines": [{"sku": s, "quantity": q} for s, q in lines], **extra}
    return client.post("/api/v1/returns", json=body, headers=headers)


def station(client, headers, path, body=None):
    return client.post(f"/api/v1/returns/{path}", json=body if body is not None else {},
                       headers=headers)


def settle(client, headers, rid, grade="resellable", disposition="restock", location="C-01-01-1"):
    """Grade and dispose of every received line of a return."""
    ret = client.get(f"/api/v1/returns/{rid}", headers=headers).get_json()
    for line in ret["lines"]:
        if line["received"] > line["disposed"]:
            body = {"grade": grade, "disposition": disposition}
            if disposition == "restock":
                body.update(location=location, warehouse="main")
            resp = station(client, headers, f"{rid}/lines/{line['id']}/disposition", body)
            assert resp.status_code == 200, resp.get_json()


def snapshot(app) -> tuple:
    """Everything a refused request must leave alone."""
    return (count(app, "SELECT COUNT(*) FROM return_request"),
            count(app, "SELECT COUNT(*) FROM return_line"),
            count(app, "SELECT COUNT(*) FROM outbox"),
            count(app, "SELECT COALESCE(SUM(on_hand), 0) FROM stock"),
            count(app, "SELECT COUNT(*) FROM sales_order"),
            count(app, "SELECT COUNT(*) FROM wms_exception"))


# ---------------------------------------------------------------- end to end

def test_refund_end_to_end_reaches_shopify_once(wh, shop, client):
    oid = shipped_order(wh, shop, "shop")
    sup, packer = token(wh), token(wh, "packer")
    events_seen = []
    from server import events
    unsub = [events.subscribe(n, events_seen.append) for n in ("return.received",
                                                                "return.refunded")]
    try:
        ref = count(wh, "SELECT ref FROM sales_order WHERE id = ?", oid)
        resp = ask(client, token(wh, channel="shop"), ref, [(TEE, 2)])   # by ref
        assert resp.status_code == 201, resp.get_json()
        ret = resp.get_json()
        assert ret["status"] == "authorised" and ret["rma"].startswith("RMA")
        found = client.get(f"/api/v1/returns/find?code={ret['rma']}", headers=packer).get_json()
        assert found["match"] == "rma" and found["return"]["id"] == ret["id"]
        by_tracking = client.get(f"/api/v1/returns/find?code={tracking_of(wh, oid)}",
                                 headers=packer).get_json()
        assert by_tracking["match"] == "tracking" and by_tracking["return"]["id"] == ret["id"]
        verdicts = [station(client, packer, f"{ret['id']}/scan", {"barcode": TEE})
                    .get_json()["verdict"] for _ in range(2)]
        assert verdicts == ["ok", "ok"]
        on_hand = count(wh, "SELECT COALESCE(SUM(on_hand), 0) FROM stock")
        settle(client, packer, ret["id"])
        assert count(wh, "SELECT COALESCE(SUM(on_hand), 0) FROM stock") == on_hand + 2
        closed = station(client, packer, f"{ret['id']}/close")
        assert closed.status_code == 200, closed.get_json()
        closed = closed.get_json()
        assert closed["status"] == "closed" and closed["refund_minor"] == 2000
        again = station(client, packer, f"{ret['id']}/close")
        assert again.status_code == 409
        [done] = deliver(wh)
        assert done.state == "sent"
        [refund] = shop.refunds(next(o for o in shop.shopify))
        assert ret["rma"] in refund["note"]
        assert [(i["quantity"]) for i in refund["refund_line_items"]] == [2]
        assert deliver(wh, NOW + dt.timedelta(days=30)) == []
    finally:
        for u in unsub:
            u()
    assert [(e.name, e.data) for e in events_seen] == [
        ("return.received", {"return_id": ret["id"], "order_id": oid}),
        ("return.refunded", {"return_id": ret["id"], "order_id": oid})]
    assert client.get(f"/api/v1/returns/{ret['id']}", headers=sup).get_json()["status"] \
        == "closed"


@pytest.mark.parametrize("channel", ["shop", "woo", "cb"])
def test_refund_sent_once_even_when_the_storefront_fails_first(wh, shop, client, channel):
    oid = shipped_order(wh, shop, channel)
    packer = token(wh, "packer")
    ret = ask(client, token(wh), oid, [(MUG, 1)]).get_json()
    station(client, packer, f"{ret['id']}/scan", {"barcode": MUG})
    settle(client, packer, ret["id"], grade="damaged", disposition="scrap")
    assert station(client, packer, f"{ret['id']}/close").status_code == 200
    shop.mode = "down"
    [first] = deliver(wh)
    assert (first.state, first.status) == ("pending", 503)
    shop.mode, shop.slow_s = "slow", 2.0                # it acts, then the answer is lost
    [second] = deliver(wh, NOW + dt.timedelta(seconds=60), timeout_s=0.3)
    assert second.state == "pending"
    shop.mode = "up"
    [third] = deliver(wh, NOW + dt.timedelta(hours=1))
    assert third.state == "sent"
    if channel == "shop":
        [refund] = shop.refunds(next(iter(shop.shopify)))
        assert ret["rma"] in refund["note"] and refund["transactions"][0]["kind"] == "refund"
    elif channel == "woo":
        [refund] = shop.refunds(next(iter(shop.woo)))
        assert ret["rma"] in refund["reason"] and refund["amount"] == "10.00"
        assert refund["line_items"][0]["quantity"] == 1
    else:
        assert len(shop.deliveries) == 1
        [body] = shop.deliveries.values()
        assert body["event"] == "return.refunded" and body["return"]["rma"] == ret["rma"]
        assert body["refund"] == {"currency": "GBP", "amount": "10.00"}
    assert deliver(wh, NOW + dt.timedelta(days=9)) == []
    assert count(wh, "SELECT COUNT(*) FROM outbox WHERE return_id = ?", ret["id"]) == 1


def test_exchange_makes_a_new_order_reserved_at_once(wh, shop, client):
    oid = shipped_order(wh, shop, "cb")
    packer = token(wh, "packer")
    resp = ask(client, token(wh, channel="cb"), oid, [(TEE, 1)], kind="exchange",
               exchange_lines=[{"sku": BOTL, "quantity": 1}])
    assert resp.status_code == 201, resp.get_json()
    ret = resp.get_json()
    assert station(client, packer, f"{ret['id']}/scan",
                   {"barcode": TEE}).get_json()["verdict"] == "ok"
    settle(client, packer, ret["id"])
    closed = station(client, packer, f"{ret['id']}/close").get_json()
    new = closed["exchange_order_id"]
    assert new and new != oid and closed["refund_outbox_id"] is None
    with ctx(wh):
        status, = execute("SELECT status FROM sales_order WHERE id = ?", (new,)).fetchone()
        sku, qty, reserved = execute("SELECT sku, quantity, reserved FROM order_line "
                                     "WHERE order_id = ?", (new,)).fetchone()
    assert (status, sku, qty, reserved) == ("ready", BOTL, 1, 1)
    assert count(wh, "SELECT COUNT(*) FROM outbox") == 0


def test_scrap_and_a_repair_follow_their_own_steps(wh, shop, client):
    oid = shipped_order(wh, shop, "cb")
    packer = token(wh, "packer")
    on_hand = count(wh, "SELECT COALESCE(SUM(on_hand), 0) FROM stock")
    ret = ask(client, token(wh), oid, [(MUG, 1)], kind="repair").get_json()
    station(client, packer, f"{ret['id']}/scan", {"barcode": MUG})
    settle(client, packer, ret["id"], grade="damaged", disposition="repair")
    assert station(client, packer, f"{ret['id']}/close").status_code == 409
    for step in ("in_repair", "repaired", "shipped_back"):
        resp = station(client, packer, f"{ret['id']}/repair", {"status": step})
        assert resp.status_code == 200 and resp.get_json()["status"] == step
    assert station(client, packer, f"{ret['id']}/repair",
                   {"status": "in_repair"}).status_code == 409
    scrap = ask(client, token(wh), oid, [(TEE, 1)]).get_json()
    station(client, packer, f"{scrap['id']}/scan", {"barcode": TEE})
    resp = station(client, packer, f"{scrap['id']}/lines/{scrap['lines'][0]['id']}/disposition",
                   {"grade": "damaged", "disposition": "restock", "location": "C-01-01-1"})
    assert resp.status_code == 422                      # damaged goods are not restocked
    settle(client, packer, scrap["id"], grade="damaged", disposition="scrap")
    assert station(client, packer, f"{scrap['id']}/close").get_json()["status"] == "closed"
    assert count(wh, "SELECT COALESCE(SUM(on_hand), 0) FROM stock") == on_hand


# ---------------------------------------------------------------- the policy

def test_outside_the_window_and_over_quantity_are_refused_writing_nothing(wh, shop, client):
    old = shipped_order(wh, shop, "cb", shipped_at=NOW - dt.timedelta(days=31))
    recent = shipped_order(wh, shop, "cb")
    before = snapshot(wh)
    resp = ask(client, token(wh), old, [(TEE, 1)])
    assert resp.status_code == 422
    err = resp.get_json()["error"]
    assert err["code"] == "return_refused"
    assert [(p["field"], p["code"]) for p in err["problems"]] == [("order", "outside_window")]
    resp = ask(client, token(wh), recent, [(TEE, 3), (BOTL, 1)])
    assert [(p["field"], p["code"]) for p in resp.get_json()["error"]["problems"]] == [
        ("lines[0].quantity", "over_quantity"), ("lines[1].sku", "not_in_order")]
    assert snapshot(wh) == before
    assert ask(client, token(wh), recent, [(TEE, 2)]).status_code == 201
    resp = ask(client, token(wh), recent, [(TEE, 1)])      # shipped minus already returned
    assert resp.get_json()["error"]["problems"][0]["code"] == "over_quantity"


def test_not_returnable_skus_and_flags_per_channel(db_url, shop):
    from ..conftest import make_app
    app = make_app(db_url, returns={"policy": {"not_returnable_flags": ["hygiene"]},
                                    "channels": {"cb": {"not_returnable_skus": ["WP-MUG-*"],
                                                        "window_days": 2}}})
    try:
        seed(app)
        clock.set_clock(lambda: NOW)
        with ctx(app):
            channels.add_channel("cb", "native", secret="s", callback_url=shop.callback_url)
            execute("UPDATE product SET flags = 'hygiene' WHERE sku = ?", (TEE,))
        oid = shipped_order(app, shop, "cb", shipped_at=NOW - dt.timedelta(days=1))
        client = app.test_client()
        resp = ask(client, token(app), oid, [(TEE, 1), (MUG, 1)])
        assert [(p["field"], p["code"]) for p in resp.get_json()["error"]["problems"]] == [
            ("lines[0].sku", "not_returnable"), ("lines[1].sku", "not_returnable")]
    finally:
        clock.set_clock(None)


# ---------------------------------------------------------------- the station

def test_an_extra_item_and_a_missing_item_at_the_station(wh, shop, client):
    oid = shipped_order(wh, shop, "cb")
    packer = token(wh, "packer")
    ret = ask(client, token(wh), oid, [(TEE, 2), (MUG, 1)]).get_json()
    verdicts = [station(client, packer, f"{ret['id']}/scan", {"barcode": b}).get_json()["verdict"]
                for b in (TEE, TEE, TEE, BOTL, "0000000000000", "NOPE")]
    assert verdicts == ["ok", "ok", "over_return", "not_in_return", "unknown_barcode",
                        "unknown_barcode"]
    got = client.get(f"/api/v1/returns/{ret['id']}", headers=packer).get_json()
    lines = {ln["sku"]: ln for ln in got["lines"]}
    assert (lines[TEE]["received"], lines[TEE]["extra"]) == (3, 1)
    assert (lines[MUG]["received"], lines[MUG]["missing"]) == (0, 1)   # missing
    assert (lines[BOTL]["announced"], lines[BOTL]["received"]) == (False, 1)  # not lost
    settle(client, packer, ret["id"], grade="resellable", disposition="quarantine")
    closed = station(client, packer, f"{ret['id']}/close").get_json()
    assert closed["refund_minor"] == 2000               # the 2 tees announced, not the mug


def test_an_unannounced_parcel_opens_a_return_with_an_exception(wh, shop, client):
    oid = shipped_order(wh, shop, "cb")
    packer = token(wh, "packer")
    code = tracking_of(wh, oid)
    resp = station(client, packer, "unannounced", {"code": code})
    assert resp.status_code == 201, resp.get_json()
    ret = resp.get_json()
    assert (ret["status"], ret["unannounced"], ret["order_id"]) == ("received", True, oid)
    with ctx(wh):
        typ, order = execute("SELECT type, order_id FROM wms_exception WHERE id = ?",
                             (ret["exception_id"],)).fetchone()
    assert (typ, order) == ("return_unannounced", oid)
    assert station(client, packer, f"{ret['id']}/scan",
                   {"barcode": TEE}).get_json()["verdict"] == "not_in_return"
    nothing = station(client, packer, "unannounced", {})
    assert nothing.status_code == 201 and nothing.get_json()["order_id"] is None
    again = station(client, packer, "unannounced", {"code": code})    # its return is open:
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "return_exists")
    settle(client, packer, ret["id"], disposition="quarantine")
    closed = station(client, packer, f"{ret['id']}/close").get_json()
    assert (closed["status"], closed["refund_minor"], closed["refund_outbox_id"]) == \
        ("closed", 0, None)                  # nothing announced: a person settles the refund
    assert count(wh, "SELECT COUNT(*) FROM outbox") == 0


def test_restock_re_reserves_a_backorder(wh, shop, client):
    oid = shipped_order(wh, shop, "cb", lines=((BOTL, 1),))
    with ctx(wh), write_tx():                            # nothing of it left anywhere
        execute("UPDATE stock SET on_hand = 0, reserved = 0 WHERE product_id = "
                "(SELECT id FROM product WHERE sku = ?)", (BOTL,))
    with ctx(wh):
        ch = channels.get_channel("api")
        [waiting] = intake.import_orders(channels.ref(ch), [draft("WAIT-1", ((BOTL, 1),))],
                                         "test", settings=current())
    assert waiting.status == "backordered"
    packer = token(wh, "packer")
    ret = ask(client, token(wh), oid, [(BOTL, 1)]).get_json()
    station(client, packer, f"{ret['id']}/scan", {"barcode": BOTL})
    line = client.get(f"/api/v1/returns/{ret['id']}", headers=packer).get_json()["lines"][0]
    resp = station(client, packer, f"{ret['id']}/lines/{line['id']}/disposition",
                   {"grade": "resellable", "disposition": "restock", "location": "C-01-01-1"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["orders_reserved"] == 1
    with ctx(wh):
        assert execute("SELECT status FROM sales_order WHERE id = ?",
                       (waiting.order_id,)).fetchone()[0] == "ready"


# ---------------------------------------------------------------- input, roles, idempotency

def test_bad_input_and_roles_change_nothing(wh, shop, client):
    oid = shipped_order(wh, shop, "cb")
    other = shipped_order(wh, shop, "shop")
    before = snapshot(wh)
    picker, packer, sup = token(wh, "picker"), token(wh, "packer"), token(wh)
    assert ask(client, {}, oid, [(TEE, 1)]).status_code == 401
    assert ask(client, picker, oid, [(TEE, 1)]).status_code == 403
    assert ask(client, packer, oid, [(TEE, 1)]).status_code == 403
    assert ask(client, token(wh, channel="cb"), other, [(TEE, 1)]).status_code == 404
    assert ask(client, sup, oid, [(TEE, 0)]).status_code == 422
    assert ask(client, sup, oid, [(TEE, 1)], kind="swap").status_code == 422
    assert ask(client, sup, oid, [(TEE, 1)], kind="exchange").status_code == 422
    assert ask(client, sup, oid, [(TEE, 1)], colour="red").status_code == 422
    assert ask(client, sup, 10**9, [(TEE, 1)]).status_code == 404
    assert client.post("/api/v1/returns", data="x", headers=sup).status_code == 415
    assert client.get("/api/v1/returns/find?code=", headers=packer).status_code == 400
    assert client.get("/api/v1/returns/find?code=NOTHING", headers=packer).status_code == 404
    assert client.get("/api/v1/returns/find?code=x", headers=picker).status_code == 403
    assert station(client, packer, "999/scan", {"barcode": TEE}).status_code == 404
    assert station(client, picker, "unannounced", {}).status_code == 403
    assert client.get("/api/v1/returns?status=lost", headers=sup).status_code == 400
    assert snapshot(wh) == before
    ret = ask(client, sup, oid, [(TEE, 1)]).get_json()
    assert station(client, packer, f"{ret['id']}/close").status_code == 409
    assert station(client, packer, f"{ret['id']}/scan", {}).status_code == 422
    assert station(client, packer, f"{ret['id']}/lines/{ret['lines'][0]['id']}/disposition",
                   {"grade": "resellable", "disposition": "restock"}).status_code == 400
    assert station(client, packer, f"{ret['id']}/lines/{ret['lines'][0]['id']}/disposition",
                   {"grade": "resellable", "disposition": "restock",
                    "location": "C-01-01-1"}).status_code == 409      # not received yet
    assert client.get(f"/api/v1/returns/{ret['id']}",
                      headers=token(wh, channel="shop")).status_code == 404
    listed = client.get("/api/v1/returns", headers=token(wh, channel="cb")).get_json()
    assert [r["id"] for r in listed["returns"]] == [ret["id"]]


def test_idempotency_key_replays_the_first_answer(wh, shop, client):
    oid = shipped_order(wh, shop, "cb")
    headers = {**token(wh, channel="cb"), "Idempotency-Key": "ret-1"}
    first = ask(client, headers, oid, [(TEE, 1)])
    second = ask(client, headers, oid, [(TEE, 1)])
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] == second.get_json()["id"]
    assert count(wh, "SELECT COUNT(*) FROM return_request") == 1
    assert ask(client, headers, oid, [(TEE, 2)]).status_code == 422     # same key, new body
    refused = {**token(wh, channel="cb"), "Idempotency-Key": "ret-2"}
    assert ask(client, refused, oid, [(TEE, 5)]).status_code == 422
    assert ask(client, refused, oid, [(TEE, 5)]).status_code == 422
    assert count(wh, "SELECT COUNT(*) FROM return_request") == 1
    staff = {**token(wh), "Idempotency-Key": "ret-1"}      # a supervisor's keys: the order's channel
    replayed = ask(client, staff, oid, [(TEE, 1)])
    assert replayed.status_code == 201 and replayed.get_json()["id"] == first.get_json()["id"]


def test_returns_label_as_zpl_without_a_printer(wh, shop, client):
    oid = shipped_order(wh, shop, "cb")
    resp = ask(client, token(wh), oid, [(TEE, 1)], label=True)
    assert resp.status_code == 201, resp.get_json()
    label = resp.get_json()["label"]
    assert label["barcode"] == resp.get_json()["rma"] and label["zpl"].startswith("^XA")
    assert resp.get_json()["rma"] in label["zpl"]
    assert count(wh, "SELECT COUNT(*) FROM print_job") == 0


def test_returns_label_printed_on_the_returns_printer(db_url, shop, tmp_path):
    from ..conftest import make_app
    app = make_app(db_url, printers={"ret-1": {"url": f"file://{tmp_path}/r.zpl"}},
                   returns={"label_printer": "ret-1", "label_station": "returns-1"})
    try:
        seed(app)
        clock.set_clock(lambda: NOW)
        with ctx(app):
            channels.add_channel("cb", "native", secret="s", callback_url=shop.callback_url)
        oid = shipped_order(app, shop, "cb")
        client = app.test_client()
        resp = ask(client, token(app), oid, [(TEE, 1)], label=True)
        assert resp.status_code == 201, resp.get_json()
        label = resp.get_json()["label"]
        with ctx(app):
            station_, kind, ref = execute("SELECT station, kind, reference FROM print_job "
                                          "WHERE id = ?", (label["job_id"],)).fetchone()
            job = execute("SELECT label_job_id FROM return_request").fetchone()[0]
        assert (station_, kind, ref, job) == ("returns-1", "returns", resp.get_json()["rma"],
                                              label["job_id"])
        found = client.get(f"/api/v1/returns/find?code={label['barcode']}",
                           headers=token(app, "packer")).get_json()
        assert found["return"]["label_job_id"] == label["job_id"]
    finally:
        clock.set_clock(None)


# ---------------------------------------------------------------- closing orders

def test_orders_close_when_the_window_passes_with_no_open_return(wh, shop, client):
    quiet = shipped_order(wh, shop, "cb", shipped_at=NOW - dt.timedelta(days=40))
    delivered = shipped_order(wh, shop, "cb", shipped_at=NOW - dt.timedelta(days=40),
                              status="delivered")
    fresh = shipped_order(wh, shop, "cb", shipped_at=NOW - dt.timedelta(days=5))
    busy = shipped_order(wh, shop, "cb", shipped_at=NOW - dt.timedelta(days=29))
    ret = ask(client, token(wh), busy, [(TEE, 1)]).get_json()
    with ctx(wh):
        assert returns.close_expired_orders(settings=current(),
                                            now=NOW + dt.timedelta(days=2)) == 2
        status = dict(execute("SELECT id, status FROM sales_order WHERE id IN (?, ?, ?, ?)",
                              (quiet, delivered, fresh, busy)).fetchall())
    assert status == {quiet: "closed", delivered: "closed", fresh: "shipped", busy: "shipped"}
    assert station(client, token(wh), f"{ret['id']}/cancel").status_code == 200
    with ctx(wh):
        assert returns.close_expired_orders(settings=current(),
                                            now=NOW + dt.timedelta(days=2)) == 1
        assert returns.close_expired_orders(settings=current(),
                                            now=NOW + dt.timedelta(days=2)) == 0


# ---------------------------------------------------------------- storefront webhooks

@pytest.fixture
def hooks(app):
    from .test_webhooks import register, seed_shops
    register(app)
    seed_shops(app)
    clock.set_clock(lambda: NOW)
    return app


def ship_stored(app, order_id: int) -> None:
    n = next(_serial)
    stamp = clock.naive_utc(SHIPPED)
    with ctx(app), write_tx():
        execute("UPDATE sales_order SET status = 'shipped' WHERE id = ?", (order_id,))
        execute("UPDATE order_line SET reserved = 0 WHERE order_id = ?", (order_id,))
        execute("DELETE FROM allocation WHERE order_line_id IN (SELECT id FROM order_line "
                "WHERE order_id = ?)", (order_id,))
        execute("INSERT INTO shipment (order_id, station, carrier, service, tracking, sscc, "
                "state, created_by, created_at, shipped_at) VALUES (?, 'P1', 'Royal Mail', "
                "'Tracked 48', ?, ?, 'shipped', 'packer:1', ?, ?)",
                (order_id, f"RW{n:08d}5GB", f"{n:018d}", stamp, stamp))


def test_shopify_return_and_refund_webhooks(hooks, client):
    from .test_webhooks import SECRET, SHOPIFY_ID, post, shopify_delivery, shopify_payload
    order = shopify_payload()
    resp = post(client, "shopify", *shopify_delivery(order, "orders/paid"))
    oid = resp.get_json()["order_id"]
    ship_stored(hooks, oid)
    [first_line] = order["line_items"][:1]
    asked = {"id": 9001, "name": "#1001-R1", "status": "requested",
             "order": {"id": int(SHOPIFY_ID)},
             "return_line_items": [{"id": 1, "quantity": 1, "return_reason": "size_too_small",
                                    "fulfillment_line_item": {"line_item": {
                                        "id": first_line["id"]}}}]}
    before = snapshot(hooks)
    bad = shopify_delivery(asked, "returns/request", secret="wrong")
    assert post(client, "shopify", *bad).status_code == 401
    assert snapshot(hooks) == before
    body, headers = shopify_delivery(asked, "returns/request", event_id="ev-ret-1")
    resp = post(client, "shopify", body, headers)
    assert resp.status_code == 200 and resp.get_json()["outcome"].startswith("return_authorised")
    assert post(client, "shopify", body, headers).get_json()["duplicate"] is True
    with ctx(hooks):
        rid, source, ext = execute("SELECT id, source, external_id FROM return_request").fetchone()
        assert (source, ext) == ("shopify_return", "return:9001")
        assert execute("SELECT sku, quantity FROM return_line WHERE return_id = ?",
                       (rid,)).fetchall() == [(first_line["sku"], 1)]
    refund = {"id": 777, "order_id": int(SHOPIFY_ID), "note": "returned",
              "refund_line_items": [{"line_item_id": first_line["id"], "quantity": 1}]}
    resp = post(client, "shopify", *shopify_delivery(refund, "refunds/create"))
    assert resp.get_json()["outcome"] == "return_refunded_by_shop"
    ours = {**refund, "id": 778, "note": "Refund for return RMA0000001 (wavepack)"}
    assert post(client, "shopify", *shopify_delivery(ours, "refunds/create")
                ).get_json()["outcome"] == "own_refund"
    assert count(hooks, "SELECT COUNT(*) FROM return_request") == 1
    assert SECRET


def test_woocommerce_full_refund_becomes_a_return(hooks, client):
    from .test_webhooks import post, woo_delivery, woo_payload
    order = woo_payload()
    oid = post(client, "woocommerce", *woo_delivery(order, "order.created")).get_json()["order_id"]
    ship_stored(hooks, oid)
    partial = {**order, "date_modified_gmt": "2025-06-12T10:00:00",
               "refunds": [{"id": 55, "reason": "late", "total": "-5.00"}]}
    resp = post(client, "woocommerce", *woo_delivery(partial, "order.updated"))
    assert "refund_without_lines" in resp.get_json()["outcome"]
    whole = {**order, "date_modified_gmt": "2025-06-12T11:00:00", "status": "refunded",
             "refunds": [{"id": 56, "reason": "broken", "total": "-" + order["total"]}]}
    resp = post(client, "woocommerce", *woo_delivery(whole, "order.updated"))
    assert "return_authorised" in resp.get_json()["outcome"], resp.get_json()
    with ctx(hooks):
        rid, source = execute("SELECT id, source FROM return_request").fetchone()
        got = sorted(execute("SELECT sku, quantity FROM return_line WHERE return_id = ?",
                             (rid,)).fetchall())
    assert source == "woo_refund"
    assert got == sorted((li["sku"], li["quantity"]) for li in order["line_items"])


def test_the_scheduled_job_closes_orders_past_their_window(wh, shop):
    from server.jobs import scheduler
    old = shipped_order(wh, shop, "cb", shipped_at=NOW - dt.timedelta(days=31))
    assert scheduler.run_job(wh, "close-orders", scheduler._close_orders) is True
    assert count(wh, "SELECT COUNT(*) FROM sales_order WHERE id = ? AND status = 'closed'",
                 old) == 1
    assert count(wh, "SELECT COUNT(*) FROM audit WHERE action = 'order.close' AND "
                     "entity_id = ?", str(old)) == 1


def test_two_closes_at_once_queue_one_refund(wh, shop, client):
    from ..at_once import at_once
    oid = shipped_order(wh, shop, "cb")
    packer = token(wh, "packer")
    ret = ask(client, token(wh), oid, [(TEE, 1)]).get_json()
    station(client, packer, f"{ret['id']}/scan", {"barcode": TEE})
    settle(client, packer, ret["id"], disposition="quarantine")
    codes = at_once(4, lambda _i: station(wh.test_client(), packer,
                                           f"{ret['id']}/close").status_code)
    assert sorted(codes) == [200, 409, 409, 409]
    assert count(wh, "SELECT COUNT(*) FROM outbox WHERE return_id = ?", ret["id"]) == 1
