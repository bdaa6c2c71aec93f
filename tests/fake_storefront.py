"""A local fake storefront for outbox tests: Shopify, WooCommerce and a native receiver.

One threaded HTTP server on 127.0.0.1 (a free port) that answers what the outbox uses:

- Shopify Admin REST 2025-07 (header X-Shopify-Access-Token, else 401):
  GET orders/{id}/fulfillment_orders.json, GET orders/{id}/fulfillments.json and
  POST fulfillments.json (line_items_by_fulfillment_order checked against what is still
  fulfillable, 422 otherwise; tracking_info kept);
- WooCommerce REST v3 (HTTP Basic with the consumer key/secret, else 401):
  PUT orders/{id}, GET and POST orders/{id}/notes;
- a native receiver at /callback: checks X-Wavepack-Signature (401 when wrong) and
  applies each X-Wavepack-Delivery once.

`mode`: "up"; "down" (every request answered 503 and not applied); "slow" (a write —
POST or PUT — is applied, then its answer is held back `slow_s` seconds, so a client with a
shorter timeout gives up after the storefront did the work; reads answer at once); "drop"
(the connection is closed without an answer and nothing applied). Every request is recorded in `requests`, in every mode.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHOPIFY = re.compile(r"^/admin/api/2025-07/(?:orders/(\d+)/(fulfillment_orders|fulfillments"
                     r"|refunds/calculate|refunds)|(fulfillments))\.json$")
WOO = re.compile(r"^/wp-json/wc/v3/orders/(\d+)(/notes|/refunds)?$")


class FakeStorefront:
    """Start with `with FakeStorefront() as shop:`; add orders with add_shopify_order /
    add_woo_order; read what arrived from `requests`, `fulfillments()`, `notes()`,
    `deliveries`."""

    def __init__(self, *, token: str = "shpat_test", key: str = "ck_test",
                 secret: str = "cs_test", signing_secret: str = "native-secret"):
        self.token, self.key, self.secret, self.signing_secret = token, key, secret, \
            signing_secret
        self.mode = "up"
        self.slow_s = 1.0
        self.requests: list[dict] = []
        self.shopify: dict[str, dict] = {}      # order id → {"fulfillment_orders", "fulfillments"}
        self.woo: dict[str, dict] = {}          # order id → {"id", "status", "notes"}
        self.deliveries: dict[str, dict] = {}   # native: delivery id → body (applied once)
        self._ids = itertools.count(9_100_000_000_000_000_001)   # above 2^53, like Shopify's
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- arranging -------------------------------------------------------------------------

    def add_shopify_order(self, order_id: int, lines: dict[int, int]) -> None:
        """An order whose line items {line_item_id: quantity} sit in one open fulfilment
        order."""
        fo_id = next(self._ids)
        items = [{"id": next(self._ids), "shop_id": 1, "fulfillment_order_id": fo_id,
                  "line_item_id": line_id, "inventory_item_id": next(self._ids),
                  "quantity": qty, "fulfillable_quantity": qty, "variant_id": next(self._ids)}
                 for line_id, qty in lines.items()]
        with self._lock:
            self.shopify[str(order_id)] = {"fulfillments": [], "refunds": [], "fulfillment_orders": [{
                "id": fo_id, "order_id": order_id, "status": "open",
                "supported_actions": ["create_fulfillment"], "line_items": items}]}

    def add_woo_order(self, order_id: int, status: str = "processing") -> None:
        with self._lock:
            self.woo[str(order_id)] = {"id": order_id, "status": status, "notes": [],
                                       "refunds": []}

    # -- reading ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def callback_url(self) -> str:
        return self.base_url + "/callback"

    def fulfillments(self, order_id: int) -> list[dict]:
        return self.shopify[str(order_id)]["fulfillments"]

    def notes(self, order_id: int) -> list[dict]:
        return self.woo[str(order_id)]["notes"]

    def refunds(self, order_id: int) -> list[dict]:
        """Refunds made on a Shopify or WooCommerce order."""
        key = str(order_id)
        return (self.shopify.get(key) or self.woo.get(key) or {}).get("refunds", [])

    def calls(self, method: str, fragment: str = "") -> list[dict]:
        return [r for r in self.requests if r["method"] == method and fragment in r["path"]]

    # -- serving ---------------------------------------------------------------------------

    def start(self) -> FakeStorefront:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()           # let held-back ("slow") answers go
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self) -> FakeStorefront:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, object] | None:
        """(status, JSON body) for one request, or None: drop the connection."""
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": headers,
                                  "body": body, "mode": self.mode})
            mode = self.mode
            if mode == "down":
                return 503, {"errors": "Service Unavailable"}
            if mode == "drop":
                return None
            answer = self._apply(method, path, headers, body)
        if mode == "slow" and method != "GET":
            self._release.wait(self.slow_s)
        return answer

    def _apply(self, method: str, path: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, object]:
        path = path.split("?")[0]
        if path == "/callback" and method == "POST":
            return self._native(headers, body)
        if m := SHOPIFY.match(path):
            if headers.get("x-shopify-access-token") != self.token:
                return 401, {"errors": "[API] Invalid API key or access token"}
            return self._shopify(method, m.group(1), m.group(2) or m.group(3), body)
        if m := WOO.match(path):
            expected = "Basic " + base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()
            if headers.get("authorization") != expected:
                return 401, {"code": "woocommerce_rest_cannot_edit", "message": "Sorry"}
            return self._woo(method, m.group(1), m.group(2) or False, body)
        return 404, {"errors": "Not Found"}

    def _shopify(self, method: str, order_id: str | None, what: str, body: bytes
                 ) -> tuple[int, object]:
        if what == "fulfillments" and method == "POST" and order_id is None:
            return self._shopify_create(json.loads(body)["fulfillment"])
        order = self.shopify.get(order_id or "")
        if order is not None and what == "refunds/calculate" and method == "POST":
            asked = json.loads(body)["refund"]
            return 200, {"refund": {"refund_line_items": asked.get("refund_line_items", []),
                                    "transactions": [{"parent_id": 1, "amount": "1.00",
                                                      "kind": "suggested_refund",
                                                      "gateway": "manual"}]}}
        if order is not None and what == "refunds" and method == "POST":
            refund = json.loads(body)["refund"]
            made = {"id": next(self._ids), "order_id": int(order_id), "note": refund.get("note"),
                    "refund_line_items": refund.get("refund_line_items", []),
                    "transactions": refund.get("transactions", [])}
            order["refunds"].append(made)
            return 201, {"refund": made}
        if order is None or method != "GET":
            return 404, {"errors": "Not Found"}
        return 200, {what: order[what]}

    def _shopify_create(self, ful: dict) -> tuple[int, object]:
        fos = {fo["id"]: (oid, fo) for oid, o in self.shopify.items()
               for fo in o["fulfillment_orders"]}
        changes = []
        for group in ful["line_items_by_fulfillment_order"]:
            oid, fo = fos.get(group["fulfillment_order_id"], (None, None))
            if fo is None or fo["status"] not in ("open", "in_progress"):
                return 422, {"errors": ["Fulfillment order is not open"]}
            items = {i["id"]: i for i in fo["line_items"]}
            for want in group["fulfillment_order_line_items"]:
                item = items.get(want["id"])
                if item is None or not 0 < want["quantity"] <= item["fulfillable_quantity"]:
                    return 422, {"errors": [
                        "Invalid fulfillment order line item quantity requested."]}
                changes.append((fo, item, want["quantity"]))
        lines = []
        for fo, item, qty in changes:
            item["fulfillable_quantity"] -= qty
            lines.append({"id": item["line_item_id"], "quantity": qty})
            fo["status"] = "closed" if all(i["fulfillable_quantity"] == 0
                                           for i in fo["line_items"]) else "in_progress"
        tracking = ful.get("tracking_info") or {}
        made = {"id": next(self._ids), "order_id": int(oid), "status": "success",
                "tracking_company": tracking.get("company"),
                "tracking_number": tracking.get("number"),
                "tracking_numbers": [tracking["number"]] if tracking.get("number") else [],
                "tracking_url": tracking.get("url"), "line_items": lines,
                "notify_customer": ful.get("notify_customer", False)}
        self.shopify[oid]["fulfillments"].append(made)
        return 201, {"fulfillment": made}

    def _woo(self, method: str, order_id: str, notes: bool | str, body: bytes
             ) -> tuple[int, object]:
        order = self.woo.get(order_id)
        if order is None:
            return 404, {"code": "woocommerce_rest_shop_order_invalid_id",
                         "message": "Invalid ID."}
        if notes == "/refunds":
            if method == "GET":
                return 200, order["refunds"]
            sent = json.loads(body)
            made = {"id": next(self._ids) % 10**6, "reason": sent.get("reason", ""),
                    "amount": sent.get("amount"), "line_items": sent.get("line_items", []),
                    "refunded_payment": bool(sent.get("api_refund"))}
            order["refunds"].append(made)
            return 201, made
        if notes and method == "GET":
            return 200, order["notes"]
        if notes and method == "POST":
            sent = json.loads(body)
            note = {"id": next(self._ids) % 10**6, "author": "wavepack", "note": sent["note"],
                    "customer_note": bool(sent.get("customer_note")),
                    "date_created": "2025-06-13T12:00:00"}
            order["notes"].append(note)
            return 201, note
        if method == "PUT":
            order["status"] = json.loads(body).get("status", order["status"])
            return 200, {"id": order["id"], "status": order["status"]}
        return 404, {"code": "rest_no_route", "message": "No route was found"}

    def _native(self, headers: dict[str, str], body: bytes) -> tuple[int, object]:
        expected = base64.b64encode(hmac.new(self.signing_secret.encode(), body,
                                             hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, headers.get("x-wavepack-signature", "")):
            return 401, {"error": "bad signature"}
        delivery = headers.get("x-wavepack-delivery", "")
        if delivery in self.deliveries:
            return 200, {"ok": True, "duplicate": True}
        self.deliveries[delivery] = json.loads(body)
        return 200, {"ok": True}


def _handler(shop: FakeStorefront) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = shop.handle(self.command, self.path, headers, body)
            if answer is None:            # drop: no status line at all
                self.close_connection = True
                return
            status, obj = answer
            raw = json.dumps(obj, separators=(",", ":")).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(raw)
            except OSError:               # the client gave up waiting (slow mode)
                pass
            self.close_connection = True

        do_GET = do_POST = do_PUT = _any

        def log_message(self, *args) -> None:
            """Keep test output quiet."""

    return Handler
