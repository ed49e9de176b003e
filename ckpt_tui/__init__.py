"""ckpt-tui: look inside PyTorch checkpoints safely, lazily, and from the terminal.

Importing this package loads neither torch nor textual; the public helpers below import what they need on call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ckpt_tui.reports import LoadReport


def check_loads(checkpoint: str, model: str, **options: Any) -> LoadReport:
    """Check that `checkpoint` loads into `model` ("pkg.module:Class"); see `ckpt_tui.core.check.check_loads`."""
    from ckpt_tui.core.check import check_loads as _check_loads

    return _check_loads(checkpoint, model, **options)
