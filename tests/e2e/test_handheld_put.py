"""Picking as people do it, on the handheld page in headless Chromium against a real
`wavepack serve --demo`: one stop at a bin shared by three orders ("take 4: tote … ×2, …"),
the unit scanned before its bin told apart, each unit's tote named by the server, the tote
confirmed after each task's last unit (a label scanned, a wrong label refused, a tap),
and the cart-done summary naming the demo's pack station."""
from __future__ import annotations

import re

import pytest

from server.demo_data import PRODUCTS

from .pages import log_in, new_page, released_wave, scan, verdict

GTIN = {sku: gtin for sku, gtin, *_ in PRODUCTS}
BIN = {p[0]: p[5] for p in PRODUCTS}
SHARED = "WP-TEE-WHT-M"            # in three orders: one stop, three totes
ORDERS = {
    "PUT-A": [(SHARED, 2)],
    "PUT-B": [(SHARED, 1)],
    "PUT-C": [(SHARED, 1), ("WP-CAND-200-FIG", 1)],
}
PICKER_BADGE, PICKER_PIN = "1001", "1111"


def _shown(page) -> dict:
    return page.evaluate("""() => {
        const el = (id) => document.getElementById(id);
        return {task: el('task').hidden ? null : Number(el('task').dataset.taskId),
                needs: el('needs').dataset.needs, needs_text: el('needs').textContent,
                location: el('t-location').textContent, sku: el('t-sku').textContent,
                stop: el('stop').hidden ? null : {take: el('stop-take').textContent,
                    split: [...el('stop-split').children].map(li => li.textContent)},
                put: el('put').hidden ? null : {tote: el('put-tote').textContent,
                    label: el('put').dataset.label, ask: el('put-ask').textContent},
                last_put: el('last-put').hidden ? null : el('last-put').textContent,
                summary: el('summary').hidden ? null : {
                    counts: el('summary-counts').textContent,
                    orders: [...el('summary-orders').children].map(li => li.textContent),
                    where: el('summary-where').textContent}};
    }""")


def test_a_stop_put_to_tote_and_the_cart_done(demo_server, browser_context_factory):
    released_wave(demo_server, ORDERS)
    context = browser_context_factory(locale="en-GB")
    page, errors = new_page(context, 15_000)
    page.goto(demo_server.base + "/handheld/")
    log_in(page, PICKER_BADGE, PICKER_PIN)
    page.wait_for_selector("#task:not([hidden])")
    first = _shown(page)
    assert first["location"] == BIN[SHARED] and first["needs"] == "location"
    # one visit: the bin serves three totes
    assert first["stop"]["take"] == "Take 4 here:", first
    split = first["stop"]["split"]
    assert len(split) == 3 and all(re.fullmatch(r"tote \d+ ×[12] \(PUT-[ABC]\)", s)
                                   for s in split), split
    assert sorted(s.split("(")[1] for s in split) == ["PUT-A)", "PUT-B)", "PUT-C)"]
    assert "×2 (PUT-A)" in " ".join(split)

    # the right unit before its bin: its own verdict, an amber banner, nothing counted
    shown = scan(page, GTIN[SHARED], expect="scan_location_first")
    assert shown["class"] == "verdict warn" and shown["text"].startswith("Scan the location")
    scan(page, BIN[SHARED], expect="ok")
    tote_a = int(re.search(r"tote (\d+) ×2 \(PUT-A\)", " ".join(split)).group(1))
    shown = scan(page, GTIN[SHARED], expect="ok")
    assert shown["text"] == f"OK → tote {tote_a}"
    assert _shown(page)["last_put"] == f"OK → tote {tote_a}"
    assert _shown(page)["put"] is None                  # PUT-A's task has a unit to go
    scan(page, GTIN[SHARED], expect="ok")
    # PUT-A's last unit: its tote in large type, the next task held back
    page.wait_for_selector("#put:not([hidden])")
    put = _shown(page)
    assert put["task"] is None and put["needs"] == "put"
    assert put["put"]["tote"] == str(tote_a) and put["put"]["label"].startswith("CART-")
    assert put["put"]["ask"] == f"Scan tote {put['put']['label']} or tap Done"
    # another tote's label: refused, still waiting
    shown = scan(page, put["put"]["label"] + "9", expect="wrong_tote")
    assert shown["text"] == f"Wrong tote: put them in tote {tote_a}"
    assert _shown(page)["put"] is not None
    scan(page, put["put"]["label"], expect="ok")
    page.wait_for_selector("#put", state="hidden")
    nxt = _shown(page)
    # the same stop, no second bin scan: the next tote's task takes units at once
    assert nxt["location"] == BIN[SHARED] and nxt["needs"] == "item", nxt
    assert nxt["stop"]["take"] == "Take 2 here:"

    # the rest: each task's tote confirmed with a tap
    for _ in range(20):
        now = _shown(page)
        if now["summary"] is not None:
            break
        if now["put"] is not None:
            before = verdict(page)["seq"]
            page.click("#put-confirm")
            # a tap shows the next task at once; wait for the tote.confirm's own answer so
            # the next scan's verdict is not mistaken for it (and nothing is left queued)
            page.wait_for_function(
                "n => Number(document.getElementById('verdict').dataset.seq) > n && "
                "Number(document.getElementById('pending').dataset.count || 0) === 0",
                arg=before)
            continue
        if now["task"] is None:
            page.wait_for_timeout(100)
            continue
        scan(page, now["location"] if now["needs"] == "location" else GTIN[now["sku"]],
             expect="ok")
    else:
        pytest.fail(f"the cart never finished; page shows {_shown(page)}")
    page.wait_for_selector("#summary:not([hidden])")
    done = _shown(page)["summary"]
    assert done["counts"] == "3 orders · 5 units · 0 short", done
    assert sorted(done["orders"]) == sorted(
        [f"Tote {n}: {ref}, {u} units" for n, ref, u in
         [(tote_a, "PUT-A", 2)] + [(int(re.search(rf"tote (\d+) ×1 \({ref}\)",
                                                   " ".join(split)).group(1)), ref, u)
                                   for ref, u in (("PUT-B", 1), ("PUT-C", 2))]]), done
    assert done["where"] == "Take the cart to: pack-main"
    assert page.text_content("#idle-text") == "Cart done"
    assert errors == []


def test_zh_cn_page_words_the_put_and_the_stop(demo_server, browser_context_factory):
    released_wave(demo_server, {"PUT-ZH-A": [("WP-MUG-350-CHAR", 1)],
                                "PUT-ZH-B": [("WP-MUG-350-CHAR", 1)]})
    context = browser_context_factory(locale="zh-CN")
    page, errors = new_page(context, 15_000)
    page.goto(demo_server.base + "/handheld/")
    log_in(page, PICKER_BADGE, PICKER_PIN)
    page.wait_for_selector("#task:not([hidden])")
    assert _shown(page)["stop"]["take"] == "此处共取 2 件："
    shown = scan(page, GTIN["WP-MUG-350-CHAR"], expect="scan_location_first")
    assert shown["text"].startswith("请先扫描库位")
    scan(page, BIN["WP-MUG-350-CHAR"], expect="ok")
    shown = scan(page, GTIN["WP-MUG-350-CHAR"], expect="ok")
    assert shown["text"].startswith("正确 → 周转箱 ")
    page.wait_for_selector("#put:not([hidden])")
    assert _shown(page)["needs_text"].startswith("请将商品放入周转箱 ")
    assert page.text_content("#put-confirm") == "已放好：下一项"
    assert errors == []
