// The console's Replenishment tab (CONSOLE-CONTRACT.md): pick faces below their minimum
// (the replenishment_needed alerts), the replenishment tasks (cancel an open one), what to
// buy when no reserve is left (purchase suggestions, CSV), and the faces' min / max.
// REST: /api/v1/replenishment/*; live: the `replenishment.changed` push reloads the tab.
"use strict";

(function () {
  const REFRESH_DEBOUNCE_MS = 300;
  const STATES = ["open", "done", "cancelled"];

  const words = {
    en: {
      title: "Replenishment",
      refresh: "Refresh",
      alerts: "Faces below their minimum",
      alerts_none: "Every pick face is at or above its minimum.",
      tasks: "Replenishment tasks",
      tasks_none: "No tasks in this state.",
      suggestions: "Purchase suggestions",
      suggestions_none: "Reserve stock covers every open task.",
      suggestions_csv: "Download CSV",
      levels: "Pick face levels",
      levels_none: "No pick faces match.",
      below_only: "Below minimum only",
      set_levels: "Set min / max",
      warehouse: "Warehouse", location: "Location", sku: "SKU", name: "Product",
      available: "Available", min: "Min", max: "Max", on_hand: "On hand",
      suggested: "To bring", moved: "Moved", reserve: "In reserve", assigned: "Replenisher",
      opened: "Opened", due: "Due", state: "State", task: "Task", since: "Waiting since",
      needed: "Needed", quantity: "To buy", reason: "Reason", action: "",
      cancel: "Cancel",
      cancel_confirm: "Cancel task {id} ({sku} at {location})? It opens again only when the face's stock changes.",
      cancelled: "Task {id} cancelled",
      levels_saved: "{sku} at {location}: min {min}, max {max}",
      "state.open": "Open", "state.done": "Done", "state.cancelled": "Cancelled",
      "reason.refilled": "refilled", "reason.moved": "all moved", "reason.supervisor": "by a supervisor",
      no_reserve: "no reserve: buy",
      overdue: "overdue",
      error: "Refused: {message}",
      offline: "No answer from the server",
      not_set: "—",
    },
    "zh-CN": {
      title: "补货",
      refresh: "刷新",
      alerts: "低于最低库存的拣货位",
      alerts_none: "所有拣货位均不低于最低库存。",
      tasks: "补货任务",
      tasks_none: "此状态下没有任务。",
      suggestions: "采购建议",
      suggestions_none: "存储库存足以满足所有补货任务。",
      suggestions_csv: "下载 CSV",
      levels: "拣货位库存上下限",
      levels_none: "没有匹配的拣货位。",
      below_only: "仅显示低于最低库存",
      set_levels: "设置最低 / 最高",
      warehouse: "仓库", location: "库位", sku: "SKU", name: "商品",
      available: "可用", min: "最低", max: "最高", on_hand: "在库",
      suggested: "应补数量", moved: "已移", reserve: "存储库存", assigned: "补货员",
      opened: "创建时间", due: "截止", state: "状态", task: "任务", since: "等待自",
      needed: "需要", quantity: "建议采购", reason: "原因", action: "",
      cancel: "取消",
      cancel_confirm: "取消任务 {id}（{location} 的 {sku}）？拣货位库存再次变化前不会重新打开。",
      cancelled: "任务 {id} 已取消",
      levels_saved: "{location} 的 {sku}：最低 {min}，最高 {max}",
      "state.open": "进行中", "state.done": "已完成", "state.cancelled": "已取消",
      "reason.refilled": "已补足", "reason.moved": "已全部移库", "reason.supervisor": "主管取消",
      no_reserve: "无存储库存：需采购",
      overdue: "已逾期",
      error: "被拒绝：{message}",
      offline: "服务器无响应",
      not_set: "—",
    },
  };

  let root = null;
  let taskState = "open";
  let belowOnly = true;
  let timer = null;
  let loading = null;
  let data = { alerts: [], tasks: [], suggestions: [], levels: [] };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "testid") node.dataset.testid = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null) node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function query(ctx, extra) {
    const params = new URLSearchParams(extra || {});
    if (ctx.warehouse) params.set("warehouse", ctx.warehouse);
    const text = params.toString();
    return text ? "?" + text : "";
  }

  function failed(ctx, res) {
    if (res.status === 0) ctx.toast("error", ctx.t("offline"));
    else ctx.toast("error", ctx.t("error", { message: (res.body && res.body.error
      && res.body.error.message) || res.status }));
  }

  async function load(ctx) {
    if (loading) return loading;
    loading = (async () => {
      const base = "/api/v1/replenishment/";
      const [alerts, tasks, suggestions, levels] = await Promise.all([
        ctx.api("GET", base + "alerts" + query(ctx)),
        ctx.api("GET", base + "tasks" + query(ctx, { state: taskState })),
        ctx.api("GET", base + "purchase-suggestions" + query(ctx)),
        ctx.api("GET", base + "levels" + query(ctx, belowOnly ? { below: "true" } : {})),
      ]);
      for (const res of [alerts, tasks, suggestions, levels]) {
        if (!res.ok) { failed(ctx, res); return; }
      }
      data = { alerts: alerts.body.alerts, tasks: tasks.body.tasks,
               suggestions: suggestions.body.suggestions, levels: levels.body.levels };
      render(ctx);
    })().finally(() => { loading = null; });
    return loading;
  }

  function soon(ctx) {
    clearTimeout(timer);
    timer = setTimeout(() => load(ctx), REFRESH_DEBOUNCE_MS);
  }

  function table(ctx, testid, columns, rows, emptyKey) {
    if (!rows.length) return el("p", { class: "empty muted", testid: testid + "-empty" },
      ctx.t(emptyKey));
    const head = el("tr", {}, ...columns.map(([key]) => el("th", {}, ctx.t(key))));
    const body = rows.map((row) => el("tr", { testid: testid + "-row" },
      ...columns.map(([key, cell]) => el("td", { "data-col": key }, cell(row)))));
    return el("table", { class: "grid", testid }, el("thead", {}, head), el("tbody", {}, ...body));
  }

  function age(ctx, iso) {
    if (!iso) return ctx.t("not_set");
    const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    return ctx.fmtAge(seconds);
  }

  function due(ctx, iso) {
    if (!iso) return ctx.t("not_set");
    const late = new Date(iso).getTime() < Date.now();
    return el("span", { class: late ? "badge error" : "muted" },
      late ? ctx.t("overdue") : ctx.fmtTime(iso));
  }

  async function cancelTask(ctx, task) {
    if (!window.confirm(ctx.t("cancel_confirm", task))) return;
    const res = await ctx.api("POST", `/api/v1/replenishment/tasks/${task.id}/cancel`);
    if (!res.ok) { failed(ctx, res); return; }
    ctx.toast("ok", ctx.t("cancelled", task));
    load(ctx);
  }

  async function saveLevels(ctx, form) {
    const f = new FormData(form);
    const level = { warehouse: String(f.get("warehouse")).trim(),
                    location: String(f.get("location")).trim(), sku: String(f.get("sku")).trim(),
                    min_qty: Number(f.get("min")), max_qty: Number(f.get("max") || 0) };
    const res = await ctx.api("POST", "/api/v1/replenishment/levels", { levels: [level] });
    if (!res.ok) { failed(ctx, res); return; }
    const face = res.body.levels[0];
    ctx.toast("ok", ctx.t("levels_saved", { sku: face.sku, location: face.location,
                                           min: face.min_qty, max: face.max_qty }));
    load(ctx);
  }

  function render(ctx) {
    if (!root) return;
    const t = ctx.t;
    const stateSelect = el("select", { testid: "replen-task-state", onchange: (e) => {
      taskState = e.target.value; load(ctx);
    } }, ...STATES.map((s) => {
      const o = el("option", { value: s }, t("state." + s));
      o.selected = s === taskState;
      return o;
    }));
    const below = el("input", { type: "checkbox", testid: "replen-below-only", onchange: (e) => {
      belowOnly = e.target.checked; load(ctx);
    } });
    below.checked = belowOnly;
    const levelForm = el("form", { class: "panel-toolbar", testid: "replen-levels-form",
      onsubmit: (e) => { e.preventDefault(); saveLevels(ctx, e.target); } },
      el("input", { name: "warehouse", required: "", maxlength: "32", size: "6",
                    placeholder: t("warehouse"), value: ctx.warehouse || "" }),
      el("input", { name: "location", required: "", maxlength: "64", size: "10",
                    placeholder: t("location") }),
      el("input", { name: "sku", required: "", maxlength: "64", size: "14", placeholder: t("sku") }),
      el("input", { name: "min", type: "number", min: "0", required: "", size: "5",
                    placeholder: t("min") }),
      el("input", { name: "max", type: "number", min: "0", size: "5", placeholder: t("max") }),
      el("button", { type: "submit", class: "primary", testid: "replen-levels-save" },
        t("set_levels")));

    const where = (r) => ctx.warehouse ? r.location : `${r.warehouse} ${r.location}`;
    root.replaceChildren(
      el("div", { class: "panel-toolbar" },
        el("button", { type: "button", testid: "replen-refresh", onclick: () => load(ctx) },
          t("refresh"))),
      el("h2", {}, t("alerts"), " ", el("span", { class: data.alerts.length ? "badge warn" : "badge ok",
        testid: "replen-alert-count" }, String(data.alerts.length))),
      table(ctx, "replen-alerts", [
        ["location", (a) => a.subject], ["available", (a) => `${a.available} / ${a.min_qty}`],
        ["since", (a) => age(ctx, a.created_at)], ["due", (a) => due(ctx, a.due_at)],
        ["task", (a) => "#" + a.task]], data.alerts, "alerts_none"),
      el("h2", {}, t("tasks"), " ", stateSelect),
      table(ctx, "replen-tasks", [
        ["task", (r) => "#" + r.id], ["location", where], ["sku", (r) => r.sku],
        ["available", (r) => `${r.available} / ${r.min_qty}`],
        ["max", (r) => r.max_qty || t("not_set")],
        ["suggested", (r) => String(r.suggested)], ["moved", (r) => String(r.moved)],
        ["reserve", (r) => r.state !== "open" ? "" : r.reserve_available > 0
          ? String(r.reserve_available)
          : el("span", { class: "badge error" }, t("no_reserve"))],
        ["assigned", (r) => r.assigned_to || t("not_set")],
        ["opened", (r) => ctx.fmtTime(r.created_at)],
        ["reason", (r) => r.close_reason ? t("reason." + r.close_reason) : ""],
        ["action", (r) => r.state === "open"
          ? el("button", { type: "button", testid: "replen-cancel", "data-task": String(r.id),
                           onclick: () => cancelTask(ctx, r) }, t("cancel")) : ""],
      ], data.tasks, "tasks_none"),
      el("h2", {}, t("suggestions"), " ",
        el("button", { type: "button", testid: "replen-csv", onclick: () =>
          ctx.download("/api/v1/replenishment/purchase-suggestions.csv" + query(ctx),
                       "purchase-suggestions.csv") }, t("suggestions_csv"))),
      table(ctx, "replen-suggestions", [
        ["warehouse", (s) => s.warehouse], ["sku", (s) => s.sku], ["name", (s) => s.name],
        ["quantity", (s) => el("b", {}, String(s.quantity))], ["needed", (s) => String(s.needed)],
        ["reserve", (s) => String(s.reserve_available)],
        ["location", (s) => s.locations.join(", ")], ["since", (s) => age(ctx, s.since)],
      ], data.suggestions, "suggestions_none"),
      el("h2", {}, t("levels"), " ", el("label", { class: "muted" }, below, " ", t("below_only"))),
      levelForm,
      table(ctx, "replen-levels", [
        ["location", where], ["sku", (f) => f.sku], ["on_hand", (f) => String(f.on_hand)],
        ["available", (f) => el("span", { class: f.below_min ? "badge warn" : "" },
          String(f.available))],
        ["min", (f) => String(f.min_qty)], ["max", (f) => f.max_qty || t("not_set")],
        ["task", (f) => f.open_task ? "#" + f.open_task : ""],
      ], data.levels, "levels_none"),
    );
  }

  WPConsole.panel("replenishment", {
    order: 70,
    roles: ["supervisor", "admin"],
    words,
    mount(section, ctx) {
      root = section;
      root.dataset.testid = "panel-replenishment";
      render(ctx);
    },
    show(ctx) { load(ctx); },
    relang(ctx) { render(ctx); },
    on: {
      "replenishment.changed"(_payload, ctx) { if (root) soon(ctx); },
    },
  });
})();
