// The offline queue: every scan / short / tote.scan is written here (IndexedDB) before it
// is sent, and deleted only when the server's ack for it arrives. Records are kept in
// the order they were made (auto-increment key), so a replay after a reconnect or a
// page reload sends them in that order, one at a time, before anything newer.
"use strict";

window.Outbox = (function () {
  const DB_NAME = "wavepack-handheld";
  const STORE = "outbox";
  let dbPromise = null;

  function open() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const req = indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = () => {
          const store = req.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true });
          store.createIndex("scan_id", "scan_id", { unique: true });
        };
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    }
    return dbPromise;
  }

  function tx(mode, work) {
    return open().then((db) => new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      let result;
      Promise.resolve(work(t.objectStore(STORE))).then((r) => { result = r; });
      t.oncomplete = () => resolve(result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error || new Error("transaction aborted"));
    }));
  }

  function request(req) {
    return new Promise((resolve, reject) => {
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }

  return {
    /** Store one outgoing event; resolves once it is durably committed. */
    add(event, payload, owner) {
      const rec = { scan_id: payload.scan_id, event, payload, owner, created_at: Date.now() };
      return tx("readwrite", (s) => request(s.add(rec)));
    },
    /** The oldest record of this owner (the badge that made it), or null. */
    first(owner) {
      return tx("readonly", (s) => new Promise((resolve, reject) => {
        const req = s.openCursor();
        req.onsuccess = () => {
          const cur = req.result;
          if (!cur) return resolve(null);
          if (cur.value.owner === owner) return resolve(cur.value);
          cur.continue();
        };
        req.onerror = () => reject(req.error);
      }));
    },
    /** Every record of this owner, oldest first. */
    all(owner) {
      return tx("readonly", (s) => request(s.getAll())).then(
        (rows) => rows.filter((r) => r.owner === owner));
    },
    remove(seq) {
      return tx("readwrite", (s) => request(s.delete(seq)));
    },
  };
})();
