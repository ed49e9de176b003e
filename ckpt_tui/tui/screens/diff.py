"""DiffScreen: two checkpoints compared key by key; the answer (metrics, changed values) on the first screen.

`w` re-runs the diff with wrapper prefixes stripped (the hint says when that would pair keys up).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static

from ckpt_tui.core.compare import difference_histogram
from ckpt_tui.core.diff import diff_checkpoints
from ckpt_tui.core.keys import WRAPPER_PREFIXES, make_rules
from ckpt_tui.core.layout import find_state_dict
from ckpt_tui.core.stats import compute_stats
from ckpt_tui.model import Checkpoint
from ckpt_tui.render import printable
from ckpt_tui.render.histogram import histogram_renderable
from ckpt_tui.render.tensor import stats_renderable, tensor_info_renderable
from ckpt_tui.reports import DiffOptions, DiffReport
from ckpt_tui.tui.messages import DiffComputed, DiffDetailComputed, Progressed, WorkFailed
from ckpt_tui.tui.widgets.diff_header import DiffHeader
from ckpt_tui.tui.widgets.diff_table import DiffTable, split_row_key
from ckpt_tui.tui.work import start_work

NARROW = 120  # below this width the detail goes under the table


class DiffScreen(Screen[None]):
    """The diff of two checkpoints, computed in a worker, browsable by key."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the checkpoint", id="back"),
        Binding("w", "toggle_wrappers", "Strip wrappers", tooltip="Re-run with module./_orig_mod./FSDP stripped"),
    ]

    def __init__(self, a: Checkpoint, b: Checkpoint, options: DiffOptions | None = None) -> None:
        super().__init__()
        self.a, self.b, self.options = a, b, options or DiffOptions()
        self.report: DiffReport | None = None
        self._cancel = threading.Event()
        self._shown: DiffDetailComputed | None = None

    def compose(self) -> ComposeResult:
        yield DiffHeader(self.a.path, self.b.path, id="diff-header")
        yield ProgressBar(show_eta=False, id="diff-progress")
        with Horizontal(id="body"):
            yield DiffTable(id="diff-table")
            yield VerticalScroll(Static(id="diff-detail"), id="diff-detail-view")
        yield Footer()

    def on_mount(self) -> None:
        self._compute()

    def on_unmount(self) -> None:
        self._cancel.set()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")
        if self._shown is not None:  # drawn again for the new width, after the layout settles
            self.call_after_refresh(self.on_diff_detail_computed, self._shown)

    @property
    def strips_wrappers(self) -> bool:
        return set(WRAPPER_PREFIXES) <= set(self.options.rules.strip)

    def action_toggle_wrappers(self) -> None:
        rules = make_rules(strip_wrappers=not self.strips_wrappers)
        self.options = replace(self.options, rules=replace(rules, renames=self.options.rules.renames))
        self._compute()

    def _compute(self) -> None:
        self._cancel.set()
        self._cancel = cancel = threading.Event()
        a, b, options = self.a, self.b, self.options
        self.query_one("#diff-progress").display = True
        self.query_one(DiffHeader).computing(self.strips_wrappers)

        def work() -> None:
            def progress(done: int, total: int) -> None:
                self.post_message(Progressed("diff", done, total))

            self.post_message(DiffComputed(diff_checkpoints(a, b, options, progress, cancel)))

        start_work(self, work, name="Diff", group="diff")

    def on_progressed(self, message: Progressed) -> None:
        self.query_one("#diff-progress", ProgressBar).update(total=message.total, progress=message.done)

    def on_diff_computed(self, message: DiffComputed) -> None:
        self.report = message.report
        self.app.post_message(DiffComputed(message.report))  # the app keeps the last one for its exit value
        self.query_one("#diff-progress").display = False
        self.query_one(DiffHeader).show(message.report, self.strips_wrappers)
        table = self.query_one(DiffTable)
        table.show(message.report, _model_prefix(self.a, message.report))
        table.focus()

    def on_work_failed(self, message: WorkFailed) -> None:
        self.query_one("#diff-progress").display = False
        if message.group == "diff":
            self.query_one(DiffHeader).failed(message.error)
        else:
            self._detail(Text(printable(f"statistics failed: {message.error}"), style="red"))

    @on(DataTable.RowHighlighted, "#diff-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.report is None or event.row_key.value is None:
            return
        kind, key = split_row_key(event.row_key.value)
        if kind == "v":
            change = next(v for v in self.report.values if v.path == key)
            self._detail(_value_detail(key, change.a, change.b))
        elif kind in ("a", "b"):
            side, path, ckpt = ("A", self.report.a, self.a) if kind == "a" else ("B", self.report.b, self.b)
            self._detail(_one_side(key, side, path, ckpt))
        else:
            self._start_detail(key)

    def _start_detail(self, key: str) -> None:
        self._shown = None
        pair = next(t for t in self.report.tensors if t.key == key)  # type: ignore[union-attr]
        self._detail(Text(printable(key) + "\ncomputing statistics…", style="dim"))

        def work() -> None:
            a, b = compute_stats(pair.a), compute_stats(pair.b)
            differences = difference_histogram(pair.a, pair.b) if pair.status in ("changed", "nonfinite") else None
            self.post_message(DiffDetailComputed(pair.key, a, b, differences))

        start_work(self, work, name="Statistics", group="diff-detail")

    def on_diff_detail_computed(self, message: DiffDetailComputed) -> None:
        self._shown = message
        width = max(20, self.query_one("#diff-detail-view").scrollable_content_region.width - 1)
        parts: list[RenderableType] = [Text(printable(message.key), style="bold")]
        if message.differences is not None:
            parts += [Text("\nhistogram of a − b", style="bold"), histogram_renderable(message.differences, width)]
        for side, stats in (("A", message.stats_a), ("B", message.stats_b)):
            if stats is not None:
                parts += [Text(f"\n{side}", style="bold"), stats_renderable(stats, width)]
        self._detail(Group(*parts))

    def _detail(self, body: RenderableType) -> None:
        self.query_one("#diff-detail", Static).update(body)


def _model_prefix(a: Checkpoint, report: DiffReport) -> str:
    """Keys under the model's state dict, when whole checkpoints are compared: they are listed first."""
    found = find_state_dict(a) if report.scope_a == "(root)" else None
    return ".".join(map(str, found.path)) + "." if found is not None and found.path else ""


def _value_detail(path: str, a: str | None, b: str | None) -> Text:
    text = Text(printable(path) + "\n", style="bold")
    text.append("A  ", style="bold")
    text.append(printable(a) if a is not None else "(absent)")
    text.append("\nB  ", style="bold")
    text.append(printable(b) if b is not None else "(absent)")
    return text


def _one_side(key: str, side: str, path: str, ckpt: Checkpoint) -> RenderableType:
    head = Text(printable(key) + "\n", style="bold")
    head.append(printable(f"present only in {side} ({path})"), style="dim")
    info = ckpt.tensors.get(key)
    return Group(head, tensor_info_renderable(info, [])) if info is not None else head
