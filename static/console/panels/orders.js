// The console's Orders tab (docs: CONSOLE contract; API: GET /api/v1/orders/search and
// /api/v1/orders/{id}/timeline): one box finds orders by ref, customer e-mail, phone, the
// start of the name, tracking number or SKU; a row opens the order's whole timeline.
"use strict";

(function () {
  const WORDS = {
    en: {
      title: "Orders",
      search_placeholder: "Ref, customer, e-mail, phone, tracking number or SKU",
      search: "Search", more: "More", no_match: "No order matches “{q}”.",
      searching: "Searching…", col_ref: "Order", col_status: "Status", col_customer: "Customer",
      col_channel: "Channel", col_placed: "Placed", col_matched: "Found by",
      col_time: "When", col_what: "What", col_who: "Who", col_detail: "Detail",
      timeline_of: "Timeline of {ref}", timeline_empty: "Nothing recorded yet.",
      back: "Back to results", failed: "The server refused: {message}",
      offline: "No answer from the server; try again.",
      "m.ref": "ref", "m.tracking": "tracking", "m.return_tracking": "return label", "m.sku": "SKU",
      "m.email": "e-mail", "m.phone": "phone", "m.name": "name",
      "a.order.received": "Received", "a.order.status": "Status {before} → {after}",
      "a.order.carrier": "Carrier service set", "a.order.at_risk": "Ship-by at risk",
      "a.order.updated": "Changed by the storefront", "a.order.close": "Closed",
      "a.scan.pick": "Pick scan", "a.scan.short": "Short pick", "a.scan.pack": "Packing scan",
      "a.pack.open": "Packing opened", "a.pack.hold": "Held at packing",
      "a.pack.release": "Released at packing", "a.pack.confirm": "Packed",
      "a.pack.cancel": "Packing cancelled", "a.pack.weigh": "Weighed", "a.pack.carton": "Carton chosen",
      "a.shipment.create": "Parcel and label made", "a.shipment.dispatch": "Shipped",
      "a.shipment.delayed": "Parcel delayed", "a.shipment.lost": "Parcel lost",
      "a.print_job.enqueue": "Print job queued", "a.print_job.printed": "Printed",
      "a.print_job.fail": "Print failed", "a.print_job.reprint": "Reprint asked",
      "a.print_job.unconfirmed": "Print not confirmed",
      "a.outbox.enqueue": "Message queued", "a.outbox.sent": "Message sent",
      "a.outbox.retry": "Message retried",
      "a.exception.open": "Exception opened", "a.exception.ack": "Exception acknowledged",
      "a.exception.assign": "Exception assigned", "a.exception.resolve": "Exception resolved",
      "a.exception.dismiss": "Exception dismissed", "a.exception.note": "Exception note",
      "a.exception.escalate": "Exception escalated",
      "a.tracking": "Tracking: {status}", "a.return": "Return: {step}",
      device: "device {device}", at_bin: "bin {location}", station: "station {station}",
    },
    "zh-CN": {
      title: "订单",
      search_placeholder: "订单号、客户、邮箱、电话、运单号或 SKU",
      search: "搜索", more: "更多", no_match: "没有订单符合“{q}”。",
      searching: "搜索中…", col_ref: "订单", col_status: "状态", col_customer: "客户",
      col_channel: "渠道", col_placed: "下单时间", col_matched: "匹配",
      col_time: "时间", col_what: "事件", col_who: "操作人", col_detail: "详情",
      timeline_of: "{ref} 的时间线", timeline_empty: "尚无记录。",
      back: "返回结果", failed: "服务器拒绝：{message}",
      offline: "服务器无响应，请重试。",
      "m.ref": "订单号", "m.tracking": "运单号", "m.return_tracking": "退货面单", "m.sku": "SKU",
      "m.email": "邮箱", "m.phone": "电话", "m.name": "姓名",
      "a.order.received": "已接收", "a.order.status": "状态 {before} → {after}",
      "a.order.carrier": "已指定承运服务", "a.order.at_risk": "发货期限有风险",
      "a.order.updated": "店铺已修改", "a.order.close": "已关闭",
      "a.scan.pick": "拣货扫描", "a.scan.short": "拣货短缺", "a.scan.pack": "打包扫描",
      "a.pack.open": "开始打包", "a.pack.hold": "打包暂停", "a.pack.release": "打包放行",
      "a.pack.confirm": "已打包", "a.pack.cancel": "打包取消", "a.pack.weigh": "已称重",
      "a.pack.carton": "已选纸箱",
      "a.shipment.create": "包裹和面单已生成", "a.shipment.dispatch": "已发货",
      "a.shipment.delayed": "包裹延误", "a.shipment.lost": "包裹丢失",
      "a.print_job.enqueue": "打印任务排队", "a.print_job.printed": "已打印",
      "a.print_job.fail": "打印失败", "a.print_job.reprint": "请求重打",
      "a.print_job.unconfirmed": "打印未确认",
      "a.outbox.enqueue": "消息排队", "a.outbox.sent": "消息已发送", "a.outbox.retry": "消息重试",
      "a.exception.open": "异常已创建", "a.exception.ack": "异常已确认",
      "a.exception.assign": "异常已分派", "a.exception.resolve": "异常已解决",
      "a.exception.dismiss": "异常已驳回", "a.exception.note": "异常备注",
      "a.exception.escalate": "异常已升级",
      "a.tracking": "物流：{status}", "a.return": "退货：{step}",
      device: "设备 {device}", at_bin: "库位 {location}", station: "工位 {station}",
    },
  };

  /** An element with attributes (data-* / class / text) and children. */
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

  const state = { q: "", cursor: null, rows: [], timeline: null, root: null };

  async function call(ctx, method, path, body) {
    try {
      const r = await ctx.api(method, path, body);
      if (!r.ok) {
        const message = (r.body && r.body.error && r.body.error.message) || String(r.status);
        if (r.status) ctx.toast("error", ctx.t("failed", { message }));
        else ctx.toast("error", ctx.t("offline"));
      }
      return r;
    } catch (e) {
      ctx.toast("error", ctx.t("offline"));
      return { status: 0, ok: false, body: null };
    }
  }

  function statusText(ctx, status) {
    const key = "status." + status;
    const text = ctx.t(key);
    return text === key ? status : text;
  }

  /** One timeline entry in words: what happened, and the detail that matters. */
  function what(ctx, e) {
    const a = e.action;
    if (a.startsWith("tracking.")) return ctx.t("a.tracking", { status: e.after });
    if (a.startsWith("return.")) return ctx.t("a.return", { step: a.slice(7) });
    const key = "a." + a;
    const text = ctx.t(key, { before: statusText(ctx, e.before || "—"),
                              after: statusText(ctx, e.after || "—") });
    return text === key ? a : text;
  }

  function detail(ctx, e) {
    const d = (e.detail && typeof e.detail === "object") ? e.detail : {};
    const parts = [];
    if (e.source === "scan" || e.source === "pack_scan") {
      parts.push(d.verdict);
      if (d.sku) parts.push(d.sku);
      if (d.location) parts.push(ctx.t("at_bin", { location: d.location }));
      if (d.device) parts.push(ctx.t("device", { device: d.device }));
      if (d.station) parts.push(ctx.t("station", { station: d.station }));
    } else if (e.source === "tracking_event") {
      parts.push(d.tracking, d.location);
    } else {
      for (const k of ["wave", "tracking", "carrier", "service", "parcel", "reason", "note",
                       "resolution", "kind"]) {
        if (d[k] !== undefined && d[k] !== "" && d[k] !== null) parts.push(`${k}: ${d[k]}`);
      }
      if (typeof e.detail === "string" && e.detail) parts.push(e.detail);
    }
    return parts.filter(Boolean).join(" · ");
  }

  function render(ctx) {
    const root = state.root;
    root.replaceChildren();
    const input = h("input", { type: "search", "data-testid": "orders-q", maxlength: 200,
                               placeholder: ctx.t("search_placeholder"), value: state.q });
    input.value = state.q;
    const form = h("form", { class: "panel-toolbar", "data-testid": "orders-form",
                             onsubmit: (ev) => { ev.preventDefault(); search(ctx, input.value, false); } },
      input, h("button", { type: "submit", class: "primary", "data-testid": "orders-search",
                           text: ctx.t("search") }));
    root.append(form);
    if (state.timeline) return renderTimeline(ctx);
    if (state.searched && !state.rows.length) {
      root.append(h("p", { class: "empty", "data-testid": "orders-empty",
                           text: ctx.t("no_match", { q: state.q }) }));
      return;
    }
    if (!state.rows.length) return;
    const body = h("tbody", {}, state.rows.map((o) => h("tr", {
      "data-testid": "orders-row", "data-order-id": o.id, tabindex: 0, class: "clickable",
      onclick: () => openTimeline(ctx, o.id),
      onkeydown: (ev) => { if (ev.key === "Enter") openTimeline(ctx, o.id); } },
      h("td", { text: o.ref }), h("td", { text: statusText(ctx, o.status) }),
      h("td", { text: o.customer }), h("td", { text: o.channel }),
      h("td", { text: o.placed_at ? ctx.fmtTime(o.placed_at) : "" }),
      h("td", { class: "muted", text: o.matched.map((m) => ctx.t("m." + m)).join(", ") }))));
    root.append(h("table", { class: "grid", "data-testid": "orders-results" },
      h("thead", {}, h("tr", {}, ["col_ref", "col_status", "col_customer", "col_channel",
                                   "col_placed", "col_matched"].map((k) => h("th", { text: ctx.t(k) })))),
      body));
    if (state.cursor) {
      root.append(h("button", { type: "button", "data-testid": "orders-more", text: ctx.t("more"),
                                onclick: () => search(ctx, state.q, true) }));
    }
  }

  function renderTimeline(ctx) {
    const tl = state.timeline;
    const root = state.root;
    root.append(h("div", { class: "panel-toolbar" },
      h("button", { type: "button", "data-testid": "timeline-back", text: ctx.t("back"),
                    onclick: () => { state.timeline = null; render(ctx); } }),
      h("b", { "data-testid": "timeline-title", text: ctx.t("timeline_of", { ref: tl.order.ref }) }),
      h("span", { class: "badge", "data-testid": "timeline-status",
                  text: statusText(ctx, tl.order.status) })));
    if (!tl.entries.length) {
      root.append(h("p", { class: "empty", text: ctx.t("timeline_empty") }));
      return;
    }
    const bad = (e) => (e.source === "scan" || e.source === "pack_scan") && e.after !== "ok"
      || /fail|short|exception\.open|lost|delayed|hold/.test(e.action);
    root.append(h("table", { class: "grid", "data-testid": "timeline" },
      h("thead", {}, h("tr", {}, ["col_time", "col_what", "col_who", "col_detail"]
        .map((k) => h("th", { text: ctx.t(k) })))),
      h("tbody", {}, tl.entries.map((e) => h("tr", {
        "data-testid": "timeline-row", "data-action": e.action, "data-source": e.source },
        h("td", { text: e.at ? ctx.fmtTime(e.at) : "" }),
        h("td", {}, h("span", { class: bad(e) ? "badge warn" : "", text: what(ctx, e) })),
        h("td", { text: e.actor }),
        h("td", { class: "muted", text: detail(ctx, e) }))))));
  }

  async function search(ctx, q, more) {
    q = (q || "").trim();
    if (!q) return;
    const params = new URLSearchParams({ q });
    if (more && state.cursor) params.set("cursor", state.cursor);
    const r = await call(ctx, "GET", "/api/v1/orders/search?" + params.toString());
    if (!r.ok) return;
    state.q = q;
    state.timeline = null;
    state.searched = true;
    state.rows = more ? state.rows.concat(r.body.orders) : r.body.orders;
    state.cursor = r.body.next_cursor;
    render(ctx);
  }

  async function openTimeline(ctx, orderId) {
    const r = await call(ctx, "GET", `/api/v1/orders/${encodeURIComponent(orderId)}/timeline`);
    if (!r.ok) return;
    state.timeline = r.body;
    render(ctx);
  }

  window.WPConsole.panel("orders", {
    order: 40,
    roles: ["supervisor", "admin"],
    words: WORDS,
    mount(root, ctx) {
      state.root = root;
      root.dataset.testid = "panel-orders";
      render(ctx);
    },
    show(ctx) {
      if (state.timeline) openTimeline(ctx, state.timeline.order.id);
    },
    /** ctx.open("orders", {order_id}) shows that order's timeline; {q} searches. */
    open(arg, ctx) {
      if (arg && arg.order_id) return openTimeline(ctx, arg.order_id);
      if (arg && arg.q) return search(ctx, arg.q, false);
      return undefined;
    },
    relang(ctx) { if (state.root) render(ctx); },
  });
})();
