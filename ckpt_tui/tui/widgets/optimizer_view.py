"""OptimizerView: optimizer state by parameter name, worked out in a worker (naming can build a meta model), drawn
for the pane's width and drawn again when it changes."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ckpt_tui.core.optimizer import group_steps, optimizer_reports
from ckpt_tui.model import Checkpoint
from ckpt_tui.render import printable
from ckpt_tui.render.optimizer import optimizer_renderable
from ckpt_tui.reports import OptimizerReport
from ckpt_tui.tui.messages import OptimizerMapped, WorkFailed
from ckpt_tui.tui.work import start_work


class OptimizerView(VerticalScroll):
    DEFAULT_CSS = "OptimizerView { padding: 0 1; scrollbar-gutter: stable; }"

    def __init__(self, ckpt: Checkpoint, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.ckpt = ckpt
        self.reports: list[tuple[OptimizerReport, dict[int, float]]] | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("naming optimizer parameters…", style="dim"), id="optimizer-text")

    def on_mount(self) -> None:
        ckpt = self.ckpt

        def work() -> None:
            reports = optimizer_reports(ckpt)
            self.post_message(OptimizerMapped([(r, group_steps(r)) for r in reports]))

        start_work(self, work, name="Optimizer naming", group="optimizer")

    def on_optimizer_mapped(self, message: OptimizerMapped) -> None:
        self.reports = message.reports
        self._draw()

    def on_work_failed(self, message: WorkFailed) -> None:
        self.query_one(Static).update(Text(printable(f"optimizer state unavailable: {message.error}"), "red"))

    def on_resize(self, event: events.Resize) -> None:
        self._draw()

    def _draw(self) -> None:
        if self.reports is None:
            return
        width = max(20, self.scrollable_content_region.width)
        body: RenderableType
        if not self.reports:
            body = Text("No optimizer state in this checkpoint.", style="dim")
        else:
            body = Group(*(optimizer_renderable(r, width, steps) for r, steps in self.reports))
        self.query_one(Static).update(body)
