"""A local fake of the WooCommerce REST API orders endpoint, for pull tests.

Serves GET /wp-json/wc/v3/orders on 127.0.0.1 (a free port) from a thread, the way
WooCommerce does for what the pull uses: HTTP Basic auth with the consumer key and secret
(401 otherwise), `modified_after` (strictly after, UTC with dates_are_gmt=true) on
`date_modified_gmt`, `orderby=modified|id`, `order=asc|desc`, `per_page` (1–100) and
`page`, with the X-WP-Total and X-WP-TotalPages headers. Every request is recorded.
"""
from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PATH = "/wp-json/wc/v3/orders"


class FakeWooCommerce:
    """Start with `with FakeWooCommerce() as shop:`; put orders with `shop.put(order)`."""

    def __init__(self, key: str = "ck_test", secret: str = "cs_test"):
        self.key, self.secret = key, secret
        self.orders: dict[int, dict] = {}
        self.requests: list[dict] = []
        self.fail_status: int | None = None     # answer every request with this status
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._address: tuple | None = None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>; it stays the same after stop(), so a pull finds no one."""
        assert self._address is not None, "start() first"
        return f"http://{self._address[0]}:{self._address[1]}"

    def put(self, order: dict) -> None:
        """Add or replace an order (a WooCommerce v3 order object)."""
        with self._lock:
            self.orders[int(order["id"])] = copy.deepcopy(order)

    def start(self) -> "FakeWooCommerce":
        """Listen on a free port of 127.0.0.1 and serve from a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._address = self._server.server_address[:2]
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port (a pull then finds nobody listening)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self) -> "FakeWooCommerce":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def answer(self, path: str, query: dict[str, list[str]], auth: str
               ) -> tuple[int, dict[str, str], object]:
        """(status, headers, JSON body) for one GET."""
        self.requests.append({"path": path, "query": {k: v[0] for k, v in query.items()},
                              "authorization": auth})
        if self.fail_status:
            return self.fail_status, {}, {"code": "internal_server_error", "message": "down"}
        if path != PATH:
            return 404, {}, {"code": "rest_no_route", "message": "No route was found"}
        expected = "Basic " + base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()
        if auth != expected:
            return 401, {}, {"code": "woocommerce_rest_cannot_view",
                             "message": "Sorry, you cannot list resources."}
        return self._list(query)

    def _list(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], object]:
        arg = {k: v[0] for k, v in query.items()}
        per_page, page = int(arg.get("per_page", 10)), int(arg.get("page", 1))
        if not 1 <= per_page <= 100 or page < 1:
            return 400, {}, {"code": "rest_invalid_param", "message": "bad paging"}
        with self._lock:
            found = list(self.orders.values())
        if "modified_after" in arg:
            after = _utc(arg["modified_after"])
            found = [o for o in found if _utc(o["date_modified_gmt"]) > after]
        by = "date_modified_gmt" if arg.get("orderby", "date") == "modified" else "id"
        found.sort(key=lambda o: (str(o[by]) if by != "id" else o["id"], o["id"]),
                   reverse=arg.get("order", "desc") == "desc")
        total = len(found)
        pages = max(1, -(-total // per_page)) if total else 0
        chunk = found[(page - 1) * per_page: page * per_page]
        return 200, {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}, chunk


def _utc(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value.replace(tzinfo=None) if value.tzinfo is None else \
        value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _handler(shop: FakeWooCommerce) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            """Answer from the shop's state, as JSON."""
            url = urlparse(self.path)
            status, headers, body = shop.answer(url.path, parse_qs(url.query),
                                                self.headers.get("Authorization", ""))
            raw = json.dumps(body, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args) -> None:
            """Keep test output quiet."""

    return Handler
