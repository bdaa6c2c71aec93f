"""Configuration: config.yaml (defaults) → frozen dataclasses, then environment overrides.

Environment: DATABASE_URL, PORT, SOCKETIO_MESSAGE_QUEUE, WAVEPACK_CONFIG (another yaml file laid over the
defaults), WAVEPACK_SECRET_KEY, and WAVEPACK_<SECTION>_<KEY> for any scalar setting
(e.g. WAVEPACK_RISK_MAX_SKU_QUANTITY=50).
"""
from __future__ import annotations

import copy
import dataclasses
import ipaddress
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

import yaml

from .config_notify import SECTIONS as NOTIFY_SECTIONS, NotifySetup, notify_setup
from .config_exceptions import ExceptionsConfig, exceptions_config
from .config_replenishment import ReplenishmentConfig, replenishment_config
from .config_packing import SECTIONS as PACKING_SECTIONS, PackingSetup, packing_setup
from .config_tracking import TrackingConfig, tracking_config
from .config_reports import ReportsConfig, reports_config
from .config_returns import ReturnsSetup, returns_setup
from .domain.allocation import Zone
from .domain.layout import Layout
from .domain.risk import RiskRules

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "config.yaml"


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 8 * 1024 * 1024
    data_dir: str = "data"
    # browser origins allowed to open the Socket.IO connection besides the server's own
    # (comma-separated; empty = same origin only; a foreign Origin is refused)
    allowed_origins: str = ""
    # Socket.IO server: auto = gevent under `wavepack serve` (it re-executes itself under
    # gevent's monkey patching), threading elsewhere (tests, the flask CLI)
    async_mode: str = "auto"
    # Socket.IO message queue shared by every web and worker process (redis://…; env
    # SOCKETIO_MESSAGE_QUEUE): an event emitted in one process reaches sockets on all of
    # them. Empty = this process only (one `wavepack serve`).
    message_queue: str = ""
    # the Redis pub/sub channel; deployments (or test runs) sharing one Redis use their own
    message_queue_channel: str = "wavepack"
    # proxies in front that set X-Forwarded-For / -Proto (nginx: 1). 0 = trust no such
    # header: a client could otherwise claim any address to dodge the login rate limit
    proxy_hops: int = 0


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = ""
    # connections one process keeps at most (PostgreSQL allows 100 by default for all
    # processes together; on SQLite writers queue on one lock anyway)
    pool_size: int = 32


@dataclass(frozen=True)
class IntakeConfig:
    unpaid_cancel_after_hours: float = 72
    bulk_chunk_orders: int = 500
    max_write_ms: float = 20
    total_tolerance: Decimal = Decimal("0.01")


@dataclass(frozen=True)
class AuthConfig:
    max_failed_logins: int = 5
    lockout_minutes: float = 15
    login_rate_limit: str = "20 per minute"
    session_hours: float = 12
    rate_limit_storage: str = "memory://"
    rate_limit_prefix: str = "wavepack"


@dataclass(frozen=True)
class JobsConfig:
    enabled: bool = True                 # run the scheduled jobs inside `wavepack serve`
    expire_unpaid_every_minutes: float = 5
    woocommerce_pull_every_minutes: float = 15
    auto_wave_every_minutes: float = 0.0   # 0 = off; else plan and release a wave per warehouse
    at_risk_every_minutes: float = 5     # the ship-by at-risk sweep (0 = off)
    outbox_poll_seconds: float = 5.0     # how often the storefront outbox looks for due messages
    # SQLite: a printer's sender lease not renewed for this long passes to another process
    # (PostgreSQL's advisory lock goes with its holder's connection at once)
    lease_seconds: float = 15.0


@dataclass(frozen=True)
class WebhookConfig:
    # async: record the delivery, answer 200, apply it in the inbox worker (production);
    # inline: apply it inside the request and answer with the outcome (tests, debugging)
    process: str = "async"
    max_attempts: int = 5


