// The exception queue (console panel "exceptions"): W4's queue (GET /api/v1/exceptions)
// with due times counting down every second, and acting on one: acknowledge, assign,
// resolve with a resolution code, dismiss with a note (POST /api/v1/exceptions/{id}/…).
// exception.changed and exception.escalated pushes load the queue again (at most once
// per RELOAD_MS); a reconnect does too. The server decides every move: a refusal is shown
// with its own message.
"use strict";

(function () {
  const RELOAD_MS = 1000;
  const LIMIT = 200;
  const STATES = ["active", "open", "acknowledged", "resolved", "dismissed"];
  const ACTIVE = ["open", "acknowledged"];
  const RESOLUTIONS = ["restocked", "stock_corrected", "counted", "address_fixed",
                       "carrier_assigned", "order_corrected", "order_cancelled", "reprinted",
                       "printer_fixed", "customer_contacted", "duplicate", "no_action_needed"];
  const WORDS = {
    en: {
      title: "Exceptions", state: "State", overdue_only: "Overdue only",
      "s.active": "Open or acknowledged", "s.open": "Open", "s.acknowledged": "Acknowledged",
      "s.resolved": "Resolved", "s.dismissed": "Dismissed",
      col_id: "#", col_type: "Type", col_severity: "Severity", col_state: "State",
      col_subject: "Concerns", col_owner: "Owner", col_due: "Due",
      "sev.critical": "Critical", "sev.high": "High", "sev.medium": "Medium", "sev.low": "Low",
      empty: "No exception here", count: "{n} shown",
      due_in: "in {age}", overdue_by: "overdue by {age}", no_due: "no due time",
      choose: "Choose an exception in the list", message: "What happened", created: "Raised",
      ack: "Acknowledge", assign: "Assign", resolve: "Resolve", dismiss: "Dismiss",
      owner: "New owner", resolution: "Resolution code", note: "Note", why: "Why dismiss it?",
      send_assign: "Assign now", send_resolve: "Resolve now", send_dismiss: "Dismiss now",
      done_ack: "Exception {id} acknowledged", done_assign: "Exception {id} assigned to {owner}",
      done_resolve: "Exception {id} resolved", done_dismiss: "Exception {id} dismissed",
    },
    "zh-CN": {
      title: "异常", state: "状态", overdue_only: "只看超时",
      "s.active": "未处理或已确认", "s.open": "未处理", "s.acknowledged": "已确认",
      "s.resolved": "已解决", "s.dismissed": "已忽略",
      col_id: "#", col_type: "类型", col_severity: "严重程度", col_state: "状态",
      col_subject: "对象", col_owner: "负责人", col_due: "期限",
      "sev.critical": "紧急", "sev.high": "高", "sev.medium": "中", "sev.low": "低",
      empty: "这里没有异常", count: "显示 {n} 条",
      due_in: "{age}后到期", overdue_by: "已超时 {age}", no_due: "无期限",
      choose: "请在列表中选择一个异常", message: "发生了什么", created: "提出时间",
      ack: "确认", assign: "指派", resolve: "解决", dismiss: "忽略",
      owner: "新负责人", resolution: "解决代码", note: "备注", why: "为什么忽略？",
      send_assign: "立即指派", send_resolve: "立即解决", send_dismiss: "立即忽略",
      done_ack: "异常 {id} 已确认", done_assign: "异常 {id} 已指派给 {owner}",
      done_resolve: "异常 {id} 已解决", done_dismiss: "异常 {id} 已忽略",
    },
  };
  const el = WPConsole.el;
  const S = { root: null, ctx: null, rows: [], selected: null, state: "active", overdue: false,
              shown: false, timer: null, lastLoad: 0, loading: false, again: false, form: null,
              busy: false, version: 0 };

  // ---- the queue -----------------------------------------------------------------------

  function query(state) {
    const q = new URLSearchParams({ limit: String(LIMIT) });
    if (state) q.set("state", state);
    if (S.overdue) q.set("overdue", "true");
    return "/api/v1/exceptions?" + q.toString();
  }

  async function load() {
    if (!S.ctx || !S.ctx.user) return;
    if (S.loading) { S.again = true; return; }
    S.loading = true;
    S.lastLoad = Date.now();
    const version = S.version;
    try {
      const states = S.state === "active" ? ACTIVE : [S.state];
      const answers = await Promise.all(states.map((s) => S.ctx.api("GET", query(s))));
      if (version !== S.version || !S.ctx.user) return;
      const bad = answers.find((r) => !r.ok);
      if (bad) {
        if (bad.status !== 401) S.ctx.toast("error", S.ctx.refusal(bad.status, bad.body));
        return;
      }
      const rows = answers.flatMap((r) => (r.body && r.body.exceptions) || []);
      rows.sort((a, b) => (dueMs(a) - dueMs(b)) || (a.id - b.id));
      S.rows = rows;
      const before = S.selected;
      if (S.selected) S.selected = rows.find((r) => r.id === S.selected.id) || S.selected;
      // a form being filled in stays as typed unless its exception moved under it
      if (S.form && before && S.selected.state === before.state) renderList();
      else render();
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

  const dueMs = (e) => (e.due_at ? new Date(e.due_at).getTime() : Infinity);

  /** "in 1 h 4 min" / "overdue by 12 min"; a closed exception shows its due time. */
  function due(e) {
    const { t } = S.ctx;
    if (!e.due_at) return { text: t("no_due"), overdue: false };
    const left = (dueMs(e) - Date.now()) / 1000;
    if (!ACTIVE.includes(e.state)) return { text: S.ctx.fmtTime(e.due_at), overdue: false };
    return left <= 0 ? { text: t("overdue_by", { age: S.ctx.fmtAge(-left) }), overdue: true }
                     : { text: t("due_in", { age: S.ctx.fmtAge(left) }), overdue: false };
  }

  function subjectText(s) {
    if (!s) return "";
    return [s.kind, s.ref || (s.id !== null && s.id !== undefined ? "#" + s.id : "")].filter(Boolean).join(" ");
  }

  // ---- rendering ---------------------------------------------------------------------------

  function render() {
    if (!S.root) return;
    const { t } = S.ctx;
    S.root.textContent = "";
    const stateSelect = el("select", { "data-testid": "exc-state", onchange: (ev) => {
      S.state = ev.target.value; S.version++; S.selected = null; load(); } },
      STATES.map((s) => el("option", { value: s, selected: s === S.state, text: t("s." + s) })));
    S.root.append(el("div", { class: "panel-toolbar" },
      el("label", {}, t("state"), " ", stateSelect),
      el("label", {}, el("input", { type: "checkbox", checked: S.overdue, "data-testid": "exc-overdue",
        onchange: (ev) => { S.overdue = ev.target.checked; S.version++; load(); } }), " ", t("overdue_only")),
      el("span", { class: "spacer" }),
      el("span", { class: "muted", "data-testid": "exc-count", text: t("count", { n: S.rows.length }) }),
      el("button", { type: "button", "data-testid": "exc-refresh", text: t("refresh"), onclick: () => load() })));
    S.root.append(el("div", { class: "grid-2" }, el("section", { class: "card", "data-list": "exceptions" }), detail()));
    renderList();
  }

  function renderList() {
    const { t } = S.ctx;
    const box = S.root && S.root.querySelector("[data-list=exceptions]");
    if (!box) return;
    const count = S.root.querySelector("[data-testid=exc-count]");
    if (count) count.textContent = t("count", { n: S.rows.length });
    const rows = S.rows.map((e) => {
      const d = due(e);
      return el("tr", { class: "clickable" + (S.selected && S.selected.id === e.id ? " selected" : ""),
        "data-id": e.id, "data-state": e.state, onclick: () => { S.selected = e; S.form = null; render(); } },
        el("td", { text: String(e.id) }), el("td", { text: e.type }),
        el("td", {}, sevBadge(e.severity)),
        el("td", { "data-testid": "exc-row-state", text: t("s." + e.state) }),
        el("td", { text: subjectText(e.subject) }), el("td", { text: e.owner || "" }),
        el("td", { class: "due" + (d.overdue ? " error" : ""), "data-due": e.id, text: d.text }));
    });
    const list = rows.length
      ? el("table", { class: "grid", "data-testid": "exc-list" },
        el("thead", {}, el("tr", {}, ["col_id", "col_type", "col_severity", "col_state", "col_subject",
                                      "col_owner", "col_due"].map((k) => el("th", { text: t(k) })))),
        el("tbody", {}, rows))
      : el("p", { class: "empty", "data-testid": "exc-empty", text: t("empty") });
    box.replaceChildren(list);
  }

  function sevBadge(sev) {
    const kind = sev === "critical" || sev === "high" ? "error" : sev === "medium" ? "warn" : "";
    return el("span", { class: "badge " + kind, text: S.ctx.has("sev." + sev) ? S.ctx.t("sev." + sev) : sev });
  }

  function detail() {
    const { t } = S.ctx;
    const e = S.selected;
    if (!e) return el("section", { class: "card", "data-testid": "exc-detail" }, el("p", { class: "empty", text: t("choose") }));
    const d = due(e);
    const active = ACTIVE.includes(e.state);
    const button = (action, cls, onclick) => el("button", { type: "button", class: cls,
      "data-testid": "exc-" + action, disabled: !active || S.busy || (action === "ack" && e.state !== "open"),
      onclick, text: t(action) });
    return el("section", { class: "card", "data-testid": "exc-detail", "data-id": e.id, "data-state": e.state },
      el("h3", {}, `#${e.id} ${e.type} `, sevBadge(e.severity), " ",
        el("span", { class: "badge", "data-testid": "exc-detail-state", text: t("s." + e.state) })),
      el("p", { text: e.message || "" }),
      el("p", { class: "muted" }, `${subjectText(e.subject)} · ${t("col_owner")}: ${e.owner || ""} · `,
        el("span", { class: "due" + (d.overdue ? " error" : ""), "data-due": e.id, text: d.text })),
      el("p", { class: "muted", text: `${t("created")}: ${S.ctx.fmtTime(e.created_at)}` + (e.resolution ? ` · ${e.resolution}` : "") }),
      el("div", { class: "panel-toolbar" },
        button("ack", "primary", () => act("ack", {}, "done_ack")),
        button("assign", "", () => { S.form = "assign"; render(); }),
        button("resolve", "ok", () => { S.form = "resolve"; render(); }),
        button("dismiss", "warn", () => { S.form = "dismiss"; render(); })),
      active && S.form ? form(S.form) : null);
  }

  function form(kind) {
    const { t } = S.ctx;
    const fields = {
      assign: () => [el("label", {}, t("owner"), el("input", { name: "owner", required: true, maxlength: 120,
        list: "exc-owners", "data-testid": "exc-owner", value: "user:" + S.ctx.user.badge })),
        el("datalist", { id: "exc-owners" }, ["supervisor", "admin", "packer", "picker"].map((o) => el("option", { value: o })))],
      resolve: () => [el("label", {}, t("resolution"), el("input", { name: "resolution", required: true,
        pattern: "[a-z0-9_]{1,64}", list: "exc-resolutions", "data-testid": "exc-resolution" })),
        el("datalist", { id: "exc-resolutions" }, RESOLUTIONS.map((r) => el("option", { value: r }))),
        el("label", {}, t("note"), el("input", { name: "note", maxlength: 4000, "data-testid": "exc-note" }))],
      dismiss: () => [el("label", {}, t("why"), el("input", { name: "note", required: true, maxlength: 4000,
        "data-testid": "exc-why" }))],
    };
    return el("form", { class: "inline", "data-testid": "exc-form-" + kind, onsubmit: (ev) => {
      ev.preventDefault();
      const data = Object.fromEntries(new FormData(ev.target).entries());
      for (const k of Object.keys(data)) data[k] = String(data[k]).trim();
      if (kind === "resolve" && !data.note) delete data.note;
      act(kind, data, "done_" + kind, data);
    } }, fields[kind](),
      el("button", { type: "submit", class: "primary", "data-testid": "exc-send", text: t("send_" + kind) }),
      el("button", { type: "button", text: t("back"), onclick: () => { S.form = null; render(); } }));
  }

  async function act(action, body, doneKey, params) {
    const e = S.selected;
    if (!e || S.busy) return;
    S.busy = true;
    try {
      const res = await S.ctx.api("POST", `/api/v1/exceptions/${e.id}/${action}`, body);
      if (!res.ok) {
        if (res.status !== 401) S.ctx.toast("error", S.ctx.refusal(res.status, res.body));
      } else {
        S.selected = res.body && res.body.id ? res.body : e;
        S.form = null;
        S.ctx.toast("ok", S.ctx.t(doneKey, Object.assign({ id: e.id }, params)));
      }
    } finally {
      S.busy = false;
    }
    await load();
  }

  /** The due times count down in place (no row rebuilt: a click is never lost). */
  function tick() {
    if (!S.shown || !S.root) return;
    for (const cell of S.root.querySelectorAll("[data-due]")) {
      const e = S.rows.find((r) => String(r.id) === cell.dataset.due) ||
        (S.selected && String(S.selected.id) === cell.dataset.due ? S.selected : null);
      if (!e) continue;
      const d = due(e);
      cell.textContent = d.text;
      cell.classList.toggle("error", d.overdue);
    }
  }

  WPConsole.panel("exceptions", {
    order: 20,
    roles: ["supervisor", "admin"],
    words: WORDS,
    mount(root, ctx) { S.root = root; S.ctx = ctx; render(); },
    show(ctx) { S.ctx = ctx; S.shown = true; load(); },
    hide() { S.shown = false; },
    relang() { render(); },
    open(arg) {
      if (arg && arg.exception_id) {
        S.ctx.api("GET", `/api/v1/exceptions/${arg.exception_id}`).then((res) => {
          if (res.ok) { S.selected = res.body; S.form = null; render(); }
        });
      }
    },
    on: {
      "exception.changed": () => soon(),
      "exception.escalated": () => soon(),
      connect: () => { if (S.shown) load(); },
    },
  });
  setInterval(tick, 1000);
})();
