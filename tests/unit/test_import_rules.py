"""The import rules of docs/architecture.md ("Imports point one way"), checked over the
source tree: every `import` and `from … import` of server/, handheld/ and printers/ (those
inside functions too, relative ones resolved), read with the ast module.

A short AST walk rather than import-linter: the rules are five lines of data here, the
allow-list of known breaches names the module and the import with the reason beside it,
the same checker is run on a synthetic tree below to prove it fails, and nothing is added
to the dependencies. (import-linter would import the project to build its graph; this
reads files only.)
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("server", "handheld", "printers")      # ours: the tree under ROOT that is read

# what the domain must not touch besides our other packages: web, database and I/O libraries
IO_LIBRARIES = ("flask*", "werkzeug", "peewee", "playhouse", "psycopg*", "sqlite3", "redis",
                "gevent", "socketio", "engineio", "socket", "http", "urllib.request",
                "requests", "httpx", "subprocess", "karrio")
ENTRY_POINTS = ("server.cli*",)                    # click commands: nothing imports them


@dataclass(frozen=True)
class Rule:
    sources: tuple[str, ...]     # modules (and their submodules) the rule is about
    forbidden: tuple[str, ...]   # what they must not import; "x*" is any name starting "x"
    allowed: tuple[str, ...]     # exceptions to `forbidden`
    text: str                    # the rule as docs/architecture.md states it, word for word


RULES = (
    Rule(("server.domain",), ("server", "handheld", "printers", *IO_LIBRARIES),
         ("server.domain",),
         "server/domain imports nothing of ours but server/domain, and no web, database or "
         "I/O library (flask, peewee, psycopg, sqlite3, redis, gevent, sockets, HTTP "
         "clients, subprocess, karrio)."),
    Rule(("server.services",), ("server.api", "server.sockets", "server.jobs", *ENTRY_POINTS,
                                "server.settings", "flask*"), (),
         "server/services never import server/api, server/sockets, server/jobs, the CLI "
         "(server/cli*), server/settings or flask: they take `settings: Config` as an "
         "argument and announce after-commit effects through server/events."),
    Rule(("server.store",), ("server.services", "server.api", "server.sockets", "server.jobs",
                             *ENTRY_POINTS), (),
         "server/store never imports server/services, server/api, server/sockets, "
         "server/jobs or the CLI."),
    Rule(("handheld", "printers"), ("server",), (),
         "handheld/ and printers/ never import server."),
    Rule(("server.api", "server.sockets", "server.jobs"), ENTRY_POINTS, (),
         "server/api, server/sockets and server/jobs may import services, domain and store, "
         "never the CLI."),
)

# Known breaches, (importing module or package, imported module) → why it is still there.
# Each is in a file another W6 helper owns or a call those files make; the lead empties
# this list after merging them. An entry that no longer matches anything fails the test,
# so the list can only shrink.
ALLOWED: dict[tuple[str, str], str] = {
    # (module, imported): why it may break a rule for now. Empty since W6: keep it so.
}


@dataclass(frozen=True)
class Violation:
    path: str            # relative to the root read
    line: int
    module: str          # the importing module
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.imported} ({self.rule})"


def _matches(name: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return name == pattern or name.startswith(pattern + ".")


def _module_of(root: Path, path: Path) -> tuple[str, str]:
    """(module name, package that relative imports start from)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _is_module(root: Path, name: str) -> bool:
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(root: Path, path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports: (line, absolute module name). `from pkg import name`
    counts as pkg.name when that is a module of the tree, else as pkg."""
    module, package = _module_of(root, path)
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = package.split(".")
                up = up[:len(up) - (node.level - 1)] if node.level > 1 else up
                base = ".".join(up + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            subs = [f"{base}.{a.name}" for a in node.names
                    if _is_module(root, f"{base}.{a.name}")]
            found += [(node.lineno, s) for s in subs] or [(node.lineno, base)]
    return found


def violations(root: Path, rules=RULES) -> list[Violation]:
    """Each import in the tree under `root` that a rule forbids."""
    out = []
    for top in PACKAGES:
        for path in sorted((root / top).rglob("*.py")):
            module, _ = _module_of(root, path)
            for rule in rules:
                if not any(_matches(module, s) for s in rule.sources):
                    continue
                for line, name in imports(root, path):
                    if any(_matches(name, f) for f in rule.forbidden) \
                            and not any(_matches(name, a) for a in rule.allowed):
                        out.append(Violation(str(path.relative_to(root)), line, module, name,
                                             rule.text))
    return out


def unexcused(found: list[Violation], allowed=ALLOWED) -> tuple[list[Violation], list]:
    """(violations no allow-list entry covers, entries that cover none)."""
    used = set()
    left = []
    for v in found:
        keys = [k for k in allowed if _matches(v.module, k[0]) and _matches(v.imported, k[1])]
        used.update(keys)
        if not keys:
            left.append(v)
    return left, [k for k in allowed if k not in used]


# ---- the tree keeps the rules ------------------------------------------------------------

def test_the_source_tree_keeps_the_import_rules():
    left, stale = unexcused(violations(ROOT))
    assert left == [], "imports that break docs/architecture.md's rules:\n" + "\n".join(
        map(str, left))
    assert stale == [], f"ALLOWED entries that nothing needs any more (remove them): {stale}"


def test_the_architecture_document_states_the_rules_checked_here():
    doc = " ".join((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").split())
    for rule in RULES:
        assert rule.text in doc, f"docs/architecture.md does not state: {rule.text}"
    assert "tests/unit/test_import_rules.py" in doc


# ---- the checker itself, on a synthetic tree ---------------------------------------------

SYNTHETIC = {
    "server/__init__.py": "from flask import Flask\n",
    "server/clock.py": "",
    "server/settings.py": "from flask import current_app\n",
    "server/cli.py": "import click\nfrom .services import orders\n",
    "server/domain/__init__.py": "",
    "server/domain/good.py": "import re\nfrom . import money\nfrom .money import cents\n"
                             "from server.domain import money as m\nimport pycountry\n",
    "server/domain/money.py": "from decimal import Decimal\n",
    "server/domain/bad.py": "from .. import clock\nimport peewee\n"
                            "def f():\n    from ..store.db import execute\n"
                            "    import urllib.request\n",
    "server/store/__init__.py": "",
    "server/store/db.py": "import peewee\nfrom ..domain import money\n",
    "server/store/bad.py": "from server.services import orders\n",
    "server/services/__init__.py": "",
    "server/services/orders.py": "from .. import clock\nfrom ..domain import money\n"
                                 "from ..store.db import execute\nfrom . import audit\n",
    "server/services/audit.py": "",
    "server/services/bad.py": "from .. import jobs\nfrom ..api.common import caller\n"
                              "def f():\n    from flask import current_app\n"
                              "    from ..settings import current\n"
                              "import server.cli\n",
    "server/jobs/__init__.py": "",
    "server/api/__init__.py": "",
    "server/api/common.py": "from flask import request\nfrom ..services import orders\n"
                            "from ..store.db import execute\nfrom ..domain import money\n",
    "server/api/bad.py": "from ..cli import main\n",
    "handheld/__init__.py": "",
    "handheld/client.py": "import socketio\n",
    "handheld/bad.py": "from server.domain import money\n",
    "printers/__init__.py": "",
    "printers/bad.py": "import server\n",
}


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def test_the_checker_finds_every_kind_of_breach_and_nothing_else(tmp_path):
    root = _tree(tmp_path, SYNTHETIC)
    found = {(v.path, v.line, v.imported) for v in violations(root)}
    assert found == {
        ("server/domain/bad.py", 1, "server.clock"),          # ours, not domain
        ("server/domain/bad.py", 2, "peewee"),                # a database library
        ("server/domain/bad.py", 4, "server.store.db"),       # inside a function too
        ("server/domain/bad.py", 5, "urllib.request"),        # I/O
        ("server/store/bad.py", 1, "server.services.orders"),
        ("server/services/bad.py", 1, "server.jobs"),         # `from .. import jobs`
        ("server/services/bad.py", 2, "server.api.common"),
        ("server/services/bad.py", 4, "flask"),
        ("server/services/bad.py", 5, "server.settings"),
        ("server/services/bad.py", 6, "server.cli"),
        ("server/api/bad.py", 1, "server.cli"),
        ("handheld/bad.py", 1, "server.domain.money"),
        ("printers/bad.py", 1, "server"),
    }


def test_the_allow_list_excuses_only_what_it_names_and_reports_stale_entries(tmp_path):
    root = _tree(tmp_path, SYNTHETIC)
    allowed = {("server.services.bad", "flask"): "synthetic",
               ("server.domain", "peewee"): "a whole package",
               ("server.services.orders", "flask"): "breaks nothing: stale"}
    left, stale = unexcused(violations(root), allowed)
    left_keys = {(v.path, v.imported) for v in left}
    assert ("server/services/bad.py", "flask") not in left_keys
    assert ("server/domain/bad.py", "peewee") not in left_keys
    assert ("server/services/bad.py", "server.settings") in left_keys    # not named: still out
    assert len(left) == 11
    assert stale == [("server.services.orders", "flask")]


def test_a_new_breach_in_a_clean_tree_fails(tmp_path):
    clean = {k: v for k, v in SYNTHETIC.items() if not k.endswith("bad.py")}
    root = _tree(tmp_path, clean)
    assert violations(root) == []
    (root / "server" / "services" / "waves.py").write_text("from ..sockets import metrics\n")
    [v] = violations(root)
    assert (v.module, v.imported) == ("server.services.waves", "server.sockets")
    assert "server/services never import" in v.rule
