"""Tables. Thin on purpose: fields and constraints; behaviour lives in services and domain.

The schema itself is created by the numbered migrations in store/migrations/.
"""
from __future__ import annotations

import datetime as dt

from peewee import (BigIntegerField, BooleanField, CharField, CompositeKey, DateTimeField,
                    ForeignKeyField, IntegerField, Model, TextField)

from .db import db


class UtcDateTimeField(DateTimeField):
    """Aware UTC in Python, naive UTC in the database (same on SQLite and PostgreSQL)."""

    def db_value(self, value):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value):
        value = super().python_value(value)
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


class Base(Model):
    class Meta:
        database = db
        legacy_table_names = False


class Warehouse(Base):
    code = CharField(unique=True)
    name = CharField()
    zone = CharField(default="")
    created_at = UtcDateTimeField()


class Location(Base):
    warehouse = ForeignKeyField(Warehouse, backref="locations")
    code = CharField()
    pick_seq = IntegerField(default=0)
    blocked = CharField(null=True)      # why no new reservation may land here (None: free)
    created_at = UtcDateTimeField()


class Product(Base):
    sku = CharField(unique=True)
    name = CharField()
    weight_g = IntegerField(default=0)
    length_mm = IntegerField(default=0)
    width_mm = IntegerField(default=0)
    height_mm = IntegerField(default=0)
    flags = CharField(default="")
    image_url = CharField(default="")
    hs_code = CharField(default="")            # customs tariff code, digits
    origin_country = CharField(default="")     # ISO country of origin
    created_at = UtcDateTimeField()


class ProductGtin(Base):
    product = ForeignKeyField(Product, backref="gtins")
    gtin = CharField(unique=True)


class Stock(Base):
    warehouse = ForeignKeyField(Warehouse)
    location = ForeignKeyField(Location)
    product = ForeignKeyField(Product)
    on_hand = IntegerField(default=0)
    reserved = IntegerField(default=0)
    min_qty = IntegerField(default=0)
    max_qty = IntegerField(default=0)          # a pick face's capacity (0024: 0 = not set)
    updated_at = UtcDateTimeField()


class Channel(Base):
    name = CharField(unique=True)
    kind = CharField()
    secret = CharField(default="")
    previous_secret = CharField(default="")
    secret_rotated_at = UtcDateTimeField(null=True)
    allow_split = BooleanField(default=False)
    currency = CharField(default="")
    base_url = CharField(default="")
    api_key = CharField(default="")
    api_secret = CharField(default="")
    callback_url = CharField(default="")
    last_pulled_at = UtcDateTimeField(null=True)
    created_at = UtcDateTimeField()


class User(Base):
    badge = CharField(unique=True)
    name = CharField(default="")
    role = CharField()
    pin_hash = CharField()
    failed_logins = IntegerField(default=0)
    locked_until = UtcDateTimeField(null=True)
    active = BooleanField(default=True)
    created_at = UtcDateTimeField()

    class Meta:
        table_name = "app_user"


class LoginGuard(Base):
    """Badge login attempts (known and unknown badges alike), see services/auth.py."""
    badge = CharField(primary_key=True)
    attempts = IntegerField(default=0)
    locked_until = UtcDateTimeField(null=True)
    last_attempt_at = UtcDateTimeField()


class ApiToken(Base):
    token_hash = CharField(unique=True)
    kind = CharField()  # channel | staff
    channel = ForeignKeyField(Channel, null=True)
    user = ForeignKeyField(User, null=True)
    role = CharField(default="")
    label = CharField(default="")
    created_at = UtcDateTimeField()
    expires_at = UtcDateTimeField(null=True)
    revoked_at = UtcDateTimeField(null=True)
    carrier = CharField(default="")   # kind carrier: the carrier it speaks for


class Order(Base):
    channel = ForeignKeyField(Channel)
    external_id = CharField()
    ref = CharField()
    status = CharField()
    hold_reason = TextField(default="")
    warehouse = ForeignKeyField(Warehouse, null=True)
    currency = CharField()
    paid = BooleanField(default=False)
    payment_method = CharField(default="")
    priority = IntegerField(default=0)
    placed_at = UtcDateTimeField()
    ship_name = CharField(default="")
    ship_phone = CharField(default="")
    ship_email = CharField(default="")
    ship_address1 = CharField(default="")
    ship_address2 = CharField(default="")
    ship_city = CharField(default="")
    ship_region = CharField(default="")
    ship_postcode = CharField(default="")
    ship_country = CharField(default="")
    ship_original = TextField(default="")     # JSON: fields as sent, where normalised
    note = TextField(default="")
    carrier = CharField(default="")
    source = CharField(default="")
    total_minor = BigIntegerField(null=True)
    shipping_minor = BigIntegerField(default=0)
    discount_minor = BigIntegerField(default=0)
    problems = TextField(default="")
    phone_key = CharField(default="")
    address_key = CharField(default="")
    source_updated_at = UtcDateTimeField(null=True)
    ship_by = UtcDateTimeField(null=True)
    ship_by_source = CharField(default="")     # '' | storefront | promise (0021)
    at_risk_at = UtcDateTimeField(null=True)   # flagged not picked in time (0021)
    invoice_requested = BooleanField(default=False)
    shipping_method = TextField(default="")    # JSON list of normalised method keys
    carrier_service = CharField(default="")    # service id under carrier_services:
    carrier_source = CharField(default="")     # mapped | rule | supervisor
    hold_code = CharField(default="")          # risk_hold | carrier_unmapped | customs_data_missing
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()

    class Meta:
        table_name = "sales_order"


