// The handheld page: badge login, the current pick task, scans over Socket.IO
// (namespace /handheld, docs/handheld-protocol.md) through the IndexedDB outbox.
// The server decides every verdict; this page shows it, in colour, sound and vibration.
"use strict";

(function () {
  const ACK_TIMEOUT_MS = 10000;
  const RETRY_MS = 1500;
  const IDLE_POLL_MS = 15000;
  const SHORT_CONFIRM_MS = 4000;
  // error acks that mean "not handled, send it again" rather than an answer to the scan
  // error acks that say "nothing was stored": the record stays queued and is sent again
  // (session_expired: after logging in again)
  const RETRY_CODES = new Set(["internal", "unauthenticated", "database_unavailable",
                               "session_expired"]);
  const WARN_CODES = new Set(["queued", "short", "no_task", "task_closed", "tote_required",
                              "not_your_task", "bad_found", "put_not_due",
                              "scan_location_first"]);

  const $ = WP.$;
  const words = WP.words(window.WP_STRINGS, "wp.lang");
  const t = words.t;
  const state = {
    session: null,      // {token, badge, role, name}
    socket: null,
    task: null,
    cart: null,
    idle: null,         // null | "no_work" | "cart_done"
    pending: 0,
    pendingTotes: 0,
    shortArmed: null,   // timer while the short button waits for its confirming tap
    mode: "pick",       // "pick" | "count" (cycle counts of bins) | "replenish" (refill pick faces)
    replen: null,       // the replenishment task shown in replenish mode
    replenSource: null, // the source bin as scanned
    replenTarget: null, // the pick face as scanned
    replenBarcode: null,// a unit's barcode scanned between them (checked by the server)
    replenSent: false,
    count: null,        // the count task shown in count mode
    countBin: null,     // the bin code as scanned at the count's start
    countLines: [],     // [{key: {sku}|{barcode}, label, quantity}] as counted
    countSubmitted: false,
    put: null,          // {put, next}: a finished task's tote to confirm before `next` shows
    lastPut: null,      // the tote the last unit went to (the server said so)
    cartId: null,       // the cart being picked (for its summary once done)
    summary: null,      // the done cart's summary (cart.summary)
  };

  // ---- words -------------------------------------------------------------------------

  function applyLanguage() {
    words.apply();
    render();
  }

  // ---- feedback: colour, sound, vibration ----------------------------------------------

  const TONES = {   // [frequency Hz, duration ms, waveform] per beep
    ok: [[1320, 90, "sine"]],
    warn: [[660, 160, "sine"]],
    error: [[220, 180, "square"], [220, 180, "square"]],
  };
  const BUZZ = { ok: [40], warn: [120], error: [200, 80, 200] };
  const sound = WP.sound(TONES);
  const unlockAudio = sound.unlock;

  function showVerdict(kind, code, text) {
    WP.showBanner(kind, code, text, 2500);
    sound.play(kind);
    if (navigator.vibrate) navigator.vibrate(BUZZ[kind]);
  }

  // ---- rendering ------------------------------------------------------------------------

  function setConn(status) {
    const el = $("conn");
    el.className = "conn " + status;
    el.dataset.status = status;
    $("conn-text").textContent = t(status);
  }

  function nextToteSlot() {
    if (!state.cart) return null;
    const free = state.cart.totes.filter((b) => !b.barcode).sort((a, b) => a.slot - b.slot);
    return free[state.pendingTotes] || null;
  }

  function wantsTote() {
    return !!(state.task && state.task.needs === "tote" && nextToteSlot());
  }

  function needsText() {
    if (state.put) return t("needs_put", { tote: state.put.put.tote });
    const task = state.task;
    if (!task) return "";
    if (task.needs === "tote") {
      const slot = nextToteSlot();
      return slot ? t("needs_tote", { slot: slot.slot }) : t("needs_tote_any");
    }
    if (task.needs === "location") return t("needs_location", { location: task.location });
    return t("needs_item", { sku: task.sku });
  }

  function render() {
    const loggedIn = !!state.session;
    WP.showLoggedIn(loggedIn, loggedIn ? state.session.name || state.session.badge : "");
    $("work-view").hidden = !loggedIn;
    WP.showPending(state.pending, t("pending", { n: state.pending }));
    if (!loggedIn) return;
    $("count").hidden = state.mode !== "count" || !state.count;
    $("replen").hidden = state.mode !== "replenish" || !state.replen;
    $("count-mode").textContent = t(state.mode === "count" ? "count_exit" : "count_mode");
    $("replen-mode").textContent = t(state.mode === "replenish" ? "count_exit" : "replen_mode");
    $("count-mode").hidden = state.mode === "replenish";
    $("replen-mode").hidden = state.mode === "count";
    if (state.mode === "count") { renderCount(); return; }
    if (state.mode === "replenish") { renderReplen(); return; }

    const task = state.task;
    const putting = !!state.put;
    $("put").hidden = !putting;
    renderPut();
    $("task").hidden = !task || putting;
    $("idle").hidden = !!task || putting || !state.idle;
    $("idle-text").textContent = state.idle ? t(state.idle) : "";
    renderSummary();
    $("last-put").hidden = !state.lastPut || putting || !task;
    if (state.lastPut) $("last-put").textContent = t("put_unit", state.lastPut);
    $("needs").textContent = needsText();
    $("needs").dataset.needs = putting ? "put" : task ? task.needs : "";
    $("short").disabled = !task || task.needs === "tote" || putting;
    if (!task) return;
    renderStop(task);
    $("task").dataset.taskId = String(task.task_id);
    $("task").dataset.order = task.order || "";
    $("t-position").textContent = t("position", { n: task.position, m: task.of });
    $("t-order").textContent = task.order ? t("order") + " " + task.order : "";
    $("t-location").textContent = task.location;
    $("t-sku").textContent = task.sku;
    $("t-name").textContent = task.name;
    $("t-quantity").textContent = task.quantity;
    $("t-picked").textContent = task.picked;
    $("t-remaining").textContent = task.remaining;
    $("t-tote").textContent = task.tote_barcode ? `${task.tote} · ${task.tote_barcode}` : String(task.tote);
    const img = $("t-image");
    if (task.image_url) { img.src = task.image_url; img.hidden = false; } else { img.removeAttribute("src"); img.hidden = true; }
    $("short").textContent = state.shortArmed
      ? t("short_confirm", { found: task.picked, quantity: task.quantity }) : t("short_pick");
  }

  /** One visit per bin: the units to take here, split by tote (when the bin serves more
   *  than this task). */
  function renderStop(task) {
    const stop = task.stop;
    const box = $("stop");
    box.hidden = !stop || stop.tasks.length < 2;
    if (box.hidden) return;
    $("stop-take").textContent = t("stop_take", { n: stop.units });
    const list = $("stop-split");
    // a bin holding several products: each line names its product too
    const mixed = new Set(stop.tasks.map((m) => m.sku)).size > 1;
    list.replaceChildren(...stop.tasks.map((m) => {
      const li = document.createElement("li");
      li.textContent = t(mixed ? "stop_tote_sku" : "stop_tote",
                         { tote: m.tote, n: m.remaining, order: m.order, sku: m.sku });
      li.dataset.tote = String(m.tote);
      if (m.task_id === task.task_id) li.className = "current";
      return li;
    }));
  }

  /** Put to tote: the finished task's tote in large type until it is confirmed. */
  function renderPut() {
    const p = state.put && state.put.put;
    if (!p) return;
    $("put").dataset.label = p.tote_barcode || p.label;
    $("put").dataset.taskId = String(p.task_id);
    $("put-tote").textContent = String(p.tote);
    $("put-order").textContent = t("put_order", p);
    $("put-ask").textContent = t("put_ask", { label: p.tote_barcode || p.label });
  }

  function renderSummary() {
    const c = state.summary;
    $("summary").hidden = !c || state.idle !== "cart_done";
    if (!c) return;
    $("summary-counts").textContent = t("summary_counts",
      { orders: c.order_count, units: c.units, short: c.short });
    $("summary-orders").replaceChildren(...c.orders.map((o) => {
      const li = document.createElement("li");
      li.textContent = t(o.short ? "summary_order_short" : "summary_order", o);
      return li;
    }));
    $("summary-where").textContent = c.stations.length
      ? t("summary_where", { stations: c.stations.map((s) => s.station).join(", ") })
      : t("summary_nowhere", c);
  }

  function setTask(task, cart) {
    state.task = task || null;
    if (cart !== undefined) state.cart = cart;
    if (state.cart && state.cart.id) state.cartId = state.cart.id;
    if (state.task) {
      state.idle = null;
      state.summary = null;
      state.cartId = state.task.cart;
    }
    render();
  }

  /** The task to show after an ack: held back while a tote waits for its confirmation;
   *  none left = the cart is done (its summary is asked for). */
  function applyNext(next) {
    if (state.put) {
      state.put.next = next;
      render();
      return;
    }
    if (!next) {
      state.idle = "cart_done";
      state.lastPut = null;
      cartSummary();
    }
    setTask(next);
  }

  // ---- session --------------------------------------------------------------------------

  const savedSession = WP.stored(localStorage, "wp.session");

  function saveSession(s) {
    state.session = s;
    savedSession.save(s);
  }

  function deviceId() {
    let id = localStorage.getItem("wp.device");
    if (!id) {
      id = "WEB-" + WP.newId().slice(0, 8).toUpperCase();
      localStorage.setItem("wp.device", id);
    }
    return id;
  }

  function login(ev) {
    unlockAudio();
    return WP.logIn(ev, t, (body) => {
      saveSession({ token: body.token, badge: body.badge, role: body.role, name: "" });
      return start();
    });
  }

  function logout() {
    if (state.socket) { state.socket.disconnect(); state.socket = null; }
    saveSession(null);
    state.task = state.cart = state.idle = state.put = state.lastPut = state.summary = null;
    setConn("offline");
    render();
    $("badge").focus();
  }

  function sessionRefused(code) {
    // the outbox keeps this badge's records: they are sent when it logs in again
    logout();
    WP.loginRefused(code, t(code === "forbidden" ? "forbidden" : "session_expired"));
  }

  // ---- socket ---------------------------------------------------------------------------

  function connect() {
    const socket = io("/handheld", {
      auth: { token: state.session.token, device: deviceId() },
      // WebSocket only: the session is one TCP connection, so behind nginx and several
      // server processes it stays on the process that authenticated it (long polling is
      // many requests a balancer could spread); every browser we support has WebSocket
      transports: ["websocket"],
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
    });
    state.socket = socket;
    // a page opened without a network says so at once, not after the first failed attempt
    setConn(navigator.onLine ? "connecting" : "offline");
    socket.on("connect", () => {
      setConn("online");
      whoami();
      pump(true);
    });
    socket.on("disconnect", (reason) => {
      setConn(navigator.onLine ? "connecting" : "offline");
      if (reason === "io server disconnect") setTimeout(() => socket.connect(), RETRY_MS);
    });
    socket.on("connect_error", (err) => {
      const code = refusalCode(err);
      if (code === "unauthenticated" || code === "forbidden") return sessionRefused(code);
      setConn(navigator.onLine ? "connecting" : "offline");
      // a refusal by the server does not retry by itself; a transport error does
      if (!socket.active) setTimeout(() => { if (state.socket === socket) socket.connect(); }, RETRY_MS);
    });
  }

  /** The code of a refused connect: `err.data.code` per the protocol; a server that passes
   *  the whole {code, message} as the message only (python-socketio's one-argument
   *  ConnectionRefusedError) is read from the text, so an expired session still logs out. */
  function refusalCode(err) {
    if (!err) return null;
    if (err.data && err.data.code) return err.data.code;
    const m = String(err.message || "").match(/['"]code['"]\s*:\s*['"](\w+)['"]/);
    return m ? m[1] : null;
  }

  async function call(event, payload) {
    return state.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload || {});
  }

  async function whoami() {
    try {
      const ack = await call("whoami");
      if (ack && ack.ok && state.session) {
        state.session.name = ack.user.name || "";
        saveSession(state.session);
        render();
      }
    } catch { /* shown again on the next connect */ }
  }

  async function taskNext() {
    if (state.mode === "count") return countNext();
    if (state.mode === "replenish") return replenNext();
    if (!state.socket || !state.socket.connected) return;
    try {
      const ack = await call("task.next");
      if (!ack || !ack.ok) return;
      if (state.put) {            // a tote to confirm first: the task shows after it
        state.put.next = ack.task;
        if (ack.cart) state.cart = ack.cart;
        render();
        return;
      }
      if (state.idle === "cart_done" && !ack.task) return;    // keep the summary in view
      state.idle = ack.task ? null : "no_work";
      setTask(ack.task, ack.cart);
    } catch { /* offline again: the next connect asks again */ }
  }

  function nextCart() {
    if (state.idle === "cart_done") {
      state.idle = null;
      state.summary = null;
    }
    return taskNext();
  }

  async function cartSummary() {
    const cart = state.cartId;
    if (!cart || !state.socket || !state.socket.connected) return;
    try {
      const ack = await call("cart.summary", { cart });
      if (ack && ack.ok && state.idle === "cart_done") {
        state.summary = ack.cart;
        render();
      }
    } catch { /* the cart is done all the same */ }
  }

  // ---- the outbox: write first, send in order, delete on ack ---------------------------

  let pumping = false;
  let pumpAgain = false;
  let pumpAfterConnect = false;
  let retryDelay = RETRY_MS;

  function pump(afterConnect) {
    if (afterConnect) pumpAfterConnect = true;
    if (pumping) { pumpAgain = true; return; }
    pumping = true;
    pumpAgain = false;
    drain().finally(() => {
      pumping = false;
      if (pumpAgain) pump();
    });
  }

  async function drain() {
    const socket = state.socket;
    const owner = state.session && state.session.badge;
    while (socket && socket.connected && state.socket === socket) {
      const rec = await Outbox.first(owner);
      if (!rec) break;
      let ack;
      try {
        ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(rec.event, rec.payload);
      } catch {
        // no ack (timeout or the connection dropped): it stays queued and is sent again
        // with the same scan_id, which the server answers with its first verdict
        if (socket.connected) setTimeout(() => pump(), RETRY_MS);
        return;
      }
      const code = ack && ack.error && ack.error.code;
      if (RETRY_CODES.has(code)) {
        // the server could not handle it (nothing stored): it stays first in line
        retryDelay = Math.min(retryDelay * 2, 30000);
        if (code === "session_expired") return sessionRefused(code);
        showVerdict("warn", code, t("e." + code));
        if (code === "unauthenticated") socket.disconnect().connect();
        else setTimeout(() => pump(), retryDelay);
        return;
      }
      retryDelay = RETRY_MS;
      await Outbox.remove(rec.seq);
      await refreshPending();
      showAck(rec, ack);
    }
    if (socket && socket.connected && pumpAfterConnect) {
      // acks replayed from before a disconnect carry `next` as it was then: ask afresh
      pumpAfterConnect = false;
      await taskNext();
    }
  }

  async function refreshPending() {
    const rows = state.session ? await Outbox.all(state.session.badge) : [];
    state.pending = rows.length;
    state.pendingTotes = rows.filter((r) => r.event === "tote.scan").length;
    render();
  }

  async function enqueue(event, payload) {
    await Outbox.add(event, payload, state.session.badge);
    await refreshPending();
    if (!state.socket || !state.socket.connected) showVerdict("warn", "queued", t("queued"));
    pump();
  }

  function expectedText(exp) {
    if (!exp) return "";
    return exp.scan === "location" ? t("expected_location", exp) : t("expected_item", exp);
  }

  function showAck(rec, ack) {
    if (rec.event === "count.submit") countAnswered(ack);
    if (rec.event === "replenish.move") replenAnswered(ack);
    if (!ack || ack.error) {
      const code = (ack && ack.error && ack.error.code) || "unknown";
      // replenish mode has words of its own for the codes it shares with picking
      const key = rec.event === "replenish.move" && words.has("re." + code) ? "re." + code
        : "e." + code;
      const text = words.has(key) ? t(key, ack.error) : t("e.unknown", { code });
      showVerdict(WARN_CODES.has(code) ? "warn" : "error", code, text);
      taskNext();
      return;
    }
    if (rec.event === "scan") {
      const v = ack.verdict;
      const text = ack.put ? t("put_unit", ack.put)
        : t("v." + v) + (ack.ok ? "" : " — " + expectedText(ack.expected));
      showVerdict(ack.ok ? "ok" : v === "scan_location_first" ? "warn" : "error", v, text);
      if (ack.put) state.lastPut = ack.put;
      if (ack.put && ack.put.confirm) {
        state.put = { put: ack.put, next: ack.next };
        render();
        return;
      }
    } else if (rec.event === "tote.confirm") {
      if (!ack.ok) {
        showVerdict("error", ack.verdict, t("v.wrong_tote", { tote: ack.expected.slot }));
        return;
      }
      showVerdict("ok", "ok", t("put_done", ack.tote));
      const waiting = state.put && state.put.put.task_id === ack.task ? state.put : null;
      if (waiting) {
        state.put = null;
        state.lastPut = null;
        applyNext(waiting.next);
      }
      return;
    } else if (rec.event === "short") {
      const moved = (ack.reallocated || []).reduce((n, r) => n + r.quantity, 0);
      // the server says what happened as a code and its parameters (protocol doc)
      showVerdict("warn", "short", ack.notice && words.has(ack.notice.code)
        ? t(ack.notice.code, ack.notice.params)
        : t("short_done", { short: ack.short, reallocated: moved, backordered: ack.backordered }));
    } else if (rec.event === "count.submit") {
      showCountAck(ack);
      return;
    } else if (rec.event === "replenish.move") {
      showReplenAck(ack);
      return;
    } else if (rec.event === "tote.scan") {
      const slot = state.cart && state.cart.totes.find((b) => b.slot === ack.tote.slot);
      if (slot) slot.barcode = ack.tote.barcode;
      showVerdict("ok", "ok", t("tote_bound", ack.tote));
    }
    if ("next" in ack) applyNext(ack.next);
  }

  // ---- input: wedge, camera, short ------------------------------------------------------

  async function submitScan(raw, symbology) {
    const text = WP.normaliseScan(raw);
    if (!text.trim() || !state.session) return;
    if (state.mode === "count") return countScan(text.trim());
    if (state.mode === "replenish") return replenScan(text.trim());
    const scan_id = WP.newId();
    if (state.put) {          // the tote (or slot) label of the finished task: verified by the server
      await enqueue("tote.confirm", { scan_id, task: state.put.put.task_id, raw: text,
                                      scanned_at: new Date().toISOString() });
    } else if (wantsTote()) {
      await enqueue("tote.scan", { scan_id, raw: text });
    } else {
      const payload = { scan_id, raw: text, scanned_at: new Date().toISOString() };
      if (symbology) payload.symbology = symbology;
      await enqueue("scan", payload);
    }
  }

  async function shortPick() {
    unlockAudio();
    const task = state.task;
    if (!task) return;
    if (state.pending > 0) {
      // `found` must be the units the server has counted; unsent scans are not yet counted
      showVerdict("warn", "short_wait", t("short_wait"));
      return;
    }
    if (!state.shortArmed) {
      state.shortArmed = setTimeout(() => { state.shortArmed = null; render(); }, SHORT_CONFIRM_MS);
      render();
      return;
    }
    clearTimeout(state.shortArmed);
    state.shortArmed = null;
    render();
    await enqueue("short", { scan_id: WP.newId(), task: task.task_id, found: task.picked });
  }

  /** A tap instead of a label scan: nothing to verify, so the next task shows at once
   *  (the confirmation is recorded through the outbox, online or not). */
  async function confirmPutByTap() {
    unlockAudio();
    const waiting = state.put;
    if (!waiting) return;
    state.put = null;
    state.lastPut = null;
    applyNext(waiting.next);
    await enqueue("tote.confirm", { scan_id: WP.newId(), task: waiting.put.task_id,
                                    scanned_at: new Date().toISOString() });
    $("scan").focus();
  }

  let stopCamera = null;
  async function toggleCamera() {
    unlockAudio();
    const box = $("camera-box");
    if (stopCamera) {
      stopCamera();
      stopCamera = null;
      box.hidden = true;
      $("camera").textContent = t("camera");
      return;
    }
    box.hidden = false;
    try {
      stopCamera = await Camera.start($("video"), (code) => submitScan(code.text, code.symbology));
      $("camera").textContent = t("camera_stop");
    } catch (e) {
      box.hidden = true;
      showVerdict("error", "camera", t("camera_error", { message: e.message || e.name }));
    }
  }

  // ---- count mode: cycle counts of bins (count.next / count.submit) ---------------------
  // Scan the bin, then each item (or type its SKU) — each scan adds one, the quantity can
  // be keyed — and submit. The submit goes through the outbox like a scan (its scan_id
  // makes a resend safe); the server checks the bin and every product and says the variance.

  async function countNext() {
    if (!state.socket || !state.socket.connected) return;
    try {
      const ack = await call("count.next");
      if (!ack || !ack.ok || state.mode !== "count") return;
      const same = state.count && ack.count && state.count.count_id === ack.count.count_id;
      if (!same) { state.countBin = null; state.countLines = []; }
      state.count = ack.count;
      state.idle = ack.count ? null : "count_none";
      render();
    } catch { /* offline: asked again on the next connect */ }
  }

  function toggleCountMode() {
    unlockAudio();
    state.mode = state.mode === "count" ? "pick" : "count";
    state.idle = null;
    state.task = state.count = null;
    render();
    taskNext();
    $("scan").focus();
  }

  /** The count task's product a scanned or typed text names: its SKU, or one of its GTINs
   *  (the server's GTIN-14; EAN/UPC read as printed). Null: sent as a barcode as read. */
  function countProduct(text) {
    const digits = /^\d{8,14}$/.test(text) ? text.padStart(14, "0") : null;
    return state.count.skus.find((p) => p.sku === text || (digits && p.gtins.includes(digits)))
      || null;
  }

  function countScan(text) {
    const count = state.count;
    if (!count) { showVerdict("warn", "count_none", t("count_none")); return; }
    if (!state.countBin) {
      // the server checks the bin again with the count; this only keeps the order of steps
      if (text.toUpperCase() === count.location.toUpperCase()) {
        state.countBin = text;
        showVerdict("ok", "ok", t("count_bin_ok", { location: count.location }));
      } else {
        showVerdict("error", "wrong_location", t("count_wrong_bin", { location: count.location }));
      }
      render();
      return;
    }
    const product = countProduct(text);
    const label = product ? product.sku : text;
    let line = state.countLines.find((l) => l.label === label);
    if (!line) {
      line = { key: product ? { sku: product.sku } : { barcode: text }, label, quantity: 0 };
      state.countLines.push(line);
    }
    line.quantity += 1;
    showVerdict("ok", "ok", `${label} × ${line.quantity}`);
    render();
  }

  function renderCount() {
    const count = state.count;
    $("task").hidden = true;
    $("idle").hidden = !!count;
    $("idle-text").textContent = count ? "" : t("count_none");
    $("short").disabled = true;
    $("needs").dataset.needs = count ? (state.countBin ? "count_items" : "count_bin") : "";
    $("needs").textContent = !count ? ""
      : state.countBin ? t("count_scan_items") : t("count_scan_bin", { location: count.location });
    if (!count) return;
    $("count").dataset.countId = String(count.count_id);
    $("c-location").textContent = count.location;
    $("c-submit").disabled = !state.countBin || state.countSubmitted;
    const list = $("c-lines");
    list.textContent = "";
    for (const line of state.countLines) {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.className = "c-sku";
      name.textContent = line.label;
      const qty = document.createElement("input");
      Object.assign(qty, { type: "number", min: "0", step: "1", value: String(line.quantity) });
      qty.inputMode = "numeric";
      qty.dataset.testid = "count-qty";
      qty.dataset.sku = line.label;
      qty.addEventListener("change", () => { line.quantity = Number(qty.value); });
      li.append(name, qty);
      list.append(li);
    }
  }

  async function submitCount() {
    unlockAudio();
    const count = state.count;
    if (!count || !state.countBin || state.countSubmitted) return;
    state.countSubmitted = true;
    render();
    await enqueue("count.submit", {
      scan_id: WP.newId(), count: count.count_id, location: state.countBin,
      lines: state.countLines.map((l) => Object.assign({}, l.key, { quantity: l.quantity })),
      scanned_at: new Date().toISOString() });
    $("scan").focus();
  }

  /** The answer to a count: done (the next count is asked for), or refused (the counter
   *  fixes it and submits again; a wrong bin is scanned again). */
  function countAnswered(ack) {
    state.countSubmitted = false;
    if (ack && ack.ok) { state.count = null; state.countBin = null; state.countLines = []; }
    else if (ack && ack.error && ack.error.code === "wrong_location") state.countBin = null;
  }

  function showCountAck(ack) {
    const diff = (ack.lines || []).filter((l) => l.variance !== 0).map((l) => t("count_variance",
      { sku: l.sku, sign: l.variance > 0 ? "+" : "", variance: l.variance }));
    showVerdict(diff.length ? "warn" : "ok", "count_done", t("count_done",
      { location: ack.location, variance: diff.length ? diff.join(", ") : t("count_no_variance") }));
    countNext();
  }

  // ---- replenish mode: refill a pick face from reserve (replenish.next / replenish.move) ---
  // The page shows the face, the SKU and the reserve bin to take from with a quantity; scan
  // the source bin (optionally a unit), scan the face, confirm the units, Move. The move goes
  // through the outbox like a scan (its scan_id makes a resend safe); the server checks the
  // bins, the product and the units, moves the stock and says what is left.

  function replenReset() {
    state.replenSource = state.replenTarget = state.replenBarcode = null;
  }

  async function replenNext() {
    if (!state.socket || !state.socket.connected) return;
    try {
      const ack = await call("replenish.next");
      if (!ack || !ack.ok || state.mode !== "replenish") return;
      const same = state.replen && ack.task && state.replen.task_id === ack.task.task_id;
      if (!same) replenReset();
      setReplen(ack.task);
    } catch { /* offline: asked again on the next connect */ }
  }

  function setReplen(task) {
    const changed = !state.replen || !task || state.replen.task_id !== task.task_id
      || state.replen.remaining !== task.remaining;
    state.replen = task;
    state.idle = task ? null : "replen_none";
    if (task && changed) {
      $("r-qty").value = String(task.suggested ? task.suggested.quantity : task.remaining);
    }
    render();
  }

  function toggleReplenMode() {
    unlockAudio();
    state.mode = state.mode === "replenish" ? "pick" : "replenish";
    state.idle = null;
    state.task = state.count = state.replen = null;
    replenReset();
    render();
    taskNext();
    $("scan").focus();
  }

  function isReplenProduct(text) {
    const task = state.replen;
    const digits = /^\d{8,14}$/.test(text) ? text.padStart(14, "0") : null;
    return text === task.sku || (digits !== null && task.gtins.includes(digits));
  }

  function replenScan(text) {
    const task = state.replen;
    if (!task) { showVerdict("warn", "replen_none", t("replen_none")); return; }
    if (!state.replenSource) {
      // any bin: the server says whether it holds the SKU as reserve
      if (isReplenProduct(text)) {
        showVerdict("warn", "scan_source_first", t("replen_scan_source_first"));
        return;
      }
      state.replenSource = text;
      showVerdict("ok", "ok", t("replen_source_ok", { location: text.toUpperCase() }));
    } else if (!state.replenTarget && isReplenProduct(text)) {
      state.replenBarcode = text;
      showVerdict("ok", "ok", t("replen_item_ok", { sku: task.sku }));
    } else if (!state.replenTarget) {
      if (text.toUpperCase() !== task.target.toUpperCase()) {
        // the server would refuse it too (wrong_target); nothing to send yet
        showVerdict("error", "wrong_target", t("re.wrong_target_at", { location: task.target }));
        return;
      }
      state.replenTarget = text;
      showVerdict("ok", "ok", t("replen_target_ok", { location: task.target }));
      $("r-qty").focus();
    } else {
      showVerdict("warn", "replen_key_qty", t("replen_key_qty"));
    }
    render();
  }

  function renderReplen() {
    const task = state.replen;
    $("task").hidden = true;
    $("idle").hidden = !!task;
    $("idle-text").textContent = task ? "" : t("replen_none");
    $("summary").hidden = true;
    $("short").disabled = true;
    const step = !task ? "" : !state.replenSource ? "replen_source"
      : !state.replenTarget ? "replen_target" : "replen_qty";
    $("needs").dataset.needs = step;
    $("needs").textContent = !task ? ""
      : step === "replen_source" ? t("replen_scan_source", {
        location: task.suggested ? task.suggested.source : "?" })
        : step === "replen_target" ? t("replen_scan_target", { location: task.target })
          : t("replen_scan_qty");
    if (!task) return;
    $("replen").dataset.taskId = String(task.task_id);
    $("r-target").textContent = task.target;
    $("r-sku").textContent = task.sku;
    $("r-name").textContent = task.name;
    $("r-source").textContent = state.replenSource ? state.replenSource.toUpperCase()
      : task.suggested ? t("replen_source_text", { location: task.suggested.source,
        available: task.sources[0].available }) : "—";
    $("r-available").textContent = String(task.available);
    $("r-min").textContent = String(task.min_qty);
    $("r-max").textContent = task.max_qty ? String(task.max_qty) : "—";
    $("r-remaining").textContent = String(task.remaining);
    $("r-submit").disabled = !state.replenSource || !state.replenTarget || state.replenSent;
  }

  async function submitReplen() {
    unlockAudio();
    const task = state.replen;
    if (!task || !state.replenSource || !state.replenTarget || state.replenSent) return;
    const quantity = Number($("r-qty").value);
    const payload = { scan_id: WP.newId(), task: task.task_id, source: state.replenSource,
                      target: state.replenTarget, quantity,
                      scanned_at: new Date().toISOString() };
    if (state.replenBarcode) payload.barcode = state.replenBarcode;
    state.replenSent = true;
    render();
    await enqueue("replenish.move", payload);
    $("scan").focus();
  }

  /** The answer to a move: done or partly done (the next step is shown), or refused (the
   *  bin named in the refusal is scanned again; a quantity is keyed again). */
  function replenAnswered(ack) {
    state.replenSent = false;
    const code = ack && ack.error && ack.error.code;
    if (ack && ack.ok) replenReset();
    else if (code === "wrong_target") state.replenTarget = null;
    // a refused source or product: start again at the source (then the face again)
    else if (!["bad_quantity", "over_quantity", "not_enough_at_source", "stock_changed"]
      .includes(code)) replenReset();
  }

  function showReplenAck(ack) {
    showVerdict("ok", ack.done ? "replen_done" : "replen_moved", t(
      ack.done ? "replen_done" : "replen_moved",
      { quantity: ack.moved, source: ack.source, target: ack.target,
        remaining: ack.task ? ack.task.remaining : 0 }));
    if (ack.task) setReplen(ack.task);
    else replenNext();
  }

  // ---- start ----------------------------------------------------------------------------

  async function start() {
    render();
    await refreshPending();
    if (state.socket) state.socket.disconnect();
    connect();
    $("scan").focus();
    // fetch the camera decoder while the network is here: the camera must work offline too
    if (!("BarcodeDetector" in window)) Camera.loadZxing().catch((e) => console.warn(e));
  }

  function wire() {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("lang").addEventListener("click", () => { words.toggle(); applyLanguage(); });
    WP.wireScanField((value) => submitScan(value), unlockAudio);
    $("keyboard").addEventListener("click", () => {
      const input = $("scan");
      input.inputMode = input.inputMode === "none" ? "text" : "none";
      input.blur();
      input.focus();
    });
    $("camera").addEventListener("click", toggleCamera);
    $("short").addEventListener("click", shortPick);
    $("put-confirm").addEventListener("click", confirmPutByTap);
    $("refresh").addEventListener("click", nextCart);
    $("count-mode").addEventListener("click", toggleCountMode);
    $("c-submit").addEventListener("click", submitCount);
    $("replen-mode").addEventListener("click", toggleReplenMode);
    $("r-submit").addEventListener("click", submitReplen);
    $("r-qty").addEventListener("keydown", (e) => { if (e.key === "Enter") submitReplen(); });
    // the browser knows at once when the network goes; the socket's heartbeat would take
    // up to 45 s, and scans made meanwhile would wait on an ack that cannot come
    window.addEventListener("offline", () => {
      setConn("offline");
      if (state.socket) state.socket.disconnect();
    });
    window.addEventListener("online", () => {
      if (state.socket && !state.socket.connected) { setConn("connecting"); state.socket.connect(); }
    });
    // no work: look again now and then; a done cart waits for "Next cart" (its summary
    // stays in view while the picker takes it to the pack station)
    setInterval(() => {
      if ((state.idle === "no_work" && !state.task) || (state.idle === "replen_none" && !state.replen)) {
        taskNext();
      }
    }, IDLE_POLL_MS);
  }

  // the page shell from a cache when the network is gone (sw.js); needs a secure origin
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js").catch((e) => console.warn("no offline shell", e));
  }
  wire();
  applyLanguage();
  state.session = savedSession.load();
  if (state.session) start(); else { render(); $("badge").focus(); }
})();
