"""The native orders API: auth, idempotency, channel isolation, errors that change nothing."""
import json
import threading

from server.services import auth, channels
from server.store.models import Audit, IdempotencyKey, Order, WmsException

from ..conftest import STOREFRONTS
from ..factories import seed

ORDER = {
    "ref": "N-1", "placed_at": "2025-06-02T09:12:00+01:00", "currency": "GBP", "paid": True,
    "payment_method": "card", "note": "leave with neighbour",
    "ship_to": {"name": "Oliver Bennett", "phone": "+447700900101", "address1": "27 Granby St",
                "address2": "", "city": "Leicester", "postcode": "LE1 6EJ", "country": "GB"},
    "lines": [{"sku": "WP-TEE-BLK-M", "quantity": 2, "unit_price": "24.00"},
              {"sku": "WP-MUG-350-SAGE", "quantity": 1, "unit_price": 16.5}],
}


def _tokens(app):
    with app.app_context():
        from server.store.db import db
        with db.connection_context():
            channels.add_channel("other", "native")
            return {"api": auth.create_token(channel="api"),
                    "other": auth.create_token(channel="other"),
                    "sup": auth.create_token(role="supervisor"),
                    "picker": auth.create_token(role="picker")}


def _h(token, **extra):
    return {"Authorization": f"Bearer {token}", **extra}


def test_create_read_list_cancel(app, client):
    seed(app)
    t = _tokens(app)
    r = client.post("/api/v1/orders", json=ORDER, headers=_h(t["api"]))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "ready" and body["warehouse"] == "main"
    assert [(ln["sku"], ln["quantity"], ln["reserved"]) for ln in body["lines"]] == [
        ("WP-TEE-BLK-M", 2, 2), ("WP-MUG-350-SAGE", 1, 1)]
    assert body["note"] == "leave with neighbour"
    oid = body["id"]
    assert client.get(f"/api/v1/orders/{oid}", headers=_h(t["api"])).status_code == 200
    page = client.get("/api/v1/orders?status=ready&limit=1", headers=_h(t["api"])).get_json()
    assert [o["id"] for o in page["orders"]] == [oid] and page["next_cursor"] is None
    r = client.post(f"/api/v1/orders/{oid}/cancel", headers=_h(t["api"]))
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    assert all(ln["reserved"] == 0 for ln in r.get_json()["lines"])


def test_channel_cannot_see_another_channels_order(app, client):
    seed(app)
    t = _tokens(app)
    oid = client.post("/api/v1/orders", json=ORDER, headers=_h(t["api"])).get_json()["id"]
    assert client.get(f"/api/v1/orders/{oid}", headers=_h(t["other"])).status_code == 404
    assert client.post(f"/api/v1/orders/{oid}/cancel", headers=_h(t["other"])).status_code == 404
    assert client.get("/api/v1/orders", headers=_h(t["other"])).get_json()["orders"] == []
    assert client.get(f"/api/v1/orders/{oid}", headers=_h(t["sup"])).status_code == 200
    assert Order.get_by_id(oid).status == "ready"


def test_auth_and_roles(app, client):
    seed(app)
    t = _tokens(app)
    assert client.post("/api/v1/orders", json=ORDER).status_code == 401
    assert client.post("/api/v1/orders", json=ORDER,
                       headers=_h("wpc_forged")).status_code == 401
    assert client.post("/api/v1/orders", json=ORDER, headers=_h(t["sup"])).status_code == 403
    assert client.get("/api/v1/stock?sku=WP-TEE-BLK-M", headers=_h(t["api"])).status_code == 403
    assert client.get("/api/v1/stock?sku=WP-TEE-BLK-M",
                      headers=_h(t["picker"])).status_code == 403
    stock = client.get("/api/v1/stock?sku=WP-TEE-BLK-M", headers=_h(t["sup"])).get_json()
    assert stock["locations"][0]["available"] == 100
    assert Order.select().count() == 0


