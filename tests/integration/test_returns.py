"""Returns, exchanges, repairs and refunds (issue 14 §3), on SQLite and PostgreSQL."""
from __future__ import annotations


def test_return_tables_exist(dbconn):
    from server.store.models import ReturnLine, ReturnRequest
    assert ReturnRequest.select().count() == 0
    assert ReturnLine.select().count() == 0
