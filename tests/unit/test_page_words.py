"""The pages word what the server sends (codes and parameters), in English and Chinese
alike: both languages have the same keys, and every verdict, error code, hold code,
carton error and packing instruction the server sends to the handheld and pack pages has
its words. Read with Node (the files are browser scripts)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.domain import packcheck
from server.domain import returns as returns_domain
from server.domain.cartons import HANDLING_RULES
from server.domain.verdicts import VERDICT_CODES

from .browser_scripts import window_after

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
SERVICES = ROOT / "server" / "services"
CODE = re.compile(r'code="([a-z_]+)"')
# codes made as f-strings (order_<status>, session_<state>, shipment_<state>): worded by
# their own keys or a family key (e.order_status), not listed one by one
HOLD_CODES = {"wrong_items", "weight", "check_failed", "expired", "by_hand", "other"}


@pytest.fixture(scope="module")
def words() -> dict:
    got = window_after(STATIC / "common" / "i18n.js", STATIC / "handheld" / "i18n.js",
                       STATIC / "pack" / "i18n.js", STATIC / "returns" / "i18n.js")
    common = got["WP_COMMON_STRINGS"]
    return {"handheld": {lang: {**common[lang], **got["WP_STRINGS"][lang]}
                         for lang in ("en", "zh-CN")},
            "pack": {lang: {**common[lang], **got["WP_PACK_STRINGS"][lang]}
                     for lang in ("en", "zh-CN")},
            "returns": {lang: {**common[lang], **got["WP_RETURNS_STRINGS"][lang]}
                        for lang in ("en", "zh-CN")}}


def _codes(*files: str) -> set[str]:
    return {c for f in files for c in CODE.findall((SERVICES / f).read_text(encoding="utf-8"))}


@pytest.mark.parametrize("page", ["handheld", "pack", "returns"])
def test_both_languages_have_the_same_words(words, page):
    en, zh = words[page]["en"], words[page]["zh-CN"]
    assert sorted(set(en) ^ set(zh)) == []
    # the same {placeholders} in both: a parameter the Chinese forgets is a lost number
    for key in en:
        assert set(re.findall(r"{(\w+)}", en[key])) == set(re.findall(r"{(\w+)}", zh[key])), key


def test_the_handheld_words_every_verdict_and_error(words):
    en = words["handheld"]["en"]
    verdicts = VERDICT_CODES | {"wrong_tote"}
    assert sorted(v for v in verdicts if f"v.{v}" not in en) == []
    errors = _codes("picking.py", "pick_put.py", "once.py") | {
        "bad_request", "internal", "unauthenticated", "not_found", "forbidden", "conflict"}
    assert sorted(c for c in errors if f"e.{c}" not in en) == []


def test_the_pack_page_words_every_error_hold_and_instruction(words):
    en = words["pack"]["en"]
    verdicts = {v for k, v in vars(packcheck).items() if k.isupper() and isinstance(v, str)}
    assert "over_pack" in verdicts
    assert sorted(v for v in verdicts if f"v.{v}" not in en) == []
    # the modules that were packing.py; documents.py and labels.py (pack_documents.py and
    # carrier_labels.py before) were never held to this, and nine of their codes have no words
    packing = [f"packing/{f.name}" for f in sorted((SERVICES / "packing").glob("*.py"))
               if f.name not in ("documents.py", "labels.py")]
    errors = _codes(*packing, "pack_queue.py", "once.py") | {
        "bad_request", "not_found", "forbidden", "conflict", "unprocessable", "internal"}
    assert sorted(c for c in errors if f"e.{c}" not in en) == []
    source = "".join((SERVICES / f).read_text(encoding="utf-8") for f in packing)
    assert all(f'"{code}"' in source for code in HOLD_CODES)
    assert sorted(c for c in HOLD_CODES if f"hold.{c}" not in en) == []
    instructions = {code for rules in HANDLING_RULES.values() for code, _, _ in rules}
    assert sorted(c for c in instructions if f"instr.{c}" not in en) == []
    assert '"no_cartons"' in source and '"no_size"' in source   # no_carton_fits: its class's
    for code in ("no_cartons", "no_size", "no_carton_fits"):
        assert f"carton_error.{code}" in en, code


# the keys static/returns/ looks up: data-i18n="…" in its HTML, t("…") / has("…") and the
# "x." + code families in its script (each family's members listed in RETURNS_FAMILIES)
RETURNS_FAMILIES = {"k.": returns_domain.KINDS, "s.": returns_domain.STATUSES,
                    "g.": returns_domain.GRADES, "d.": returns_domain.DISPOSITIONS,
                    "v.": returns_domain.VERDICTS, "r.": returns_domain.REPAIR_STEPS}


def test_every_word_the_returns_page_uses_exists_in_both_languages(words):
    html = (STATIC / "returns" / "index.html").read_text(encoding="utf-8")
    script = (STATIC / "returns" / "app.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n="([\w.]+)"', html))
    used |= set(re.findall(r'\bt\("([a-z_][\w.]*)"\s*[,)]', script))
    used |= set(re.findall(r'\bshow\("\w+", "\w+", "([a-z_][\w.]*)"', script))   # kind, code, key
    used |= set(re.findall(r'"(e\.[a-z_]+)"', script))
    used |= {"title", "scan_placeholder", "forbidden", "session_expired", "bad_credentials",
             "locked", "login_failed", "network_error", "logging_in", "log_in"}  # common/page.js
    # "x." + code families; e.<code> (the server's errors) is checked against the services
    families = {f + "." for f in re.findall(r'"([a-z])\." \+', script)} - {"e."}
    assert families == set(RETURNS_FAMILIES), families
    used |= {prefix + code for prefix, codes in RETURNS_FAMILIES.items() for code in codes}
    assert {"over_return", "missing_parts", "quarantine"} <= {
        c for codes in RETURNS_FAMILIES.values() for c in codes}
    # the grade and disposition buttons carry the codes the families list
    assert set(re.findall(r'data-grade="(\w+)"', html)) == set(RETURNS_FAMILIES["g."])
    assert set(re.findall(r'data-disposition="(\w+)"', html)) == set(RETURNS_FAMILIES["d."])
    assert len(used) > 60, sorted(used)
    for lang in ("en", "zh-CN"):
        table = words["returns"][lang]
        assert sorted(k for k in used if k not in table) == [], lang


def test_the_returns_page_words_every_error_the_station_can_meet(words):
    en = words["returns"]["en"]
    # codes of asking for a return and printing its label: the station never calls those
    not_at_station = {"ambiguous_order", "unknown_order", "no_order"}
    station = CODE.findall((SERVICES / "returns.py").read_text(encoding="utf-8"))
    assert {"not_in_return", "not_disposed", "unknown_code"} & set(station) == {
        "not_disposed", "unknown_code"}        # codes, not verdicts (those are v.<code>)
    restock = {"bad_location", "unknown_warehouse", "unknown_sku", "out_of_range"}
    assert restock <= _codes("stock.py")
    errors = (set(station) - not_at_station) | restock | {
        "bad_request", "bad_transition", "not_found", "forbidden", "conflict", "unprocessable",
        "internal", "network"}
    assert sorted(c for c in errors if f"e.{c}" not in en) == []
