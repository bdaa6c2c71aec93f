"""Carrier services on SQLite and PostgreSQL: an order whose method maps to nothing is held
before picking and the wave planner leaves it; a supervisor assigns a service (bad input
refused, nothing changed) and it goes on; the label and shipment carry the mapped service;
Rotterdam ships a Dutch address with PostNL; customs data missing holds an order until the
catalogue has it, and the label of a parcel leaving its customs area has a customs block."""
from __future__ import annotations

import pytest

from ..conftest import make_app
from ..floor import PICK_CFG, PRODUCTS, build_floor, sid
from ..exception_checks import raised

GTIN = {sku: g for sku, g, _, _ in PRODUCTS}


@pytest.fixture
def floor(db_url, tmp_path):
    from server import clock
    labels = tmp_path / "labels.zpl"
    app = make_app(db_url, picking=PICK_CFG,
                   printers={"label-1": {"url": f"file://{labels}"}},
                   stations={"pack-1": {"warehouse": "main", "printer": "label-1"},
                             "pack-rtm": {"warehouse": "rtm", "printer": "label-1"}})
    floor = build_floor(app)
    yield floor
    clock.set_clock(None)


def call(floor, method, path, badge="s1", **kw):
    return floor.api(method, path, floor.tokens[badge], **kw)


def sql(floor, statement, params=(), write=False):
    from server.store import db as store_db
    from server.store.db import db, execute
    with floor.app.app_context(), db.connection_context():
        if write:
            with store_db.write_tx():
                return execute(statement, params).rowcount
        return execute(statement, params).fetchall()


def wave(floor, warehouse="main"):
    r = call(floor, "post", "/api/v1/waves",
             json={"warehouse": warehouse, "max_orders": 50, "totes": 4})
    assert r.status_code == 201, r.get_json()
    w = r.get_json()
    assert call(floor, "post", f"/api/v1/waves/{w['id']}/release").status_code == 200
    return w


def wave_orders(floor, wave_id) -> set[int]:
    return {r[0] for r in sql(floor, "SELECT DISTINCT order_id FROM pick_task WHERE wave_id = ?",
                              (wave_id,))}


def pack(floor, ref, skus, station="pack-1") -> dict:
    """Open, verify every unit and confirm; the confirm's answer."""
    r = call(floor, "post", "/api/v1/pack/sessions", "k1", json={"station": station, "scan": ref})
    assert r.status_code == 201, r.get_json()
    session = r.get_json()["id"]
    for sku in skus:
        r = call(floor, "post", f"/api/v1/pack/sessions/{session}/scan", "k1",
                 json={"scan_id": sid(), "raw": GTIN[sku]})
        assert r.get_json()["verdict"] == "ok", r.get_json()
    r = call(floor, "post", f"/api/v1/pack/sessions/{session}/confirm", "k1")
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def label_of(floor, ref) -> str:
    return sql(floor, "SELECT zpl FROM print_job WHERE reference = ? AND kind = 'label'",
               (f"order:{ref}",))[0][0]


