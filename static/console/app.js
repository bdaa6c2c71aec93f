// The supervisors' console shell (/console/): the badge login (supervisors and admins
// only), the tab bar of the panels that registered, the language switch, the /console
// Socket.IO feed (connect, reconnect, session.ended, a "live view paused" banner while it
// is down), toasts, and the `ctx` every panel is handed. CONSOLE-CONTRACT.md is the
// contract; in short:
//
//   WPConsole.panel("floor", {
//     order: 10, roles: ["supervisor", "admin"],
//     words: {en: {title: "Floor", …}, "zh-CN": {title: "现场", …}},
//     mount(root, ctx) {}, show(ctx) {}, hide(ctx) {}, relang(ctx) {}, open(arg, ctx) {},
//     on: {"scan.recorded"(data, ctx) {}, connect(data, ctx) {}, disconnect(data, ctx) {}},
//   });
//
// `on` also hears the shell's own "connect" (the feed is live: after a reconnect, load
// the current state again; pushes are not replayed) and "disconnect", and "warehouse"
// (the watched warehouse changed). Panel scripts load `defer`, after this one; the shell
// starts once the document is parsed, so every panel has registered by then.
// WPConsole.el(tag, attrs, ...children) builds an element (a helper for panels).
"use strict";

window.WPConsole = (function () {
  const ROLES = ["supervisor", "admin"];
  const RETRY_MS = 2000;              // a refused-for-now connect (database down) tried again
  const TOAST_MS = 6000;
  const PAUSED_AFTER_MS = 3000;       // not connected this long after a login: the banner
  const NS = "/console";

  const $ = WP.$;
  const words = WP.words(window.WP_CONSOLE_STRINGS, "wp.console.lang");
  const { t, has } = words;
  const savedAuth = WP.stored(sessionStorage, "wp.console.auth");
  const registered = {};              // name → panel definition
  const state = {
    auth: null,                       // {token, badge, role, name}
    warehouse: localStorage.getItem("wp.console.warehouse") || null,
    warehouses: [],
    socket: null,
    live: false,
    current: null,                    // the panel shown
    mounted: new Set(),
    ctxs: {},                         // name → the panel's ctx
    retry: null,
    started: false,
    wasLive: false,                   // connected once since the login
    feed: null,                       // the message queue as the server last said (feed.status)
    since: 0,                         // when the login started the feed
    pausedTimer: null,
  };

  // ---- the registry ----------------------------------------------------------------------

  function panel(name, def) {
    if (typeof name !== "string" || !def || typeof def.mount !== "function") {
      console.error("WPConsole.panel: a name and {mount} are needed", name);
      return;
    }
    registered[name] = Object.assign({ order: 100, roles: ROLES, words: {}, on: {} }, def,
                                     { name });
    if (state.started && state.auth) renderTabs();     // a late panel gets its tab too
  }

  function allowed() {
    const role = state.auth && state.auth.role;
    return Object.values(registered)
      .filter((p) => (p.roles || ROLES).includes(role))
      .sort((a, b) => (a.order - b.order) || a.name.localeCompare(b.name));
  }

  // ---- ctx ------------------------------------------------------------------------------

  const api = WP.loginApi(() => state.auth, () => {
    logout();
    WP.loginRefused("session_expired", t("session_expired"));
  });

  async function download(path, filename) {
    let resp;
    try {
      resp = await fetch(path, { headers: { Authorization: "Bearer " + state.auth.token },
                                 cache: "no-store" });
    } catch (e) {
      toast("error", t("e.network"));
      return false;
    }
    if (resp.status === 401) {
      logout();
      WP.loginRefused("session_expired", t("session_expired"));
      return false;
    }
    if (!resp.ok) {
      const body = await resp.json().catch(() => null);
      toast("error", refusal(resp.status, body));
      return false;
    }
    const url = URL.createObjectURL(await resp.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    return true;
  }

  /** A refused call in words: the server's message with its code. */
  function refusal(status, body) {
    const err = (body && body.error) || {};
    if (status === 0) return t("e.network");
    const code = err.code || String(status);
    return t("e.unknown", { code, message: err.message || "" });
  }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString(words.lang);
  }

  function fmtAge(seconds) {
    const s = Math.floor(Math.abs(Number(seconds) || 0));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return t("age_d", { d, h });
    if (h) return t("age_h", { h, m });
    if (m) return t("age_m", { m });
    return s < 5 ? t("age_now") : t("age_s", { s });
  }

  function ctxFor(p) {
    if (state.ctxs[p.name]) return state.ctxs[p.name];
    const own = (lang) => (p.words && p.words[lang]) || {};
    const ctx = {
      api, download, toast, fmtTime, fmtAge, refusal,
      t(key, params) {
        let s = own(words.lang)[key] ?? own("en")[key];
        if (s === undefined) return t(key, params);
        for (const [k, v] of Object.entries(params || {})) s = s.split("{" + k + "}").join(String(v ?? ""));
        return s;
      },
      has: (key) => key in own("en") || has(key),
      open: (name, arg) => openPanel(name, arg),
      get lang() { return words.lang; },
      get user() { return state.auth ? { badge: state.auth.badge, role: state.auth.role,
                                         name: state.auth.name || "" } : null; },
      get warehouse() { return state.warehouse; },
      get warehouses() { return state.warehouses.slice(); },
      get socket() { return state.socket; },
      get live() { return state.live; },
      get panel() { return p.name; },
    };
    state.ctxs[p.name] = ctx;
    return ctx;
  }

  /** Call a panel's hook, a panel that throws never stops the shell or the others. */
  function call(p, hook, ...args) {
    const pushed = hook.startsWith("on.");       // "on.<event>": event names hold dots
    const fn = pushed ? (p.on || {})[hook.slice(3)] : p[hook];
    if (typeof fn !== "function") return undefined;
    try {
      const got = fn.apply(pushed ? p.on : p, args);
      if (got && typeof got.catch === "function") got.catch((e) => console.error(p.name, hook, e));
      return got;
    } catch (e) {
      console.error(`console panel ${p.name}: ${hook} failed`, e);
      return undefined;
    }
  }

  // ---- a DOM helper the panels may use ----------------------------------------------------

  /** el("td", {class, text, "data-testid", onclick…}, ...children): one element. An
   *  attribute that is null, undefined or false is left out; on<event> adds a listener. */
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      // through the CSSOM: the pages' CSP (style-src 'self') refuses style="" attributes
      else if (k === "style") e.style.cssText = String(v);
      else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) e.append(kid);
    return e;
  }

  // ---- toasts ------------------------------------------------------------------------------

  function toast(kind, text) {
    const box = document.createElement("div");
    box.className = "toast " + (["ok", "warn", "error"].includes(kind) ? kind : "ok");
    box.dataset.kind = kind;
    box.dataset.testid = "toast";
    box.setAttribute("data-testid", "toast");
    box.textContent = text;
    $("toasts").appendChild(box);
    setTimeout(() => box.remove(), kind === "error" ? TOAST_MS * 2 : TOAST_MS);
  }

  // ---- tabs ----------------------------------------------------------------------------------

  function renderTabs() {
    const nav = $("tabs");
    nav.textContent = "";
    const list = allowed();
    $("no-panels").hidden = list.length > 0;
    for (const p of list) {
      const b = document.createElement("button");
      b.type = "button";
      b.role = "tab";
      b.dataset.panel = p.name;
      b.setAttribute("data-testid", "tab-" + p.name);
      b.setAttribute("aria-selected", String(state.current === p.name));
      b.textContent = ctxFor(p).t("title");
      b.addEventListener("click", () => showPanel(p.name));
      nav.appendChild(b);
    }
    if (!state.current || !list.some((p) => p.name === state.current)) {
      const wanted = location.hash.slice(1);
      const first = list.find((p) => p.name === wanted) || list[0];
      if (first) showPanel(first.name);
    }
  }

  function sectionOf(name) {
    let root = document.getElementById("panel-" + name);
    if (!root) {
      root = document.createElement("section");
      root.id = "panel-" + name;
      root.className = "panel";
      root.setAttribute("data-testid", "panel-" + name);
      root.setAttribute("role", "tabpanel");
      root.hidden = true;
      $("panels").appendChild(root);
    }
    return root;
  }

  function showPanel(name) {
    const p = registered[name];
    if (!p || !allowed().includes(p)) return false;
    const ctx = ctxFor(p);
    if (state.current && state.current !== name) {
      const before = registered[state.current];
      sectionOf(state.current).hidden = true;
      if (before) call(before, "hide", ctxFor(before));
    }
    state.current = name;
    const root = sectionOf(name);
    root.hidden = false;
    if (!state.mounted.has(name)) {
      state.mounted.add(name);
      call(p, "mount", root, ctx);
    }
    call(p, "show", ctx);
    document.querySelectorAll("#tabs button").forEach((b) => {
      b.setAttribute("aria-selected", String(b.dataset.panel === name));
    });
    if (location.hash.slice(1) !== name) history.replaceState(null, "", "#" + name);
    return true;
  }

  function openPanel(name, arg) {
    if (!showPanel(name)) return false;
    call(registered[name], "open", arg, ctxFor(registered[name]));
    return true;
  }

  // ---- the live feed ---------------------------------------------------------------------------

  function dispatch(event, data) {
    for (const p of allowed()) {
      if (p.on && typeof p.on[event] === "function") call(p, "on." + event, data, ctxFor(p));
    }
  }

  /** The header's live mark and the "live view paused" banner. The banner waits for a
   *  first connect (PAUSED_AFTER_MS) so a login does not flash it; after that, any drop
   *  shows it at once. */
  function setLive(on) {
    state.live = on;
    if (on) state.wasLive = true;
    const live = $("live");
    live.dataset.state = on ? "on" : "off";
    live.dataset.at = String(Date.now());
    live.textContent = t(on ? "live_on" : "live_off");
    const paused = !on && !!state.auth && (state.wasLive || Date.now() - state.since >= PAUSED_AFTER_MS);
    $("paused").hidden = !paused;
    $("paused").textContent = t("paused");
    $("paused").dataset.kind = paused ? "paused" : "";
    clearTimeout(state.pausedTimer);
    if (!on && state.auth && !paused) {
      state.pausedTimer = setTimeout(() => setLive(state.live), PAUSED_AFTER_MS);
    }
    if (on) showFeed();
  }

  /** Connected, but the server's message queue (Redis) is down: this process's own events
   *  still arrive, other processes' do not (`feed.status`, docs/console-protocol.md). */
  function showFeed() {
    const partial = state.live && !!state.feed && state.feed.live === false;
    const banner = $("paused");
    if (!partial && banner.dataset.kind !== "partial") return;
    banner.hidden = !partial;
    banner.dataset.kind = partial ? "partial" : "";
    banner.textContent = partial ? t("feed_partial") : "";
  }

  function connect() {
    disconnectSocket();
    const socket = io(NS, { transports: ["websocket"], reconnectionDelayMax: 5000,
                            auth: { token: state.auth.token, warehouse: state.warehouse } });
    state.socket = socket;
    socket.on("connect", () => {
      if (state.socket !== socket) return;
      setLive(true);
      socket.emit("whoami", (me) => {
        if (me && me.ok) {
          state.warehouses = me.warehouses || [];
          renderWarehouses();
          state.feed = me.feed || null;
          showFeed();
        }
      });
      dispatch("connect", {});
    });
    socket.on("disconnect", (reason) => {
      if (state.socket !== socket) return;
      setLive(false);
      dispatch("disconnect", { reason });
      // the server closed it (a session ended, or it restarted): socket.io does not come
      // back by itself after a server-side disconnect
      if (reason === "io server disconnect" && state.auth) retryLater();
    });
    socket.on("connect_error", (err) => {
      if (state.socket !== socket) return;
      setLive(false);
      const data = (err && err.data) || {};
      if (data.code === "unauthenticated" || data.code === "forbidden") {
        const message = data.message || String(err.message || "");
        logout();
        WP.loginRefused(data.code, data.code === "forbidden" ? t("forbidden")
          : t("refused_live", { message }));
        return;
      }
      if (data.code === "unknown_warehouse") {   // a warehouse gone: watch them all
        state.warehouse = null;
        localStorage.removeItem("wp.console.warehouse");
      }
      if (data.code) retryLater();     // refused by the server: no automatic retry
    });
    socket.on("feed.status", (data) => {
      if (state.socket !== socket) return;
      state.feed = data || null;
      showFeed();
    });
    socket.on("session.ended", () => {
      logout();
      WP.loginRefused("session_expired", t("session_ended"));
    });
    socket.onAny((event, data) => {
      if (state.socket === socket && event !== "session.ended") dispatch(event, data);
    });
  }

  function retryLater() {
    clearTimeout(state.retry);
    state.retry = setTimeout(() => { if (state.auth) connect(); }, RETRY_MS);
  }

  function disconnectSocket() {
    clearTimeout(state.retry);
    if (state.socket) {
      const s = state.socket;
      state.socket = null;
      s.removeAllListeners();
      s.offAny();
      s.disconnect();
    }
  }

  // ---- warehouses ------------------------------------------------------------------------------

  function renderWarehouses() {
    const select = $("warehouse");
    select.textContent = "";
    const all = document.createElement("option");
    all.value = "";
    all.textContent = t("all_warehouses");
    select.appendChild(all);
    for (const w of state.warehouses) {
      const o = document.createElement("option");
      o.value = w.code;
      o.textContent = w.name ? `${w.code} · ${w.name}` : w.code;
      select.appendChild(o);
    }
    select.value = state.warehouse || "";
    select.hidden = !state.auth;
  }

  function chooseWarehouse() {
    const code = $("warehouse").value || null;
    const apply = () => {
      state.warehouse = code;
      if (code) localStorage.setItem("wp.console.warehouse", code);
      else localStorage.removeItem("wp.console.warehouse");
      dispatch("warehouse", { warehouse: code });
      const p = registered[state.current];
      if (p) call(p, "show", ctxFor(p));
    };
    if (state.socket && state.live) {
      state.socket.emit("watch", { warehouse: code }, (ack) => {
        if (ack && ack.ok) apply();
        else {
          toast("error", refusal(400, ack));
          $("warehouse").value = state.warehouse || "";
        }
      });
    } else {
      apply();
      if (state.auth) connect();     // the next connect joins the warehouse's room
    }
  }

  // ---- words -----------------------------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = words.lang;
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    setLive(state.live);
    if (state.auth) {
      renderTabs();
      renderWarehouses();
      for (const name of state.mounted) {
        const p = registered[name];
        if (p) call(p, "relang", ctxFor(p));
      }
    }
  }

  // ---- login -----------------------------------------------------------------------------------

  function login(ev) {
    return WP.logIn(ev, t, (body) => {
      state.auth = { token: body.token, badge: body.badge, role: body.role, name: body.name || "" };
      savedAuth.save(state.auth);
      start();
    }, ROLES);
  }

  function logout() {
    const was = state.auth;
    state.auth = null;
    savedAuth.save(null);
    disconnectSocket();
    for (const name of state.mounted) {
      const p = registered[name];
      if (p && name === state.current) call(p, "hide", ctxFor(p));
    }
    state.mounted.clear();
    state.ctxs = {};
    state.current = null;
    $("panels").textContent = "";
    $("tabs").textContent = "";
    $("work-view").hidden = true;
    $("warehouse").hidden = true;
    setLive(false);
    WP.showLoggedIn(false, "");
    if (was) $("badge").focus();
  }

  function start() {
    WP.showLoggedIn(true, `${state.auth.badge} · ${state.auth.role}`);
    $("work-view").hidden = false;
    state.wasLive = false;
    state.since = Date.now();
    setLive(false);
    renderWarehouses();
    connect();
    renderTabs();
  }

  function boot() {
    state.started = true;
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("lang").addEventListener("click", () => { words.toggle(); applyLanguage(); });
    $("warehouse").addEventListener("change", chooseWarehouse);
    window.addEventListener("hashchange", () => {
      const name = location.hash.slice(1);
      if (state.auth && name && name !== state.current) showPanel(name);
    });
    applyLanguage();
    const saved = savedAuth.load();
    if (saved && ROLES.includes(saved.role)) {
      state.auth = saved;
      start();
    } else {
      WP.showLoggedIn(false, "");
      $("badge").focus();
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else setTimeout(boot, 0);

  return { panel, el, panels: () => Object.keys(registered), show: showPanel };
})();
