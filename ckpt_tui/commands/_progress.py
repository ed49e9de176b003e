"""A progress bar on stderr for long work; silent when stderr is not a terminal or the work is quick."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SHOW_AFTER = 1.0  # seconds: quick work shows nothing

Update = Callable[[int, int], None]


@contextmanager
def progress_bar(description: str) -> Iterator[Update]:
    """Yields `update(done, total)` (bytes); the bar appears once the work has run for SHOW_AFTER seconds."""
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    start = time.monotonic()
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),
    )
    task = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        if not progress.live.is_started and time.monotonic() - start > SHOW_AFTER:
            progress.start()
        progress.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if progress.live.is_started:
            progress.stop()
