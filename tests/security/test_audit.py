"""`make audit` (tests/security/audit.py) judged on canned answers of pip-audit and npm
audit: a vulnerability fails, an ignore excuses it only with its reason and until its
expiry, a service that does not answer is asked once more and then, with CI=true, fails."""
from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from tests.security import audit

TODAY = dt.date(2026, 12, 7)
PIP_VULN = {"dependencies": [
    {"name": "flask", "version": "3.0.0", "vulns": []},
    {"name": "jinja2", "version": "3.1.2", "vulns": [
        {"id": "GHSA-h5c8-rqwp-cp95", "aliases": ["CVE-2024-22195"], "fix_versions": ["3.1.3"],
         "description": "xmlattr filter allows keys with spaces"}]}], "fixes": []}
NPM_VULN = {"auditReportVersion": 2, "vulnerabilities": {
    "zpl-renderer-js": {"name": "zpl-renderer-js", "severity": "high", "range": "<=3.4.0",
                        "via": [{"source": 1099, "title": "prototype pollution",
                                 "url": "https://github.com/advisories/GHSA-aaaa-bbbb-cccc",
                                 "severity": "high"}]},
    "wrapper": {"name": "wrapper", "severity": "high", "range": "*", "via": ["zpl-renderer-js"]}},
    "metadata": {}}


def answer(stdout: str, rc: int = 1, stderr: str = ""):
    return lambda cmd, timeout: subprocess.CompletedProcess(cmd, rc, stdout, stderr)


def test_a_pip_vulnerability_fails_with_its_ids_and_the_way_out():
    found = audit.pip_audit(answer(json.dumps(PIP_VULN)))
    assert [(f.package, f.ids) for f in found] == [
        ("jinja2", ("GHSA-h5c8-rqwp-cp95", "CVE-2024-22195"))]
    status, lines = audit.judge([audit.Outcome("pip", found)], {}, ci=False, today=TODAY)
    assert status == 1
    assert lines[0].startswith("FAIL pip: jinja2 3.1.2 GHSA-h5c8-rqwp-cp95 / CVE-2024-22195")
    assert "audit-ignore.yaml" in lines[0]


def test_an_npm_vulnerability_is_counted_once_at_its_source():
    found = audit.npm_audit(answer(json.dumps(NPM_VULN)))
    assert [(f.package, f.ids) for f in found] == [("zpl-renderer-js", ("GHSA-aaaa-bbbb-cccc",))]
    clean = audit.npm_audit(answer(json.dumps({"vulnerabilities": {}}), rc=0))
    assert clean == []


def test_an_ignore_excuses_until_its_expiry(tmp_path):
    path = tmp_path / "ignore.yaml"
    path.write_text("pip:\n  - {id: CVE-2024-22195, package: Jinja2, reason: 'we never use "
                    "xmlattr', expires: 2027-01-31}\nnpm: []\n", encoding="utf-8")
    ignores = audit.load_ignores(path)
    found = audit.pip_audit(answer(json.dumps(PIP_VULN)))
    status, lines = audit.judge([audit.Outcome("pip", found)], ignores, ci=True, today=TODAY)
    assert status == 0 and lines[0].startswith("ignored pip: jinja2") \
        and "we never use xmlattr" in lines[0]
    status, lines = audit.judge([audit.Outcome("pip", found)], ignores, ci=True,
                                today=dt.date(2027, 2, 1))
    assert status == 1 and "its ignore expired 2027-01-31" in lines[0]


def test_an_ignore_without_a_reason_or_expiry_is_refused(tmp_path):
    path = tmp_path / "ignore.yaml"
    path.write_text("pip:\n  - {id: CVE-1, package: x, reason: ''}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="reason and expires"):
        audit.load_ignores(path)


def test_the_shipped_ignore_file_reads():
    assert set(audit.load_ignores()) == {"pip", "npm"}


@pytest.mark.parametrize("tool, reply", [
    ("pip", answer("", stderr="ConnectionError: HTTPSConnectionPool(host='pypi.org')")),
    ("npm", answer(json.dumps({"message": "request to https://registry.npmjs.org failed, "
                                          "reason: ETIMEDOUT"}))),
])
def test_a_service_that_does_not_answer_is_asked_again_then_fails_only_in_ci(tool, reply):
    calls, slept = [], []

    def flaky():
        calls.append(1)
        return audit.AUDITS[tool](reply)
    outcome = audit.with_retry(tool, flaky, sleep=slept.append)
    assert len(calls) == 2 and slept == [audit.RETRY_AFTER_S] and outcome.unreachable
    status, lines = audit.judge([outcome], {}, ci=True, today=TODAY)
    assert status == 1 and lines[0].startswith(f"FAIL {tool}: could not audit")
    status, lines = audit.judge([outcome], {}, ci=False, today=TODAY)
    assert status == 0 and lines[0].startswith(f"WARNING {tool}: could not audit")


def test_a_slow_answer_on_the_second_try_is_an_audit():
    answers = [audit.Unreachable("read timed out"), []]

    def second_time_lucky():
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a
    outcome = audit.with_retry("pip", second_time_lucky, sleep=lambda s: None)
    assert outcome.unreachable == "" and outcome.findings == []
    assert audit.judge([outcome], {}, ci=True, today=TODAY) == (
        0, ["ok pip: no known vulnerabilities"])


def test_a_hung_tool_is_unreachable_not_a_hang():
    def hang(cmd, timeout):
        raise subprocess.TimeoutExpired(cmd, timeout)
    with pytest.raises(audit.Unreachable, match="took over"):
        audit.pip_audit(hang)


def test_a_registry_without_an_audit_endpoint_is_said_not_audited_without_retrying():
    """npm's advisory POST answered 405 (a read-only package proxy): asked once, printed as
    NOT AUDITED with the registry's words, in CI too; a timeout stays a CI failure (above)."""
    reply = answer(json.dumps({
        "message": "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/"
                   "security/advisories/bulk", "method": "POST"}))
    calls, slept = [], []

    def refused():
        calls.append(1)
        return audit.npm_audit(reply)
    outcome = audit.with_retry("npm", refused, sleep=slept.append)
    assert len(calls) == 1 and slept == [] and outcome.refused
    for ci in (True, False):
        status, lines = audit.judge([outcome], {}, ci=ci, today=TODAY)
        assert status == 0 and lines == [
            "NOT AUDITED npm: the registry refuses the audit endpoint (405 Method Not Allowed"
            " - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk); audit "
            "where the registry offers it"]
