"""What every exception a source raises must carry (issue 14 §1): the subject it concerns,
the owner, severity and due time its type's SLA in config gives. The integration tests
that drive each source call raised() on what that source opened."""
from __future__ import annotations

import contextlib
import datetime as dt


def raised(app, type_: str, subject_kind: str, *, ref: str | None = None,
           subject_id: int | None = None, state: str = "open") -> dict:
    """The newest exception of `type_` (as GET /api/v1/exceptions shows it), checked."""
    from server.services import exceptions
    from server.store.db import db
    with contextlib.ExitStack() as stack:
        stack.enter_context(app.app_context())
        if db.is_closed():           # a test holding a connection keeps it open
            stack.enter_context(db.connection_context())
        page, _ = exceptions.list_exceptions(type_=type_, limit=1)
    assert page, f"no {type_} exception was opened"
    e = page[0]
    sla = app.config["WAVEPACK"].exceptions.sla(type_)
    assert e["state"] == state, e
    assert e["subject"]["kind"] == subject_kind, e
    if ref is not None:
        assert e["subject"]["ref"] == ref, e
    if subject_id is not None:
        assert e["subject"]["id"] == subject_id, e
    assert (e["owner"], e["severity"]) == (sla.owner, sla.severity), e
    created = dt.datetime.fromisoformat(e["created_at"])
    assert dt.datetime.fromisoformat(e["due_at"]) - created == dt.timedelta(hours=sla.sla_hours)
    return e
