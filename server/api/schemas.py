"""JSON schemas of request bodies: used to validate requests (unknown fields are refused,
so nothing can be mass-assigned) and published as components of /openapi.json."""
from __future__ import annotations

from functools import lru_cache

from jsonschema import Draft202012Validator

from ..domain.adjustments import REASONS as ADJUSTMENT_REASONS


def _s(max_len: int, min_len: int = 0) -> dict:
    return {"type": "string", "maxLength": max_len, "minLength": min_len}


AMOUNT = {"type": ["string", "number"], "maxLength": 24,
          "pattern": r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$",
          "minimum": -1e15, "maximum": 1e15,
          "description": "decimal amount; a string keeps it exact"}

ADDRESS = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "name": _s(200), "phone": _s(40), "email": _s(200), "address1": _s(300),
        "address2": _s(300), "city": _s(120), "postcode": _s(20),
        "country": {"type": "string", "pattern": "^[A-Za-z]{2}$"}, "region": _s(120),
    },
}

ORDER_LINE = {
    "type": "object", "additionalProperties": False, "required": ["sku", "quantity", "unit_price"],
    "properties": {
        "sku": _s(64, 1),
        "quantity": {"type": "integer", "minimum": -1000000, "maximum": 1000000},
        "unit_price": AMOUNT,
        "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
        "name": _s(300),
    },
}

NATIVE_ORDER = {
    "type": "object", "additionalProperties": False,
    "required": ["ref", "placed_at", "currency", "paid", "ship_to", "lines"],
    "properties": {
        "ref": _s(64, 1),
        "placed_at": {"type": "string", "format": "date-time", "maxLength": 40},
        "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
        "paid": {"type": "boolean"},
        "payment_method": _s(64),
        "priority": {"type": "integer", "minimum": -1000, "maximum": 1000},
        "ship_to": ADDRESS,
        "note": _s(4000),
        "carrier": _s(120),
        "service": {**_s(120), "description": "the carrier's service; `carrier service` (then "
                                              "`carrier`) is looked up in shipping_methods.native"},
        "invoice": {"type": "boolean",
                    "description": "put an invoice in the parcel (packing inserts)"},
        "ship_by": {"type": "string", "format": "date-time", "maxLength": 40,
                    "description": "dispatch promised by: waves take the earliest first"},
        "total": AMOUNT, "shipping": AMOUNT, "discount": AMOUNT,
        "lines": {"type": "array", "minItems": 1, "maxItems": 5000, "items": ORDER_LINE},
    },
}

CANCEL = {"type": "object", "additionalProperties": False,
          "properties": {"reason": _s(500)}}

BADGE_LOGIN = {"type": "object", "additionalProperties": False, "required": ["badge", "pin"],
               "properties": {"badge": _s(64, 1), "pin": _s(64, 1)}}

RECEIPT_LINE = {
    "type": "object", "additionalProperties": False,
    "required": ["warehouse", "location", "sku", "quantity"],
    "properties": {"warehouse": _s(32, 1), "location": _s(32, 1), "sku": _s(64, 1),
                   "quantity": {"type": "integer", "minimum": 1, "maximum": 1000000}},
}

STOCK_RECEIPT = {
    "type": "object", "additionalProperties": False, "required": ["lines"],
    "properties": {"reference": _s(120),
                   "lines": {"type": "array", "minItems": 1, "maxItems": 10000,
                             "items": RECEIPT_LINE}},
}

COUNT_LINE = {
    "type": "object", "additionalProperties": False, "required": ["sku", "quantity"],
    "properties": {"sku": _s(64, 1),
                   "quantity": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                                "description": "units of the SKU found in the bin"}},
}

COUNT_REQUEST = {
    "type": "object", "additionalProperties": False,
    "required": ["warehouse", "location", "lines"],
    "description": "a count of the whole bin: a SKU on its books that is not listed was "
                   "counted as 0 (an empty list: the bin is empty); lines of one SKU add up",
    "properties": {"warehouse": _s(32, 1), "location": _s(32, 1),
                   "lines": {"type": "array", "maxItems": 500, "items": COUNT_LINE}},
}

