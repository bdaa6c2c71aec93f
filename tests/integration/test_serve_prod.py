"""`wavepack serve-prod` refuses what several processes cannot share (exit 1, one clear
message, nothing started), and deploy/nginx/wavepack.conf renders into a config nginx
accepts, with this run's ports and body limit (`nginx -t`, as the calling user).
tests/integration/test_nginx_cluster.py runs the whole."""
from __future__ import annotations

import os
import subprocess

import pytest

from server import prod

from ..conftest import console_script, need_nginx


def _serve_prod(tmp_path, *args, **env_extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "SOCKETIO_MESSAGE_QUEUE") and not k.startswith("WAVEPACK_")}
    env.update(WAVEPACK_SERVER_DATA_DIR=str(tmp_path / "data"), **env_extra)
    return subprocess.run([console_script("wavepack"), "serve-prod", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_serve_prod_refuses_sqlite_and_a_missing_message_queue(tmp_path):
    run = _serve_prod(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith("error: serve-prod cannot start:")
    assert "DATABASE_URL must be a PostgreSQL URL" in run.stderr
    assert "SOCKETIO_MESSAGE_QUEUE must name a Redis" in run.stderr
    assert not (tmp_path / "data" / "serve-prod").exists() and not (tmp_path / "x.db").exists()
    run = _serve_prod(tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:1/x",
                      SOCKETIO_MESSAGE_QUEUE="redis://127.0.0.1:6379/0")
    assert run.returncode == 1 and "DATABASE_URL" not in run.stderr \
        and "Traceback" not in run.stderr      # the next refusal: no database there
    assert run.stderr.startswith("error:")


@pytest.mark.parametrize("ports", ["8001,x", "8001,8001", "0", ","])
def test_bad_backend_ports_are_refused(tmp_path, ports):
    run = _serve_prod(tmp_path, "--backend-ports", ports)
    assert run.returncode == 1 and run.stderr.startswith("error: --backend-ports takes")


def test_the_site_renders_with_this_runs_ports_and_nginx_accepts_it(tmp_path):
    site = prod.render_site(prod.SITE.read_text(encoding="utf-8"),
                            backends=[("127.0.0.1", 9101), ("127.0.0.1", 9102)],
                            listen=("127.0.0.1", 9100), body_bytes=1234)
    upstream = site[site.index("upstream wavepack {"):]
    upstream = upstream[:upstream.index("}")]
    assert [line.split()[1] for line in upstream.splitlines()
            if line.strip().startswith("server ")] == ["127.0.0.1:9101", "127.0.0.1:9102"]
    assert "hash $remote_addr consistent;" in upstream and "keepalive 32;" in upstream
    assert "listen 127.0.0.1:9100;" in site and "listen 80" not in site \
        and "[::]" not in site
    assert "client_max_body_size 1234;" in site
    # the WebSocket upgrade and the forwarded headers stay as the production file has them
    assert site.count("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;") == 2
    assert "proxy_set_header Upgrade $http_upgrade;" in site
    nginx = need_nginx()
    args = prod.write_nginx(tmp_path / "run", backends=[("127.0.0.1", 9101)],
                            listen=("127.0.0.1", 9100), body_bytes=8 * 1024 * 1024)
    check = subprocess.run([nginx, *args, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    assert "syntax is ok" in check.stderr
