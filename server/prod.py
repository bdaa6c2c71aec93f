"""`wavepack serve-prod` (make serve-prod): the production runtime on one machine.

N web processes (`wavepack serve --no-workers --port P`, default one per core), one
`wavepack worker`, and nginx in front of them (deploy/nginx/wavepack.conf, rendered with
this run's ports and body size, run as the calling user with its pid, logs and temp files
in a run directory). PostgreSQL (DATABASE_URL) and Redis (SOCKETIO_MESSAGE_QUEUE) are
required: several processes share one database and one Socket.IO message queue.

A small supervisor, not a process manager: it runs `wavepack init-db` once (so the
processes do not race the migrations), starts everything, prints the URL, forwards every
child's output with its name, and stops them all on SIGTERM or Ctrl-C (nginx first, so no
new request reaches a stopping server; the worker last, after the job in hand). If one
child dies the others are stopped and serve-prod exits 1, for systemd (or whoever started
it) to start the whole again.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from . import telemetry
from .config import ROOT, Config

SITE = ROOT / "deploy" / "nginx" / "wavepack.conf"
START_TIMEOUT_S = 90.0       # a web process imports, opens its pools and binds in this time
STOP_TIMEOUT_S = 30.0        # SIGTERM, then SIGKILL after this long


class NotReady(ValueError):
    """What serve-prod needs and does not have (the CLI prints `error: …`, exit 1)."""


def check(cfg: Config, nginx: str | None) -> None:
    """Refuse, with every reason at once, a setup several processes cannot share."""
    problems = []
    if not cfg.database_url.startswith(("postgres://", "postgresql://")):
        problems.append("DATABASE_URL must be a PostgreSQL URL (postgresql://…): several "
                        "processes share one database, and SQLite has one writer; for one "
                        "process use `wavepack serve`")
    if not cfg.server.message_queue:
        problems.append("SOCKETIO_MESSAGE_QUEUE must name a Redis (redis://127.0.0.1:6379/0): "
                        "the processes share Socket.IO events through it")
    if nginx is None:
        problems.append("nginx is not installed (Debian package nginx; `make setup` "
                        "installs it)")
    if problems:
        raise NotReady("serve-prod cannot start:\n  " + "\n  ".join(problems))


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)),
        None)


# ---- nginx ---------------------------------------------------------------------------

def render_site(site: str, *, backends: list[tuple[str, int]], listen: tuple[str, int],
                body_bytes: int) -> str:
    """deploy/nginx/wavepack.conf with this run's upstream servers, listen address and
    body limit; everything else (headers, timeouts, WebSocket upgrade, the hash) as is."""
    upstream = re.search(r"upstream wavepack \{\n(.*?)\n\}", site, re.S)
    if upstream is None:
        raise ValueError(f"{SITE}: no `upstream wavepack` block")
    lines = upstream.group(1).splitlines()
    model = next(line for line in lines if line.strip().startswith("server "))
    options = model.strip().split(None, 2)[2] if len(model.split()) > 2 else ";"
    servers = [f"    server {host}:{port} {options}" for host, port in backends]
    kept = [line for line in lines if not line.strip().startswith("server ")]
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("server "))
    body = "\n".join(kept[:at] + servers + kept[at:])
    site = site[:upstream.start(1)] + body + site[upstream.end(1):]
    host, port = listen
    site = re.sub(r"^(\s*)listen \[::\]:80;\n", "", site, flags=re.M)
    site = re.sub(r"^(\s*)listen 80;", rf"\1listen {host}:{port};", site, flags=re.M)
    return re.sub(r"client_max_body_size \d+[kKmM]?;", f"client_max_body_size {body_bytes};",
                  site)


def render_main(run_dir: Path, site_file: Path, workers: int = 1) -> str:
    """An nginx.conf for running as the calling user: pid, logs and temp files in
    run_dir, in the foreground (the supervisor owns it), the site included."""
    tmp = run_dir / "tmp"
    # as root nginx would hand its workers to `nobody`, who cannot enter a private run dir
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return (f"# rendered by `wavepack serve-prod` from {SITE}; written again at each start\n"
            f"{user}daemon off;\nworker_processes {workers};\n"
            f"pid {run_dir}/nginx.pid;\nerror_log {run_dir}/error.log warn;\n"
            "events {\n    worker_connections 4096;\n}\n"
            "http {\n"
            f"    access_log {run_dir}/access.log;\n"
            f"    client_body_temp_path {tmp}/client_body;\n"
            f"    proxy_temp_path {tmp}/proxy;\n"
            f"    fastcgi_temp_path {tmp}/fastcgi;\n"
            f"    uwsgi_temp_path {tmp}/uwsgi;\n"
            f"    scgi_temp_path {tmp}/scgi;\n"
            "    server_tokens off;\n"
            f"    include {site_file};\n"
            "}\n")


def write_nginx(run_dir: Path, *, backends: list[tuple[str, int]], listen: tuple[str, int],
                body_bytes: int, workers: int = 1) -> list[str]:
    """Write nginx.conf and wavepack.conf into run_dir; the arguments that run nginx on
    them (after `nginx`): `-p run_dir -e error.log -c nginx.conf`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "tmp").mkdir(exist_ok=True)
    site = run_dir / "wavepack.conf"
    site.write_text(render_site(SITE.read_text(encoding="utf-8"), backends=backends,
                                listen=listen, body_bytes=body_bytes), encoding="utf-8")
    main = run_dir / "nginx.conf"
    main.write_text(render_main(run_dir, site, workers), encoding="utf-8")
    return ["-p", str(run_dir), "-e", str(run_dir / "error.log"), "-c", str(main)]