def test_unmapped_method_is_held_then_assigned_released_and_shipped_with_it(floor):
    held = floor.order("PIGEON-1", (("SOCK", 1),), carrier="Carrier Pigeon",
                       shipping_method=("carrier pigeon",))
    ok = floor.order("PLAIN-1", (("MUG", 1),))
    o = floor.order_json(held)
    assert (o["status"], o["hold_code"], o["carrier_service"]) == \
        ("on_hold", "carrier_unmapped", None)
    assert "carrier pigeon" in o["hold_reason"] and o["shipping_method"] == ["carrier pigeon"]
    assert floor.order_json(ok)["carrier_service"]["id"] == "rm-tracked-48"
    assert sql(floor, "SELECT type, state FROM wms_exception WHERE order_id = ?", (held,)) == \
        [("carrier_unmapped", "open")]
    raised(floor.app, "carrier_unmapped", "order", subject_id=held)
    # the wave planner leaves the held order
    w = wave(floor)
    assert wave_orders(floor, w["id"]) == {ok}
    # releasing without a service changes nothing
    r = call(floor, "post", f"/api/v1/orders/{held}/release")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "carrier_unmapped"
    assert floor.order_json(held)["status"] == "on_hold"
    # a supervisor assigns DPD: the hold goes, the exception is resolved
    r = call(floor, "post", f"/api/v1/orders/{held}/carrier",
             json={"carrier": "dpd", "service": "1"})
    assert r.status_code == 200, r.get_json()
    o = r.get_json()
    assert o["status"] == "ready" and o["hold_code"] is None and not o["hold_reason"]
    assert o["carrier_service"] == {"id": "dpd-classic", "carrier": "dpd", "carrier_label": "DPD",
                                    "service": "1", "label": "Classic", "express": False,
                                    "adapter": "local", "source": "supervisor"}
    assert sql(floor, "SELECT state FROM wms_exception WHERE order_id = ?", (held,)) == \
        [("resolved",)]
    w2 = wave(floor)
    assert wave_orders(floor, w2["id"]) == {held}
    floor.pick_all()
    done = pack(floor, "PIGEON-1", ["SOCK"])
    ship = done["shipment"]
    assert (ship["carrier"], ship["service"]) == ("dpd", "1")
    assert ship["tracking"].startswith("1550") and len(ship["tracking"]) == 14
    zpl = label_of(floor, "PIGEON-1")
    assert "^FDDPD^FS" in zpl and "^FDClassic^FS" in zpl and "CUSTOMS" not in zpl
    assert sql(floor, "SELECT carrier_service FROM shipment WHERE id = ?", (ship["id"],)) == \
        [("dpd-classic",)]


def test_the_label_names_the_mapped_service(floor):
    oid = floor.order("FAST-1", (("CAP", 1),), carrier="UPS Express",
                      shipping_method=("ups express",))
    assert floor.order_json(oid)["carrier_service"]["id"] == "ups-express"
    wave(floor)
    floor.pick_all()
    done = pack(floor, "FAST-1", ["CAP"])
    ship = done["shipment"]
    assert ship["carrier"] == "ups" and ship["tracking"].startswith("1Z9A1B2C")
    assert done["session"]["order"]["carrier_service"] == "UPS Express Saver"   # the station
    zpl = label_of(floor, "FAST-1")
    assert "^FDUPS^FS" in zpl and "^FDExpress Saver^FS" in zpl and "Royal Mail" not in zpl


@pytest.mark.parametrize("body, status, code", [
    ({"carrier": "postnl", "service": "3085"}, 422, "unknown_service"),       # not in Leeds
    ({"carrier": "royal-mail", "service": "MTE"}, 409, "service_not_serving"),  # GB address
    ({"carrier": "dpd"}, 422, "schema"),
    ({"carrier": "dpd", "service": "1", "colour": "red"}, 422, "schema"),
])
def test_bad_assignments_are_refused_and_change_nothing(floor, body, status, code):
    oid = floor.order("HOLD-1", (("SOCK", 1),), shipping_method=("carrier pigeon",))
    r = call(floor, "post", f"/api/v1/orders/{oid}/carrier", json=body)
    assert r.status_code == status and r.get_json()["error"]["code"] == code, r.get_json()
    o = floor.order_json(oid)
    assert (o["status"], o["carrier_service"]) == ("on_hold", None)


