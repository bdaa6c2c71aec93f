"""Operator command line: `wavepack …` (also `flask --app server …`).

Every command exits non-zero with a one-line reason on bad input.
"""
from __future__ import annotations

import sys

import click
from flask import Flask, current_app, has_app_context

from .domain.errors import DomainError


def get_app(*, create_db: bool = False) -> Flask:
    """The running app under `flask --app server`, else a new one from config + environment.
    Only init-db, demo and serve --demo create a database; every other command needs one."""
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    from . import create_app
    return create_app(create_db=create_db)


class Cli(click.Group):
    """Turns DomainError / ValueError / OSError / database errors into `error: …` and exit 1,
    never a traceback."""

    def invoke(self, ctx):
        from peewee import DatabaseError, InterfaceError
        try:
            return super().invoke(ctx)
        except (DomainError, ValueError, OSError) as err:
            msg = err.message if isinstance(err, DomainError) else str(err)
            click.echo(f"error: {msg}", err=True)
            ctx.exit(1)
        except (DatabaseError, InterfaceError) as err:   # a corrupt file, a database away
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            click.echo(f"error: database: {first}", err=True)
            ctx.exit(1)


@click.group(cls=Cli)
def main() -> None:
    """wavepack: warehouse scanning and fulfilment."""


@main.command(name="init-db")
def init_db() -> None:
    """Create or upgrade the schema and the default warehouse `main`."""
    from .services import setup
    app = get_app(create_db=True)
    with app.app_context():
        result = setup.init_db()
    click.echo(f"database ready ({result['database']}, schema version {result['schema_version']})")


@main.command(name="demo")
def demo() -> None:
    """Create the demo warehouse (once) and print its logins and tokens."""
    from . import settings
    from .services import setup
    app = get_app(create_db=True)
    with app.app_context():
        setup.init_db()
        for line in setup.ensure_demo(settings.of(app)):
            click.echo(line)


@main.command(name="serve")
@click.option("--host", default=None, help="address to listen on (config server.host)")
@click.option("--port", default=None, type=int, help="port (config server.port, env PORT)")
@click.option("--demo", is_flag=True, help="create the demo warehouse on first start")
@click.option("--async-mode", type=click.Choice(["auto", "gevent", "threading"]), default=None,
              help="Socket.IO server (config server.async_mode; auto = gevent)")
@click.option("--no-workers", is_flag=True,
              help="run no background work here (production: `wavepack worker` runs it)")
