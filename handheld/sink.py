"""Scan messages and where they go.

Every scan the handheld takes (camera or wedge) becomes one message in the protocol's
`scan` shape: ``{"scan_id": uuid4, "raw": text, "symbology": name-or-None,
"scanned_at": ISO-8601 UTC}``. The scan_id is made here, once, so that a replay after a
lost connection is recognised by the server as the same scan.

A sink is anything with ``send(message: dict) -> None``. `JsonLinesSink` prints one JSON
line per scan (`camera` and `wedge` without `--server`); `ClientSink` hands each message
to the Socket.IO client, which queues it on disk and sends it (with `--server`).
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
    """Where scan messages go (stdout, or the Socket.IO client)."""

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


class ClientSink:
    """Sends each scan message through a `handheld.client.HandheldClient`: queued on disk
    first, then delivered in order by the client's sender thread (acks come back through
    the client's `on_ack`)."""

    def __init__(self, client: SupportsEnqueue) -> None:
        self._client = client

    def send(self, message: dict[str, object]) -> None:
        """Queue `message` as a `scan` (it keeps the scan_id made by `scan_message`)."""
        self._client.enqueue("scan", message)


class SupportsEnqueue(Protocol):
    """The part of the client a sink needs (keeps this module free of socketio)."""

    def enqueue(self, event: str, message: dict) -> str:
        """Queue one protocol message; its scan_id."""
