"""Rich renderables and JSON documents built from reports. The CLI prints them; the TUI's panes reuse them.

Everything that comes from a file (keys, strings, class names) goes through `printable()` and is shown as `Text`,
never as markup: a key holding `[bold]` or an ANSI escape must not style or move the terminal.
"""

from __future__ import annotations

import re

from ckpt_tui.model import Key

JSON_SCHEMA_VERSION = 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """`text` with control and bidi-override characters written as escapes (\\x1b, \\n, \\u202e)."""
    s = str(text)
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), s) if _CONTROL.search(s) else s


def key_label(key: Key) -> str:
    return printable(key if isinstance(key, str) else repr(key))


def human_bytes(n: int | float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def human_count(n: int) -> str:
    """'1.23M' for big counts; '' below a thousand, where the plain number already says it."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return ""


def json_key(key: Key) -> str | int | float | bool | None:
    return key if isinstance(key, str | int | float | bool | type(None)) else repr(key)
