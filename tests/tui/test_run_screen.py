"""The run view with Pilot: the table and plots, live updates while checkpoints land, drift, open, diff."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from textual.widgets import Sparkline

from ckpt_tui.tui.app import CkptApp
from ckpt_tui.tui.screens.diff import DiffScreen
from ckpt_tui.tui.screens.inspect import InspectScreen
from ckpt_tui.tui.screens.run import RunScreen
from ckpt_tui.tui.widgets.run_table import RunTable


def save(directory: Path, epoch: int, weight: torch.Tensor, val_loss: float) -> None:
    state = {"epoch": epoch, "model": {"layer.weight": weight, "layer.bias": torch.zeros(4)}, "val_loss": val_loss}
    torch.save(state, directory / f"ckpt_epoch_{epoch:03d}.pth")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "run"
    directory.mkdir()
    torch.manual_seed(0)
    save(directory, 1, torch.ones(4, 4), 0.9)
    save(directory, 2, torch.ones(4, 4) * 1.1, 0.7)
    return directory


async def wait_for(pilot, condition, seconds: float = 8.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError("condition not met in time")


def run_screen(app: CkptApp) -> RunScreen:
    screen = app.screen
    assert isinstance(screen, RunScreen)
    return screen


async def test_shows_the_run_and_updates_live(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ckpt_tui.tui.screens.run.POLL_SECONDS", 0.3)
    app = CkptApp(None, run_dir=str(run_dir))
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: run_screen(app).report is not None)
        table = app.screen.query_one(RunTable)
        screen = run_screen(app)
        assert table.row_count == 2 and [m.name for m in screen.report.members] == [  # type: ignore[union-attr]
            "ckpt_epoch_001.pth",
            "ckpt_epoch_002.pth",
        ]
        assert any(list(s.data or []) == [0.9, 0.7] for s in app.screen.query(Sparkline))
        whole = (run_dir / "ckpt_epoch_002.pth").read_bytes()
        (run_dir / "ckpt_epoch_003.pth").write_bytes(whole[:200])  # a write in progress: not shown
        scans = len(screen._cache)
        await pilot.pause(1.0)  # three polls
        assert table.row_count == 2 and len(screen._cache) == scans + 1  # it was read, and skipped
        (run_dir / "ckpt_epoch_003.pth").unlink()
        weight = torch.ones(4, 4) * 1.1
        weight[0, 0] = math.nan
        save(run_dir, 3, weight, 0.5)  # lands complete, with a NaN in it
        await wait_for(pilot, lambda: table.row_count == 3)
        path = str(run_dir / "ckpt_epoch_003.pth")
        await wait_for(pilot, lambda: path in table.drift)
        drift = table.drift[path]
        assert drift.introduced_nonfinite and drift.nonfinite_b == 1
        assert screen.report is not None and screen.report.best is not None
        assert screen.report.best.path == path  # min val_loss: the new one


async def test_drift_open_and_diff(run_dir: Path) -> None:
    app = CkptApp(None, run_dir=str(run_dir))
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: run_screen(app).report is not None)
        table = app.screen.query_one(RunTable)
        await pilot.press("r")
        second = str(run_dir / "ckpt_epoch_002.pth")
        await wait_for(pilot, lambda: second in table.drift)
        assert table.drift[second].rel_l2 == pytest.approx(0.1, rel=1e-6)  # ‖1.1−1‖/‖1‖ over the weights
        assert table.drift[second].modules["layer"] == pytest.approx(0.1, rel=1e-6)
        await pilot.press("s")  # sorted by the next column: still two rows
        assert table.sort_by != "order" and table.row_count == 2
        await pilot.press("space", "down", "space", "d")
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
