"""Users and tokens on the console (issue 15 §1), admin only, on SQLite and PostgreSQL:
list and add users (the CLI's PIN rule, argon2id), disable (sessions revoked) and enable,
reset a PIN (a lockout lifted), list / create / revoke tokens (the secret shown once, never
listed); a supervisor, picker, packer or stranger is refused; bad input changes nothing."""
from __future__ import annotations

import pytest

from ..conftest import make_app
from ..floor import PICK_CFG, build_floor


@pytest.fixture
def floor(db_url):
    from server.services import auth
    from server.store.db import db
    floor = build_floor(make_app(db_url, picking=PICK_CFG))
    with floor.app.app_context(), db.connection_context():
        uid = auth.add_user("a1", "admin", "9999", "Ada Admin")
        floor.tokens["a1"] = auth.create_token(role="admin", label="login a1", hours=12,
                                               user_id=uid)
    return floor


def call(floor, method, path, badge="a1", **kw):
    return floor.api(method, "/api/v1/admin" + path, floor.tokens[badge], **kw)


def users(floor) -> dict:
    r = call(floor, "get", "/users")
    assert r.status_code == 200, r.get_json()
    return {u["badge"]: u for u in r.get_json()["users"]}


def login(floor, badge, pin):
    return floor.app.test_client().post("/api/v1/auth/badge", json={"badge": badge, "pin": pin})


def test_add_a_user_who_then_logs_in(floor):
    r = call(floor, "post", "/users", json={"badge": "p9", "role": "picker", "pin": "4321",
                                            "name": "Pat Picker"})
    assert r.status_code == 201, r.get_json()
    u = r.get_json()
    assert (u["badge"], u["role"], u["name"], u["active"], u["sessions"]) \
        == ("p9", "picker", "Pat Picker", True, 0)
    assert set(users(floor)) >= {"p1", "p2", "s1", "k1", "a1", "p9"}
    assert login(floor, "p9", "4321").status_code == 200
    assert users(floor)["p9"]["sessions"] == 1
    from server.store.db import db, execute
    with floor.app.app_context(), db.connection_context():
        pin_hash, = execute("SELECT pin_hash FROM app_user WHERE badge = 'p9'").fetchone()
        actor, = execute("SELECT actor FROM audit WHERE action = 'user.add' "
                         "ORDER BY id DESC LIMIT 1").fetchone()
    assert pin_hash.startswith("$argon2id$") and actor == "user:a1"


def test_disable_revokes_sessions_enable_lets_them_back(floor):
    p1 = floor.tokens["p1"]
    assert floor.api("get", "/api/v1/waves", p1).status_code in (200, 403)
    r = call(floor, "post", "/users/p1/disable")
    assert r.status_code == 200 and r.get_json()["active"] is False
    assert r.get_json()["sessions"] == 0
    assert floor.api("get", "/api/v1/orders/1", p1).status_code == 401
    assert login(floor, "p1", "1234").status_code == 401
    r = call(floor, "post", "/users/p1/enable")
    assert r.status_code == 200 and r.get_json()["active"] is True
    assert login(floor, "p1", "1234").status_code == 200
    r = call(floor, "post", "/users/a1/disable")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "self"
    assert users(floor)["a1"]["active"] is True


def test_reset_pin_follows_the_pin_rule_and_lifts_a_lockout(floor):
    for _ in range(6):
        login(floor, "k1", "0000")
    assert login(floor, "k1", "1234").status_code == 429          # locked
    for bad in ("12", "12a4", "", "1" * 65):
        r = call(floor, "post", "/users/k1/pin", json={"pin": bad})
        assert r.status_code == 422 and r.get_json()["error"]["field"] == "pin"
    assert login(floor, "k1", "1234").status_code == 429          # nothing changed
    r = call(floor, "post", "/users/k1/pin", json={"pin": "24680"})
    assert r.status_code == 200
    assert login(floor, "k1", "1234").status_code == 401
    assert login(floor, "k1", "24680").status_code == 200
    assert call(floor, "post", "/users/nobody/pin", json={"pin": "24680"}).status_code == 404


def test_tokens_created_once_listed_without_secret_and_revoked(floor):
    r = call(floor, "post", "/tokens", json={"role": "supervisor", "label": "wall screen",
                                             "hours": 24})
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    secret = made["token"]
    assert secret.startswith("wps_") and made["label"] == "wall screen" and made["active"]
    assert floor.api("get", "/api/v1/exceptions", secret).status_code == 200
    listed = call(floor, "get", "/tokens").get_json()["tokens"]
    assert made["id"] in [t["id"] for t in listed]
    assert secret not in str(listed) and all("token" not in t for t in listed)
    r = call(floor, "post", f"/tokens/{made['id']}/revoke")
    assert r.status_code == 200 and r.get_json()["revoked_now"] is True
    assert r.get_json()["active"] is False and r.get_json()["revoked_at"]
    assert floor.api("get", "/api/v1/exceptions", secret).status_code == 401
    again = call(floor, "post", f"/tokens/{made['id']}/revoke")
    assert again.status_code == 200 and again.get_json()["revoked_now"] is False
    assert made["id"] not in [t["id"] for t in call(floor, "get", "/tokens").get_json()["tokens"]]
    assert made["id"] in [t["id"] for t in call(
        floor, "get", "/tokens?include_revoked=true").get_json()["tokens"]]
    ch = call(floor, "post", "/tokens", json={"channel": "api"})
    assert ch.status_code == 201 and ch.get_json()["kind"] == "channel"
    assert ch.get_json()["channel"] == "api"


