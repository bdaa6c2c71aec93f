"""Camera scanning: frames from OpenCV (a camera index or a video file) → debounced scans.

Each decoded frame goes through `handheld.decode.decode_image`, the same cross-checked
decoder as for photos ("no result is better than a wrong one"). Frames are decoded at
full size: downscaling loses the thin bars of 1-D codes. For speed, `stride` decodes
only every Nth frame (a code is held in front of a camera for many frames, so a stride of
2–3 at 30 fps loses nothing but halves the CPU); the default decodes every frame.

Debouncing: a code held in front of the camera is one scan. A text is emitted when it is
first seen, and again only after it has been *absent* for more than `debounce_s`
seconds (every sighting renews the window), so holding a code for ten seconds is still
one scan, while taking it away and showing it again later is a second scan.

Time comes from `clock` (seconds, any origin). For a live camera that is the monotonic
clock; for a video file `frames_from` reports the frame's position in the video, so a
file gives the same scans however fast it is decoded.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from handheld.decode import decode_image

DEFAULT_DEBOUNCE_S = 1.5


class CameraError(RuntimeError):
    """A camera or video file that cannot be opened or read."""


@dataclass(frozen=True)
class CameraScan:
    """One debounced scan: the decoded text, its format, its GTIN-14 (if any), and the
    clock time of the frame it was first seen in."""
    text: str
    format: str
    gtin: str | None
    at: float


def open_source(device: str) -> cv2.VideoCapture:
    """Open a camera by index ("0", "1", …) or a video file by path.

    Raises CameraError with the reason when it cannot be opened."""
    device = device.strip()
    if device.isdigit():
        cap = cv2.VideoCapture(int(device))
        what = f"camera {device}"
    else:
        if not Path(device).is_file():
            raise CameraError(f"video file not found: {device}")
        cap = cv2.VideoCapture(device)
        what = f"video file {device}"
    if not cap.isOpened():
        cap.release()
        raise CameraError(f"cannot open {what}")
    return cap


class VideoFrames:
    """Frames of an open capture (at most `max_frames`), with the position of the last
    frame read as `clock()` (seconds into the video; for a camera, its timestamps)."""

    def __init__(self, cap: cv2.VideoCapture, max_frames: int | None = None) -> None:
        self._cap = cap
        self._max = max_frames
        self._pos_s = 0.0

    def __iter__(self) -> Iterator[np.ndarray]:
        count = 0
        while self._max is None or count < self._max:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                return
            self._pos_s = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            count += 1
            yield frame

    def clock(self) -> float:
        """Seconds into the video of the frame read last."""
        return self._pos_s


def scans_from_frames(frames: Iterable[np.ndarray], *, debounce_s: float = DEFAULT_DEBOUNCE_S,
                      clock: Callable[[], float] = time.monotonic,
                      stride: int = 1) -> Iterator[CameraScan]:
    """Decode `frames` and yield each code once per appearance (see the module doc).

    `clock` is read once per decoded frame, after the frame is taken from `frames`;
    `stride` N decodes frames 0, N, 2N, …"""
    if stride < 1:
        raise ValueError("stride must be at least 1")
    last_seen: dict[str, float] = {}
    for index, frame in enumerate(frames):
        if index % stride:
            continue
        now = clock()
        for result in decode_image(frame):
            previous = last_seen.get(result.text)
            last_seen[result.text] = now
            if previous is None or now - previous > debounce_s:
                yield CameraScan(result.text, result.format, result.gtin, now)


def scan_video(device: str, *, debounce_s: float = DEFAULT_DEBOUNCE_S,
               max_frames: int | None = None, stride: int = 1) -> Iterator[CameraScan]:
    """Open `device` (index or file) and yield its debounced scans; releases the capture.

    Video files are timed by frame position, live cameras by the monotonic clock."""
    cap = open_source(device)
    try:
        frames = VideoFrames(cap, max_frames)
        clock = time.monotonic if device.strip().isdigit() else frames.clock
        yield from scans_from_frames(frames, debounce_s=debounce_s, clock=clock,
                                     stride=stride)
    finally:
        cap.release()
