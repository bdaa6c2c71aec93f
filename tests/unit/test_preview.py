"""Label previews (printers/preview.py): rendered by zpl-renderer-js on one long-lived Node
process, decoded back with zxing-cpp; clear errors when the renderer is missing, the ZPL
is bad, or Node does not answer; a dead Node process is replaced.

With CI=true a missing Node / zpl-renderer-js fails (need()); locally it skips."""
from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time

import pytest

from printers import preview
from printers.labels import (
    Address, ShippingLabel, SsccLabel, build_shipping_label, build_sscc_label,
)

from ..conftest import need

SSCC = "106141411234567897"
SENDER = Address("Wavepack Ltd", ("12 Dock Road",), "Leeds", "LS1 1AA", country="GB")
RECIPIENT = Address("王小明", ("浦东新区 世纪大道100号",), "上海市", "200120", country="CN")
TRACKING = "1Z999AA10123456784"


def _need_renderer() -> None:
    need(preview.renderer_dir() is not None and shutil.which("node") is not None,
         "zpl-renderer-js under node_modules (make setup installs it with npm)")


@pytest.fixture
def renderer():
    _need_renderer()
    r = preview.Renderer()
    yield r
    r.close()


def _decode(png: bytes) -> tuple[tuple[int, int], set[tuple[str, str]]]:
    import cv2
    import numpy as np
    import zxingcpp
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    return image.shape, {(r.text, r.symbology_identifier) for r in zxingcpp.read_barcodes(image)}


def _label(job_id: object = "pj-1") -> str:
    return build_shipping_label(ShippingLabel(
        SENDER, RECIPIENT, 5_000_000_000_123, "DHL", "Express", TRACKING, SSCC, 1234, 1, 1,
        job_id=job_id))


def test_shipping_label_renders_and_decodes_back_to_tracking_and_gs1_sscc(renderer):
    png = renderer.render_png(_label(), timeout=60)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    shape, found = _decode(png)
    assert abs(shape[0] - 1218) <= 4 and abs(shape[1] - 812) <= 4       # 4 x 6 in at 8 dpmm
    assert (TRACKING, "]C0") in found
    assert (f"(00){SSCC}", "]C1") in found          # GS1-128: FNC1 in first position


def test_the_gs1_element_string_keeps_fnc1_as_gs(renderer):
    import cv2
    import numpy as np
    import zxingcpp
    png = renderer.render_png(build_sscc_label(SsccLabel(SSCC, SENDER, job_id=7)), timeout=60)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    [code] = zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain)
    assert code.symbology_identifier == "]C1" and code.text == "00" + SSCC


def test_one_node_process_serves_many_previews_quickly(renderer):
    renderer.render_png(_label(1), timeout=60)                 # start + warm-up
    small = "^XA^FO50,50^A0N,40,40^FDjob {n}^FS^XZ"
    started = time.perf_counter()
    for n in range(5):
        assert renderer.render_png(small.format(n=n)).startswith(b"\x89PNG")
    per_preview = (time.perf_counter() - started) / 5
    assert renderer.starts == 1
    assert per_preview < 2.0, per_preview      # a Node start + WASM load is what it saves


def test_size_and_resolution_follow_the_arguments(renderer):
    shape, _ = _decode(renderer.render_png("^XA^FO10,10^GB100,100,4^FS^XZ", dpmm=12,
                                           width_in=2, height_in=1, timeout=60))
    assert abs(shape[1] - 2 * 25.4 * 12) <= 4 and abs(shape[0] - 25.4 * 12) <= 4


def test_threads_share_the_worker_and_each_gets_its_own_label(renderer):
    results: dict[int, set] = {}

    def one(n: int) -> None:
        zpl = f"^XA^FO50,50^BY3^BCN,120,N,N,N^FDJOB{n:04d}^FS^XZ"
        results[n] = _decode(renderer.render_png(zpl, timeout=60))[1]

    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {n: {(f"JOB{n:04d}", "]C0")} for n in range(6)}
    assert renderer.starts == 1


