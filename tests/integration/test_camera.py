"""Camera path: a video file made from real photos in tests/data/barcodes, read through
`wavepack-handheld camera --device FILE` and through handheld.camera directly."""
from __future__ import annotations

import csv
import json
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from handheld.camera import CameraError, CameraScan, open_source, scan_video, scans_from_frames

from ..conftest import BARCODES as DATA
from ..conftest import console_script

CLI = console_script("wavepack-handheld")
# clearly readable photos, one per format, all with different texts
PHOTOS = [
    "ean13/zxing_ean13-1_18.png",
    "ean8/zxing_ean8-1_1.png",
    "upca/zxing_upca-2_43.png",
    "code128/zxing_code128-1_7.png",
    "code39/zxing_code39-1_4.png",
    "qrcode/zxing_qrcode-4_19.png",
    "datamatrix/zxing_datamatrix-2_01.png",
]
WIDTH, HEIGHT, FPS = 640, 480, 10.0
FRAMES_PER_PHOTO, BLANK_FRAMES = 6, 2


def _expected() -> dict[str, tuple[str, str]]:
    """file → (format, text) from the manifest, for the chosen photos."""
    with open(DATA / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = {r["file"]: (r["format"], r["text"]) for r in csv.DictReader(fh)}
    return {name: rows[name] for name in PHOTOS}


def _letterbox(img: np.ndarray) -> np.ndarray:
    """Fit a photo into the common frame size (downscaled only), centred on white."""
    h, w = img.shape[:2]
    scale = min(WIDTH / w, HEIGHT / h, 1.0)
    if scale < 1.0:
        img = cv2.resize(img, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
    frame = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    y, x = (HEIGHT - h) // 2, (WIDTH - w) // 2
    frame[y:y + h, x:x + w] = img
    return frame


def _photo_frames() -> Iterator[np.ndarray]:
    """Each photo held for FRAMES_PER_PHOTO frames, blank frames in between."""
    blank = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    for name in PHOTOS:
        img = cv2.imread(str(DATA / name), cv2.IMREAD_COLOR)
        assert img is not None, name
        frame = _letterbox(img)
        yield from [frame] * FRAMES_PER_PHOTO
        yield from [blank] * BLANK_FRAMES


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MJPG .avi of the chosen photos."""
    path = tmp_path_factory.mktemp("camera") / "photos.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS,
                             (WIDTH, HEIGHT))
    assert writer.isOpened()
    for frame in _photo_frames():
        writer.write(frame)
    writer.release()
    return path


def _assert_each_once(pairs: list[tuple[str, str]]) -> None:
    """(format, text) pairs equal the photos' codes, each exactly once, in video order."""
    assert pairs == list(_expected().values())


def test_function_reads_each_code_once(video: Path) -> None:
    scans = list(scan_video(str(video)))
    _assert_each_once([(s.format, s.text) for s in scans])
    assert [s.at for s in scans] == sorted(s.at for s in scans)
    assert scans[0].gtin is not None            # the EAN-13 carries a GTIN-14
    assert len(scans[0].gtin) == 14


def test_cli_reads_each_code_once(video: Path) -> None:
    proc = subprocess.run([str(CLI), "camera", "--device", str(video)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    _assert_each_once([(m["symbology"], m["raw"]) for m in lines])
    for m in lines:
        assert set(m) == {"scan_id", "raw", "symbology", "scanned_at"}
        assert uuid.UUID(m["scan_id"]).version == 4
        assert datetime.fromisoformat(m["scanned_at"]).tzinfo is not None
    assert len({m["scan_id"] for m in lines}) == len(lines)


def test_cli_max_frames_stops_early(video: Path) -> None:
    proc = subprocess.run([str(CLI), "camera", "--device", str(video), "--max-frames",
                           str(FRAMES_PER_PHOTO)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(x)["raw"] for x in proc.stdout.splitlines()] == [
        _expected()[PHOTOS[0]][1]]


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.avi"
    proc = subprocess.run([str(CLI), "camera", "--device", str(missing)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert "nope.avi" in proc.stderr and proc.stdout == ""
    with pytest.raises(CameraError):
        open_source(str(missing))


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video")
    proc = subprocess.run([str(CLI), "camera", "--device", str(junk)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "cannot open" in proc.stderr


class _FakeClock:
    """A settable clock for debouncing tests."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _timed(frames: list[np.ndarray], clock: _FakeClock, step: float) -> Iterator[np.ndarray]:
    """Yield frames, advancing the clock by `step` before each one."""
    for frame in frames:
        clock.now += step
        yield frame


def test_debounce_same_code_held_and_shown_again() -> None:
    img = _letterbox(cv2.imread(str(DATA / PHOTOS[1]), cv2.IMREAD_COLOR))
    blank = np.full_like(img, 255)
    text = _expected()[PHOTOS[1]][1]
    clock = _FakeClock()
    # held 3 s (30 frames at 0.1 s), gone 1 s, back: one scan (gap < 1.5 s)
    frames = [img] * 30 + [blank] * 10 + [img] * 3
    scans = list(scans_from_frames(_timed(frames, clock, 0.1), clock=clock, stride=3))
    assert [s.text for s in scans] == [text]
    # gone 2 s, back: a second scan
    clock.now = 0.0
    frames = [img] * 3 + [blank] * 20 + [img] * 3
    scans = list(scans_from_frames(_timed(frames, clock, 0.1), clock=clock))
    assert [s.text for s in scans] == [text, text]
    assert isinstance(scans[1], CameraScan) and scans[1].at > scans[0].at + 1.5


def test_stride_must_be_positive() -> None:
    with pytest.raises(ValueError):
        list(scans_from_frames([], stride=0))
