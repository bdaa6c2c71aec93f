"""wavepack server: the Flask app factory."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask, g
from werkzeug.routing import IntegerConverter

from .config import Config, load_config
from .store import db as store_db
from .store.migrate import prepare


class IdConverter(IntegerConverter):
    """`<id:name>`: a positive 64-bit row id; anything larger is a 404, not an overflow."""

    def __init__(self, url_map, *args, **kwargs):
        super().__init__(url_map, min=1, max=2**63 - 1)


def _refuse_nul() -> None:
    """NUL cannot be stored in a text column: refuse it in the path, query or key headers."""
    from flask import request
    from .domain.errors import BadRequest
    if "\x00" in request.path or "\x00" in request.query_string.decode("latin-1") \
            or "%00" in request.query_string.decode("latin-1") \
            or "\x00" in request.headers.get("Idempotency-Key", ""):
        raise BadRequest("NUL characters are not allowed in the URL or headers",
                         code="nul_character")


def create_app(config: Config | Mapping[str, Any] | None = None, *,
               create_db: bool = True) -> Flask:
    """Build the app: config (a Config, or overrides laid over config.yaml + environment),
    the database proxy initialised from its URL, checked and migrations applied (a missing
    or empty database is created only with create_db; the CLI passes False but for init-db,
    demo and serve --demo), blueprints registered."""
    cfg = config if isinstance(config, Config) else load_config(config)
    from . import logs
    logs.configure()      # LOG_FORMAT=json|text, LOG_LEVEL
    app = Flask(__name__, static_folder=None)
    app.url_map.converters["id"] = IdConverter
    app.config["WAVEPACK"] = cfg
    from .services import exceptions as _exceptions
    _exceptions.install(cfg.exceptions)   # SLAs for sources that raise without settings
    app.config["MAX_CONTENT_LENGTH"] = cfg.server.max_body_bytes
    app.config["SECRET_KEY"] = cfg.secret_key or "dev-only-not-secret"
    app.config["TESTING"] = cfg.testing
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    previous = store_db.db.obj
    if previous is not None and hasattr(previous, "close_all"):
        previous.close_all()   # a new app (tests, CLI) must not leave the old pool's sockets open
    store_db.db.initialize(store_db.open_database(cfg.database_url, cfg.database.pool_size))
    prepare(create=create_db)

    @app.before_request
    def _open_db():
        _refuse_nul()
        store_db.db.connect(reuse_if_open=True)

    logs.install(app)     # first before_request, last after_request: the whole request timed

    @app.teardown_request
    def _close_db(exc):
        if not store_db.db.is_closed():
            store_db.db.close()

    from .api import register_blueprints
    from .api.errors import register_error_handlers
    register_error_handlers(app)
    register_blueprints(app)
    from .cli import register_cli
    register_cli(app)
    from .sockets import init_sockets
    init_sockets(app)
    if cfg.server.proxy_hops > 0:
        # behind nginx: the client's address and scheme come from X-Forwarded-For/-Proto
        # (request logs, login rate limits, Socket.IO's same-origin check), set by the
        # last `proxy_hops` proxies only; wrapped outside Socket.IO's middleware so its
        # requests see them too. Without it the headers are ignored: anyone could send them
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=cfg.server.proxy_hops,  # type: ignore[method-assign]
                                x_proto=cfg.server.proxy_hops)
    from .jobs import wakeups
    wakeups.install()     # after-commit events wake this process's workers
    _ = g  # flask.g holds the request's principal (api/auth.py)
    return app
