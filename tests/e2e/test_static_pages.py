"""The pages' files as the server serves them: static/common/ (the scripts the handheld
and the pack station pages share) at /common/, next to /handheld/ and /pack/, and nothing
outside each folder. No browser: the Flask test client."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..conftest import make_app

STATIC = Path(__file__).resolve().parents[2] / "static"


@pytest.fixture
def client(tmp_path):
    return make_app(f"sqlite:///{tmp_path}/wavepack.db").test_client()


@pytest.mark.parametrize("page", ["handheld", "pack"])
def test_each_page_loads_the_shared_scripts_and_they_are_served(client, page):
    html = client.get(f"/{page}/").get_data(as_text=True)
    shared = re.findall(r'<script src="\.\./common/([\w.]+)"', html)
    assert shared == ["i18n.js", "page.js", "outbox.js"], shared
    for name in shared:
        resp = client.get(f"/common/{name}")
        assert resp.status_code == 200, name
        assert resp.get_data() == (STATIC / "common" / name).read_bytes()
        assert "javascript" in resp.content_type, resp.content_type


@pytest.mark.parametrize("path", [
    "/common/", "/common/missing.js", "/common/../pack/app.js", "/common/..%2fpack%2fapp.js",
    "/common/%2e%2e/%2e%2e/config.yaml", "/common/../../server/api/pages.py",
    "/common//etc/passwd", "/common",
])
def test_nothing_outside_static_common_is_served_from_it(client, path):
    resp = client.get(path, follow_redirects=True)
    assert resp.status_code == 404, (path, resp.status_code, resp.request.path)


def test_the_returns_station_page_is_served_with_the_shared_scripts(client):
    assert client.get("/returns").status_code == 308
    html = client.get("/returns/").get_data(as_text=True)
    assert re.findall(r'<script src="\.\./common/([\w.]+)"', html) == ["i18n.js", "page.js"]
    # its own words and script, and the pack station's look it builds on
    for path in ("/returns/i18n.js", "/returns/app.js", "/returns/app.css", "/pack/app.css"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert resp.get_data() == (STATIC / path.lstrip("/")).read_bytes()
    assert client.get("/returns/../pack/app.js").status_code == 404
