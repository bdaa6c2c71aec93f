"""More of the pack station page in headless Chromium against `wavepack serve --demo`: the
quality-check prompt end to end, a hold by hand that a supervisor releases in the browser,
a carton chosen from every configured one, the packing slip and invoice as PDFs, scans
still waiting at a reload (one sent and counted but its answer lost, one queued offline)
resent in order with their own scan_ids and counted once, the last shipment (its
packing slip too) shown again after a reload, and an order no single carton takes packed
as two parcels (the plan in the carton box, a label each, both shown after a reload).

The server is set up as in test_pack_page.py (pack-1 on a fake ZPL printer), its own
process for this module. One product is flagged for quality checks, and another made
heavy, through the operator CLI (`wavepack import catalogue`) against the server's SQLite
database, as an operator would change the catalogue.
"""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from printers.fake import FakePrinter
from server.demo_data import PRODUCTS

from ..conftest import console_script
from .pages import after, call, log_in, scan, verdict
from .test_pack_page import (
    GTIN,
    PACKER_BADGE,
    PACKER_PIN,
    SLOW_S,
    STATION,
    _lines,
    _open_page,
    _picked_orders,
    serve_pack_station,
)

SUPERVISOR_BADGE, SUPERVISOR_PIN = "3001", "3333"
QC_SKU = "WP-CAP-NVY"          # flagged check_damage|serial before the orders are made
HEAVY_SKU, HEAVY_G = "WP-CAND-200-FIG", 9000   # 4 × 9 kg: over config.yaml's largest carton
ORDERS = {
    "E2E-QC": [(QC_SKU, 2)],
    "E2E-HOLD": [("WP-SOCK-3PK-M", 1)],
    "E2E-DOCS": [("WP-MUG-350-CHAR", 1)],
    "E2E-RELOAD": [("WP-TEE-BLK-L", 2), ("WP-NOTE-A5-DOT", 1)],
    "E2E-PARCELS": [(HEAVY_SKU, 4)],
}
FIELDS = {"E2E-DOCS": {"invoice": True},      # the native API's "invoice": an invoice insert
          # DPD Classic takes parcels up to 31.5 kg, so the plan is L + M (Royal Mail's 20 kg
          # would make it two L of two units each)
          "E2E-PARCELS": {"carrier": "DPD"}}
OWNER = f"pack:{PACKER_BADGE}:{STATION}"      # the page's records in the IndexedDB outbox
SCAN_ORDER = "Scan a tote or the order's packing slip"
CARTONS = ["XS", "S", "M", "L"]               # config.yaml's cartons, smallest first


@pytest.fixture(scope="module")
def label_printer():
    with FakePrinter() as printer:
        yield printer


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e-pack-more")


@pytest.fixture(scope="module")
def pack_server(data_dir, label_printer):
    with serve_pack_station(data_dir, label_printer) as server:
        yield server