COUNT_SCHEDULE = {
    "type": "object", "additionalProperties": False, "required": ["warehouse"],
    "description": "a range of bins (both ends included, aisle-bay-shelf-slot order) or "
                   "every bin of the warehouse holding a SKU",
    "properties": {"warehouse": _s(32, 1), "from_location": _s(32, 1),
                   "to_location": _s(32, 1), "sku": _s(64, 1)},
    "oneOf": [
        {"required": ["from_location", "to_location"], "not": {"required": ["sku"]}},
        {"required": ["sku"], "not": {"anyOf": [{"required": ["from_location"]},
                                                {"required": ["to_location"]}]}},
    ],
}

WAVE_REQUEST = {
    "type": "object", "additionalProperties": False, "required": ["warehouse"],
    "properties": {"warehouse": _s(32, 1),
                   "max_orders": {"type": "integer", "minimum": 1, "maximum": 10000,
                                  "description": "default: picking.max_orders_per_wave"},
                   "totes": {"type": "integer", "minimum": 1, "maximum": 64,
                             "description": "totes per cart; default: picking.totes_per_cart"}},
}

SCAN_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$",
           "description": "made by the client (a UUID): a retry with the same id is answered "
                          "with the first answer and counts nothing"}

PACK_OPEN = {"type": "object", "additionalProperties": False, "required": ["station", "scan"],
             "properties": {"station": _s(64, 1),
                            "scan": {**_s(120, 1), "description": "tote barcode, order "
                                     "reference (the packing slip's barcode) or #order-id"}}}

PACK_SCAN = {"type": "object", "additionalProperties": False, "required": ["scan_id", "raw"],
             "properties": {"scan_id": SCAN_ID, "raw": _s(512, 1),
                            "scanned_at": {"type": "string", "format": "date-time",
                                           "maxLength": 40}}}

PACK_CHECK = {"type": "object", "additionalProperties": False, "required": ["unit", "passed"],
              "properties": {"unit": {"type": "integer", "minimum": 1, "maximum": 1000000},
                             "passed": {"type": "boolean"}, "serial": _s(40),
                             "expiry": {"type": "string", "format": "date", "maxLength": 10},
                             "note": _s(500)}}

PACK_WEIGHT = {"type": "object", "additionalProperties": False, "required": ["grams"],
               "properties": {"grams": {"type": "integer", "minimum": 1, "maximum": 1000000}}}

PACK_CARTON = {"type": "object", "additionalProperties": False, "required": ["carton"],
               "properties": {"carton": _s(64, 1)}}

PACK_HOLD = {"type": "object", "additionalProperties": False, "required": ["reason"],
             "properties": {"reason": _s(500, 1)}}

CARRIER_ASSIGNMENT = {
    "type": "object", "additionalProperties": False, "required": ["carrier", "service"],
    "properties": {"carrier": {**_s(64, 1), "description": "carrier code under carriers:"},
                   "service": {**_s(64, 1), "description": "the service's code, id or label "
                                                           "in the order's warehouse"}}}

PACK_RELEASE = {"type": "object", "additionalProperties": False,
                "properties": {"note": _s(500)}}

DISPATCH = {"type": "object", "additionalProperties": False, "required": ["raw"],
            "properties": {"raw": {**_s(120, 1), "description": "tracking number or SSCC"}}}

PACK_LABEL = {"type": "object", "additionalProperties": False, "required": ["kind", "cart"],
              "properties": {"kind": {"type": "string", "enum": ["cart", "tote"]},
                             "cart": {"type": "integer", "minimum": 1, "maximum": 2 ** 62},
                             "slot": {"type": "integer", "minimum": 1, "maximum": 9999,
                                      "description": "the tote's slot on the cart (kind "
                                                     "tote)"}}}

TRACKING_EVENT = {
    "type": "object", "additionalProperties": False,
    "required": ["event_id", "tracking_number", "status", "occurred_at"],
    "properties": {
        "event_id": {**_s(128, 1), "description": "the carrier's id of the event: resent, it "
                                                  "counts as a duplicate"},
        "tracking_number": _s(64, 1),
        "status": {"type": "string", "enum": ["picked_up", "in_transit", "out_for_delivery",
                                              "delivered", "failed_attempt",
                                              "returned_to_sender", "exception"]},
        "occurred_at": {"type": "string", "format": "date-time", "maxLength": 40,
                        "description": "with its UTC offset"},
        "location": _s(300), "detail": _s(2000),
    },
}

