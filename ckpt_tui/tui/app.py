"""CkptApp: the Textual app. It holds one checkpoint and shows it on an InspectScreen."""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import partial
from typing import ClassVar

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from ckpt_tui.errors import Cancelled, CkptError
from ckpt_tui.model import Checkpoint
from ckpt_tui.render import printable
from ckpt_tui.reports import DiffOptions, DiffReport
from ckpt_tui.tui.dialogs.error import ErrorDialog
from ckpt_tui.tui.messages import DiffComputed, WorkFailed
from ckpt_tui.tui.screens.inspect import InspectScreen
from ckpt_tui.tui.work import origin_of


class CkptApp(App[DiffReport | None]):
    """Browse a checkpoint: tensor tree, statistics, optimizer state, metadata, notices.

    `run()` returns the last diff computed (None if none was), for the exit code of `ckpt-tui diff`.
    """

    CSS_PATH = "app.tcss"
    TITLE = "ckpt-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="Leave ckpt-tui", id="quit"),
    ]

    def __init__(self, ckpt: Checkpoint | None, device: str = "cpu", run_dir: str | None = None) -> None:
        super().__init__()
        self.ckpt, self.device, self.run_dir = ckpt, device, run_dir
        self.diff_with: tuple[Checkpoint, DiffOptions] | None = None
        self._last_diff: DiffReport | None = None

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
            from ckpt_tui.tui.screens.diff import DiffScreen  # imported when asked for: `open` does not need it

            self.push_screen(DiffScreen(self.ckpt, *self.diff_with))

    def on_diff_computed(self, message: DiffComputed) -> None:
        self._last_diff = message.report

    async def action_quit(self) -> None:
        self.exit(self._last_diff)

    @on(Worker.StateChanged)
    def _worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one handler of worker failures: an error dialog, and the pane that asked is told."""
        if event.state is not WorkerState.ERROR or isinstance(event.worker.error, Cancelled):
            return
        error = event.worker.error
        if isinstance(error, CkptError):
            text = str(error)
        else:
            text = f"internal error: {type(error).__name__}: {error}".splitlines()[0]
        self.clear_notifications()  # a "reading…" toast must not stay over the error
        title = f"{event.worker.name or 'work'} failed"
        self.show_error(title, text)
        origin = origin_of(event.worker)
        if origin is not None:
            origin.post_message(WorkFailed(title, text, event.worker.group))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every screen key binding is a palette command too, with its tooltip as help."""
        yield from super().get_system_commands(screen)
        for binding in screen.BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                action = partial(screen.run_action, binding.action)
                yield SystemCommand(binding.description, binding.tooltip or binding.description, action)

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """Saved in the current directory (Textual's default is the Downloads folder), and the path is said."""
        if self.is_web:
            self.deliver_screenshot(filename, path)
            return
        saved = self.save_screenshot(filename, path or os.getcwd())
        self.notify(printable(os.path.abspath(saved)), title="Screenshot saved")

    def show_error(self, title: str, message: str) -> None:
        self.push_screen(ErrorDialog(title, message))