def _flag_product(data_dir, sku: str, flags: str = "", weight_g: int | None = None) -> None:
    """`wavepack import catalogue` of one row giving `sku` these flags (and this unit
    weight), run against the demo server's database (its data dir, as _serve_demo lays it
    out)."""
    name, gtin, weight, (length, width, height), location = next(
        (name, gtin, w, dims, loc) for s, gtin, name, w, dims, loc in PRODUCTS if s == sku)
    weight = weight_g or weight
    csv = data_dir / f"catalogue-{sku}.csv"
    csv.write_text("sku,gtin,name,unit_weight_g,location,length_mm,width_mm,height_mm,flags\n"
                   f"{sku},{gtin},{name},{weight},{location},{length},{width},{height},{flags}\n",
                   encoding="utf-8")
    served = data_dir / "data"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{served / 'wavepack.db'}",
           "WAVEPACK_SERVER_DATA_DIR": str(served)}
    proc = subprocess.run([console_script("wavepack"), "import", "catalogue", str(csv)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def picked(pack_server, data_dir) -> dict[str, int]:
    _flag_product(data_dir, QC_SKU, "check_damage|serial")
    _flag_product(data_dir, HEAVY_SKU, weight_g=HEAVY_G)
    return _picked_orders(pack_server, ORDERS, FIELDS)


def _packer_page(context, server):
    page, errors = _open_page(context, server)
    log_in(page, PACKER_BADGE, PACKER_PIN)
    page.click(f"#stations button[data-station='{STATION}']")
    page.wait_for_selector("#printer[data-state=ready]")
    return page, errors


def _wide(factory, **options):
    return factory(locale="en-GB", viewport={"width": 1280, "height": 900}, **options)


def _session(server, session_id: int) -> dict:
    status, login = call(server, "POST", "/api/v1/auth/badge",
                         {"badge": SUPERVISOR_BADGE, "pin": SUPERVISOR_PIN})
    assert status == 200, login
    status, body = call(server, "GET", f"/api/v1/pack/sessions/{session_id}",
                        token=login["token"])
    assert status == 200, body
    return body


def _confirm_and_print(page, printer, jobs_before: int) -> str:
    """Confirm by the button; the label prints once; the tracking number shown."""
    page.wait_for_selector("#confirm:not([disabled])")
    page.click("#confirm")
    page.wait_for_selector("#shipment:not([hidden])")
    page.wait_for_selector("#label-state[data-state=printed]", timeout=SLOW_S)
    tracking = page.text_content("#tracking")
    assert tracking.encode() in printer.wait_for_jobs(jobs_before + 1)[jobs_before]
    return tracking


# ---- the tests ---------------------------------------------------------------------------------

def test_quality_check_prompt_end_to_end(pack_server, label_printer, picked,
                                         browser_context_factory):
    """A product flagged check_damage|serial: each unit asks for both; another unit before
    the answer is refused (qc_pending); the serial typed (or wedged) and passed counts it."""
    page, errors = _packer_page(_wide(browser_context_factory), pack_server)
    scan(page, "E2E-QC", expect="opened")
    assert _lines(page) == {QC_SKU: (2, 0, 2)}
    row = page.text_content(f"#lines tr[data-sku='{QC_SKU}']")
    assert "check_damage" in row and "serial" in row

    shown = scan(page, GTIN[QC_SKU], expect="ok")
    page.wait_for_selector("#qc:not([hidden])")
    assert page.text_content("#needs") == "Answer the quality check"
    assert page.text_content("#qc-title").startswith("Quality check, unit ")
    assert QC_SKU in page.text_content("#qc-title")
    assert page.eval_on_selector_all("#qc-checks li", "els => els.map(e => e.textContent)") == [
        "No damage", "Serial number"]
    assert page.is_visible("#qc-serial") and page.is_hidden("#qc-expiry-label")
    page.wait_for_function("document.activeElement.id === 'qc-serial'")   # the wedge types there

    # the next unit before the answer: refused, nothing more counted
    page.focus("#scan")
    scan(page, GTIN[QC_SKU], expect="qc_pending")

    # the serial from the wedge (Enter passes), then the second unit by the buttons
    page.focus("#qc-serial")
    before = verdict(page)["seq"]
    page.keyboard.type("SN-E2E-0001")
    page.keyboard.press("Enter")
    assert after(page, before)["code"] == "qc_passed"
    page.wait_for_selector("#qc", state="hidden")
    assert _lines(page) == {QC_SKU: (2, 1, 1)}

    page.focus("#scan")
    scan(page, GTIN[QC_SKU], expect="ok")
    page.wait_for_selector("#qc:not([hidden])")
    page.fill("#qc-serial", "SN-E2E-0002")
    before = verdict(page)["seq"]
    page.click("#qc-pass")
    assert after(page, before)["code"] == "qc_passed"
    assert _lines(page) == {QC_SKU: (2, 2, 0)}
    assert page.text_content("#needs") == "All items verified: weigh the parcel and confirm"

    _confirm_and_print(page, label_printer, len(label_printer.jobs))
    assert shown["kind"] == "ok" and errors == []


def test_hold_by_hand_released_by_a_supervisor(pack_server, label_printer, picked,
                                               browser_context_factory):
    """The packer holds the order with a reason (no Release for a packer); a supervisor at
    the same station sees it held, releases it with a note; the packer's page sees it open
    again without a scan and packs on."""
    page, errors = _packer_page(_wide(browser_context_factory), pack_server)
    scan(page, "E2E-HOLD", expect="opened")
    assert page.is_hidden("#release-session")
    page.click("#hold-session")
    page.wait_for_selector("#hold-form:not([hidden])")
    page.wait_for_function("document.activeElement.id === 'hold-reason'")
    page.keyboard.type("carton damaged, ask for a new one")
    before = verdict(page)["seq"]
    page.click("#hold-send")
    shown = after(page, before)
    assert shown["code"] == "held_by_hand" and shown["kind"] == "held", shown
    assert page.get_attribute("#o-state", "data-state") == "held"
    assert page.text_content("#hold") == "Held: carton damaged, ask for a new one"
    assert page.is_hidden("#release-session") and page.is_hidden("#hold-session")
    scan(page, GTIN["WP-SOCK-3PK-M"], expect="on_hold")
    assert _lines(page) == {"WP-SOCK-3PK-M": (1, 0, 1)}

    # the supervisor, in a browser of their own at the same station
    sup, sup_errors = _open_page(_wide(browser_context_factory), pack_server)
    log_in(sup, SUPERVISOR_BADGE, SUPERVISOR_PIN)
    sup.click(f"#stations button[data-station='{STATION}']")
    sup.wait_for_selector("#o-state[data-state=held]")
    assert sup.text_content("#o-ref") == "E2E-HOLD"
    sup.click("#release-session")
    sup.wait_for_function("document.activeElement.id === 'release-note'")
    sup.keyboard.type("new carton given")
    before = verdict(sup)["seq"]
    sup.click("#release-send")
    assert after(sup, before)["code"] == "released"
    assert sup.get_attribute("#o-state", "data-state") == "open"
    assert sup.is_hidden("#release-session")

    # the packer's page follows the station: open again, and the item counts now
    page.wait_for_selector("#o-state[data-state=open]", timeout=10_000)
    assert page.is_hidden("#hold")
    scan(page, GTIN["WP-SOCK-3PK-M"], expect="ok")
    _confirm_and_print(page, label_printer, len(label_printer.jobs))
    assert errors == [] and sup_errors == []


def test_carton_change_and_documents(pack_server, label_printer, picked,
                                     browser_context_factory):
    """The carton select offers every configured carton, the suggested one first and
    marked; the server's choice shows with its weight; a carton no longer configured is
    refused. The packing slip and the invoice open as PDFs fetched with the token."""
    context = _wide(browser_context_factory)
    page, errors = _packer_page(context, pack_server)
    scan(page, "E2E-DOCS", expect="opened")
    session_id = int(page.get_attribute("#order", "data-session"))
    assert _session(pack_server, session_id)["carton"]["options"] == CARTONS
    suggested = page.get_attribute("#carton-name", "data-carton")
    assert suggested in CARTONS
    options = page.eval_on_selector_all(
        "#carton-select option", "os => os.map(o => [o.value, o.textContent, !!o.dataset.suggested])")
    assert options == [[suggested, f"{suggested} (suggested)", True]] + [
        [name, name, False] for name in CARTONS if name != suggested], options
    assert page.input_value("#carton-select") == suggested
    expected_before = page.text_content("#weight-expected")

    # a name the server does not know (a select from before a config change): refused
    page.evaluate("() => document.getElementById('carton-select').add(new Option('XXL', 'XXL'))")
    page.select_option("#carton-select", "XXL")
    before = verdict(page)["seq"]
    page.click("#carton-save")
    assert after(page, before)["code"] == "unknown_carton"
    assert page.get_attribute("#carton-name", "data-carton") == suggested

    # L (config.yaml's largest): chosen by the server, its tare in the expected weight
    page.select_option("#carton-select", "L")
    before = verdict(page)["seq"]
    page.click("#carton-save")
    shown = after(page, before)
    assert shown["code"] == "carton" and shown["text"] == "Carton L", shown
    assert page.text_content("#carton-name") == "L"
    assert page.text_content("#carton-detail") == "L · 600 × 400 × 400 mm · chosen at this station"
    assert page.input_value("#carton-select") == "L"
    assert page.text_content("#weight-expected") != expected_before
    options = page.eval_on_selector_all("#carton-select option", "os => os.map(o => o.value)")
    assert options == [suggested] + [n for n in CARTONS if n != suggested], options

    # the documents the inserts list: a PDF each, opened in a new tab from a blob: URL
    inserts = page.eval_on_selector_all("#inserts li", "els => els.map(e => e.dataset.insert)")
    assert "packing_slip" in inserts and "invoice" in inserts, inserts
    for kind in ("packing_slip", "invoice"):
        _open_pdf(page, context, f"#inserts button[data-doc={kind}]")
    assert page.is_hidden("#shipment-docs")      # the order's own list has them

    scan(page, GTIN["WP-MUG-350-CHAR"], expect="ok")
    _confirm_and_print(page, label_printer, len(label_printer.jobs))
    session = _session(pack_server, int(page.get_attribute("#order", "data-session")))
    assert session["carton"]["chosen"] == "L" and session["shipment"]["carton"] == "L"
    assert errors == []


def _open_pdf(page, context, button: str) -> None:
    """Click a document `button`: a new tab, and a blob: URL holding a PDF."""
    with context.expect_page() as opened:
        page.click(button)
    tab = opened.value
    page.wait_for_function("sel => !!document.querySelector(sel).dataset.url", arg=button)
    url = page.get_attribute(button, "data-url")
    assert url.startswith("blob:"), url
    pdf = page.evaluate("""async url => { const r = await fetch(url);
        const b = new Uint8Array(await r.arrayBuffer());
        return {type: r.headers.get('content-type'), size: b.length,
                head: String.fromCharCode(...b.slice(0, 5))}; }""", url)
    assert pdf["head"] == "%PDF-" and pdf["size"] > 500, pdf
    assert pdf["type"] == "application/pdf", pdf
    tab.wait_for_load_state()
    assert tab.url in (url, "about:blank"), tab.url   # headless may download a PDF
    tab.close()


class ScanGate:
    """Between the page and /scan: `lose` lets the next scan reach the server (stored and
    counted) and loses its answer, then blocks; `block` fails every /scan before it leaves;
    `open` lets them through. Every request is recorded in `seen`."""

    def __init__(self, page):
        self.mode = "open"
        self.seen: list[dict] = []
        self.lost: list[dict] = []
        page.route(re.compile(r".*/api/v1/pack/sessions/\d+/scan$"), self._route)

    def _route(self, route):
        body = json.loads(route.request.post_data or "{}")
        self.seen.append(body)
        if self.mode == "open":
            route.continue_()
        elif self.mode == "lose":
            self.mode = "block"
            self.lost.append({"status": route.fetch().status, "request": body})
            route.abort("connectionreset")
        else:
            route.abort("internetdisconnected")


def _outbox(page) -> list[dict]:
    return page.evaluate("owner => Outbox.all(owner).then(rs => rs.map(r => r.payload))", OWNER)


def test_reload_resends_waiting_scans_once_and_shows_the_last_shipment(
        pack_server, label_printer, picked, browser_context_factory):
    """A scan the server counted whose answer never came, and one made offline: both wait in
    the page's IndexedDB outbox; after a reload they are sent again, in order, with their
    own scan_ids, and the first is counted once. After the order is confirmed, a reload
    shows that shipment and its label again (the station's last_confirmed)."""
    context = _wide(browser_context_factory)
    page, errors = _packer_page(context, pack_server)
    gate = ScanGate(page)
    scan(page, "E2E-RELOAD", expect="opened")
    session_id = int(page.get_attribute("#order", "data-session"))
    tee, note = GTIN["WP-TEE-BLK-L"], GTIN["WP-NOTE-A5-DOT"]

    # the tee reaches the server, its answer is lost; the page keeps retrying (blocked)
    gate.mode = "lose"
    before = verdict(page)["seq"]
    page.keyboard.type(tee)
    page.keyboard.press("Enter")
    assert after(page, before)["code"] == "network"
    assert len(gate.lost) == 1 and gate.lost[0]["status"] == 200, gate.lost
    first = gate.lost[0]["request"]
    assert [ln["verified"] for ln in _session(pack_server, session_id)["lines"]
            if ln["sku"] == "WP-TEE-BLK-L"] == [1]                     # counted by the server

    # offline: the notebook waits behind it
    context.set_offline(True)
    page.keyboard.type(note)
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('pending').dataset.count === '2'")
    page.wait_for_function("owner => Outbox.all(owner).then(rs => rs.length === 2)", arg=OWNER)
    waiting = _outbox(page)
    assert [w["raw"] for w in waiting] == [tee, note], waiting
    assert waiting[0]["scan_id"] == first["scan_id"] and waiting[0]["session"] == session_id
    assert _lines(page)["WP-TEE-BLK-L"] == (2, 0, 2)                 # no answer yet

    # back online, and the packer reloads the page: logged in, same station, same order.
    # The gate stays shut until the old page is gone, so nothing is answered before.
    context.set_offline(False)
    page.reload(wait_until="commit")
    sent_before = len(gate.seen)
    gate.mode = "open"
    page.wait_for_selector("#work-view:not([hidden])")
    page.wait_for_function("document.getElementById('pending').dataset.count === '0'")
    page.wait_for_function("() => [...document.querySelectorAll('#lines tbody tr')]"
                           ".every(r => r.querySelector('td.verified').textContent !== '0')")
    assert page.text_content("#o-ref") == "E2E-RELOAD"
    assert _lines(page) == {"WP-TEE-BLK-L": (2, 1, 1), "WP-NOTE-A5-DOT": (1, 1, 0)}
    resent = gate.seen[sent_before:]           # in order; a try the gate still shut repeats
    assert list(dict.fromkeys(s["scan_id"] for s in resent)) == [
        first["scan_id"], waiting[1]["scan_id"]], resent
    assert all(s == first for s in resent if s["scan_id"] == first["scan_id"])   # same content
    assert _outbox(page) == []
    lines = {ln["sku"]: ln["verified"] for ln in _session(pack_server, session_id)["lines"]}
    assert lines == {"WP-TEE-BLK-L": 1, "WP-NOTE-A5-DOT": 1}, lines   # counted once

    scan(page, tee, expect="ok")
    tracking = _confirm_and_print(page, label_printer, len(label_printer.jobs))
    label_job = page.get_attribute("#label-state", "data-job")

    # a reload after confirm: the last shipment and its label, ready for the next order
    page.reload()
    page.wait_for_selector("#shipment:not([hidden])")
    assert page.text_content("#tracking") == tracking
    assert page.text_content("#shipment-ref") == "E2E-RELOAD"
    page.wait_for_selector("#label-state[data-state=printed]")
    assert page.get_attribute("#label-state", "data-job") == label_job
    page.wait_for_function("document.getElementById('label-preview').naturalWidth > 0")
    assert page.is_hidden("#order")
    assert page.text_content("#needs") == SCAN_ORDER
    # its packing slip at hand with it (the order card, and its inserts list, are gone)
    docs = page.eval_on_selector_all("#shipment-docs li", "els => els.map(e => e.dataset.insert)")
    assert docs == ["packing_slip"], docs
    _open_pdf(page, context, "#shipment-docs button[data-doc=packing_slip]")
    page.click("#next-order")
    page.wait_for_selector("#shipment", state="hidden")
    assert errors == []


def _parcels_shown(page) -> list[dict]:
    """Every parcel of the shipment card, parcel 1 first: head, tracking, SSCC, label."""
    return page.eval_on_selector_all("#shipment .parcel", """els => els.map(e => ({
        parcel: Number(e.dataset.parcel), head: e.querySelector('.parcel-head').textContent,
        tracking: e.querySelector('.tracking').textContent,
        sscc: e.querySelector('.sscc').textContent,
        label: e.querySelector('.job').dataset.state,
        job: e.querySelector('.job').dataset.job,
        preview: e.querySelector('.label-preview').naturalWidth}))""")


def _wait_parcels_printed(page, count: int) -> None:
    page.wait_for_function(
        """n => { const ps = [...document.querySelectorAll('#shipment .parcel')];
                  return ps.length === n && ps.every(p =>
                    p.querySelector('.job').dataset.state === 'printed'
                    && p.querySelector('.label-preview').naturalWidth > 0); }""",
        arg=count, timeout=SLOW_S)


def _labels_with(jobs: list[bytes], text: str) -> list[bytes]:
    return [j for j in jobs if f"^FD{text}^FS".encode() in j]


def test_an_order_no_carton_takes_is_packed_as_two_parcels(
        pack_server, label_printer, picked, browser_context_factory):
    """4 units of a product made 9 kg through the catalogue import: over L's 30 kg, so the
    server plans two parcels. The carton box says which units go into which carton (in
    English and Chinese); after confirm the card lists both parcels, each with its own
    tracking number, printed label and preview; the printer got "1 / 2" and "2 / 2" once
    each; the second parcel's label reprints on its own; a reload shows both again."""
    context = _wide(browser_context_factory)
    page, errors = _packer_page(context, pack_server)
    scan(page, "E2E-PARCELS", expect="opened")
    session_id = int(page.get_attribute("#order", "data-session"))
    planned = _session(pack_server, session_id)["carton"]["parcels"]
    assert [(p["carton"], p["units"]) for p in planned] == [
        ("L", {HEAVY_SKU: 3}), ("M", {HEAVY_SKU: 1})], planned

    # the plan, before a single unit is scanned
    page.wait_for_selector("#carton-parcels:not([hidden])")
    assert page.text_content("#carton-name") == "L + M"
    assert page.text_content("#carton-detail") == "2 parcels:"
    plan = page.eval_on_selector_all("#carton-parcels li", """els => els.map(e =>
        [e.dataset.parcel, e.dataset.carton, e.firstChild.textContent])""")
    assert plan == [["1", "L", f"L — 3 × {HEAVY_SKU}"], ["2", "M", f"M — 1 × {HEAVY_SKU}"]], plan
    grams = [p["gross_g"] for p in planned]
    assert page.eval_on_selector_all("#carton-parcels li small", "els => els.map(e => e.textContent)"
                                      ) == [f"{g} g" for g in grams]
    assert page.text_content("#weight-expected").endswith(", all 2 parcels together")
    page.click("#lang")
    page.wait_for_function("document.getElementById('carton-detail').textContent === '分 2 个包裹：'")
    assert page.text_content("#weight-expected").endswith("（2 个包裹合计）")
    assert page.eval_on_selector_all("#carton-parcels li", "els => els.map(e => e.firstChild.textContent)"
                                      ) == [f"L — 3 × {HEAVY_SKU}", f"M — 1 × {HEAVY_SKU}"]
    page.click("#lang")
    page.wait_for_function("document.getElementById('carton-detail').textContent === '2 parcels:'")

    # M takes 15 kg: choosing it for 36 kg is refused, the select goes back to the plan
    page.select_option("#carton-select", "M")
    before = verdict(page)["seq"]
    page.click("#carton-save")
    assert after(page, before)["code"] == "carton_too_heavy"
    assert page.input_value("#carton-select") == "L"
    assert page.text_content("#carton-name") == "L + M"
    assert _session(pack_server, session_id)["carton"]["chosen"] is None
    page.focus("#scan")

    for _ in range(4):
        scan(page, GTIN[HEAVY_SKU], expect="ok")
    assert _lines(page) == {HEAVY_SKU: (4, 4, 0)}
    assert page.is_visible("#carton-parcels")          # still there while packing

    jobs_before = len(label_printer.jobs)
    page.wait_for_selector("#confirm:not([disabled])")
    before = verdict(page)["seq"]
    page.click("#confirm")
    shown = after(page, before)
    assert shown["code"] == "confirmed", shown
    assert shown["text"] == "Packed: 2 labels on their way to the printer", shown
    page.wait_for_selector("#shipment:not([hidden])")
    _wait_parcels_printed(page, 2)
    parcels = _parcels_shown(page)
    session = _session(pack_server, session_id)
    shipments = session["shipments"]
    assert [(s["parcel"], s["parcels"], s["carton"]) for s in shipments] == [
        (1, 2, "L"), (2, 2, "M")], shipments
    assert [(p["parcel"], p["head"], p["tracking"], p["sscc"], p["label"], p["job"])
            for p in parcels] == [
        (s["parcel"], f"Parcel {s['parcel']} / 2 · {s['carton']}", s["tracking"], s["sscc"],
         "printed", str(s["label"]["id"])) for s in shipments], parcels
    assert len({p["tracking"] for p in parcels}) == 2 and len({p["sscc"] for p in parcels}) == 2
    assert page.text_content("#needs") == (
        "Labels done: put each on its own parcel, then scan the next order")
    assert page.is_hidden("#carton-form")

    # the printer: one label per parcel, each with its own tracking number, once
    jobs = label_printer.wait_for_jobs(jobs_before + 2)[jobs_before:]
    for n, s in enumerate(shipments, start=1):
        labels = _labels_with(jobs, f"{n} / 2")
        assert len(labels) == 1, (n, len(labels), jobs)
        assert s["tracking"].encode() in labels[0]
        assert all(s["tracking"].encode() not in j for j in jobs if j is not labels[0])

    # the second parcel's label, reprinted from its own button: "2 / 2" again, nothing else
    page.click("#parcels li[data-parcel='2'] button.reprint")
    page.wait_for_selector("#reprint-form:not([hidden])")
    assert page.text_content("#reprint-ask") == "Why reprint parcel 2?"
    page.fill("#reprint-reason", "label torn")
    before = verdict(page)["seq"]
    page.click("#reprint-send")
    assert after(page, before)["code"] == "reprint"
    again = label_printer.wait_for_jobs(jobs_before + 3)[jobs_before + 2:]
    assert len(again) == 1 and len(_labels_with(again, "2 / 2")) == 1, again
    assert shipments[1]["tracking"].encode() in again[0]
    page.wait_for_function(
        "job => { const j = document.querySelector('#parcels li[data-parcel=\"2\"] .job');"
        " return j.dataset.job !== job && j.dataset.state === 'printed'; }",
        arg=str(shipments[1]["label"]["id"]), timeout=SLOW_S)
    assert page.get_attribute("#label-state", "data-job") == str(shipments[0]["label"]["id"])

    # a reload: the station's last_confirmed, both parcels again
    page.reload()
    page.wait_for_selector("#shipment:not([hidden])")
    _wait_parcels_printed(page, 2)
    shown = _parcels_shown(page)
    assert [(p["parcel"], p["tracking"]) for p in shown] == [
        (s["parcel"], s["tracking"]) for s in shipments], shown
    assert page.text_content("#shipment-ref") == "E2E-PARCELS"
    page.click("#lang")
    page.wait_for_function("document.querySelector('#parcels .parcel-head').textContent"
                           " === '包裹 2 / 2 · M'")
    assert page.text_content("#parcel-1-head") == "包裹 1 / 2 · L"
    page.click("#lang")
    page.click("#next-order")
    page.wait_for_selector("#shipment", state="hidden")
    assert page.is_hidden("#parcels") or page.eval_on_selector_all("#parcels li", "e => e.length") == 0
    assert len(label_printer.jobs) == jobs_before + 3
    assert errors == []
