"""A fake UPS API on 127.0.0.1 for the karrio adapter tests: OAuth token, ship, rate and
track, answering the JSON shapes of UPS's REST API (v2409) that karrio's `ups` connector
reads. It records every request (path, headers, JSON body) so tests can check what the
adapter sent, and can be told to refuse the next shipment."""
from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LABEL_ZPL = "^XA^FO50,50^A0N,40,40^FDUPS FAKE LABEL^FS^XZ"


class FakeUps:
    def __init__(self):
        self.requests: list[dict] = []
        self.refuse_next = False
        self.serial = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):    # quiet
                pass

            def do_POST(self):
                fake._answer(self, "POST")

            def do_GET(self):
                fake._answer(self, "GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, handler, method: str) -> None:
        size = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(size) if size else b""
        try:
            body = json.loads(raw) if raw and raw[:1] in (b"{", b"[") else raw.decode()
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append({"method": method, "path": handler.path,
                              "headers": {k.lower(): v for k, v in handler.headers.items()}, "body": body})
        status, answer = self._route(method, handler.path, body)
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, path: str, body) -> tuple[int, dict]:
        if path.startswith("/security/v1/oauth/token"):
            return 200, {"token_type": "Bearer", "issued_at": str(int(time.time() * 1000)),
                         "client_id": "id", "access_token": "fake-token",
                         "expires_in": "14399", "status": "approved"}
        if path.startswith("/api/shipments/") and path.endswith("/ship"):
            if self.refuse_next:
                self.refuse_next = False
                return 400, {"response": {"errors": [
                    {"code": "120100", "message": "Missing or invalid shipper number"}]}}
            self.serial += 1
            number = f"1ZFAKE0{self.serial:09d}"
            label = base64.b64encode(LABEL_ZPL.encode()).decode()
            return 200, {"ShipmentResponse": {
                "Response": {"ResponseStatus": {"Code": "1", "Description": "Success"}},
                "ShipmentResults": {
                    "ShipmentCharges": {"TotalCharges": {"CurrencyCode": "GBP",
                                                         "MonetaryValue": "12.40"}},
                    "BillingWeight": {"UnitOfMeasurement": {"Code": "KGS"}, "Weight": "1.0"},
                    "ShipmentIdentificationNumber": number,
                    "PackageResults": [{
                        "TrackingNumber": number,
                        "ShippingLabel": {"ImageFormat": {"Code": "ZPL"},
                                          "GraphicImage": label}}]}}}
        if path.startswith("/api/rating/"):
            return 200, {"RateResponse": {
                "Response": {"ResponseStatus": {"Code": "1", "Description": "Success"}},
                "RatedShipment": [{
                    "Service": {"Code": "65"},
                    "BillingWeight": {"UnitOfMeasurement": {"Code": "KGS"}, "Weight": "1.0"},
                    "TransportationCharges": {"CurrencyCode": "GBP", "MonetaryValue": "10.00"},
                    "BaseServiceCharge": {"CurrencyCode": "GBP", "MonetaryValue": "10.00"},
                    "ItemizedCharges": [{"Code": "375", "CurrencyCode": "GBP",
                                         "MonetaryValue": "2.40"}],
                    "TimeInTransit": {"ServiceSummary": {"EstimatedArrival": {
                        "BusinessDaysInTransit": "2"}}},
                    "ServiceOptionsCharges": {"CurrencyCode": "GBP", "MonetaryValue": "0.00"},
                    "TotalCharges": {"CurrencyCode": "GBP", "MonetaryValue": "12.40"},
                    "GuaranteedDelivery": {"BusinessDaysInTransit": "2"}}]}}
        if path.startswith("/api/track/v1/details/"):
            number = path.rsplit("/", 1)[-1].split("?")[0]
            return 200, {"trackResponse": {"shipment": [{"package": [{
                "trackingNumber": number,
                "activity": [{
                    "location": {"address": {"city": "Rotterdam", "countryCode": "NL"}},
                    "status": {"type": "I", "description": "Departed from Facility",
                               "code": "DP"},
                    "date": "20261207", "time": "101500"}]}]}]}}
        return 404, {"response": {"errors": [{"code": "404", "message": f"no route {path}"}]}}
