"""The browser apps in static/ (handheld, pack station, returns station, exception queue
and supervisor console pages, and the landing page at /), served by the server itself so
that `make run` needs nothing else; static/common/ holds the scripts the pages share
(served at /common/)."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, redirect, send_from_directory

STATIC = Path(__file__).resolve().parent.parent.parent / "static"

bp = Blueprint("pages", __name__)


def _serve_folder(folder: str, index: bool) -> None:
    """static/<folder>/<name> at /<folder>/<name>, 404 for anything outside that folder;
    a page's folder also answers /<folder>/ with its index.html (and /<folder> redirects)."""

    def files(name: str = "index.html"):
        return send_from_directory(STATIC / folder, name, max_age=0)

    bp.add_url_rule(f"/{folder}/<path:name>", folder, files)
    if index:
        bp.add_url_rule(f"/{folder}/", folder, files)
        bp.add_url_rule(f"/{folder}", f"{folder}_root",
                        lambda: redirect(f"/{folder}/", code=308))


_serve_folder("handheld", index=True)   # the picker's page
_serve_folder("pack", index=True)       # the packing station page
_serve_folder("returns", index=True)    # the returns station page
_serve_folder("exceptions", index=True)  # the supervisors' exception queue page
_serve_folder("console", index=True)    # the supervisors' console (its panels in panels/)
_serve_folder("home", index=False)      # the landing page's script and style
_serve_folder("common", index=False)    # the scripts both pages load


@bp.get("/")
def landing():
    """The landing page: what this server is and where its pages are (static/home/)."""
    return send_from_directory(STATIC / "home", "index.html", max_age=0)
