"""The first paint waits for nothing it does not show: work for hidden tabs, the hidden root, the audit worker and
the garbage collector come after it (issue 16: 100,000 tensors painted in 1.5 s). Order, not time, is tested."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from rich.console import RenderableType
from textual.screen import Screen

from ckpt_tui.cli import main
from ckpt_tui.commands import open_app
from ckpt_tui.core.grouping import TensorGroup
from ckpt_tui.model import Checkpoint
from ckpt_tui.tui.app import CkptApp
from ckpt_tui.tui.screens import inspect
from ckpt_tui.tui.screens.inspect import InspectScreen
from ckpt_tui.tui.widgets import summary_panel
from ckpt_tui.tui.widgets.metadata_view import MetadataView
from ckpt_tui.tui.widgets.summary_panel import SummaryPanel
from ckpt_tui.tui.widgets.tensor_detail import TensorDetail
from ckpt_tui.tui.widgets.tensor_tree import TensorTree
from tests.helpers import SAMPLES
from tests.tui.conftest import settle


def record_paints(monkeypatch: pytest.MonkeyPatch, events: list[str]) -> None:
    """Append "paint" to `events` each time the inspect screen is drawn."""
    display = CkptApp._display

    def recorded(self: CkptApp, screen: Screen[Any], renderable: RenderableType | None) -> None:
        if isinstance(screen, InspectScreen) and renderable is not None:
            events.append("paint")
        display(self, screen, renderable)

    monkeypatch.setattr(CkptApp, "_display", recorded)


def record_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, events: list[str]) -> None:
    real = getattr(owner, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        events.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)


async def test_hidden_tabs_and_the_audit_wait_for_the_first_paint(
    training: Checkpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    record_paints(monkeypatch, events)
    monkeypatch.setattr(summary_panel, "AUDIT_INLINE", 0)  # audited in a worker, as a 100k-tensor file is
    record_calls(monkeypatch, SummaryPanel, "_run_audit", events)
    record_calls(monkeypatch, MetadataView, "_populate", events)
    record_calls(monkeypatch, inspect, "_shared_keys", events)
    app = CkptApp(training)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert events[0] == "paint" and "_run_audit" in events
        assert "_populate" not in events and "_shared_keys" not in events  # a group is highlighted: no sharers
        assert app.screen.query_one(SummaryPanel).report is not None
        await pilot.press("m")  # shown: grown
        await pilot.pause()
        labels = [n.label.plain for n in app.screen.query_one(MetadataView).root.children]
        assert any(label.startswith("epoch = 3") for label in labels)
        screen = app.screen
        assert isinstance(screen, InspectScreen)
        for key in ("model_state_dict.head.weight", "model_state_dict.head.bias"):  # tensors: sharers looked up once
            screen.reveal_tensor(key)
            await pilot.pause()
            await pilot.pause()
            detail = screen.query_one(TensorDetail)
            assert detail.current is not None and detail.current.key == key
        assert events.count("_shared_keys") == 1


async def test_the_hidden_root_is_never_shown_in_the_detail(
    training: Checkpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The root is highlighted on the way to the first row; summing it is a pass over every tensor for nothing."""
    shown: list[TensorGroup] = []
    show_group = TensorDetail.show_group
    monkeypatch.setattr(TensorDetail, "show_group", lambda self, group: (shown.append(group), show_group(self, group)))
    app = CkptApp(training)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.screen.query_one(TensorTree)
        assert shown and "" not in [group.prefix for group in shown]  # "": the root
        assert tree.cursor_node is not None and shown[-1] is tree.cursor_node.data


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


def test_the_app_imports_no_diff_machinery_until_a_diff_is_asked_for() -> None:
    import subprocess

    code = "import sys, ckpt_tui.tui.app\nprint(sorted(m for m in sys.modules if 'diff' in m and 'ckpt' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