@dataclass(frozen=True)
class PickingConfig:
    require_location_scan: bool = True   # the bin code is scanned before its items
    require_tote_scan: bool = False      # totes are numbered cart slots unless this is on
    totes_per_cart: int = 8              # default for POST /api/v1/waves and automatic waves
    max_orders_per_wave: int = 64
    tote_volume_l: float = 40.0          # inner volume of one tote
    tote_fill: float = 0.8               # share of that volume an order may fill
    plan_time_budget_s: float = 0.8      # batching search time per wave
    auto_wave_min_orders: int = 1        # an automatic wave waits for this many ready orders
    ship_within_hours: float = 24        # ship-by cut-off of an order that names none
    # PostgreSQL: scans waiting at the same moment share one transaction and one commit
    # (server/services/scan_pg.py); off = one transaction per scan
    group_commit: bool = True
    # put to tote: after a task's last unit the handheld asks for the tote (or slot) label
    # to be scanned, or a tap, before it shows the next task
    confirm_tote: bool = True


@dataclass(frozen=True)
class PrintingConfig:
    max_attempts: int = 5          # tries before a label job fails and becomes an exception
    poll_seconds: float = 1.0      # how often an idle print worker looks for new jobs
    timeout_seconds: float = 5.0   # a printer that answers nothing for this long is offline
    # a TrueType font stored on the label printers for customer text, e.g. E:NOTOSC.TTF
    # (CJK names and addresses need one: see README "Labels with Chinese text"); "" = font 0
    label_font: str = ""


@dataclass(frozen=True)
class PackingConfig:
    # a scale reading may differ from the expected gross weight by the LARGER of these two
    # (domain.cartons.weight_tolerance): a percentage for heavy parcels, grams for light ones
    weight_tolerance_pct: float = 5.0
    weight_tolerance_g: int = 30
    require_weight: bool = False         # the label waits for a scale reading when true
    hold_after_wrong_scans: int = 3      # wrong items scanned in one session before a hold
    default_weight_g: int = 100          # a product's weight when the catalogue has none


@dataclass(frozen=True)
class DocumentsConfig:
    # packing slips and invoices are drawn in worker processes, off the event loop that
    # serves the handhelds (server/offload.py; README "Documents and the worker pool")
    workers: int = 2                 # 0 = draw in the request's own process (no pool)
    timeout_seconds: float = 30.0    # one document; over it: 503 and the pool is replaced
    worker_nice: int = 5             # workers' CPU priority below the server's (0 = same)
    max_jobs_per_worker: int = 500   # a worker is replaced after this many (0 = never)
    start_method: str = "spawn"      # or forkserver; never fork (of a gevent process)
    cache_mb: float = 64             # drawn PDFs kept per server process (0 = no cache)


@dataclass(frozen=True)
class OutboxConfig:
    max_attempts: int = 8                # tries before a message is failed (+ an exception)
    backoff_base_seconds: float = 30.0   # the first retry after 15-30 s, then doubling …
    backoff_cap_seconds: float = 3600.0  # … up to this
    timeout_seconds: float = 15.0        # per HTTP request to the storefront
    # a message `sending` this long is taken to be abandoned (its worker died) and sent
    # again (the storefront asked first, or it deduplicates): longer than one delivery
    # can take (a few requests of timeout_seconds each)
    lease_seconds: float = 300.0


@dataclass(frozen=True)
class MetricsConfig:
    # GET /metrics answers a bearer token of kind `metrics` (`wavepack token create
    # --metrics`) or of a supervisor or admin; and, without a token, the addresses listed
    # here (comma-separated IPs or CIDR networks, e.g. "127.0.0.1, 10.0.5.0/24": the
    # Prometheus host). Empty = a token always. Behind nginx the address is the client's
    # (server.proxy_hops)
    allow_from: str = ""

    def __post_init__(self) -> None:
        self.networks()         # a mistyped address stops the start, not the first scrape

    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        try:
            return tuple(ipaddress.ip_network(part.strip(), strict=False)
                         for part in str(self.allow_from).split(",") if part.strip())
        except ValueError as err:
            raise ValueError(f"config metrics.allow_from: {err}") from None


