"""CkptApp: the Textual app. It holds one checkpoint and shows it on an InspectScreen."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from ckpt_tui.model import Checkpoint
from ckpt_tui.reports import DiffOptions, DiffReport
from ckpt_tui.tui.dialogs.error import ErrorDialog
from ckpt_tui.tui.messages import DiffComputed
from ckpt_tui.tui.screens.diff import DiffScreen
from ckpt_tui.tui.screens.inspect import InspectScreen


class CkptApp(App[None]):
    """Browse a checkpoint: tensor tree, statistics, optimizer state, metadata, notices."""

    CSS_PATH = "app.tcss"
    TITLE = "ckpt-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="Leave ckpt-tui", id="quit"),
    ]

    def __init__(self, ckpt: Checkpoint | None, device: str = "cpu", run_dir: str | None = None) -> None:
        super().__init__()
        self.ckpt, self.device, self.run_dir = ckpt, device, run_dir
        self.diff_with: tuple[Checkpoint, DiffOptions] | None = None
        self.diff_report: DiffReport | None = None
        """The report of the last diff computed, kept for the exit code of `ckpt-tui diff`."""

    @classmethod
    def for_diff(cls, a: Checkpoint, b: Checkpoint, options: DiffOptions) -> CkptApp:
        """Opens on the diff of `a` and `b`; Escape goes back to `a`."""
        app = cls(a)
        app.diff_with = (b, options)
        return app

    def on_mount(self) -> None:
        if self.ckpt is None:  # `open DIR` on a folder of checkpoints: the run view
            from ckpt_tui.tui.screens.run import RunScreen

            self.push_screen(RunScreen(self.run_dir or ".", self.device))
            return
        self.push_screen(InspectScreen(self.ckpt, self.device))
        if self.diff_with is not None:
            self.push_screen(DiffScreen(self.ckpt, *self.diff_with))

    def on_diff_computed(self, message: DiffComputed) -> None:
        self.diff_report = message.report

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every screen key binding is a palette command too, with its tooltip as help."""
        yield from super().get_system_commands(screen)
        for binding in screen.BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                action = partial(screen.run_action, binding.action)
                yield SystemCommand(binding.description, binding.tooltip or binding.description, action)

    def show_error(self, title: str, message: str) -> None:
        self.push_screen(ErrorDialog(title, message))
