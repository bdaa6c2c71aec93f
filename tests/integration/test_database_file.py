"""W9 #7: the SQLite file is checked before it is served. A typo in DATABASE_URL or a
missing data folder no longer serves a new, empty warehouse; a corrupt or read-only file
is one `error:` line (no traceback, no stray -wal/-shm files); a file deleted under the
running server is noticed by /healthz and refuses writes instead of acknowledging them."""
from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from server.store import db as store_db

from ..conftest import PG_BASE, console_script, make_app, wavepack_serve


def _wavepack(*args: str, env_extra: dict | None = None, timeout: float = 60):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORT")}
    env.update(env_extra or {})
    return subprocess.run([console_script("wavepack"), *args], env=env, text=True,
                          capture_output=True, timeout=timeout)


def _one_error_line(proc) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_serve_refuses_a_missing_database_and_creates_nothing(tmp_path):
    folder = tmp_path / "typo" / "data"
    url = f"sqlite:///{folder}/wavepack.db"
    line = _one_error_line(_wavepack("serve", "--port", "1", env_extra={"DATABASE_URL": url}))
    assert "no database at" in line and "wavepack init-db" in line
    assert not (tmp_path / "typo").exists()
    # init-db creates it (folder included); then serve would take it
    assert _wavepack("init-db", env_extra={"DATABASE_URL": url}).returncode == 0
    assert (folder / "wavepack.db").is_file()


def test_serve_refuses_an_empty_postgresql_schema(pg_schema):
    empty = f"{PG_BASE}?schema=wp_empty_{uuid.uuid4().hex[:8]}"
    line = _one_error_line(_wavepack("serve", "--port", "1", env_extra={"DATABASE_URL": empty}))
    assert "no wavepack schema" in line


@pytest.mark.parametrize("command", [("serve", "--port", "1"), ("init-db",),
                                     ("user", "add", "9001", "--role", "picker", "--pin",
                                      "4827")])
def test_a_corrupt_file_is_one_error_line_and_leaves_no_wal(tmp_path, command):
    db = tmp_path / "wavepack.db"
    db.write_bytes(os.urandom(8192))
    line = _one_error_line(_wavepack(*command, env_extra={"DATABASE_URL": f"sqlite:///{db}"}))
    assert "not an SQLite database" in line or "database:" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wavepack.db"]


def test_a_damaged_database_past_its_header_is_one_error_line(tmp_path):
    """A real SQLite header over garbage: the check at start passes, the first query fails,
    and the command still says so in one line."""
    db = tmp_path / "wavepack.db"
    db.write_bytes(store_db.SQLITE_MAGIC + b"\x10\x00" + os.urandom(4096 * 3))
    line = _one_error_line(_wavepack("serve", "--port", "1",
                                     env_extra={"DATABASE_URL": f"sqlite:///{db}"}))
    assert line.startswith("error: database:"), line


def test_read_only_file_or_folder_is_refused_before_opening(tmp_path, monkeypatch):
    """As root every file is writable, so the refusal is checked with os.access answering as
    it does for the service user on a read-only file or folder."""
    from server import create_app
    db = tmp_path / "wavepack.db"
    create_app({"database": {"url": f"sqlite:///{db}"}, "testing": True})
    db.write_bytes(store_db.SQLITE_MAGIC)
    real = os.access
    for readonly, expected in ((str(db), "is read-only: wavepack writes"),
                               (str(tmp_path), "-wal and -shm")):
        monkeypatch.setattr(os, "access", lambda p, mode, ro=readonly: (
            False if os.fspath(p) == ro and mode & os.W_OK else real(p, mode)))
        with pytest.raises(store_db.DatabaseFileError, match=expected):
            store_db.check_sqlite_file(create=False)


