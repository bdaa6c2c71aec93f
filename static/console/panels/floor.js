// The floor now (console panel "floor"): orders by state as a funnel, ship-by at risk,
// running waves and their carts, pickers active in the last hour (where, lines per hour,
// error verdicts), packing stations with their printers, backorders, open exceptions, and
// the scans as they come. GET /api/v1/floor on connect, reconnect and show; the pushes
// update it at once (a scan: its picker, cart and the scan list) and ask for a fresh
// snapshot soon after (at most one per REFRESH_MS).
"use strict";

(function () {
  const REFRESH_MS = 1500;     // a push asks for a new snapshot at most this often
  const SCANS_SHOWN = 25;
  const REFRESH_ON = ["order.status", "wave.changed", "exception.changed", "exception.escalated",
                      "printer.state", "print_job.queued"];
  const FUNNEL_STEPS = ["received", "awaiting_payment", "ready", "waved", "picking", "picked", "packed"];

  const WORDS = {
    en: {
      title: "Floor", as_of: "As of {time}", loading: "Loading…", refresh: "Refresh",
      funnel: "Orders by state", col_state: "State", col_orders: "Orders", col_order: "Order",
      waiting: "Waiting: {hold} on hold, {back} backordered, {invalid} invalid",
      shipped_today: "{n} shipped today",
      "st.received": "Received", "st.awaiting_payment": "Awaiting payment", "st.ready": "Ready",
      "st.waved": "Waved", "st.picking": "Picking", "st.picked": "Picked", "st.packed": "Packed",
      "st.on_hold": "On hold", "st.backordered": "Backordered",
      at_risk: "Ship-by at risk: {n} (within {h} h)", col_ship_by: "Ship by",
      due_in: "due in {age}", late_by: "late by {age}", none_at_risk: "No order at risk",
      no_orders_panel: "The orders panel is not installed",
      scans: "Scans as they come", no_scans: "No scan since this page opened",
      col_time: "Time", col_picker: "Picker", col_bin: "Bin", col_sku: "SKU", col_verdict: "Verdict",
      pickers: "Pickers (last hour)", no_pickers: "No picker scanned in the last hour",
      col_where: "Where", col_device: "Device", col_lph: "Lines/h", col_units: "Units",
      col_errors: "Errors", col_last: "Last scan", ago: "{age} ago",
      waves: "Waves and carts", no_waves: "No wave is planned or running", cart: "cart",
      col_wave: "Wave", col_progress: "Progress", col_carts: "Carts",
      "ws.draft": "Draft", "ws.released": "Released", "ws.picking": "Picking",
      stations: "Packing stations", no_stations: "No packing station configured",
      col_station: "Station", col_sessions: "Sessions", col_printer: "Printer", col_queue: "Queue",
      sessions: "{open} open, {held} held", jobs: "{q} queued, {s} sending",
      "ps.ready": "Ready", "ps.offline": "Offline", "ps.unknown": "Unknown", "ps.paper_out": "Paper out",
      "ps.head_open": "Head open", "ps.ribbon_out": "Ribbon out", "ps.paused": "Paused", "ps.error": "Error",
      backorders: "Backorders: {n} orders", no_backorders: "Nothing backordered",
      col_units_short: "Units short",
      exceptions_open: "Open exceptions: {n}", overdue: "{n} overdue", to_queue: "Open the queue",
      "sev.critical": "Critical", "sev.high": "High", "sev.medium": "Medium", "sev.low": "Low",
      "v.ok": "OK", "v.wrong_item": "Wrong item", "v.unknown_barcode": "Unknown barcode",
      "v.wrong_location": "Wrong bin", "v.scan_location_first": "Scan the bin first", "v.not_in_task": "Not in this task",
      "v.over_pick": "Too many", "v.expired_lot": "Expired lot",
    },
    "zh-CN": {
      title: "现场", as_of: "截至 {time}", loading: "加载中…", refresh: "刷新",
      funnel: "各状态订单", col_state: "状态", col_orders: "订单数", col_order: "订单",
      waiting: "等待中：暂挂 {hold}，缺货 {back}，无效 {invalid}",
      shipped_today: "今日已发货 {n}",
      "st.received": "已接收", "st.awaiting_payment": "待付款", "st.ready": "待处理",
      "st.waved": "已排波次", "st.picking": "拣货中", "st.picked": "已拣货", "st.packed": "已打包",
      "st.on_hold": "暂挂", "st.backordered": "缺货",
      at_risk: "发货时限有风险：{n}（{h} 小时内）", col_ship_by: "最晚发货",
      due_in: "{age}后到期", late_by: "已超时 {age}", none_at_risk: "没有有风险的订单",
      no_orders_panel: "订单面板未安装",
      scans: "实时扫描", no_scans: "本页打开后还没有扫描",
      col_time: "时间", col_picker: "拣货员", col_bin: "库位", col_sku: "SKU", col_verdict: "结果",
      pickers: "拣货员（最近一小时）", no_pickers: "最近一小时没有拣货扫描",
      col_where: "位置", col_device: "设备", col_lph: "行/小时", col_units: "件数",
      col_errors: "错误", col_last: "最近扫描", ago: "{age}前",
      waves: "波次与拣货车", no_waves: "没有已规划或进行中的波次", cart: "车",
      col_wave: "波次", col_progress: "进度", col_carts: "拣货车",
      "ws.draft": "草稿", "ws.released": "已下发", "ws.picking": "拣货中",
      stations: "打包台", no_stations: "没有配置打包台",
      col_station: "打包台", col_sessions: "会话", col_printer: "打印机", col_queue: "队列",
      sessions: "进行中 {open}，暂挂 {held}", jobs: "排队 {q}，发送中 {s}",
      "ps.ready": "就绪", "ps.offline": "离线", "ps.unknown": "未知", "ps.paper_out": "缺纸",
      "ps.head_open": "打印头打开", "ps.ribbon_out": "碳带用完", "ps.paused": "已暂停", "ps.error": "故障",
      backorders: "缺货：{n} 个订单", no_backorders: "没有缺货",
      col_units_short: "缺少件数",
      exceptions_open: "未处理异常：{n}", overdue: "{n} 个已超时", to_queue: "打开异常队列",
      "sev.critical": "紧急", "sev.high": "高", "sev.medium": "中", "sev.low": "低",
      "v.ok": "正确", "v.wrong_item": "商品错误", "v.unknown_barcode": "未知条码",
      "v.wrong_location": "库位错误", "v.scan_location_first": "请先扫描库位", "v.not_in_task": "不属于此任务",
      "v.over_pick": "数量过多", "v.expired_lot": "批次已过期",
    },
  };

  const S = {
    root: null, ctx: null, snap: null, scans: [], shown: false, dirty: true,
    loading: false, again: false, timer: null, lastLoad: 0, seq: 0,
  };

  const el = WPConsole.el;

  function table(testid, heads, rows) {
    const t = S.ctx.t;
    return el("table", { class: "grid", "data-testid": testid },
      el("thead", {}, el("tr", {}, heads.map(([key, cls]) => el("th", { class: cls, text: t(key) })))),
      el("tbody", {}, rows));
  }

  function card(title, testid, ...body) {
    return el("section", { class: "card", "data-testid": testid }, el("h3", { text: title }), ...body);
  }

  const ageOf = (iso) => (Date.now() - new Date(iso).getTime()) / 1000;

  // ---- loading --------------------------------------------------------------------------

  async function load() {
    if (!S.ctx || !S.ctx.user) return;
    if (S.loading) { S.again = true; return; }
    S.loading = true;
    S.lastLoad = Date.now();
    const wh = S.ctx.warehouse;
    try {
      const res = await S.ctx.api("GET", "/api/v1/floor" + (wh ? "?warehouse=" + encodeURIComponent(wh) : ""));
      if (!S.ctx.user) return;
      if (!res.ok) {
        if (res.status !== 401) S.ctx.toast("error", S.ctx.refusal(res.status, res.body));
        return;
      }
      S.snap = res.body;
      S.dirty = false;
      render();
    } finally {
      S.loading = false;
      if (S.again) { S.again = false; soon(); }
    }
  }

  /** A fresh snapshot soon: now when none was asked for lately, else at the next slot. */
  function soon() {
    if (!S.shown) { S.dirty = true; return; }
    if (S.timer) return;
    const wait = Math.max(0, REFRESH_MS - (Date.now() - S.lastLoad));
    S.timer = setTimeout(() => { S.timer = null; load(); }, wait);
  }

  // ---- live updates -----------------------------------------------------------------------

  function onScan(data) {
    if (S.ctx.warehouse && data.warehouse && data.warehouse !== S.ctx.warehouse) return;
    S.seq += 1;
    S.scans.unshift(Object.assign({ seen_at: Date.now(), seen_iso: new Date().toISOString(), seq: S.seq }, data));
    S.scans.length = Math.min(S.scans.length, SCANS_SHOWN);
    const snap = S.snap;
    if (snap) {
      const ok = data.verdict === "ok";
      let p = snap.pickers.find((x) => x.badge === data.user);
      if (!p) {
        p = { user_id: data.user_id, badge: data.user, name: "", device: data.device, location: "",
              scans: 0, units: 0, lines: 0, lines_per_hour: 0, units_per_hour: 0, errors: 0,
              error_rate: 0, verdicts: {} };
        snap.pickers.unshift(p);
      }
      p.scans += 1;
      p.units += Number(data.counted) || 0;
      p.units_per_hour = p.units;
      p.location = data.location || p.location;
      p.device = data.device || p.device;
      p.last_verdict = data.verdict;
      p.last_scan_at = new Date().toISOString();
      if (!ok && !data.counted) {
        p.errors += 1;
        p.verdicts[data.verdict] = (p.verdicts[data.verdict] || 0) + 1;
      }
      p.error_rate = p.scans ? p.errors / p.scans : 0;
      for (const w of snap.waves) {
        const c = w.carts.find((x) => x.cart_id === data.cart_id);
        if (c && data.counted) {
          c.picked += Number(data.counted);
          w.picked += Number(data.counted);
          w.progress = w.units ? (w.picked + w.short) / w.units : 0;
        }
      }
    }
    if (S.shown) render();
    soon();
  }

  // ---- rendering ---------------------------------------------------------------------------

  function render() {
    if (!S.root || !S.ctx) return;
    const { t } = S.ctx;
    const snap = S.snap;
    S.root.textContent = "";
    const at = snap ? t("as_of", { time: S.ctx.fmtTime(snap.at) }) : t("loading");
    S.root.append(el("div", { class: "panel-toolbar" },
      el("span", { class: "muted", "data-testid": "floor-at", text: at }),
      el("span", { class: "spacer" }),
      el("button", { type: "button", "data-testid": "floor-refresh", text: t("refresh"), onclick: () => load() })));
    if (!snap) return;
    S.root.append(el("div", { class: "grid-2" },
      funnelCard(snap), riskCard(snap), scansCard(), pickersCard(snap), wavesCard(snap),
      stationsCard(snap), backordersCard(snap), exceptionsCard(snap)));
  }

  function funnelCard(snap) {
    const { t } = S.ctx;
    const counts = Object.fromEntries(snap.orders.funnel.map((f) => [f.status, f.count]));
    const max = Math.max(1, ...Object.values(counts));
    const rows = FUNNEL_STEPS.filter((s) => s in counts).map((s) => el("tr", { "data-status": s },
      el("td", { text: t("st." + s) }),
      el("td", { class: "num", "data-testid": "funnel-" + s, text: String(counts[s]) }),
      el("td", { style: "width:50%" }, el("div", { class: "bar" },
        el("span", { style: `width:${Math.round(100 * counts[s] / max)}%` })))));
    const w = snap.orders.waiting;
    return card(t("funnel"), "floor-funnel",
      table("funnel", [["col_state"], ["col_orders", "num"], [""]], rows),
      el("p", { class: "muted" },
        t("waiting", { hold: w.on_hold || 0, back: w.backordered || 0, invalid: w.invalid || 0 }), " · ",
        el("span", { "data-testid": "shipped-today", text: t("shipped_today", { n: snap.orders.shipped_today }) })));
  }

  function orderLink(ref, id) {
    return el("a", { href: "#orders", onclick: (ev) => {
      ev.preventDefault();
      if (!S.ctx.open("orders", { order_id: id, ref })) S.ctx.toast("warn", t2("no_orders_panel"));
    }, text: ref });
  }
  const t2 = (k, p) => S.ctx.t(k, p);

  function riskCard(snap) {
    const { t } = S.ctx;
    const risk = snap.orders.at_risk;
    const rows = risk.orders.map((o) => {
      const left = -ageOf(o.ship_by);
      return el("tr", { "data-order": o.ref },
        el("td", {}, orderLink(o.ref, o.order_id)),
        el("td", { text: t("st." + o.status) }),
        el("td", {}, el("span", { class: "badge " + (left <= 0 ? "error" : "warn"),
          text: left <= 0 ? t("late_by", { age: S.ctx.fmtAge(-left) }) : t("due_in", { age: S.ctx.fmtAge(left) }) })));
    });
    return card(t("at_risk", { n: risk.count, h: risk.hours }), "floor-at-risk",
      rows.length ? table("at-risk", [["col_order"], ["col_state"], ["col_ship_by"]], rows)
        : el("p", { class: "empty", text: t("none_at_risk") }));
  }

  function scansCard() {
    const { t } = S.ctx;
    const rows = S.scans.map((s) => el("tr", { "data-scan-id": s.scan_id, "data-seen-at": s.seen_at,
      "data-verdict": s.verdict },
      el("td", { text: new Date(s.seen_at).toLocaleTimeString(S.ctx.lang) }),
      el("td", { text: s.user }), el("td", { text: s.location || "" }), el("td", { text: s.sku || "" }),
      el("td", {}, el("span", { class: "badge " + (s.verdict === "ok" ? "ok" : "error"), text: verdictText(s.verdict) })),
      el("td", { text: s.order_ref || "" })));
    return card(t("scans"), "floor-scans",
      rows.length ? table("scans", [["col_time"], ["col_picker"], ["col_bin"], ["col_sku"], ["col_verdict"], ["col_order"]], rows)
        : el("p", { class: "empty", text: t("no_scans") }));
  }

  function verdictText(v) {
    return S.ctx.has("v." + v) ? S.ctx.t("v." + v) : String(v || "");
  }

  function pickersCard(snap) {
    const { t } = S.ctx;
    const rows = snap.pickers.map((p) => el("tr", { "data-picker": p.badge },
      el("td", { text: p.name ? `${p.badge} · ${p.name}` : p.badge }),
      el("td", { "data-testid": "picker-location", text: p.location || "" }),
      el("td", { text: p.device || "" }),
      el("td", { class: "num", text: String(p.lines_per_hour) }),
      el("td", { class: "num", "data-testid": "picker-units", text: String(p.units) }),
      el("td", { class: "num" }, el("span", { class: "badge " + (p.errors ? "error" : "ok"),
        title: Object.entries(p.verdicts || {}).map(([v, n]) => `${verdictText(v)}: ${n}`).join(", "),
        "data-testid": "picker-errors", text: String(p.errors) })),
      el("td", { text: p.last_scan_at ? t("ago", { age: S.ctx.fmtAge(ageOf(p.last_scan_at)) }) : "" })));
    return card(t("pickers"), "floor-pickers",
      rows.length ? table("pickers", [["col_picker"], ["col_where"], ["col_device"], ["col_lph", "num"],
                                      ["col_units", "num"], ["col_errors", "num"], ["col_last"]], rows)
        : el("p", { class: "empty", text: t("no_pickers") }));
  }

  function wavesCard(snap) {
    const { t } = S.ctx;
    const rows = [];
    for (const w of snap.waves) {
      rows.push(el("tr", { "data-wave": w.wave_id, "data-status": w.status },
        el("td", { text: `#${w.wave_id} ${w.warehouse}` }),
        el("td", {}, el("span", { class: "badge", text: t("ws." + w.status) })),
        el("td", {}, el("div", { class: "bar", title: `${Math.round(w.progress * 100)}%` },
          el("span", { style: `width:${Math.round(w.progress * 100)}%` }))),
        el("td", { class: "num", "data-testid": "wave-picked", text: `${w.picked}/${w.units}` }),
        el("td", { text: w.carts.map((c) => `${t("cart")} ${c.seq}: ${c.picker ? c.picker.badge : "—"} ${c.picked}/${c.units}`).join(" · ") })));
    }
    return card(t("waves"), "floor-waves",
      rows.length ? table("waves", [["col_wave"], ["col_state"], ["col_progress"], ["col_units", "num"], ["col_carts"]], rows)
        : el("p", { class: "empty", text: t("no_waves") }));
  }

  function stationsCard(snap) {
    const { t } = S.ctx;
    const rows = snap.stations.map((s) => {
      const pr = s.printer;
      const kind = pr.state === "ready" ? "ok" : pr.state === "unknown" ? "warn" : "error";
      return el("tr", { "data-station": s.station },
        el("td", { text: s.station }),
        el("td", { class: "num", text: t("sessions", { open: s.open_sessions, held: s.held_sessions }) }),
        el("td", { text: pr.name }),
        el("td", {}, el("span", { class: "badge " + kind, "data-testid": "printer-state", text: S.ctx.has("ps." + pr.state) ? t("ps." + pr.state) : pr.state })),
        el("td", { class: "num", text: t("jobs", { q: pr.jobs.queued || 0, s: pr.jobs.sending || 0 }) }));
    });
    return card(t("stations"), "floor-stations",
      rows.length ? table("stations", [["col_station"], ["col_sessions", "num"], ["col_printer"], ["col_state"], ["col_queue", "num"]], rows)
        : el("p", { class: "empty", text: t("no_stations") }));
  }

  function backordersCard(snap) {
    const { t } = S.ctx;
    const b = snap.backorders;
    const rows = b.skus.map((s) => el("tr", {}, el("td", { text: s.sku }),
      el("td", { class: "num", text: String(s.units) }), el("td", { class: "num", text: String(s.orders) })));
    return card(t("backorders", { n: b.orders }), "floor-backorders",
      rows.length ? table("backorders", [["col_sku"], ["col_units_short", "num"], ["col_orders", "num"]], rows)
        : el("p", { class: "empty", text: t("no_backorders") }));
  }

  function exceptionsCard(snap) {
    const { t } = S.ctx;
    const e = snap.exceptions;
    return card(t("exceptions_open", { n: e.open }), "floor-exceptions",
      el("p", {}, ...Object.entries(e.by_severity).map(([sev, n]) => el("span", {
        class: "badge " + (sev === "critical" || sev === "high" ? "error" : sev === "medium" ? "warn" : ""),
        style: "margin-right:.3rem", text: `${t("sev." + sev)} ${n}` }))),
      el("p", { class: e.overdue ? "error" : "muted", text: t("overdue", { n: e.overdue }) }),
      el("button", { type: "button", onclick: () => S.ctx.open("exceptions"), text: t("to_queue") }));
  }

  const on = { "scan.recorded": (data) => onScan(data),
               connect: () => { S.dirty = true; if (S.shown) load(); },
               warehouse: () => { S.scans = []; S.dirty = true; } };
  for (const name of REFRESH_ON) on[name] = () => soon();

  WPConsole.panel("floor", {
    order: 10,
    roles: ["supervisor", "admin"],
    words: WORDS,
    mount(root, ctx) { S.root = root; S.ctx = ctx; render(); },
    show(ctx) { S.ctx = ctx; S.shown = true; render(); load(); },
    hide() { S.shown = false; },
    relang() { render(); },
    on,
  });
  setInterval(() => { if (S.shown && S.snap) render(); }, 15000);   // ages and countdowns
})();
