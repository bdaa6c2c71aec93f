"""The Database proxy and how it is opened from a URL.

`db` is declared at import and initialised by create_app() (or the CLI) from
DATABASE_URL: `sqlite:///path/to/file.db` (WAL, foreign keys, writes in
BEGIN IMMEDIATE) or `postgresql://user@host:port/dbname[?schema=name]`.
"""
from __future__ import annotations

import contextlib
import os
import re
import select
import sqlite3
import sys
import threading
import weakref
from typing import Callable, Iterator, TypeVar
from urllib.parse import parse_qs, unquote, urlparse

import psycopg
from peewee import DatabaseProxy, PostgresqlDatabase
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase, PooledSqliteDatabase

T = TypeVar("T")

db = DatabaseProxy()
_sqlite_writer = threading.Lock()

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


# Connections are pooled: a request returns its connection at teardown instead of closing
# it (a new PostgreSQL connection costs ~15 ms; closing the last SQLite connection
# checkpoints the WAL). Up to `database.pool_size` at once (config); a request waits up to
# POOL_WAIT s for one.
POOL_SIZE = 32
POOL_WAIT = 30
CONNECT_TIMEOUT_S = 5     # a database host that does not answer: 503 after this, not a hang


class _Postgres(PooledPostgresqlDatabase):
    """PostgreSQL on psycopg 3, optionally pinned to one schema (tests use a fresh one per run)."""

    def __init__(self, *args, schema: str | None = None, **kwargs):
        self._schema = schema
        self._ready: weakref.WeakSet = weakref.WeakSet()
        super().__init__(*args, prefer_psycopg3=True, **kwargs)

    def _initialize_connection(self, conn):  # noqa: D401 (peewee hook)
        # peewee calls this on every checkout from the pool; the schema only needs setting
        # once per server connection (three round trips per request otherwise)
        if self._schema and conn not in self._ready:
            with conn.cursor() as cur:
                cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
                cur.execute(f'SET search_path TO "{self._schema}"')
            conn.commit()
            self._ready.add(conn)

    def _is_closed(self, conn):  # noqa: D401 (peewee pool hook)
        """Whether a pooled connection is unusable, judged locally: peewee's own check
        sends `SELECT 1` on every checkout while holding the pool lock, a round trip that
        serialises every request of the process. Instead one zero-timeout poll of the
        socket: an idle connection has nothing to read, so anything there is the server
        hanging up (a restart, pg_terminate_backend, an idle timeout: it sends its FATAL
        notice and closes). Such a connection is dropped here, before a request uses it;
        it answered one request with a 500 each after a PostgreSQL restart."""
        if conn.closed or conn.broken:
            return True
        status = conn.info.transaction_status
        if status == psycopg.pq.TransactionStatus.UNKNOWN:
            return True
        if status != psycopg.pq.TransactionStatus.IDLE:
            try:
                conn.rollback()
            except Exception:  # noqa: BLE001
                return True
        return _hung_up(conn)


def _hung_up(conn) -> bool:
    """Whether the server has written to (or closed) this idle connection's socket."""
    try:
        poller = _poll()
        poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except Exception:  # noqa: BLE001 (no socket to look at: unusable)
        return True


def _poll():
    """select.poll itself, also under gevent's patches (a zero-timeout look needs no hub)."""
    if "gevent.monkey" in sys.modules:
        from gevent import monkey
        return monkey.get_original("select", "poll")()
    return select.poll()


# SQLSTATE classes of a lost or refused connection (08: connection exception; 57P01-03:
# admin/crash shutdown, cannot connect now), and no SQLSTATE at all (the socket failed)
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03")


def is_unavailable(err: BaseException) -> bool:
    """Whether `err` (or what it wraps: peewee puts the driver's error in args[0]) means the
    database cannot be reached, rather than a refused statement: a deadlock or a lock
    timeout is an OperationalError too, but the database is there."""
    for e in error_chain(err):
        if isinstance(e, psycopg.OperationalError | psycopg.InterfaceError):
            state = getattr(e, "sqlstate", None)
            if state is None or state.startswith(_UNAVAILABLE_STATES):
                return True
        if isinstance(e, sqlite3.OperationalError) and "unable to open" in str(e):
            return True
        if isinstance(e, MaxConnectionsExceeded):
            return False
    return False