def _call(url, method="GET", body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_file_deleted_under_the_server_is_noticed_and_writes_refused(tmp_path):
    with wavepack_serve(tmp_path / "data", "--demo") as srv:
        token = re.search(r"demo-api channel: (wpc_\S+)", srv.banner).group(1)
        assert _call(srv.base + "/healthz")[0] == 200
        for suffix in ("", "-wal", "-shm"):
            path = tmp_path / "data" / f"wavepack.db{suffix}"
            if path.exists():
                path.unlink()
        status, body = _call(srv.base + "/healthz")
        assert status == 503 and body["error"]["code"] == "database_unavailable", body
        assert "deleted" in body["error"]["message"]
        order = {"ref": "GONE-1", "placed_at": "2025-06-02T09:12:00+01:00", "currency": "GBP",
                 "paid": True, "ship_to": {"name": "O B", "phone": "+447700900101",
                                           "address1": "27 Granby St", "city": "Leicester",
                                           "postcode": "LE1 6EJ", "country": "GB"},
                 "lines": [{"sku": "WP-TEE-BLK-M", "quantity": 1, "unit_price": "24.00"}]}
        status, body = _call(srv.base + "/api/v1/orders", "POST", json.dumps(order).encode(),
                             {"Authorization": f"Bearer {token}",
                              "Content-Type": "application/json"})
        assert status == 503 and body["error"]["code"] == "database_unavailable", body


def test_the_test_apps_still_create_their_database(tmp_path):
    """make_app (init_db with create) is how tests and `wavepack init-db` make a database."""
    make_app(f"sqlite:///{tmp_path}/new/wavepack.db")
    assert (tmp_path / "new" / "wavepack.db").is_file()


def test_a_command_beside_the_running_server_leaves_its_database_whole(tmp_path):
    """The start-up check reads the file's header only before the process opens it: a
    second read while the server's connections were open dropped their POSIX locks, and a
    `wavepack import` run beside the server could then delete the server's WAL on exit
    (later requests: 'disk I/O error'). This is the scenario; what reproduced the failure
    every time was the pack-page e2e module (two catalogue imports beside its server, then
    the print worker's and the pages' connections)."""
    data = tmp_path / "data"
    with wavepack_serve(data, "--demo") as srv:
        csv = tmp_path / "catalogue.csv"
        csv.write_text("sku,gtin,name,unit_weight_g,location\n"
                       "WP-NEW-1,9506000299990,New thing,120,A-09-01-1\n", encoding="utf-8")
        for _ in range(2):
            proc = _wavepack("import", "catalogue", str(csv), env_extra={
                "DATABASE_URL": f"sqlite:///{data / 'wavepack.db'}",
                "WAVEPACK_SERVER_DATA_DIR": str(data)})
            assert proc.returncode == 0, proc.stderr
        token = re.search(r"demo-api channel: (wpc_\S+)", srv.banner).group(1)
        # many at once: the server opens new pooled connections, which find the WAL gone
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: _call(srv.base + "/api/v1/stock?sku=WP-NEW-1",
                                                    headers={"Authorization":
                                                             f"Bearer {token}"})[0],
                                    range(48)))
        assert set(answers) <= {200, 403}, answers
        for n in range(3):
            status, body = _call(srv.base + "/healthz")
            assert status == 200, body
            order = {"ref": f"BESIDE-{n}", "placed_at": "2025-06-02T09:12:00+01:00",
                     "currency": "GBP", "paid": True,
                     "ship_to": {"name": "O B", "phone": "+447700900101",
                                 "address1": "27 Granby St", "city": "Leicester",
                                 "postcode": "LE1 6EJ", "country": "GB"},
                     "lines": [{"sku": "WP-TEE-BLK-M", "quantity": 1, "unit_price": "24.00"}]}
            status, body = _call(srv.base + "/api/v1/orders", "POST", json.dumps(order).encode(),
                                 {"Authorization": f"Bearer {token}",
                                  "Content-Type": "application/json"})
            assert status == 201, body
        assert "disk I/O error" not in srv.banner
