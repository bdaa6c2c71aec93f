"""Keyboard-wedge and serial scanners: one scan per line of text on a stream (stdin).

A wedge scanner "types" the code followed by Enter (CR, LF or CRLF). Only the line
ending is removed: spaces can be part of a Code 128 / Code 39 text. Empty and
whitespace-only lines (a double Enter) are skipped.

GS1 codes keep their meaning for the server's parser:

* the FNC1 separator sent as the ASCII group separator ``\\x1d`` is kept unchanged;
* AIM symbology prefixes such as ``]C1`` (GS1-128), ``]d2`` (GS1 DataMatrix) or ``]E0``
  (EAN-13) are kept unchanged; they also name the symbology of the message;
* scanners that cannot type control characters are often set to send the group
  separator as the literal text ``<GS>``; it is turned into ``\\x1d``, the form the
  server understands.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

GS = "\x1d"
LITERAL_GS = "<GS>"

# AIM symbology identifier (`]` + code character) → the format names the handheld uses
_AIM_SYMBOLOGIES = {
    "C": "CODE128", "E": "EAN13", "A": "CODE39", "I": "ITF", "d": "DATAMATRIX",
    "Q": "QRCODE",
}


def normalise_line(line: str) -> str:
    """One wedge line as scan text: line ending removed, literal `<GS>` → GS."""
    return line.rstrip("\r\n").replace(LITERAL_GS, GS)


def scans_from_lines(stream: Iterable[str]) -> Iterator[str]:
    """Yield the scanned text of each non-empty line of `stream` (see the module doc)."""
    for line in stream:
        text = normalise_line(line)
        if text.strip():
            yield text


def symbology_of(text: str) -> str | None:
    """The symbology named by an AIM prefix (`]C1` → CODE128), None without one.

    `]E4` is EAN-8; other `]E` modifiers are the EAN-13/UPC family."""
    if len(text) < 3 or text[0] != "]":
        return None
    if text[1:3] == "E4":
        return "EAN8"
    return _AIM_SYMBOLOGIES.get(text[1])