def log_failure(logger, what: str, err: BaseException) -> None:
    """A loop's failed round in the log: one warning line when the database cannot be
    reached (a known state, said once per round, with the cause), else the traceback. With
    PostgreSQL away every worker loop and scan batch failed each round with a full
    traceback (30 lines each, several a second), burying whatever else went wrong."""
    if is_unavailable(err):
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        logger.warning("%s: database unavailable (%s)", what, first)
    else:
        logger.exception(what)


def error_chain(err: BaseException) -> Iterator[BaseException]:
    """`err` and every error it wraps: peewee puts the driver's error in args[0] (and in
    __context__), and code may raise its own from it (__cause__)."""
    seen: set[int] = set()
    stack: list = [err]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend([e.__cause__, e.__context__, *(e.args[:1] if e.args else ())])



def open_database(url: str, pool_size: int = POOL_SIZE):
    """Build (not connect) a peewee database from a URL."""
    if not isinstance(pool_size, int) or pool_size < 1:
        raise ValueError(f"database.pool_size must be 1 or more, not {pool_size!r}")
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError("sqlite URL must look like sqlite:///path/to/file.db")
        return PooledSqliteDatabase(path, max_connections=pool_size, timeout=POOL_WAIT,
                                    stale_timeout=3600, pragmas={
            "journal_mode": "wal",
            "foreign_keys": 1,
            "busy_timeout": 30000,
            # WAL + FULL: a commit is on disk before we acknowledge it
            "synchronous": "full",
            "cache_size": -32000,
        }, check_same_thread=False)
    if parsed.scheme in ("postgres", "postgresql"):
        params = parse_qs(parsed.query)
        schema = (params.get("schema") or [None])[0]
        if schema and not _SCHEMA_RE.match(schema):
            raise ValueError(f"bad schema name {schema!r}")
        return _Postgres(
            unquote(parsed.path.lstrip("/")) or "postgres",
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            schema=schema,
            max_connections=pool_size, timeout=POOL_WAIT, stale_timeout=3600,
            connect_timeout=CONNECT_TIMEOUT_S,
        )
    raise ValueError(f"unsupported DATABASE_URL scheme {parsed.scheme!r} (sqlite or postgresql)")


# ---- the SQLite file: there, usable, and still the one this process opened ----------------

SQLITE_MAGIC = b"SQLite format 3\x00"
_identity: dict[str, tuple[int, int]] = {}     # path → (st_dev, st_ino) when it was checked


class DatabaseFileError(ValueError):
    """The SQLite file cannot be served: missing, not a database, read-only, or replaced."""


def sqlite_path() -> str | None:
    """The open database's file (None on PostgreSQL or in memory)."""
    if is_postgres() or db.obj is None:
        return None
    path = db.obj.database
    return None if path in (":memory:", "") else os.path.abspath(path)


def check_sqlite_file(*, create: bool) -> None:
    """Before the first connection: refuse a file that cannot be a usable database, with a
    one-line reason, instead of a traceback and stray -wal/-shm files; a missing file (or
    folder) is created only when `create` (init-db, --demo). A typo in DATABASE_URL must not
    serve a new, empty warehouse."""
    path = sqlite_path()
    if path is None:
        return
    folder = os.path.dirname(path)
    if not os.path.exists(path):
        if not create:
            raise DatabaseFileError(
                f"no database at {path}: create it with `wavepack init-db` "
                f"(or `wavepack serve --demo`), or check DATABASE_URL / server.data_dir")
        os.makedirs(folder, exist_ok=True)
        return
    if not os.path.isfile(path):
        raise DatabaseFileError(f"{path} is not a file")
    # Read the header only before this process has the database open: closing any file
    # descriptor of a file drops every POSIX lock the process holds on it, SQLite's
    # included, and another process (a `wavepack import` beside the server) would then
    # take the server's WAL for its own and delete it on exit ("disk I/O error").
    if path not in _identity:
        try:
            with open(path, "rb") as fh:
                head = fh.read(len(SQLITE_MAGIC))
        except OSError as err:
            raise DatabaseFileError(f"cannot read {path}: {err.strerror}") from err
        if head and head != SQLITE_MAGIC:
            raise DatabaseFileError(f"{path} is not an SQLite database (corrupt or another "
                                    "file)")
    if not os.access(path, os.W_OK):
        raise DatabaseFileError(f"{path} is read-only: wavepack writes to its database")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DatabaseFileError(f"{folder} is read-only: SQLite keeps its -wal and -shm files "
                                "beside the database")


