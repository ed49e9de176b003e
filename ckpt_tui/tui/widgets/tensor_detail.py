"""TensorDetail: the highlighted tensor's facts at once, its statistics from a worker a moment later.

Statistics, histogram and values are drawn for the pane's width and drawn again when it changes (a resize, the
key panel, the split), so nothing wraps and no number is cut.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rich.console import Group
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import ProgressBar, Static

from ckpt_tui.core.grouping import TensorGroup
from ckpt_tui.core.stats import compute_stats
from ckpt_tui.model import TensorInfo
from ckpt_tui.render import human_bytes, printable
from ckpt_tui.render.tensor import stats_renderable, tensor_info_renderable
from ckpt_tui.reports import TensorStats
from ckpt_tui.tui.messages import Progressed, StatsComputed, WorkFailed
from ckpt_tui.tui.work import start_work

STATS_DELAY = 0.25  # seconds a tensor stays highlighted before its stats start: scrolling starts no work


class TensorDetail(VerticalScroll):
    """Facts, statistics, histogram and a value preview of one tensor; a summary of a group."""

    DEFAULT_CSS = """
    TensorDetail { padding: 0 1; scrollbar-gutter: stable; }
    TensorDetail > ProgressBar { display: none; }
    TensorDetail.-computing > ProgressBar { display: block; }
    """

    device: reactive[str] = reactive("cpu")
    """Where statistics are computed: numpy on the CPU, torch on a GPU."""
    log_counts: reactive[bool] = reactive(False)
    """Histogram bars by log(1 + count), so that small bins show beside a tall one."""

    def __init__(self, shared: Callable[[], dict[str, list[str]]], *, id: str | None = None) -> None:  # noqa: A002
        """`shared` gives, for each tensor whose storage backs others, the other keys: asked for when a tensor is
        first shown (a pass over every tensor, not needed for the first paint)."""
        super().__init__(id=id)
        self._find_shared = shared
        self._shared: dict[str, list[str]] | None = None
        self._cache: dict[str, TensorStats] = {}
        self._cancel = threading.Event()
        self._timer: object | None = None
        self.current: TensorInfo | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("Highlight a tensor to see it.", style="dim"), id="facts")
        yield ProgressBar(show_eta=False, id="stats-progress")
        yield Static(id="stats")

    def show_tensor(self, info: TensorInfo) -> None:
        self.current = info
        self._cancel.set()
        if self._shared is None:
            self._shared = self._find_shared()
        self.query_one("#facts", Static).update(tensor_info_renderable(info, self._shared.get(info.key, [])))
        if self._timer is not None:
            self._timer.stop()  # type: ignore[attr-defined]
        cached = self._cache.get(info.key)
        if cached is not None:
            self._show_stats(cached)
            return
        self.query_one("#stats", Static).update(Text("statistics: computing…", style="dim"))
        self._timer = self.set_timer(STATS_DELAY, lambda: self.compute(info))

    def show_group(self, group: TensorGroup) -> None:
        self.current = None
        self._cancel.set()
        self.remove_class("-computing")
        text = Text()
        text.append(printable(group.prefix or "(all tensors)") + "\n", style="bold")
        count = len(group.items)
        text.append(
            f"{count:,} tensor{'' if count == 1 else 's'} · {group.numel:,} elements · {human_bytes(group.nbytes)}"
        )
        self.query_one("#facts", Static).update(text)
        self.query_one("#stats", Static).update("")

    def show_more(self, count: int, page: int, prefix: str) -> None:
        """The row standing for `count` rows of a group not in the tree yet."""
        self.current = None
        self._cancel.set()
        self.remove_class("-computing")
        text = Text()
        text.append(printable(prefix or "(all tensors)") + f": {count:,} more rows\n", style="bold")
        text.append(f"Enter adds the next {min(count, page):,} to the tree; / filters by key; ctrl+f finds a tensor.")
        self.query_one("#facts", Static).update(text)
        self.query_one("#stats", Static).update("")

    def compute(self, info: TensorInfo) -> None:
        if info is not self.current:
            return
        self._cancel = threading.Event()
        self.add_class("-computing")
        cancel, device = self._cancel, self.device

        def work() -> None:
            def progress(done: int, total: int) -> None:
                self.post_message(Progressed(info.key, done, total))

            self.post_message(StatsComputed(compute_stats(info, device, progress=progress, cancel=cancel)))

        start_work(self, work, name="Statistics", group="stats")

    def on_progressed(self, message: Progressed) -> None:
        if self.current is not None and message.key == self.current.key:
            self.query_one(ProgressBar).update(total=message.total, progress=message.done)

    def on_stats_computed(self, message: StatsComputed) -> None:
        self._cache[message.stats.key] = message.stats
        if self.current is not None and message.stats.key == self.current.key:
            self._show_stats(message.stats)

    def on_work_failed(self, message: WorkFailed) -> None:
        self.remove_class("-computing")
        self.query_one("#stats", Static).update(Text(printable(f"statistics failed: {message.error}"), "red"))

    def on_resize(self, event: events.Resize) -> None:
        self._redraw()

    def watch_log_counts(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        stats = self.current_stats
        if stats is not None:
            self._show_stats(stats)

    @property
    def current_stats(self) -> TensorStats | None:
        return self._cache.get(self.current.key) if self.current is not None else None

    def _show_stats(self, stats: TensorStats) -> None:
        self.remove_class("-computing")
        width = max(16, self.scrollable_content_region.width - 1)
        shape = self.current.shape if self.current is not None else None
        height = 6 if self.size.height >= 30 else 3  # a short pane keeps the values grid in view
        body = stats_renderable(stats, width, self.log_counts, shape, height)
        self.query_one("#stats", Static).update(Group(Text("statistics", style="bold"), body))

    @property
    def computed(self) -> dict[str, TensorStats]:
        return self._cache
