"""A group's children enter the tensor tree a page at a time: a flat state dict of 100,000 tensors opens, scrolls
and reveals any key without building 100,000 rows (here with pages of 10 rows and 25 tensors)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rich.style import Style

from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import TensorInfo
from ckpt_tui.tui.app import CkptApp
from ckpt_tui.tui.screens.inspect import InspectScreen
from ckpt_tui.tui.widgets import tensor_tree
from ckpt_tui.tui.widgets.tensor_detail import TensorDetail
from ckpt_tui.tui.widgets.tensor_tree import MoreRows, TensorTree
from tests.tui.conftest import screen_text

COUNT, PAGE = 25, 10


@pytest.fixture
def flat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CkptApp:
    torch.save({f"w{i}": torch.full((2,), float(i)) for i in range(COUNT)}, tmp_path / "flat.pt")
    monkeypatch.setattr(tensor_tree, "PAGE", PAGE)
    return CkptApp(read_checkpoint(tmp_path / "flat.pt"))


def rows(tree: TensorTree) -> list[str]:
    return [n.data.key if isinstance(n.data, TensorInfo) else type(n.data).__name__ for n in tree.root.children]


async def test_a_page_then_a_row_for_the_rest(flat: CkptApp) -> None:
    async with flat.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = flat.screen.query_one(TensorTree)
        assert rows(tree) == [f"w{i}" for i in range(PAGE)] + ["MoreRows"]
        assert "… 15 more (Enter)" in screen_text(flat)
        await pilot.press("end")  # the "more" row: the detail says what it stands for
        await pilot.pause()
        assert "15 more rows" in screen_text(flat) and flat.screen.query_one(TensorDetail).current is None
        await pilot.press("enter")  # the next page, and the cursor on its first row
        await pilot.pause()
        await pilot.pause()
        assert rows(tree)[PAGE : 2 * PAGE + 1] == [f"w{i}" for i in range(PAGE, 2 * PAGE)] + ["MoreRows"]
        current = flat.screen.query_one(TensorDetail).current
        assert current is not None and current.key == f"w{PAGE}"
        await pilot.press("end", "right")  # → opens the last page too; no "more" row is left
        await pilot.pause()
        assert rows(tree) == [f"w{i}" for i in range(COUNT)]


async def test_a_second_enter_on_a_replaced_row_adds_nothing(flat: CkptApp) -> None:
    async with flat.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = flat.screen.query_one(TensorTree)
        more = tree.root.children[-1]
        tree._show_more(more)
        tree._show_more(more)  # a second Enter queued before the first was handled
        await pilot.pause()
        assert rows(tree) == [f"w{i}" for i in range(2 * PAGE)] + ["MoreRows"]


async def test_revealing_a_key_adds_only_the_page_around_it(flat: CkptApp) -> None:
    async with flat.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = flat.screen.query_one(TensorTree)
        screen = flat.screen
        assert isinstance(screen, InspectScreen)
        screen.reveal_tensor("w16")
        await pilot.pause()
        await pilot.pause()
        # w0-w9, then the page around w16 (w11-w20), with a row for w10 before it and one for w21-w24 after it
        assert rows(tree) == [f"w{i}" for i in range(PAGE)] + ["MoreRows"] + [f"w{i}" for i in range(11, 21)] + [
            "MoreRows"
        ]
        assert [n.data.remaining for n in tree.root.children if isinstance(n.data, MoreRows)] == [1, 4]
        assert tree.cursor_node is not None and tree.cursor_node.data is flat.ckpt.tensors["w16"]  # type: ignore[union-attr]
        screen.reveal_tensor("w10")  # the one-row gap: replaced by its row, nothing duplicated
        await pilot.pause()
        await pilot.pause()
        assert rows(tree)[: 2 * PAGE + 1] == [f"w{i}" for i in range(21)]


async def test_rows_are_measured_without_being_drawn(flat: CkptApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row is as wide as the pane: laying out a page must not render each of its labels (1,000 per page)."""
    drawn: list[object] = []
    render_label = TensorTree.render_label

    def counted(self: TensorTree, node: object, base_style: Style, style: Style) -> object:
        drawn.append(node)
        return render_label(self, node, base_style, style)  # type: ignore[arg-type]

    monkeypatch.setattr(tensor_tree, "PAGE", 200)
    monkeypatch.setattr(TensorTree, "render_label", counted)
    async with flat.run_test(size=(120, 12)) as pilot:  # room for a few rows only
        await pilot.pause()
        tree = flat.screen.query_one(TensorTree)
        assert len(tree.root.children) == COUNT
        assert len({id(node) for node in drawn}) <= tree.size.height  # the rows shown, not all of them
        assert tree.virtual_size.width <= tree.size.width  # and no horizontal scrolling
