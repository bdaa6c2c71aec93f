"""Known vulnerabilities in what wavepack installs: `pip-audit` over the project's virtual
environment (PyPI's JSON API) and `npm audit` over package-lock.json (the npm registry's
advisory endpoint). `make audit` runs it; .ci/run runs it after the tests.

    python -m tests.security.audit [--only pip|npm]

Exit 1 on a known vulnerability that tests/security/audit-ignore.yaml does not excuse (an
excuse names the advisory, the package, the reason and an expiry date; an expired one
excuses nothing). A slow service gets a generous timeout and one more try; when it still
cannot be asked, that is a failure with CI=true (nothing was audited, and CI must not pass
on that) and a warning otherwise, so a laptop without network can still run `make audit`.
One case is neither: a registry that answers npm's advisory POST with 405 (it serves packages
read-only and has no audit endpoint, as the package proxy of this project's CI does) is
printed as NOT AUDITED on every run and does not fail; asking again cannot change it."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

ROOT = Path(__file__).resolve().parents[2]
IGNORES = Path(__file__).with_name("audit-ignore.yaml")
TIMEOUT_S = 60            # one service call; PyPI answers in seconds, a slow network later
RETRY_AFTER_S = 10


@dataclass
class Finding:
    package: str
    version: str
    ids: tuple[str, ...]      # the advisory id first, then its aliases (CVE, GHSA, PYSEC)
    summary: str = ""


@dataclass
class Outcome:
    tool: str
    findings: list[Finding] = field(default_factory=list)
    unreachable: str = ""     # why the service could not be asked ("" = it answered)
    refused: bool = False     # the registry answered that it offers no audit endpoint


class Unreachable(Exception):
    """The audit service did not answer (timeout, network, 5xx, a proxy refusing it)."""


class Refused(Unreachable):
    """The registry answered, and what it said is that it has no audit endpoint: HTTP 405
    (Method Not Allowed, `allow: GET,HEAD`) to npm's POST. A mirror or proxy that serves
    packages read-only does that (this project's CI network does); trying again cannot help."""


Runner = Callable[[list[str], float], "subprocess.CompletedProcess[str]"]


def run(cmd: list[str], timeout: float) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def pip_audit(runner: Runner = run) -> list[Finding]:
    exe = Path(sys.executable).with_name("pip-audit")
    cmd = [str(exe), "--skip-editable", "--progress-spinner", "off", "--format", "json",
           "--timeout", str(TIMEOUT_S // 2)]
    try:
        proc = runner(cmd, TIMEOUT_S * 3)
    except subprocess.TimeoutExpired as err:
        raise Unreachable(f"pip-audit took over {err.timeout:.0f} s") from None
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        # no report: pip-audit could not reach PyPI (its error is on stderr)
        raise Unreachable(_last_line(proc.stderr) or f"pip-audit exit {proc.returncode}") \
            from None
    out = []
    for dep in report.get("dependencies", []):
        for v in dep.get("vulns", []):
            out.append(Finding(dep["name"], dep.get("version", ""),
                               (v["id"], *v.get("aliases", ())),
                               (v.get("description") or "").split("\n")[0][:160]))
    return out


def npm_audit(runner: Runner = run) -> list[Finding]:
    cmd = ["npm", "audit", "--json", "--omit=dev", f"--fetch-timeout={TIMEOUT_S * 1000}",
           "--fetch-retries=1"]
    try:
        proc = runner(cmd, TIMEOUT_S * 3)
    except subprocess.TimeoutExpired as err:
        raise Unreachable(f"npm audit took over {err.timeout:.0f} s") from None
    try:
        report = json.loads(proc.stdout or "null")
    except json.JSONDecodeError:
        report = None
    if not isinstance(report, dict) or "vulnerabilities" not in report:
        why = report.get("message") if isinstance(report, dict) else None
        if isinstance(report, dict) and str(why or "").startswith("405 "):
            raise Refused(why)
        raise Unreachable(why or _last_line(proc.stderr) or f"npm audit exit {proc.returncode}")
    out = []
    for name, vuln in sorted(report["vulnerabilities"].items()):
        advisories = [v for v in vuln.get("via", ()) if isinstance(v, dict)]
        if not advisories:      # vulnerable only through another package, listed itself
            continue
        for adv in advisories:
            url = adv.get("url", "")
            ghsa = url.rsplit("/", 1)[-1] if "GHSA-" in url else str(adv.get("source", ""))
            out.append(Finding(name, vuln.get("range", ""), (ghsa,),
                               f"{adv.get('severity', '')}: {adv.get('title', '')}"[:160]))
    return out


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def with_retry(tool: str, audit: Callable[[], list[Finding]],
               sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """The audit, tried again once when its service did not answer."""
    for attempt in (1, 2):
        try:
            return Outcome(tool, audit())
        except Refused as err:
            return Outcome(tool, unreachable=str(err), refused=True)
        except Unreachable as err:
            if attempt == 2:
                return Outcome(tool, unreachable=str(err))
            print(f"{tool}: the audit service did not answer ({err}); trying again in "
                  f"{RETRY_AFTER_S} s", file=sys.stderr)
            sleep(RETRY_AFTER_S)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Ignore:
    id: str
    package: str
    reason: str
    expires: dt.date


def load_ignores(path: Path = IGNORES) -> dict[str, list[Ignore]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, list[Ignore]] = {}
    for tool in ("pip", "npm"):
        items = raw.get(tool) or []
        out[tool] = []
        for item in items:
            missing = {"id", "package", "reason", "expires"} - set(item)
            if missing or not str(item.get("reason", "")).strip():
                raise ValueError(f"{path}: an ignore under {tool} needs id, package, a "
                                 f"reason and expires (YYYY-MM-DD): {item}")
            expires = item["expires"]
            if not isinstance(expires, dt.date):
                expires = dt.date.fromisoformat(str(expires))
            out[tool].append(Ignore(str(item["id"]), str(item["package"]).lower(),
                                    str(item["reason"]), expires))
    return out


def judge(outcomes: list[Outcome], ignores: dict[str, list[Ignore]], *, ci: bool,
          today: dt.date) -> tuple[int, list[str]]:
    """The exit status and the lines to print."""
    lines, failed = [], False
    for o in outcomes:
        if o.refused:
            # said loudly on every run, never a pass in disguise: the registry this machine
            # reaches serves packages but no advisories, so nothing was audited by this tool
            lines.append(f"NOT AUDITED {o.tool}: the registry refuses the audit endpoint "
                         f"({o.unreachable}); audit where the registry offers it")
            continue
        if o.unreachable:
            if ci:
                failed = True
                lines.append(f"FAIL {o.tool}: could not audit: {o.unreachable} (CI=true: an "
                             "audit that did not run is a failure)")
            else:
                lines.append(f"WARNING {o.tool}: could not audit: {o.unreachable} "
                             "(a failure with CI=true)")
            continue
        for f in o.findings:
            excuse = next((i for i in ignores.get(o.tool, ())
                           if i.id in f.ids and i.package == f.package.lower()), None)
            what = f"{f.package} {f.version} {' / '.join(f.ids)} {f.summary}".rstrip()
            if excuse and excuse.expires >= today:
                lines.append(f"ignored {o.tool}: {what} — {excuse.reason} "
                             f"(until {excuse.expires})")
            else:
                failed = True
                note = f" (its ignore expired {excuse.expires})" if excuse else ""
                lines.append(f"FAIL {o.tool}: {what}{note}: upgrade the package, or add an "
                             f"ignore with reason and expiry to {IGNORES.relative_to(ROOT)}")
        if not o.findings:
            lines.append(f"ok {o.tool}: no known vulnerabilities")
    return (1 if failed else 0), lines


AUDITS = {"pip": pip_audit, "npm": npm_audit}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.security.audit")
    parser.add_argument("--only", choices=sorted(AUDITS))
    args = parser.parse_args(argv)
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    tools = [args.only] if args.only else list(AUDITS)
    outcomes = [with_retry(t, AUDITS[t]) for t in tools]
    status, lines = judge(outcomes, load_ignores(), ci=ci, today=dt.date.today())
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
