"""The production stack under test, and what its processes cost.

`wavepack serve-prod` (server/prod.py) run as an operator runs it: nginx in front of N web
processes and one `wavepack worker`, on a PostgreSQL role whose search_path is a fresh
schema (no `?schema=` in DATABASE_URL, as in production: tests/bench/scans.py make_role)
and Redis as the Socket.IO message queue (a channel of its own). Its output goes to a log
file; `problems()` reads it for tracebacks and errors afterwards.

Processes are found in /proc: serve-prod's children by command line (webN by its port,
the worker, nginx's master and its workers), the PostgreSQL backends by the run's login
role, Redis by name (shared with whoever else uses it on this machine).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
POOL_SIZE = 16            # PostgreSQL connections per process of the stack, at most


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def _pss_mb(pid: int) -> float:
    """Proportional set size: shared pages (PostgreSQL's shared buffers) split among the
    processes mapping them, so a sum over backends does not count them N times."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


@dataclass
class Sample:
    at: float                                   # perf_counter
    cpu: dict[str, float]                       # CPU seconds so far, per process name
    rss: dict[str, float]                       # MB


@dataclass
class Stack:
    """A running serve-prod: `url` (nginx), `backends` (web process ports), `log_path`."""
    proc: subprocess.Popen
    url: str
    backends: list[int]
    role: str
    run_dir: Path
    log_path: Path
    lines: list[str] = field(default_factory=list)
    drivers: dict[str, int] = field(default_factory=dict)    # name → pid, set by the soak

    def processes(self) -> dict[str, list[int]]:
        """name → pids: web1…N, worker, nginx (master + workers), postgres (the role's
        backends), redis, and the load drivers."""
        pids = _all_pids()
        parent = {p: s[0] for p in pids if (s := _stat(p)) is not None}
        kids = [p for p, pp in parent.items() if pp == self.proc.pid]
        named: dict[str, list[int]] = {}
        for p in kids:
            cmd = _cmdline(p)
            if "nginx" in cmd.split(" ")[0]:
                named["nginx"] = [p] + [c for c, pp in parent.items() if pp == p]
            elif " worker" in cmd and "serve" not in cmd:
                named["worker"] = [p] + [c for c, pp in parent.items() if pp == p]
            else:
                m = re.search(r"--port (\d+)", cmd)
                if m and int(m[1]) in self.backends:
                    name = f"web{self.backends.index(int(m[1])) + 1}"
                    named[name] = [p] + [c for c, pp in parent.items() if pp == p]
        # "postgres: 15/main: ROLE DB 127.0.0.1(port) idle" (Debian names the cluster)
        named["postgres"] = [p for p in pids if _cmdline(p).startswith("postgres:")
                             and f" {self.role} " in _cmdline(p)]
        named["redis (shared)"] = [p for p in pids if _cmdline(p).startswith("redis-server")]
        for name, pid in self.drivers.items():
            named[name] = [pid]
        return dict(sorted(named.items(), key=lambda kv: _order(kv[0])))

    def sample(self) -> Sample:
        cpu, rss = {}, {}
        for name, pids in self.processes().items():
            cpu[name] = sum((s[1] if (s := _stat(p)) else 0.0) for p in pids)
            rss[name] = sum((_pss_mb(p) if name == "postgres" else _rss_mb(p)) for p in pids)
        return Sample(time.perf_counter(), cpu, rss)

    def problems(self) -> dict[str, int]:
        """Tracebacks and ERROR lines in the processes' output, [error]/[crit]/[alert]
        lines of nginx's error log: each line's first words, counted."""
        found: dict[str, int] = {}
        for line in self.lines:
            text = line.split("|", 1)[-1]
            if "Traceback" in text or re.search(r'\bERROR\b|"level": ?"error"', text):
                key = f"server log: {line.split('|', 1)[0].strip()}: {text.strip()[:90]}"
                found[key] = found.get(key, 0) + 1
        err = self.run_dir / "error.log"
        if err.exists():
            for line in err.read_text(errors="replace").splitlines():
                m = re.search(r"\[(error|crit|alert|emerg)\] \d+#\d+: (?:\*\d+ )?(.{0,60})", line)
                if m:
                    key = f"nginx {m[1]}: {m[2]}"
                    found[key] = found.get(key, 0) + 1
        return found

    def access_statuses(self) -> dict[str, int]:
        """nginx's access log: requests per status class (5xx is what matters)."""
        counts: dict[str, int] = {}
        log = self.run_dir / "access.log"
        if log.exists():
            with open(log, errors="replace") as f:
                for line in f:
                    m = re.search(r'" (\d{3}) ', line)
                    if m:
                        counts[m[1]] = counts.get(m[1], 0) + 1
        return counts

    def stop(self) -> int:
        """SIGTERM to serve-prod (it stops nginx, the web processes, the worker); its exit
        code (SIGKILL of the whole group after 90 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def _order(name: str) -> tuple:
    rank = ("web", "worker", "nginx", "postgres", "redis", "driver")
    return next((i for i, r in enumerate(rank) if name.startswith(r)), 9), name


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(serve_url: str, role: str, overlay: Path, workdir: Path, processes: int,
          timeout: float = 180.0) -> Stack:
    """serve-prod on `serve_url` with the WAVEPACK_CONFIG `overlay`; up once it says
    `wavepack serving on`. Its own process group (stopped as a whole if it hangs)."""
    port, backends = free_port(), [free_port() for _ in range(processes)]
    run_dir, log_path = workdir / "run", workdir / "serve-prod.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAVEPACK_")}
    env.update(DATABASE_URL=serve_url, SOCKETIO_MESSAGE_QUEUE="redis://127.0.0.1:6379/0",
               WAVEPACK_SERVER_MESSAGE_QUEUE_CHANNEL=f"wp-soak-{uuid.uuid4().hex}",
               WAVEPACK_AUTH_RATE_LIMIT_PREFIX=f"wp-soak-{uuid.uuid4().hex}",
               WAVEPACK_CONFIG=str(overlay), WAVEPACK_SERVER_DATA_DIR=str(workdir / "data"),
               # this machine's PostgreSQL (max_connections 100) is shared with everyone's
               # test suites: 3 × the default 32 would take nearly all of it under load
               WAVEPACK_DATABASE_POOL_SIZE=str(POOL_SIZE))
    exe = str(Path(sys.executable).with_name("wavepack"))
    proc = subprocess.Popen([exe, "serve-prod", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-ports", ",".join(map(str, backends)),
                             "--run-dir", str(run_dir)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    stack = Stack(proc, f"http://127.0.0.1:{port}", backends, role, run_dir, log_path)
    up = threading.Event()

    def keep() -> None:
        with open(log_path, "w") as out:
            for line in proc.stdout:
                out.write(line)
                out.flush()
                stack.lines.append(line)
                if "wavepack serving on" in line:
                    up.set()
    threading.Thread(target=keep, daemon=True, name="serve-prod-log").start()
    deadline = time.monotonic() + timeout
    while not up.wait(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            stack.stop()
            raise RuntimeError(f"serve-prod did not start (exit {proc.returncode}); its "
                               f"output is in {log_path}:\n" + "".join(stack.lines[-30:]))
    return stack


def metrics(stack: Stack, token: str, reset: bool = False) -> list[dict]:
    """GET /api/v1/metrics/handheld of every web process, asked directly on its port (the
    figures are per process; through nginx one would answer for all)."""
    import requests
    out = []
    for port in stack.backends:
        r = requests.get(f"http://127.0.0.1:{port}/api/v1/metrics/handheld"
                         + ("?reset=1" if reset else ""),
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
        r.raise_for_status()
        out.append(r.json())
    return out
