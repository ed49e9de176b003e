"""DiffScreen: two checkpoints side by side, key by key, with the selected pair's stats and error histogram."""

from __future__ import annotations

import threading
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static

from ckpt_tui.core.compare import difference_histogram
from ckpt_tui.core.diff import diff_checkpoints
from ckpt_tui.core.stats import compute_stats
from ckpt_tui.errors import Cancelled, CkptError
from ckpt_tui.model import Checkpoint
from ckpt_tui.render import printable
from ckpt_tui.render.diff import tolerance_text
from ckpt_tui.render.tensor import histogram_renderable, stats_renderable
from ckpt_tui.reports import DiffOptions, DiffReport, TensorDiff
from ckpt_tui.tui.messages import DiffComputed, DiffDetailComputed, StatsProgressed, WorkFailed
from ckpt_tui.tui.widgets.diff_table import DiffTable


class DiffScreen(Screen[None]):
    """The diff of two checkpoints, computed in a worker, browsable by key."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the checkpoint", id="back"),
    ]

    def __init__(self, a: Checkpoint, b: Checkpoint, options: DiffOptions | None = None) -> None:
        super().__init__()
        self.a, self.b, self.options = a, b, options or DiffOptions()
        self.report: DiffReport | None = None
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(Text(printable(f"A {self.a.path}   B {self.b.path}")), id="header")
        yield ProgressBar(show_eta=False, id="diff-progress")
        with Horizontal(id="body"):
            yield DiffTable(id="diff-table")
            yield VerticalScroll(Static(id="diff-detail"), id="diff-detail-view")
        yield Footer()

    def on_mount(self) -> None:
        self._compute(self._cancel)

    def on_unmount(self) -> None:
        self._cancel.set()

    @work(thread=True, exclusive=True, exit_on_error=False, group="diff")
    def _compute(self, cancel: threading.Event) -> None:
        def progress(done: int, total: int) -> None:
            self.post_message(StatsProgressed("diff", done, total))

        try:
            self.post_message(DiffComputed(diff_checkpoints(self.a, self.b, self.options, progress, cancel)))
        except Cancelled:
            pass
        except (CkptError, OSError, ValueError) as e:
            self.post_message(WorkFailed("Diff failed", str(e)))

    def on_stats_progressed(self, message: StatsProgressed) -> None:
        self.query_one("#diff-progress", ProgressBar).update(total=message.total, progress=message.done)

    def on_diff_computed(self, message: DiffComputed) -> None:
        self.report = message.report
        self.query_one("#diff-progress").display = False
        self.query_one("#header", Static).update(self._summary(message.report))
        table = self.query_one(DiffTable)
        table.show(message.report)
        table.focus()

    def on_work_failed(self, message: WorkFailed) -> None:
        self.app.show_error(message.title, message.error)  # type: ignore[attr-defined]

    def _summary(self, report: DiffReport) -> Text:
        text = Text()
        text.append("identical  " if report.identical else "different  ", style="bold")
        text.append(printable(f"A {report.a} {report.scope_a} · B {report.b} {report.scope_b} · "))
        text.append(f"{len(report.changed)} changed, {len(report.only_a)} only in A, {len(report.only_b)} only in B, ")
        text.append(f"{len(report.values)} values · {tolerance_text(report)}")
        return text

    @on(DataTable.RowHighlighted, "#diff-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        pair = next((t for t in self.report.tensors if t.key == event.row_key.value), None) if self.report else None
        detail = self.query_one("#diff-detail", Static)
        if pair is None:
            detail.update(Text(printable(f"{event.row_key.value}: present on one side only"), style="dim"))
            return
        detail.update(Text(printable(pair.key) + "\ncomputing statistics…", style="dim"))
        self._detail(pair)

    @work(thread=True, exclusive=True, exit_on_error=False, group="diff-detail")
    def _detail(self, pair: TensorDiff) -> None:
        try:
            a, b = compute_stats(pair.a), compute_stats(pair.b)
            differences = difference_histogram(pair.a, pair.b) if pair.status == "changed" else None
            self.post_message(DiffDetailComputed(pair.key, a, b, differences))
        except (CkptError, OSError, ValueError) as e:
            self.post_message(WorkFailed("Statistics failed", str(e)))

    def on_diff_detail_computed(self, message: DiffDetailComputed) -> None:
        parts: list[RenderableType] = [Text(printable(message.key), style="bold")]
        for side, stats in (("A", message.stats_a), ("B", message.stats_b)):
            if stats is not None:
                parts += [Text(f"\n{side}", style="bold"), stats_renderable(stats, 40)]
        if message.differences is not None:
            parts += [Text("\nhistogram of a - b", style="bold"), histogram_renderable(message.differences, 40)]
        self.query_one("#diff-detail", Static).update(Group(*parts))
