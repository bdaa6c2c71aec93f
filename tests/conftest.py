"""Fixtures: every integration test runs on SQLite and on PostgreSQL.

PostgreSQL is 127.0.0.1:5432, database `test` (override with WAVEPACK_TEST_PG), a fresh
schema per run and per xdist worker, emptied before each test. With CI=true a missing
PostgreSQL fails the tests instead of skipping them.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

# No per-example deadline: on a loaded 2-core CI machine a slow example is not a failure
# (the properties are what the tests check; speed is measured by `make bench`).
settings.register_profile("wavepack", deadline=None)
settings.load_profile("wavepack")

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_BASE = os.environ.get("WAVEPACK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
DATA = Path(__file__).resolve().parent / "data"          # travels with the repository
STOREFRONTS = DATA / "storefronts"
BARCODES = DATA / "barcodes"


def console_script(name: str) -> str:
    """The path of one of the project's console scripts (wavepack, wavepack-handheld, flask)
    in the environment running the tests, so subprocess tests run them as a user does."""
    return str(Path(sys.executable).with_name(name))


def need(condition: bool, what: str) -> None:
    """Skip locally when a service is missing; fail in CI, where nothing may be skipped."""
    if condition:
        return
    if CI:
        pytest.fail(f"{what} is required when CI=true", pytrace=False)
    pytest.skip(f"{what} not available")


def need_nginx() -> str:
    """The nginx binary (Debian package nginx, in APT_PACKAGES): skipped locally without
    it, a failure under CI=true."""
    from server.prod import find_nginx
    path = find_nginx()
    need(path is not None, "nginx (Debian package nginx: make setup installs it)")
    return str(path)


def redis_up() -> bool:
    """Redis answers at 127.0.0.1:6379 (tests sharing it use their own keys and channels)."""
    try:
        import redis
        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2).ping())
    except Exception:   # noqa: BLE001 (any failure means: not usable)
        return False


_pg_problem: list[str] = []


def _pg_available(wait_s: float = 30.0) -> bool:
    """PostgreSQL answers. A server that is there but busy (all connection slots taken by
    a parallel run, slow to accept under load) is waited for; one that refuses
    connections (not running) fails after the same wait."""
    import time
    import psycopg
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with psycopg.connect(PG_BASE, connect_timeout=5):
                return True
        except Exception as err:   # noqa: BLE001 (any failure means: not usable yet)
            if time.monotonic() >= deadline:
                _pg_problem[:] = [str(err).strip().splitlines()[0] if str(err) else repr(err)]
                return False
            time.sleep(1.0)


@pytest.fixture(scope="session")
def pg_schema():
    """A fresh schema for this run (and xdist worker); dropped at the end."""
    ok = _pg_available()
    need(ok, "PostgreSQL at 127.0.0.1:5432 (database test)"
         + (f" [{_pg_problem[0]}]" if not ok and _pg_problem else ""))
    import psycopg
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    schema = f"wp_test_{worker}_{uuid.uuid4().hex[:8]}"
    yield schema
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _truncate_pg() -> None:
    from server.store.db import db
    tables = [r[0] for r in db.execute_sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename <> 'schema_migration'").fetchall()]
    if tables:
        db.execute_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                       + " RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/wavepack.db"
    schema = request.getfixturevalue("pg_schema")
    return f"{PG_BASE}?schema={schema}"


def make_app(db_url: str, **overrides):
    from server import create_app
    from server.store.db import db
    # webhooks applied in the request, so tests read the outcome from the answer;
    # tests/integration/test_inbox.py covers the asynchronous inbox
    cfg = {"database": {"url": db_url}, "testing": True, "webhooks": {"process": "inline"}}
    for section, values in overrides.items():
        cfg[section] = values
    app = create_app(cfg)
    if db_url.startswith("postgres"):
        with db.connection_context():
            _truncate_pg()
    from server.services import setup
    with app.app_context():
        setup.init_db()
    return app


@pytest.fixture
def app(db_url):
    from server import clock
    app = make_app(db_url)
    yield app
    clock.set_clock(None)
    from server.store.db import db
    if not db.is_closed():
        db.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def dbconn(app):
    """An open connection for tests that call services directly."""
    from server.store.db import db
    with db.connection_context():
        yield db


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    """A running `wavepack serve`: its base URL, everything it printed so far, the process."""
    base: str
    lines: list[str]
    proc: subprocess.Popen

    @property
    def banner(self) -> str:
        return "".join(self.lines)


@contextlib.contextmanager
def wavepack_serve(data_dir, *args: str, db_url: str | None = None, **env_extra: str):
    """`wavepack serve ARGS` as a user starts it: a real process on a free port with its own
    data dir (and DATABASE_URL when given), up once it prints "Running on" (printed after the
    port is bound). Its output keeps being read (a full pipe would block it); stopped at the end."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(WAVEPACK_SERVER_DATA_DIR=str(data_dir), PORT=str(port), **env_extra)
    if db_url:
        env["DATABASE_URL"] = db_url
    proc = subprocess.Popen([console_script("wavepack"), "serve", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Running on" in line or proc.poll() is not None:
            break
    try:
        assert proc.poll() is None and "Running on" in lines[-1], "".join(lines)
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
        yield Served(f"http://127.0.0.1:{port}", lines, proc)
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM, as a service manager stops it; SIGKILL if it has not exited in `timeout`."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def descendants(pid: int) -> list[int]:
    """Process ids of the children of `pid`, their children and so on (Linux /proc): what a
    served server started (its document worker pool)."""
    from pathlib import Path
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        todo += children
    return found
