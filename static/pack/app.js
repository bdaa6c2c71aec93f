// The pack station page: badge login, a station, a keyboard-wedge scan field, and the
// packing REST API (docs/pack-api.md). The server decides every verdict; this page shows
// it, in colour and sound, and keeps the printer's state in view.
"use strict";

(function () {
  const PRINTER_POLL_MS = 2000;
  const QUEUE_POLL_MS = 5000;            // the pack queue, while no order is open
  const JOB_POLL_MS = 1000;
  const RETRY_MIN_MS = 500;
  const RETRY_MAX_MS = 5000;
  const SERVER_ERROR_TRIES = 3;          // a 5xx is retried (same scan_id) this often
  const ARM_MS = 4000;                   // a two-tap button waits this long for its second tap
  const LIVE = new Set(["open", "held"]);
  const JOB_DONE = new Set(["printed", "failed"]);
  const VERDICT_KIND = {
    ok: "ok",
    wrong_item: "error", not_in_order: "error", over_pack: "error",
    unknown_barcode: "warn", expired_lot: "warn", qc_pending: "warn",
    on_hold: "held",
  };
  const WARN_ERRORS = new Set(["not_picked", "weight_required", "not_printed_yet", "network",
                               "not_verified"]);
  const HELD_ERRORS = new Set(["on_hold", "already_packing"]);
  const SUPERVISORS = new Set(["supervisor", "admin"]);
  const DOCUMENTS = new Set(["packing_slip", "invoice"]);   // inserts the server renders as PDF

  const $ = WP.$;
  const words = WP.words(window.WP_PACK_STRINGS, "wp.pack.lang");
  const { t, has } = words;
  const state = {
    auth: null,          // {token, badge, role}
    stations: [],
    station: null,       // its name
    printer: null,       // {name, state, detail, checked_at}
    session: null,       // the session object as the server last sent it
    last: null,          // the station's last confirmed session, shown after a reload
    stationSeen: false,  // the station's first view arrived (the reload is picked up)
    dismissed: null,     // the session whose card Next order put away (not shown again)
    docs: {},            // kind → blob: URL of the session's documents opened here
    version: 0,          // bumped on every session change made here (stale polls lose)
    job: null,           // the label job shown: {id, state, last_error, …}
    preview: { jobId: null, url: null },
    parcels: {},         // parcel n ≥ 2 of the shown shipments → {job, previewJob, url}
    parcelTimer: null,
    reprintParcel: 1,    // the parcel whose label the reprint form is for
    queue: [],           // scans not yet answered: {raw, scan_id, scanned_at, tries, open,
                         // session, seq}, each also in the IndexedDB outbox until answered
    armed: null,         // the give-back button's confirm timer
    pollTimer: null,
    jobTimer: null,
    packQueue: null,     // GET …/queue: the orders picked and waiting here
    queueAt: 0,          // when it was last asked for
  };

  // ---- words -------------------------------------------------------------------------

  function applyLanguage() {
    words.apply();
    $("carton-select").setAttribute("aria-label", t("carton"));
    $("carton-select").dataset.options = "";     // option labels are said again below
    WP.sayAgain(t);          // the banner shown is said again in the new language
    renderStations();
    render();
  }

  // ---- feedback: colour and sound ------------------------------------------------------

  const TONES = {   // [frequency Hz, duration ms, waveform] per beep: each kind its own sound
    ok: [[1320, 90, "sine"]],
    warn: [[660, 160, "triangle"], [660, 160, "triangle"]],
    error: [[220, 200, "square"], [220, 200, "square"], [220, 200, "square"]],
    held: [[880, 180, "sawtooth"], [587, 180, "sawtooth"], [392, 300, "sawtooth"]],
  };

  const sound = WP.sound(TONES);
  const unlockAudio = sound.unlock;
  const signal = sound.play;

  /** The big banner: `kind` ok | error | warn | held, `code` the server's code, the text
   *  from `key` (said again when the language changes). */
  function showVerdict(kind, code, key, params) {
    WP.say(kind, code, key, params, t, 3000);
    signal(kind);
  }

  function errorOf(body) {
    return (body && body.error) || {};
  }

  /** An API refusal on the banner, in the page's words when it knows the code. */
  function showError(status, body) {
    const err = errorOf(body);
    const code = err.code || (status >= 500 ? "internal" : String(status));
    const params = { code, message: err.message || "", missing: missingText(err.detail),
                     status: (err.detail && err.detail.status) || "" };
    // order_<status>: the order moved on meanwhile (e.g. cancelled by the storefront)
    const key = has("e." + code) ? "e." + code
      : code.startsWith("order_") && params.status ? "e.order_status" : "e.unknown";
    const kind = HELD_ERRORS.has(code) ? "held" : WARN_ERRORS.has(code) ? "warn" : "error";
    showVerdict(kind, code, key, params);
  }

  /** `not_verified`'s detail: the lines still missing, however the server lists them. */
  function missingText(detail) {
    if (!detail) return "";
    const items = Array.isArray(detail) ? detail
      : Array.isArray(detail.lines) ? detail.lines
      : Array.isArray(detail.missing) ? detail.missing : [detail];
    return items.map((x) => {
      if (x === null || typeof x !== "object") return String(x);
      const what = x.sku || x.name || (x.line !== undefined ? "#" + x.line : "");
      const n = x.remaining ?? x.missing ?? x.quantity;
      return n !== undefined ? `${what} ×${n}` : what;
    }).join(", ");
  }

  // ---- the API -------------------------------------------------------------------------

  const NetworkError = WP.NetworkError;

  /** One call with the staff token. Resolves {status, ok, body}; throws NetworkError when
   *  no answer came. A 401 ends the login (the token expired or was revoked). */
  async function api(method, path, body) {
    const res = await WP.fetchJson(state.auth.token, method, path, body);
    if (res.status === 401 && state.auth) {
      sessionRefused("session_expired");
    }
    return res;
  }

  function sessionFrom(body) {
    if (!body || typeof body !== "object") return null;
    if (body.session && typeof body.session === "object") return body.session;
    return body.id !== undefined && body.lines ? body : null;
  }

  // ---- rendering ------------------------------------------------------------------------

  function isLive(s) { return !!(s && LIVE.has(s.state)); }

  function needsText() {
    const s = state.session;
    if (!s) return t("scan_order");
    if (s.state === "confirmed") {
      return (s.shipments || []).length > 1 ? t("order_shipped_parcels") : t("order_shipped");
    }
    if (s.state === "cancelled") return t("scan_order");
    if (s.state === "held") return t("session_held");
    if (pendingQc()) return t("answer_qc");
    if (s.verified) return t("scan_done");
    return t("scan_items");
  }

  function pendingQc() {
    const s = state.session;
    return s && s.state === "open" && s.pending_qc && s.pending_qc.length ? s.pending_qc[0] : null;
  }

  function render() {
    const loggedIn = !!state.auth;
    const atStation = loggedIn && !!state.station;
    WP.showLoggedIn(loggedIn, loggedIn ? state.auth.badge : "");
    $("station-view").hidden = !loggedIn || atStation;
    $("work-view").hidden = !atStation;
    const sc = $("station-change");
    sc.hidden = !atStation;
    sc.textContent = atStation ? t("station_label", { station: state.station }) : "";
    renderPrinter();
    WP.showPending(state.queue.length, t("sending", { n: state.queue.length }));
    if (!atStation) return;
    $("needs").textContent = needsText();
    renderQueue();
    renderSession();
    renderShipment();
  }

  /** The orders picked and waiting at this station's warehouse, while no order is open
   *  here: a click opens one (as scanning its tote would), the buttons print its labels. */
  function renderQueue() {
    const q = state.packQueue;
    const box = $("pack-queue");
    box.hidden = !q || isLive(state.session);
    if (box.hidden) return;
    $("queue-empty").hidden = q.orders.length > 0;
    $("queue").hidden = q.orders.length === 0;
    const body = $("queue").tBodies[0];
    // a poll must not replace a row being clicked (a row rebuilt between the press and the
    // release loses the click): the rows are rebuilt only when what they are changes; the
    // age, which every poll moves on, is rewritten in place
    const key = words.lang + "|" + JSON.stringify(q.orders.map(({ age_s, ...rest }) => rest));
    if (body.dataset.key === key) {
      q.orders.forEach((o, i) => {
        const cell = body.rows[i] && body.rows[i].querySelector("td.age");
        const text = o.packing_at ? t("queue_packing_at", { station: o.packing_at }) : ageText(o.age_s);
        if (cell && cell.textContent !== text) cell.textContent = text;
      });
      return;
    }
    body.dataset.key = key;
    body.textContent = "";
    const now = Date.now();
    for (const o of q.orders) {
      const tr = document.createElement("tr");
      tr.dataset.order = o.order;
      tr.dataset.orderId = String(o.order_id);
      if (o.packing_at) tr.className = "busy";
      if (o.ship_by && Date.parse(o.ship_by) < now) tr.classList.add("late");
      const totes = (o.totes || []).map((x) => t("queue_tote_cell", x)).join(", ");
      const cells = [["tote", totes], ["order", o.order], ["n units", o.units],
                     ["age", o.packing_at ? t("queue_packing_at", { station: o.packing_at })
                                          : ageText(o.age_s)],
                     ["ship-by", o.ship_by ? new Date(o.ship_by).toLocaleString(words.lang) : "—"]];
      for (const [cls, text] of cells) {
        const td = document.createElement("td");
        td.className = cls;
        td.textContent = text ?? "";
        tr.appendChild(td);
      }
      const labels = document.createElement("td");
      const last = (o.totes || [])[(o.totes || []).length - 1];
      if (last) {
        labels.appendChild(labelButton("tote", last.cart, last.slot, t("queue_print_tote")));
        labels.appendChild(labelButton("cart", last.cart, null, t("queue_print_cart")));
      }
      tr.appendChild(labels);
      if (!o.packing_at) tr.addEventListener("click", () => openFromQueue(o));
      body.appendChild(tr);
    }
  }

  function ageText(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const m = Math.floor(seconds / 60);
    return m < 60 ? t("age_minutes", { n: m }) : t("age_hours", { h: Math.floor(m / 60), m: m % 60 });
  }

  function labelButton(kind, cart, slot, text) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "print-" + kind;
    b.dataset.kind = kind;
    b.textContent = text;
    b.addEventListener("click", (ev) => {
      ev.stopPropagation();
      printLabel(kind, cart, slot);
    });
    return b;
  }

  function openFromQueue(o) {
    unlockAudio();
    if (isLive(state.session) || state.queue.some((q) => q.open)) return;
    submitScan("#" + o.order_id);
  }

  async function printLabel(kind, cart, slot) {
    unlockAudio();
    const body = { kind, cart };
    if (slot) body.slot = slot;
    let res;
    try {
      res = await api("POST", `/api/v1/pack/stations/${encodeURIComponent(state.station)}/labels`, body);
    } catch {
      showVerdict("warn", "network", "e.network");
      return;
    }
    if (!res.ok) return showError(res.status, res.body);
    showVerdict("ok", "label_queued", kind === "cart" ? "cart_label_queued" : "tote_label_queued",
                { cart, slot });
    $("scan").focus();
  }

  async function loadQueue(force) {
    if (!state.auth || !state.station || isLive(state.session)) return;
    if (!force && Date.now() - state.queueAt < QUEUE_POLL_MS) return;
    state.queueAt = Date.now();
    const station = state.station;
    try {
      const res = await api("GET", `/api/v1/pack/stations/${encodeURIComponent(station)}/queue`);
      if (res.ok && station === state.station) {
        state.packQueue = res.body;
        render();
      }
    } catch { /* shown again on the next poll */ }
  }

  function renderPrinter() {
    const el = $("printer");
    const p = state.printer;
    el.hidden = !p || !state.station;
    const s = (p && p.state) || "unknown";
    const known = has("p." + s) ? s : "unknown";
    el.dataset.state = s;
    el.title = p && p.name ? t("printer_label", { name: p.name }) : "";
    $("printer-text").textContent = t("p." + known);
    const help = $("printer-help");
    help.textContent = p && state.station ? t("p." + known + ".help") : "";
    help.dataset.state = s;
  }

  function renderSession() {
    const s = state.session;
    $("order").hidden = !s;
    $("carton-box").hidden = !s;
    $("weight-box").hidden = !s;
    $("cancel-session").hidden = !isLive(s);
    const open = !!(s && s.state === "open");
    const held = !!(s && s.state === "held");
    $("hold-session").hidden = !open || !$("hold-form").hidden;
    if (!open) $("hold-form").hidden = true;
    const supervisor = !!(state.auth && SUPERVISORS.has(state.auth.role));
    $("release-session").hidden = !held || !supervisor || !$("release-form").hidden;
    if (!held || !supervisor) $("release-form").hidden = true;
    const confirm = $("confirm");
    confirm.disabled = !(s && s.state === "open" && s.verified);
    confirm.hidden = !!(s && s.state === "confirmed");
    $("confirm-hint").hidden = confirm.hidden;
    renderQc();
    if (!s) return;
    $("order").dataset.session = String(s.id);
    const o = s.order || {};
    $("o-ref").textContent = o.ref || (o.id !== undefined ? "#" + o.id : "");
    $("o-ship").textContent = [o.ship_name, o.ship_country].filter(Boolean).join(", ");
    $("o-carrier").textContent = o.carrier_service || o.carrier || "";
    const st = $("o-state");
    st.dataset.state = s.state;
    st.textContent = has("s." + s.state) ? t("s." + s.state) : s.state;
    const hold = $("hold");
    hold.hidden = s.state !== "held";
    hold.dataset.code = (s.hold && s.hold.code) || "";
    hold.textContent = t("hold_reason", { reason: holdText(s) });
    $("cancel-session").textContent = state.armed ? t("cancel_ask") : t("cancel_session");
    renderLines(s.lines || []);
    renderCarton(s);
    renderWeight(s.weight || {});
  }

  /** Why the session is held, in this page's words: the server sends a code and its
   *  parameters (`hold`); a code this page does not know shows the server's sentence. */
  function holdText(s) {
    const h = s.hold;
    if (h && has("hold." + h.code)) return t("hold." + h.code, h.params || {});
    return s.hold_reason || "—";
  }

  function renderLines(lines) {
    const body = $("lines").tBodies[0];
    body.textContent = "";
    for (const ln of lines) {
      const tr = document.createElement("tr");
      tr.dataset.line = String(ln.line);
      tr.dataset.sku = ln.sku;
      if (ln.remaining === 0) tr.className = "done";
      if (String(ln.line) === state.flashLine) tr.classList.add("flash");
      const cells = [["sku", ln.sku], ["name", ln.name], ["n quantity", ln.quantity],
                     ["n verified", ln.verified], ["n remaining", ln.remaining]];
      for (const [cls, text] of cells) {
        const td = document.createElement("td");
        td.className = cls;
        td.textContent = text ?? "";
        tr.appendChild(td);
      }
      const flags = [...(ln.flags || []), ...(ln.checks || [])];
      if (flags.length) {
        const small = document.createElement("div");
        small.className = "flags";
        small.textContent = flags.join(" · ");
        tr.children[1].appendChild(small);
      }
      body.appendChild(tr);
    }
  }

  function renderCarton(s) {
    const c = s.carton || {};
    const name = c.name || c.chosen || c.suggested || "";
    const parcels = plannedParcels(s);
    $("carton-name").textContent = c.error && !c.chosen ? "—"
      : parcels.length > 1 ? parcels.map((p) => p.carton).join(" + ") : name;
    $("carton-name").dataset.carton = name;
    $("carton-name").dataset.parcels = String(parcels.length);
    const error = c.error_code && has("carton_error." + c.error_code)
      ? t("carton_error." + c.error_code, c.error_params || {}) : c.error;
    $("carton-detail").textContent = c.error && !c.chosen ? t("carton_none", { error })
      : parcels.length > 1 ? t("parcels_plan", { n: parcels.length })
      : !name ? ""
      : c.chosen ? t(c.warning ? "carton_tight" : "carton_chosen",
                     { name, dims: (c.dims_mm || []).join(" × ") })
      : t("carton_fill", { name, dims: (c.dims_mm || []).join(" × "),
                           fill: Math.round((c.fill_ratio || 0) * 100) });
    $("carton-detail").classList.toggle("warn", Boolean(c.chosen && c.warning));
    renderParcelPlan(parcels);
    renderCartonChoice(s, c);
    // rebuilt only when what they say changes: a poll must not replace a button being pressed
    const fill = (id, items, build) => {
      const ul = $(id);
      const key = words.lang + "|" + JSON.stringify(items);
      $(id + "-title").hidden = items.length === 0;
      if (ul.dataset.key === key) return;
      ul.dataset.key = key;
      ul.textContent = "";
      for (const item of items) ul.appendChild(build(item));
    };
    fill("instructions", s.instructions || [], (i) => {
      const li = document.createElement("li");
      li.textContent = has("instr." + i.code) ? t("instr." + i.code) : i.text || i.material || i.code;
      return li;
    });
    fill("inserts", s.inserts || [], insertItem);
  }

  /** The session's parcels (`carton.parcels`): one normally, several when no single
   *  carton takes the order. */
  function plannedParcels(s) {
    const c = (s && s.carton) || {};
    return Array.isArray(c.parcels) ? c.parcels : [];
  }

  /** "L — 3 × SKU-A" per parcel, so the packer knows which units go into which carton;
   *  only for an order planned as several parcels. */
  function renderParcelPlan(parcels) {
    const ol = $("carton-parcels");
    const many = parcels.length > 1;
    ol.hidden = !many;
    const key = many ? words.lang + "|" + JSON.stringify(parcels) : "";
    if (ol.dataset.key === key) return;
    ol.dataset.key = key;
    ol.textContent = "";
    if (!many) return;
    for (const p of parcels) {
      const li = document.createElement("li");
      li.dataset.parcel = String(p.parcel);
      li.dataset.carton = p.carton;
      const units = Object.entries(p.units || {}).map(([sku, n]) => `${n} × ${sku}`).join(", ");
      li.textContent = t("parcel_plan_item", { carton: p.carton, units });
      if (p.gross_g !== undefined && p.gross_g !== null) {
        const w = document.createElement("small");
        w.className = "muted";
        w.textContent = t("parcel_plan_weight", { grams: p.gross_g });
        li.append(" ", w);
      }
      ol.appendChild(li);
    }
  }

  /** One insert; the packing slip and the invoice with a button opening their PDF. */
  function insertItem(code) {
    const li = document.createElement("li");
    li.dataset.insert = code;
    li.textContent = has("insert." + code) ? t("insert." + code) : code;
    if (DOCUMENTS.has(code)) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "small doc";
      b.dataset.doc = code;
      b.textContent = t("doc_open");
      if (state.docs[code]) b.dataset.url = state.docs[code].url;
      b.addEventListener("click", () => openDocument(code));
      li.append(" ", b);
    }
    return li;
  }

  /** The carton select: every configured carton (the session's `carton.options`, smallest
   *  first), the suggested one first and marked, the one in use selected; the server
   *  checks the name against config.yaml's cartons. */
  function renderCartonChoice(s, c) {
    const form = $("carton-form");
    form.hidden = !isLive(s);
    if (form.hidden) return;
    const select = $("carton-select");
    const names = [...new Set([c.suggested, ...(c.options || []), c.chosen, c.name].filter(Boolean))];
    const key = JSON.stringify([words.lang, names, c.suggested, c.name || null]);
    if (select.dataset.options !== key) {
      const picked = select.value;
      select.dataset.options = key;
      select.textContent = "";
      if (!c.name) select.add(new Option(t("carton_choose"), ""));   // none fits, none chosen
      for (const n of names) {
        const option = new Option(n === c.suggested ? t("carton_suggested", { name: n }) : n, n);
        if (n === c.suggested) option.dataset.suggested = "true";
        select.add(option);
      }
      select.value = picked && names.includes(picked) ? picked : (c.name || "");
      select.dataset.current = "";
    }
    if (select.dataset.current !== String(c.name || "")) {   // the server's carton changed
      select.dataset.current = String(c.name || "");
      if (c.name) select.value = c.name;
    }
  }

  function renderWeight(w) {
    const n = plannedParcels(state.session).length;
    $("weight-expected").textContent = w.expected_g !== undefined && w.expected_g !== null
      ? t(n > 1 ? "weight_expected_parcels" : "weight_expected",
          { grams: w.expected_g, tolerance: w.tolerance_g ?? 0, n }) : "";
    const res = $("weight-result");
    if (w.measured_g === null || w.measured_g === undefined) {
      res.textContent = w.required ? t("weight_required") : "";
      res.dataset.ok = "";
    } else {
      res.textContent = t("weight_measured", { grams: w.measured_g }) + " · "
        + t(w.ok ? "weight_ok" : "weight_bad");
      res.dataset.ok = String(!!w.ok);
    }
    $("weight-form").hidden = !isLive(state.session);
  }

  function renderQc() {
    const q = pendingQc();
    const box = $("qc");
    box.hidden = !q;
    if (!q) return;
    box.dataset.unit = String(q.unit);
    $("qc-title").textContent = t("qc_title", { unit: q.unit, sku: q.sku || "" });
    const ul = $("qc-checks");
    ul.textContent = "";
    for (const c of q.checks || []) {
      const li = document.createElement("li");
      li.textContent = has("qc." + c) ? t("qc." + c) : c;
      ul.appendChild(li);
    }
    const wantsSerial = (q.checks || []).includes("serial");
    const wantsExpiry = (q.checks || []).includes("check_expiry");
    $("qc-serial-label").hidden = !wantsSerial;
    $("qc-expiry-label").hidden = !wantsExpiry;
    if (box.dataset.shown !== String(q.unit)) {      // a new unit: fresh fields
      box.dataset.shown = String(q.unit);
      $("qc-serial").value = "";
      $("qc-expiry").value = "";
      if (wantsSerial) setTimeout(() => $("qc-serial").focus(), 0);   // the wedge types it there
    }
  }

  /** The session whose shipment is shown: this one, else (after a reload) the station's
   *  last confirmed one until the next order opens. */
  function shownSession() {
    return state.session || state.last;
  }

  function renderShipment() {
    const s = shownSession();
    const shipment = s && s.shipment;
    $("shipment").hidden = !shipment;
    if (!shipment) return;
    const o = s.order || {};
    $("shipment-ref").textContent = o.ref || (o.id !== undefined ? "#" + o.id : "");
    $("shipment").dataset.session = String(s.id);
    $("tracking").textContent = shipment.tracking || shipment.tracking_number || "";
    $("sscc").textContent = shipment.sscc || "";
    const weight = $("shipment-weight");
    weight.dataset.weighed = String(shipment.weighed !== false);
    weight.textContent = shipment.weighed === false
      ? t("shipment_unweighed", { expected: shipment.expected_weight_g })
      : shipment.weight_g !== undefined && shipment.weight_g !== null
        ? t("shipment_weighed", { grams: shipment.weight_g }) : "";
    const job = currentJob();
    const js = $("label-state");
    const st = (job && job.state) || "unknown";
    js.dataset.state = st;
    js.dataset.job = job ? String(job.id) : "";
    js.textContent = has("job." + st) ? t("job." + st) : st;
    $("label-error").textContent = jobProblem(job, st);
    $("reprint").disabled = !job;
    renderParcels(s);
    renderShipmentDocuments(s);
  }

  /** Why a label waits or failed, in this page's words: the server sends a code and its
   *  parameters (the printer's fault codes, the job); its English text when the code is
   *  one this page does not know. */
  function jobReason(job) {
    const code = job.last_error_code;
    if (!code || !has("job_error." + code)) return job.last_error || "";
    const params = job.last_error_params || {};
    const faults = (params.faults || []).map((f) => has("p." + f) ? t("p." + f)
      : has("fault." + f) ? t("fault." + f) : f).join(", ");
    return t("job_error." + code, Object.assign({}, params, { faults, job: params.job ?? job.id }));
  }

  function jobProblem(job, st) {
    if (!job || !job.last_error) return "";
    if (!JOB_DONE.has(st)) return t("label_waiting", { reason: jobReason(job) });
    return st === "failed" ? jobReason(job) : "";
  }

  /** The session's shipments, one per parcel, parcel 1 first. */
  function shipmentsOf(s) {
    const list = (s && Array.isArray(s.shipments)) ? s.shipments : [];
    return [...list].sort((a, b) => (a.parcel || 1) - (b.parcel || 1));
  }

  /** Several parcels: parcel 1 in the card's own fields under its head, parcels 2…n each
   *  with its tracking number, SSCC, label state, preview and reprint in #parcels. The
   *  items are built when the shipments change and filled in place (a poll must not
   *  replace a button being pressed). */
  function renderParcels(s) {
    const list = shipmentsOf(s);
    const many = list.length > 1;
    const head = $("parcel-1-head");
    head.hidden = !many;
    head.textContent = many ? parcelHead(list[0], list.length) : "";
    $("reprint").textContent = many ? t("reprint_parcel", { n: list[0].parcel || 1 }) : t("reprint");
    $("reprint-ask").textContent = many
      ? t("reprint_reason_parcel", { n: state.reprintParcel }) : t("reprint_reason");
    const ol = $("parcels");
    const rest = many ? list.slice(1) : [];
    ol.hidden = rest.length === 0;
    const key = [words.lang, s.id, ...rest.map((sh) => sh.id)].join("|");
    if (ol.dataset.key !== key) {
      ol.dataset.key = key;
      ol.textContent = "";
      for (const sh of rest) ol.appendChild(parcelItem(sh));
    }
    for (const sh of rest) {
      const li = ol.querySelector(`li[data-parcel="${sh.parcel}"]`);
      if (!li) continue;
      const p = state.parcels[sh.parcel] || {};
      li.querySelector(".parcel-head").textContent = parcelHead(sh, list.length);
      li.querySelector(".tracking").textContent = sh.tracking || sh.tracking_number || "";
      li.querySelector(".sscc").textContent = sh.sscc || "";
      showJob(li.querySelector(".job"), li.querySelector(".label-error"), p.job);
      const img = li.querySelector(".label-preview");
      img.dataset.job = p.url ? String(p.previewJob) : "";
      if (p.url) { if (img.getAttribute("src") !== p.url) img.src = p.url; img.hidden = false; }
      else { img.removeAttribute("src"); img.hidden = true; }
      li.querySelector(".preview-missing").hidden = !!p.url || !p.previewJob || p.loading;
      const b = li.querySelector("button.reprint");
      b.textContent = t("reprint_parcel", { n: sh.parcel });
      b.disabled = !p.job;
    }
  }

  function parcelHead(sh, count) {
    return t("parcel_head", { n: sh.parcel || 1, count: sh.parcels || count, carton: sh.carton || "" });
  }

  /** A label job's state (and why it waits) into `el` and `err`. */
  function showJob(el, err, job) {
    const st = (job && job.state) || "unknown";
    el.dataset.state = st;
    el.dataset.job = job ? String(job.id) : "";
    el.textContent = has("job." + st) ? t("job." + st) : st;
    err.textContent = jobProblem(job, st);
  }

  function parcelItem(sh) {
    const li = document.createElement("li");
    li.className = "parcel";
    li.dataset.parcel = String(sh.parcel);
    li.dataset.shipment = String(sh.id);
    const h = document.createElement("h3");
    h.className = "parcel-head";
    const kv = (labelKey, cls, tag) => {
      const div = document.createElement("div");
      div.className = "kv";
      const l = document.createElement("span");
      l.className = "label";
      l.textContent = t(labelKey);
      const v = document.createElement(tag);
      v.className = cls;
      div.append(l, v);
      return div;
    };
    const label = kv("label", "job", "b");
    const err = document.createElement("span");
    err.className = "muted label-error";
    label.append(" ", err);
    const preview = document.createElement("div");
    preview.className = "preview";
    const img = document.createElement("img");
    img.className = "label-preview";
    img.alt = "";
    img.hidden = true;
    const missing = document.createElement("span");
    missing.className = "muted preview-missing";
    missing.textContent = t("preview_missing");
    missing.hidden = true;
    preview.append(img, missing);
    const b = document.createElement("button");
    b.type = "button";
    b.className = "reprint";
    b.dataset.parcel = String(sh.parcel);
    b.addEventListener("click", () => askReprint(sh.parcel));
    li.append(h, kv("tracking", "tracking", "b"), kv("sscc", "sscc", "span"), label, preview, b);
    return li;
  }

  // ---- the labels of parcels 2…n: followed like the first one's ---------------------

  /** The shown session's parcels 2…n: their label jobs taken from the session (a reprint
   *  followed here is kept), the others forgotten. */
  function followParcels(s) {
    const keep = new Set();
    for (const sh of shipmentsOf(s)) {
      const k = sh.parcel;
      if (!(k > 1) || !sh.label) continue;
      keep.add(String(k));
      const p = state.parcels[k] || (state.parcels[k] = { job: null, previewJob: null, url: null });
      if (!p.job || p.job.id === sh.label.id) p.job = Object.assign({}, p.job || {}, sh.label);
    }
    for (const k of Object.keys(state.parcels)) {
      if (!keep.has(k)) {
        if (state.parcels[k].url) URL.revokeObjectURL(state.parcels[k].url);
        delete state.parcels[k];
      }
    }
    watchParcels();
  }

  function forgetParcels() {
    clearTimeout(state.parcelTimer);
    state.parcelTimer = null;
    for (const p of Object.values(state.parcels)) if (p.url) URL.revokeObjectURL(p.url);
    state.parcels = {};
    $("parcels").dataset.key = "";
  }

  function watchParcels() {
    clearTimeout(state.parcelTimer);
    state.parcelTimer = null;
    let waiting = false;
    for (const [k, p] of Object.entries(state.parcels)) {
      if (!p.job || !p.job.id) continue;
      if (p.previewJob !== p.job.id) loadParcelPreview(k, p.job.id);
      if (!JOB_DONE.has(p.job.state)) waiting = true;
    }
    if (waiting && state.auth) state.parcelTimer = setTimeout(pollParcels, JOB_POLL_MS);
  }

  async function pollParcels() {
    for (const [k, p] of Object.entries(state.parcels)) {
      const job = p.job;
      if (!job || !job.id || JOB_DONE.has(job.state) || !state.auth) continue;
      try {
        const res = await api("GET", "/api/v1/print-jobs/" + job.id);
        const now = state.parcels[k];
        if (res.ok && res.body && now && now.job && now.job.id === job.id) {
          now.job = Object.assign({}, now.job, res.body.job || res.body);
        }
      } catch { /* asked again below */ }
    }
    render();
    watchParcels();
  }

  async function loadParcelPreview(k, jobId) {
    const p = state.parcels[k];
    p.previewJob = jobId;
    p.loading = true;
    const url = await previewUrl(jobId);
    const now = state.parcels[k];
    if (now !== p || p.previewJob !== jobId) {
      if (url) URL.revokeObjectURL(url);
      return;
    }
    if (p.url) URL.revokeObjectURL(p.url);
    p.url = url;
    p.loading = false;
    render();
  }

  /** A label job's preview as a blob: URL (null when there is none); a 5xx or no answer
   *  is asked again a few times. */
  async function previewUrl(jobId) {
    for (let tries = 0; tries < 4; tries += 1) {
      if (!state.auth) return null;
      try {
        const resp = await fetch(`/api/v1/print-jobs/${jobId}/preview.png`, {
          headers: { Authorization: "Bearer " + state.auth.token }, cache: "no-store" });
        if (resp.ok) return URL.createObjectURL(await resp.blob());
        if (resp.status < 500) return null;
      } catch { /* asked again */ }
      await sleep(1000);
    }
    return null;
  }

  /** The last shipment shown after a reload has no order card (and so no inserts list):
   *  its packing slip and invoice get their buttons here, with the shipment. */
  function renderShipmentDocuments(s) {
    const ul = $("shipment-docs");
    const kinds = s === state.last ? (s.inserts || []).filter((k) => DOCUMENTS.has(k)) : [];
    $("shipment-docs-title").hidden = ul.hidden = kinds.length === 0;
    const key = [words.lang, s.id, ...kinds].join("|");
    if (ul.dataset.key === key) return;
    ul.dataset.key = key;
    ul.textContent = "";
    for (const kind of kinds) ul.appendChild(insertItem(kind));
  }

  /** A job as the API names it: its object, or only its id. */
  function jobRef(job) {
    return job !== null && typeof job === "object" ? job : { id: job, state: "queued" };
  }

  /** The label job shown: the one this page follows (the label, or its reprint), else
   *  the session's own. */
  function currentJob() {
    const s = shownSession();
    return state.job || (s && s.label_job) || null;
  }

  function setSession(s, flashLine) {
    const before = state.session;
    state.session = s;
    state.version += 1;
    state.flashLine = flashLine !== undefined ? String(flashLine) : null;
    if (!s || !before || before.id !== s.id) {
      state.job = null;
      $("reprint-form").hidden = true;
      $("hold-form").hidden = true;
      $("release-form").hidden = true;
      forgetDocuments();
      forgetParcels();
    }
    if (s) state.last = null;            // a session of its own: the last one is done with
    const job = s && s.label_job;
    if (job && (!state.job || state.job.id === job.id)) {
      state.job = Object.assign({}, state.job || {}, job);
      watchJob();
    }
    followParcels(s);
    render();
  }

  /** The station's last confirmed session, shown (shipment, label, reprint) when a page
   *  comes back to a station with no order open: a reload does not lose the last label. */
  function setLast(s) {
    state.last = s;
    forgetDocuments();
    forgetParcels();
    state.job = s && s.label_job ? Object.assign({}, s.label_job) : null;
    $("reprint-form").hidden = true;
    if (state.job) watchJob();
    followParcels(s);
    render();
  }

  // ---- login and station -------------------------------------------------------------

  const savedAuth = WP.stored(sessionStorage, "wp.pack.auth");

  function saveAuth(a) {
    state.auth = a;
    savedAuth.save(a);
  }

  function login(ev) {
    unlockAudio();
    return WP.logIn(ev, t, (body) => {
      saveAuth({ token: body.token, badge: body.badge, role: body.role });
      return chooseStation();
    }, ["packer", "supervisor", "admin"]);
  }

  function logout() {
    saveAuth(null);
    stopPolling();
    state.queue = [];      // the outbox keeps them: sent when this badge is back at the station
    state.session = state.printer = state.job = state.last = null;
    forgetDocuments();
    forgetParcels();
    state.station = null;
    setPreview(null, null);
    $("verdict").hidden = true;
    render();
    $("badge").focus();
  }

  function sessionRefused(code) {
    logout();
    WP.loginRefused(code, t(code));
  }

  function stationName(s) { return s.station; }

  async function chooseStation() {
    render();
    let res;
    try {
      res = await api("GET", "/api/v1/pack/stations");
    } catch {
      return showStationError(t("network_error"));
    }
    if (!state.auth) return;
    if (!res.ok) return showStationError(t("e.unknown", errorOf(res.body)));
    const list = Array.isArray(res.body) ? res.body : (res.body && res.body.stations) || [];
    state.stations = list;
    const saved = localStorage.getItem("wp.pack.station");
    if (saved && list.some((s) => stationName(s) === saved)) return useStation(saved);
    renderStations();
    render();
    if (!list.length) showStationError(t("no_stations"));
  }

  function showStationError(text) {
    const el = $("station-error");
    el.textContent = text;
    el.hidden = false;
    render();
  }

  function renderStations() {
    const box = $("stations");
    box.textContent = "";
    for (const s of state.stations) {
      const name = stationName(s);
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.station = name;
      b.textContent = name;
      const small = document.createElement("small");
      const p = s.printer || {};
      const pname = typeof p === "string" ? p : p.name;
      small.textContent = [s.warehouse, pname ? t("printer_label", { name: pname }) : ""]
        .filter(Boolean).join(" · ");
      b.appendChild(small);
      b.addEventListener("click", () => useStation(name));
      box.appendChild(b);
    }
  }

  function useStation(name) {
    state.station = name;
    localStorage.setItem("wp.pack.station", name);
    $("station-error").hidden = true;
    state.printer = null;
    state.packQueue = null;
    state.queueAt = 0;
    state.stationSeen = false;
    render();
    $("scan").focus();
    restoreScans().finally(startPolling);
  }

  function changeStation() {
    if (isLive(state.session)) return;        // finish or give back the order first
    stopPolling();
    state.station = null;
    state.session = state.last = state.job = state.packQueue = null;
    forgetParcels();
    state.printer = null;
    state.queue = [];      // kept in the outbox for this station
    localStorage.removeItem("wp.pack.station");
    chooseStation();
  }

  // ---- the printer and the station, polled -------------------------------------------

  function startPolling() {
    stopPolling();
    pollStation();
    state.pollTimer = setInterval(pollStation, PRINTER_POLL_MS);
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    state.pollTimer = null;
    clearTimeout(state.jobTimer);
    state.jobTimer = null;
  }

  let polling = false;
  async function pollStation() {
    if (polling || !state.auth || !state.station) return;
    polling = true;
    const station = state.station;
    const version = state.version;
    try {
      const res = await api("GET", "/api/v1/pack/stations/" + encodeURIComponent(station));
      if (!res.ok || station !== state.station) return;
      const body = res.body || {};
      const printer = body.printer || null;
      const before = state.printer && state.printer.state;
      state.printer = printer;
      if (printer && before && before !== printer.state && printer.state !== "ready") signal("warn");
      // the station's open session: picked up after a reload, and a supervisor's release
      // (or hold) shown without a scan; never over a newer answer this page already has.
      // The first view after a reload is taken even with scans waiting: they are resent
      // into it (a replayed scan_id gets its first answer).
      const first = !state.stationSeen;
      const s = body.session || null;
      if (s && version === state.version && (first || !state.queue.length)
          && (!state.session || (state.session.id === s.id && isLive(state.session)))) {
        setSession(s);
      } else if (!s && first && !state.session && body.last_confirmed
                 && body.last_confirmed.id !== state.dismissed) {
        setLast(body.last_confirmed);
      } else {
        render();
      }
      if (first) {
        state.stationSeen = true;
        pump();
      }
      loadQueue(first);
    } catch {
      /* no answer this time: the printer badge keeps its last state until the next poll */
    } finally {
      polling = false;
    }
  }

  // ---- the label job: state, preview, reprint ------------------------------------------

  function watchJob() {
    clearTimeout(state.jobTimer);
    const job = state.job;
    if (!job || !job.id) return;
    if (state.preview.jobId !== job.id) loadPreview(job.id);
    if (JOB_DONE.has(job.state)) return;
    state.jobTimer = setTimeout(pollJob, JOB_POLL_MS);
  }

  async function pollJob() {
    const job = state.job;
    if (!job || !state.auth) return;
    try {
      const res = await api("GET", "/api/v1/print-jobs/" + job.id);
      if (res.ok && res.body && state.job && state.job.id === job.id) {
        const fresh = res.body.job || res.body;
        state.job = Object.assign({}, state.job, fresh);
        render();
      }
    } catch { /* asked again below */ }
    watchJob();
  }

  async function loadPreview(jobId, tries = 0) {
    state.preview.jobId = jobId;
    try {
      const resp = await fetch(`/api/v1/print-jobs/${jobId}/preview.png`, {
        headers: { Authorization: "Bearer " + state.auth.token }, cache: "no-store" });
      if (state.preview.jobId !== jobId) return;
      if (resp.ok) {
        setPreview(jobId, URL.createObjectURL(await resp.blob()));
        return;
      }
      if (resp.status >= 500 && tries < 3) {
        setTimeout(() => loadPreview(jobId, tries + 1), 1000);
        return;
      }
    } catch {
      if (tries < 3) { setTimeout(() => loadPreview(jobId, tries + 1), 1000); return; }
    }
    setPreview(jobId, null);
  }

  function setPreview(jobId, url) {
    if (state.preview.url) URL.revokeObjectURL(state.preview.url);
    state.preview = { jobId, url };
    const img = $("label-preview");
    img.dataset.job = jobId ? String(jobId) : "";
    if (url) { img.src = url; img.hidden = false; } else { img.removeAttribute("src"); img.hidden = true; }
    $("preview-missing").hidden = !!url || !jobId;
  }

  /** The reprint form, for parcel `parcel` (1: the card's own label). */
  function askReprint(parcel) {
    state.reprintParcel = parcel > 1 ? parcel : 1;
    $("reprint-form").dataset.parcel = String(state.reprintParcel);
    $("reprint-form").hidden = false;
    render();
    $("reprint-reason").value = "";
    $("reprint-reason").focus();
  }

  async function reprint(ev) {
    ev.preventDefault();
    const k = state.reprintParcel;
    const other = k > 1 ? state.parcels[k] : null;
    const job = k > 1 ? other && other.job : currentJob();
    const reason = $("reprint-reason").value.trim();
    if (!job || !reason) return;
    let res;
    try {
      res = await api("POST", `/api/v1/print-jobs/${job.id}/reprint`, { reason });
    } catch {
      return showError(0, { error: { code: "network" } });
    }
    if (!res.ok) return showError(res.status, res.body);
    $("reprint-form").hidden = true;
    const fresh = (res.body && (res.body.job || res.body.label_job)) || res.body;
    if (other) {
      if (state.parcels[k] === other) other.job = Object.assign({ reprint: true }, fresh);
      watchParcels();
    } else {
      state.job = Object.assign({ reprint: true }, fresh);
      watchJob();
    }
    showVerdict("ok", "reprint", "reprint_queued");
    render();
    $("scan").focus();
  }

  // ---- scans: in order, each retried with its own scan_id until answered -------------

  // The outbox (static/common/outbox.js, IndexedDB) holds every scan from before it is
  // sent until its answer arrives, so a reload resends the ones still waiting, in order,
  // with their own scan_id. Without IndexedDB the page still works, from memory only.
  const OUTBOX_EVENT = "pack.scan";

  function outboxOwner() {
    return `pack:${state.auth.badge}:${state.station}`;
  }

  function storeScan(item) {
    if (!window.Outbox) return Promise.resolve();
    const payload = { scan_id: item.scan_id, raw: item.raw, scanned_at: item.scanned_at,
                      station: state.station, open: item.open, session: item.session };
    return window.Outbox.add(OUTBOX_EVENT, payload, outboxOwner())
      .then((seq) => { item.seq = seq; })
      .catch(() => { /* not kept across a reload, still sent */ });
  }

  function dropScan(item) {
    if (window.Outbox && item.seq !== undefined) window.Outbox.remove(item.seq).catch(() => {});
  }

  /** This badge's waiting scans at this station, back into the queue before newer ones. */
  async function restoreScans() {
    if (!window.Outbox || !state.auth || !state.station) return;
    const owner = outboxOwner();
    let rows;
    try {
      rows = await window.Outbox.all(owner);
    } catch {
      return;
    }
    if (!state.auth || !state.station || outboxOwner() !== owner) return;
    const known = new Set(state.queue.map((q) => q.scan_id));
    const restored = rows.filter((r) => r.event === OUTBOX_EVENT && !known.has(r.scan_id))
      .map((r) => ({ raw: r.payload.raw, scan_id: r.payload.scan_id,
                     scanned_at: r.payload.scanned_at, open: r.payload.open,
                     session: r.payload.session || undefined, seq: r.seq, tries: 0,
                     stored: Promise.resolve(), restored: true }));
    state.queue = restored.concat(state.queue);
    render();
  }

  function submitScan(raw) {
    const text = WP.normaliseScan(raw);
    if (!text.trim() || !state.auth || !state.station) return;
    const item = { raw: text, scan_id: WP.newId(), scanned_at: new Date().toISOString(), tries: 0 };
    // an order barcode when no order is open and none is being opened; otherwise an item
    // of the open order (or of the one the waiting order scan opens: its id comes later)
    const opening = state.queue.some((q) => q.open);
    item.open = !isLive(state.session) && !opening;
    if (!item.open && !opening) item.session = state.session.id;
    state.queue.push(item);
    item.stored = storeScan(item);
    render();
    pump();
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  let pumping = false;
  async function pump() {
    if (pumping || !state.stationSeen) return;   // a reloaded page first learns its session
    pumping = true;
    let delay = RETRY_MIN_MS;
    try {
      while (state.queue.length && state.auth) {
        const item = state.queue[0];
        await item.stored;                         // durable before it leaves
        if (state.queue[0] !== item) continue;
        let res;
        try {
          res = await sendScan(item);
        } catch (e) {
          if (!(e instanceof NetworkError)) throw e;
          // no answer: the server may have stored it; the same scan_id gets its first answer
          showVerdict("warn", "network", "e.network");
          await sleep(delay);
          delay = Math.min(delay * 2, RETRY_MAX_MS);
          continue;
        }
        if (res.status >= 500 && ++item.tries < SERVER_ERROR_TRIES) {
          await sleep(delay);
          delay = Math.min(delay * 2, RETRY_MAX_MS);
          continue;
        }
        delay = RETRY_MIN_MS;
        if (res.status === 401) break;           // logged out: the outbox keeps it for later
        if (state.queue[0] === item) state.queue.shift();
        dropScan(item);
        render();
        item.open ? openAnswered(res) : scanAnswered(res);
      }
    } finally {
      pumping = false;
    }
  }

  /** The first scan (no live session) opens one; the rest are verified in it. Which it is
   *  is decided when it is scanned (and kept in the outbox); items scanned right after the
   *  order wait for it and go to the session it opened. */
  function sendScan(item) {
    // an item scan whose order did not open (or is no longer live) opens one, as before
    if (item.open === undefined || (!item.open && !item.session && !isLive(state.session))) {
      item.open = !isLive(state.session);
    }
    if (item.open) {
      return api("POST", "/api/v1/pack/sessions", { station: state.station, scan: item.raw });
    }
    item.session = item.session || state.session.id;
    return api("POST", `/api/v1/pack/sessions/${item.session}/scan`,
               { scan_id: item.scan_id, raw: item.raw, scanned_at: item.scanned_at });
  }

  function openAnswered(res) {
    const s = sessionFrom(res.body);
    if (!res.ok || !s) return showError(res.status, res.body);
    setPreview(null, null);
    setSession(s);
    const o = s.order || {};
    showVerdict(s.state === "held" ? "held" : "ok", "opened", "opened", { ref: o.ref || "#" + o.id });
  }

  function scanAnswered(res) {
    const body = res.body || {};
    if (!res.ok || !body.verdict) {
      // given back meanwhile (another tab, a supervisor): the next scan opens an order again
      if (errorOf(body).code === "session_cancelled") setSession(null);
      return showError(res.status, body);
    }
    const s = sessionFrom(body);
    const wasHeld = state.session && state.session.state === "held";
    const line = body.line && typeof body.line === "object" ? body.line.line : body.line;
    if (s) setSession(s, body.verdict === "ok" ? line : undefined);
    const v = body.verdict;
    const kind = VERDICT_KIND[v] || (body.ok ? "ok" : "error");
    // the scan that put the order on hold (one wrong item too many): the hold is the news
    if (s && s.state === "held" && !wasHeld) showVerdict("held", v, "e.on_hold");
    else if (has("v." + v)) showVerdict(kind, v, "v." + v);
    else showVerdict(kind, v, "e.unknown", { code: v, message: body.message || "" });
  }

  // ---- quality checks, weight, confirm, give back --------------------------------------

  async function sessionCall(path, payload) {
    const s = state.session;
    if (!s) return null;
    let res;
    try {
      res = await api("POST", `/api/v1/pack/sessions/${s.id}/${path}`, payload);
    } catch {
      showError(0, { error: { code: "network" } });
      return null;
    }
    if (res.status === 401) return null;
    if (!res.ok) {
      showError(res.status, res.body);
      return null;
    }
    const fresh = sessionFrom(res.body);
    if (fresh) setSession(fresh);
    return res;
  }

  async function answerQc(passed) {
    unlockAudio();
    const q = pendingQc();
    if (!q) return;
    // no scan_id: docs/pack-api.md lists one, but the server's PackCheck schema refuses it
    // (additionalProperties: false); an answer is per unit, a repeat gets no_check_pending
    const payload = { unit: q.unit, passed };
    const serial = $("qc-serial").value.trim();
    if (!$("qc-serial-label").hidden && serial) payload.serial = serial;
    const expiry = $("qc-expiry").value;            // yyyy-mm-dd from the date input
    if (!$("qc-expiry-label").hidden && expiry) payload.expiry = expiry;
    const res = await sessionCall("qc", payload);
    if (res) showVerdict(passed ? "ok" : "held", passed ? "qc_passed" : "qc_failed",
                         passed ? "qc_passed" : "qc_failed");
    $("scan").focus();
  }

  async function saveWeight(ev) {
    ev.preventDefault();
    unlockAudio();
    const grams = Math.round(Number($("weight-input").value));
    if (!(grams > 0)) return;
    const res = await sessionCall("weight", { grams });
    if (res) {
      const w = (state.session && state.session.weight) || {};
      if (w.ok === false || (state.session && state.session.state === "held")) {
        showVerdict("held", "weight_bad", "weight_bad");
      } else {
        showVerdict("ok", "weight_ok", "weight_ok");
      }
    }
    $("scan").focus();
  }

  /** Confirm: the button is enabled once `verified`; Ctrl+Enter sends it regardless and
   *  the server's refusal (not_verified, on_hold, …) is shown: the server decides. */
  let confirming = false;
  async function confirm() {
    unlockAudio();
    if (confirming || !isLive(state.session)) return;
    confirming = true;
    try {
      const res = await sessionCall("confirm", undefined);
      if (!res) return;
      const body = res.body || {};
      const s = Object.assign({}, state.session);
      if (body.shipment && !s.shipment) s.shipment = body.shipment;
      if (!s.label_job && body.label_job) s.label_job = jobRef(body.label_job);
      if (!(s.shipments || []).length && Array.isArray(body.shipments)) s.shipments = body.shipments;
      setSession(s);
      const n = (s.shipments || []).length;
      if (n > 1) showVerdict("ok", "confirmed", "confirmed_parcels", { n });
      else showVerdict("ok", "confirmed", "confirmed");
    } finally {
      confirming = false;
      $("scan").focus();
    }
  }

  async function giveBack() {
    unlockAudio();
    if (!isLive(state.session)) return;
    if (!state.armed) {
      state.armed = setTimeout(() => { state.armed = null; render(); }, ARM_MS);
      render();
      return;
    }
    clearTimeout(state.armed);
    state.armed = null;
    const res = await sessionCall("cancel", {});
    if (res) {
      showVerdict("warn", "cancelled", "cancelled");
      setSession(null);
      loadQueue(true);
    }
    render();
  }

  // ---- carton, hold by hand, supervisor release ----------------------------------------

  async function chooseCarton(ev) {
    ev.preventDefault();
    unlockAudio();
    const select = $("carton-select");
    const carton = select.value;
    if (!carton || !isLive(state.session)) return;
    const res = await sessionCall("carton", { carton });
    select.dataset.current = "";               // show the server's carton in the select
    render();                                  // (a refused one, e.g. too heavy, goes back)
    if (res) showVerdict("ok", "carton", "carton_set", { name: carton });
    $("scan").focus();
  }

  /** A prompt form under its button: shown, its field cleared and focused. */
  function ask(form, input, button) {
    $(form).hidden = false;
    $(button).hidden = true;
    $(input).value = "";
    $(input).focus();
  }

  function closePrompt(form) {
    $(form).hidden = true;
    render();
    $("scan").focus();
  }

  async function holdByHand(ev) {
    ev.preventDefault();
    unlockAudio();
    const reason = $("hold-reason").value.trim();
    if (!reason) return;
    const res = await sessionCall("hold", { reason });
    if (res) {
      $("hold-form").hidden = true;
      showVerdict("held", "held_by_hand", "held_by_hand");
    }
    render();
    $("scan").focus();
  }

  async function releaseHeld(ev) {
    ev.preventDefault();
    unlockAudio();
    const note = $("release-note").value.trim();
    if (!note) return;
    const res = await sessionCall("release", { note });
    if (res) {
      $("release-form").hidden = true;
      showVerdict("ok", "released", "released");
    }
    render();
    $("scan").focus();
  }

  // ---- documents: the packing slip and invoice as PDF ----------------------------------

  /** The PDF is fetched with the token (a plain link could not send it) and opened as a
   *  blob: URL. The tab is opened at the click, so no pop-up blocker stops it. */
  async function openDocument(kind) {
    unlockAudio();
    const s = shownSession();
    if (!s || !state.auth) return;
    const tab = window.open("", "_blank");
    let resp;
    try {
      resp = await fetch(`/api/v1/pack/sessions/${s.id}/documents/${kind}.pdf`, {
        headers: { Authorization: "Bearer " + state.auth.token }, cache: "no-store" });
    } catch {
      if (tab) tab.close();
      return showError(0, { error: { code: "network" } });
    }
    if (!resp.ok) {
      if (tab) tab.close();
      const body = await resp.json().catch(() => null);
      return showVerdict("error", "document", "e.document",
                         { code: errorOf(body).code || resp.status });
    }
    const url = URL.createObjectURL(await resp.blob());
    const before = state.docs[kind];
    if (before && before.url) URL.revokeObjectURL(before.url);
    state.docs[kind] = { session: s.id, url };
    document.querySelectorAll(`button[data-doc="${kind}"]`)
      .forEach((b) => { b.dataset.url = url; });
    if (tab) tab.location.href = url; else window.open(url, "_blank");
    $("scan").focus();
  }

  function forgetDocuments() {
    for (const d of Object.values(state.docs)) URL.revokeObjectURL(d.url);
    state.docs = {};
    $("inserts").dataset.key = "";
    $("shipment-docs").dataset.key = "";
  }

  function nextOrder() {
    if (isLive(state.session)) return;
    // a late answer to the station's first poll (it carries the last confirmed session)
    // must not bring back the parcel card the packer has just put away
    const shown = shownSession();
    if (shown) state.dismissed = shown.id;
    setPreview(null, null);
    state.last = null;
    setSession(null);
    loadQueue(true);
    $("verdict").hidden = true;
    $("scan").focus();
  }

  // ---- start ----------------------------------------------------------------------------

  function wire() {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("station-change").addEventListener("click", changeStation);
    $("lang").addEventListener("click", () => { words.toggle(); applyLanguage(); });
    WP.wireScanField(submitScan, unlockAudio);
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && !$("work-view").hidden) {
        ev.preventDefault();
        confirm();
      }
    });
    $("qc-pass").addEventListener("click", () => answerQc(true));
    $("qc-fail").addEventListener("click", () => answerQc(false));
    $("qc-serial").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.ctrlKey) { ev.preventDefault(); answerQc(true); }
    });
    $("weight-form").addEventListener("submit", saveWeight);
    $("confirm").addEventListener("click", confirm);
    $("cancel-session").addEventListener("click", giveBack);
    $("reprint").addEventListener("click", () => askReprint(1));
    $("reprint-form").addEventListener("submit", reprint);
    $("reprint-cancel").addEventListener("click", () => { $("reprint-form").hidden = true; $("scan").focus(); });
    $("next-order").addEventListener("click", nextOrder);
    $("carton-form").addEventListener("submit", chooseCarton);
    $("hold-session").addEventListener("click", () => ask("hold-form", "hold-reason", "hold-session"));
    $("hold-form").addEventListener("submit", holdByHand);
    $("hold-back").addEventListener("click", () => closePrompt("hold-form"));
    $("release-session").addEventListener("click",
      () => ask("release-form", "release-note", "release-session"));
    $("release-form").addEventListener("submit", releaseHeld);
    $("release-back").addEventListener("click", () => closePrompt("release-form"));
  }

  wire();
  applyLanguage();
  state.auth = savedAuth.load();
  if (state.auth) chooseStation(); else { render(); $("badge").focus(); }
})();
