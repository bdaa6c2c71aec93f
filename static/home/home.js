// The landing page: its words in English or Chinese (remembered), the server's version
// and, when it runs the demo, the demo logins (GET /api/v1/about).
"use strict";

(function () {
  const WORDS = {
    en: {
      title: "wavepack", lang_button: "中文",
      heading: "Warehouse scanning and fulfilment",
      intro: "This server takes orders from your storefronts, reserves stock, plans picking waves, checks every scan on the handhelds and at the pack stations, prints labels and tells the storefronts what shipped.",
      console: "Supervisor console", console_hint: "The floor live, exceptions, waves and holds",
      handheld: "Handheld", handheld_hint: "Picking on a phone or scanner",
      pack: "Pack station", pack_hint: "Verify, weigh, print the label",
      returns: "Returns station", returns_hint: "Receive, grade and restock returns",
      exceptions: "Exception queue", exceptions_hint: "What a person must act on",
      docs: "API documentation", docs_hint: "OpenAPI: orders, stock, waves, packing…",
      demo_heading: "Demo logins",
      demo_intro: "This server runs the demo warehouse. Log in with a badge and PIN:",
      col_role: "Role", col_badge: "Badge", col_pin: "PIN", col_name: "Name",
      "role.picker": "Picker", "role.packer": "Packer", "role.supervisor": "Supervisor",
      "role.admin": "Admin",
      offline: "The server did not answer", version: "version {v}",
    },
    "zh-CN": {
      title: "wavepack", lang_button: "English",
      heading: "仓库扫描与履约",
      intro: "本服务器接收各店铺的订单，预留库存，规划拣货波次，核验手持终端和打包台的每一次扫描，打印面单，并把发货信息回传给店铺。",
      console: "主管控制台", console_hint: "实时现场、异常、波次与暂挂订单",
      handheld: "手持终端", handheld_hint: "用手机或扫描枪拣货",
      pack: "打包台", pack_hint: "核验、称重、打印面单",
      returns: "退货台", returns_hint: "收货、分级、退货上架",
      exceptions: "异常队列", exceptions_hint: "需要人工处理的事项",
      docs: "API 文档", docs_hint: "OpenAPI：订单、库存、波次、打包…",
      demo_heading: "演示账号",
      demo_intro: "本服务器运行演示仓库。请用工牌和密码登录：",
      col_role: "角色", col_badge: "工牌", col_pin: "密码", col_name: "姓名",
      "role.picker": "拣货员", "role.packer": "打包员", "role.supervisor": "主管",
      "role.admin": "管理员",
      offline: "服务器没有响应", version: "版本 {v}",
    },
  };
  const KEY = "wp.home.lang";
  const saved = localStorage.getItem(KEY);
  let lang = saved && WORDS[saved] ? saved
    : (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
  let about = null;
  const $ = (id) => document.getElementById(id);

  function t(key, params) {
    let s = WORDS[lang][key] ?? WORDS.en[key] ?? key;
    for (const [k, v] of Object.entries(params || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  }

  function render() {
    document.documentElement.lang = lang;
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("lang").textContent = t("lang_button");
    $("version").textContent = about ? t("version", { v: about.version }) : "";
    const body = $("logins");
    body.textContent = "";
    const logins = (about && about.demo && about.logins) || [];
    $("demo").hidden = logins.length === 0;
    for (const login of logins) {
      const tr = document.createElement("tr");
      tr.dataset.role = login.role;
      for (const text of [t("role." + login.role), login.badge, login.pin, login.name || ""]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  }

  $("lang").addEventListener("click", () => {
    lang = lang === "zh-CN" ? "en" : "zh-CN";
    localStorage.setItem(KEY, lang);
    render();
  });
  render();
  fetch("/api/v1/about", { cache: "no-store" })
    .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
    .then((body) => { about = body; $("offline").hidden = true; render(); })
    .catch(() => { $("offline").hidden = false; });
})();
