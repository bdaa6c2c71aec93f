"""/healthz, JSON errors, and the database going away: connections the server ended are
replaced before use, and while the database is away everything answers 503."""
import psycopg

from server.services import auth
from server.store.db import db

from ..at_once import at_once
from ..conftest import PG_BASE, free_port


def test_healthz_reports_database_and_schema(client, db_url):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok"
    assert body["database"] == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    assert body["schema_version"] >= 1
    assert body["schema_current"] is True


def test_unknown_route_is_json_404(client):
    resp = client.get("/nope")
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"


# ---- the database going away and coming back ------------------------------------------------


def _concurrently(app, n, path, headers=None):
    """`n` GETs of `path` at once (each its own thread, so the pool opens several)."""
    return at_once(n, lambda _i: app.test_client().get(path, headers=headers).status_code)


def _kill_idle_pool_connections(db_url) -> int:
    """What a PostgreSQL restart does to the connections idle in the pool: the server ends
    them (here only this test's own backends, by pid, not the shared server). On SQLite
    the pooled connections are closed underneath the pool."""
    idle = [conn for _, _, conn in db.obj._connections]
    if db_url.startswith("sqlite"):
        for conn in idle:
            conn.close()
        return len(idle)
    pids = [conn.info.backend_pid for conn in idle]
    with psycopg.connect(PG_BASE, autocommit=True) as admin:
        for pid in pids:
            # with a timeout, pg_terminate_backend waits until the backend is gone
            assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone()[0]
    return len(pids)


def test_pooled_connections_the_server_ended_are_replaced_not_a_500(app, db_url):
    with app.app_context(), db.connection_context():
        token = auth.create_token(role="supervisor")
    h = {"Authorization": f"Bearer {token}"}
    assert set(_concurrently(app, 8, "/api/v1/orders", h)) == {200}
    assert _kill_idle_pool_connections(db_url) >= 2
    codes = _concurrently(app, 8, "/api/v1/orders", h) + _concurrently(app, 8, "/healthz")
    codes += [app.test_client().get("/healthz").status_code for _ in range(5)]
    assert set(codes) == {200}, codes


def _database_away(db_url):
    """Point the open app at a database that is not there (a closed port; a SQLite file in
    no directory), as if it stopped; returns how to bring it back."""
    obj = db.obj
    obj.close_all()
    if db_url.startswith("sqlite"):
        saved = obj.database
        obj.database = "/nonexistent-wavepack-dir/wavepack.db"

        def back():
            obj.close_all()
            obj.database = saved
    else:
        saved = obj.connect_params["port"]
        obj.connect_params["port"] = free_port()

        def back():
            obj.close_all()
            obj.connect_params["port"] = saved
    return back


def test_while_the_database_is_away_everything_answers_503(app, db_url):
    with app.app_context(), db.connection_context():
        uid = auth.add_user("P1", "picker", "1234")
        token = auth.create_token(role="picker", hours=1, user_id=uid)
    sio = app.extensions["socketio"]
    open_socket = sio.test_client(app, namespace="/handheld", auth={"token": token})
    assert open_socket.is_connected("/handheld")
    h = {"Authorization": f"Bearer {token}"}
    back = _database_away(db_url)
    try:
        client = app.test_client()
        for resp in (client.get("/healthz"), client.get("/api/v1/orders", headers=h),
                     client.post("/api/v1/auth/badge", json={"badge": "P1", "pin": "1234"}),
                     client.post("/api/v1/waves", json={"warehouse": "main"}, headers=h)):
            assert resp.status_code == 503, (resp.request.path, resp.get_json())
            assert resp.get_json()["error"]["code"] == "database_unavailable"
            assert resp.headers["Retry-After"]
        got = open_socket.emit("task.next", {}, namespace="/handheld", callback=True)
        assert got["ok"] is False and got["error"]["code"] == "database_unavailable", got
        late = sio.test_client(app, namespace="/handheld", auth={"token": token})
        assert not late.is_connected("/handheld")
    finally:
        back()
    # back: the same app answers again, no restart needed
    assert app.test_client().get("/healthz").status_code == 200
    assert open_socket.emit("task.next", {}, namespace="/handheld", callback=True)["ok"]
