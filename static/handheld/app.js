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
  const RETRY_CODES = new Set(["internal", "unauthenticated"]);
  const WARN_CODES = new Set(["queued", "short", "no_task", "task_closed", "tote_required",
                              "not_your_task", "bad_found"]);

  const $ = (id) => document.getElementById(id);
  const state = {
    lang: null,
    session: null,      // {token, badge, role, name}
    socket: null,
    task: null,
    cart: null,
    idle: null,         // null | "no_work" | "cart_done"
    pending: 0,
    pendingTotes: 0,
    shortArmed: null,   // timer while the short button waits for its confirming tap
    verdictTimer: null,
  };

  // ---- words -------------------------------------------------------------------------

  function pickLanguage() {
    const saved = localStorage.getItem("wp.lang");
    if (saved && window.WP_STRINGS[saved]) return saved;
    return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
  }

  function t(key, params) {
    const table = window.WP_STRINGS[state.lang] || window.WP_STRINGS.en;
    let s = table[key] ?? window.WP_STRINGS.en[key] ?? key;
    for (const [k, v] of Object.entries(params || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("scan").placeholder = t("scan_placeholder");
    render();
  }

  // ---- feedback: colour, sound, vibration ----------------------------------------------

  let audio = null;
  function unlockAudio() {
    if (!audio && (window.AudioContext || window.webkitAudioContext)) {
      audio = new (window.AudioContext || window.webkitAudioContext)();
    }
    if (audio && audio.state === "suspended") audio.resume();
  }

  const TONES = {   // [frequency Hz, duration ms] per beep
    ok: [[1320, 90]],
    warn: [[660, 160]],
    error: [[220, 180], [220, 180]],
  };
  const BUZZ = { ok: [40], warn: [120], error: [200, 80, 200] };

  function signal(kind) {
    if (audio) {
      let at = audio.currentTime;
      for (const [freq, ms] of TONES[kind]) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.type = kind === "error" ? "square" : "sine";
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.2, at);
        gain.gain.exponentialRampToValueAtTime(0.001, at + ms / 1000);
        osc.connect(gain).connect(audio.destination);
        osc.start(at);
        osc.stop(at + ms / 1000);
        at += ms / 1000 + 0.06;
      }
    }
    if (navigator.vibrate) navigator.vibrate(BUZZ[kind]);
  }

  function showVerdict(kind, code, text) {
    const box = $("verdict");
    box.className = "verdict " + kind;
    box.dataset.code = code;
    box.dataset.seq = String(Number(box.dataset.seq || 0) + 1);   // one more message shown
    box.textContent = text;
    box.hidden = false;
    signal(kind);
    clearTimeout(state.verdictTimer);
    if (kind === "ok") state.verdictTimer = setTimeout(() => { box.hidden = true; }, 2500);
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
    $("login-view").hidden = loggedIn;
    $("work-view").hidden = !loggedIn;
    $("logout").hidden = !loggedIn;
    $("who").textContent = loggedIn ? (state.session.name || state.session.badge) : "";
    const pend = $("pending");
    pend.hidden = state.pending === 0;
    pend.dataset.count = String(state.pending);
    pend.textContent = t("pending", { n: state.pending });
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

  function loadSession() {
    try { return JSON.parse(localStorage.getItem("wp.session") || "null"); } catch { return null; }
  }

  function saveSession(s) {
    state.session = s;
    if (s) localStorage.setItem("wp.session", JSON.stringify(s));
    else localStorage.removeItem("wp.session");
  }

  function deviceId() {
    let id = localStorage.getItem("wp.device");
    if (!id) {
      id = "WEB-" + newId().slice(0, 8).toUpperCase();
      localStorage.setItem("wp.device", id);
    }
    return id;
  }

  function newId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    // plain-http origins have no randomUUID; getRandomValues works everywhere
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  async function login(ev) {
    ev.preventDefault();
    unlockAudio();
    const err = $("login-error");
    err.hidden = true;
    $("login-button").disabled = true;
    $("login-button").textContent = t("logging_in");
    try {
      const resp = await fetch("/api/v1/auth/badge", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ badge: $("badge").value.trim(), pin: $("pin").value }),
      });
      const body = await resp.json().catch(() => ({}));
      if (resp.ok) {
        saveSession({ token: body.token, badge: body.badge, role: body.role, name: "" });
        $("pin").value = "";
        await start();
        return;
      }
      const code = body.error && body.error.code;
      err.dataset.code = code || String(resp.status);
      err.textContent = resp.status === 401 ? t("bad_credentials")
        : resp.status === 429 ? t("locked") : t("login_failed", { status: resp.status });
    } catch (e) {
      err.dataset.code = "network";
      err.textContent = t("network_error");
    } finally {
      $("login-button").disabled = false;
      $("login-button").textContent = t("log_in");
    }
    err.hidden = false;
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
    const err = $("login-error");
    err.dataset.code = code;
    err.textContent = t(code === "forbidden" ? "forbidden" : "session_expired");
    err.hidden = false;
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
      const text = window.WP_STRINGS.en[key] ? t(key, ack.error) : t("e.unknown", { code });
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

  function normaliseScan(text) {
    return text.replace(/[\r\n]+$/, "").split("<GS>").join("\x1d");
  }

  async function submitScan(raw, symbology) {
    const text = normaliseScan(raw);
    if (!text.trim() || !state.session) return;
    const scan_id = newId();
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
    await enqueue("short", { scan_id: newId(), task: task.task_id, found: task.picked });
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

  function keepScanFocus() {
    setTimeout(() => {
      const active = document.activeElement;
      if (!$("work-view").hidden && active !== $("scan") && !(active && active.tagName === "INPUT")) {
        $("scan").focus();
      }
    }, 0);
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
    $("lang").addEventListener("click", () => {
      state.lang = state.lang === "zh-CN" ? "en" : "zh-CN";
      localStorage.setItem("wp.lang", state.lang);
      applyLanguage();
    });
    $("scan-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      unlockAudio();
      const input = $("scan");
      const value = input.value;
      input.value = "";
      submitScan(value);
    });
    $("scan").addEventListener("blur", keepScanFocus);
    document.addEventListener("click", keepScanFocus);
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
  state.lang = pickLanguage();
  wire();
  applyLanguage();
  state.session = loadSession();
  if (state.session) start(); else { render(); $("badge").focus(); }
})();