def test_a_dead_node_process_is_replaced(renderer):
    renderer.render_png("^XA^FO50,50^A0N,40,40^FDone^FS^XZ", timeout=60)
    renderer._proc.kill()
    renderer._proc.wait(timeout=10)
    assert renderer.render_png("^XA^FO50,50^A0N,40,40^FDtwo^FS^XZ", timeout=60)
    assert renderer.starts == 2


@pytest.mark.parametrize("zpl", ["", "   ", "hello", "^XA no end", "^XZ^XA", None, 42])
def test_text_that_is_not_zpl_is_refused_before_node(zpl):
    with pytest.raises(preview.BadZpl) as err:
        preview.Renderer(node="/nonexistent/node").render_png(zpl)
    assert err.value.code == "bad_zpl" and isinstance(err.value, ValueError)


def test_zpl_the_renderer_cannot_draw_is_bad_zpl(renderer):
    with pytest.raises(preview.BadZpl, match="refused"):
        renderer.render_png("^XA^XZ", timeout=60)
    assert renderer.render_png("^XA^FO50,50^A0N,40,40^FDok^FS^XZ", timeout=60)   # still up


@pytest.mark.parametrize("kwargs", [{"dpmm": 7}, {"width_in": 0}, {"height_in": -1}])
def test_bad_sizes_are_refused(kwargs):
    with pytest.raises(ValueError):
        preview.Renderer(node="/nonexistent/node").render_png("^XA^XZ", **kwargs)


def test_missing_node_or_renderer_is_renderer_missing(tmp_path):
    with pytest.raises(preview.RendererMissing) as err:
        preview.Renderer(node=str(tmp_path / "no-node")).render_png("^XA^FDx^FS^XZ")
    assert err.value.code == "renderer_unavailable"
    node = shutil.which("node")
    need(node is not None, "node (make setup)")
    empty = tmp_path / "node_modules"
    empty.mkdir()
    with pytest.raises(preview.RendererMissing, match="exited|did not start"):
        preview.Renderer(modules=empty).render_png("^XA^FDx^FS^XZ", timeout=30)


def test_renderer_dir_follows_the_environment(tmp_path, monkeypatch):
    (tmp_path / "zpl-renderer-js").mkdir()
    (tmp_path / "zpl-renderer-js" / "package.json").write_text("{}")
    monkeypatch.setenv("WAVEPACK_ZPL_RENDERER_DIR", str(tmp_path))
    assert preview.renderer_dir() == tmp_path.resolve()


def test_a_node_that_never_answers_times_out_and_is_restarted(tmp_path):
    """A stand-in 'node' that says ready, then never answers: PreviewTimeout, and the next
    call starts a fresh process."""
    fake = tmp_path / "node"
    fake.write_text(f"#!{sys.executable}\nimport sys, time\n"
                    "print('{\"ready\": true}', flush=True)\ntime.sleep(60)\n")
    fake.chmod(0o755)
    modules = tmp_path / "modules"
    r = preview.Renderer(modules=modules, node=str(fake))
    try:
        started = time.monotonic()
        with pytest.raises(preview.PreviewTimeout):
            r.render_png("^XA^FDx^FS^XZ", timeout=0.5)
        assert time.monotonic() - started < 30
        with pytest.raises(preview.PreviewTimeout):
            r.render_png("^XA^FDy^FS^XZ", timeout=0.5)
        assert r.starts == 2
    finally:
        r.close()


def test_shared_render_png_and_close():
    _need_renderer()
    png = preview.render_png(_label("shared"), timeout=60)
    assert (TRACKING, "]C0") in _decode(png)[1]
    preview.close()
    assert preview.render_png(_label("shared"), timeout=60) == png     # cached or redrawn


def test_preview_never_imports_server():
    out = subprocess.run([sys.executable, "-c", "import sys, printers.preview; print(sorted("
                          "m for m in sys.modules if m.split('.')[0] == 'server'))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
