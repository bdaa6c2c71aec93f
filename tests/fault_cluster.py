"""The production runtime as separate processes a fault test can hurt one at a time.

`wavepack serve-prod` supervises its children and stops them all when one dies (for
systemd to restart the whole), which is right in production and useless for a test that
kills one web process and watches the others carry on. So this harness starts what
serve-prod starts, itself: N `wavepack serve --no-workers` processes, one `wavepack worker`
and nginx on deploy/nginx/wavepack.conf rendered by server/prod.py, with the environment
serve-prod gives them (prod.child_env: behind one proxy, rate limits in the message
queue's Redis). PostgreSQL and Redis are reached through TcpProxy (tests/tcp_proxy.py), so
a test can cut them without touching the machine's own services.

    with Cluster(tmp_path, db_url, webs=2) as cl:
        cl.front                     # http://127.0.0.1:<nginx port>
        cl.kill("web1"); cl.start_web("web1")
        cl.pg.cut(); cl.pg.restore(); cl.redis.cut()
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from .conftest import console_script, free_port
from .tcp_proxy import TcpProxy

START_TIMEOUT_S = 90.0     # a liveness bound for start-up on a loaded machine


@dataclass
class Proc:
    name: str
    argv: list[str]
    ready: str
    proc: subprocess.Popen | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def through(url: str, proxy: TcpProxy) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")
    userinfo = netloc[0] + "@" if netloc[1] else ""
    return urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{proxy.port}"))


class Cluster:
    """Web processes, a worker and nginx on PostgreSQL and Redis behind proxies."""

    def __init__(self, tmp_path: Path, db_url: str, *, webs: int = 2, worker: bool = True,
                 nginx: str | None = None, config: str = "",
                 redis_url: str = "redis://127.0.0.1:6379/0") -> None:
        db = urlsplit(db_url)
        self.pg = TcpProxy(db.hostname or "127.0.0.1", db.port or 5432)
        rd = urlsplit(redis_url)
        self.redis = TcpProxy(rd.hostname or "127.0.0.1", rd.port or 6379)
        self.db_url, self.redis_url = db_url, redis_url
        self.tmp = tmp_path
        self.nginx_bin = nginx
        self.n_webs, self.with_worker = webs, worker
        self.config = config
        self.ports: dict[str, int] = {}
        self.procs: dict[str, Proc] = {}
        self.front = ""
        self.env: dict[str, str] = {}

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from server import prod
        from server.config import load_config
        self.pg.start()
        self.redis.start()
        overlay = self.tmp / "cluster.yaml"
        overlay.write_text(self.config, encoding="utf-8")
        mq = through(self.redis_url, self.redis)
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("WAVEPACK_") and k not in ("DATABASE_URL", "PORT")}
        base.update(DATABASE_URL=through(self.db_url, self.pg), SOCKETIO_MESSAGE_QUEUE=mq,
                    WAVEPACK_SERVER_MESSAGE_QUEUE_CHANNEL=f"wp-fault-{uuid.uuid4().hex}",
                    WAVEPACK_AUTH_RATE_LIMIT_PREFIX=f"wp-fault-{uuid.uuid4().hex}",
                    WAVEPACK_CONFIG=str(overlay),
                    WAVEPACK_SERVER_DATA_DIR=str(self.tmp / "data"),
                    WAVEPACK_DOCUMENTS_WORKERS="0")
        cfg = load_config(env=base)
        self.env = prod.child_env(cfg, base)          # as serve-prod gives its children
        names = [f"web{i + 1}" for i in range(self.n_webs)]
        for name in names:
            self.ports[name] = free_port()
            self.procs[name] = Proc(name, self._web_argv(name), "Running on")
        if self.with_worker:
            self.procs["worker"] = Proc("worker", [console_script("wavepack"), "worker"],
                                        " running ")
        for proc in self.procs.values():
            self._spawn(proc)
        for proc in self.procs.values():
            self._wait_up(proc)
        if self.nginx_bin:
            port = free_port()
            run_dir = self.tmp / "nginx"
            args = prod.write_nginx(run_dir, backends=[("127.0.0.1", self.ports[n])
                                                       for n in names],
                                    listen=("127.0.0.1", port),
                                    body_bytes=cfg.server.max_body_bytes, workers=1)
            nginx = Proc("nginx", [self.nginx_bin, *args], "")
            self.procs["nginx"] = nginx
            self._spawn(nginx)
            self.front = f"http://127.0.0.1:{port}"
            _until(lambda: _answers(self.front + "/healthz"), 30, "nginx to answer")
        elif names:
            self.front = self.url(names[0])

    def stop(self) -> None:
        for name in ("nginx", *sorted(n for n in self.procs if n.startswith("web")), "worker"):
            proc = self.procs.get(name)
            if proc is not None and proc.alive:
                assert proc.proc is not None
                proc.proc.terminate()
                try:
                    proc.proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.proc.kill()
                    proc.proc.wait(10)
        self.pg.stop()
        self.redis.stop()

    # -- one process at a time ---------------------------------------------------------
    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def kill(self, name: str) -> None:
        """kill -9: the process dies between two instructions."""
        proc = self.procs[name]
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGKILL)
        proc.proc.wait(20)

    def restart(self, name: str) -> float:
        """Start `name` again (as systemd would); the seconds until it is up."""
        started = time.monotonic()
        proc = self.procs[name]
        if proc.alive:
            self.kill(name)
        proc.lines.append(f"---- {name} restarted ----\n")
        self._spawn(proc)
        self._wait_up(proc)
        return time.monotonic() - started

    def _web_argv(self, name: str) -> list[str]:
        return [console_script("wavepack"), "serve", "--no-workers", "--host", "127.0.0.1",
                "--port", str(self.ports[name])]

    def _spawn(self, proc: Proc) -> None:
        proc.proc = subprocess.Popen(proc.argv, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        popen = proc.proc

        def drain() -> None:
            assert popen.stdout is not None
            for line in popen.stdout:
                proc.lines.append(line)

        threading.Thread(target=drain, daemon=True, name=f"out-{proc.name}").start()

    def _wait_up(self, proc: Proc) -> None:
        if not proc.ready:
            return
        mark = proc.output.rfind("---- ")
        _until(lambda: proc.ready in proc.output[max(mark, 0):] or not proc.alive,
               START_TIMEOUT_S, f"{proc.name} to start")
        assert proc.alive, f"{proc.name} did not start:\n{proc.output}"

    def output(self) -> str:
        return "".join(f"{p.name} | {line}" for p in self.procs.values() for line in p.lines)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code < 500
    except requests.RequestException:
        return False


def _until(check, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within_s:.0f} s for {what}")
        time.sleep(0.05)
