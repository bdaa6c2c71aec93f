"""Database set-up and the demo warehouse."""
from __future__ import annotations

from .. import clock
from ..store import db as store_db
from ..store.migrate import schema_version, upgrade
from ..store.models import Warehouse


def init_db() -> dict:
    """Apply migrations and make sure the default warehouse `main` exists."""
    with store_db.db.connection_context():
        upgrade()
        with store_db.write_tx():
            (Warehouse.insert(code="main", name="Main warehouse", zone="uk",
                              created_at=clock.now())
             .on_conflict_ignore().execute())
        return {"database": store_db.kind(), "schema_version": schema_version()}


def ensure_demo() -> list[str]:
    """Create the demo warehouse data on first start; return the demo logins to print."""
    return []
