// The harness's WPConsole: panels register; the one named in the URL's #panel=<name> is
// mounted and shown; ctx as CONSOLE-CONTRACT.md describes it. The login (a supervisor's
// session token) comes from sessionStorage "harness.token", set by the test.
"use strict";

(function () {
  const panels = {};
  const token = sessionStorage.getItem("harness.token");
  const lang = { value: sessionStorage.getItem("harness.lang") || "en" };
  let mounted = null;

  const ctx = {
    get lang() { return lang.value; },
    user: { badge: "harness", role: "supervisor", name: "Harness" },
    warehouse: null,
    live: false,
    socket: null,
    async api(method, path, body) {
      const headers = { Authorization: "Bearer " + token };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      let resp;
      try {
        resp = await fetch(path, { method, headers, cache: "no-store",
                                   body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (e) {
        return { status: 0, ok: false, body: null };
      }
      return { status: resp.status, ok: resp.ok, body: await resp.json().catch(() => null) };
    },
    async download(path, filename) {
      const resp = await fetch(path, { headers: { Authorization: "Bearer " + token } });
      const url = URL.createObjectURL(await resp.blob());
      const a = document.createElement("a");
      a.href = url; a.download = filename; document.body.append(a); a.click(); a.remove();
    },
    t(key, params) {
      const own = mounted && mounted.words[lang.value] || {};
      const text = key in own ? own[key] : key;
      return text.replace(/\{(\w+)\}/g, (m, k) => (params && k in params ? String(params[k]) : m));
    },
    toast(kind, text) {
      const li = document.createElement("li");
      li.dataset.kind = kind;
      li.textContent = text;
      document.getElementById("toasts").append(li);
    },
    open() {},
    fmtTime(iso) { return new Date(iso).toLocaleString(lang.value); },
    fmtAge(seconds) { return Math.round(seconds / 60) + " min"; },
  };

  window.WPConsole = {
    panel(name, def) {
      panels[name] = def;
      if (name === (location.hash.match(/panel=([\w-]+)/) || [])[1]) start(def);
    },
  };

  // the panel under test, as the shell's <script src defer> tag loads it
  const wanted = (location.hash.match(/panel=([\w-]+)/) || [])[1];
  const tag = document.createElement("script");
  tag.src = `/console/panels/${wanted}.js`;
  document.body.append(tag);

  function start(def) {
    mounted = def;
    const section = document.createElement("section");
    document.getElementById("panels").append(section);
    document.getElementById("tabs").textContent = ctx.t("title");
    def.mount(section, ctx);
    if (def.show) def.show(ctx);
    // long polling here, where the shell uses the WebSocket transport: with the harness's
    // files served through Playwright's request routing, Chromium's WebSocket to the same
    // server failed ("websocket error", no request reached it); the panel sees no difference
    const socket = io("/console", { transports: ["polling"], auth: { token } });
    ctx.socket = socket;
    socket.on("connect", () => {
      ctx.live = true;
      document.getElementById("live").textContent = "live";
    });
    socket.on("disconnect", () => { ctx.live = false; });
    socket.on("connect_error", (err) => {
      document.getElementById("live").textContent = "refused: " + JSON.stringify(err.data || err.message);
    });
    for (const [event, fn] of Object.entries(def.on || {})) {
      socket.on(event, (payload) => fn(payload, ctx));
    }
    document.getElementById("lang").addEventListener("click", () => {
      lang.value = lang.value === "en" ? "zh-CN" : "en";
      document.getElementById("tabs").textContent = ctx.t("title");
      if (def.relang) def.relang(ctx);
    });
  }
})();