def test_an_admin_cannot_revoke_the_token_in_use(floor):
    mine = next(t for t in call(floor, "get", "/tokens").get_json()["tokens"]
                if t["badge"] == "a1")
    r = call(floor, "post", f"/tokens/{mine['id']}/revoke")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "self"


BAD = [
    ("/users", {"badge": "x1", "role": "boss", "pin": "1234"}, 422, "role"),
    ("/users", {"badge": "x1", "role": "picker", "pin": "12"}, 422, "pin"),
    ("/users", {"badge": "x 1", "role": "picker", "pin": "1234"}, 422, "badge"),
    ("/users", {"badge": "p1", "role": "picker", "pin": "1234"}, 422, "badge"),
    ("/users", {"role": "picker", "pin": "1234"}, 422, "badge"),
    ("/tokens", {"role": "picker", "channel": "api"}, 422, "role"),
    ("/tokens", {}, 422, "role"),
    ("/tokens", {"channel": "nope"}, 404, "channel"),
    ("/tokens", {"carrier": "not-configured"}, 422, "carrier"),
    ("/tokens", {"role": "picker", "hours": 0}, 422, "hours"),
]


def test_bad_input_is_refused_and_changes_nothing(floor):
    before_users = users(floor)
    before_tokens = call(floor, "get", "/tokens?include_revoked=true").get_json()
    for path, body, status, field in BAD:
        r = call(floor, "post", path, json=body)
        assert r.status_code == status, (body, r.get_json())
        assert r.get_json()["error"]["field"] == field, body
    assert users(floor) == before_users
    assert call(floor, "get", "/tokens?include_revoked=true").get_json() == before_tokens


def test_unknown_user_and_token_are_404(floor):
    assert call(floor, "post", "/users/nobody/disable").status_code == 404
    assert call(floor, "post", "/tokens/999999/revoke").status_code == 404


REFUSED = [
    ("get", "/users", None), ("post", "/users", {"badge": "z", "role": "admin", "pin": "1234"}),
    ("post", "/users/p1/disable", None), ("post", "/users/p1/enable", None),
    ("post", "/users/p1/pin", {"pin": "5555"}), ("get", "/tokens", None),
    ("post", "/tokens", {"role": "admin"}), ("post", "/tokens/1/revoke", None),
]


def test_supervisors_and_floor_staff_are_refused(floor):
    before = users(floor)
    for method, path, body in REFUSED:
        for badge in ("s1", "p1", "k1"):
            r = call(floor, method, path, badge, **({"json": body} if body else {}))
            assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
        r = getattr(floor.app.test_client(), method)("/api/v1/admin" + path,
                                                     **({"json": body} if body else {}))
        assert r.status_code == 401
    assert users(floor) == before


def test_the_cli_resets_pins_and_revokes_tokens_through_the_same_services(db_url, tmp_path):
    """`wavepack user reset-pin` and `wavepack token revoke`: the functions behind the
    console's buttons, from the command line (bad input: one line, non-zero exit)."""
    import os
    import subprocess

    from ..conftest import console_script
    from server.services import auth
    from server.store.db import db
    app = make_app(db_url)
    with app.app_context(), db.connection_context():
        auth.add_user("c1", "picker", "1111")
        raw = auth.create_token(role="supervisor", label="cli test")
        tid = next(t["id"] for t in auth.list_tokens() if t["label"] == "cli test")
    env = {**os.environ, "DATABASE_URL": db_url, "WAVEPACK_SERVER_DATA_DIR": str(tmp_path)}

    def cli(*args):
        return subprocess.run([console_script("wavepack"), *args], env=env,
                              capture_output=True, text=True, timeout=120)
    bad = cli("user", "reset-pin", "c1", "--pin", "12")
    assert bad.returncode != 0 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
    assert cli("user", "reset-pin", "c1", "--pin", "2222").returncode == 0
    done = cli("token", "revoke", str(tid))
    assert done.returncode == 0 and "revoked" in done.stdout
    assert cli("token", "revoke", "999999").returncode != 0
    client = app.test_client()
    assert client.post("/api/v1/auth/badge", json={"badge": "c1", "pin": "2222"}).status_code == 200
    assert client.get("/api/v1/exceptions",
                      headers={"Authorization": f"Bearer {raw}"}).status_code == 401



def test_a_token_may_expire_after_a_fraction_of_an_hour(floor):
    """hours is a JSON number (the schema's): 1.5 is an hour and a half, not a 500 (the
    fractional value reached timedelta as a Decimal)."""
    import datetime as dt
    r = call(floor, "post", "/tokens", json={"role": "picker", "hours": 1.5})
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    left = dt.datetime.fromisoformat(made["expires_at"]) - dt.datetime.fromisoformat(
        made["created_at"])
    assert left == dt.timedelta(hours=1, minutes=30), made