@dataclass(frozen=True)
class WooConfig:
    pull_overlap_minutes: float = 10
    pull_page_size: int = 100


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    risk: RiskRules = field(default_factory=RiskRules)
    auth: AuthConfig = field(default_factory=AuthConfig)
    zones: tuple[Zone, ...] = ()
    woocommerce: WooConfig = field(default_factory=WooConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    picking: PickingConfig = field(default_factory=PickingConfig)
    printing: PrintingConfig = field(default_factory=PrintingConfig)
    packing: PackingConfig = field(default_factory=PackingConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    documents: DocumentsConfig = field(default_factory=DocumentsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)      # GET /metrics access
    setup: PackingSetup = field(default_factory=PackingSetup)    # stations, cartons, carriers…
    tracking: TrackingConfig = field(default_factory=TrackingConfig)   # after dispatch
    returns: ReturnsSetup = field(default_factory=ReturnsSetup)  # return policy per channel
    notify: NotifySetup = field(default_factory=NotifySetup)     # ship-by promise, notifications
    exceptions: ExceptionsConfig = field(default_factory=ExceptionsConfig)   # SLA per type
    reports: ReportsConfig = field(default_factory=ReportsConfig)   # local time per warehouse
    replenishment: ReplenishmentConfig = field(default_factory=ReplenishmentConfig)
    printers: Mapping[str, str] = field(default_factory=dict)     # printer name → URL
    layouts: Mapping[str, Layout] = field(default_factory=dict)   # warehouse code → layout
    secret_key: str = ""
    testing: bool = False

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return "sqlite:///" + str(Path(self.server.data_dir) / "wavepack.db")


def _coerce(cls: type, raw: Mapping[str, Any], section: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ValueError(f"config section {section!r} must be a mapping")
    kwargs = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in raw.items():
        if key not in fields:
            raise ValueError(f"unknown config key {section}.{key}")
        default = fields[key].default
        if fields[key].type in ("float", float):   # `= 5` would otherwise read as int
            value = float(value)
        elif isinstance(default, bool):
            value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
        elif isinstance(default, int):
            value = int(value)
        elif isinstance(default, float):
            value = float(value)
        elif isinstance(default, Decimal):
            value = Decimal(str(value))
        elif isinstance(default, str):
            value = str(value)
        kwargs[key] = value
    return cls(**kwargs)


def _merge(base: dict, over: Mapping) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


SECTIONS = {
    "server": ServerConfig,
    "database": DatabaseConfig,
    "intake": IntakeConfig,
    "risk": RiskRules,
    "auth": AuthConfig,
    "woocommerce": WooConfig,
    "jobs": JobsConfig,
    "webhooks": WebhookConfig,
    "picking": PickingConfig,
    "printing": PrintingConfig,
    "packing": PackingConfig,
    "outbox": OutboxConfig,
    "documents": DocumentsConfig,
    "metrics": MetricsConfig,
}


def _env_overrides(raw: dict, env: Mapping[str, str]) -> dict:
    raw = copy.deepcopy(raw)
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            name = f"WAVEPACK_{section}_{f.name}".upper()
            if name in env:
                raw.setdefault(section, {})[f.name] = env[name]
    if env.get("DATABASE_URL"):
        raw.setdefault("database", {})["url"] = env["DATABASE_URL"]
    if env.get("SOCKETIO_MESSAGE_QUEUE") and "WAVEPACK_SERVER_MESSAGE_QUEUE" not in env:
        raw.setdefault("server", {})["message_queue"] = env["SOCKETIO_MESSAGE_QUEUE"]
    if env.get("PORT"):
        raw.setdefault("server", {})["port"] = env["PORT"]
    return raw


def load_config(overrides: Mapping[str, Any] | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Read config.yaml, lay WAVEPACK_CONFIG, the environment and `overrides` over it."""
    env = os.environ if env is None else env
    raw: dict = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8")) or {}
    refuse_secrets(raw, str(DEFAULT_FILE))
    extra = env.get("WAVEPACK_CONFIG")
    if extra:
        overlay = yaml.safe_load(Path(extra).read_text(encoding="utf-8")) or {}
        refuse_secrets(overlay, extra)
        raw = _merge(raw, overlay)
    raw = _env_overrides(raw, env)
    if overrides:
        raw = _merge(raw, overrides)
    return build_config(raw, secret_key=env.get("WAVEPACK_SECRET_KEY", ""))


# a setting whose name says it holds a secret; `secret_env` and friends name a variable
_SECRET_NAME = re.compile(r"(^|_)(password|passwd|secret|secret_key|api_key|apikey|api_secret|"
                          r"token|private_key|access_key)$", re.I)
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.\-]*://[^/@\s:]*:[^/@\s]+@", re.I)


def refuse_secrets(raw: Any, where: str, path: str = "") -> None:
    """Secrets come from the environment only (WAVEPACK_SECRET_KEY, DATABASE_URL, …, and the
    variables that `secrets:` / `secret_env:` settings name): a config file holding one is
    refused at start, naming the setting and where its value belongs. Config files are
    read by whoever can read the checkout or the image; the environment of a service is
    not (systemd EnvironmentFile with mode 0600, docs/deploy.md)."""
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            here = f"{path}.{key}" if path else str(key)
            if str(key) == "secrets":       # setting → environment variable names
                continue
            if _SECRET_NAME.search(str(key)) and isinstance(value, str) and value:
                hint = ("the environment variable WAVEPACK_SECRET_KEY" if here == "secret_key"
                        else "an environment variable (see `secrets:` / `secret_env:`)")
                raise ValueError(f"config {here} in {where} holds a secret: config files "
                                 f"must not; put it in {hint} instead")
            refuse_secrets(value, where, here)
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            refuse_secrets(value, where, f"{path}[{i}]")
    elif isinstance(raw, str) and _URL_PASSWORD.match(raw):
        env = {"database.url": "DATABASE_URL", "server.message_queue": "SOCKETIO_MESSAGE_QUEUE",
               "auth.rate_limit_storage": "WAVEPACK_AUTH_RATE_LIMIT_STORAGE"}.get(
                   path, "an environment variable")
        raise ValueError(f"config {path} in {where} is a URL with a password: config files "
                         f"must hold no secret; set {env} in the environment instead")


def build_config(raw: Mapping[str, Any], secret_key: str = "") -> Config:
    parts: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        parts[section] = _coerce(cls, raw.get(section) or {}, section)
    zones = []
    for name, z in (raw.get("zones") or {}).items():
        zones.append(Zone(name=name,
                          match=tuple(str(m).upper() for m in z.get("match", ())),
                          nearest=tuple(str(n) for n in z.get("nearest", ()))))
    layouts = {}
    for code, block in (raw.get("layouts") or {}).items():
        if block is None:      # an overlay config can remove a layout with `code: null`
            continue
        try:
            layouts[str(code)] = Layout.from_mapping(block)
        except ValueError as err:
            raise ValueError(f"config layouts.{code}: {err}") from err
    printers = _printers(raw.get("printers") or {})
    setup = packing_setup(raw, printers)
    tracking = tracking_config(raw.get("tracking"))
    unknown_services = set(tracking.services) - {svc.id for svc in setup.services}
    if unknown_services:
        raise ValueError(f"config tracking.services: {', '.join(sorted(unknown_services))} "
                         "not under carrier_services:")
    returns = returns_setup(raw.get("returns"), printers)
    notify = notify_setup(raw)
    unknown = set(raw) - set(SECTIONS) - set(PACKING_SECTIONS) - set(NOTIFY_SECTIONS) - {
        "zones", "layouts", "printers", "testing", "secret_key", "tracking", "returns",
        "exceptions", "reports", "replenishment"}
    if unknown:
        raise ValueError(f"unknown config sections: {', '.join(sorted(unknown))}")
    return Config(**parts, zones=tuple(zones), layouts=layouts, printers=printers, setup=setup,
                  tracking=tracking, returns=returns, notify=notify,
                  exceptions=exceptions_config(raw.get("exceptions")),
                  reports=reports_config(raw.get("reports")),
                  replenishment=replenishment_config(raw.get("replenishment")),
                  secret_key=str(raw.get("secret_key") or secret_key),
                  testing=bool(raw.get("testing", False)))


def _printers(raw: Any) -> dict[str, str]:
    """`printers: {name: {url: ...}}` (or `name: url`), each URL checked by its driver."""
    from printers.drivers import open_printer
    if not isinstance(raw, Mapping):
        raise ValueError("config section 'printers' must be a mapping of name → {url: ...}")
    out = {}
    for name, value in raw.items():
        if value is None:          # an overlay config can remove a printer with `name: null`
            continue
        url = value.get("url") if isinstance(value, Mapping) else value
        if isinstance(value, Mapping) and set(value) - {"url"}:
            raise ValueError(f"config printers.{name}: unknown keys "
                             f"{', '.join(sorted(set(value) - {'url'}))}")
        if not isinstance(url, str) or not url:
            raise ValueError(f"config printers.{name}: url is required")
        try:
            open_printer(url)      # builds the driver only; nothing is contacted
        except ValueError as err:
            raise ValueError(f"config printers.{name}: {err}") from err
        out[str(name)] = url
    return out
