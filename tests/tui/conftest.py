from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch
from rich.console import Console

from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import Checkpoint
from ckpt_tui.tui.app import CkptApp

REPO = Path(__file__).resolve().parents[2]
THEME = "textual-dark"  # pinned: snapshots must not follow $TEXTUAL_THEME


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


def screen_text(app: CkptApp) -> str:
    """Everything on the screen (dialogs and toasts included), as plain text."""
    console = Console(width=app.size.width, file=io.StringIO(), record=True, color_system=None, legacy_windows=False)
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    console.print(update)
    return console.export_text(styles=False)


class Hook:
    """Pickles as a call to os.system: a dangerous global the reader names and never runs."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("echo never-run",))


def training_dict() -> dict[str, object]:
    return torch.load(REPO / "sample_checkpoints" / "training.pth", weights_only=False)  # our own sample


@pytest.fixture
def dangerous(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Checkpoint:
    """A training checkpoint with a dangerous global in it, opened by a relative path (stable snapshots)."""
    state = training_dict()
    state["callback"] = Hook()
    torch.save(state, tmp_path / "run3-last.pth")
    monkeypatch.chdir(tmp_path)
    return read_checkpoint("run3-last.pth")


@pytest.fixture
def small_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Checkpoint:
    torch.manual_seed(0)
    torch.save(
        {"layer.weight": torch.randn(64, 3, 8, 8) * 1e-4, "layer.bias": torch.randn(64) * 1e-6}, tmp_path / "s.pt"
    )
    monkeypatch.chdir(tmp_path)
    return read_checkpoint("s.pt")


@pytest.fixture
def fine_tune(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Checkpoint, Checkpoint]:
    """The training sample and a fine-tune of it: head changed, epoch 3 -> 4, loss and lr changed."""
    a = training_dict()
    torch.save(a, tmp_path / "epoch3.pth")
    b = training_dict()
    b["model_state_dict"]["head.weight"] = b["model_state_dict"]["head.weight"] * 1.5  # type: ignore[index]
    b["epoch"], b["loss"] = 4, 0.9871
    b["optimizer_state_dict"]["param_groups"][0]["lr"] = 0.00025  # type: ignore[index]
    torch.save(b, tmp_path / "epoch4.pth")
    monkeypatch.chdir(tmp_path)
    return read_checkpoint("epoch3.pth"), read_checkpoint("epoch4.pth")