def test_only_supervisors_assign_and_packed_orders_keep_their_carrier(floor):
    oid = floor.order("LATE-1", (("SOCK", 1),))
    r = call(floor, "post", f"/api/v1/orders/{oid}/carrier", "p1",
             json={"carrier": "dpd", "service": "1"})
    assert r.status_code == 403
    r = call(floor, "post", "/api/v1/orders/999999/carrier",
             json={"carrier": "dpd", "service": "1"})
    assert r.status_code == 404
    wave(floor)
    floor.pick_all()
    pack(floor, "LATE-1", ["SOCK"])
    r = call(floor, "post", f"/api/v1/orders/{oid}/carrier",
             json={"carrier": "dpd", "service": "1"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "order_packed"
    assert floor.order_json(oid)["carrier_service"]["id"] == "rm-tracked-48"


def test_rotterdam_ships_a_dutch_address_with_postnl(floor):
    from server import clock
    from server.services import setup, stock as stock_svc
    from server.store import db as store_db
    from server.store.db import db
    with floor.app.app_context(), db.connection_context():
        setup.add_warehouse("rtm", "Rotterdam", "eu")
        with store_db.write_tx():
            stock_svc.change_stock("rtm", "A-01-01-1", "TEE", set_to=5, actor="test",
                                   now=clock.now(), reason="count")
    # a PostNL order and one naming no method, both to Dutch addresses
    named = floor.order("NL-1", (("TEE", 1),), country="NL", carrier="PostNL",
                        shipping_method=("postnl",))
    plain = floor.order("NL-2", (("TEE", 1),), country="NL")
    for oid in (named, plain):
        o = floor.order_json(oid)
        assert (o["status"], o["warehouse"]) == ("ready", "rtm")
        assert o["carrier_service"]["id"] == "postnl-standard", o
    # the same PostNL request from Leeds (stock only there) is held, never Royal Mail
    held = floor.order("GB-POSTNL", (("MUG", 1),), carrier="PostNL",
                       shipping_method=("postnl",))
    assert floor.order_json(held)["hold_code"] == "carrier_unmapped"
    w = wave(floor, "rtm")
    assert wave_orders(floor, w["id"]) == {named, plain}
    floor.pick_all()
    ship = pack(floor, "NL-1", ["TEE"], station="pack-rtm")["shipment"]
    assert ship["carrier"] == "postnl" and ship["tracking"].endswith("NL")
    zpl = label_of(floor, "NL-1")
    assert "^FDPostNL^FS" in zpl and "CUSTOMS" not in zpl         # NL → NL: no customs


def test_customs_data_missing_holds_until_the_catalogue_has_it(floor):
    from server.services import csv_import
    from server.store.db import db
    oid = floor.order("US-1", (("MUG", 2),), country="US")
    o = floor.order_json(oid)
    assert (o["status"], o["hold_code"]) == ("on_hold", "customs_data_missing")
    assert o["carrier_service"]["id"] == "rm-international" and "MUG" in o["hold_reason"]
    r = call(floor, "post", f"/api/v1/orders/{oid}/release")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "customs_data_missing"
    with floor.app.app_context(), db.connection_context():
        bad = csv_import.import_catalogue_csv(
            b"sku,gtin,name,unit_weight_g,location,hs_code,origin_country\n"
            b"MUG,,Product MUG,0,,69,GB\n", "test")
        assert bad["imported"] == 0 and bad["rejected"][0]["field"] == "hs_code"
        good = csv_import.import_catalogue_csv(
            b"sku,gtin,name,unit_weight_g,location,length_mm,width_mm,height_mm,hs_code,"
            b"origin_country\nMUG,,Stoneware Mug,410,,120,90,100,6912.00,gb\n", "test")
        assert good["imported"] == 1
    assert sql(floor, "SELECT hs_code, origin_country FROM product WHERE sku = 'MUG'") == \
        [("691200", "GB")]
    r = call(floor, "post", f"/api/v1/orders/{oid}/release")
    assert r.status_code == 200 and r.get_json()["status"] == "ready", r.get_json()
    assert sql(floor, "SELECT state FROM wms_exception WHERE order_id = ?", (oid,)) == \
        [("resolved",)]
    raised(floor.app, "customs_data_missing", "order", subject_id=oid, state="resolved")
    wave(floor)
    floor.pick_all()
    done = pack(floor, "US-1", ["MUG", "MUG"])
    zpl = label_of(floor, "US-1")
    assert "CUSTOMS CN22" in zpl and "HS 691200 GB x2" in zpl and "GB>US" in zpl
    r = call(floor, "get", f"/api/v1/pack/sessions/{done['session']['id']}/documents/"
                           "customs_declaration.pdf", "k1")
    assert r.status_code == 200 and r.data.startswith(b"%PDF-")


def test_orders_stored_before_the_gate_pass_it_when_waved(floor):
    ok = floor.order("OLD-1", (("SOCK", 1),))
    stale = floor.order("OLD-2", (("MUG", 1),))
    # as migration 0009 leaves them: no service yet; OLD-2's method is one no table maps
    sql(floor, "UPDATE sales_order SET carrier_service = '', carrier_source = ''", write=True)
    sql(floor, "UPDATE sales_order SET shipping_method = '[\"parcel force\"]' WHERE id = ?",
        (stale,), write=True)
    w = wave(floor)
    assert wave_orders(floor, w["id"]) == {ok}
    assert floor.order_json(ok)["carrier_service"]["id"] == "rm-tracked-48"
    assert floor.order_json(stale)["hold_code"] == "carrier_unmapped"


def test_a_karrio_service_prints_the_carriers_own_label(db_url, tmp_path, monkeypatch):
    """UPS through karrio (its real connector, HTTP answered by a fake UPS on 127.0.0.1):
    the tracking number and the ZPL label are the carrier's; SSCCs stay ours."""
    from server import clock

    from ..fake_carrier import LABEL_ZPL, FakeUps
    monkeypatch.setenv("WAVEPACK_TEST_UPS_ID", "client")
    monkeypatch.setenv("WAVEPACK_TEST_UPS_SECRET", "secret")
    with FakeUps() as ups:
        app = make_app(
            db_url, picking=PICK_CFG,
            printers={"label-1": {"url": f"file://{tmp_path}/l.zpl"}},
            stations={"pack-1": {"warehouse": "main", "printer": "label-1"}},
            carriers={"ups": {"karrio": {
                "carrier_name": "ups", "test": True,
                "settings": {"account_number": "9A1B2C", "account_country_code": "GB",
                             "server_url": ups.url},
                "secrets": {"client_id": "WAVEPACK_TEST_UPS_ID",
                            "client_secret": "WAVEPACK_TEST_UPS_SECRET"}}}},
            carrier_services={"main": {"ups-express": {"adapter": "karrio",
                                                       "karrio_service": "ups_express_saver"}}})
        try:
            floor = build_floor(app)
            floor.order("KARRIO-1", (("SOCK", 1),), shipping_method=("ups express",))
            wave(floor)
            floor.pick_all()
            ship = pack(floor, "KARRIO-1", ["SOCK"])["shipment"]
            assert ship["tracking"] == "1ZFAKE0000000001" and ship["carrier"] == "ups"
            assert len(ship["sscc"]) == 18
            assert label_of(floor, "KARRIO-1") == LABEL_ZPL
            shipped = [r for r in ups.requests if r["path"].endswith("/ship")]
            assert len(shipped) == 1 and "KARRIO-1" in str(shipped[0]["body"])
            # the carrier refusing: 502-class answer, nothing packed
            floor.order("KARRIO-2", (("MUG", 1),), shipping_method=("ups express",))
            wave(floor)
            floor.pick_all()
            r = call(floor, "post", "/api/v1/pack/sessions", "k1",
                     json={"station": "pack-1", "scan": "KARRIO-2"})
            session = r.get_json()["id"]
            call(floor, "post", f"/api/v1/pack/sessions/{session}/scan", "k1",
                 json={"scan_id": sid(), "raw": GTIN["MUG"]})
            ups.refuse_next = True
            r = call(floor, "post", f"/api/v1/pack/sessions/{session}/confirm", "k1")
            assert r.status_code == 409 and r.get_json()["error"]["code"] == "carrier_error"
            assert "invalid shipper number" in r.get_json()["error"]["message"]
            assert sql(floor, "SELECT status FROM sales_order WHERE ref = 'KARRIO-2'") == \
                [("picked",)]
        finally:
            clock.set_clock(None)