def serve(host: str | None, port: int | None, demo: bool, async_mode: str | None,
          no_workers: bool) -> None:
    """Serve the web apps, the API and the handheld Socket.IO namespace, and (unless
    --no-workers) the background work, as `wavepack worker` would."""
    import os
    from .services import setup
    from .sockets import async_mode as running_mode
    wanted = async_mode or os.environ.get("WAVEPACK_SERVER_ASYNC_MODE") or "auto"
    if wanted in ("auto", "gevent") and running_mode("auto") != "gevent":
        _reexec_under_gevent(wanted)
    from . import telemetry
    # with its workers this process is the whole deployment: its metrics start afresh;
    # --no-workers joins one (serve-prod's, systemd's) beside a `wavepack worker`
    telemetry.prepare(fresh=not no_workers)
    if async_mode:
        os.environ["WAVEPACK_SERVER_ASYNC_MODE"] = async_mode
    demo_printers = _demo_printers() if demo else {}
    if demo_printers:
        from . import create_app
        app = create_app({"printers": {f"demo-{code}": {"url": p.url}
                                       for code, p in demo_printers.items()},
                          "stations": {f"pack-{code}": {"warehouse": code,
                                                        "printer": f"demo-{code}"}
                                       for code in demo_printers}}, create_db=True)
    else:
        app = get_app(create_db=demo)
    cfg = app.config["WAVEPACK"]
    host = host or cfg.server.host
    port = port or cfg.server.port
    for warning in ("wavepack.rate_limit_warning", "wavepack.message_queue_warning"):
        if app.extensions.get(warning):
            click.echo(f"warning: {app.extensions[warning]}")
    with app.app_context():
        setup.init_db(create=demo)
        if demo:
            app.extensions["wavepack.demo"] = True    # GET /api/v1/about shows the logins
            logins = setup.ensure_demo(cfg)
            base = f"http://{host}:{port}"
            click.echo(f"wavepack serving on {base}")
            click.echo(f"  health   {base}/healthz")
            click.echo(f"  API docs {base}/docs  (spec {base}/openapi.json)")
            click.echo(f"  home     {base}/")
            click.echo(f"  console  {base}/console/  (supervisors)")
            click.echo(f"  handheld {base}/handheld/")
            click.echo(f"  packing  {base}/pack/")
            click.echo(f"  returns  {base}/returns/")
            click.echo(f"  exceptions {base}/exceptions/")
            for code, printer in demo_printers.items():
                click.echo(f"  station pack-{code}: fake label printer {printer.url}")
            for line in logins:
                click.echo(f"  {line}")
        if cfg.replenishment.levels:
            from .services import replenishment
            from .store.db import db
            with db.connection_context():
                n = replenishment.apply_config_levels(cfg)
            click.echo(f" * replenishment: {n} pick face level(s) set from config")
    workers = None
    if no_workers:
        click.echo(" * workers: none here (--no-workers)")
    else:
        from .jobs import runner
        workers = runner.start_workers(app)
        click.echo(f" * workers: {workers.describe()}")
    mode = app.extensions["socketio"].async_mode
    if mode == "gevent":
        server = _gevent_server(host, port, app)
        server.start()            # bound and listening before "Running on" is printed
    else:                         # threading: Werkzeug's server (the baseline, and fallback)
        from werkzeug.serving import make_server
        server = make_server(host, port, app, threaded=True)
    click.echo(f" * Running on http://{host}:{port} (Socket.IO: {mode})")
    sys.stdout.flush()
    _exit_on_sigterm()
    try:
        server.serve_forever()
    finally:
        if workers is not None:
            workers.shutdown()  # the job in hand finishes, the printers' locks are released
        from .offload import close_pools
        close_pools()          # the document workers stop with the server


def _exit_on_sigterm() -> None:
    """SIGTERM (a service manager stopping the server) ends serving as Ctrl-C does, so the
    cleanup above runs instead of the process vanishing with its worker pool running."""
    import signal

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


def _gevent_server(host: str, port: int, app: Flask):
    """gevent's WSGI server with Nagle off on every connection: it writes a response's
    headers and body separately, and on a kept-alive connection (every browser) the body
    otherwise waits ~40 ms for the client's delayed ACK."""
    import socket

    from gevent import pywsgi

    class Handler(pywsgi.WSGIHandler):
        def handle(self):
            try:
                self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:          # not TCP (a test's socketpair): nothing to tune
                pass
            return super().handle()

    return pywsgi.WSGIServer((host, port), app, log=None, handler_class=Handler)


def _demo_printers() -> dict:
    """With no stations configured, the demo gets one station per demo warehouse, each with
    a fake ZPL printer in this process (printers/fake.py), so packing can be tried at once."""
    from printers.fake import FakePrinter

    from .config import load_config
    from .demo_data import WAREHOUSES
    if load_config().setup.stations:
        return {}
    return {code: FakePrinter().start() for code, *_ in WAREHOUSES}


def _reexec_under_gevent(wanted: str) -> None:
    """Start this command again under gevent's monkey patching, which must happen before
    anything else is imported (`python -m gevent.monkey --module server.cli …`)."""
    import importlib.util
    import os
    if importlib.util.find_spec("gevent") is None:
        if wanted == "gevent":
            raise click.ClickException("gevent is not installed")
        return                       # auto: fall back to threading
    args = [a for a in sys.argv[1:]]
    if not args or args[0] != "serve":   # under `flask --app server serve`: keep threading
        return
    os.execv(sys.executable, [sys.executable, "-m", "gevent.monkey", "--module", "server.cli",
                              *args])


def register_cli(app: Flask) -> None:
    for cmd in list(main.commands.values()):
        app.cli.add_command(cmd)


# The other command modules add their groups to `main` when imported.
from . import cli_admin, cli_import, cli_plan, cli_pull, cli_prod, cli_route, cli_worker  # noqa: E402,F401

from . import cli_backup  # noqa: E402,F401  (the SQLite online backup)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
