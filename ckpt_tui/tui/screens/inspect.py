"""InspectScreen: header, tensor tree, and tabs for the tensor, optimizer state, metadata and notices."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane, Tree

from ckpt_tui.core.grouping import TensorGroup
from ckpt_tui.core.summary import summarize
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import Checkpoint, Key, Notice, NoticeCode, Severity, TensorInfo
from ckpt_tui.render import printable
from ckpt_tui.render.summary import notices_renderable
from ckpt_tui.reports import Summary
from ckpt_tui.tui.commands import TensorFinder
from ckpt_tui.tui.copying import python_path, stats_text, tensor_paths, values_text
from ckpt_tui.tui.dialogs.path_prompt import PathPrompt
from ckpt_tui.tui.messages import CheckFinished, OtherCheckpointRead, StatsComputed
from ckpt_tui.tui.widgets.header import CheckpointHeader
from ckpt_tui.tui.widgets.metadata_view import MetadataView
from ckpt_tui.tui.widgets.optimizer_view import OptimizerView
from ckpt_tui.tui.widgets.tensor_detail import TensorDetail
from ckpt_tui.tui.widgets.tensor_tree import PAGE, Item, MoreRows, TensorTree
from ckpt_tui.tui.work import start_work

FILTER_DELAY = 0.2  # seconds after the last key press
SHORT = 24  # rows: below 80x24 the summary panel shows two lines
SPLIT_STEP = 4  # columns per press of [ or ]
MIN_PANE = 20


class InspectScreen(Screen[None]):
    """One checkpoint: find any tensor, see its stats, read the optimizer state and the training metadata."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", tooltip="Filter tensors and metadata in place", id="filter"),
        Binding("ctrl+f", "find_tensor", "Find", show=False, tooltip="Fuzzy-find a tensor by key", id="find_tensor"),
        Binding("y", "copy_key", "Copy key", tooltip="Copy the key as Python: ckpt[...][...]", id="copy_key"),
        Binding("Y", "copy_shape", "Copy shape", show=False, tooltip="Copy the tensor's shape", id="copy_shape"),
        Binding("v", "copy_values", "Copy values", show=False, tooltip="Copy the values shown", id="copy_values"),
        Binding("V", "copy_stats", "Copy stats", show=False, tooltip="Copy the statistics", id="copy_stats"),
        Binding("s", "compute_stats", "Stats", tooltip="Compute the highlighted tensor's statistics", id="stats"),
        Binding("l", "toggle_log", "Log", show=False, tooltip="Histogram counts on a log scale", id="log_counts"),
        Binding("left_square_bracket", "resize_tree(-1)", "Narrower", show=False, tooltip="Shrink the tree pane"),
        Binding("right_square_bracket", "resize_tree(1)", "Wider", show=False, tooltip="Grow the tree pane"),
        Binding("t", "show_tab('tensor')", "Tensor", show=False, tooltip="Show the tensor tab", id="tab_tensor"),
        Binding("o", "show_tab('optimizer')", "Optimizer", tooltip="Show optimizer state by name", id="tab_optim"),
        Binding("m", "show_tab('metadata')", "Metadata", tooltip="Show non-tensor values", id="tab_metadata"),
        Binding("n", "show_tab('notices')", "Notices", tooltip="Show notices and warnings", id="tab_notices"),
        Binding("d", "diff_with", "Diff…", tooltip="Compare this checkpoint with another file", id="diff_with"),
        Binding("c", "convert", "Convert…", show=False, tooltip="Write safetensors or .pth", id="convert"),
        Binding("k", "check_model", "Check…", show=False, tooltip="Check that this loads into a model class"),
        Binding("question_mark,f1", "toggle_keys", "Keys", tooltip="Show or hide the key map", id="toggle_keys"),
    ]

    def __init__(self, ckpt: Checkpoint, device: str = "cpu") -> None:
        super().__init__()
        self.ckpt, self.device = ckpt, device
        self.summary: Summary = summarize(ckpt)
        self.notices: list[Notice] = list(self.summary.notices)
        self._paths: dict[str, tuple[Key, ...]] | None = None
        self._filter_timer: Timer | None = None

    def tensor_keys(self) -> Sequence[str]:
        return list(self.ckpt.tensors)

    def compose(self) -> ComposeResult:
        yield CheckpointHeader(self.summary, id="header")
        with Horizontal(id="body"):
            with Vertical(id="tree-pane"):
                yield Input(placeholder="filter: key, metadata name or value", id="filter")
                yield Static(id="tree-columns")
                yield TensorTree(self.ckpt.tensors, id="tensor-tree")
            with TabbedContent(id="tabs", initial="tensor"):
                with TabPane("Tensor", id="tensor"):
                    yield TensorDetail(lambda: _shared_keys(self.ckpt), id="detail")
                with TabPane("Optimizer", id="optimizer"):
                    yield OptimizerView(self.ckpt, id="optimizer-view")
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

    def on_resize(self, event: events.Resize) -> None:
        """A short terminal keeps the audit panel to its verdict and counts (its top findings are a click away)."""
        self.set_class(event.size.height < SHORT, "-short")

    def _notices(self) -> RenderableType:
        if not self.notices:
            return Text("No notices.", style="dim")
        return notices_renderable(self.notices)

    @on(TensorTree.ColumnsChanged)
    def _columns_changed(self, event: TensorTree.ColumnsChanged) -> None:
        self.query_one("#tree-columns", Static).update(event.header)

    @on(Tree.NodeHighlighted, "#tensor-tree")
    def _tensor_highlighted(self, event: Tree.NodeHighlighted[Item]) -> None:
        if event.node.is_root:  # hidden, highlighted only on the way to the first row: its totals cost a pass
            return
        detail, data = self.query_one(TensorDetail), event.node.data
        if isinstance(data, TensorInfo):
            detail.show_tensor(data)
        elif isinstance(data, TensorGroup):
            detail.show_group(data)
        elif isinstance(data, MoreRows):
            detail.show_more(data.remaining, PAGE, data.group.prefix)

    def on_stats_computed(self, message: StatsComputed) -> None:
        stats = message.stats
        if stats.nan_count or stats.inf_count:
            text = f"'{stats.key}' holds {stats.nan_count:,} NaN and {stats.inf_count:,} Inf values"
            self.notices.append(Notice(NoticeCode.NON_FINITE, Severity.WARNING, text, stats.key))
            self.query_one("#notices-text", Static).update(self._notices())
            self.query_one(CheckpointHeader).notices = tuple(self.notices)

    def reveal_tensor(self, key: str) -> None:
        self.query_one(TabbedContent).active = "tensor"
        tree = self.query_one(TensorTree)
        if tree.reveal(key):
            tree.focus()

    # find and filter

    def action_find_tensor(self) -> None:
        self.app.push_screen(CommandPalette(providers=[TensorFinder], placeholder="Find a tensor…"))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        """Applied once typing pauses: a 100k-tensor file costs about a second per filter on a busy machine."""
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY, lambda: self._apply_filter(event.value.strip()))

    def _apply_filter(self, query: str) -> None:
        lowered = query.lower()
        shown = {k: t for k, t in self.ckpt.tensors.items() if lowered in k.lower()} if query else self.ckpt.tensors
        self.query_one(TensorTree).show(shown)
        values = self.query_one(MetadataView).filter(query)
        box = self.query_one("#filter", Input)
        box.border_subtitle = f"{len(shown):,} tensors · {values:,} values" if query else ""

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._apply_filter(event.value.strip())
        tabs = self.query_one(TabbedContent)
        if not self.query_one(TensorTree).root.children and self.query_one(MetadataView).root.children:
            tabs.active = "metadata"
            self.query_one(MetadataView).focus()
        else:
            self.query_one(TensorTree).focus()

    def key_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("-shown"):
            box.value = ""
            self._apply_filter("")
            box.remove_class("-shown")
            self.query_one(TensorTree).focus()

    # copy

    def _copy(self, text: str, what: str) -> None:
        self.app.copy_to_clipboard(text)
        self.notify(printable(text if len(text) < 200 else text[:199] + "…"), title=f"{what} copied", markup=False)

    def action_copy_key(self) -> None:
        if self.query_one(TabbedContent).active == "metadata":
            path = self.query_one(MetadataView).highlighted_path()
            if path is not None:
                self._copy(path, "Key")
            return
        current = self.query_one(TensorDetail).current
        if current is None:
            self.notify("Highlight a tensor first.", severity="warning")
            return
        if self._paths is None:
            self._paths = tensor_paths(self.ckpt)
        self._copy(python_path(self._paths.get(current.key, (current.key,))), "Key")

    def action_copy_shape(self) -> None:
        current = self.query_one(TensorDetail).current
        if current is not None:
            self._copy(str(list(current.shape)), "Shape")

    def action_copy_values(self) -> None:
        if self.query_one(TabbedContent).active == "metadata":
            value = self.query_one(MetadataView).highlighted_value()
            if value is not None:
                self._copy(value, "Value")
            return
        detail = self.query_one(TensorDetail)
        stats = detail.current_stats
        if stats is None or detail.current is None:
            self.notify("Compute the statistics first (s).", severity="warning")
            return
        self._copy(values_text(stats.preview, not detail.current.shape), "Values")

    def action_copy_stats(self) -> None:
        stats = self.query_one(TensorDetail).current_stats
        if stats is None:
            self.notify("Compute the statistics first (s).", severity="warning")
            return
        self._copy(stats_text(stats), "Statistics")

    # stats and layout

    def action_compute_stats(self) -> None:
        detail = self.query_one(TensorDetail)
        if detail.current is not None:
            detail.compute(detail.current)

    def action_toggle_log(self) -> None:
        detail = self.query_one(TensorDetail)
        detail.log_counts = not detail.log_counts

    def action_resize_tree(self, direction: int) -> None:
        pane = self.query_one("#tree-pane")
        total = self.size.width
        width = pane.size.width + direction * SPLIT_STEP
        pane.styles.width = max(MIN_PANE, min(total - MIN_PANE, width))

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    # other verbs

    def action_diff_with(self) -> None:
        prompt = PathPrompt("Diff with…", "path to another checkpoint", "tensors are compared exactly; Escape cancels")
        self.app.push_screen(prompt, self._open_diff)

    def _open_diff(self, path: str | None) -> None:
        if path:
            self.notify(printable(f"reading {path}…"), markup=False)
            work = lambda: self.post_message(OtherCheckpointRead(read_checkpoint(path)))  # noqa: E731
            start_work(self, work, name="Reading the other checkpoint", group="diff-with")

    def on_other_checkpoint_read(self, message: OtherCheckpointRead) -> None:
        from ckpt_tui.tui.screens.diff import DiffScreen

        self.app.clear_notifications()
        self.app.push_screen(DiffScreen(self.ckpt, message.ckpt))

    def action_convert(self) -> None:
        from ckpt_tui.tui.dialogs.convert import ConvertDialog

        self.app.push_screen(ConvertDialog(self.ckpt))

    def action_check_model(self) -> None:
        prompt = PathPrompt("Check against model class…", "pkg.module:Class", "imported from the current directory")
        self.app.push_screen(prompt, self._check_model)

    def _check_model(self, target: str | None) -> None:
        if not target:
            return
        from ckpt_tui.core.check import check_loads

        self.notify(printable(f"checking against {target}…"), markup=False)
        ckpt, device = self.ckpt, self.device
        work = lambda: self.post_message(CheckFinished(check_loads(ckpt, target, device=device)))  # noqa: E731
        start_work(self, work, name="Check", group="check")

    def on_check_finished(self, message: CheckFinished) -> None:
        from ckpt_tui.render.check import check_renderable
        from ckpt_tui.tui.dialogs.report import ReportDialog

        self.app.clear_notifications()
        title = "loads cleanly" if message.report.ok else "does not load cleanly"
        self.app.push_screen(ReportDialog(f"{message.report.model}: {title}", check_renderable(message.report)))

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