class OrderLine(Base):
    order = ForeignKeyField(Order, backref="lines")
    line_no = IntegerField()
    sku = CharField()
    product = ForeignKeyField(Product, null=True)
    name = CharField(default="")
    external_id = CharField(default="")
    quantity = IntegerField()
    unit_price_minor = BigIntegerField(default=0)
    line_total_minor = BigIntegerField(default=0)
    reserved = IntegerField(default=0)
    backordered = IntegerField(default=0)
    picked = IntegerField(default=0)


class Allocation(Base):
    order_line = ForeignKeyField(OrderLine, backref="allocations")
    stock = ForeignKeyField(Stock)
    quantity = IntegerField()


class WebhookEvent(Base):
    """A storefront delivery: the dedupe key (UNIQUE per channel) and an inbox entry."""
    channel = ForeignKeyField(Channel)
    event_key = CharField()
    topic = CharField(default="")
    outcome = CharField(default="")
    received_at = UtcDateTimeField()
    body = TextField(default="")
    state = CharField(default="done")       # pending | done | failed
    attempts = IntegerField(default=0)
    last_error = TextField(default="")
    available_at = UtcDateTimeField(null=True)
    processed_at = UtcDateTimeField(null=True)


class IdempotencyKey(Base):
    channel = ForeignKeyField(Channel)
    key = CharField()
    request_hash = CharField()
    state = CharField()  # in_progress | done
    status_code = IntegerField(null=True)
    response_body = TextField(null=True)
    created_at = UtcDateTimeField()


class Audit(Base):
    at = UtcDateTimeField()
    actor = CharField()
    action = CharField()
    entity = CharField()
    entity_id = CharField()
    before = TextField(default="")
    after = TextField(default="")
    detail = TextField(default="")


class WmsException(Base):
    type = CharField()
    order = ForeignKeyField(Order, null=True)
    owner_role = CharField(default="supervisor")
    state = CharField(default="open")
    message = TextField(default="")
    detail = TextField(default="")
    created_at = UtcDateTimeField()
    resolved_at = UtcDateTimeField(null=True)
    resolved_by = CharField(default="")
    count_task_id = BigIntegerField(null=True)   # the cycle count that settles it
    severity = CharField(default="medium")
    subject_kind = CharField(default="")
    subject_id = BigIntegerField(null=True)
    subject_ref = CharField(default="")
    owner = CharField(default="supervisor")      # a role, or user:<badge>
    due_at = UtcDateTimeField(null=True)
    escalate_at = UtcDateTimeField(null=True)    # next escalation while overdue
    escalations = IntegerField(default=0)
    created_by = CharField(default="")
    acknowledged_at = UtcDateTimeField(null=True)
    acknowledged_by = CharField(default="")
    resolution = CharField(default="")
    updated_at = UtcDateTimeField(null=True)


class WmsExceptionNote(Base):
    exception = ForeignKeyField(WmsException)
    author = CharField()
    at = UtcDateTimeField()
    note = TextField()


class Alert(Base):
    kind = CharField()
    warehouse = ForeignKeyField(Warehouse, null=True)
    location = ForeignKeyField(Location, null=True)
    product = ForeignKeyField(Product, null=True)
    state = CharField(default="open")
    message = TextField(default="")
    created_at = UtcDateTimeField()
    closed_at = UtcDateTimeField(null=True)


class ReturnRequest(Base):
    """A return (RMA) against an order; see migration 0019 and services/returns.py."""
    rma = CharField(unique=True)
    order = ForeignKeyField(Order, null=True, backref="returns")
    channel = ForeignKeyField(Channel, null=True)
    kind = CharField()                      # refund | exchange | repair
    status = CharField(default="authorised")
    reason = TextField(default="")
    source = CharField(default="api")       # api | shopify | woocommerce | station
    external_id = CharField(default="")
    return_tracking = CharField(null=True)
    label_job_id = BigIntegerField(null=True)
    exchange_lines = TextField(default="")  # JSON [{"sku", "quantity"}]
    exchange_order = ForeignKeyField(Order, null=True, column_name="exchange_order_id",
                                     backref="+")
    refund_minor = BigIntegerField(null=True)
    refund_outbox_id = BigIntegerField(null=True)
    exception = ForeignKeyField(WmsException, null=True)
    unannounced = BooleanField(default=False)
    created_by = CharField()
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()
    received_by = CharField(default="")
    received_at = UtcDateTimeField(null=True)
    closed_at = UtcDateTimeField(null=True)


