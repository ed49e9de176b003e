"""The app driven with Pilot: navigation, lazy tree, stats, find, copy, optimizer and metadata tabs, errors."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from rich.console import Console
from textual.widgets import Static, TabbedContent

from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import Checkpoint, TensorInfo
from ckpt_tui.tui.app import CkptApp
from ckpt_tui.tui.widgets.metadata_view import MetadataView
from ckpt_tui.tui.widgets.tensor_detail import TensorDetail
from ckpt_tui.tui.widgets.tensor_tree import TensorTree
from tests.tui.conftest import settle


def static_text(app: CkptApp, selector: str) -> str:
    """What a Static shows, as plain text (its rich renderable printed to a wide console)."""
    content = app.screen.query_one(selector, Static).content
    console = Console(width=200, file=io.StringIO(), color_system=None)
    console.print(content)
    return console.file.getvalue()  # type: ignore[attr-defined]


async def test_expand_and_highlight_shows_stats(training: Checkpoint) -> None:
    app = CkptApp(training)
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.screen.query_one(TensorTree)
        assert [n.data.prefix for n in tree.root.children] == ["model_state_dict", "optimizer_state_dict", "rng_states"]  # type: ignore[union-attr]
        await pilot.press("right", "down", "right", "down", "right", "down")
        await settle(pilot)
        detail = app.screen.query_one(TensorDetail)
        assert detail.current is not None and detail.current.key == "model_state_dict.encoder.0.weight"
        stats = detail.computed[detail.current.key]
        expected = torch.load("sample_checkpoints/training.pth", weights_only=False)["model_state_dict"][
            "encoder.0.weight"
        ]
        assert stats.min == expected.min().item() and stats.max == expected.max().item()
        assert abs(stats.mean - expected.double().mean().item()) < 1e-12  # type: ignore[operator]
        assert "histogram" in static_text(app, "#stats")
        await pilot.press("left")  # from a tensor to its group
        assert tree.cursor_node is not None and tree.cursor_node.data.prefix == "model_state_dict.encoder.0"  # type: ignore[union-attr]
        await pilot.press("left")  # then the group closes
        assert not tree.cursor_node.is_expanded


async def test_find_reveals_a_tensor_and_y_copies_a_python_key(training: Checkpoint) -> None:
    app = CkptApp(training)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+f")
        await pilot.press(*"headbias")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen.query_one(TensorDetail)
        assert detail.current is not None and detail.current.key == "model_state_dict.head.bias"
        await pilot.press("y")
        assert app.clipboard == 'ckpt["model_state_dict"]["head.bias"]'
        ckpt = torch.load("sample_checkpoints/training.pth", weights_only=False)
        assert torch.equal(eval(app.clipboard, {"ckpt": ckpt}), ckpt["model_state_dict"]["head.bias"])
        await pilot.press("Y")
        assert app.clipboard == "[4]"
        await pilot.press("v")
        assert eval(app.clipboard) == ckpt["model_state_dict"]["head.bias"].tolist()
        await pilot.press("V")
        assert "min\t" in app.clipboard and "head.bias" in app.clipboard
        app.screen.reveal_tensor("optimizer_state_dict.state.0.exp_avg")  # type: ignore[attr-defined]
        await pilot.pause()
        await pilot.press("y")
        assert app.clipboard == 'ckpt["optimizer_state_dict"]["state"][0]["exp_avg"]'  # an int key stays an int
        assert torch.equal(eval(app.clipboard, {"ckpt": ckpt}), ckpt["optimizer_state_dict"]["state"][0]["exp_avg"])


async def test_slash_filters_tensors_and_metadata_in_place(training: Checkpoint) -> None:
    app = CkptApp(training)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("slash", *"lr")
        await pilot.pause(0.4)
        tree = app.screen.query_one(TensorTree)
        assert not tree.root.children  # no tensor key holds "lr"
        view = app.screen.query_one(MetadataView)
        labels = [n.label.plain for n in view.root.children]
        assert any(label.startswith("hyper_parameters.lr = 0.001") for label in labels)
        assert all("lr" in label.split(" = ")[0].lower() or "lr" in label for label in labels)  # matches only
        await pilot.press("enter")
        assert app.screen.query_one(TabbedContent).active == "metadata"
        view.cursor_line = next(i for i, label in enumerate(labels) if label.startswith("hyper_parameters.lr"))
        await pilot.press("y")
        assert app.clipboard == 'ckpt["hyper_parameters"]["lr"]'
        await pilot.press("slash", "backspace", "backspace", *"head")
        await pilot.pause(0.4)
        assert [n.data.prefix for n in tree.root.children] == ["model_state_dict"]  # type: ignore[union-attr]
        await pilot.press("escape")
        await pilot.pause()
        assert len(tree.root.children) == 3


async def test_a_filter_shows_its_first_row_in_the_detail(training: Checkpoint) -> None:
    """The cursor stays on line 0, but the row there is another group: the detail pane must follow it."""
    app = CkptApp(training)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "9 tensors" in static_text(app, "#facts")  # model_state_dict, all of it
        await pilot.press("slash", *"head", "enter")
        await pilot.pause()
        assert "model_state_dict" in static_text(app, "#facts") and "2 tensors" in static_text(app, "#facts")


async def test_optimizer_tab_names_parameters(training: Checkpoint) -> None:
    app = CkptApp(training)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("o")
        assert app.screen.query_one(TabbedContent).active == "optimizer"
        await settle(pilot)
        text = static_text(app, "#optimizer-text")
        assert "names: inferred" in text and "encoder.0.weight" in text and "head.bias" in text
        assert "weight_decay" in text and "0.01" in text


async def test_metadata_tab_labels_training_state(training: Checkpoint) -> None:
    app = CkptApp(training)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("m")
        view = app.screen.query_one(MetadataView)
        labels = [str(n.label) for n in view.root.children]
        assert any(label.startswith("epoch = 3") for label in labels)
        assert any("9 tensors — see the tensor tree" in label for label in labels)
        rng = next(n for n in view.root.children if str(n.label).startswith("rng_states"))
        rng.expand()
        await pilot.pause()
        children = [str(n.label) for n in rng.children]
        assert any("torch CPU RNG state, 5056 bytes" in c for c in children)
        assert any("numpy RNG state (MT19937)" in c for c in children)
        hp = next(n for n in view.root.children if str(n.label).startswith("hyper_parameters"))
        hp.expand()
        await pilot.pause()
        assert any(str(n.label).startswith("lr = 0.001") for n in hp.children)


async def test_every_screen_binding_is_a_palette_command(training: Checkpoint) -> None:
    app = CkptApp(training)
    async with app.run_test(size=(120, 40)):
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Filter", "Find", "Copy key", "Copy shape", "Stats", "Optimizer", "Metadata", "Keys"} <= titles


async def test_hostile_keys_are_shown_literally(tmp_path: Path) -> None:
    evil = "[bold red]x[/]\x1b[31m\x1b]0;pwned\x07"
    torch.save({evil: torch.ones(2)}, tmp_path / "evil.pt")
    app = CkptApp(read_checkpoint(tmp_path / "evil.pt"))
    async with app.run_test(size=(120, 30)) as pilot:
        tree = app.screen.query_one(TensorTree)
        label = tree.root.children[0].label
        assert label.plain.startswith("[bold red]x[/]\\x1b[31m\\x1b]0;pwned\\x07")
        assert not any("bold" in str(span.style) for span in label.spans)
        await settle(pilot)
        assert "\x1b" not in static_text(app, "#facts")


async def test_stats_error_is_shown_and_app_stays_usable(tmp_path: Path) -> None:
    torch.save({"w": torch.ones(1000)}, tmp_path / "w.pt")
    ckpt = read_checkpoint(tmp_path / "w.pt")
    (tmp_path / "w.pt").write_bytes((tmp_path / "w.pt").read_bytes()[:600] + b"\0" * 10)  # cut off the data
    app = CkptApp(ckpt)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        assert app.screen.__class__.__name__ == "ErrorDialog"
        await pilot.press("escape")
        assert "statistics failed" in static_text(app, "#stats")
        await pilot.press("o")
        assert app.screen.query_one(TabbedContent).active == "optimizer"


async def test_hundred_thousand_tensors_open_without_building_every_node(tmp_path: Path) -> None:
    tensors = {f"blocks.{i // 100}.layer.{i % 100}.weight": torch.zeros(1) for i in range(100_000)}
    torch.save(tensors, tmp_path / "many.pt")
    app = CkptApp(read_checkpoint(tmp_path / "many.pt"))
    async with app.run_test(size=(120, 30)) as pilot:
        tree = app.screen.query_one(TensorTree)
        assert len(tree.root.children) == 1  # "blocks"
        await pilot.press("right")
        await pilot.pause()
        assert len(tree._tree_nodes) < 2_000  # root + blocks + its 1,000 children, not 100k leaves
        assert isinstance(app.screen.query_one(TensorDetail).current, TensorInfo | type(None))


async def test_diff_screen_lists_changes_and_filters(training: Checkpoint, tmp_path: Path) -> None:
    from ckpt_tui.reports import DiffOptions
    from ckpt_tui.tui.widgets.diff_table import DiffTable

    state = torch.load("sample_checkpoints/state_dict.pth")
    state["head.weight"] = state["head.weight"] + 1
    torch.save(state, tmp_path / "ft.pth")
    a = read_checkpoint("sample_checkpoints/state_dict.pth")
    app = CkptApp.for_diff(a, read_checkpoint(tmp_path / "ft.pth"), DiffOptions())
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(DiffTable)
        assert table.row_count == 9 and table.report is not None and not table.report.identical
        await pilot.press("c")
        assert table.row_count == 1
        await settle(pilot)
        assert "histogram of a − b" in static_text(app, "#diff-detail")
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "InspectScreen"


async def test_convert_dialog_writes_and_reports(tmp_path: Path) -> None:
    import shutil

    from textual.widgets import Button, Input

    shutil.copy("sample_checkpoints/dataparallel.pth", tmp_path / "dp.pth")
    app = CkptApp(read_checkpoint(tmp_path / "dp.pth"))
    async with app.run_test(size=(140, 50)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one("#convert-strip").value = True
        assert dialog.query_one("#convert-output", Input).value == str(tmp_path / "dp.safetensors")
        dialog.query_one("#convert-run", Button).press()
        await settle(pilot)
        assert "wrote" in static_text(app, "#convert-result")
    from safetensors.torch import load_file

    assert set(load_file(tmp_path / "dp.safetensors")) == set(torch.load("sample_checkpoints/state_dict.pth"))


async def test_check_against_a_model_class(training: Checkpoint) -> None:
    from textual.widgets import Input

    from ckpt_tui.tui.dialogs.report import ReportDialog

    app = CkptApp(training)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("k")
        await pilot.pause()
        app.screen.query_one(Input).value = "sample_checkpoints.models:TinyNet"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportDialog)
        assert "loads cleanly" in static_text(app, "Static") and "load_state_dict" in static_text(app, "#report-body")


async def test_diff_with_another_file_from_the_inspect_screen(training: Checkpoint) -> None:
    from textual.widgets import Input

    from ckpt_tui.tui.screens.diff import DiffScreen

    app = CkptApp(training)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("d")
        await pilot.pause()
        app.screen.query_one(Input).value = "sample_checkpoints/state_dict.pth"
        await pilot.press("enter")
        await settle(pilot)
        await settle(pilot)
        assert isinstance(app.screen, DiffScreen) and app.screen.report is not None
        assert app.screen.report.scope_a == "['model_state_dict']" and app.screen.report.identical
        await pilot.press("escape", "d")
        await pilot.pause()
        app.screen.query_one(Input).value = "no/such.pth"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.__class__.__name__ == "ErrorDialog"
