"""Label previews: ZPL rendered to PNG by the npm package zpl-renderer-js (WASM) on Node.

Starting Node and loading the ~8 MB WASM takes far longer than rendering one label, so one
long-lived Node process serves every preview of this Python process: one JSON line in
({"id", "zpl", "width_mm", "height_mm", "dpmm"}), one JSON line out ({"id", "png"} with
the PNG in base64, or {"id", "error"}). A lock keeps one request at a time on it; a process
that died or timed out is replaced on the next call.

The renderer is found under $WAVEPACK_ZPL_RENDERER_DIR (a node_modules folder) or the
repository's node_modules (`make setup` installs it with npm). Never imports server.

    png = render_png(build_shipping_label(label))      # bytes of a PNG, 812 x 1218 dots
"""
from __future__ import annotations

import atexit
import base64
import collections
import hashlib
import itertools
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

__all__ = ["BadZpl", "PreviewError", "PreviewTimeout", "Renderer", "RendererMissing",
           "close", "render_png", "renderer_dir"]

MM_PER_INCH = 25.4
DEFAULT_TIMEOUT_S = 10.0      # one render (a large label takes ~1 s on a slow machine)
START_TIMEOUT_S = 60.0        # node start + WASM load (seconds on a loaded CI machine)
PACKAGE = "zpl-renderer-js"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# The Node side: load the renderer once, then answer one JSON line per request, in order.
WORKER_JS = r"""
const readline = require("readline");
const { ready } = require("zpl-renderer-js");
ready.then(({ api }) => {
  const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
  let chain = Promise.resolve();
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  lines.on("line", (line) => {
    chain = chain.then(async () => {
      let req;
      try { req = JSON.parse(line); } catch (e) { out({ id: null, error: "bad request" }); return; }
      try {
        const png = await api.zplToBase64Async(req.zpl, req.width_mm, req.height_mm, req.dpmm);
        out({ id: req.id, png });
      } catch (e) {
        out({ id: req.id, error: String((e && e.message) || e) });
      }
    });
  });
  lines.on("close", () => chain.then(() => process.exit(0)));
  out({ ready: true });
}, (e) => { process.stderr.write(String(e) + "\n"); process.exit(3); });
"""


class PreviewError(Exception):
    """A label could not be rendered; `code` is stable (API error bodies use it)."""

    code = "preview_failed"


class RendererMissing(PreviewError):
    """Node or zpl-renderer-js is not installed (`make setup`), or the renderer died at start."""

    code = "renderer_unavailable"


class BadZpl(PreviewError, ValueError):
    """The text is not ZPL the renderer can draw."""

    code = "bad_zpl"


class PreviewTimeout(PreviewError):
    """No image within the timeout (the Node process is restarted)."""

    code = "preview_timeout"


def renderer_dir() -> Path | None:
    """The node_modules folder holding zpl-renderer-js: $WAVEPACK_ZPL_RENDERER_DIR, else the
    repository's (or the working directory's) node_modules; None when there is none."""
    candidates = (os.environ.get("WAVEPACK_ZPL_RENDERER_DIR"),
                  Path(__file__).resolve().parents[1] / "node_modules",
                  Path.cwd() / "node_modules")
    for base in candidates:
        if base and (Path(base) / PACKAGE / "package.json").is_file():
            return Path(base).resolve()
    return None


def _check_zpl(zpl: object) -> str:
    if not isinstance(zpl, str) or not zpl.strip():
        raise BadZpl("the label has no ZPL")
    upper = zpl.upper()
    start = upper.find("^XA")
    if start < 0 or upper.find("^XZ", start) < 0:
        raise BadZpl("ZPL must hold at least one ^XA…^XZ format")
    return zpl


