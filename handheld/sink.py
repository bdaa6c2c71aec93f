"""Scan messages and where they go.

Every scan the handheld takes (camera or wedge) becomes one message in the protocol's
`scan` shape: ``{"scan_id": uuid4, "raw": text, "symbology": name-or-None,
"scanned_at": ISO-8601 UTC}``. The scan_id is made here, once, so that a replay after a
lost connection is recognised by the server as the same scan.

A sink is anything with ``send(message: dict) -> None``. `JsonLinesSink` prints one JSON
line per scan (the `camera` and `wedge` commands use it today); the Socket.IO sender with
the offline queue will be another sink with the same method, swapped in by the CLI.
"""
from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, TextIO


def utc_now() -> datetime:
    """The handheld's clock (UTC, timezone-aware)."""
    return datetime.now(UTC)


def scan_message(raw: str, symbology: str | None = None, *,
                 now: Callable[[], datetime] = utc_now) -> dict[str, object]:
    """A new scan message with a fresh uuid4 scan_id and an ISO `scanned_at`."""
    return {"scan_id": str(uuid.uuid4()), "raw": raw, "symbology": symbology,
            "scanned_at": now().isoformat()}


class Sink(Protocol):
    """Where scan messages go (stdout today, the Socket.IO client later)."""

    def send(self, message: dict[str, object]) -> None:
        """Deliver (or queue) one scan message."""


class JsonLinesSink:
    """Writes each message as one JSON line and flushes (so a pipe sees it at once)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, message: dict[str, object]) -> None:
        """Print `message` as one line of JSON."""
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(json.dumps(message, ensure_ascii=False) + "\n")
        stream.flush()
