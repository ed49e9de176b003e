"""ckpt-tui: look inside PyTorch checkpoints safely, lazily, and from the terminal.

Importing this package loads neither torch nor textual; the public helpers below import what they need on call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    import os

    from ckpt_tui.model import Checkpoint
    from ckpt_tui.reports import AuditReport, LoadReport


def check_loads(checkpoint: str, model: str, **options: Any) -> LoadReport:
    """Check that `checkpoint` loads into `model` ("pkg.module:Class"); see `ckpt_tui.core.check.check_loads`."""
    from ckpt_tui.core.check import check_loads as _check_loads

    return _check_loads(checkpoint, model, **options)


def audit(checkpoint: str | os.PathLike[str] | Checkpoint, **options: Any) -> AuditReport:
    """Can training resume from `checkpoint`? The verdict and findings; see `ckpt_tui.core.audit.audit`."""
    from ckpt_tui.core.audit import audit as _audit

    return _audit(checkpoint, **options)