class Renderer:
    """One Node process running zpl-renderer-js, shared by threads (one request at a time)."""

    def __init__(self, modules: Path | None = None, node: str | None = None,
                 cache_size: int = 32):
        self._modules, self._node = modules, node
        # the last images drawn: a station reopening a job's preview costs no render
        self._cache: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._cache_size = cache_size
        self._proc: subprocess.Popen | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.starts = 0                   # how many Node processes this renderer started

    # -- process ------------------------------------------------------------------------
    def _start(self) -> None:
        node = self._node or shutil.which("node")
        modules = self._modules or renderer_dir()
        if node is None:
            raise RendererMissing("Node.js is not installed (make setup installs nodejs)")
        if modules is None:
            raise RendererMissing(f"{PACKAGE} is not installed: run `make setup` (npm ci), or "
                                  "set WAVEPACK_ZPL_RENDERER_DIR to a node_modules holding it")
        self._lines = queue.Queue()
        self._stderr.clear()
        env = {**os.environ, "NODE_PATH": str(modules)}
        try:
            proc = subprocess.Popen([node, "-e", WORKER_JS], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                    cwd=str(Path(modules).parent), text=True, encoding="utf-8", bufsize=1)
        except OSError as err:
            raise RendererMissing(f"cannot start Node.js ({node}; make setup installs it): "
                                  f"{err.strerror or err}") from err
        self._proc, self.starts = proc, self.starts + 1
        lines, tail = self._lines, self._stderr
        threading.Thread(target=_pump, args=(proc.stdout, lines.put, True), daemon=True,
                         name="zpl-preview-out").start()
        threading.Thread(target=_pump, args=(proc.stderr, tail.append, False), daemon=True,
                         name="zpl-preview-err").start()
        first = self._read(time.monotonic() + START_TIMEOUT_S, starting=True)
        if first.get("ready") is not True:
            self._stop()
            raise RendererMissing(f"the renderer did not start: {first}")

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def _read(self, deadline: float, *, starting: bool = False) -> dict:
        """The next JSON line from Node, or an exception once it died or the deadline passed."""
        try:
            line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            proc, self._proc = self._proc, None
            if proc is not None:
                proc.kill()          # it may be stuck in a render: the next call starts anew
                proc.wait(timeout=5)
            kind = RendererMissing if starting else PreviewTimeout
            raise kind("the renderer did not start in time" if starting else
                       "the renderer did not answer in time") from None
        if line is None:                      # end of stream: Node exited
            proc, self._proc = self._proc, None
            if proc is not None:
                proc.wait(timeout=5)
            why = " ".join(self._stderr).strip()[-400:] or "no message"
            raise RendererMissing(f"the renderer exited: {why}")
        try:
            return json.loads(line)
        except ValueError as err:
            raise PreviewError(f"unreadable answer from the renderer: {line[:200]!r}") from err

    def close(self) -> None:
        with self._lock:
            self._stop()

    # -- rendering ----------------------------------------------------------------------
    def render_png(self, zpl: str, *, dpmm: int = 8, width_in: float = 4,
                   height_in: float = 6, timeout: float = DEFAULT_TIMEOUT_S) -> bytes:
        """The first label of `zpl` as PNG bytes (width_in × height_in at dpmm dots/mm)."""
        zpl = _check_zpl(zpl)
        if dpmm not in (6, 8, 12, 24):
            raise ValueError("dpmm must be 6, 8, 12 or 24 (152, 203, 300 or 600 dpi)")
        if not (0 < width_in <= 20 and 0 < height_in <= 60):
            raise ValueError("label size out of range")
        request = {"zpl": zpl, "width_mm": width_in * MM_PER_INCH,
                   "height_mm": height_in * MM_PER_INCH, "dpmm": dpmm}
        key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            if self._proc is None or self._proc.poll() is not None:
                self._proc = None
                self._start()
            request["id"] = next(self._ids)
            try:
                self._proc.stdin.write(json.dumps(request) + "\n")
                self._proc.stdin.flush()
            except OSError:
                self._stop()
                raise RendererMissing("the renderer exited") from None
            deadline = time.monotonic() + timeout
            while True:
                answer = self._read(deadline)
                if answer.get("id") == request["id"]:
                    break
        if "error" in answer:
            raise BadZpl(f"the renderer refused the label: {answer['error'][:300]}")
        png = base64.b64decode(answer.get("png") or "")
        if not png.startswith(_PNG_MAGIC):
            raise BadZpl("the renderer drew no image for this ZPL")
        with self._lock:
            self._cache[key] = png
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return png


def _pump(stream, put, end_marker: bool) -> None:
    """Copy the lines of a pipe to `put`; then None when `end_marker` (Node exited)."""
    try:
        for line in stream:
            put(line.rstrip("\n"))
    except (OSError, ValueError):
        pass
    finally:
        if end_marker:
            put(None)


_shared = Renderer()
atexit.register(_shared.close)


def render_png(zpl: str, *, dpmm: int = 8, width_in: float = 4, height_in: float = 6,
               timeout: float = DEFAULT_TIMEOUT_S) -> bytes:
    """Render the first label of `zpl` to PNG bytes with the process-wide Node worker.

    Raises RendererMissing (no Node / zpl-renderer-js, or it died at start), BadZpl (not
    ZPL, or the renderer refused it), PreviewTimeout (no image within `timeout` seconds)."""
    return _shared.render_png(zpl, dpmm=dpmm, width_in=width_in, height_in=height_in,
                              timeout=timeout)


def close() -> None:
    """Stop the shared Node worker (it starts again on the next render)."""
    _shared.close()
