// The exception queue page: a supervisor's badge login, the queue filtered by state, type,
// severity, owner and overdue (GET /api/v1/exceptions, paged by cursor), due times counting
// down, and one exception's detail with its actions (ack, assign, resolve, dismiss, notes).
// The server decides every move: a refused one shows the server's own message.
"use strict";

(function () {
  const POLL_MS = 4000;          // the queue and the open exception, fetched again
  const TICK_MS = 1000;          // the due times counting down
  const ROLES = ["supervisor", "admin"];
  const ACTIONS = ["ack", "assign", "resolve", "dismiss"];
  const FILTER_OPTIONS = {   // the server's states and severities (GET /api/v1/exceptions)
    "f-state": ["open", "acknowledged", "resolved", "dismissed"],
    "f-severity": ["low", "medium", "high", "critical"],
  };
  // the moves the life cycle allows from each state (the buttons of the others are dimmed,
  // not disabled: the server decides, and its refusal is shown)
  const ALLOWED = {
    open: new Set(["ack", "assign", "resolve", "dismiss"]),
    acknowledged: new Set(["assign", "resolve", "dismiss"]),
  };
  // resolution codes offered (the server takes any [a-z0-9_]{1,64}: the cause found)
  const RESOLUTIONS = ["restocked", "stock_corrected", "counted", "address_fixed",
                       "carrier_assigned", "order_corrected", "order_cancelled", "reprinted",
                       "printer_fixed", "customer_contacted", "duplicate", "no_action_needed"];
  const OWNER_ROLES = ["supervisor", "admin", "packer", "picker"];

  // ?limit=N in the page's address: the page size asked of the server (default its own)
  const PAGE_SIZE = (() => {
    const n = Number(new URLSearchParams(location.search).get("limit"));
    return Number.isInteger(n) && n >= 1 && n <= 200 ? n : null;
  })();

  const $ = WP.$;
  const words = WP.words(window.WP_EXC_STRINGS, "wp.exceptions.lang");
  const { t, has } = words;
  const savedAuth = WP.stored(sessionStorage, "wp.exceptions.auth");
  const state = {
    auth: null,           // {token, badge, role}
    filters: {},          // as last applied
    rows: [],             // the exceptions shown, in the server's order
    cursor: null,         // next_cursor of the last page fetched
    pages: 1,             // pages fetched (a refresh fetches as many again)
    selected: null,       // the exception shown in the detail
    version: 0,           // bumped by each filter change: a stale answer is dropped
    pollTimer: null,
    busy: false,
  };

  // ---- words -------------------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = words.lang;
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("f-owner").placeholder = t("owner_placeholder");
    $("f-type").placeholder = t("type_placeholder");
    const n = $("notice");
    for (const el of [n, $("live")]) {
      if (el.dataset.key) el.textContent = t(el.dataset.key, JSON.parse(el.dataset.params || "{}"));
    }
    renderList();
    renderDetail();
  }

  /** A server code in the page's words, or the code itself when it has none. */
  function word(prefix, code) {
    if (code === null || code === undefined || code === "") return "";
    return has(prefix + code) ? t(prefix + code) : String(code);
  }

  function duration(ms) {
    const s = Math.floor(Math.abs(ms) / 1000);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d) return t("dur_d", { d, h });
    if (h) return t("dur_h", { h, m });
    if (m) return t("dur_m", { m, s: s % 60 });
    return t("dur_s", { s });
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString(words.lang);
  }

  /** Due: "in 1 h 4 min" or "overdue by 12 min"; overdue when the server says so or the
   *  due time has passed here since (a closed exception is never overdue). */
  function due(exc) {
    if (!exc.due_at) return { text: t("no_due"), overdue: false };
    const left = new Date(exc.due_at).getTime() - Date.now();
    const closed = exc.state === "resolved" || exc.state === "dismissed";
    const overdue = !closed && (exc.overdue === true || left <= 0);
    if (isNaN(left)) return { text: String(exc.due_at), overdue };
    if (closed) return { text: when(exc.due_at), overdue: false };
    return { text: overdue ? t("overdue_by", { time: duration(left) })
                           : t("due_in", { time: duration(left) }), overdue };
  }

  function subjectText(subject) {
    if (!subject || typeof subject !== "object") return "";
    const ref = subject.ref || (subject.id !== undefined && subject.id !== null ? "#" + subject.id : "");
    return [word("kind.", subject.kind), ref].filter(Boolean).join(" ");
  }

  function ownerText(owner) {
    if (owner === null || owner === undefined) return "";
    if (typeof owner === "object") return owner.badge || owner.name || owner.role || JSON.stringify(owner);
    return String(owner);
  }

  // ---- the notice line -----------------------------------------------------------------

  /** The notice: `kind` ok | error, `code` the server's code (data-code), the text from
   *  `key` (said again when the language changes); data-seq counts the messages shown. */
  function notify(kind, code, key, params) {
    const n = $("notice");
    n.dataset.key = key;
    n.dataset.params = JSON.stringify(params || {});
    n.dataset.kind = kind;
    n.dataset.code = code;
    n.dataset.seq = String(Number(n.dataset.seq || 0) + 1);
    n.className = "notice " + kind;
    n.textContent = t(key, params);
    n.hidden = false;
  }

  /** An API refusal in the page's words; the server's message for a refused move. */
  function refused(status, body) {
    const err = (body && body.error) || {};
    const code = err.code || (status === 0 ? "network" : status >= 500 ? "internal"
      : status === 409 ? "conflict" : String(status));
    const key = has("e." + code) ? "e." + code : status === 409 ? "e.conflict" : "e.unknown";
    notify("error", code, key, { code, message: err.message || "" });
  }

  // ---- the API -------------------------------------------------------------------------

  /** One call with the login's token: {status, ok, body}; status 0 when no answer came.
   *  A 401 ends the login. */
  const api = WP.loginApi(() => state.auth, () => {
    logout();
    WP.loginRefused("session_expired", t("session_expired"));
  });

  function query(filters, cursor) {
    const q = new URLSearchParams();
    for (const k of ["state", "type", "severity", "owner"]) if (filters[k]) q.set(k, filters[k]);
    if (filters.overdue) q.set("overdue", "true");
    if (PAGE_SIZE) q.set("limit", String(PAGE_SIZE));
    if (cursor) q.set("cursor", cursor);
    const s = q.toString();
    return "/api/v1/exceptions" + (s ? "?" + s : "");
  }

  /** The queue again, as many pages as were shown (the first one on a filter change). */
  async function loadList(fresh) {
    if (!state.auth) return;
    const version = fresh ? ++state.version : state.version;
    const pages = fresh ? 1 : state.pages;
    const rows = [];
    let cursor = null;
    for (let i = 0; i < pages; i++) {
      const res = await api("GET", query(state.filters, cursor));
      if (!state.auth || version !== state.version) return;
      if (!res.ok) {
        showLive("off", "live_off", { reason: res.status || t("network_error") });
        if (fresh) refused(res.status, res.body);
        return;
      }
      rows.push(...((res.body && res.body.exceptions) || []));
      cursor = (res.body && res.body.next_cursor) || null;
      if (!cursor) break;
    }
    state.rows = rows;
    state.cursor = cursor;
    state.pages = fresh ? 1 : state.pages;
    showLive("on", "refreshed", { time: new Date().toLocaleTimeString(words.lang) });
    if (state.selected) {
      const again = rows.find((r) => r.id === state.selected.id);
      if (again) state.selected = again;
      else refreshSelected();
    }
    renderList();
    renderDetail();
  }

  /** The header's word on the live refresh: updated at …, or why not. */
  function showLive(on, key, params) {
    const live = $("live");
    live.dataset.state = on;
    live.dataset.key = key;
    live.dataset.params = JSON.stringify(params);
    live.dataset.at = String(Date.now());
    live.textContent = t(key, params);
  }

  async function loadMore() {
    if (!state.cursor || !state.auth) return;
    const version = state.version;
    const res = await api("GET", query(state.filters, state.cursor));
    if (!state.auth || version !== state.version) return;
    if (!res.ok) return refused(res.status, res.body);
    const seen = new Set(state.rows.map((r) => r.id));
    state.rows.push(...((res.body && res.body.exceptions) || []).filter((r) => !seen.has(r.id)));
    state.cursor = (res.body && res.body.next_cursor) || null;
    state.pages += 1;
    renderList();
  }

  /** The shown exception when the list (filtered) no longer holds it. */
  async function refreshSelected() {
    const id = state.selected && state.selected.id;
    if (id === undefined || id === null) return;
    const res = await api("GET", `/api/v1/exceptions/${id}`);
    if (res.ok && state.selected && state.selected.id === id) {
      const exc = excOf(res.body);
      if (exc) { state.selected = exc; renderDetail(); }
    }
  }

  /** An exception out of an answer: the object itself or {exception: …}. */
  function excOf(body) {
    if (!body || typeof body !== "object") return null;
    if (body.exception && typeof body.exception === "object") return body.exception;
    return body.id !== undefined && body.state ? body : null;
  }

  function startPolling() {
    stopPolling();
    state.pollTimer = setInterval(() => { if (!state.busy) loadList(false); }, POLL_MS);
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  // ---- rendering ------------------------------------------------------------------------

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function renderList() {
    const body = $("list").querySelector("tbody");
    body.textContent = "";
    for (const exc of state.rows) {
      const tr = document.createElement("tr");
      const d = due(exc);
      tr.dataset.id = String(exc.id);
      tr.dataset.state = exc.state || "";
      tr.dataset.severity = exc.severity || "";
      tr.dataset.overdue = String(d.overdue);
      tr.classList.toggle("overdue", d.overdue);
      tr.classList.toggle("selected", !!(state.selected && state.selected.id === exc.id));
      cell(tr, "#" + exc.id, "id");
      cell(tr, word("type.", exc.type), "type");
      cell(tr, word("severity.", exc.severity), "c-severity").dataset.severity = exc.severity || "";
      cell(tr, word("state.", exc.state), "c-state").dataset.state = exc.state || "";
      cell(tr, subjectText(exc.subject), "subject");
      cell(tr, ownerText(exc.owner), "owner");
      const dc = cell(tr, d.text, "due");
      if (exc.due_at) dc.dataset.due = exc.due_at;
      tr.addEventListener("click", () => select(exc));
      body.appendChild(tr);
    }
    $("list-empty").hidden = state.rows.length > 0;
    $("list-count").textContent = t("list_count", { n: state.rows.length });
    $("list-count").dataset.count = String(state.rows.length);
    $("more").hidden = !state.cursor;
    const types = new Set(Object.keys(window.WP_EXC_STRINGS.en)
      .filter((k) => k.startsWith("type.")).map((k) => k.slice(5)));
    state.rows.forEach((r) => r.type && types.add(r.type));
    const list = $("known-types");
    if (list.dataset.n !== String(types.size)) {
      list.textContent = "";
      for (const ty of [...types].sort()) {
        const o = document.createElement("option");
        o.value = ty;
        list.appendChild(o);
      }
      list.dataset.n = String(types.size);
    }
  }

  /** The countdowns, once a second, without rebuilding anything. */
  function tick() {
    const byId = new Map(state.rows.map((r) => [String(r.id), r]));
    $("list").querySelectorAll("tbody tr").forEach((tr) => {
      const exc = byId.get(tr.dataset.id);
      if (!exc) return;
      const d = due(exc);
      tr.querySelector("td.due").textContent = d.text;
      tr.dataset.overdue = String(d.overdue);
      tr.classList.toggle("overdue", d.overdue);
    });
    if (state.selected) {
      const d = due(state.selected);
      $("d-due").textContent = d.text;
      $("d-due").dataset.overdue = String(d.overdue);
    }
  }

  function noteParts(note) {
    if (note === null || typeof note !== "object") return { text: String(note ?? ""), who: "", at: "" };
    return { text: note.text ?? note.note ?? note.body ?? "",
             who: ownerText(note.by ?? note.author ?? note.actor ?? note.user ?? ""),
             at: note.at ?? note.created_at ?? "" };
  }

  function renderDetail() {
    const exc = state.selected;
    $("detail-none").hidden = !!exc;
    $("detail-body").hidden = !exc;
    if (!exc) return;
    $("detail").dataset.id = String(exc.id);
    $("d-title").textContent = t("detail_title", { id: exc.id });
    $("d-state").textContent = word("state.", exc.state);
    $("d-state").dataset.state = exc.state || "";
    $("d-severity").textContent = word("severity.", exc.severity);
    $("d-severity").dataset.severity = exc.severity || "";
    $("d-type").textContent = word("type.", exc.type);
    $("d-type").dataset.type = exc.type || "";
    $("d-message").textContent = exc.message || "";
    $("d-subject").textContent = subjectText(exc.subject);
    $("d-owner").textContent = ownerText(exc.owner);
    $("d-created").textContent = when(exc.created_at);
    const r = exc.resolution;
    $("d-resolution").textContent = r && typeof r === "object"
      ? [r.code || r.resolution, r.note].filter(Boolean).join(" — ") : (r || "");
    renderHistory(exc);
    renderFacts(exc.detail);
    const notes = Array.isArray(exc.notes) ? exc.notes : [];
    const ul = $("d-notes");
    if (ul.dataset.key !== JSON.stringify([exc.id, notes, words.lang])) {
      ul.textContent = "";
      for (const note of notes) {
        const p = noteParts(note);
        const li = document.createElement("li");
        const text = document.createElement("div");
        text.className = "note-text";
        text.textContent = p.text;
        li.appendChild(text);
        if (p.who || p.at) {
          const by = document.createElement("small");
          by.className = "muted";
          by.textContent = t("note_by", { who: p.who, at: when(p.at) });
          li.appendChild(by);
        }
        ul.appendChild(li);
      }
      ul.dataset.key = JSON.stringify([exc.id, notes, words.lang]);
    }
    $("d-notes-none").hidden = notes.length > 0;
    const allowed = ALLOWED[exc.state] || new Set();
    for (const a of ACTIONS) {
      $("a-" + a).dataset.allowed = String(allowed.has(a));
    }
    tick();
  }

  /** Who raised, acknowledged and closed it, and when; its escalations. */
  function renderHistory(exc) {
    const ul = $("d-history");
    ul.textContent = "";
    const steps = [["h_raised", exc.created_by, exc.created_at],
                   ["h_acknowledged", exc.acknowledged_by, exc.acknowledged_at]];
    if (exc.state === "resolved" || exc.state === "dismissed") {
      steps.push(["h_" + exc.state, exc.resolved_by, exc.resolved_at]);
    }
    for (const [key, who, at] of steps) {
      if (!who && !at) continue;
      const li = document.createElement("li");
      li.dataset.step = key;
      li.textContent = t(key, { who: who || "", at: when(at) });
      ul.appendChild(li);
    }
    if (exc.escalations > 0) {
      const li = document.createElement("li");
      li.dataset.step = "h_escalated";
      li.className = "escalated";
      li.textContent = t("h_escalated", { n: exc.escalations });
      ul.appendChild(li);
    }
  }

  /** The exception's detail as its source recorded it (location, sku, missing, …). */
  function renderFacts(detail) {
    const dl = $("d-detail");
    dl.textContent = "";
    if (detail === null || detail === undefined || detail === "") return;
    const pairs = typeof detail === "object" && !Array.isArray(detail)
      ? Object.entries(detail) : [["", detail]];
    for (const [k, v] of pairs) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v !== null && typeof v === "object" ? JSON.stringify(v) : String(v ?? "");
      dl.append(dt, dd);
    }
  }

  function select(exc) {
    if (!state.selected || state.selected.id !== exc.id) closePrompts();
    state.selected = exc;
    renderList();
    renderDetail();
  }

  // ---- the actions -----------------------------------------------------------------------

  const FORMS = { assign: ["assign-form", "assign-owner"], resolve: ["resolve-form", "resolve-code"],
                  dismiss: ["dismiss-form", "dismiss-note"] };

  function closePrompts() {
    for (const [form] of Object.values(FORMS)) $(form).hidden = true;
  }

  function openPrompt(action) {
    closePrompts();
    const [form, field] = FORMS[action];
    $(form).hidden = false;
    $(form).querySelectorAll("input, textarea").forEach((el) => { el.value = ""; });
    $(field).focus();
  }

  /** POST one move; the answer's exception (or the queue again) is shown. */
  async function act(action, body, doneKey, params) {
    const exc = state.selected;
    if (!exc || state.busy) return false;
    state.busy = true;
    try {
      const res = await api("POST", `/api/v1/exceptions/${exc.id}/${action}`, body);
      if (!state.auth) return false;
      if (!res.ok) {
        refused(res.status, res.body);
        await loadList(false);
        return false;
      }
      const got = excOf(res.body);
      if (got && state.selected && state.selected.id === got.id) {
        state.selected = got;
        const i = state.rows.findIndex((r) => r.id === got.id);
        if (i >= 0) state.rows[i] = got;
      }
      notify("ok", action, doneKey, Object.assign({ id: exc.id }, params));
      closePrompts();
      await loadList(false);
      if (!got) await refreshSelected();
      return true;
    } finally {
      state.busy = false;
    }
  }

  function wireActions() {
    $("a-ack").addEventListener("click", () => act("ack", {}, "done_ack"));
    $("a-assign").addEventListener("click", () => openPrompt("assign"));
    $("a-resolve").addEventListener("click", () => openPrompt("resolve"));
    $("a-dismiss").addEventListener("click", () => openPrompt("dismiss"));
    document.querySelectorAll("#detail form.prompt button.back")
      .forEach((b) => b.addEventListener("click", closePrompts));
    $("assign-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const owner = $("assign-owner").value.trim();
      if (owner) act("assign", { owner }, "done_assign", { owner });
    });
    $("resolve-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const resolution = $("resolve-code").value.trim();
      if (resolution) act("resolve", { resolution, note: $("resolve-note").value.trim() }, "done_resolve");
    });
    $("dismiss-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const note = $("dismiss-note").value.trim();
      if (note) act("dismiss", { note }, "done_dismiss");
    });
    $("note-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const note = $("note-text").value.trim();
      if (note && await act("notes", { note }, "done_note")) $("note-text").value = "";
    });
    const codes = $("known-resolutions");
    for (const code of RESOLUTIONS) {
      const o = document.createElement("option");
      o.value = code;
      codes.appendChild(o);
    }
  }

  // ---- filters ------------------------------------------------------------------------------

  function readFilters() {
    return { state: $("f-state").value, type: $("f-type").value.trim(),
             severity: $("f-severity").value, owner: $("f-owner").value.trim(),
             overdue: $("f-overdue").checked };
  }

  function applyFilters(ev) {
    if (ev) ev.preventDefault();
    state.filters = readFilters();
    sessionStorage.setItem("wp.exceptions.filters", JSON.stringify(state.filters));
    loadList(true);
  }

  function clearFilters() {
    $("filters").reset();
    applyFilters();
  }

  function restoreFilters() {
    let f = {};
    try { f = JSON.parse(sessionStorage.getItem("wp.exceptions.filters") || "{}") || {}; } catch { f = {}; }
    $("f-state").value = f.state || "";
    $("f-type").value = f.type || "";
    $("f-severity").value = f.severity || "";
    $("f-owner").value = f.owner || "";
    $("f-overdue").checked = !!f.overdue;
    state.filters = readFilters();
  }

  // ---- login --------------------------------------------------------------------------------

  function showWork(on) {
    WP.showLoggedIn(on, on ? `${state.auth.badge} · ${state.auth.role}` : "");
    $("work-view").hidden = !on;
    const owners = $("known-owners");
    owners.textContent = "";
    if (!on) return;
    for (const owner of ["user:" + state.auth.badge, ...OWNER_ROLES]) {
      const o = document.createElement("option");
      o.value = owner;
      owners.appendChild(o);
    }
  }

  function login(ev) {
    return WP.logIn(ev, t, (body) => {
      state.auth = { token: body.token, badge: body.badge, role: body.role };
      savedAuth.save(state.auth);
      start();
    }, ROLES);
  }

  function logout() {
    state.auth = null;
    savedAuth.save(null);
    stopPolling();
    state.rows = [];
    state.selected = null;
    state.cursor = null;
    $("notice").hidden = true;
    showWork(false);
    $("badge").focus();
  }

  function start() {
    showWork(true);
    restoreFilters();
    loadList(true);
    startPolling();
  }

  /** The state and severity filters' options, each worded by its select's data-options
   *  prefix (state.open, severity.high, …). */
  function addFilterOptions() {
    for (const [id, values] of Object.entries(FILTER_OPTIONS)) {
      const select = $(id);
      for (const value of values) {
        const o = document.createElement("option");
        o.value = value;
        o.dataset.i18n = select.dataset.options + value;
        select.appendChild(o);
      }
    }
  }

  function wire() {
    addFilterOptions();
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("lang").addEventListener("click", () => { words.toggle(); applyLanguage(); });
    $("filters").addEventListener("submit", applyFilters);
    $("f-clear").addEventListener("click", clearFilters);
    $("f-mine").addEventListener("click", () => {
      $("f-owner").value = "user:" + state.auth.badge;
      applyFilters();
    });
    $("more").addEventListener("click", loadMore);
    $("d-close").addEventListener("click", () => { state.selected = null; closePrompts(); renderList(); renderDetail(); });
    wireActions();
    setInterval(tick, TICK_MS);
  }

  wire();
  applyLanguage();
  state.auth = savedAuth.load();
  if (state.auth && ROLES.includes(state.auth.role)) start();
  else { state.auth = null; showWork(false); $("badge").focus(); }
})();
