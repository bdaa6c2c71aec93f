// The handheld page's service worker: the page itself and the scripts it shares with the
// pack page (/handheld/ and /common/; not the API, not Socket.IO) from the network when it
// answers, else from the cache, so a picker in a dead zone can reload the page and still
// see and keep the waiting scans.
// Network first: a deployed update is picked up on the next load that reaches the server.
"use strict";

const CACHE = "wavepack-handheld-v2";
const SHELL = ["./", "index.html", "app.css", "i18n.js", "camera.js", "app.js",
               "../common/i18n.js", "../common/page.js", "../common/outbox.js",
               "vendor/socket.io.min.js", "vendor/zxing-wasm-reader.js", "vendor/zxing_reader.wasm"];
// the scripts both pages share (static/common/, served at /common/) belong to the shell too
const COMMON = new URL("../common/", self.registration.scope).href;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  if (!req.url.startsWith(self.registration.scope) && !req.url.startsWith(COMMON)) return;
  event.respondWith(fetch(req).then((resp) => {
    if (resp.ok) {
      const copy = resp.clone();
      event.waitUntil(caches.open(CACHE).then((c) => c.put(req, copy)));
    }
    return resp;
  }).catch(() => caches.match(req, { ignoreSearch: true }).then(
    (hit) => hit || Response.error())));
});
