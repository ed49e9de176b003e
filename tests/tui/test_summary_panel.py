"""The summary panel: the audit verdict, progress and top findings are the first thing seen; compact at 80x24."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import Checkpoint
from ckpt_tui.tui.app import CkptApp
from ckpt_tui.tui.dialogs.report import ReportDialog
from ckpt_tui.tui.widgets import summary_panel
from ckpt_tui.tui.widgets.summary_panel import SummaryPanel
from tests.helpers import SAMPLES
from tests.tui.conftest import settle


def panel_text(app: CkptApp) -> str:
    return app.screen.query_one(SummaryPanel).render().plain


async def test_training_checkpoint_shows_verdict_progress_and_metrics_first(training: Checkpoint) -> None:
    app = CkptApp(training)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one(SummaryPanel)
        assert panel.region.y <= 2 and panel.region.height <= 4  # at the top, under the header line
        lines = panel_text(app).splitlines()
        assert lines[0].startswith("RESUMABLE  epoch 3 · step 3 · lr 0.0005 · loss 1.452")
        assert lines[1].startswith("✗ 0 errors · ! 0 warnings · i 2 info")


async def test_weights_only_file_shows_its_top_findings_in_four_lines() -> None:
    app = CkptApp(read_checkpoint(SAMPLES / "dataparallel.pth"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert panel_text(app).splitlines() == [
            "WEIGHTS-ONLY  no epoch, step or metrics recorded",
            "✗ 2 errors · ! 1 warning · i 0 info   (click for the audit)",
            "✗ optimizer-missing: no optimizer state dict",
            "✗ progress-missing: no epoch or step counter",
        ]
        assert app.screen.query_one(SummaryPanel).region.height == 4
        await pilot.click(SummaryPanel)
        await pilot.pause()
        assert isinstance(app.screen, ReportDialog)


async def test_big_checkpoints_are_audited_in_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summary_panel, "AUDIT_INLINE", 0)
    app = CkptApp(read_checkpoint(SAMPLES / "training.pth"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert panel_text(app).startswith("RESUMABLE")


async def test_names_from_the_file_are_text_not_markup(tmp_path: Path) -> None:
    torch.save({"w": torch.ones(2), "loss[bold red]\x1b[2J": 0.5, "epoch": 1}, tmp_path / "evil.pth")
    app = CkptApp(read_checkpoint(tmp_path / "evil.pth"))
    async with app.run_test(size=(120, 24)) as pilot:
        await settle(pilot)
        first = panel_text(app).splitlines()[0]
        assert "loss[bold red]\\x1b[2J 0.5" in first and "\x1b" not in first
