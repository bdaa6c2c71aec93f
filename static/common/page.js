// What the handheld, pack station and returns station pages share, as window.WP: their
// words (EN and zh-CN over common/i18n.js), the badge login form, the verdict banner and its
// sounds, JSON calls with the staff token, the keyboard-wedge scan field, and scan ids. Plain script, loaded before each page's app.js;
// each page keeps only its own logic.
"use strict";

window.WP = (function () {
  const $ = (id) => document.getElementById(id);

  // ---- words ---------------------------------------------------------------------------

  /** One page's words: its own `tables` over the shared ones, in the language saved under
   *  `storageKey` (else the browser's: zh… → zh-CN, anything else → en). */
  function words(tables, storageKey) {
    const common = window.WP_COMMON_STRINGS || {};
    const table = {};
    for (const lang of new Set([...Object.keys(common), ...Object.keys(tables)])) {
      table[lang] = Object.assign({}, common[lang], tables[lang]);
    }
    const w = {
      lang: null,
      has: (key) => key in table.en,
      t(key, params) {
        const own = table[w.lang] || table.en;
        let s = own[key] ?? table.en[key] ?? key;
        for (const [k, v] of Object.entries(params || {})) {
          s = s.split("{" + k + "}").join(String(v ?? ""));
        }
        return s;
      },
      /** English ⇄ Chinese, remembered for the next visit. */
      toggle() {
        w.lang = w.lang === "zh-CN" ? "en" : "zh-CN";
        localStorage.setItem(storageKey, w.lang);
      },
      /** The page's fixed words: <html lang>, the title, every [data-i18n], the scan hint. */
      apply() {
        document.documentElement.lang = w.lang;
        document.title = w.t("title");
        document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = w.t(el.dataset.i18n); });
        $("scan").placeholder = w.t("scan_placeholder");
      },
    };
    const saved = localStorage.getItem(storageKey);
    w.lang = saved && table[saved] ? saved
      : (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
    return w;
  }

  // ---- feedback: the banner and its sound ----------------------------------------------

  /** Beeps by kind: `tones` maps a kind to [frequency Hz, duration ms, waveform] per beep.
   *  Browsers start audio only after a gesture: call unlock() in every click and key handler. */
  function sound(tones) {
    let audio = null;
    return {
      unlock() {
        const Ctx = window.AudioContext || window.webkitAudioContext;
        if (!audio && Ctx) audio = new Ctx();
        if (audio && audio.state === "suspended") audio.resume();
      },
      play(kind) {
        if (!audio || !tones[kind]) return;
        let at = audio.currentTime;
        for (const [freq, ms, wave] of tones[kind]) {
          const osc = audio.createOscillator();
          const gain = audio.createGain();
          osc.type = wave;
          osc.frequency.value = freq;
          gain.gain.setValueAtTime(0.2, at);
          gain.gain.exponentialRampToValueAtTime(0.001, at + ms / 1000);
          osc.connect(gain).connect(audio.destination);
          osc.start(at);
          osc.stop(at + ms / 1000);
          at += ms / 1000 + 0.06;
        }
      },
    };
  }

  let bannerTimer = null;
  /** The big #verdict banner: its colour by `kind`, the server's `code`, one more message
   *  counted in data-seq; an "ok" goes away by itself after `okMs`. */
  function showBanner(kind, code, text, okMs) {
    const box = $("verdict");
    box.className = "verdict " + kind;
    box.dataset.code = code;
    box.dataset.seq = String(Number(box.dataset.seq || 0) + 1);   // one more message shown
    box.textContent = text;
    box.hidden = false;
    clearTimeout(bannerTimer);
    if (kind === "ok") bannerTimer = setTimeout(() => { box.hidden = true; }, okMs);
  }

  /** The banner said in words that follow the language: `key` and `params` are kept on
   *  it (data-key, data-params) so that sayAgain(t) words it anew after a switch. */
  function say(kind, code, key, params, t, okMs) {
    const box = $("verdict");
    box.dataset.kind = kind;
    box.dataset.key = key;
    box.dataset.params = JSON.stringify(params || {});
    showBanner(kind, code, t(key, params), okMs);
  }

  function sayAgain(t) {
    const box = $("verdict");
    if (!box.hidden && box.dataset.key) {
      box.textContent = t(box.dataset.key, JSON.parse(box.dataset.params || "{}"));
    }
  }

  // ---- the API -------------------------------------------------------------------------

  class NetworkError extends Error {}

  /** One JSON call with a bearer `token`: resolves {status, ok, body} (body null when not
   *  JSON); throws NetworkError when no answer came. */
  async function fetchJson(token, method, path, body) {
    const headers = { Authorization: "Bearer " + token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(path, { method, headers, cache: "no-store",
                                 body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new NetworkError(String(e));
    }
    const data = await resp.json().catch(() => null);
    return { status: resp.status, ok: resp.ok, body: data };
  }

  /** The API of a page with a badge login: `api(method, path, body)` answers {status, ok,
   *  body}, status 0 when no answer came; a 401 (the login expired or was revoked) calls
   *  `expired()`. `auth()` gives the current login ({token}) or null. */
  function loginApi(auth, expired) {
    return async function api(method, path, body) {
      let res;
      try {
        res = await fetchJson(auth().token, method, path, body);
      } catch (e) {
        if (!(e instanceof NetworkError)) throw e;
        return { status: 0, ok: false, body: null };
      }
      if (res.status === 401 && auth()) expired();
      return res;
    };
  }

  // ---- the badge login -----------------------------------------------------------------

  const LOGIN_FORM = `
      <h1 data-i18n="title"></h1>
      <form id="login-form" autocomplete="off">
        <label><span data-i18n="badge">Badge</span>
          <input id="badge" name="badge" inputmode="numeric" required maxlength="64"></label>
        <label><span data-i18n="pin">PIN</span>
          <input id="pin" name="pin" type="password" inputmode="numeric" required maxlength="64"></label>
        <button id="login-button" type="submit" class="primary" data-i18n="log_in">Log in</button>
        <p id="login-error" class="error" role="alert" data-testid="login-error" hidden></p>
      </form>`;

  /** The login form, the same on both pages, into their <section id="login-view">. */
  function addLoginForm() {
    const view = $("login-view");
    if (view && !$("login-form")) view.innerHTML = LOGIN_FORM;
  }

  /** The #login-form submitted: POST /api/v1/auth/badge. A badge whose role is not in
   *  `roles` (when given) is refused here; otherwise onLoggedIn(answer) takes it. */
  async function logIn(ev, t, onLoggedIn, roles) {
    ev.preventDefault();
    const err = $("login-error");
    const button = $("login-button");
    err.hidden = true;
    button.disabled = true;
    button.textContent = t("logging_in");
    try {
      const resp = await fetch("/api/v1/auth/badge", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ badge: $("badge").value.trim(), pin: $("pin").value }),
      });
      const body = await resp.json().catch(() => ({}));
      if (resp.ok && roles && !roles.includes(body.role)) {
        err.dataset.code = "forbidden";
        err.textContent = t("forbidden");
      } else if (resp.ok) {
        $("pin").value = "";
        await onLoggedIn(body);
        return;
      } else {
        err.dataset.code = (body && body.error && body.error.code) || String(resp.status);
        err.textContent = resp.status === 401 ? t("bad_credentials")
          : resp.status === 429 ? t("locked") : t("login_failed", { status: resp.status });
      }
    } catch (e) {
      err.dataset.code = "network";
      err.textContent = t("network_error");
    } finally {
      button.disabled = false;
      button.textContent = t("log_in");
    }
    err.hidden = false;
  }

  /** Back at the login form with why (`code` in data-code, `text` shown). */
  function loginRefused(code, text) {
    const err = $("login-error");
    err.dataset.code = code;
    err.textContent = text;
    err.hidden = false;
  }

  /** The header and the login view for a page logged in (as `who`) or not. */
  function showLoggedIn(loggedIn, who) {
    $("login-view").hidden = loggedIn;
    $("logout").hidden = !loggedIn;
    $("who").textContent = loggedIn ? who : "";
  }

  /** The header's count of scans not yet answered. */
  function showPending(n, text) {
    const pend = $("pending");
    pend.hidden = n === 0;
    pend.dataset.count = String(n);
    pend.textContent = text;
  }

  /** A JSON value kept in `storage` under `key` (login state). */
  function stored(storage, key) {
    return {
      load() {
        try { return JSON.parse(storage.getItem(key) || "null"); } catch { return null; }
      },
      save(value) {
        if (value) storage.setItem(key, JSON.stringify(value));
        else storage.removeItem(key);
      },
    };
  }

  // ---- the scan field ------------------------------------------------------------------

  /** A keyboard-wedge scan: its trailing CR/LF off, a typed <GS> as the GS1 separator. */
  function normaliseScan(text) {
    return text.replace(/[\r\n]+$/, "").split("<GS>").join("\x1d");
  }

  /** A v4 UUID: the scan_id that makes a resent scan count once. */
  function newId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    // plain-http origins other than localhost have no randomUUID; getRandomValues works everywhere
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** The focus back on #scan after anything else was clicked (a wedge types wherever the
   *  focus is), unless the packer or picker is typing in another field. */
  function keepScanFocus() {
    setTimeout(() => {
      const active = document.activeElement;
      const typing = active && ["INPUT", "SELECT", "TEXTAREA"].includes(active.tagName);
      if (!$("work-view").hidden && active !== $("scan") && !typing) $("scan").focus();
    }, 0);
  }

  /** #scan-form: each Enter hands the field's text to onScan (after `before`, which
   *  unlocks the sound) and empties it; the field keeps the focus. */
  function wireScanField(onScan, before) {
    $("scan-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (before) before();
      const input = $("scan");
      const value = input.value;
      input.value = "";
      onScan(value);
    });
    $("scan").addEventListener("blur", keepScanFocus);
    document.addEventListener("click", keepScanFocus);
  }

  addLoginForm();
  return { $, words, sound, showBanner, say, sayAgain, NetworkError, fetchJson, loginApi, logIn,
           loginRefused, showLoggedIn, showPending, stored, normaliseScan, newId, wireScanField };
})();
