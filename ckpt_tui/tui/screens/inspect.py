"""InspectScreen: header, tensor tree, and tabs for the tensor, optimizer state, metadata and notices."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane, Tree

from ckpt_tui.core.grouping import TensorGroup
from ckpt_tui.core.optimizer import optimizer_reports
from ckpt_tui.core.summary import summarize
from ckpt_tui.errors import CkptError
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import Checkpoint, Notice, NoticeCode, Severity, TensorInfo
from ckpt_tui.render import human_bytes, printable
from ckpt_tui.render.optimizer import optimizer_renderable
from ckpt_tui.render.summary import notices_renderable
from ckpt_tui.reports import Summary
from ckpt_tui.tui.commands import TensorFinder
from ckpt_tui.tui.dialogs.path_prompt import PathPrompt
from ckpt_tui.tui.messages import CheckFinished, OtherCheckpointRead, StatsComputed, WorkFailed
from ckpt_tui.tui.widgets.metadata_view import MetadataView
from ckpt_tui.tui.widgets.tensor_detail import TensorDetail
from ckpt_tui.tui.widgets.tensor_tree import Item, TensorTree


class InspectScreen(Screen[None]):
    """One checkpoint: find any tensor, see its stats, read the optimizer state and the training metadata."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "find_tensor", "Find", tooltip="Fuzzy-find a tensor by key", id="find_tensor"),
        Binding("y", "copy_key", "Copy key", tooltip="Copy the highlighted tensor's key", id="copy_key"),
        Binding("s", "compute_stats", "Stats", tooltip="Compute the highlighted tensor's statistics", id="stats"),
        Binding("t", "show_tab('tensor')", "Tensor", tooltip="Show the tensor tab", id="tab_tensor"),
        Binding("o", "show_tab('optimizer')", "Optimizer", tooltip="Show optimizer state by name", id="tab_optim"),
        Binding("m", "show_tab('metadata')", "Metadata", tooltip="Show non-tensor values", id="tab_metadata"),
        Binding("n", "show_tab('notices')", "Notices", tooltip="Show notices and warnings", id="tab_notices"),
        Binding("d", "diff_with", "Diff with…", tooltip="Compare this checkpoint with another file", id="diff_with"),
        Binding("c", "convert", "Convert…", tooltip="Write safetensors or .pth, keys rewritten", id="convert"),
        Binding("k", "check_model", "Check…", tooltip="Check that this loads into a model class", id="check_model"),
        Binding("question_mark,f1", "toggle_keys", "Keys", tooltip="Show or hide the key map", id="toggle_keys"),
    ]

    def __init__(self, ckpt: Checkpoint, device: str = "cpu") -> None:
        super().__init__()
        self.ckpt, self.device = ckpt, device
        self.summary: Summary = summarize(ckpt)
        self.notices: list[Notice] = list(self.summary.notices)

    @property
    def tensor_keys(self) -> list[str]:
        return list(self.ckpt.tensors)

    def compose(self) -> ComposeResult:
        yield Static(self._header(), id="header")
        with Horizontal(id="body"):
            yield TensorTree(self.ckpt.tensors, id="tensor-tree")
            with TabbedContent(id="tabs", initial="tensor"):
                with TabPane("Tensor", id="tensor"):
                    yield TensorDetail(_shared_keys(self.ckpt), id="detail")
                with TabPane("Optimizer", id="optimizer"):
                    yield VerticalScroll(Static(self._optimizer(), id="optimizer-text"), id="optimizer-view")
                with TabPane("Metadata", id="metadata"):
                    yield MetadataView(self.ckpt.root, id="metadata-view")
                with TabPane("Notices", id="notices"):
                    yield VerticalScroll(Static(self._notices(), id="notices-text"), id="notices-view")
        yield Footer()

    def on_mount(self) -> None:
        from ckpt_tui.tui.widgets.summary_panel import SummaryPanel  # verdict, progress, metrics: seen first

        self.mount(SummaryPanel(self.ckpt, id="summary"), before="#body")
        self.query_one(TensorDetail).device = self.device
        self.query_one(TensorTree).focus()

    def _header(self) -> Text:
        s = self.summary
        warnings = sum(1 for n in s.notices if n.severity is Severity.WARNING)
        text = Text()
        text.append(printable(s.path), style="bold")
        text.append(f"  {s.format} · {human_bytes(s.file_size)} · {s.framework} · {s.tensor_count:,} tensors · ")
        text.append(f"{s.state_dict_params or s.element_count:,} parameters · {len(s.notices)} notices")
        if warnings:
            text.append(f" ({warnings} warnings)", style="bold")
        return text

    def _optimizer(self) -> RenderableType:
        reports = optimizer_reports(self.ckpt)
        if not reports:
            return Text("No optimizer state in this checkpoint.", style="dim")
        return Group(*(optimizer_renderable(r) for r in reports))

    def _notices(self) -> RenderableType:
        if not self.notices:
            return Text("No notices.", style="dim")
        return notices_renderable(self.notices)

    @on(Tree.NodeHighlighted, "#tensor-tree")
    def _tensor_highlighted(self, event: Tree.NodeHighlighted[Item]) -> None:
        detail = self.query_one(TensorDetail)
        if isinstance(event.node.data, TensorInfo):
            detail.show_tensor(event.node.data)
        elif isinstance(event.node.data, TensorGroup):
            detail.show_group(event.node.data)

    def on_stats_computed(self, message: StatsComputed) -> None:
        stats = message.stats
        if stats.nan_count or stats.inf_count:
            text = f"'{stats.key}' holds {stats.nan_count:,} NaN and {stats.inf_count:,} Inf values"
            self.notices.append(Notice(NoticeCode.NON_FINITE, Severity.WARNING, text, stats.key))
            self.query_one("#notices-text", Static).update(self._notices())

    def reveal_tensor(self, key: str) -> None:
        self.query_one(TabbedContent).active = "tensor"
        tree = self.query_one(TensorTree)
        if tree.reveal(key):
            tree.focus()

    def action_find_tensor(self) -> None:
        self.app.push_screen(CommandPalette(providers=[TensorFinder], placeholder="Find a tensor…"))

    def action_copy_key(self) -> None:
        current = self.query_one(TensorDetail).current
        if current is None:
            self.notify("Highlight a tensor first.", severity="warning")
            return
        self.app.copy_to_clipboard(current.key)
        self.notify(Text(printable(f"Copied {current.key}")).plain, title="Key copied")

    def action_compute_stats(self) -> None:
        detail = self.query_one(TensorDetail)
        if detail.current is not None:
            detail.compute(detail.current)

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_diff_with(self) -> None:
        prompt = PathPrompt("Diff with…", "path to another checkpoint", "tensors are compared exactly; Escape cancels")
        self.app.push_screen(prompt, self._open_diff)

    def _open_diff(self, path: str | None) -> None:
        if path:
            self.notify(f"reading {path}…")
            self._read_other(path)

    @work(thread=True, exclusive=True, exit_on_error=False, group="diff-with")
    def _read_other(self, path: str) -> None:
        try:
            self.post_message(OtherCheckpointRead(read_checkpoint(path)))
        except CkptError as e:
            self.post_message(WorkFailed("Cannot open the other checkpoint", str(e)))

    def on_other_checkpoint_read(self, message: OtherCheckpointRead) -> None:
        from ckpt_tui.tui.screens.diff import DiffScreen

        self.app.push_screen(DiffScreen(self.ckpt, message.ckpt))

    def action_convert(self) -> None:
        from ckpt_tui.tui.dialogs.convert import ConvertDialog

        self.app.push_screen(ConvertDialog(self.ckpt))

    def action_check_model(self) -> None:
        prompt = PathPrompt("Check against model class…", "pkg.module:Class", "imported from the current directory")
        self.app.push_screen(prompt, self._check_model)

    def _check_model(self, target: str | None) -> None:
        if target:
            self.notify(f"checking against {target}…")
            self._run_check(target)

    @work(thread=True, exclusive=True, exit_on_error=False, group="check")
    def _run_check(self, target: str) -> None:
        from ckpt_tui.core.check import check_loads

        try:
            self.post_message(CheckFinished(check_loads(self.ckpt, target, device=self.device)))
        except CkptError as e:
            self.post_message(WorkFailed("Check could not run", str(e)))

    def on_check_finished(self, message: CheckFinished) -> None:
        from ckpt_tui.render.check import check_renderable
        from ckpt_tui.tui.dialogs.report import ReportDialog

        title = "loads cleanly" if message.report.ok else "does not load cleanly"
        self.app.push_screen(ReportDialog(f"{message.report.model}: {title}", check_renderable(message.report)))

    def on_work_failed(self, message: WorkFailed) -> None:
        self.app.show_error(message.title, message.error)  # type: ignore[attr-defined]

    def action_toggle_keys(self) -> None:
        if self.app.screen.query("HelpPanel"):
            self.app.action_hide_help_panel()
        else:
            self.app.action_show_help_panel()


def _shared_keys(ckpt: Checkpoint) -> dict[str, list[str]]:
    """For each tensor whose storage backs others: the other keys."""
    # storage keys used more than once, counted first: no object per tensor (100k-tensor files share almost none)
    uses = Counter(info.storage.key for info in ckpt.tensors.values())
    shared = {key for key, n in uses.items() if n > 1 and key}
    by_storage: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
    for key, info in ckpt.tensors.items() if shared else ():
        if info.storage.key in shared:
            by_storage[(info.storage.file, info.storage.key, info.storage.member)].append(key)
    return {k: [o for o in keys if o != k] for keys in by_storage.values() if len(keys) > 1 for k in keys}