# ---- the supervisor --------------------------------------------------------------------

@dataclass
class Child:
    name: str
    argv: list[str]
    ready: str | None = None            # a line of output that says it is up
    proc: subprocess.Popen | None = None
    up: threading.Event = field(default_factory=threading.Event)


@dataclass
class Supervisor:
    children: list[Child]
    env: Mapping[str, str]
    say: Callable[[str], None] = print
    stopping: threading.Event = field(default_factory=threading.Event)
    metrics_dir: str | None = None      # the children's PROMETHEUS_MULTIPROC_DIR

    def start(self, child: Child) -> None:
        child.proc = subprocess.Popen(child.argv, env=dict(self.env), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, bufsize=1,
                                      start_new_session=True)   # Ctrl-C stops them in order
        threading.Thread(target=self._forward, args=(child,), daemon=True,
                         name=f"out-{child.name}").start()

    def _forward(self, child: Child) -> None:
        assert child.proc is not None and child.proc.stdout is not None
        for line in child.proc.stdout:
            self.say(f"{child.name} | {line.rstrip()}")
            if child.ready is not None and child.ready in line:
                child.up.set()

    def wait_up(self, child: Child, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not child.up.wait(0.1):
            assert child.proc is not None
            if self.stopping.is_set():        # told to stop while starting
                return
            if child.proc.poll() is not None:
                raise NotReady(f"{child.name} exited with {child.proc.returncode} while "
                               "starting (its output is above)")
            if time.monotonic() > deadline:
                raise NotReady(f"{child.name} did not start within {timeout:.0f} s")

    def watch(self) -> int:
        """Until a signal (0) or a child's death (1)."""
        while not self.stopping.wait(0.5):
            for child in self.children:
                if child.proc is not None and child.proc.poll() is not None:
                    self.say(f"serve-prod: {child.name} exited with {child.proc.returncode}; "
                             "stopping the others")
                    return 1
        return 0

    def stop(self) -> None:
        """In the children's order, a phase at a time: nginx (so no new request reaches a
        stopping server), then every web process together, the worker last (it finishes
        the job in hand). SIGTERM, SIGKILL after STOP_TIMEOUT_S."""
        phases: list[list[Child]] = []
        for child in self.children:
            if phases and phases[-1][0].name.rstrip("0123456789") == \
                    child.name.rstrip("0123456789"):
                phases[-1].append(child)
            else:
                phases.append([child])
        for phase in phases:
            running = [c for c in phase if c.proc is not None and c.proc.poll() is None]
            for child in running:
                assert child.proc is not None
                child.proc.terminate()
            for child in running:
                assert child.proc is not None
                try:
                    child.proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self.say(f"serve-prod: {child.name} did not stop; killed")
                    child.proc.kill()
                    child.proc.wait(timeout=10)
                # killed, it could not mark itself: its live gauges stop counting
                telemetry.mark_dead(child.proc.pid, self.metrics_dir)


def wait_listening(host: str, port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    target = "127.0.0.1" if host in ("0.0.0.0", "") else host
    while True:
        if proc.poll() is not None:
            raise NotReady(f"nginx exited with {proc.returncode} (its error log is in the "
                           "run directory)")
        try:
            with socket.create_connection((target, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise NotReady(f"nginx does not accept on {host}:{port}") from None
            time.sleep(0.1)


def child_env(cfg: Config, base: Mapping[str, str]) -> dict[str, str]:
    """The processes' environment: behind one proxy (nginx), and the rate limits in the
    message queue's Redis unless another store is configured."""
    env = dict(base)
    env.setdefault("WAVEPACK_SERVER_PROXY_HOPS", "1")
    if cfg.auth.rate_limit_storage.startswith("memory"):
        env["WAVEPACK_AUTH_RATE_LIMIT_STORAGE"] = cfg.server.message_queue
    env["PYTHONUNBUFFERED"] = "1"
    return env


def serve_prod(cfg: Config, *, processes: int, host: str, port: int,
               backend_ports: list[int], run_dir: Path, wavepack: str,
               say: Callable[[str], None] = print) -> int:
    """Run the whole until SIGTERM/SIGINT (0) or until a process dies (1)."""
    nginx = find_nginx()
    check(cfg, nginx)
    assert nginx is not None
    ports = backend_ports or [port + 1 + i for i in range(processes)]
    env = child_env(cfg, os.environ)
    # the deployment's metrics directory (GET /metrics sums every process's files): made
    # empty here, so counters start at zero with the deployment (server/telemetry.py)
    metrics_dir = Path(env.get(telemetry.MULTIPROC_ENV) or run_dir / "metrics")
    telemetry.reset_dir(metrics_dir)
    env[telemetry.MULTIPROC_ENV] = str(metrics_dir)
    init = subprocess.run([wavepack, "init-db"], env=env, capture_output=True, text=True)
    if init.returncode != 0:
        said = (init.stderr or init.stdout).strip().removeprefix("error: ")
        raise NotReady(f"wavepack init-db failed: {said or init.returncode}")
    say(f"serve-prod: {init.stdout.strip()}")
    args = write_nginx(run_dir, backends=[("127.0.0.1", p) for p in ports], listen=(host, port),
                       body_bytes=cfg.server.max_body_bytes, workers=min(len(ports), 4))
    # stopped in this order: nginx, the web processes, the worker
    web = [Child(f"web{i + 1}", [wavepack, "serve", "--no-workers", "--host", "127.0.0.1",
                                 "--port", str(p)], ready="Running on")
           for i, p in enumerate(ports)]
    worker = Child("worker", [wavepack, "worker"], ready="running")
    front = Child("nginx", [nginx, *args])
    sup = Supervisor([front, *web, worker], env, say, metrics_dir=str(metrics_dir))

    def on_signal(*_):
        sup.stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for child in web + [worker]:
            sup.start(child)
        for child in web + [worker]:
            sup.wait_up(child)
        if sup.stopping.is_set():
            return 0
        sup.start(front)
        assert front.proc is not None
        wait_listening(host, port, front.proc)
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        say(f"serve-prod: wavepack serving on http://{shown}:{port} ({len(web)} web "
            f"processes on ports {', '.join(map(str, ports))}, 1 worker, nginx; run "
            f"directory {run_dir})")
        sys.stdout.flush()
        code = sup.watch()
    finally:
        sup.say("serve-prod: stopping")
        sup.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    sup.say("serve-prod: stopped")
    return code
