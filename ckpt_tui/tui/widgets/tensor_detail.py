"""TensorDetail: the highlighted tensor's facts at once, its statistics from a worker a moment later."""

from __future__ import annotations

import threading

from rich.console import Group
from rich.text import Text
from textual import work
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import ProgressBar, Static

from ckpt_tui.core.grouping import TensorGroup
from ckpt_tui.core.stats import compute_stats
from ckpt_tui.errors import Cancelled, CkptError
from ckpt_tui.model import TensorInfo
from ckpt_tui.render import human_bytes, printable
from ckpt_tui.render.tensor import stats_renderable, tensor_info_renderable
from ckpt_tui.reports import TensorStats
from ckpt_tui.tui.messages import StatsComputed, StatsFailed, StatsProgressed

STATS_DELAY = 0.25  # seconds a tensor stays highlighted before its stats start: scrolling starts no work


class TensorDetail(VerticalScroll):
    """Facts, statistics, histogram and a value preview of one tensor; a summary of a group."""

    DEFAULT_CSS = """
    TensorDetail { padding: 0 1; }
    TensorDetail > ProgressBar { display: none; }
    TensorDetail.-computing > ProgressBar { display: block; }
    """

    device: reactive[str] = reactive("cpu")
    """Where statistics are computed: numpy on the CPU, torch on a GPU."""

    def __init__(self, shared: dict[str, list[str]], *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._shared = shared
        self._cache: dict[str, TensorStats] = {}
        self._cancel = threading.Event()
        self._timer: object | None = None
        self.current: TensorInfo | None = None

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(Text("Highlight a tensor to see it.", style="dim"), id="facts")
        yield ProgressBar(show_eta=False, id="stats-progress")
        yield Static(id="stats")

    def show_tensor(self, info: TensorInfo) -> None:
        self.current = info
        self._cancel.set()
        self.query_one("#facts", Static).update(tensor_info_renderable(info, self._shared.get(info.key, [])))
        cached = self._cache.get(info.key)
        if cached is not None:
            self._show_stats(cached)
            return
        self.query_one("#stats", Static).update(Text("statistics: computing…", style="dim"))
        if self._timer is not None:
            self._timer.stop()  # type: ignore[attr-defined]
        self._timer = self.set_timer(STATS_DELAY, lambda: self.compute(info))

    def show_group(self, group: TensorGroup) -> None:
        self.current = None
        self._cancel.set()
        text = Text()
        text.append(printable(group.prefix or "(all tensors)") + "\n", style="bold")
        text.append(f"{len(group.items):,} tensors · {group.numel:,} elements · {human_bytes(group.nbytes)}")
        self.query_one("#facts", Static).update(text)
        self.query_one("#stats", Static).update("")

    def compute(self, info: TensorInfo) -> None:
        if info is not self.current:
            return
        self._cancel = threading.Event()
        self.add_class("-computing")
        self._run_stats(info, self.device, self._cancel)

    @work(thread=True, exclusive=True, exit_on_error=False, group="stats")
    def _run_stats(self, info: TensorInfo, device: str, cancel: threading.Event) -> None:
        def progress(done: int, total: int) -> None:
            self.post_message(StatsProgressed(info.key, done, total))

        try:
            self.post_message(StatsComputed(compute_stats(info, device, progress=progress, cancel=cancel)))
        except Cancelled:
            pass
        except CkptError as e:
            self.post_message(StatsFailed(info.key, str(e)))
        except (OSError, MemoryError, ValueError, RuntimeError) as e:
            self.post_message(StatsFailed(info.key, f"{type(e).__name__}: {e}"))

    def on_stats_progressed(self, message: StatsProgressed) -> None:
        if self.current is not None and message.key == self.current.key:
            self.query_one(ProgressBar).update(total=message.total, progress=message.done)

    def on_stats_computed(self, message: StatsComputed) -> None:
        self._cache[message.stats.key] = message.stats
        if self.current is not None and message.stats.key == self.current.key:
            self._show_stats(message.stats)

    def on_stats_failed(self, message: StatsFailed) -> None:
        if self.current is not None and message.key == self.current.key:
            self.remove_class("-computing")
            self.query_one("#stats", Static).update(Text(printable(f"statistics failed: {message.error}"), "red"))

    def _show_stats(self, stats: TensorStats) -> None:
        self.remove_class("-computing")
        width = max(16, self.size.width - 4)
        self.query_one("#stats", Static).update(Group(Text("statistics", style="bold"), stats_renderable(stats, width)))

    @property
    def computed(self) -> dict[str, TensorStats]:
        return self._cache
