// The test harness's stand-in for the console shell's panel API (CONSOLE-CONTRACT.md):
// WPConsole.panel(name, def) and the one ctx object. Login comes in the URL hash
// (#token=…&role=…&badge=…&lang=…&tab=…): the tests log in over REST first. No socket:
// ctx.socket is null and ctx.live false (the panels under test use REST only).
"use strict";

(function () {
  const params = new URLSearchParams(location.hash.slice(1));
  const panels = {};
  const mounted = {};
  let current = null;

  function fill(text, values) {
    for (const [k, v] of Object.entries(values || {})) text = text.split("{" + k + "}").join(String(v ?? ""));
    return text;
  }

  function ctxFor(name) {
    const ctx = {
      lang: params.get("lang") || "en",
      user: { badge: params.get("badge") || "", role: params.get("role") || "", name: "" },
      warehouse: params.get("warehouse") || null,
      socket: null,
      live: false,
      async api(method, path, body) {
        const r = await WP.fetchJson(params.get("token"), method, path, body);
        if (r.status === 401) toast("error", "logged out (401)");
        return r;
      },
      async download(path, filename) {
        const resp = await fetch(path, { headers: { Authorization: "Bearer " + params.get("token") } });
        const a = document.createElement("a");
        a.href = URL.createObjectURL(await resp.blob());
        a.download = filename;
        a.click();
      },
      t(key, values) {
        const words = panels[name].words || {};
        const own = words[ctx.lang] || {};
        const text = own[key] ?? (words.en || {})[key] ?? key;
        return fill(text, values);
      },
      toast,
      open(target, arg) {
        show(target);
        if (panels[target] && panels[target].open) panels[target].open(arg, contexts[target]);
      },
      fmtTime(iso) { return new Date(iso).toLocaleString(ctx.lang); },
      fmtAge(seconds) { return Math.round(seconds / 60) + " min"; },
    };
    return ctx;
  }

  const contexts = {};

  function toast(kind, text) {
    const box = document.createElement("div");
    box.dataset.testid = "toast";
    box.dataset.kind = kind;
    box.textContent = text;
    document.getElementById("toasts").append(box);
  }

  function show(name) {
    if (!panels[name]) return;
    if (current && current !== name && panels[current].hide) panels[current].hide(contexts[current]);
    current = name;
    for (const [n, def] of Object.entries(panels)) {
      def.section.hidden = n !== name;
      def.tab.setAttribute("aria-selected", String(n === name));
    }
    const def = panels[name];
    if (!mounted[name]) { mounted[name] = true; def.mount(def.section, contexts[name]); }
    else if (def.show) def.show(contexts[name]);
  }

  window.WPConsole = {
    panel(name, def) {
      const role = params.get("role");
      if (def.roles && !def.roles.includes(role)) return;   // no tab for this role
      panels[name] = def;
      contexts[name] = ctxFor(name);
      def.section = document.createElement("section");
      def.section.className = "panel";
      def.section.hidden = true;
      document.getElementById("panels").append(def.section);
      def.tab = document.createElement("button");
      def.tab.type = "button";
      def.tab.dataset.testid = "tab-" + name;
      def.tab.textContent = contexts[name].t("title");
      def.tab.addEventListener("click", () => show(name));
      document.getElementById("tabs").append(def.tab);
    },
  };

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("lang").addEventListener("click", () => {
      for (const [name, def] of Object.entries(panels)) {
        const ctx = contexts[name];
        ctx.lang = ctx.lang === "en" ? "zh-CN" : "en";
        def.tab.textContent = ctx.t("title");
        if (mounted[name] && def.relang) def.relang(ctx);
      }
    });
  });
  // deferred panel scripts have run by the load event
  window.addEventListener("load", () => {
    document.body.dataset.ready = "1";
    if (params.get("tab")) show(params.get("tab"));
  });
})();
