"""SVG snapshots of the main screens at a fixed size and theme (update with --snapshot-update)."""

from __future__ import annotations

from ckpt_tui.model import Checkpoint
from ckpt_tui.tui.app import CkptApp
from tests.tui.conftest import settle

SIZE = (120, 36)


def test_inspect_screen_with_stats(snap_compare, training: Checkpoint) -> None:  # type: ignore[no-untyped-def]
    async def open_head_weight(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("right", "down", "down", "right", "down")
        await settle(pilot)

    assert snap_compare(CkptApp(training), terminal_size=SIZE, run_before=open_head_weight)


def test_optimizer_tab(snap_compare, training: Checkpoint) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(CkptApp(training), terminal_size=SIZE, press=["o"])


def test_metadata_tab(snap_compare, training: Checkpoint) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(CkptApp(training), terminal_size=SIZE, press=["m"])


def test_diff_screen(snap_compare, training: Checkpoint, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import torch

    from ckpt_tui.formats import read_checkpoint
    from ckpt_tui.reports import DiffOptions

    state = torch.load("sample_checkpoints/state_dict.pth")
    state["head.weight"] = state["head.weight"] * 1.5
    torch.save(state, tmp_path / "ft.pth")
    a = read_checkpoint("sample_checkpoints/state_dict.pth")
    b = read_checkpoint(tmp_path / "ft.pth")
    b = type(b)("fine-tuned.pth", b.format, b.root, b.file_size, b.notices)  # a stable name for the snapshot
    assert snap_compare(CkptApp.for_diff(a, b, DiffOptions()), terminal_size=SIZE, press=["e"], run_before=settle)