TRACKING_EVENTS = {"type": "object", "additionalProperties": False, "required": ["events"],
                   "properties": {"events": {"type": "array", "minItems": 1, "maxItems": 500,
                                             "items": TRACKING_EVENT}}}
RETURN_LINE = {"type": "object", "additionalProperties": False, "required": ["sku", "quantity"],
               "properties": {"sku": _s(64, 1),
                              "quantity": {"type": "integer", "minimum": 1, "maximum": 1000000},
                              "reason": _s(500)}}

RETURN_REQUEST = {
    "type": "object", "additionalProperties": False, "required": ["order", "kind", "lines"],
    "properties": {
        "order": {"type": ["string", "integer"], "maxLength": 64, "minLength": 1,
                  "minimum": 1, "maximum": 2**62,
                  "description": "the order's id, ref or storefront id"},
        "kind": {"type": "string", "enum": ["refund", "exchange", "repair"]},
        "reason": _s(500),
        "lines": {"type": "array", "minItems": 1, "maxItems": 200, "items": RETURN_LINE},
        "exchange_lines": {"type": "array", "maxItems": 200, "items": RETURN_LINE,
                           "description": "what to send instead (kind exchange)"},
        "label": {"type": "boolean", "description": "print (or answer) a returns label"},
    },
}

RETURN_UNANNOUNCED = {
    "type": "object", "additionalProperties": False,
    "properties": {"code": {**_s(64, 1), "description": "what the parcel carries: tracking "
                                                        "number, returns slip, label"},
                   "kind": {"type": "string", "enum": ["refund", "exchange", "repair"]},
                   "reason": _s(500)}}

RETURN_SCAN = {"type": "object", "additionalProperties": False, "required": ["barcode"],
               "properties": {"barcode": _s(200, 1)}}

RETURN_DISPOSITION = {
    "type": "object", "additionalProperties": False, "required": ["grade", "disposition"],
    "properties": {"grade": {"type": "string", "enum": ["resellable", "damaged", "missing_parts"]},
                   "disposition": {"type": "string",
                                   "enum": ["restock", "quarantine", "repair", "scrap"]},
                   "location": {**_s(32, 1), "description": "restock: the bin"},
                   "warehouse": {**_s(32, 1), "description": "restock: default the order's"}}}

RETURN_REPAIR = {"type": "object", "additionalProperties": False, "required": ["status"],
                 "properties": {"status": {"type": "string",
                                           "enum": ["in_repair", "repaired", "shipped_back"]}}}

EXCEPTION_ASSIGN = {"type": "object", "additionalProperties": False, "required": ["owner"],
                    "properties": {"owner": {**_s(120, 1), "description": "a role (picker, "
                                             "packer, supervisor, admin) or user:<badge>"}}}

EXCEPTION_RESOLVE = {"type": "object", "additionalProperties": False, "required": ["resolution"],
                     "properties": {"resolution": {"type": "string", "pattern": "^[a-z0-9_]{1,64}$",
                                                   "description": "the cause found, a code "
                                                   "like restocked, address_fixed"},
                                    "note": _s(4000)}}

EXCEPTION_DISMISS = {"type": "object", "additionalProperties": False, "required": ["note"],
                     "properties": {"note": {**_s(4000, 1), "description": "why it needs "
                                             "nothing done"}}}

EXCEPTION_NOTE = {"type": "object", "additionalProperties": False, "required": ["note"],
                  "properties": {"note": _s(4000, 1)}}

REPLENISHMENT_LEVEL = {
    "type": "object", "additionalProperties": False,
    "required": ["warehouse", "location", "sku", "min_qty"],
    "properties": {
        "warehouse": _s(32, 1), "location": {**_s(64, 1), "description": "AISLE-BAY-SHELF-SLOT"},
        "sku": _s(64, 1),
        "min_qty": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                    "description": "below this many available (on hand - reserved) the face "
                                   "is refilled; 0: not a pick face"},
        "max_qty": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                    "description": "the face's capacity: refills go up to it (0: not set, "
                                   "refill back to the min)"}}}

