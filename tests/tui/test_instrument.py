"""The app as an instrument: every number readable at 80x24, warnings on the first screen, one worker path."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import torch
from textual.widgets import Static

from ckpt_tui.core.diff import DiffOptions, DiffReport
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import Checkpoint
from ckpt_tui.tui.app import CkptApp
from ckpt_tui.tui.commands import TensorFinding
from ckpt_tui.tui.messages import Progressed
from ckpt_tui.tui.widgets.diff_table import DiffTable
from ckpt_tui.tui.widgets.metadata_view import MetadataView
from ckpt_tui.tui.widgets.tensor_detail import TensorDetail
from ckpt_tui.tui.widgets.tensor_tree import TensorTree
from tests.tui.conftest import REPO, screen_text, settle, training_dict
from tests.tui.test_app import static_text


async def test_tree_rows_align_their_columns_and_never_scroll_sideways(training: Checkpoint) -> None:
    app = CkptApp(training)
    async with app.run_test(size=(80, 24)) as pilot:
        tree = app.screen.query_one(TensorTree)
        await pilot.press("right", "down", "down", "right")
        await pilot.pause()
        assert not tree.show_horizontal_scrollbar
        assert tree.virtual_size.width <= tree.scrollable_content_region.width
        screen = screen_text(app).splitlines()
        top = next(i for i, line in enumerate(screen) if line.startswith(" name"))  # under the header and panel
        lines = screen[top + 1 : top + 7]
        ends = {line.index("│") for line in lines}
        assert len(ends) == 1  # every row ends at the pane's edge
        assert any("head " in line and " 68 " in line for line in lines)  # a space between a name and its numbers
        for _ in range(3):
            await pilot.press("right_square_bracket")
        await pilot.pause()
        wider = screen_text(app).splitlines()
        assert "tensors" in wider[top] and wider[top + 1].index("│") > ends.pop()


async def test_warnings_are_on_the_first_screen_at_80_and_120_columns(dangerous: Checkpoint) -> None:
    for size in ((80, 24), (120, 36)):
        app = CkptApp(dangerous)
        async with app.run_test(size=size):
            head = screen_text(app).splitlines()[:2]
            assert "run3-last.pth" in head[0] and "params" in head[0]
            assert head[1].lstrip().startswith("⚠ 1 warning notice") and "system" in head[1]


async def test_histogram_and_values_redraw_for_the_width(small_values: Checkpoint) -> None:
    app = CkptApp(small_values)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("right", "down")
        await settle(pilot)
        detail = app.screen.query_one(TensorDetail)
        for size in ((120, 40), (80, 24), (200, 50)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            width = detail.scrollable_content_region.width
            text = static_text(app, "#stats").splitlines()
            assert all(len(line.rstrip()) <= width for line in text), (size, width)
            assert "e-0" in "\n".join(text) and "…" not in "\n".join(text)
            assert any(line.startswith("values [0, 0, :") for line in text)
        await pilot.press("l")
        assert "histogram (log counts)" in static_text(app, "#stats")


async def test_an_unexpected_worker_error_opens_one_dialog_and_frees_the_pane(
    training: Checkpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr("ckpt_tui.tui.widgets.tensor_detail.compute_stats", boom)
    app = CkptApp(training)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("right", "down", "right", "down", "right", "down")
        await settle(pilot)
        assert app.screen.__class__.__name__ == "ErrorDialog"
        text = screen_text(app)
        assert "Statistics failed" in text and "internal error: RuntimeError: boom" in text
        assert "second line" not in text
        await pilot.press("escape")
        assert "statistics failed" in static_text(app, "#stats") and "computing" not in static_text(app, "#stats")


def test_progress_messages_replace_older_ones_of_the_same_work() -> None:
    assert Progressed("a", 1, 9).can_replace(Progressed("a", 2, 9))
    assert not Progressed("a", 1, 9).can_replace(Progressed("b", 2, 9))


async def test_diff_screen_shows_metrics_and_value_changes_first(fine_tune: tuple[Checkpoint, Checkpoint]) -> None:
    a, b = fine_tune
    for size in ((80, 24), (120, 36)):
        app = CkptApp.for_diff(a, b, DiffOptions())
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            text = screen_text(app)
            lines = text.splitlines()
            for metric in ("max |a−b|", "rel L2", "cosine", "outside tol"):
                assert metric in text, (size, metric)
            assert "different" in lines[0] and "epoch 3 → 4" in lines[1]
            table = app.screen.query_one(DiffTable)
            keys = [row.key.value.partition("\0")[2] for row in table.ordered_rows]  # type: ignore[union-attr]
            assert keys[0] == "model_state_dict.encoder.0.weight" and not any("optimizer" in k for k in keys[:9])
            assert "epoch" in keys and "None" not in text
            await pilot.press("q")
        assert isinstance(app.return_value, DiffReport) and not app.return_value.identical


async def test_value_rows_and_one_sided_rows_say_what_they_are(tmp_path: Path) -> None:
    state = torch.load(REPO / "sample_checkpoints" / "state_dict.pth")
    torch.save({**state, "extra.weight": torch.ones(2)}, tmp_path / "b.pth")
    app = CkptApp.for_diff(
        read_checkpoint(REPO / "sample_checkpoints/state_dict.pth"), read_checkpoint(tmp_path / "b.pth"), DiffOptions()
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(DiffTable)
        table.move_cursor(row=table.row_count - 1)
        await pilot.pause()
        assert "present only in B" in static_text(app, "#diff-detail")


async def test_strip_wrappers_toggle_re_runs_the_diff() -> None:
    a = read_checkpoint(REPO / "sample_checkpoints/state_dict.pth")
    b = read_checkpoint(REPO / "sample_checkpoints/dataparallel.pth")
    app = CkptApp.for_diff(a, b, DiffOptions())
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert "(w: strip wrappers)" in screen_text(app)
        table = app.screen.query_one(DiffTable)
        assert table.get_row_at(0)[1].plain == "only in A"  # said where the metrics go, at any width
        await pilot.press("w")
        await settle(pilot)
        report = app.screen.report  # type: ignore[attr-defined]
        assert report is not None and report.identical and not report.only_a
        assert "wrapper prefixes stripped" in screen_text(app)


async def test_legacy_training_file_keeps_its_optimizer_state_column(tmp_path: Path) -> None:
    torch.save(training_dict(), tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    app = CkptApp(read_checkpoint(tmp_path / "old.pth"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("o")
        await settle(pilot)
        text = static_text(app, "#optimizer-text")
        assert "momentum_buffer" in text or "exp_avg, exp_avg_sq" in text
        assert "step" in text and "effective lr" in text and "encoder.0.weight" in text


async def test_omegaconf_configs_show_as_plain_mappings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modules = {name: types.ModuleType(name) for name in ("omegaconf", "omegaconf.dictconfig", "omegaconf.nodes")}
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    dict_config = type("DictConfig", (), {"__module__": "omegaconf.dictconfig"})
    any_node = type("AnyNode", (), {"__module__": "omegaconf.nodes"})
    modules["omegaconf.dictconfig"].DictConfig = dict_config  # type: ignore[attr-defined]
    modules["omegaconf.nodes"].AnyNode = any_node  # type: ignore[attr-defined]
    config = dict_config()
    lr = any_node()
    lr.__dict__.update(_val=0.003, _parent=config, _metadata=None)
    config.__dict__.update(_content={"lr": lr, "optimizer": "adamw"}, _parent=None, _metadata=None, _flags_cache={})
    torch.save({"w": torch.ones(2), "cfg": config}, tmp_path / "hydra.pt")
    monkeypatch.undo()  # the classes are gone again when the file is read
    app = CkptApp(read_checkpoint(tmp_path / "hydra.pt"))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("m")
        view = app.screen.query_one(MetadataView)
        cfg = next(n for n in view.root.children if n.label.plain.startswith("cfg"))
        assert "DictConfig of 2" in cfg.label.plain
        cfg.expand()
        await pilot.pause()
        assert [n.label.plain.split("  ")[0] for n in cfg.children] == ["lr = 0.003", "optimizer = 'adamw'"]


async def test_screens_offer_the_finder_a_typed_contract(training: Checkpoint) -> None:
    app = CkptApp(training)
    async with app.run_test(size=(120, 36)):
        assert isinstance(app.screen, TensorFinding)
        assert "model_state_dict.head.bias" in app.screen.tensor_keys()


async def test_screenshot_is_saved_in_the_current_directory(
    training: Checkpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = CkptApp(training)
    async with app.run_test(size=(80, 24)) as pilot:
        monkeypatch.chdir(tmp_path)
        app.action_screenshot()
        await pilot.pause()
        assert len(list(tmp_path.glob("*.svg"))) == 1
        assert any(str(tmp_path) in n.message for n in app._notifications)


async def test_header_keeps_counts_before_the_path_at_80_columns(training: Checkpoint) -> None:
    app = CkptApp(training)
    async with app.run_test(size=(80, 24)):
        first = screen_text(app).splitlines()[0]
        assert "28 tensors" in first and "277 params" in first and "training.pth" in first
        assert isinstance(app.screen.query_one("#tree-columns", Static), Static)


async def test_diff_detail_is_drawn_again_for_a_new_width(fine_tune: tuple[Checkpoint, Checkpoint]) -> None:
    a, b = fine_tune
    app = CkptApp.for_diff(a, b, DiffOptions())
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")  # the changed tensor only: its statistics and histogram of a − b
        await settle(pilot)
        for size in ((120, 36), (200, 40), (130, 30)):
            await pilot.resize_terminal(*size)
            await pilot.pause(0.2)
            view = app.screen.query_one("#diff-detail-view")
            lines = static_text(app, "#diff-detail").splitlines()
            assert "histogram of a − b" in lines
            assert all(len(line.rstrip()) <= view.scrollable_content_region.width for line in lines), size
