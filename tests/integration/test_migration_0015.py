"""Migration 0015 on a database that already holds exceptions, on SQLite and PostgreSQL:
rows raised before the queue existed keep their state, get their owner from owner_role,
their order as subject (with its reference), `resolved` as the resolution of the resolved
ones, and show in GET /api/v1/exceptions."""
from __future__ import annotations

import pytest

from ..conftest import make_app
from ..floor import PICK_CFG, build_floor
from .test_counts import short_first_task

NAME = "0015_exception_queue"
ADDED = ("severity", "subject_kind", "subject_id", "subject_ref", "owner", "due_at",
         "escalate_at", "escalations", "created_by", "acknowledged_at", "acknowledged_by",
         "resolution", "updated_at")
INDEXES = ("wms_exception_type", "wms_exception_severity", "wms_exception_owner",
           "wms_exception_due", "wms_exception_escalate", "wms_exception_subject",
           "wms_exception_subject_ref", "wms_exception_order", "wms_exception_count")


@pytest.fixture
def floor(db_url):
    from server import clock
    yield build_floor(make_app(db_url, picking=PICK_CFG))
    clock.set_clock(None)


def test_0015_keeps_every_exception_and_fills_in_owner_subject_and_resolution(floor, db_url):
    from server.store import migrate
    from server.store.db import db
    a = floor.order("A-1", (("SOCK", 3),))
    floor.wave()
    short_first_task(floor)                 # a stock discrepancy and a short pick of A-1
    postgres = db_url.startswith("postgres")
    mark = "%s" if postgres else "?"
    with floor.app.app_context(), db.connection_context():
        before = [tuple(r) for r in db.execute_sql(
            "SELECT id, type, order_id, state, message FROM wms_exception ORDER BY id")]
        assert len(before) == 2
        disc = next(r[0] for r in before if r[1] == "stock_discrepancy")
        # as 0014 left it: no queue columns, a resolved row the old way
        for index in INDEXES:
            db.execute_sql(f"DROP INDEX {index}")
        db.execute_sql("DROP TABLE wms_exception_note")
        for column in ADDED:
            db.execute_sql(f"ALTER TABLE wms_exception DROP COLUMN {column}")
        db.execute_sql(f"UPDATE wms_exception SET state = 'resolved', resolved_by = 'x' "
                       f"WHERE id = {mark}", (disc,))
        db.execute_sql(f"DELETE FROM schema_migration WHERE name = {mark}", (NAME,))
        assert migrate.upgrade() == [NAME]
        after = [tuple(r) for r in db.execute_sql(
            "SELECT id, type, order_id, message FROM wms_exception ORDER BY id")]
        assert after == [r[:3] + r[4:] for r in before]
    page = floor.api("get", "/api/v1/exceptions").get_json()["exceptions"]
    got = {e["id"]: e for e in page}
    assert set(got) == {r[0] for r in before}
    short = next(e for e in page if e["type"] == "short_pick")
    assert (short["state"], short["owner"], short["subject"], short["resolution"],
            short["due_at"], short["overdue"]) == (
        "open", "supervisor", {"kind": "order", "id": a, "ref": "A-1"}, None, None, False)
    assert (got[disc]["state"], got[disc]["resolution"]) == ("resolved", "resolved")
    # and the queue works on them
    r = floor.api("post", f"/api/v1/exceptions/{short['id']}/resolve",
                  json={"resolution": "restocked"})
    assert r.status_code == 200 and r.get_json()["state"] == "resolved"
