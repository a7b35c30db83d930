"""Text from files and user data made safe to print: control characters escaped, long values cut.

A class name, metric name, node name or file path read from a file may hold terminal escapes
("\\x1b[2J" clears the screen) or be megabytes long. Whatever prints such text (error lines, the
console renderer) passes it through here first.
"""
from __future__ import annotations

import re
from typing import Any, TextIO

ELLIPSIS = "…"
# C0 controls, DEL, C1 controls and the Unicode line/paragraph separators; tab and newline are
# handled apart (kept where a caller prints several lines of its own).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_AND_LINES = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, newlines: bool = False) -> str:
    """`text` with every control character written as an escape (\\x1b); tabs are kept, and
    newlines too when `newlines` (text that is meant to span lines, like generated text)."""
    return (_CONTROL if newlines else _CONTROL_AND_LINES).sub(_escape, text)


def shown(value: Any) -> str:
    """A value as the error line shows it: its type and a short repr."""
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '…' if len(text) > 40 else text}"


def cut(text: str, limit: int = 200) -> str:
    """`text`, or its first `limit` characters and an ellipsis with the count left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}{ELLIPSIS} ({len(text) - limit:,} more characters)"


class PrintableStream:
    """A text stream that passes everything written to `stream` through `printable` (newlines and tabs
    kept): for commands that print what files hold (`ckpt`, `runs`), whose text is never a terminal's
    instruction. JSON output is unchanged: json.dumps already escapes control characters."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(printable(text, newlines=True))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
