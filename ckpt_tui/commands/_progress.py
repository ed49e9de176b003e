"""A progress bar on stderr for long work; silent when stderr is not a terminal or the work is quick."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SHOW_AFTER = 1.0  # seconds: quick work shows nothing


@contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`; the bar appears once the work has run for SHOW_AFTER seconds."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    start = time.monotonic()
    progress = Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        transient=True, console=Console(stderr=True),
    )  # fmt: skip
    task = progress.add_task(description, total=total)
    started = False

    def advance(n: int) -> None:
        nonlocal started
        if not started and time.monotonic() - start > SHOW_AFTER:
            progress.start()
            started = True
        progress.advance(task, n)

    try:
        yield advance
    finally:
        if started:
            progress.stop()
