"""A small warehouse floor for wave and handheld tests: products with GTINs in known bins,
pickers and a supervisor with tokens, orders made ready through intake."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from server.domain.gtin import normalize_gtin
from server.settings import current

from .factories import draft

# sku, gtin-13, bin, (l, w, h) mm
PRODUCTS = [
    ("SOCK", "9506000210216", "A-03-02-1", (200, 100, 40)),
    ("MUG", "9506000220017", "B-10-04-2", (120, 90, 100)),
    ("TEE", "9506000210018", "D-20-01-1", (300, 250, 20)),
    ("CAP", "9506000210414", "F-05-01-3", (280, 190, 120)),
]
SPARE_BIN = "H-15-01-1"           # a second bin for SOCK (empty unless a test fills it)
UNSTOCKED = ("OTHER", "9506000230016", "C-01-01-2")   # in the catalogue, in no order
PICK_CFG = {"require_location_scan": True, "require_tote_scan": False, "tote_volume_l": 40,
            "plan_time_budget_s": 0.2}


def gtin14(code: str) -> str:
    return normalize_gtin(code)


def sid() -> str:
    return str(uuid.uuid4())


@dataclass
class Floor:
    app: object
    tokens: dict[str, str] = field(default_factory=dict)   # badge → session token
    supervisor: str = ""

    def login(self, badge: str, pin: str) -> str:
        r = self.app.test_client().post("/api/v1/auth/badge", json={"badge": badge, "pin": pin})
        assert r.status_code == 200, r.get_json()
        self.tokens[badge] = r.get_json()["token"]
        return self.tokens[badge]

    def order(self, ref: str, lines, **kw) -> int:
        from server.services import intake
        from server.services.channels import ref as channel_ref
        from server.store.db import db
        from server.store.models import Channel
        with self.app.app_context(), db.connection_context():
            ch = channel_ref(Channel.get(Channel.name == "api"))
            [res] = intake.import_orders(ch, [draft(ref, lines, **kw)], "test", settings=current())
        assert res.outcome == "created", res
        return res.order_id

    def api(self, method: str, path: str, token: str | None = None, **kw):
        headers = {"Authorization": f"Bearer {token or self.supervisor}"}
        return getattr(self.app.test_client(), method)(path, headers=headers, **kw)

    def wave(self, totes: int = 4, max_orders: int = 50, release: bool = True) -> dict:
        r = self.api("post", "/api/v1/waves",
                     json={"warehouse": "main", "max_orders": max_orders, "totes": totes})
        assert r.status_code == 201, r.get_json()
        wave = r.get_json()
        if release:
            r = self.api("post", f"/api/v1/waves/{wave['id']}/release")
            assert r.status_code == 200, r.get_json()
            wave = r.get_json()
        return wave

    def order_json(self, order_id: int) -> dict:
        r = self.api("get", f"/api/v1/orders/{order_id}")
        assert r.status_code == 200
        return r.get_json()

    def pick_all(self, badge: str = "p1") -> int:
        """Pick every released cart as this picker over /handheld (location scan, then
        each unit); returns the units picked."""
        gtins = {sku: g for sku, g, _, _ in PRODUCTS}
        hh = self.socket(badge)
        units = 0
        try:
            while True:
                got = hh.emit("task.next", {}, namespace="/handheld", callback=True)
                task = got["task"]
                if task is None:
                    return units
                while task is not None:
                    for raw in [task["location"]] + [gtins[task["sku"]]] * task["remaining"]:
                        ack = hh.emit("scan", {"scan_id": sid(), "raw": raw},
                                      namespace="/handheld", callback=True)
                        assert ack.get("verdict") == "ok", ack
                    units += task["remaining"]
                    task = ack["next"]
        finally:
            hh.disconnect(namespace="/handheld")

    def socket(self, badge: str, **kw):
        sio = self.app.extensions["socketio"]
        return sio.test_client(self.app, namespace="/handheld",
                               auth={"token": self.tokens[badge], "device": f"HH-{badge}"}, **kw)


def build_floor(app, stock: int = 20, spare: int = 0) -> Floor:
    from server import clock
    from server.services import auth, channels, stock as stock_svc
    from server.store import db as store_db
    from server.store.db import db
    with app.app_context(), db.connection_context():
        specs = [stock_svc.ProductSpec(sku=s, name=f"Product {s}", gtins=(gtin14(g),),
                                       length_mm=d[0], width_mm=d[1], height_mm=d[2])
                 for s, g, _, d in PRODUCTS]
        specs.append(stock_svc.ProductSpec(sku=UNSTOCKED[0], name="Other",
                                           gtins=(gtin14(UNSTOCKED[1]),)))
        stock_svc.upsert_products(specs, "test")
        with store_db.write_tx():
            for sku, _, loc, _ in PRODUCTS:
                stock_svc.change_stock("main", loc, sku, set_to=stock, actor="test",
                                       now=clock.now(), reason="count")
            if spare:
                stock_svc.change_stock("main", SPARE_BIN, "SOCK", set_to=spare, actor="test",
                                       now=clock.now(), reason="count")
        channels.add_channel("api", "native")
        floor = Floor(app)
        for badge, role in (("p1", "picker"), ("p2", "picker"), ("s1", "supervisor"),
                            ("k1", "packer")):
            # a session token as /api/v1/auth/badge makes one (that login is tested
            # elsewhere; skipping it here saves an argon2 verification per user)
            user_id = auth.add_user(badge, role, "1234", f"User {badge}")
            floor.tokens[badge] = auth.create_token(role=role, label=f"login {badge}",
                                                    hours=12, user_id=user_id)
    floor.supervisor = floor.tokens["s1"]
    return floor


STATIONS = {"pack-1": {"warehouse": "main", "printer": "label-1"},
            "pack-2": {"warehouse": "main", "printer": "label-1"},
            "pack-rtm": {"warehouse": "rtm", "printer": "label-1"}}


def station_floor(db_url: str, tmp_path) -> Floor:
    """A floor with packing stations (two in main, one in rtm) printing to a file
    (`floor.labels`), as the packing tests use it."""
    from .conftest import make_app
    labels = tmp_path / "labels.zpl"
    app = make_app(db_url, picking=PICK_CFG, printers={"label-1": {"url": f"file://{labels}"}},
                   stations=STATIONS)
    floor = build_floor(app)
    floor.labels = labels
    return floor
