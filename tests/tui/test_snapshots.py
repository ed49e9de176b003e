"""SVG snapshots at 80x24 and 160x50, theme pinned (update with --snapshot-update; look at them as PNGs).

Inspect: small values (scientific notation, a values grid) and a training checkpoint with a dangerous global
(the warnings line); diff: a fine-tune with value changes; optimizer: a Hugging Face Trainer directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ckpt_tui.core.diff import DiffOptions
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import Checkpoint
from ckpt_tui.tui.app import CkptApp
from tests.tui.conftest import THEME, settle

SIZES = [(80, 24), (160, 50)]


def pinned(app: CkptApp) -> CkptApp:
    app.theme = THEME
    return app


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x50"])
def test_inspect_small_values(snap_compare, small_values: Checkpoint, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def open_weight(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("right", "down")
        await settle(pilot)

    assert snap_compare(pinned(CkptApp(small_values)), terminal_size=size, run_before=open_weight)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x50"])
def test_inspect_training_with_warnings(snap_compare, dangerous: Checkpoint, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def open_head(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("right", "down", "down", "right", "down")
        await settle(pilot)

    assert snap_compare(pinned(CkptApp(dangerous)), terminal_size=size, run_before=open_head)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x50"])
def test_diff_fine_tune(snap_compare, fine_tune: tuple[Checkpoint, Checkpoint], size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    a, b = fine_tune

    async def open_changed(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)

    app = pinned(CkptApp.for_diff(a, b, DiffOptions()))
    assert snap_compare(app, terminal_size=size, run_before=open_changed)


@pytest.fixture(scope="module")
def trainer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from tests.hf_trainer import write_trainer_checkpoint

    return write_trainer_checkpoint(tmp_path_factory.mktemp("hf") / "checkpoint-1")


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x50"])
def test_optimizer_hf_trainer(snap_compare, trainer_dir: Path, monkeypatch, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(trainer_dir.parent)

    async def open_optimizer(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("o")
        await settle(pilot)

    app = pinned(CkptApp(read_checkpoint("checkpoint-1")))
    assert snap_compare(app, terminal_size=size, run_before=open_optimizer)
