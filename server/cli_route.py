"""`wavepack route`: the shortest pick walk through some locations, for a layout file."""
from __future__ import annotations

import json

import click
import yaml

from .cli import main
from .domain.layout import Layout
from .domain.routing import shortest_route, sshape_route


def load_layout_file(path: str) -> Layout:
    """Read a YAML file that holds just a layout block; ValueError/OSError when it is bad."""
    with open(path, encoding="utf-8") as fh:
        try:
            data = yaml.safe_load(fh)
        except yaml.YAMLError as err:
            # the Cli group prints ValueError as `error: …`; a YAML traceback helps nobody
            raise ValueError(f"{path}: not valid YAML ({err.__class__.__name__})") from err
    try:
        return Layout.from_mapping(data)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


@main.command(name="route")
@click.option("--layout", "layout_file", required=True, metavar="FILE.yaml",
              help="YAML file holding the warehouse layout block")
@click.argument("locations", nargs=-1, required=True, metavar="LOC [LOC…]")
def route(layout_file: str, locations: tuple[str, ...]) -> None:
    """Print the shortest pick walk through LOC… as JSON, with the S-shape length."""
    layout = load_layout_file(layout_file)
    best = shortest_route(layout, locations)
    sshape = sshape_route(layout, locations)
    click.echo(json.dumps({"sequence": list(best.sequence),
                           "length_m": round(best.length_m, 6),
                           "sshape_length_m": round(sshape.length_m, 6)}))
