// The console's Stock tab (API: GET /api/v1/stock?sku=, GET /api/v1/stock/bin,
// GET /api/v1/stock/bin/movements, POST /api/v1/stock/adjustments): a SKU's stock in every
// bin, one bin's SKUs with on hand / reserved / available and a pending count, the bin's
// movements, and adjustments with a reason. An adjustment keeps its client key until the
// server answers, so a retry after a lost answer cannot count twice.
"use strict";

(function () {
  const REASONS = ["count_correction", "damaged", "expired", "lost", "found", "theft",
                   "returned_to_supplier", "other"];
  const WORDS = {
    en: {
      title: "Stock",
      by_sku: "SKU", by_bin: "Bin", warehouse: "Warehouse", sku_placeholder: "SKU",
      bin_placeholder: "Bin, e.g. A-01-02-3", show: "Show", more: "More",
      col_warehouse: "Warehouse", col_location: "Bin", col_sku: "SKU", col_name: "Product",
      col_on_hand: "On hand", col_reserved: "Reserved", col_available: "Available",
      col_min: "Min", col_state: "State", col_time: "When", col_what: "What", col_who: "Who",
      col_change: "Change", col_detail: "Detail",
      free: "free", blocked: "blocked: {why}", count_pending: "count #{id} pending",
      bin_title: "Bin {location} ({warehouse})", sku_title: "{sku} in every bin",
      no_stock: "No stock recorded for this SKU.", empty_bin: "Nothing in this bin.",
      movements: "Movements", no_movements: "No movements yet.",
      adjust: "Adjust", adjust_title: "Adjust {sku} in {location}", mode_counted: "Counted",
      mode_delta: "Change by (+/−)", quantity: "Quantity", reason: "Reason", note: "Note",
      save: "Save adjustment", cancel: "Cancel",
      note_required: "Say why in the note.",
      adjusted: "{sku} at {location}: {before} → {after}",
      adjusted_backorders: "{sku} at {location}: {before} → {after}; {n} backordered order(s) reserved",
      below_reserved: "Refused: {message}",
      failed: "The server refused: {message}", offline: "No answer from the server; try again (the same adjustment is kept).",
      "r.count_correction": "Count correction", "r.damaged": "Damaged", "r.expired": "Expired",
      "r.lost": "Lost", "r.found": "Found", "r.theft": "Theft",
      "r.returned_to_supplier": "Returned to supplier", "r.other": "Other",
    },
    "zh-CN": {
      title: "库存",
      by_sku: "SKU", by_bin: "库位", warehouse: "仓库", sku_placeholder: "SKU",
      bin_placeholder: "库位，如 A-01-02-3", show: "查看", more: "更多",
      col_warehouse: "仓库", col_location: "库位", col_sku: "SKU", col_name: "商品",
      col_on_hand: "在库", col_reserved: "已预留", col_available: "可用",
      col_min: "最低", col_state: "状态", col_time: "时间", col_what: "事件", col_who: "操作人",
      col_change: "变化", col_detail: "详情",
      free: "正常", blocked: "已锁定：{why}", count_pending: "盘点 #{id} 待完成",
      bin_title: "库位 {location}（{warehouse}）", sku_title: "{sku} 的各库位库存",
      no_stock: "此 SKU 没有库存记录。", empty_bin: "此库位为空。",
      movements: "库存变动", no_movements: "尚无变动。",
      adjust: "调整", adjust_title: "调整 {location} 的 {sku}", mode_counted: "盘点数量",
      mode_delta: "增减（+/−）", quantity: "数量", reason: "原因", note: "备注",
      save: "保存调整", cancel: "取消",
      note_required: "请在备注中说明原因。",
      adjusted: "{location} 的 {sku}：{before} → {after}",
      adjusted_backorders: "{location} 的 {sku}：{before} → {after}；已为 {n} 个缺货订单预留",
      below_reserved: "已拒绝：{message}",
      failed: "服务器拒绝：{message}", offline: "服务器无响应，请重试（本次调整已保留）。",
      "r.count_correction": "盘点更正", "r.damaged": "损坏", "r.expired": "过期",
      "r.lost": "丢失", "r.found": "找到", "r.theft": "被盗",
      "r.returned_to_supplier": "退回供应商", "r.other": "其他",
    },
  };

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") el.textContent = String(v);
      else if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
    return el;
  }

  function newKey() {
    return (window.WP && WP.newId) ? WP.newId() : String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }

  const state = { root: null, sku: null, bin: null, moves: [], movesCursor: null,
                  adjusting: null, warehouse: "", skuInput: "", binInput: "" };

  async function call(ctx, method, path, body, quiet) {
    try {
      const r = await ctx.api(method, path, body);
      if (!r.ok && !quiet) {
        const message = (r.body && r.body.error && r.body.error.message) || String(r.status);
        ctx.toast("error", r.status ? ctx.t("failed", { message }) : ctx.t("offline"));
      }
      return r;
    } catch (e) {
      if (!quiet) ctx.toast("error", ctx.t("offline"));
      return { status: 0, ok: false, body: null };
    }
  }

  function grid(testid, heads, rows, ctx) {
    return h("table", { class: "grid", "data-testid": testid },
      h("thead", {}, h("tr", {}, heads.map((k) => h("th", { text: ctx.t(k) })))),
      h("tbody", {}, rows));
  }

  function render(ctx) {
    const root = state.root;
    root.replaceChildren();
    const skuIn = h("input", { "data-testid": "stock-sku", maxlength: 64, placeholder: ctx.t("sku_placeholder") });
    skuIn.value = state.skuInput;
    const whIn = h("input", { "data-testid": "stock-warehouse", maxlength: 32, size: 8,
                              placeholder: ctx.t("warehouse") });
    whIn.value = state.warehouse;
    const binIn = h("input", { "data-testid": "stock-bin", maxlength: 32, placeholder: ctx.t("bin_placeholder") });
    binIn.value = state.binInput;
    root.append(
      h("form", { class: "panel-toolbar", "data-testid": "stock-sku-form", onsubmit: (ev) => {
          ev.preventDefault(); state.skuInput = skuIn.value.trim(); loadSku(ctx, state.skuInput); } },
        h("label", { text: ctx.t("by_sku") }), skuIn,
        h("button", { type: "submit", "data-testid": "stock-sku-go", text: ctx.t("show") })),
      h("form", { class: "panel-toolbar", "data-testid": "stock-bin-form", onsubmit: (ev) => {
          ev.preventDefault(); state.warehouse = whIn.value.trim(); state.binInput = binIn.value.trim();
          loadBin(ctx, state.warehouse, state.binInput); } },
        h("label", { text: ctx.t("by_bin") }), whIn, binIn,
        h("button", { type: "submit", "data-testid": "stock-bin-go", text: ctx.t("show") })));
    if (state.sku) root.append(renderSku(ctx));
    if (state.bin) root.append(renderBin(ctx));
  }

  function stateBadge(ctx, blocked) {
    return blocked ? h("span", { class: "badge warn", text: ctx.t("blocked", { why: blocked }) })
      : h("span", { class: "badge ok", text: ctx.t("free") });
  }

  function renderSku(ctx) {
    const s = state.sku;
    const box = h("div", { "data-testid": "stock-sku-result" }, h("h3", { text: ctx.t("sku_title", { sku: s.sku }) }));
    if (!s.locations.length) {
      box.append(h("p", { class: "empty", text: ctx.t("no_stock") }));
      return box;
    }
    box.append(grid("stock-sku-table", ["col_warehouse", "col_location", "col_on_hand", "col_reserved",
                                        "col_available", "col_min", "col_state"],
      s.locations.map((l) => h("tr", { "data-testid": "stock-sku-row", "data-location": l.location,
                                         "data-warehouse": l.warehouse },
        h("td", { text: l.warehouse }),
        h("td", {}, h("a", { href: "#", "data-testid": "stock-sku-bin", text: l.location,
                             onclick: (ev) => { ev.preventDefault(); state.warehouse = l.warehouse;
                               state.binInput = l.location; loadBin(ctx, l.warehouse, l.location); } })),
        h("td", { text: l.on_hand }), h("td", { text: l.reserved }), h("td", { text: l.available }),
        h("td", { text: l.min_qty }), h("td", {}, stateBadge(ctx, l.blocked)))), ctx));
    return box;
  }

  function renderBin(ctx) {
    const b = state.bin;
    const box = h("div", { "data-testid": "stock-bin-result" },
      h("h3", { "data-testid": "stock-bin-title", text: ctx.t("bin_title", b) }),
      h("p", {}, stateBadge(ctx, b.blocked), " ",
        b.count_pending ? h("span", { class: "badge warn", "data-testid": "stock-count-pending",
                                      text: ctx.t("count_pending", b.count_pending) }) : null));
    if (!b.items.length) box.append(h("p", { class: "empty", text: ctx.t("empty_bin") }));
    else {
      box.append(grid("stock-bin-table", ["col_sku", "col_name", "col_on_hand", "col_reserved",
                                          "col_available", "col_min", ""],
        b.items.map((i) => h("tr", { "data-testid": "stock-bin-row", "data-sku": i.sku },
          h("td", { text: i.sku }), h("td", { text: i.name }),
          h("td", { "data-testid": "on-hand", text: i.on_hand }),
          h("td", { "data-testid": "reserved", text: i.reserved }),
          h("td", { "data-testid": "available", text: i.available }), h("td", { text: i.min_qty }),
          h("td", {}, h("button", { type: "button", "data-testid": "adjust-open", text: ctx.t("adjust"),
                                    onclick: () => openAdjust(ctx, i) })))), ctx));
    }
    if (state.adjusting) box.append(renderAdjust(ctx));
    box.append(h("h4", { text: ctx.t("movements") }));
    if (!state.moves.length) box.append(h("p", { class: "empty", text: ctx.t("no_movements") }));
    else {
      box.append(grid("stock-moves", ["col_time", "col_what", "col_sku", "col_change", "col_who", "col_detail"],
        state.moves.map((m) => h("tr", { "data-testid": "move-row", "data-action": m.action },
          h("td", { text: m.at ? ctx.fmtTime(m.at) : "" }), h("td", { text: m.action }),
          h("td", { text: m.sku || "" }), h("td", { text: change(m) }), h("td", { text: m.actor }),
          h("td", { class: "muted", text: moveDetail(ctx, m) }))), ctx));
      if (state.movesCursor) {
        box.append(h("button", { type: "button", "data-testid": "moves-more", text: ctx.t("more"),
                                 onclick: () => loadMoves(ctx, true) }));
      }
    }
    return box;
  }

  function change(m) {
    const val = (x) => (x && typeof x === "object") ? (x.on_hand ?? x.available) : x;
    const a = val(m.before), b = val(m.after);
    return (a === undefined || a === null || a === "") && (b === undefined || b === null || b === "") ? ""
      : `${a ?? ""} → ${b ?? ""}`;
  }

  function moveDetail(ctx, m) {
    const d = (m.detail && typeof m.detail === "object") ? m.detail : {};
    const parts = [];
    if (d.reason) parts.push(ctx.t("r." + d.reason) === "r." + d.reason ? d.reason : ctx.t("r." + d.reason));
    if (d.note) parts.push(d.note);
    if (d.order_line) parts.push("line " + d.order_line);
    if (d.quantity) parts.push("× " + d.quantity);
    return parts.join(" · ");
  }

  function openAdjust(ctx, item) {
    state.adjusting = { sku: item.sku, key: newKey(), mode: "counted", qty: String(item.on_hand),
                        reason: "count_correction", note: "", error: "" };
    render(ctx);
    const q = state.root.querySelector("[data-testid='adjust-qty']");
    if (q) q.focus();
  }

  function renderAdjust(ctx) {
    const a = state.adjusting;
    const mode = h("select", { "data-testid": "adjust-mode" },
      h("option", { value: "counted", text: ctx.t("mode_counted") }),
      h("option", { value: "delta", text: ctx.t("mode_delta") }));
    mode.value = a.mode;
    const qty = h("input", { type: "number", step: 1, "data-testid": "adjust-qty" });
    qty.value = a.qty;
    const reason = h("select", { "data-testid": "adjust-reason" },
      REASONS.map((r) => h("option", { value: r, text: ctx.t("r." + r) })));
    reason.value = a.reason;
    const note = h("input", { "data-testid": "adjust-note", maxlength: 1000 });
    note.value = a.note;
    // what is typed is kept (a re-render, the language switch) and a changed adjustment is
    // a new one: a new client key
    const edit = () => {
      const changed = mode.value !== a.mode || qty.value !== a.qty || reason.value !== a.reason
        || note.value !== a.note;
      Object.assign(a, { mode: mode.value, qty: qty.value, reason: reason.value, note: note.value });
      if (changed) a.key = newKey();
    };
    for (const el of [mode, qty, reason, note]) el.addEventListener("change", edit);
    note.addEventListener("input", edit);
    qty.addEventListener("input", edit);
    return h("form", { class: "panel-toolbar", "data-testid": "adjust-form",
                       onsubmit: (ev) => { ev.preventDefault(); edit(); saveAdjust(ctx); } },
      h("b", { text: ctx.t("adjust_title", { sku: a.sku, location: state.bin.location }) }),
      mode, h("label", { text: ctx.t("quantity") }), qty,
      h("label", { text: ctx.t("reason") }), reason, h("label", { text: ctx.t("note") }), note,
      h("button", { type: "submit", class: "primary", "data-testid": "adjust-save", text: ctx.t("save") }),
      h("button", { type: "button", "data-testid": "adjust-cancel", text: ctx.t("cancel"),
                    onclick: () => { state.adjusting = null; render(ctx); } }),
      a.error ? h("p", { class: "badge error", "data-testid": "adjust-error", text: a.error }) : null);
  }

  async function saveAdjust(ctx) {
    const a = state.adjusting;
    const n = Number(a.qty);
    if (a.reason === "other" && !a.note.trim()) { a.error = ctx.t("note_required"); render(ctx); return; }
    const body = { client_key: a.key, warehouse: state.bin.warehouse, location: state.bin.location,
                   sku: a.sku, reason: a.reason };
    if (a.note.trim()) body.note = a.note.trim();
    body[a.mode] = Number.isInteger(n) ? n : a.qty;
    const r = await call(ctx, "POST", "/api/v1/stock/adjustments", body, true);
    if (r.ok) {
      const d = r.body;
      ctx.toast("ok", ctx.t(d.orders_reserved ? "adjusted_backorders" : "adjusted",
                            { sku: d.sku, location: d.location, before: d.before, after: d.after, n: d.orders_reserved }));
      state.adjusting = null;
      await loadBin(ctx, state.bin.warehouse, state.bin.location);
      return;
    }
    const err = r.body && r.body.error;
    if (!r.status) a.error = ctx.t("offline");                 // the key is kept for the retry
    else if (err && err.code === "below_reserved") a.error = ctx.t("below_reserved", { message: err.message });
    else a.error = ctx.t("failed", { message: (err && err.message) || String(r.status) });
    render(ctx);
  }

  async function loadSku(ctx, sku) {
    if (!sku) return;
    const r = await call(ctx, "GET", "/api/v1/stock?sku=" + encodeURIComponent(sku));
    if (!r.ok) return;
    state.sku = r.body;
    render(ctx);
  }

  async function loadBin(ctx, warehouse, location) {
    if (!location) return;
    const q = new URLSearchParams({ location });
    if (warehouse) q.set("warehouse", warehouse);
    const r = await call(ctx, "GET", "/api/v1/stock/bin?" + q.toString());
    if (!r.ok) return;
    if (!state.bin || state.bin.location !== r.body.location || state.bin.warehouse !== r.body.warehouse) {
      state.adjusting = null;
    }
    state.bin = r.body;
    state.warehouse = r.body.warehouse;
    state.binInput = r.body.location;
    await loadMoves(ctx, false);
  }

  async function loadMoves(ctx, more) {
    const q = new URLSearchParams({ location: state.bin.location, warehouse: state.bin.warehouse });
    if (more && state.movesCursor) q.set("cursor", state.movesCursor);
    const r = await call(ctx, "GET", "/api/v1/stock/bin/movements?" + q.toString());
    if (r.ok) {
      state.moves = more ? state.moves.concat(r.body.movements) : r.body.movements;
      state.movesCursor = r.body.next_cursor;
    }
    render(ctx);
  }

  window.WPConsole.panel("stock", {
    order: 50,
    roles: ["supervisor", "admin"],
    words: WORDS,
    mount(root, ctx) {
      state.root = root;
      root.dataset.testid = "panel-stock";
      state.warehouse = ctx.warehouse || "";
      render(ctx);
    },
    show(ctx) {
      if (state.bin && !state.adjusting) loadBin(ctx, state.bin.warehouse, state.bin.location);
    },
    /** ctx.open("stock", {sku}) or {warehouse, location}. */
    open(arg, ctx) {
      if (arg && arg.location) { state.binInput = arg.location; return loadBin(ctx, arg.warehouse || "", arg.location); }
      if (arg && arg.sku) { state.skuInput = arg.sku; return loadSku(ctx, arg.sku); }
      return undefined;
    },
    relang(ctx) { if (state.root) render(ctx); },
  });
})();
