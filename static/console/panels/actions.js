// Waves and holds (console panel "actions"): plan a wave, release or cancel the waves not
// done, release orders on hold, reprint a label, schedule cycle counts. Every action is the
// existing REST endpoint (POST /api/v1/waves, /waves/{id}/release|cancel,
// /orders/{id}/release, /print-jobs/{id}/reprint, /counts:schedule); the server decides and
// a refusal shows its own message. wave.changed and order.status pushes reload the lists.
"use strict";

(function () {
  const RELOAD_MS = 1500;
  const WAVE_STATES = ["draft", "released", "picking"];
  const WORDS = {
    en: {
      title: "Waves & holds",
      plan: "Plan a wave", warehouse: "Warehouse", max_orders: "Max orders", totes: "Totes per cart",
      plan_send: "Plan", planned: "Wave {id} planned: {orders} orders", planned_none: "Wave {id} planned with no order",
      waves: "Waves not done", no_waves: "No wave is planned or running",
      col_wave: "Wave", col_state: "State", col_orders: "Orders", col_carts: "Carts",
      col_progress: "Picked", col_created: "Planned", col_actions: "",
      release: "Release", cancel_wave: "Cancel", released: "Wave {id} released to the pickers",
      cancelled: "Wave {id} cancelled", confirm_cancel: "Cancel wave {id}? Its orders go back to ready.",
      "ws.draft": "Draft", "ws.released": "Released", "ws.picking": "Picking",
      holds: "Orders on hold", no_holds: "No order is on hold", col_order: "Order",
      col_hold: "Why held", release_order: "Release", order_released: "Order {ref} released",
      reprint: "Reprint a label", job: "Print job #", reason: "Why again",
      reprint_send: "Reprint", reprinted: "Label reprinted as job {id}",
      counts: "Schedule cycle counts", from: "From bin", to: "To bin", sku: "or every bin of SKU",
      counts_send: "Schedule", scheduled: "{n} count tasks opened, {m} already open",
      counts_what: "Give a range of bins or a SKU",
    },
    "zh-CN": {
      title: "波次与暂挂",
      plan: "规划波次", warehouse: "仓库", max_orders: "最多订单数", totes: "每车周转箱",
      plan_send: "规划", planned: "波次 {id} 已规划：{orders} 个订单", planned_none: "波次 {id} 已规划，但没有订单",
      waves: "未完成的波次", no_waves: "没有已规划或进行中的波次",
      col_wave: "波次", col_state: "状态", col_orders: "订单", col_carts: "拣货车",
      col_progress: "已拣", col_created: "规划时间", col_actions: "",
      release: "下发", cancel_wave: "取消", released: "波次 {id} 已下发给拣货员",
      cancelled: "波次 {id} 已取消", confirm_cancel: "取消波次 {id}？其订单将回到待处理。",
      "ws.draft": "草稿", "ws.released": "已下发", "ws.picking": "拣货中",
      holds: "暂挂订单", no_holds: "没有暂挂的订单", col_order: "订单",
      col_hold: "暂挂原因", release_order: "解除暂挂", order_released: "订单 {ref} 已解除暂挂",
      reprint: "重新打印面单", job: "打印任务号", reason: "重打原因",
      reprint_send: "重新打印", reprinted: "面单已重新打印（任务 {id}）",
      counts: "安排盘点", from: "起始库位", to: "结束库位", sku: "或该 SKU 的所有库位",
      counts_send: "安排", scheduled: "已开 {n} 个盘点任务，{m} 个已存在",
      counts_what: "请填写库位范围或 SKU",
    },
  };
  const el = WPConsole.el;
  const S = { root: null, ctx: null, waves: [], holds: [], shown: false, timer: null,
              lastLoad: 0, loading: false, again: false, busy: false };

  async function load() {
    if (!S.ctx || !S.ctx.user) return;
    if (S.loading) { S.again = true; return; }
    S.loading = true;
    S.lastLoad = Date.now();
    try {
      const [held, ...waves] = await Promise.all([
        S.ctx.api("GET", "/api/v1/orders?status=on_hold&limit=200"),
        ...WAVE_STATES.map((s) => S.ctx.api("GET", `/api/v1/waves?status=${s}&limit=100`))]);
      if (!S.ctx.user) return;
      const bad = [held, ...waves].find((r) => !r.ok);
      if (bad) {
        if (bad.status !== 401) S.ctx.toast("error", S.ctx.refusal(bad.status, bad.body));
        return;
      }
      const wh = S.ctx.warehouse;
      S.holds = (held.body.orders || []).filter((o) => !wh || !o.warehouse || o.warehouse === wh);
      S.waves = waves.flatMap((r) => r.body.waves || []).filter((w) => !wh || w.warehouse === wh)
        .sort((a, b) => a.id - b.id);
      renderLists();
    } finally {
      S.loading = false;
      if (S.again) { S.again = false; soon(); }
    }
  }

  function soon() {
    if (!S.shown || S.timer) return;
    const wait = Math.max(0, RELOAD_MS - (Date.now() - S.lastLoad));
    S.timer = setTimeout(() => { S.timer = null; load(); }, wait);
  }

  /** One POST; a toast with `done(body)` or the server's refusal; the lists again. */
  async function post(path, body, done) {
    if (S.busy) return null;
    S.busy = true;
    let res;
    try {
      res = await S.ctx.api("POST", path, body);
      if (res.ok) S.ctx.toast("ok", done(res.body));
      else if (res.status !== 401) S.ctx.toast("error", S.ctx.refusal(res.status, res.body));
    } finally {
      S.busy = false;
    }
    await load();
    return res;
  }

  function formData(form) {
    const data = {};
    for (const [k, v] of new FormData(form).entries()) {
      const s = String(v).trim();
      if (s !== "") data[k] = /^(max_orders|totes)$/.test(k) ? Number(s) : s;
    }
    return data;
  }

  function defaultWarehouse() {
    const ws = S.ctx.warehouses || [];
    return S.ctx.warehouse || (ws[0] && ws[0].code) || "";
  }

  function warehouseInput(testid) {
    const ws = S.ctx.warehouses || [];
    return el("label", {}, S.ctx.t("warehouse"), ws.length
      ? el("select", { name: "warehouse", "data-testid": testid },
        ws.map((w) => el("option", { value: w.code, selected: w.code === defaultWarehouse(), text: w.code })))
      : el("input", { name: "warehouse", required: true, maxlength: 32, value: defaultWarehouse(), "data-testid": testid }));
  }

  function render() {
    if (!S.root) return;
    const { t } = S.ctx;
    S.root.textContent = "";
    S.root.append(el("div", { class: "panel-toolbar" }, el("span", { class: "spacer" }),
      el("button", { type: "button", "data-testid": "actions-refresh", text: t("refresh"), onclick: () => load() })));
    S.root.append(el("div", { class: "grid-2" }, wavesCard(), holdsCard(), reprintCard(), countsCard()));
    renderLists();
  }

  /** Only the lists: a form being filled in keeps what was typed when a push reloads them. */
  function renderLists() {
    if (!S.root) return;
    const waves = S.root.querySelector("[data-list=waves]");
    const holds = S.root.querySelector("[data-list=holds]");
    if (waves) waves.replaceChildren(wavesList());
    if (holds) holds.replaceChildren(holdsList());
  }

  function wavesCard() {
    const { t } = S.ctx;
    const plan = el("form", { class: "inline", "data-testid": "plan-form", onsubmit: (ev) => {
      ev.preventDefault();
      post("/api/v1/waves", formData(ev.target), (w) =>
        t(w.orders ? "planned" : "planned_none", { id: w.id, orders: w.orders }));
    } }, warehouseInput("plan-warehouse"),
      el("label", {}, t("max_orders"), el("input", { name: "max_orders", type: "number", min: 1, max: 10000, style: "width:6rem" })),
      el("label", {}, t("totes"), el("input", { name: "totes", type: "number", min: 1, max: 64, style: "width:5rem" })),
      el("button", { type: "submit", class: "primary", "data-testid": "plan-send", text: t("plan_send") }));
    return el("section", { class: "card span-all", "data-testid": "actions-waves" }, el("h3", { text: t("plan") }), plan,
      el("h3", { style: "margin-top:.8rem", text: t("waves") }), el("div", { "data-list": "waves" }));
  }

  function wavesList() {
    const { t } = S.ctx;
    const rows = S.waves.map((w) => {
      const units = w.carts.reduce((n, c) => n + (c.units || 0), 0);
      const picked = w.carts.reduce((n, c) => n + (c.picked || 0), 0);
      return el("tr", { "data-wave": w.id, "data-status": w.status },
        el("td", { text: `#${w.id} ${w.warehouse}` }),
        el("td", {}, el("span", { class: "badge", "data-testid": "wave-status", text: t("ws." + w.status) })),
        el("td", { class: "num", text: String(w.orders) }), el("td", { class: "num", text: String(w.carts.length) }),
        el("td", { class: "num", text: `${picked}/${units}` }),
        el("td", { text: S.ctx.fmtTime(w.created_at) }),
        el("td", {},
          w.status === "draft" ? el("button", { type: "button", class: "primary", "data-testid": "wave-release",
            text: t("release"), onclick: () => post(`/api/v1/waves/${w.id}/release`, {}, () => t("released", { id: w.id })) }) : null,
          " ",
          el("button", { type: "button", class: "warn", "data-testid": "wave-cancel", text: t("cancel_wave"),
            onclick: () => { if (confirm(t("confirm_cancel", { id: w.id }))) post(`/api/v1/waves/${w.id}/cancel`, {}, () => t("cancelled", { id: w.id })); } })));
    });
    return rows.length ? el("table", { class: "grid", "data-testid": "waves-list" }, el("thead", {}, el("tr", {},
        ["col_wave", "col_state", "col_orders", "col_carts", "col_progress", "col_created", "col_actions"].map((k) => el("th", { text: t(k) })))),
      el("tbody", {}, rows)) : el("p", { class: "empty", text: t("no_waves") });
  }

  function holdsCard() {
    return el("section", { class: "card", "data-testid": "actions-holds" }, el("h3", { text: S.ctx.t("holds") }),
      el("div", { "data-list": "holds" }));
  }

  function holdsList() {
    const { t } = S.ctx;
    const rows = S.holds.map((o) => el("tr", { "data-order": o.ref },
      el("td", { text: o.ref }), el("td", { text: o.warehouse || "" }),
      el("td", { text: [o.hold_code, o.hold_reason].filter(Boolean).join(": ") }),
      el("td", {}, el("button", { type: "button", class: "primary", "data-testid": "order-release", text: t("release_order"),
        onclick: () => post(`/api/v1/orders/${o.id}/release`, {}, () => t("order_released", { ref: o.ref })) }))));
    return rows.length ? el("table", { class: "grid", "data-testid": "holds-list" }, el("thead", {}, el("tr", {},
        ["col_order", "warehouse", "col_hold", "col_actions"].map((k) => el("th", { text: t(k) })))),
      el("tbody", {}, rows)) : el("p", { class: "empty", text: t("no_holds") });
  }

  function reprintCard() {
    const { t } = S.ctx;
    return el("section", { class: "card", "data-testid": "actions-reprint" }, el("h3", { text: t("reprint") }),
      el("form", { class: "inline", onsubmit: (ev) => {
        ev.preventDefault();
        const d = formData(ev.target);
        post(`/api/v1/print-jobs/${encodeURIComponent(d.job || "")}/reprint`, { reason: d.reason || "" },
             (job) => t("reprinted", { id: job.id })).then((res) => { if (res && res.ok) ev.target.reset(); });
      } },
      el("label", {}, t("job"), el("input", { name: "job", required: true, inputmode: "numeric", pattern: "[0-9]+", style: "width:7rem" })),
      el("label", {}, t("reason"), el("input", { name: "reason", required: true, maxlength: 500 })),
      el("button", { type: "submit", class: "primary", text: t("reprint_send") })));
  }

  function countsCard() {
    const { t } = S.ctx;
    return el("section", { class: "card", "data-testid": "actions-counts" }, el("h3", { text: t("counts") }),
      el("form", { class: "inline", onsubmit: (ev) => {
        ev.preventDefault();
        const d = formData(ev.target);
        if (!d.sku && !(d.from_location && d.to_location)) { S.ctx.toast("warn", t("counts_what")); return; }
        if (d.sku) { delete d.from_location; delete d.to_location; }
        post("/api/v1/counts:schedule", d, (r) => t("scheduled", { n: r.created.length, m: r.already_open.length }));
      } }, warehouseInput("count-warehouse"),
      el("label", {}, t("from"), el("input", { name: "from_location", maxlength: 32, style: "width:8rem" })),
      el("label", {}, t("to"), el("input", { name: "to_location", maxlength: 32, style: "width:8rem" })),
      el("label", {}, t("sku"), el("input", { name: "sku", maxlength: 64, style: "width:9rem" })),
      el("button", { type: "submit", class: "primary", text: t("counts_send") })));
  }

  WPConsole.panel("actions", {
    order: 30,
    roles: ["supervisor", "admin"],
    words: WORDS,
    mount(root, ctx) { S.root = root; S.ctx = ctx; render(); },
    show(ctx) { S.ctx = ctx; S.shown = true; if (!S.root.firstChild) render(); load(); },
    hide() { S.shown = false; },
    relang() { render(); },
    on: {
      warehouse: () => { if (S.root) render(); },
      "wave.changed": () => soon(),
      "order.status": () => soon(),
      connect: () => { if (S.shown) load(); },
    },
  });
})();