def test_idempotency_key_replays_and_refuses_other_body(app, client):
    seed(app)
    t = _tokens(app)
    h = _h(t["api"], **{"Idempotency-Key": "k-1"})
    first = client.post("/api/v1/orders", json=ORDER, headers=h)
    again = client.post("/api/v1/orders", json=ORDER, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    other = client.post("/api/v1/orders", json={**ORDER, "note": "changed"}, headers=h)
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert Order.select().count() == 1


def test_concurrent_same_key_gives_one_order_and_409_or_replay(app):
    seed(app)
    t = _tokens(app)
    codes, lock = [], threading.Lock()

    def send():
        with app.test_client() as c:
            r = c.post("/api/v1/orders", json=ORDER,
                       headers=_h(t["api"], **{"Idempotency-Key": "same"}))
            with lock:
                codes.append(r.status_code)

    threads = [threading.Thread(target=send) for _ in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert set(codes) <= {201, 409} and codes.count(201) >= 1
    assert Order.select().count() == 1
    assert IdempotencyKey.select().count() == 1


def test_duplicate_ref_without_key_is_409(app, client):
    seed(app)
    t = _tokens(app)
    assert client.post("/api/v1/orders", json=ORDER, headers=_h(t["api"])).status_code == 201
    r = client.post("/api/v1/orders", json=ORDER, headers=_h(t["api"]))
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "duplicate_order"


def test_bad_input_is_4xx_and_changes_nothing(app, client):
    seed(app)
    t = _tokens(app)
    before = Audit.select().count()
    h = _h(t["api"])
    cases = [
        (client.post("/api/v1/orders", data="{not json", headers=h,
                     content_type="application/json"), 400),
        (client.post("/api/v1/orders", data=json.dumps(ORDER), headers=h,
                     content_type="text/plain"), 415),
        (client.post("/api/v1/orders", json={**ORDER, "is_admin": True}, headers=h), 422),
        (client.post("/api/v1/orders", json={**ORDER, "lines": []}, headers=h), 422),
        (client.post("/api/v1/orders", json={**ORDER, "placed_at": "2025-06-02T09:12:00"},
                     headers=h), 422),
        (client.post("/api/v1/orders", json={**ORDER, "lines": [
            {"sku": "X", "quantity": 1, "unit_price": "NaN"}]}, headers=h), 422),
        (client.post("/api/v1/orders", data='{"ref": NaN}', headers=h,
                     content_type="application/json"), 400),
        (client.get("/api/v1/orders?status=bogus", headers=h), 400),
        (client.get("/api/v1/orders?limit=0", headers=h), 400),
        (client.post("/api/v1/orders/999/release", headers=_h(t["sup"])), 404),
    ]
    for resp, code in cases:
        assert resp.status_code == code, (resp.status_code, resp.get_json())
        assert resp.get_json()["error"]["code"]
    assert Order.select().count() == 0
    assert Audit.select().count() == before


def _nothing_written(before_audit: int) -> None:
    assert Order.select().count() == 0
    assert WmsException.select().count() == 0
    assert IdempotencyKey.select().count() == 0
    assert Audit.select().count() == before_audit


def test_invalid_order_is_422_with_every_problem_and_changes_nothing(app, client):
    seed(app)
    t = _tokens(app)
    before = Audit.select().count()
    bad = {**ORDER, "ref": "N-BAD", "total": "99.00",
           "ship_to": {**ORDER["ship_to"], "phone": "12345", "postcode": "XXXX"},
           "lines": [{"sku": "WP-TEE-BLK-M", "quantity": 0, "unit_price": "1.00"},
                     {"sku": "NOPE", "quantity": 1, "unit_price": "1.00"}]}
    r = client.post("/api/v1/orders", json=bad, headers=_h(t["api"], **{"Idempotency-Key": "b"}))
    assert r.status_code == 422, r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == "invalid_order"
    found = [(p["field"], p["code"]) for p in error["problems"]]
    assert set(found) == {("lines[0].quantity", "bad_quantity"), ("lines[1].sku", "unknown_sku"),
                          ("ship_to.phone", "bad_phone"), ("ship_to.postcode", "bad_postcode"),
                          ("total", "total_mismatch")}
    assert error["field"] == error["problems"][0]["field"] and error["message"]
    assert all(p["message"] for p in error["problems"])
    _nothing_written(before)


def test_unknown_country_and_missing_fields_are_named(app, client):
    seed(app)
    t = _tokens(app)
    before = Audit.select().count()
    ship = {k: v for k, v in ORDER["ship_to"].items() if k not in ("name", "phone")}
    r = client.post("/api/v1/orders", headers=_h(t["api"]),
                    json={**ORDER, "ship_to": {**ship, "country": "ZZ"}})
    assert r.status_code == 422
    found = {(p["field"], p["code"]) for p in r.get_json()["error"]["problems"]}
    assert found == {("ship_to.country", "bad_country"), ("ship_to.name", "missing_name"),
                     ("ship_to.phone", "missing_phone")}
    _nothing_written(before)


def test_unreadable_body_lists_every_field_at_once(app, client):
    seed(app)
    t = _tokens(app)
    before = Audit.select().count()
    body = {k: v for k, v in ORDER.items() if k != "ref"}
    body["is_admin"] = True
    body["lines"] = [ORDER["lines"][0], {"sku": "WP-MUG-350-SAGE", "quantity": "1",
                                         "unit_price": "1.00"}, {"sku": "X", "unit_price": 1}]
    r = client.post("/api/v1/orders", json=body, headers=_h(t["api"], **{"Idempotency-Key": "u"}))
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "invalid_order"
    assert {(p["field"], p["code"]) for p in error["problems"]} == {
        ("ref", "missing"), ("is_admin", "unknown_field"), ("lines[1].quantity", "wrong_type"),
        ("lines[2].quantity", "missing")}
    _nothing_written(before)


def test_corrected_order_may_reuse_the_idempotency_key(app, client):
    seed(app)
    t = _tokens(app)
    h = _h(t["api"], **{"Idempotency-Key": "fix-me"})
    bad = {**ORDER, "ship_to": {**ORDER["ship_to"], "country": "ZZ"}}
    assert client.post("/api/v1/orders", json=bad, headers=h).status_code == 422
    assert client.post("/api/v1/orders", json=bad, headers=h).status_code == 422  # same again
    first = client.post("/api/v1/orders", json=ORDER, headers=h)
    assert first.status_code == 201, first.get_json()
    again = client.post("/api/v1/orders", json=ORDER, headers=h)
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert Order.select().count() == 1 and IdempotencyKey.select().count() == 1


def test_address_is_normalised_and_the_original_kept(app, client):
    seed(app)
    t = _tokens(app)
    sent = {**ORDER, "ship_to": {**ORDER["ship_to"], "phone": "07700 900101",
                                 "postcode": "le16ej", "country": "gb"}}
    r = client.post("/api/v1/orders", json=sent, headers=_h(t["api"]))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    ship = body["ship_to"]
    assert (ship["phone"], ship["postcode"], ship["country"]) == ("+447700900101", "LE1 6EJ",
                                                                 "GB")
    assert body["ship_to_original"] == {"phone": "07700 900101", "postcode": "le16ej"}
    order = Order.get_by_id(body["id"])
    assert (order.ship_phone, order.ship_postcode) == ("+447700900101", "LE1 6EJ")


def test_chinese_address_is_accepted(app, client):
    seed(app, skus=_catalogue_skus())
    t = _tokens(app)
    cn = {**ORDER, "ref": "N-CN", "currency": "CNY",
          "ship_to": {"name": "张伟", "phone": "13800138000", "city": "北京市",
                      "address1": "朝阳区建国路93号万达广场8号楼1203室", "postcode": "100022",
                      "country": "CN"},
          "lines": [{"sku": "WP-TEE-WHT-M", "quantity": 2, "unit_price": "199.00"}]}
    r = client.post("/api/v1/orders", json=cn, headers=_h(t["api"]))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["ship_to"]["phone"] == "+8613800138000"


def test_release_by_supervisor(app, client):
    seed(app)
    t = _tokens(app)
    big = {**ORDER, "ref": "N-BIG", "lines": [
        {"sku": "WP-TEE-BLK-M", "quantity": 101, "unit_price": "1.00"}]}
    oid = client.post("/api/v1/orders", json=big, headers=_h(t["api"])).get_json()["id"]
    assert client.get(f"/api/v1/orders/{oid}", headers=_h(t["api"])).get_json()["status"] \
        == "on_hold"
    assert client.post(f"/api/v1/orders/{oid}/release", headers=_h(t["api"])).status_code == 403
    r = client.post(f"/api/v1/orders/{oid}/release", headers=_h(t["sup"]))
    assert r.status_code == 200 and r.get_json()["status"] == "backordered"


def test_csv_import_endpoint(app, client):
    seed(app, skus=_catalogue_skus())
    t = _tokens(app)
    data = (STOREFRONTS / "native" / "orders.csv").read_bytes()
    from io import BytesIO
    r = client.post("/api/v1/orders:import", headers=_h(t["api"]),
                    data={"file": (BytesIO(data), "orders.csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["created"], body["rejected"], body["duplicate"]) == (20, 0, 0)
    cn = Order.get(Order.ref == "WP-N-10006")
    assert cn.ship_name == "张伟" and cn.ship_city == "北京市"
    r = client.post("/api/v1/orders:import", headers=_h(t["api"]),
                    data={"file": (BytesIO(data), "orders.csv")},
                    content_type="multipart/form-data")
    assert r.get_json()["duplicate"] == 20


def _catalogue_skus():
    lines = (STOREFRONTS / "native" / "catalogue.csv").read_text().splitlines()[1:]
    return tuple(ln.split(",")[0] for ln in lines)


def test_badge_login_lockout(app, client):
    with app.app_context():
        from server.store.db import db
        with db.connection_context():
            auth.add_user("B1", "picker", "1234")
    ok = client.post("/api/v1/auth/badge", json={"badge": "B1", "pin": "1234"})
    assert ok.status_code == 200 and ok.get_json()["role"] == "picker"
    token = ok.get_json()["token"]
    assert client.get("/api/v1/orders", headers=_h(token)).status_code == 200
    for _ in range(5):
        assert client.post("/api/v1/auth/badge",
                           json={"badge": "B1", "pin": "0000"}).status_code == 401
    locked = client.post("/api/v1/auth/badge", json={"badge": "B1", "pin": "1234"})
    assert locked.status_code == 429 and locked.get_json()["error"]["code"] == "locked"
    unknown = client.post("/api/v1/auth/badge", json={"badge": "nobody", "pin": "1234"})
    assert unknown.status_code == 401


def test_refusal_matches_the_documented_422(app, client):
    from jsonschema import Draft202012Validator

    from server.api import openapi
    seed(app)
    t = _tokens(app)
    spec = openapi.build_spec()
    documented = spec["paths"]["/api/v1/orders"]["post"]["responses"]["422"]
    schema = {**documented["content"]["application/json"]["schema"],
              "components": spec["components"]}
    check = Draft202012Validator(schema)
    bad = {**ORDER, "ship_to": {**ORDER["ship_to"], "country": "ZZ"}}
    body = client.post("/api/v1/orders", json=bad, headers=_h(t["api"])).get_json()
    check.validate(body)
    unreadable = client.post("/api/v1/orders", json={"ref": 5}, headers=_h(t["api"])).get_json()
    check.validate(unreadable)
    assert {"ref", "placed_at", "lines"} <= {p["field"] for p in unreadable["error"]["problems"]}
    without = {"error": {**body["error"]}}
    del without["error"]["problems"]
    assert not check.is_valid(without)     # invalid_order always lists its problems
