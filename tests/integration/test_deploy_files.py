"""The deployment files under deploy/ and docs/deploy.md say only what the code does: every
command and option they run exists, every environment variable they set is read, the
systemd units pass `systemd-analyze verify`, the container's Debian packages are the
Makefile's, and its HEALTHCHECK command tells a live server from a dead one."""
from __future__ import annotations

import inspect
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from ..conftest import console_script, need, wavepack_serve

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
UNITS = sorted(p for ext in ("service", "target", "timer") for p in SYSTEMD.glob(f"*.{ext}"))
WAVEPACK = console_script("wavepack")
INSTALLED = "/opt/wavepack/current/.venv/bin/wavepack"     # where docs/deploy.md installs it
INSTALLED_BACKUP = "/opt/wavepack/current/deploy/backup.sh"
# what a unit's instance name stands for in these tests: a port, a --only list
INSTANCES = {"wavepack-web@.service": "8001", "wavepack-worker@.service": "print,outbox"}


def _unit(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, in order (keys may repeat, as Environment=)."""
    out, section = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def _values(path: Path, key: str) -> list[str]:
    return [v for _, k, v in _unit(path) if k == key]


def _known_names() -> set[str]:
    """Environment variables wavepack reads: WAVEPACK_<SECTION>_<KEY> for every config
    setting, and every name the code, config.yaml or the deploy scripts spell out."""
    import dataclasses

    from server.config import SECTIONS
    names = {f"WAVEPACK_{s}_{f.name}".upper()
             for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    text = "\n".join(p.read_text(encoding="utf-8") for folder in ("server", "printers")
                     for p in (ROOT / folder).rglob("*.py"))
    text += (ROOT / "config.yaml").read_text(encoding="utf-8")
    text += "\n".join(p.read_text(encoding="utf-8") for p in DEPLOY.glob("*.sh"))
    names |= set(re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", text))
    return names | {"PORT"}


def _env_file(path: Path) -> dict[str, str]:
    """NAME=VALUE lines of an environment file, commented-out examples included."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _help_ok(argv: list[str]) -> None:
    """`wavepack ARGV --help` exits 0: the command and every option in ARGV exist (click
    refuses an unknown option before it honours --help)."""
    proc = subprocess.run([WAVEPACK, *argv, "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)


# ---- systemd ------------------------------------------------------------------------------

def test_units_run_commands_that_exist():
    services = [u for u in UNITS if u.suffix == ".service"]
    assert {u.name for u in services} == {"wavepack-web@.service", "wavepack-worker.service",
                                          "wavepack-worker@.service", "wavepack-backup.service"}
    for unit in services:
        if unit.name == "wavepack-backup.service":
            (command,) = _values(unit, "ExecStart")
            assert command == INSTALLED_BACKUP and (DEPLOY / "backup.sh").is_file()
            continue
        (command,) = _values(unit, "ExecStart")
        instance = INSTANCES.get(unit.name, "")
        argv = shlex.split(command.replace("%i", instance).replace("%I", instance))
        assert argv[0] == INSTALLED, unit.name
        _help_ok(argv[1:])
    web = shlex.split(_values(SYSTEMD / "wavepack-web@.service", "ExecStart")[0])
    assert web[1:] == ["serve", "--no-workers", "--port", "%i"]
    from server.jobs import runner
    assert runner.parse_only(INSTANCES["wavepack-worker@.service"]) == ("print", "outbox")


def test_units_are_hardened_and_stop_gently():
    from server.jobs.runner import Workers
    finish_s = inspect.signature(Workers.shutdown).parameters["timeout"].default
    hardened = {"User": "wavepack", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
                "ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": "",
                "EnvironmentFile": "/etc/wavepack/wavepack.env"}
    backup = {k: v for _, k, v in _unit(SYSTEMD / "wavepack-backup.service")}
    assert {k: backup.get(k) for k in hardened} == hardened
    for unit in [u for u in UNITS if u.suffix == ".service" and "backup" not in u.name]:
        got = {k: v for _, k, v in _unit(unit)}
        for key, want in {**hardened, "Restart": "on-failure", "KillSignal": "SIGTERM",
                          "PartOf": "wavepack.target", "WantedBy": "wavepack.target"}.items():
            assert got.get(key) == want, (unit.name, key, got.get(key))
        stop_s = int(got["TimeoutStopSec"])
        if "worker" in unit.name:    # a worker finishes the job in hand before it exits
            assert stop_s > finish_s, (unit.name, stop_s, finish_s)
    target = {k: v for _, k, v in _unit(SYSTEMD / "wavepack.target")}
    assert target["WantedBy"] == "multi-user.target"


def test_units_pass_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    need(analyze is not None, "systemd-analyze (Debian systemd)")
    for unit in UNITS:      # as installed, but with this checkout's wavepack
        text = unit.read_text(encoding="utf-8").replace(INSTALLED, WAVEPACK)
        text = text.replace(INSTALLED_BACKUP, str(DEPLOY / "backup.sh"))
        text = text.replace("EnvironmentFile=/etc/", "EnvironmentFile=-/etc/")
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    names = ["wavepack.target", "wavepack-web@8001.service", "wavepack-worker.service",
             r"wavepack-worker@print\x2coutbox.service", "wavepack-backup.service",
             "wavepack-backup.timer"]
    proc = subprocess.run([analyze, "verify", "--man=no", *[str(tmp_path / n) for n in names]],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert not re.search(r"Unknown|ignoring|not executable", output, re.I), output


def test_environment_example_names_only_what_wavepack_reads(tmp_path):
    known = _known_names()
    example = _env_file(SYSTEMD / "wavepack.env.example")
    unit_env = [v.partition("=")[0] for u in UNITS for v in _values(u, "Environment")]
    unknown = sorted(n for n in [*example, *unit_env] if n not in known)
    assert unknown == [], unknown
    for required in ("DATABASE_URL", "WAVEPACK_SECRET_KEY", "SOCKETIO_MESSAGE_QUEUE",
                     "WAVEPACK_AUTH_RATE_LIMIT_STORAGE", "LOG_FORMAT"):
        assert required in example, required
    from server.config import load_config
    env = {k: v for k, v in example.items() if k != "WAVEPACK_CONFIG"}
    overlay = tmp_path / "site.yaml"
    overlay.write_text("", encoding="utf-8")
    cfg = load_config(env={**env, "WAVEPACK_CONFIG": str(overlay)})
    assert cfg.database_url.startswith("postgresql://")
    assert cfg.server.message_queue.startswith("redis://")
    assert cfg.auth.rate_limit_storage.startswith("redis://")
    assert cfg.secret_key == example["WAVEPACK_SECRET_KEY"]


# ---- the container ------------------------------------------------------------------------

def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Containerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _makefile_apt() -> set[str]:
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    listed = set(re.search(r"^APT_PACKAGES := (.*)$", make, re.M).group(1).split())
    # the apt target adds Node.js and npm when the machine has no npm
    extra = set(re.search(r'missing="\$\$missing ([a-z ]+)"', make).group(1).split())
    return listed | extra


def test_container_file_installs_the_makefiles_packages_and_runs_wavepack():
    steps = _instructions(DEPLOY / "Containerfile")
    bases = [rest.split()[0] for word, rest in steps if word == "FROM"]
    assert bases and all("bookworm" in b for b in bases), bases
    allowed = _makefile_apt()
    final = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM"):]
    installed: set[str] = set()
    for word, rest in steps:
        if word != "RUN":
            continue
        for m in re.finditer(r"apt-get install ((?:(?!&&).)*)", rest):
            installed |= {w for w in m.group(1).split() if not w.startswith("-")}
    assert installed and installed <= allowed, installed - allowed
    final_installed = {w for word, rest in final if word == "RUN"
                       for m in re.finditer(r"apt-get install ((?:(?!&&).)*)", rest)
                       for w in m.group(1).split() if not w.startswith("-")}
    assert {"libzbar0", "fonts-noto-cjk"} <= final_installed
    assert "npm" not in final_installed      # only the build stage needs npm
    for word, rest in steps:
        if word == "COPY" and "--from" not in rest:
            for src in shlex.split(rest)[:-1]:
                assert (ROOT / src).exists(), src
    user = [rest for word, rest in final if word == "USER"]
    assert user and user[-1] not in ("root", "0")
    entry = [rest for word, rest in final if word == "ENTRYPOINT"][-1]
    cmd = [rest for word, rest in final if word == "CMD"][-1]
    import json
    argv = json.loads(entry) + json.loads(cmd)
    assert argv[:2] == ["wavepack", "serve"], argv
    _help_ok(argv[1:])
    env_names = re.findall(r"\b([A-Z][A-Z0-9_]*)=", " ".join(r for w, r in final if w == "ENV"))
    known = _known_names() | {"PATH", "PYTHONUNBUFFERED"}
    assert [n for n in env_names if n not in known] == []
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for private in (".venv", "node_modules", "data", ".git"):
        assert private in ignored, private


def test_container_healthcheck_tells_a_live_server_from_a_dead_one(tmp_path):
    steps = _instructions(DEPLOY / "Containerfile")
    (check,) = [rest for word, rest in steps if word == "HEALTHCHECK"]
    command = check.split(" CMD ", 1)[1]
    assert "/healthz" in command
    env = {**os.environ, "WAVEPACK_SERVER_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    subprocess.run([WAVEPACK, "init-db"], env=env, check=True, capture_output=True, timeout=120)
    python_dir = str(Path(WAVEPACK).parent)          # `python` of the image is the venv's
    with wavepack_serve(tmp_path, "--no-workers", "--async-mode", "threading") as served:
        port = served.base.rsplit(":", 1)[1]
        live = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                              timeout=30, env={**env, "PORT": port,
                                               "PATH": python_dir + os.pathsep + env["PATH"]})
        assert live.returncode == 0, live.stderr
    dead = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30,
                          env={**env, "PORT": port, "PATH": python_dir + os.pathsep + env["PATH"]})
    assert dead.returncode != 0


# ---- docs/deploy.md -------------------------------------------------------------------------

def test_deploy_doc_names_real_commands_and_variables():
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    from server.cli import main
    fenced = re.findall(r"```.*?```", doc, re.S)
    inline = re.findall(r"`[^`\n]+`", re.sub(r"```.*?```", "", doc, flags=re.S))
    code = "\n".join(fenced + inline)
    commands = set(re.findall(r'(?<![\w/=.-])wavepack"? ([a-z][a-z-]+)(?![\w/])', code))
    commands |= set(re.findall(r"\$WP ([a-z][a-z-]+)", code))
    commands -= {"wavepack"}          # `createdb -O wavepack wavepack`: a role and a database
    assert commands and commands <= set(main.commands), commands - set(main.commands)
    known = _known_names() | {"PATH", "PGPASSWORD", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"}
    names = set(re.findall(r"\b((?:WAVEPACK|SOCKETIO|LOG|DATABASE)_[A-Z0-9_]+)\b", doc))
    assert names and sorted(names - known) == []
    for path in re.findall(r"\]\((?!https?:)([^()#\s]+)\)",
                           doc):
        assert (ROOT / "docs" / path).resolve().exists(), path
    for name in ("README.md", "docs/architecture.md"):
        assert "deploy.md" in (ROOT / name).read_text(encoding="utf-8"), name


@pytest.mark.parametrize("script", ["backup.sh", "restore.sh"])
def test_backup_scripts_are_executable_and_parse(script):
    path = DEPLOY / script
    assert os.access(path, os.X_OK)
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0


def _sharding_bullets(doc: str) -> list[tuple[int, set[str]]]:
    """The three bullets of docs/deploy.md that sort the tables by warehouse: (the count in
    bold, the backticked names)."""
    part = doc[doc.index("**Sharding one deployment by warehouse**"):]
    bullets = re.findall(r"^- \*\*(\d+) [^*]+\*\*(.*?)(?=^- |^$)", part, re.M | re.S)[:3]
    return [(int(n), set(re.findall(r"`([a-z_]+)`", text))) for n, text in bullets]


def test_deploy_doc_sorts_every_table_by_warehouse_as_the_schema_does(tmp_path):
    """The 'every table carries the warehouse' question, answered from the schema itself:
    a new table or column makes this fail until docs/deploy.md says where it stands."""
    import sqlite3

    from ..conftest import make_app
    make_app(f"sqlite:///{tmp_path}/wavepack.db")
    conn = sqlite3.connect(tmp_path / "wavepack.db")
    tables = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    columns = {t: {r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')} for t in tables}
    refs = {t: {r[2] for r in conn.execute(f'PRAGMA foreign_key_list("{t}")')} for t in tables}
    conn.close()
    direct = {t for t in tables if "warehouse_id" in columns[t]}
    reach = set(direct)
    while True:        # tables whose foreign keys lead to one that carries the warehouse
        more = {t for t in tables - reach - {"warehouse"} if refs[t] & reach}
        if not more:
            break
        reach |= more
    via_keys, none = reach - direct, tables - reach - {"warehouse"}
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert f"of the {len(tables)} tables" in doc
    (n1, b1), (n2, b2), (n3, b3) = _sharding_bullets(doc)
    assert (n1, b1 & tables) == (len(direct), direct)
    assert (n2, b2 & tables - direct) == (len(via_keys), via_keys)
    assert (n3, b3 & tables - {"warehouse"}) == (len(none), none)


def test_deploy_doc_lists_every_setting_the_environment_can_set():
    """The WAVEPACK_<SECTION>_<KEY> table of docs/deploy.md is the config's, key for key."""
    import dataclasses

    from server.config import SECTIONS
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([A-Z]+)` \| ((?:`[A-Z0-9_]+`(?:, )?)+) \|$", doc, re.M))
    listed = {section: set(re.findall(r"`([A-Z0-9_]+)`", keys)) for section, keys in rows.items()}
    wanted = {s.upper(): {f.name.upper() for f in dataclasses.fields(cls)}
              for s, cls in SECTIONS.items()}
    assert listed == wanted
