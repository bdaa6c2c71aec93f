// The handheld page's service worker: the page itself (not the API, not Socket.IO, which
// are outside /handheld/) from the network when it answers, else from the cache, so a
// picker in a dead zone can reload the page and still see and keep the waiting scans.
// Network first: a deployed update is picked up on the next load that reaches the server.
"use strict";

const CACHE = "wavepack-handheld-v1";
const SHELL = ["./", "index.html", "app.css", "i18n.js", "outbox.js", "camera.js", "app.js",
               "vendor/socket.io.min.js", "vendor/zxing-wasm-reader.js", "vendor/zxing_reader.wasm"];

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
  if (req.method !== "GET" || !req.url.startsWith(self.registration.scope)) return;
  event.respondWith(fetch(req).then((resp) => {
    if (resp.ok) {
      const copy = resp.clone();
      event.waitUntil(caches.open(CACHE).then((c) => c.put(req, copy)));
    }
    return resp;
  }).catch(() => caches.match(req, { ignoreSearch: true }).then(
    (hit) => hit || Response.error())));
});