REPLENISHMENT_LEVELS = {"type": "object", "additionalProperties": False, "required": ["levels"],
                        "properties": {"levels": {"type": "array", "minItems": 1,
                                                  "maxItems": 500,
                                                  "items": REPLENISHMENT_LEVEL}}}

SCHEMAS = {
    "NativeOrder": NATIVE_ORDER, "OrderLineIn": ORDER_LINE, "Address": ADDRESS,
    "CancelRequest": CANCEL, "BadgeLogin": BADGE_LOGIN, "StockReceipt": STOCK_RECEIPT,
    "ReceiptLine": RECEIPT_LINE, "WaveRequest": WAVE_REQUEST,
    "PackOpen": PACK_OPEN, "PackScan": PACK_SCAN, "PackCheck": PACK_CHECK,
    "PackWeight": PACK_WEIGHT, "PackCarton": PACK_CARTON, "PackHold": PACK_HOLD,
    "PackRelease": PACK_RELEASE, "Dispatch": DISPATCH, "CarrierAssignment": CARRIER_ASSIGNMENT,
    "CountRequest": COUNT_REQUEST, "CountLine": COUNT_LINE, "CountSchedule": COUNT_SCHEDULE,
    "PackLabel": PACK_LABEL, "TrackingEvent": TRACKING_EVENT, "TrackingEvents": TRACKING_EVENTS,
    "ReturnRequest": RETURN_REQUEST, "ReturnLineIn": RETURN_LINE,
    "ReturnUnannounced": RETURN_UNANNOUNCED, "ReturnScan": RETURN_SCAN,
    "ReturnDisposition": RETURN_DISPOSITION, "ReturnRepair": RETURN_REPAIR,
    "ExceptionAssign": EXCEPTION_ASSIGN, "ExceptionResolve": EXCEPTION_RESOLVE,
    "ExceptionDismiss": EXCEPTION_DISMISS, "ExceptionNote": EXCEPTION_NOTE,
    "ReplenishmentLevel": REPLENISHMENT_LEVEL, "ReplenishmentLevels": REPLENISHMENT_LEVELS,
}


# --- the supervisors' console (issue 15 §1): stock adjustments, users and tokens ---------
_PIN = {"type": "string", "pattern": "^[0-9]{4,64}$", "description": "at least 4 digits"}
_ROLE = {"type": "string", "enum": ["picker", "packer", "supervisor", "admin"]}

STOCK_ADJUSTMENT = {
    "type": "object", "additionalProperties": False,
    "required": ["client_key", "location", "sku", "reason"],
    "description": "one bin's stock of one SKU set to what was counted, or moved by delta "
                   "(exactly one of them); the same client_key again answers the first "
                   "result and changes nothing",
    "properties": {
        "client_key": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{8,120}$",
                       "description": "the client's key for this adjustment (a UUID)"},
        "warehouse": _s(32, 1), "location": _s(32, 1), "sku": _s(64, 1),
        "counted": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
        "delta": {"type": "integer", "minimum": -(2**31 - 1), "maximum": 2**31 - 1},
        "reason": {"type": "string", "enum": list(ADJUSTMENT_REASONS)},
        "note": _s(1000),
    },
}

ADMIN_USER = {"type": "object", "additionalProperties": False,
              "required": ["badge", "role", "pin"],
              "properties": {"badge": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
                             "role": _ROLE, "pin": _PIN, "name": _s(200)}}

ADMIN_PIN = {"type": "object", "additionalProperties": False, "required": ["pin"],
             "properties": {"pin": _PIN}}

ADMIN_TOKEN = {
    "type": "object", "additionalProperties": False,
    "description": "exactly one of role (a staff token), channel or carrier",
    "properties": {"role": _ROLE, "channel": _s(64, 1), "carrier": _s(64, 1),
                   "label": _s(200),
                   "hours": {"type": "number", "exclusiveMinimum": 0, "maximum": 87600,
                             "description": "expire after this many hours (none: never)"}},
}

SCHEMAS.update({"StockAdjustment": STOCK_ADJUSTMENT, "AdminUser": ADMIN_USER,
                "AdminPin": ADMIN_PIN, "AdminToken": ADMIN_TOKEN})

@lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(SCHEMAS[name], format_checker=Draft202012Validator.FORMAT_CHECKER)
