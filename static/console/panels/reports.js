/* The console's KPIs & analytics tab (issue W5 §3-4): KPI cards, the sales trend, product
   ranking, cycle time per stage, payment methods, returns by reason (Chart.js, vendored in
   ../vendor and loaded on first use: no CDN), the weekday × hour heat map, pickers,
   packers, turnover and printer uptime as tables, and a CSV export of every table.
   Everything comes from GET /api/v1/reports/{name}; days are the warehouse's local ones. */
(function () {
  "use strict";

  var SCRIPT = document.currentScript && document.currentScript.src;
  var CHART_SRC = SCRIPT ? new URL("../vendor/chart.umd.min.js", SCRIPT).href
    : "/console/vendor/chart.umd.min.js";
  var chartLoading = null;

  // [report, summary key, how to show it]
  var CARDS = [
    ["order-accuracy", "accuracy", "pct"],
    ["on-time", "on_time_rate", "pct"],
    ["pick-accuracy", "pick_accuracy", "pct"],
    ["short-picks", "short_rate", "pct"],
    ["pickers", "lines_per_hour", "num"],
    ["packers", "lines_per_hour", "num"],
    ["printer-uptime", "uptime", "pct"],
    ["cycle-time", "bottleneck", "stage"],
  ];
  // [report, table, chart kind]; the rest are tables
  var SECTIONS = [
    ["sales-trend", "by_day", "trend"],
    ["product-ranking", "by_units", "ranking"],
    ["cycle-time", "by_stage", "stages"],
    ["payment-methods", "by_method", "share"],
    ["returns", "by_reason", "reasons"],
    ["peak-hours", "orders", "heat"],
    ["pickers", "by_picker", "table"],
    ["packers", "by_packer", "table"],
    ["inventory-turnover", "by_sku", "table"],
    ["printer-uptime", "by_printer", "table"],
    ["customer-frequency", "by_band", "table"],
  ];
  var REPORTS = [];
  CARDS.concat(SECTIONS).forEach(function (x) {
    if (REPORTS.indexOf(x[0]) < 0) REPORTS.push(x[0]);
  });
  var COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777"];

  var WORDS = {
    en: {
      title: "KPIs & analytics", from: "From", to: "To", warehouse: "Warehouse",
      channel: "Channel", all: "all", refresh: "Refresh", csv: "CSV", loading: "Loading…",
      empty: "Nothing in this range", failed: "Report {name} failed: {message}",
      "order-accuracy": "Order accuracy", "on-time": "On-time shipping",
      "pick-accuracy": "Pick accuracy", "short-picks": "Short-pick rate",
      pickers: "Pickers (lines/hour)", packers: "Packers (lines/hour)",
      "printer-uptime": "Printer uptime", "cycle-time": "Bottleneck stage",
      "sales-trend": "Sales trend (orders per day)", "product-ranking": "Top products (units)",
      "payment-methods": "Payment methods", returns: "Returns by reason",
      "peak-hours": "Peak hours (orders, weekday × hour)",
      "inventory-turnover": "Inventory turnover", "customer-frequency": "Purchase frequency",
      median: "median (min)", p90: "p90 (min)", bottleneck: "bottleneck",
      mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat", sun: "Sun",
      in_tz: "days in {tz}",
    },
    "zh-CN": {
      title: "指标与分析", from: "从", to: "到", warehouse: "仓库", channel: "渠道",
      all: "全部", refresh: "刷新", csv: "CSV", loading: "加载中…", empty: "此范围内没有数据",
      failed: "报表 {name} 失败：{message}",
      "order-accuracy": "订单准确率", "on-time": "准时发货率", "pick-accuracy": "拣货准确率",
      "short-picks": "缺货拣选率", pickers: "拣货员（行/小时）", packers: "打包员（行/小时）",
      "printer-uptime": "打印机可用率", "cycle-time": "瓶颈环节",
      "sales-trend": "销售趋势（每日订单）", "product-ranking": "热销商品（件数）",
      "payment-methods": "支付方式", returns: "退货原因", "peak-hours": "高峰时段（订单，星期 × 小时）",
      "inventory-turnover": "库存周转", "customer-frequency": "购买频次",
      median: "中位数（分钟）", p90: "P90（分钟）", bottleneck: "瓶颈",
      mon: "周一", tue: "周二", wed: "周三", thu: "周四", fri: "周五", sat: "周六", sun: "周日",
      in_tz: "按 {tz} 计日",
    },
  };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "class") e.className = attrs[k];
      else if (k === "style") e.style.cssText = attrs[k];   // CSSOM: the CSP refuses style=""
      else e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function isoDay(d) {
    var m = d.getMonth() + 1, day = d.getDate();
    return d.getFullYear() + "-" + (m < 10 ? "0" : "") + m + "-" + (day < 10 ? "0" : "") + day;
  }

  function loadChart() {
    if (window.Chart) return Promise.resolve(window.Chart);
    if (!chartLoading) {
      chartLoading = new Promise(function (resolve, reject) {
        var s = el("script", { src: CHART_SRC });
        s.onload = function () { resolve(window.Chart); };
        s.onerror = function () { chartLoading = null; reject(new Error("chart library")); };
        document.head.appendChild(s);
      });
    }
    return chartLoading;
  }

  var state = { root: null, data: {}, charts: {}, busy: false };

  function query(ctx) {
    var f = state.form, q = "from=" + encodeURIComponent(f.from.value) +
      "&to=" + encodeURIComponent(f.to.value);
    if (f.warehouse.value) q += "&warehouse=" + encodeURIComponent(f.warehouse.value);
    if (f.channel.value) q += "&channel=" + encodeURIComponent(f.channel.value);
    return q;
  }

  function fmt(value, how, ctx) {
    if (value === null || value === undefined) return "–";
    if (how === "pct") return (value * 100).toFixed(1) + " %";
    if (how === "stage") return String(value).replace(/_to_/, " → ");
    return String(value);
  }

  function build(root, ctx) {
    root.textContent = "";
    var bar = el("div", { class: "panel-toolbar" });
    var today = new Date(), from = new Date(today.getTime() - 29 * 86400000);
    function field(name, type, value) {
      var label = el("label", {}, ctx.t(name) + " ");
      var input = el("input", { type: type, name: name, "data-testid": "reports-" + name });
      input.value = value || "";
      if (type === "text") input.placeholder = ctx.t("all");
      label.appendChild(input);
      bar.appendChild(label);
      return input;
    }
    state.form = {
      from: field("from", "date", isoDay(from)), to: field("to", "date", isoDay(today)),
      warehouse: field("warehouse", "text", ctx.warehouse || ""),
      channel: field("channel", "text", ""),
    };
    var go = el("button", { class: "primary", "data-testid": "reports-refresh" },
                ctx.t("refresh"));
    go.addEventListener("click", function () { refresh(ctx); });
    bar.appendChild(go);
    state.tz = el("span", { class: "muted", "data-testid": "reports-tz" });
    bar.appendChild(state.tz);
    root.appendChild(bar);
    var cards = el("div", { class: "kpi-cards", "data-testid": "kpi-cards",
                            style: "display:flex;flex-wrap:wrap;gap:.5rem;margin:.5rem 0" });
    state.cards = {};
    CARDS.forEach(function (c) {
      var card = el("div", { class: "kpi-card", "data-testid": "kpi-" + c[0],
                             style: "border:1px solid #ccc;border-radius:6px;padding:.5rem;" +
                                    "min-width:10rem" });
      card.appendChild(el("div", { class: "muted" }, ctx.t(c[0])));
      var v = el("div", { class: "kpi-value", style: "font-size:1.6rem;font-weight:600" }, "–");
      card.appendChild(v);
      state.cards[c[0]] = { label: card.firstChild, value: v, key: c[1], how: c[2] };
      cards.appendChild(card);
    });
    root.appendChild(cards);
    state.sections = {};
    var grid = el("div", { style: "display:grid;grid-template-columns:repeat(auto-fit," +
                                  "minmax(26rem,1fr));gap:1rem" });
    SECTIONS.forEach(function (s) {
      var box = el("section", { "data-testid": "report-" + s[0] });
      var head = el("div", { class: "panel-toolbar" });
      var h = el("h3", {}, ctx.t(s[0]));
      var csv = el("button", { "data-testid": "csv-" + s[0] }, ctx.t("csv"));
      csv.addEventListener("click", function () { exportCsv(ctx, s[0], s[1]); });
      head.appendChild(h);
      head.appendChild(csv);
      box.appendChild(head);
      var body = el("div", { class: "report-body" });
      box.appendChild(body);
      grid.appendChild(box);
      state.sections[s[0]] = { head: h, body: body, table: s[1], kind: s[2], csv: csv };
    });
    root.appendChild(grid);
  }

  function exportCsv(ctx, name, table) {
    var f = state.form;
    ctx.download("/api/v1/reports/" + name + "?" + query(ctx) + "&format=csv&table=" + table,
                 name + "-" + table + "-" + f.from.value + "-" + f.to.value + ".csv");
  }

  function refresh(ctx) {
    if (!state.root || state.busy) return Promise.resolve();
    state.busy = true;
    state.root.setAttribute("data-state", "loading");
    var q = query(ctx);
    return Promise.all(REPORTS.map(function (name) {
      return ctx.api("GET", "/api/v1/reports/" + name + "?" + q).then(function (r) {
        if (!r.ok) {
          var msg = r.body && r.body.error ? r.body.error.message : String(r.status);
          ctx.toast("error", ctx.t("failed", { name: name, message: msg }));
          return [name, null];
        }
        return [name, r.body];
      });
    })).then(function (got) {
      state.data = {};
      got.forEach(function (x) { state.data[x[0]] = x[1]; });
      return loadChart().catch(function () { return null; });
    }).then(function () {
      render(ctx);
    }).finally(function () {
      state.busy = false;
      state.root.setAttribute("data-state", "ready");
    });
  }

  function render(ctx) {
    var any = null;
    CARDS.forEach(function (c) {
      var card = state.cards[c[0]], d = state.data[c[0]];
      card.value.textContent = d ? fmt(d.summary[card.key], card.how, ctx) : "–";
      if (d) any = d;
    });
    if (any) state.tz.textContent = ctx.t("in_tz", { tz: any.timezone });
    SECTIONS.forEach(function (s) {
      var sec = state.sections[s[0]], d = state.data[s[0]];
      if (state.charts[s[0]]) { state.charts[s[0]].destroy(); delete state.charts[s[0]]; }
      sec.body.textContent = "";
      if (!d) return;
      var t = d.tables[sec.table];
      if (!t.rows.length || (s[2] === "stages" && !d.summary.bottleneck)) {
        sec.body.appendChild(el("p", { class: "empty" }, ctx.t("empty")));
        return;
      }
      if (s[2] === "table") sec.body.appendChild(table(t));
      else if (s[2] === "heat") sec.body.appendChild(heat(t, ctx));
      else if (window.Chart) chart(s[0], s[2], sec, d, t, ctx);
      else sec.body.appendChild(table(t));
    });
  }

  function table(t) {
    var tb = el("table", { class: "grid" }), tr = el("tr");
    t.columns.forEach(function (c) { tr.appendChild(el("th", {}, c)); });
    var thead = el("thead");
    thead.appendChild(tr);
    tb.appendChild(thead);
    var body = el("tbody");
    t.rows.slice(0, 50).forEach(function (row) {
      var r = el("tr");
      row.forEach(function (v) { r.appendChild(el("td", {}, v === null ? "–" : v)); });
      body.appendChild(r);
    });
    tb.appendChild(body);
    return tb;
  }

  function heat(t, ctx) {
    var max = 0;
    t.rows.forEach(function (r) { r.slice(1).forEach(function (v) { max = Math.max(max, v); }); });
    var tb = el("table", { class: "grid heatmap", "data-testid": "heatmap",
                           style: "font-size:.7rem;border-collapse:collapse" });
    var head = el("tr");
    head.appendChild(el("th"));
    for (var h = 0; h < 24; h++) head.appendChild(el("th", {}, h));
    tb.appendChild(head);
    t.rows.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("th", {}, ctx.t(r[0])));
      r.slice(1).forEach(function (v, hour) {
        var a = max ? v / max : 0;
        var td = el("td", { title: ctx.t(r[0]) + " " + hour + ":00 — " + v,
                            "data-n": v,
                            style: "min-width:1.1rem;height:1.1rem;background:rgba(37,99,235," +
                                   a.toFixed(2) + ")" });
        tr.appendChild(td);
      });
      tb.appendChild(tr);
    });
    return tb;
  }

  function chart(name, kind, sec, d, t, ctx) {
    var canvas = el("canvas", { "data-testid": "chart-" + name, height: "220" });
    sec.body.appendChild(canvas);
    var col = function (n) { return t.columns.indexOf(n); };
    var cfg;
    if (kind === "trend") {
      var days = [], series = {};
      t.rows.forEach(function (r) {
        var day = r[col("day")], key = r[col("channel")];
        if (days.indexOf(day) < 0) days.push(day);
        series[key] = series[key] || {};
        series[key][day] = (series[key][day] || 0) + r[col("orders")];
      });
      cfg = { type: "line", data: { labels: days, datasets: Object.keys(series).map(
        function (k, i) {
          return { label: k, borderColor: COLORS[i % COLORS.length], tension: 0.2,
                   data: days.map(function (day) { return series[k][day] || 0; }) };
        }) } };
    } else if (kind === "ranking") {
      var top = t.rows.slice(0, 10);
      cfg = { type: "bar", options: { indexAxis: "y" }, data: {
        labels: top.map(function (r) { return r[col("sku")]; }),
        datasets: [{ label: ctx.t(name), backgroundColor: COLORS[0],
                     data: top.map(function (r) { return r[col("units")]; }) }] } };
    } else if (kind === "stages") {
      var neck = d.summary.bottleneck;
      cfg = { type: "bar", data: {
        labels: t.rows.map(function (r) { return fmt(r[0], "stage"); }),
        datasets: [
          { label: ctx.t("median"), data: t.rows.map(function (r) {
              return r[2] === null ? null : r[2] / 60; }),
            backgroundColor: t.rows.map(function (r) {
              return r[0] === neck ? COLORS[1] : COLORS[0]; }) },
          { label: ctx.t("p90"), backgroundColor: "rgba(37,99,235,.3)",
            data: t.rows.map(function (r) { return r[3] === null ? null : r[3] / 60; }) }] } };
    } else if (kind === "share") {
      cfg = { type: "doughnut", data: {
        labels: t.rows.map(function (r) { return r[0]; }),
        datasets: [{ data: t.rows.map(function (r) { return r[1]; }),
                     backgroundColor: t.rows.map(function (r, i) {
                       return COLORS[i % COLORS.length]; }) }] } };
    } else {
      cfg = { type: "bar", data: {
        labels: t.rows.map(function (r) { return r[0]; }),
        datasets: [{ label: ctx.t(name), backgroundColor: COLORS[3],
                     data: t.rows.map(function (r) { return r[col("units")]; }) }] } };
    }
    cfg.options = Object.assign({ animation: false, responsive: true }, cfg.options || {});
    state.charts[name] = new window.Chart(canvas, cfg);
  }

  function relabel(ctx) {
    CARDS.forEach(function (c) { state.cards[c[0]].label.textContent = ctx.t(c[0]); });
    SECTIONS.forEach(function (s) {
      state.sections[s[0]].head.textContent = ctx.t(s[0]);
      state.sections[s[0]].csv.textContent = ctx.t("csv");
    });
  }

  WPConsole.panel("reports", {
    order: 60,
    roles: ["supervisor", "admin"],
    words: WORDS,
    mount: function (root, ctx) {
      state.root = root;
      root.setAttribute("data-testid", "panel-reports");
      build(root, ctx);
    },
    show: function (ctx) { return refresh(ctx); },
    relang: function (ctx) {
      if (!state.root) return;
      relabel(ctx);
      render(ctx);
    },
  });
})();
