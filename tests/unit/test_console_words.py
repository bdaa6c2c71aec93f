"""The console (static/console/) words everything it shows in English and Chinese alike:
the shell's words and each of its panels' have the same keys with the same {placeholders}
in both languages, every key the shell's HTML and the panels' scripts name literally has
words, and the floor words every verdict and every order state of its funnel. The panels
are run in Node with a stand-in WPConsole that keeps what they register."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.domain.verdicts import VERDICT_CODES
from server.services.floor import FUNNEL, WAITING

from .browser_scripts import window_after

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "static" / "console"
MINE = ("floor", "exceptions", "actions")      # the shell's own panels
LITERAL = re.compile(r'\bt2?\("([a-z_.]+)"\s*[,)]')   # whole keys, not prefixes
STUB = ("global.WPConsole = window.WPConsole = {el() {}, panel(name, def) {"
        " window.PANELS = window.PANELS || {}; window.PANELS[name] ="
        " {words: def.words, order: def.order, roles: def.roles}; }};"
        " global.setInterval = () => 0;")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> dict:
    stub = tmp_path_factory.mktemp("console") / "stub.js"
    stub.write_text(STUB, encoding="utf-8")
    return window_after(ROOT / "static" / "common" / "i18n.js", CONSOLE / "i18n.js", stub,
                        *(CONSOLE / "panels" / f"{name}.js" for name in MINE))


def _same(en: dict, zh: dict) -> None:
    assert sorted(set(en) ^ set(zh)) == []
    for key in en:
        assert set(re.findall(r"{(\w+)}", en[key])) == set(re.findall(r"{(\w+)}", zh[key])), key


def test_the_shell_words_both_languages_alike(loaded):
    shell = loaded["WP_CONSOLE_STRINGS"]
    _same(shell["en"], shell["zh-CN"])
    html = (CONSOLE / "index.html").read_text(encoding="utf-8")
    known = {**loaded["WP_COMMON_STRINGS"]["en"], **shell["en"]}
    assert sorted(k for k in re.findall(r'data-i18n="([\w.]+)"', html) if k not in known) == []
    app = (CONSOLE / "app.js").read_text(encoding="utf-8")
    assert sorted(k for k in LITERAL.findall(app) if k not in known) == []


@pytest.mark.parametrize("name", MINE)
def test_each_panel_words_both_languages_alike_and_every_key_it_names(loaded, name):
    panel = loaded["PANELS"][name]
    _same(panel["words"]["en"], panel["words"]["zh-CN"])
    assert panel["roles"] == ["supervisor", "admin"]
    known = {**loaded["WP_COMMON_STRINGS"]["en"], **loaded["WP_CONSOLE_STRINGS"]["en"],
             **panel["words"]["en"]}
    script = (CONSOLE / "panels" / f"{name}.js").read_text(encoding="utf-8")
    assert sorted(k for k in LITERAL.findall(script) if k not in known) == []
    assert "title" in panel["words"]["en"]


def test_the_floor_words_every_verdict_and_state(loaded):
    en = loaded["PANELS"]["floor"]["words"]["en"]
    assert sorted(v for v in VERDICT_CODES if f"v.{v}" not in en) == []
    assert sorted(s for s in FUNNEL + WAITING[:2] if f"st.{s}" not in en) == []


def test_the_tabs_take_the_contract_positions(loaded):
    assert {n: loaded["PANELS"][n]["order"] for n in MINE} == {
        "floor": 10, "exceptions": 20, "actions": 30}
    html = (CONSOLE / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'<script src="panels/(\w+)\.js" defer>', html) == [
        "floor", "exceptions", "actions", "orders", "stock", "admin", "reports",
        "replenishment"]