class ReturnLine(Base):
    ret = ForeignKeyField(ReturnRequest, column_name="return_id", backref="lines")
    line_no = IntegerField()
    order_line = ForeignKeyField(OrderLine, null=True)
    sku = CharField()
    product = ForeignKeyField(Product, null=True)
    quantity = IntegerField()               # authorised (0: an extra item found in the parcel)
    reason = TextField(default="")
    received = IntegerField(default=0)
    grade = CharField(default="")           # resellable | damaged | missing_parts
    disposition = CharField(default="")     # restock | quarantine | repair | scrap
    location = ForeignKeyField(Location, null=True)
    disposed = IntegerField(default=0)
    disposed_by = CharField(default="")
    disposed_at = UtcDateTimeField(null=True)


class StockAdjustment(Base):
    """A supervisor's correction of one bin's stock with a reason (migration 0026,
    services/adjustments.py); client_key UNIQUE makes a retry change nothing."""
    client_key = CharField(unique=True)
    request_hash = CharField()
    warehouse = ForeignKeyField(Warehouse)
    location = ForeignKeyField(Location)
    product = ForeignKeyField(Product)
    stock = ForeignKeyField(Stock)
    before_qty = IntegerField()
    after_qty = IntegerField()
    reason = CharField()
    note = TextField(default="")
    orders_reserved = IntegerField(default=0)
    created_by = CharField()
    created_at = UtcDateTimeField()


class OrderStage(Base):
    """An order's milestone times, kept by a trigger on audit (migration 0023)."""
    order_id = BigIntegerField(primary_key=True)
    received_at = UtcDateTimeField(null=True)
    reserved_at = UtcDateTimeField(null=True)
    waved_at = UtcDateTimeField(null=True)
    picked_at = UtcDateTimeField(null=True)
    packed_at = UtcDateTimeField(null=True)
    shipped_at = UtcDateTimeField(null=True)
    delivered_at = UtcDateTimeField(null=True)


class PickStat(Base):
    """Pick scan counters per quarter hour, picker, warehouse and channel (trigger on scan,
    migration 0023)."""
    bucket = BigIntegerField()
    user_id = BigIntegerField()
    warehouse_id = BigIntegerField()
    channel_id = BigIntegerField()
    scans = IntegerField(default=0)
    errors = IntegerField(default=0)
    tasks = IntegerField(default=0)
    first = IntegerField(default=0)
    first_ok = IntegerField(default=0)
    shorts = IntegerField(default=0)
    units = IntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("bucket", "user_id", "warehouse_id", "channel_id")


class PackStat(Base):
    """Pack bench scan counters per quarter hour, packer, warehouse and channel (trigger on
    pack_scan, migration 0023)."""
    bucket = BigIntegerField()
    user_id = BigIntegerField()
    warehouse_id = BigIntegerField()
    channel_id = BigIntegerField()
    scans = IntegerField(default=0)
    errors = IntegerField(default=0)
    lines = IntegerField(default=0)
    units = IntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("bucket", "user_id", "warehouse_id", "channel_id")


class ReplenTask(Base):
    """One refill of a pick face (migration 0024): at most one open per stock row."""
    warehouse = ForeignKeyField(Warehouse)
    location = ForeignKeyField(Location)
    product = ForeignKeyField(Product)
    stock = ForeignKeyField(Stock)
    state = CharField(default="open")           # open | done | cancelled
    min_qty = IntegerField()
    max_qty = IntegerField()
    available_at_open = IntegerField()
    suggested = IntegerField()
    moved = IntegerField(default=0)
    exception = ForeignKeyField(WmsException, null=True)
    assigned_to = ForeignKeyField(User, null=True, column_name="assigned_to")
    assigned_at = UtcDateTimeField(null=True)
    created_by = CharField()
    created_at = UtcDateTimeField()
    closed_by = CharField(default="")
    closed_at = UtcDateTimeField(null=True)
    close_reason = CharField(default="")
    updated_at = UtcDateTimeField()

    class Meta:
        table_name = "replen_task"


class ReplenMove(Base):
    """A move done on a handheld for a replenishment task (migration 0024)."""
    task = ForeignKeyField(ReplenTask)
    from_stock = ForeignKeyField(Stock, column_name="from_stock_id")
    to_stock = ForeignKeyField(Stock, column_name="to_stock_id")
    quantity = IntegerField()
    scan_id = CharField(unique=True)
    moved_by = CharField()
    moved_at = UtcDateTimeField()

    class Meta:
        table_name = "replen_move"
