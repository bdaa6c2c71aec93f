"""The after-commit event hook (server/events.py) with the write transaction of store/db."""
from __future__ import annotations

import pytest

from server import events
from server.store import db as store_db


@pytest.fixture
def seen():
    got: list[events.Event] = []
    off = [events.subscribe("t.one", got.append), events.subscribe("t.two", got.append)]
    yield got
    for f in off:
        f()


@pytest.fixture
def sqlite_db(tmp_path):
    from peewee import SqliteDatabase
    old = store_db.db.obj
    store_db.db.initialize(SqliteDatabase(str(tmp_path / "e.db")))
    store_db.db.execute_sql("CREATE TABLE t (x INTEGER)")
    yield store_db.db
    store_db.db.close()
    store_db.db.initialize(old)


def test_outside_a_transaction_is_delivered_at_once(seen):
    events.publish("t.one", a=1)
    assert [(e.name, e.data) for e in seen] == [("t.one", {"a": 1})]


def test_held_until_commit_in_order(seen, sqlite_db):
    with store_db.write_tx():
        events.publish("t.two", n=1)
        with store_db.write_tx():            # nested: still held for the outer commit
            events.publish("t.one", n=2)
        assert seen == [] and [e.data["n"] for e in events.held()] == [1, 2]
        store_db.execute("INSERT INTO t VALUES (1)")
    assert [e.data["n"] for e in seen] == [1, 2]
    assert events.held() == []


def test_dropped_on_rollback(seen, sqlite_db):
    with pytest.raises(RuntimeError):
        with store_db.write_tx():
            events.publish("t.one")
            raise RuntimeError("no")
    assert seen == []
    events.publish("t.one")                    # the next event is not stuck behind it
    assert len(seen) == 1


def test_a_failing_subscriber_does_not_stop_the_others(seen):
    def broken(event):
        raise ValueError("boom")
    off = events.subscribe(events.ANY, broken)
    try:
        events.publish("t.two")
    finally:
        off()
    assert [e.name for e in seen] == ["t.two"]


def test_subscribing_twice_is_once(seen):
    off = events.subscribe("t.one", seen.append)
    events.publish("t.one")
    off()
    assert len(seen) == 1
