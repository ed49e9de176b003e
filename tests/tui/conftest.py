from __future__ import annotations

from pathlib import Path

import pytest

from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import Checkpoint
from ckpt_tui.tui.app import CkptApp

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def training(monkeypatch: pytest.MonkeyPatch) -> Checkpoint:
    monkeypatch.chdir(REPO)  # the header shows the path as given: keep it relative for stable snapshots
    return read_checkpoint("sample_checkpoints/training.pth")


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    """Let the stats timer fire and every worker finish."""
    await pilot.pause(0.4)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def make_app(ckpt: Checkpoint) -> CkptApp:
    return CkptApp(ckpt)
