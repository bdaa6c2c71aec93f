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
                              "not_your_task", "bad_found"]);

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

    const task = state.task;
    $("task").hidden = !task;
    $("idle").hidden = !!task || !state.idle;
    $("idle-text").textContent = state.idle ? t(state.idle) : "";
    $("needs").textContent = needsText();
    $("needs").dataset.needs = task ? task.needs : "";
    $("short").disabled = !task || task.needs === "tote";
    if (!task) return;
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

  function setTask(task, cart) {
    state.task = task || null;
    if (cart !== undefined) state.cart = cart;
    if (state.task) state.idle = null;
    render();
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
    state.task = state.cart = state.idle = null;
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
    if (!state.socket || !state.socket.connected) return;
    try {
      const ack = await call("task.next");
      if (!ack || !ack.ok) return;
      state.idle = ack.task ? null : "no_work";
      setTask(ack.task, ack.cart);
    } catch { /* offline again: the next connect asks again */ }
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
    if (!ack || ack.error) {
      const code = (ack && ack.error && ack.error.code) || "unknown";
      const key = "e." + code;
      const text = words.has(key) ? t(key, ack.error) : t("e.unknown", { code });
      showVerdict(WARN_CODES.has(code) ? "warn" : "error", code, text);
      taskNext();
      return;
    }
    if (rec.event === "scan") {
      const v = ack.verdict;
      const text = t("v." + v) + (ack.ok ? "" : " — " + expectedText(ack.expected));
      showVerdict(ack.ok ? "ok" : "error", v, text);
    } else if (rec.event === "short") {
      const moved = (ack.reallocated || []).reduce((n, r) => n + r.quantity, 0);
      showVerdict("warn", "short", t("short_done",
        { short: ack.short, reallocated: moved, backordered: ack.backordered }));
    } else if (rec.event === "tote.scan") {
      const slot = state.cart && state.cart.totes.find((b) => b.slot === ack.tote.slot);
      if (slot) slot.barcode = ack.tote.barcode;
      showVerdict("ok", "ok", t("tote_bound", ack.tote));
    }
    if ("next" in ack) {
      if (!ack.next) state.idle = "cart_done";
      setTask(ack.next);
    }
  }

  // ---- input: wedge, camera, short ------------------------------------------------------

  async function submitScan(raw, symbology) {
    const text = WP.normaliseScan(raw);
    if (!text.trim() || !state.session) return;
    const scan_id = WP.newId();
    if (wantsTote()) {
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
    $("refresh").addEventListener("click", taskNext);
    // the browser knows at once when the network goes; the socket's heartbeat would take
    // up to 45 s, and scans made meanwhile would wait on an ack that cannot come
    window.addEventListener("offline", () => {
      setConn("offline");
      if (state.socket) state.socket.disconnect();
    });
    window.addEventListener("online", () => {
      if (state.socket && !state.socket.connected) { setConn("connecting"); state.socket.connect(); }
    });
    setInterval(() => { if (state.idle && !state.task) taskNext(); }, IDLE_POLL_MS);
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
