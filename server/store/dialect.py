"""Type words that differ between SQLite and PostgreSQL in the migrations' raw DDL."""
from peewee import PostgresqlDatabase

DIALECT = {
    "sqlite": {"pk": "INTEGER NOT NULL PRIMARY KEY", "ts": "DATETIME", "bool": "INTEGER",
               "true": "1", "false": "0"},
    "postgresql": {"pk": "BIGSERIAL PRIMARY KEY", "ts": "TIMESTAMP", "bool": "BOOLEAN",
                   "true": "TRUE", "false": "FALSE"},
}


def for_database(db) -> dict[str, str]:
    return DIALECT["postgresql" if isinstance(db, PostgresqlDatabase) else "sqlite"]


def run_ddl(db, ddl: str) -> None:
    """Run `;`-separated statements with the dialect's words filled in."""
    for statement in ddl.format(**for_database(db)).split(";"):
        if statement.strip():
            db.execute_sql(statement)


def rebuild_sqlite_table(db, table: str, change) -> bool:
    """Rebuild SQLite `table` from its own stored definition passed through
    `change(sql) -> sql | None` (None: nothing to change, nothing done), with its rows and
    indexes, then check every foreign key (peewee's SQLite migrator runs migrations with
    foreign keys off, as a rebuild needs). SQLite cannot drop a NOT NULL in place."""
    import re
    stored = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND "
                            "name = ?", (table,)).fetchone()[0]
    new = change(stored)
    if new is None:
        return False
    indexes = [r[0] for r in db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL", (table,)).fetchall()]
    temp = f"{table}_rebuilt"
    db.execute_sql(re.sub(rf"^CREATE TABLE\s+\"?{table}\"?", f"CREATE TABLE {temp}", new))
    db.execute_sql(f"INSERT INTO {temp} SELECT * FROM {table}")
    db.execute_sql(f"DROP TABLE {table}")
    db.execute_sql(f"ALTER TABLE {temp} RENAME TO {table}")
    for statement in indexes:
        db.execute_sql(statement)
    broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"foreign keys broken by the {table} rebuild: {broken[:5]}")
    return True
