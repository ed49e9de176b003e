"""The first paint waits for nothing it does not show: work for hidden tabs, the hidden root, the audit worker and
the garbage collector come after it (issue 16: 100,000 tensors painted in 1.5 s). Order, not time, is tested."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from ckpt_tui.cli import main
from ckpt_tui.commands import open_app
from ckpt_tui.model import Checkpoint
from ckpt_tui.tui.app import CkptApp
from tests.helpers import SAMPLES


def test_open_as_the_process_freezes_what_it_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ckpt-tui open` ends with the app, so the tree it read is kept out of the GC's sight (a full collection over
    100k tensors' objects cost 0.15 s each, twice, before the first paint); a caller in a longer-lived process
    (main(argv)) freezes nothing."""
    asked: list[bool] = []
    read = open_app.open_checkpoint

    def spy(*args: Any, one_shot: bool = False, **kwargs: Any) -> Checkpoint:
        asked.append(one_shot)
        return read(*args, **kwargs)  # never frozen here: this test process goes on

    monkeypatch.setattr(open_app, "open_checkpoint", spy)
    monkeypatch.setattr(open_app, "is_terminal", lambda: True)
    monkeypatch.setattr(CkptApp, "run", lambda self: None)
    monkeypatch.setattr(sys, "argv", ["ckpt-tui", "open", str(SAMPLES / "training.pth")])
    assert main() == 0
    assert main(["open", str(SAMPLES / "training.pth")]) == 0
    assert asked == [True, False]
