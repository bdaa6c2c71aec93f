"""`wavepack serve-prod`: several web processes, one worker and nginx (server/prod.py)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .cli import main


def _ports(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        ports = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ValueError(f"--backend-ports takes comma-separated port numbers, not {text!r}") \
            from None
    if not ports or any(not 0 < p < 65536 for p in ports) or len(set(ports)) != len(ports):
        raise ValueError(f"--backend-ports takes distinct port numbers, not {text!r}")
    return ports


@main.command(name="serve-prod")
@click.option("--processes", "-n", type=click.IntRange(1, 64), default=None,
              help="web processes (default: one per core)")
@click.option("--host", default="0.0.0.0", show_default=True,
              help="address nginx listens on")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="port nginx listens on (config server.port, env PORT)")
@click.option("--backend-ports", default=None, metavar="P1,P2,…",
              help="the web processes' ports on 127.0.0.1 (default: PORT+1 … PORT+N)")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="nginx's config, pid, logs and temp files (default: DATA_DIR/serve-prod)")
def serve_prod(processes: int | None, host: str, port: int | None, backend_ports: str | None,
               run_dir: Path | None) -> None:
    """Production on one machine: N `wavepack serve --no-workers` behind nginx, and one
    `wavepack worker`. Needs DATABASE_URL (PostgreSQL) and SOCKETIO_MESSAGE_QUEUE (Redis);
    stops everything on SIGTERM or Ctrl-C."""
    from . import prod
    from .config import load_config
    cfg = load_config()
    ports = _ports(backend_ports)
    n = len(ports) or processes or os.cpu_count() or 1
    run_dir = (run_dir or Path(cfg.server.data_dir) / "serve-prod").resolve()
    wavepack = str(Path(sys.argv[0]).resolve()) if Path(sys.argv[0]).name == "wavepack" \
        else str(Path(sys.executable).with_name("wavepack"))
    code = prod.serve_prod(cfg, processes=n, host=host, port=port or cfg.server.port,
                           backend_ports=ports, run_dir=run_dir, wavepack=wavepack,
                           say=lambda line: click.echo(line))
    sys.exit(code)