def remember_sqlite_file() -> None:
    """Note which file this process serves (after it was checked and opened), so that a
    file deleted or replaced under the running server is noticed (sqlite_file_problem)."""
    path = sqlite_path()
    if path is not None:
        st = os.stat(path)
        _identity[path] = (st.st_dev, st.st_ino)


def sqlite_file_problem() -> str | None:
    """Why the file this process opened is no longer there (deleted, replaced), else None.
    A stat() call: cheap enough for every write and every /healthz. Writes to a deleted
    file would be acknowledged and then gone at the next start."""
    path = sqlite_path()
    if path is None or path not in _identity:
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"the database file {path} was deleted under the running server"
    if (st.st_dev, st.st_ino) != _identity[path]:
        return f"the database file {path} was replaced under the running server"
    return None


def kind() -> str:
    """'sqlite' or 'postgresql'."""
    return "postgresql" if isinstance(db.obj, PostgresqlDatabase) else "sqlite"


def is_postgres() -> bool:
    return isinstance(db.obj, PostgresqlDatabase)


@contextlib.contextmanager
def write_tx() -> Iterator[None]:
    """A write transaction: BEGIN IMMEDIATE on SQLite (the write lock up front, so a
    read never has to upgrade and fail with 'database is locked'); a plain
    transaction on PostgreSQL, where rows are locked explicitly. Events published inside
    (server/events.py) are delivered after the outermost one commits. An error raised
    before the outermost COMMIT was sent is marked so (store.retry.mark_uncommitted): a
    lost connection behind it left nothing committed and the work may be redone."""
    if db.transaction_depth() > 0:
        with db.atomic():
            yield
        return
    from .retry import mark_uncommitted
    committing = False
    try:
        with _outermost():
            yield
            committing = True       # the body is done: what fails from here is the COMMIT
    except BaseException as err:
        if not committing:
            mark_uncommitted(err)
        raise


@contextlib.contextmanager
def _outermost() -> Iterator[None]:
    from .. import events
    if is_postgres():
        with events.transaction(), db.atomic():
            yield
    else:
        problem = sqlite_file_problem()
        if problem:
            from ..domain.errors import DomainError
            raise DomainError(problem + "; nothing was written", code="database_unavailable",
                              status=503)
        # SQLite has one writer at a time; queueing this process's writers on a lock keeps
        # them from sleep-polling the busy handler (which starves some of them for seconds
        # under 30 threads). Other processes still wait through busy_timeout.
        with events.transaction(), _sqlite_writer, db.atomic("IMMEDIATE"):
            yield


def param() -> str:
    """The DB-API placeholder of the open database ('?' or '%s')."""
    return db.obj.param


def sql(statement: str) -> str:
    """Write raw SQL with '?' placeholders; this gives the driver's own."""
    return statement if not is_postgres() else statement.replace("?", "%s")


def executemany(statement: str, rows: list) -> int:
    """Many rows through one prepared statement (psycopg 3 pipelines them)."""
    if not rows:
        return 0
    cur = db.cursor()
    cur.executemany(sql(statement), rows)
    return cur.rowcount


def execute(statement: str, params: tuple | list = ()):
    return db.execute_sql(sql(statement), params)


def bump_number_range(name: str, step: Callable[[int | None], tuple[T, int]]) -> T:
    """The next value of number range `name` (tracking numbers, SSCCs, RMAs), inside the
    caller's write transaction: `step(last_serial)` → (value, serial to store), with None
    for a range not used yet. Two transactions opening the same new range at once both
    get a number: the row is created with INSERT … ON CONFLICT DO NOTHING (which waits for
    the other's insert to commit) and, if the other made it, read locked and bumped —
    never "select, then insert", whose loser fails on the primary key."""
    lock = " FOR UPDATE" if is_postgres() else ""
    select = "SELECT last_serial FROM number_range WHERE name = ?" + lock
    row = execute(select, (name,)).fetchone()
    if row is None:
        value, serial = step(None)
        made = execute("INSERT INTO number_range (name, last_serial) VALUES (?, ?) "
                       "ON CONFLICT (name) DO NOTHING", (name, serial)).rowcount
        if made == 1:
            return value
        row = execute(select, (name,)).fetchone()     # made meanwhile, committed
    value, serial = step(row[0])
    execute("UPDATE number_range SET last_serial = ? WHERE name = ?", (serial, name))
    return value
