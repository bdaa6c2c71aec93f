"""The exception queue page (static/exceptions/) words everything it shows, in English and
Chinese alike: every key its HTML and script use exists in both languages with the same
{placeholders}, and every state, subject kind and exception type the server raises has
its words. Read with Node (the files are browser scripts)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from server.config_exceptions import SEVERITIES
from server.services.exceptions import STATES, SUBJECT_KINDS

from ..conftest import make_app
from .browser_scripts import window_after

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "static" / "exceptions"
SERVER = ROOT / "server"
# the types raised by a literal first argument, and the packing holds' types
RAISED = re.compile(r'(?:(?:open_exception|_open_once)\(\s*|\btype_=|"type_": )"([a-z_]+)"')
CODE = re.compile(r'code="([a-z_]+)"')


@pytest.fixture(scope="module")
def words() -> dict:
    got = window_after(ROOT / "static" / "common" / "i18n.js", PAGE / "i18n.js")
    common = got["WP_COMMON_STRINGS"]
    return {lang: {**common[lang], **got["WP_EXC_STRINGS"][lang]} for lang in ("en", "zh-CN")}


def used_keys() -> set[str]:
    """Every literal key: data-i18n in the HTML, t("…") in the page's script and the
    keys common/page.js's login says (WP.logIn and loginRefused)."""
    html = (PAGE / "index.html").read_text(encoding="utf-8")
    app = (PAGE / "app.js").read_text(encoding="utf-8")
    keys = set(re.findall(r'data-i18n="([\w.]+)"', html))
    keys |= set(re.findall(r'\bt\("([\w.]+)"', app))
    # keys handed on as arguments: notify(kind, code, KEY), showLive(state, KEY),
    # act(action, body, KEY), and the e.* refusals
    keys |= set(re.findall(r'\bnotify\("\w+", "\w+", "([\w.]+)"', app))
    keys |= set(re.findall(r'\bshowLive\("\w+", "([\w.]+)"', app))
    keys |= set(re.findall(r'\bact\("\w+", [^;]*?, "([\w.]+)"', app))
    keys |= set(re.findall(r'"(e\.[\w.]+)"', app))
    keys |= set(re.findall(r'"(h_\w+)"', app))
    if '"h_" + exc.state' in app:        # the closing step, worded by the state it closed to
        keys |= {"h_resolved", "h_dismissed"}
    common = (ROOT / "static" / "common" / "page.js").read_text(encoding="utf-8")
    keys |= set(re.findall(r'\bt\("([\w.]+)"', common))
    return keys


def raised_types() -> set[str]:
    types = set()
    for f in SERVER.rglob("*.py"):
        types |= set(RAISED.findall(f.read_text(encoding="utf-8")))
    from server.services.packing.session import HOLD_EXCEPTIONS
    return types | set(HOLD_EXCEPTIONS)


def test_both_languages_have_the_same_words(words):
    en, zh = words["en"], words["zh-CN"]
    assert sorted(set(en) ^ set(zh)) == []
    for key in en:   # the same {placeholders}: a parameter the Chinese forgets is a lost number
        assert set(re.findall(r"{(\w+)}", en[key])) == set(re.findall(r"{(\w+)}", zh[key])), key


def test_every_key_the_page_uses_has_words_in_both_languages(words):
    keys = used_keys()
    assert {"title", "ack", "resolve", "done_ack", "done_resolve", "done_note", "live_off",
            "refreshed", "e.conflict", "forbidden", "session_expired", "h_raised",
            "h_dismissed", "h_escalated"} <= keys   # the scan found them: the test can fail
    for lang in ("en", "zh-CN"):
        assert sorted(k for k in keys if k not in words[lang]) == [], lang


def test_the_filters_offer_the_servers_states_and_severities():
    app = (PAGE / "app.js").read_text(encoding="utf-8")
    options = dict(re.findall(r'"(f-\w+)": \[([^\]]*)\]', app))
    assert re.findall(r'"(\w+)"', options["f-state"]) == list(STATES)
    assert re.findall(r'"(\w+)"', options["f-severity"]) == list(SEVERITIES)


def test_every_state_severity_kind_and_type_has_words(words):
    types = raised_types()
    assert {"short_pick", "stock_discrepancy", "print_failed", "pack_weight",
            "invalid_order", "risk_hold"} <= types
    with open(ROOT / "config.yaml", encoding="utf-8") as f:
        configured = set(yaml.safe_load(f)["exceptions"]["types"])
    assert "invalid_order" in configured
    en = words["en"]
    assert sorted(s for s in STATES if f"state.{s}" not in en) == []
    assert sorted(s for s in SEVERITIES if f"severity.{s}" not in en) == []
    assert sorted(k for k in SUBJECT_KINDS if f"kind.{k}" not in en) == []
    assert sorted(ty for ty in types | configured if f"type.{ty}" not in en) == []


def test_every_refusal_of_the_exception_api_has_words(words):
    codes = {c for f in ("services/exceptions.py", "api/exceptions.py")
             for c in CODE.findall((SERVER / f).read_text(encoding="utf-8"))}
    assert {"bad_transition", "no_exception", "bad_owner"} <= codes
    codes |= {"bad_request", "forbidden", "unauthorized", "schema", "not_found", "internal",
              "network", "conflict"}
    assert sorted(c for c in codes if f"e.{c}" not in words["en"]) == []


def test_the_page_is_served_at_exceptions(tmp_path):
    client = make_app(f"sqlite:///{tmp_path}/wavepack.db").test_client()
    assert client.get("/exceptions").status_code == 308
    html = client.get("/exceptions/").get_data(as_text=True)
    assert 'src="app.js"' in html and 'src="../common/page.js"' in html
    for name in ("app.js", "i18n.js", "app.css"):
        resp = client.get(f"/exceptions/{name}")
        assert resp.status_code == 200, name
        assert resp.get_data() == (PAGE / name).read_bytes()
    assert client.get("/exceptions/../pack/app.js").status_code == 404
    shared = re.findall(r'(?:src|href)="\.\./common/([\w.]+)"', html)
    assert shared == ["page.css", "i18n.js", "page.js"], shared
    for name in shared:
        resp = client.get(f"/common/{name}")
        assert resp.status_code == 200, name
        assert resp.get_data() == (ROOT / "static" / "common" / name).read_bytes()
