// The returns station page: badge login, a keyboard-wedge scan field, and the returns REST
// API (/api/v1/returns/…). A parcel is found by its RMA, its return label or the original
// tracking number (nothing found: it is opened as an unannounced return); each item scanned
// is verified by the server (ok, not_in_return, over_return, unknown_barcode), graded and
// disposed of (restock to a location, quarantine, repair, scrap); then the return is closed.
// The server decides every verdict; this page shows it.
"use strict";

(function () {
  const RETRY_MS = [500, 1000, 2000, 4000];   // a read with no answer is asked again
  const VERDICT_KIND = { ok: "ok", not_in_return: "error", over_return: "error",
                         unknown_barcode: "warn" };
  const WARN_ERRORS = new Set(["network", "not_disposed", "nothing_received", "unknown_code",
                               "return_exists"]);
  const ROLES = ["packer", "supervisor", "admin"];
  const OPEN = new Set(["authorised", "received"]);            // items are still scanned in
  const REPAIR_NEXT = { received: "in_repair", in_repair: "repaired", repaired: "shipped_back" };

  const $ = WP.$;
  const words = WP.words(window.WP_RETURNS_STRINGS, "wp.returns.lang");
  const { t, has } = words;
  const savedAuth = WP.stored(sessionStorage, "wp.returns.auth");
  const savedReturn = WP.stored(sessionStorage, "wp.returns.open");
  const state = {
    auth: null,          // {token, badge, role}
    ret: null,           // the return as the server last sent it
    chosen: null,        // the line id being graded
    grade: "",
    disposition: "",
    missing: null,       // {code, order}: a code that named no open return
    pending: 0,          // scans sent and not yet answered
  };

  // ---- feedback ------------------------------------------------------------------------

  const sound = WP.sound({
    ok: [[1320, 90, "sine"]],
    warn: [[660, 160, "triangle"], [660, 160, "triangle"]],
    error: [[220, 200, "square"], [220, 200, "square"], [220, 200, "square"]],
  });

  /** The banner: `kind` ok | warn | error, `code` the server's, the words of `key` (said
   *  again when the language changes). */
  function show(kind, code, key, params) {
    WP.say(kind, code, key, params, t, 3000);
    sound.play(kind);
  }

  function showError(status, body) {
    const err = (body && body.error) || {};
    const code = err.code || (status >= 500 ? "internal" : status === 0 ? "network" : String(status));
    const detail = err.detail || {};
    // not_disposed names line ids: said as their SKUs
    const skus = (detail.lines || []).map((id) => (lineOf(id) || { sku: "#" + id }).sku);
    const params = { code, message: err.message || "", missing: skus.join(", ") };
    const key = has("e." + code) ? "e." + code : "e.unknown";
    show(WARN_ERRORS.has(code) ? "warn" : "error", code, key, params);
  }

  // ---- the API -------------------------------------------------------------------------

  /** One call with the login's token: {status, ok, body}; status 0 when no answer came.
   *  A 401 ends the login. */
  const api = WP.loginApi(() => state.auth, () => {
    logout();
    WP.loginRefused("session_expired", t("session_expired"));
  });

  /** A read sent again while no answer comes back (a change is not: the item scan has no
   *  id the server could know it again by, so the packer sees the error and scans again). */
  async function read(path) {
    for (let i = 0; ; i++) {
      const res = await api("GET", path);
      if (res.status !== 0 || i >= RETRY_MS.length || !state.auth) return res;
      show("warn", "network", "e.network");
      await new Promise((r) => setTimeout(r, RETRY_MS[i]));
    }
  }

  // the routes of api/returns.py (docs: GET /api/v1/openapi.json, tag "returns")
  const ROUTES = {
    find: (code) => read("/api/v1/returns/find?code=" + encodeURIComponent(code)),
    receive: (id) => api("POST", `/api/v1/returns/${id}/receive`, {}),
    unannounced: (code, reason) => api("POST", "/api/v1/returns/unannounced",
                                       Object.assign({ code }, reason ? { reason } : {})),
    item: (id, barcode) => api("POST", `/api/v1/returns/${id}/scan`, { barcode }),
    dispose: (id, lineId, body) => api("POST", `/api/v1/returns/${id}/lines/${lineId}/disposition`, body),
    close: (id) => api("POST", `/api/v1/returns/${id}/close`, {}),
    repair: (id, status) => api("POST", `/api/v1/returns/${id}/repair`, { status }),
  };

  function returnFrom(body) {
    if (!body || typeof body !== "object") return null;
    if (body.return && typeof body.return === "object") return body.return;
    return body.rma !== undefined && Array.isArray(body.lines) ? body : null;
  }

  // ---- rendering -----------------------------------------------------------------------

  const isOpen = (r) => !!(r && OPEN.has(r.status));
  const lineOf = (id) => (state.ret ? state.ret.lines.find((l) => l.id === id) : null) || null;
  const undisposed = (l) => l.received > (l.disposed || 0);

  function needsText() {
    const r = state.ret;
    if (!r) return t("scan_return");
    if (r.kind === "repair" && REPAIR_NEXT[r.status] && r.status !== "received") {
      return t("repair_next");
    }
    if (!isOpen(r)) return t("return_closed");
    if (state.chosen !== null) return t("choose_disposition");
    const received = r.lines.some((l) => l.received > 0);
    if (received && !r.lines.some(undisposed)) return t("all_disposed");
    return t("scan_items");
  }

  function render() {
    const loggedIn = !!state.auth;
    WP.showLoggedIn(loggedIn, loggedIn ? state.auth.badge : "");
    $("work-view").hidden = !loggedIn;
    WP.showPending(state.pending, t("sending", { n: state.pending }));
    if (!loggedIn) return;
    $("needs").textContent = needsText();
    renderUnannounced();
    renderReturn();
    renderDispose();
  }

  function renderUnannounced() {
    const box = $("unannounced");
    box.hidden = state.missing === null || !!state.ret;
    if (box.hidden) return;
    const m = state.missing;
    $("unannounced-title").textContent = m.order
      ? t("unannounced_order", { code: m.code, order: m.order })
      : t("unannounced_title", { code: m.code });
  }

  function renderReturn() {
    const r = state.ret;
    $("return").hidden = !r;
    // a repair is not closed: it goes on through its own steps until shipped back
    const repairNext = r && r.kind === "repair" ? REPAIR_NEXT[r.status] : undefined;
    $("close-return").hidden = !isOpen(r) || r.kind === "repair";
    $("repair-step").hidden = !repairNext;
    if (repairNext) {
      $("repair-step").dataset.to = repairNext;
      $("repair-step").textContent = t("r." + repairNext);
    }
    $("next-return").hidden = !r || isOpen(r);
    if (!r) return;
    $("r-rma").textContent = r.rma;
    $("r-order").textContent = r.order_ref || "—";
    $("r-kind").textContent = t("k." + r.kind);
    const st = $("r-status");
    st.dataset.state = r.status;
    st.textContent = t("s." + r.status);
    const exc = $("r-exception");
    exc.hidden = !r.unannounced;
    exc.textContent = r.unannounced ? t("unannounced_exception", { id: r.exception_id ?? "" }) : "";
    const body = $("lines").tBodies[0];
    body.textContent = "";
    for (const l of r.lines) {
      const tr = document.createElement("tr");
      tr.dataset.line = String(l.id);
      tr.dataset.sku = l.sku;
      tr.classList.toggle("chosen", l.id === state.chosen);
      tr.classList.toggle("extra", !l.quantity);
      tr.classList.toggle("over", l.received > l.quantity);
      tr.classList.toggle("done", l.received > 0 && !undisposed(l));
      const cells = [
        ["sku", l.sku + (l.quantity ? "" : " · " + t("extra_item"))],
        ["quantity n", String(l.quantity)], ["received n", String(l.received)],
        ["grade", l.grade ? t("g." + l.grade) : ""],
        ["disposition", !l.disposition ? ""
          : l.location ? t("disposed_at", { disposition: t("d." + l.disposition), location: l.location })
          : t("d." + l.disposition)],
      ];
      for (const [cls, text] of cells) {
        const td = document.createElement("td");
        td.className = cls;
        td.textContent = text;
        tr.appendChild(td);
      }
      tr.addEventListener("click", () => choose(l.id));
      body.appendChild(tr);
    }
  }

  function renderDispose() {
    const l = isOpen(state.ret) ? lineOf(state.chosen) : null;
    $("dispose").hidden = !l;
    if (!l) return;
    $("dispose-title").textContent = t("dispose_title", { sku: l.sku, n: l.received });
    document.querySelectorAll("#grades button").forEach((b) => {
      b.setAttribute("aria-pressed", String(b.dataset.grade === state.grade));
    });
    document.querySelectorAll("#dispositions button").forEach((b) => {
      b.setAttribute("aria-pressed", String(b.dataset.disposition === state.disposition));
    });
    $("location-form").hidden = state.disposition !== "restock";
    $("warehouse-label").hidden = !!state.ret.order_id;
    $("dispose-save").disabled = !state.grade || !state.disposition
      || (state.disposition === "restock" && !$("location").value.trim());
  }

  function applyLanguage() {
    words.apply();
    WP.sayAgain(t);          // the banner shown is said again in the new language
    render();
  }

  // ---- the work ------------------------------------------------------------------------

  /** The return shown (or none); its id is kept for a reload of the page. */
  function setReturn(r) {
    state.ret = r;
    savedReturn.save(r ? r.id : null);
    if (state.chosen !== null && !lineOf(state.chosen)) choose(null);
  }

  /** After a reload: the return that was open here, as the server has it now. */
  async function reopenSaved() {
    const id = savedReturn.load();
    if (!id || !state.auth) return;
    const res = await api("GET", `/api/v1/returns/${id}`);
    const r = res.ok ? returnFrom(res.body) : null;
    setReturn(isOpen(r) ? r : null);
    render();
  }

  /** The line to grade: its grade and disposition as saved, or none chosen yet. */
  function choose(lineId) {
    const l = lineOf(lineId);
    state.chosen = l && l.received > 0 ? l.id : null;
    state.grade = (l && l.grade) || "";
    state.disposition = (l && l.disposition) || "";
    $("location").value = (l && l.location) || "";
    render();
  }

  // scans are answered in the order they were scanned: each waits for the one before
  let chain = Promise.resolve();
  function submitScan(raw) {
    const text = WP.normaliseScan(raw).trim();
    if (!text || !state.auth) return;
    sound.unlock();
    state.pending += 1;
    render();
    chain = chain.then(() => handleScan(text)).catch((e) => console.error(e))
      .finally(() => { state.pending -= 1; render(); });
  }

  async function handleScan(text) {
    if (!state.auth) return;
    if (isOpen(state.ret)) return scanItem(text);
    return findReturn(text);
  }

  /** An RMA, our returns label, the original tracking number or returns slip: its open
   *  return is received here; an order with none, or nothing at all, is offered as an
   *  unannounced parcel. */
  async function findReturn(code) {
    const res = await ROUTES.find(code);
    const found = res.ok && res.body ? res.body : null;
    if (found && found.return) {
      let r = found.return;
      if (r.status === "authorised") {
        const got = await ROUTES.receive(r.id);
        if (!got.ok) return showError(got.status, got.body);
        r = returnFrom(got.body) || r;
      }
      state.missing = null;
      setReturn(r);
      choose(null);
      if (!isOpen(r)) return show("warn", "return_" + r.status, "return_is",
                                  { rma: r.rma, status: t("s." + r.status) });
      return show("ok", "opened", "opened", { rma: r.rma });
    }
    if (found || res.status === 404) {
      state.missing = { code, order: found && found.order ? found.order.ref : null };
      setReturn(null);
      render();
      if (found) show("warn", "no_open_return", "no_open_return", { order: state.missing.order });
      else showError(res.status, res.body);
      return;
    }
    showError(res.status, res.body);
  }

  async function scanItem(barcode) {
    const id = state.ret.id;
    const res = await ROUTES.item(id, barcode);
    if (!res.ok) return showError(res.status, res.body);
    const body = res.body || {};
    if (body.return && state.ret && state.ret.id === id) setReturn(body.return);
    const verdict = body.verdict;
    if (body.line) choose(body.line.id);
    const key = "v." + verdict;
    show(VERDICT_KIND[verdict] || "error", verdict, has(key) ? key : "e.unknown",
         { code: verdict, message: "" });
    render();
  }

  async function openUnannounced() {
    sound.unlock();
    if (state.missing === null) return;
    const res = await ROUTES.unannounced(state.missing.code, $("unannounced-note").value.trim());
    const r = returnFrom(res.body);
    if (!res.ok || !r) return showError(res.status, res.body);
    state.missing = null;
    $("unannounced-note").value = "";
    setReturn(r);
    choose(null);
    show("warn", "unannounced", "unannounced_opened", { rma: r.rma });
    $("scan").focus();
  }

  async function saveDisposition() {
    sound.unlock();
    const l = lineOf(state.chosen);
    if (!l || !state.grade || !state.disposition) return;
    const body = { grade: state.grade, disposition: state.disposition };
    if (state.disposition === "restock") {
      body.location = $("location").value.trim();
      // a return with no order (an unannounced parcel) has no warehouse of its own
      if (!state.ret.order_id) body.warehouse = $("warehouse").value.trim() || undefined;
    }
    const res = await ROUTES.dispose(state.ret.id, l.id, body);
    if (!res.ok) return showError(res.status, res.body);
    const r = returnFrom(res.body);
    if (r) setReturn(r);
    show("ok", "disposed", "disposed", { sku: l.sku, disposition: t("d." + state.disposition) });
    choose(null);
    $("scan").focus();
  }

  /** A step of the whole return (close, a repair step): the server's answer shown, the
   *  banner `code` with the words of `key`. */
  async function returnStep(call, code, key, params) {
    sound.unlock();
    const r = state.ret;
    if (!r) return;
    const res = await call(r.id);
    if (!res.ok) return showError(res.status, res.body);
    setReturn(returnFrom(res.body) || r);
    choose(null);
    show("ok", code, key, Object.assign({ rma: r.rma }, params));
    $("scan").focus();
  }

  function closeReturn() {
    if (isOpen(state.ret)) returnStep(ROUTES.close, "closed", "closed");
  }

  function repairStep() {
    const to = $("repair-step").dataset.to;
    if (to) returnStep((id) => ROUTES.repair(id, to), to, "repair_done", { status: t("s." + to) });
  }

  function nextReturn() {
    setReturn(null);
    state.missing = null;
    choose(null);
    $("verdict").hidden = true;
    $("scan").focus();
  }

  // ---- login ---------------------------------------------------------------------------

  function login(ev) {
    sound.unlock();
    return WP.logIn(ev, t, (body) => {
      state.auth = { token: body.token, badge: body.badge, role: body.role };
      savedAuth.save(state.auth);
      render();
      $("scan").focus();
    }, ROLES);
  }

  function logout() {
    state.auth = null;
    savedAuth.save(null);
    setReturn(null);
    state.missing = null;
    state.chosen = null;
    $("verdict").hidden = true;
    render();
    $("badge").focus();
  }

  // ---- start ---------------------------------------------------------------------------

  function wire() {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("lang").addEventListener("click", () => { words.toggle(); applyLanguage(); });
    WP.wireScanField(submitScan, sound.unlock);
    $("grades").addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-grade]");
      if (!b) return;
      state.grade = b.dataset.grade;
      render();
    });
    $("dispositions").addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-disposition]");
      if (!b) return;
      state.disposition = b.dataset.disposition;
      render();
      if (state.disposition === "restock") $("location").focus();   // the wedge types the bin here
    });
    $("location").addEventListener("input", renderDispose);
    // the bin scanned into #location (a wedge ends it with Enter) saves the disposition; the
    // form has two fields, so Enter would not submit it by itself
    $("location-form").addEventListener("submit", (ev) => ev.preventDefault());
    $("location-form").addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter") return;
      ev.preventDefault();
      $("location").value = WP.normaliseScan($("location").value).trim();
      renderDispose();
      if (!$("dispose-save").disabled) saveDisposition();
    });
    $("dispose-save").addEventListener("click", saveDisposition);
    $("close-return").addEventListener("click", closeReturn);
    $("repair-step").addEventListener("click", repairStep);
    $("next-return").addEventListener("click", nextReturn);
    $("unannounced-open").addEventListener("click", openUnannounced);
    $("unannounced-back").addEventListener("click", () => { state.missing = null; render(); $("scan").focus(); });
  }

  wire();
  applyLanguage();
  state.auth = savedAuth.load();
  render();
  if (state.auth) { $("scan").focus(); reopenSaved(); } else $("badge").focus();
})();
