"""A scan_id replays only for who sent it: picker B sending picker A's scan_id got A's
stored ack (its task and next pick included). Now the same user on the same device gets
the replay; anyone else gets scan_id_conflict and nothing is counted (SQLite and
PostgreSQL; picking over /handheld, packing over REST)."""
from __future__ import annotations

from .test_packing import call, floor, open_, picked, pscan, sql  # noqa: F401 (fixture)
from .test_picking import BIN, GTIN, ack, scan
from ..floor import sid


def _conflict(answer) -> bool:
    return answer["ok"] is False and answer["error"]["code"] == "scan_id_conflict"


def test_another_pickers_scan_id_is_a_conflict_not_their_ack(floor):  # noqa: F811
    a = floor.order("A-1", (("SOCK", 3),))
    floor.wave()
    mine = floor.socket("p1")
    ack(mine, "task.next")
    scan(mine, BIN["SOCK"])
    taken = sid()
    first = scan(mine, GTIN["SOCK"], scan_id=taken)
    assert first["verdict"] == "ok"
    other = floor.socket("p2")
    assert _conflict(scan(other, GTIN["SOCK"], scan_id=taken))
    assert _conflict(ack(other, "tote.scan", {"scan_id": taken, "raw": "TOTE-9"}))
    # the same picker on another handheld: not a replay either
    sio = floor.app.extensions["socketio"]
    second_device = sio.test_client(floor.app, namespace="/handheld",
                                    auth={"token": floor.tokens["p1"], "device": "HH-other"})
    assert _conflict(scan(second_device, GTIN["SOCK"], scan_id=taken))
    assert scan(mine, GTIN["SOCK"], scan_id=taken) == first          # the real replay
    assert floor.order_json(a)["lines"][0]["picked"] == 1


def test_another_packers_scan_id_is_a_conflict(floor):  # noqa: F811
    picked(floor, ("A-1", (("SOCK", 2),)))
    s = open_(floor, "A-1").get_json()
    taken = sid()
    first = pscan(floor, s["id"], GTIN["SOCK"], taken)
    r = call(floor, "post", f"/api/v1/pack/sessions/{s['id']}/scan", "s1",
             json={"scan_id": taken, "raw": GTIN["SOCK"]})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "scan_id_conflict"
    assert pscan(floor, s["id"], GTIN["SOCK"], taken) == first
    assert sql(floor, "SELECT COUNT(*) FROM pack_unit")[0][0] == 1
