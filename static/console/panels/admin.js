// The console's Users & tokens tab, admin only (API: /api/v1/admin/users and
// /api/v1/admin/tokens): list and add users, disable / enable, reset a PIN; list, create
// and revoke API tokens, a new token's secret shown once. Disabling and revoking ask for a
// second click (the button turns into "Sure?") instead of a browser dialog.
"use strict";

(function () {
  const ROLES = ["picker", "packer", "supervisor", "admin"];
  const WORDS = {
    en: {
      title: "Users & tokens",
      users: "Users", tokens: "API tokens", badge: "Badge", name: "Name", role: "Role",
      pin: "PIN (at least 4 digits)", add_user: "Add user", col_state: "State",
      col_sessions: "Sessions", col_last_login: "Last login", active: "active", disabled: "disabled",
      disable: "Disable", enable: "Enable", reset_pin: "Reset PIN", new_pin: "New PIN", save: "Save",
      cancel: "Cancel", sure: "Sure?",
      col_id: "#", col_kind: "Kind", col_for: "For", col_label: "Label", col_created: "Created",
      col_expires: "Expires", revoke: "Revoke", revoked: "revoked", expired: "expired",
      never: "never", show_revoked: "Show revoked",
      token_kind: "Token for", kind_role: "a staff role", kind_channel: "a channel",
      kind_carrier: "a carrier", value: "Role / channel / carrier", label: "Label",
      hours: "Hours (empty: never expires)", create_token: "Create token",
      secret_once: "Copy this token now: it is shown once and never again.", copy: "Copy",
      user_added: "User {badge} added", user_disabled: "User {badge} disabled; their sessions are revoked",
      user_enabled: "User {badge} enabled", pin_reset: "PIN of {badge} reset",
      token_revoked: "Token {id} revoked", token_created: "Token {id} created",
      failed: "The server refused: {message}", offline: "No answer from the server; try again.",
      "role.picker": "picker", "role.packer": "packer", "role.supervisor": "supervisor",
      "role.admin": "admin",
    },
    "zh-CN": {
      title: "用户与令牌",
      users: "用户", tokens: "API 令牌", badge: "工牌", name: "姓名", role: "角色",
      pin: "PIN（至少 4 位数字）", add_user: "添加用户", col_state: "状态",
      col_sessions: "会话", col_last_login: "最近登录", active: "启用", disabled: "已停用",
      disable: "停用", enable: "启用", reset_pin: "重置 PIN", new_pin: "新 PIN", save: "保存",
      cancel: "取消", sure: "确定？",
      col_id: "#", col_kind: "类型", col_for: "对象", col_label: "标签", col_created: "创建时间",
      col_expires: "过期时间", revoke: "吊销", revoked: "已吊销", expired: "已过期",
      never: "永不", show_revoked: "显示已吊销",
      token_kind: "令牌用于", kind_role: "员工角色", kind_channel: "渠道", kind_carrier: "承运商",
      value: "角色 / 渠道 / 承运商", label: "标签", hours: "有效小时数（留空：永不过期）",
      create_token: "创建令牌",
      secret_once: "请立即复制此令牌：它只显示这一次。", copy: "复制",
      user_added: "已添加用户 {badge}", user_disabled: "已停用用户 {badge}，其会话已吊销",
      user_enabled: "已启用用户 {badge}", pin_reset: "已重置 {badge} 的 PIN",
      token_revoked: "已吊销令牌 {id}", token_created: "已创建令牌 {id}",
      failed: "服务器拒绝：{message}", offline: "服务器无响应，请重试。",
      "role.picker": "拣货员", "role.packer": "打包员", "role.supervisor": "主管", "role.admin": "管理员",
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

  const state = { root: null, users: [], tokens: [], showRevoked: false, pinFor: null,
                  secret: null, arming: null };

  async function call(ctx, method, path, body) {
    try {
      const r = await ctx.api(method, path, body);
      if (!r.ok) {
        const message = (r.body && r.body.error && r.body.error.message) || String(r.status);
        ctx.toast("error", r.status ? ctx.t("failed", { message }) : ctx.t("offline"));
      }
      return r;
    } catch (e) {
      ctx.toast("error", ctx.t("offline"));
      return { status: 0, ok: false, body: null };
    }
  }

  /** A button that needs a second click within 4 s to act. */
  function confirmButton(ctx, id, testid, label, act) {
    const armed = state.arming === id;
    return h("button", { type: "button", "data-testid": testid, class: armed ? "primary" : "",
                         text: armed ? ctx.t("sure") : label,
                         onclick: () => {
                           if (state.arming === id) { state.arming = null; act(); return; }
                           state.arming = id;
                           render(ctx);
                           setTimeout(() => { if (state.arming === id) { state.arming = null; render(ctx); } }, 4000);
                         } });
  }

  function roleWord(ctx, role) {
    const w = ctx.t("role." + role);
    return w === "role." + role ? role : w;
  }

  function render(ctx) {
    const root = state.root;
    root.replaceChildren(renderUsers(ctx), renderTokens(ctx));
  }

  function renderUsers(ctx) {
    const badge = h("input", { "data-testid": "user-badge", maxlength: 64, required: true, placeholder: ctx.t("badge") });
    const name = h("input", { "data-testid": "user-name", maxlength: 200, placeholder: ctx.t("name") });
    const role = h("select", { "data-testid": "user-role" },
      ROLES.map((r) => h("option", { value: r, text: roleWord(ctx, r) })));
    const pin = h("input", { "data-testid": "user-pin", type: "password", inputmode: "numeric",
                             pattern: "[0-9]{4,64}", required: true, placeholder: ctx.t("pin") });
    const rows = state.users.map((u) => h("tr", { "data-testid": "user-row", "data-badge": u.badge,
                                                  "data-active": String(u.active) },
      h("td", { text: u.badge }), h("td", { text: u.name }), h("td", { text: roleWord(ctx, u.role) }),
      h("td", {}, h("span", { class: u.active ? "badge ok" : "badge error",
                              text: ctx.t(u.active ? "active" : "disabled") })),
      h("td", { "data-testid": "user-sessions", text: u.sessions }),
      h("td", { text: u.last_login_at ? ctx.fmtTime(u.last_login_at) : "" }),
      h("td", {},
        u.active
          ? confirmButton(ctx, "user:" + u.badge, "user-disable", ctx.t("disable"),
                          () => userAction(ctx, u.badge, "disable", "user_disabled"))
          : h("button", { type: "button", "data-testid": "user-enable", text: ctx.t("enable"),
                          onclick: () => userAction(ctx, u.badge, "enable", "user_enabled") }),
        " ",
        h("button", { type: "button", "data-testid": "user-reset-pin", text: ctx.t("reset_pin"),
                      onclick: () => { state.pinFor = u.badge; render(ctx); } }),
        state.pinFor === u.badge ? pinForm(ctx, u.badge) : null)));
    return h("section", { "data-testid": "admin-users" },
      h("h3", { text: ctx.t("users") }),
      h("form", { class: "panel-toolbar", "data-testid": "user-add-form", onsubmit: async (ev) => {
          ev.preventDefault();
          const body = { badge: badge.value.trim(), role: role.value, pin: pin.value };
          if (name.value.trim()) body.name = name.value.trim();
          const r = await call(ctx, "POST", "/api/v1/admin/users", body);
          if (r.ok) { ctx.toast("ok", ctx.t("user_added", { badge: body.badge })); await load(ctx); }
        } },
        badge, name, role, pin,
        h("button", { type: "submit", class: "primary", "data-testid": "user-add", text: ctx.t("add_user") })),
      h("table", { class: "grid", "data-testid": "users" },
        h("thead", {}, h("tr", {}, ["badge", "name", "role", "col_state", "col_sessions", "col_last_login", ""]
          .map((k) => h("th", { text: k ? ctx.t(k) : "" })))),
        h("tbody", {}, rows)));
  }

  function pinForm(ctx, badge) {
    const pin = h("input", { "data-testid": "new-pin", type: "password", inputmode: "numeric",
                             pattern: "[0-9]{4,64}", required: true, placeholder: ctx.t("new_pin") });
    return h("form", { class: "panel-toolbar", "data-testid": "pin-form", onsubmit: async (ev) => {
        ev.preventDefault();
        const r = await call(ctx, "POST", `/api/v1/admin/users/${encodeURIComponent(badge)}/pin`, { pin: pin.value });
        if (r.ok) { state.pinFor = null; ctx.toast("ok", ctx.t("pin_reset", { badge })); await load(ctx); }
      } },
      pin, h("button", { type: "submit", "data-testid": "pin-save", text: ctx.t("save") }),
      h("button", { type: "button", text: ctx.t("cancel"), onclick: () => { state.pinFor = null; render(ctx); } }));
  }

  async function userAction(ctx, badge, action, word) {
    const r = await call(ctx, "POST", `/api/v1/admin/users/${encodeURIComponent(badge)}/${action}`);
    if (r.ok) { ctx.toast("ok", ctx.t(word, { badge })); await load(ctx); }
  }

  function tokenState(ctx, t) {
    if (t.revoked_at) return h("span", { class: "badge error", text: ctx.t("revoked") });
    if (!t.active) return h("span", { class: "badge warn", text: ctx.t("expired") });
    return h("span", { class: "badge ok", text: ctx.t("active") });
  }

  function renderTokens(ctx) {
    const kind = h("select", { "data-testid": "token-kind" },
      ["role", "channel", "carrier"].map((k) => h("option", { value: k, text: ctx.t("kind_" + k) })));
    const value = h("input", { "data-testid": "token-value", maxlength: 64, required: true,
                               placeholder: ctx.t("value"), list: "admin-roles" });
    const label = h("input", { "data-testid": "token-label", maxlength: 200, placeholder: ctx.t("label") });
    const hours = h("input", { "data-testid": "token-hours", type: "number", min: 1, step: "any",
                               placeholder: ctx.t("hours") });
    const revokedBox = h("input", { type: "checkbox", "data-testid": "show-revoked",
                                    onchange: (ev) => { state.showRevoked = ev.target.checked; load(ctx); } });
    revokedBox.checked = state.showRevoked;
    const rows = state.tokens.map((t) => h("tr", { "data-testid": "token-row", "data-token-id": t.id },
      h("td", { text: t.id }), h("td", { text: t.kind }),
      h("td", { text: t.channel || t.carrier || roleWord(ctx, t.role) + (t.badge ? ` (${t.badge})` : "") }),
      h("td", { text: t.label }), h("td", { text: t.created_at ? ctx.fmtTime(t.created_at) : "" }),
      h("td", { text: t.expires_at ? ctx.fmtTime(t.expires_at) : ctx.t("never") }),
      h("td", {}, tokenState(ctx, t)),
      h("td", {}, t.revoked_at ? null : confirmButton(ctx, "token:" + t.id, "token-revoke", ctx.t("revoke"),
        async () => {
          const r = await call(ctx, "POST", `/api/v1/admin/tokens/${t.id}/revoke`);
          if (r.ok) { ctx.toast("ok", ctx.t("token_revoked", { id: t.id })); await load(ctx); }
        }))));
    return h("section", { "data-testid": "admin-tokens" },
      h("h3", { text: ctx.t("tokens") }),
      h("datalist", { id: "admin-roles" }, ROLES.map((r) => h("option", { value: r }))),
      h("form", { class: "panel-toolbar", "data-testid": "token-create-form", onsubmit: async (ev) => {
          ev.preventDefault();
          const body = { [kind.value]: value.value.trim() };
          if (label.value.trim()) body.label = label.value.trim();
          if (hours.value) body.hours = Number(hours.value);
          const r = await call(ctx, "POST", "/api/v1/admin/tokens", body);
          if (r.ok) {
            state.secret = { id: r.body.id, token: r.body.token };
            ctx.toast("ok", ctx.t("token_created", { id: r.body.id }));
            await load(ctx);
          }
        } },
        h("label", { text: ctx.t("token_kind") }), kind, value, label, hours,
        h("button", { type: "submit", class: "primary", "data-testid": "token-create", text: ctx.t("create_token") })),
      state.secret ? h("div", { class: "panel-toolbar", "data-testid": "token-secret-box" },
        h("b", { text: ctx.t("secret_once") }),
        h("code", { "data-testid": "token-secret", text: state.secret.token }),
        h("button", { type: "button", text: ctx.t("copy"), onclick: () => {
          if (navigator.clipboard) navigator.clipboard.writeText(state.secret.token).catch(() => {});
        } }),
        h("button", { type: "button", "data-testid": "token-secret-close", text: "×",
                      onclick: () => { state.secret = null; render(ctx); } })) : null,
      h("label", {}, revokedBox, " ", ctx.t("show_revoked")),
      h("table", { class: "grid", "data-testid": "tokens" },
        h("thead", {}, h("tr", {}, ["col_id", "col_kind", "col_for", "col_label", "col_created",
                                     "col_expires", "col_state", ""].map((k) => h("th", { text: k ? ctx.t(k) : "" })))),
        h("tbody", {}, rows)));
  }

  async function load(ctx) {
    const [u, t] = await Promise.all([
      call(ctx, "GET", "/api/v1/admin/users"),
      call(ctx, "GET", "/api/v1/admin/tokens" + (state.showRevoked ? "?include_revoked=true" : "")),
    ]);
    if (u.ok) state.users = u.body.users;
    if (t.ok) state.tokens = t.body.tokens;
    render(ctx);
  }

  window.WPConsole.panel("admin", {
    order: 90,
    roles: ["admin"],
    words: WORDS,
    mount(root, ctx) {
      state.root = root;
      root.dataset.testid = "panel-admin";
      render(ctx);
      load(ctx);
    },
    show(ctx) { load(ctx); },
    hide() { state.secret = null; },    // a secret never stays on a screen left behind
    relang(ctx) { if (state.root) render(ctx); },
  });
})();
