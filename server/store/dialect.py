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
