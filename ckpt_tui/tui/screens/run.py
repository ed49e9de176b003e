"""RunScreen: a folder of checkpoints as one run, kept live while training writes into it.

A worker re-reads the folder every `poll` seconds (only what changed: the read is cached by size and mtime; files
being written are skipped by `read_run` until whole). Drift against the previous checkpoint is computed on demand
(`r`, the whole run) and for every checkpoint that lands while the screen is open.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ckpt_tui.core.runs import MemberCache, read_run
from ckpt_tui.errors import Cancelled, CkptError
from ckpt_tui.model import Checkpoint
from ckpt_tui.render import printable
from ckpt_tui.reports import Drift, RunMember, RunReport
from ckpt_tui.tui.messages import WorkFailed
from ckpt_tui.tui.widgets.run_plots import RunPlots
from ckpt_tui.tui.widgets.run_table import RunTable

POLL_SECONDS = 1.5
TOP_MODULES = 12


@dataclass
class RunScanned(Message):
    report: RunReport


@dataclass
class DriftComputed(Message):
    drift: Drift


@dataclass
class CheckpointsRead(Message):
    ckpts: list[Checkpoint]


class RunScreen(Screen[None]):
    """The run table, a sparkline per metric, and the highlighted checkpoint's sources and drift."""

    DEFAULT_CSS = """
    RunScreen #run-table { width: 65%; min-width: 60; }
    RunScreen #run-detail-view { width: 1fr; padding: 0 1; border-left: solid $primary-background; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "open_checkpoint", "Open", tooltip="Open the highlighted checkpoint (or Enter)", id="run_open"),
        Binding("d", "diff_marked", "Diff", tooltip="Diff the two marked checkpoints (space marks)", id="run_diff"),
        Binding(
            "r", "compute_drift", "Drift", tooltip="Compute drift vs the previous checkpoint, whole run", id="drift"
        ),
    ]

    def __init__(self, directory: str, device: str = "cpu", poll: float | None = None) -> None:
        super().__init__()
        self.directory, self.device, self.poll = directory, device, poll or POLL_SECONDS
        self.report: RunReport | None = None
        self._cache: MemberCache = {}
        self._cancel = threading.Event()
        self._drift_done: set[tuple[str | None, str]] = set()

    def compose(self) -> ComposeResult:
        yield Static(Text(printable(f"run {self.directory}")), id="header")
        yield RunPlots(id="run-plots")
        with Horizontal(id="body"):
            yield RunTable(id="run-table")
            yield VerticalScroll(Static(id="run-detail"), id="run-detail-view")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RunTable).focus()
        self._scan()
        self.set_interval(self.poll, self._scan)

    def on_unmount(self) -> None:
        self._cancel.set()

    @work(thread=True, exclusive=True, exit_on_error=False, group="run-scan")
    def _scan(self) -> None:
        try:
            self.post_message(RunScanned(read_run(self.directory, cache=self._cache)))
        except CkptError as e:
            self.post_message(WorkFailed("Cannot read the run", str(e)))

    def on_run_scanned(self, message: RunScanned) -> None:
        old, report = self.report, message.report
        self.report = report
        table = self.query_one(RunTable)
        if old is not None and _signature(old) == _signature(report):
            return
        table.show(report)
        self.query_one(RunPlots).show(report, table.drift)
        self._show_header(report)
        self._show_detail()
        if old is not None:  # checkpoints that landed while watching: their drift and NaN/Inf now
            known = {m.path for m in old.members}
            self._compute_drift([m.path for m in report.members if m.path not in known], self._cancel)

    def on_drift_computed(self, message: DriftComputed) -> None:
        table = self.query_one(RunTable)
        table.set_drift(message.drift)
        if self.report is not None:
            self.query_one(RunPlots).show(self.report, table.drift)
        self._show_detail()
        if message.drift.introduced_nonfinite:
            name = printable(message.drift.b)
            self.notify(f"NaN/Inf introduced in {name}: {message.drift.nonfinite_b:,}", severity="error", timeout=10)

    def action_compute_drift(self) -> None:
        if self.report is not None:
            self._compute_drift([m.path for m in self.report.members], self._cancel)

    @work(thread=True, exit_on_error=False, group="run-drift")
    def _compute_drift(self, paths: list[str], cancel: threading.Event) -> None:
        from ckpt_tui.core.drift import drift_between
        from ckpt_tui.formats import read_checkpoint

        report = self.report
        if report is None:
            return
        order = [m.path for m in report.members]
        for path in paths:
            if cancel.is_set() or path not in order:
                return
            index = order.index(path)
            previous = order[index - 1] if index else None
            if (previous, path) in self._drift_done:
                continue
            try:
                a = read_checkpoint(previous) if previous is not None else None
                drift = drift_between(a, read_checkpoint(path), cancel)
            except Cancelled:
                return
            except (CkptError, OSError, ValueError) as e:  # a file deleted or rewritten meanwhile, say so
                self.post_message(WorkFailed("Cannot compute drift", str(e)))
                continue
            self._drift_done.add((previous, path))
            self.post_message(DriftComputed(drift))

    @on(DataTable.RowHighlighted)
    def _on_highlight(self) -> None:
        self._show_detail()

    @on(DataTable.RowSelected)
    def _on_select(self) -> None:
        self.action_open_checkpoint()

    def action_open_checkpoint(self) -> None:
        path = self.query_one(RunTable).current_path
        if path is not None:
            self._read([path])

    def action_diff_marked(self) -> None:
        marked = self.query_one(RunTable).marked
        if len(marked) != 2:
            self.notify("Mark two checkpoints with space first", severity="warning")
            return
        self._read(self._in_order(marked))

    @work(thread=True, exclusive=True, exit_on_error=False, group="run-open")
    def _read(self, paths: list[str]) -> None:
        from ckpt_tui.formats import read_checkpoint

        try:
            self.post_message(CheckpointsRead([read_checkpoint(p) for p in paths]))
        except CkptError as e:
            self.post_message(WorkFailed("Cannot open the checkpoint", str(e)))

    def on_checkpoints_read(self, message: CheckpointsRead) -> None:
        from ckpt_tui.tui.screens.diff import DiffScreen

        if len(message.ckpts) == 1:
            self.app.push_screen(member_screen(message.ckpts[0], self.device))
        else:
            self.app.push_screen(DiffScreen(message.ckpts[0], message.ckpts[1]))

    def on_work_failed(self, message: WorkFailed) -> None:
        self.app.show_error(message.title, message.error)  # type: ignore[attr-defined]

    def _in_order(self, paths: list[str]) -> list[str]:
        order = [m.path for m in self.report.members] if self.report else []
        return sorted(paths, key=lambda p: order.index(p) if p in order else len(order))

    def _show_header(self, report: RunReport) -> None:
        text = Text(printable(f"run {report.directory}: {len(report.members)} checkpoints"))
        if report.best is not None:
            text.append(printable(f"   ★ best {_base(report.best.path)} by {report.best.rule}"))
        if report.latest is not None:
            text.append(printable(f"   ⟳ latest {_base(report.latest.path)}"))
        if report.skipped:
            text.append(f"   skipped {len(report.skipped)}", style="dim")
        self.query_one("#header", Static).update(text)

    def _show_detail(self) -> None:
        table = self.query_one(RunTable)
        member = self.report.member(table.current_path or "") if self.report else None
        detail = self.query_one("#run-detail", Static)
        detail.update(member_detail(member, table.drift.get(member.path)) if member else Text(""))


def member_screen(ckpt: Checkpoint, device: str) -> Screen[None]:
    """The inspect screen for one checkpoint of the run, with Escape back to the run."""
    from ckpt_tui.tui.screens.inspect import InspectScreen

    class RunMemberScreen(InspectScreen):
        BINDINGS: ClassVar[list[BindingType]] = [
            Binding("escape", "app.pop_screen", "Back", tooltip="Back to the run", id="run_back"),
        ]

    return RunMemberScreen(ckpt, device)


def member_detail(m: RunMember, drift: Drift | None) -> RenderableType:
    """Every value of the highlighted checkpoint with its source, its resume parts, and its drift by module."""
    lines = Text()
    lines.append(printable(m.path), style="bold")
    lines.append(f"\n{printable(m.format)}")
    if m.symlink:
        lines.append("\nsymlink -> " + printable(m.symlink))
    for link in m.links:
        lines.append("\nlinked from " + printable(link))
    for label, value in (("epoch", m.epoch), ("step", m.step), *m.metrics.items()):
        if value is not None:
            lines.append("\n" + printable(f"{label} = {value.value:.6g}  ({value.where})"))
    lines.append("\nresume: " + ", ".join(f"{k} {'✓' if v else '✗'}" for k, v in m.resume.items()))
    parts: list[RenderableType] = [lines]
    if drift is not None:
        parts.append(drift_renderable(drift))
    return Group(*parts)


def drift_renderable(drift: Drift) -> Text:
    text = Text()
    if drift.rel_l2 is None:
        text.append("\n\ndrift: nothing to compare with (first checkpoint)")
    else:
        text.append(f"\n\ndrift vs {printable(_base(drift.a or ''))}: rel L2 {drift.rel_l2:.4g}")
        text.append(f" over {drift.compared} tensors")
    if drift.introduced_nonfinite:
        text.append(f"\nNaN/Inf INTRODUCED: {drift.nonfinite_b:,} (was {drift.nonfinite_a:,})", style="bold reverse")
    else:
        text.append(f"\nNaN/Inf: {drift.nonfinite_b:,}")
    top = sorted(drift.modules.items(), key=lambda kv: -kv[1])[:TOP_MODULES]
    for module, value in top:
        text.append("\n" + printable(f"  {value:10.4g}  {module}"))
    return text


def _base(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _signature(report: RunReport) -> tuple[object, ...]:
    return tuple((m.path, m.size, m.mtime, m.best, m.latest, m.links) for m in report.members) + (len(report.skipped),)
