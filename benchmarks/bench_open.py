"""The app: launch to first painted tree for a 2 GB training checkpoint and 100k tensors; statistics of a
100M-element tensor versus a plain numpy pass over a memmap, time and peak RSS.

"Launch to first painted tree" is what a user waits for: the real command, `python -m ckpt_tui open FILE`, runs
in a pseudo-terminal (120x40) and the clock stops when the tree's first row reaches the terminal; then `q` quits
it. (An earlier version timed `read_checkpoint` + the app under `run_test` in-process, to the app's exit: it
skipped the CLI's own path and counted the audit worker and the shutdown, which come after the first paint.)

Run: `make bench` or `.venv/bin/python benchmarks/bench_open.py [--tensors N] [--only app-many|app-big|stats]`.
Targets: first tree < 1.5 s (issue 3), also for 100,000 tensors (issue 16); stats no slower than the numpy
baseline, <= 300 MB peak RSS.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import tempfile
import termios
import time
from pathlib import Path

from _bench import (
    ENV,
    PY,
    Sample,
    compare,
    goal,
    make_many_tensors,
    make_training_checkpoint,
    python_snippet,
    report,
    run_process,
)

SIZE = (120, 40)  # columns, rows
ESCAPES = re.compile(rb"\x1b(\[[0-9;?<>=$ ]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|P[^\x1b]*\x1b\\|[()][0-9A-Za-z]|[=>78])")
PATIENCE = 120.0  # seconds without the tree before the run counts as failed

FLOOR = """
import sys, textual.app
from ckpt_tui.formats import read_checkpoint
read_checkpoint(sys.argv[1])
"""


FIRST_ROW = """
import sys
from ckpt_tui.core.grouping import TensorGroup, root_group
from ckpt_tui.formats import read_checkpoint
first = root_group(read_checkpoint(sys.argv[1]).tensors).children()[0]
sys.stdout.buffer.write(("\u25b6 " + first.name if isinstance(first, TensorGroup) else first.key).encode())
"""


def first_row(path: Path) -> bytes:
    """The tree's first row as the terminal shows it: "▶ name" for a group (an icon only the tree draws). Found in a
    child process: a parent grown by reading the file would count in its children's peak RSS (fork before exec)."""
    return subprocess.run([PY, "-c", FIRST_ROW, str(path)], check=True, capture_output=True, env=ENV).stdout


def first_paint(argv: list[str], marker: bytes) -> Sample:
    """Launch `argv` on a pseudo-terminal; the time until `marker` is on the screen, the peak RSS of the process."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    env = {**ENV, "TERM": "xterm-256color", "COLUMNS": str(SIZE[0]), "LINES": str(SIZE[1])}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    seen, screen = None, b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], PATIENCE)
            if not ready:
                raise RuntimeError(f"{argv}: no tree after {PATIENCE:g} s: {ESCAPES.sub(b'', screen)[-500:]!r}")
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            if seen is None:
                screen += chunk
                if marker in ESCAPES.sub(b"", screen):
                    seen = time.perf_counter() - start
                    os.write(master, b"q")
    finally:
        os.close(master)
        if seen is None:  # a failed run: nothing must be left running (wait4 below reaps it)
            os.killpg(proc.pid, signal.SIGKILL)
    _, status, usage = os.wait4(proc.pid, 0)
    if seen is None:
        raise RuntimeError(f"{argv} ended (status {status}) before its tree: {ESCAPES.sub(b'', screen)[-500:]!r}")
    return Sample(seen, usage.ru_maxrss / 1024)


def app_rows(path: Path, repeats: int = 3) -> dict[str, Sample]:
    """The app and its floors, alternated; medians of time, max of peak RSS (as `compare`)."""
    marker = first_row(path)
    named = {
        "ckpt-tui open: launch to first painted tree": lambda: first_paint(
            [PY, "-m", "ckpt_tui", "open", str(path)], marker
        ),  # fmt: skip
        "floor: import textual.app + read_checkpoint": lambda: run_process([PY, "-c", FLOOR, str(path)]),
        "python -c 'import textual.app' (floor)": lambda: run_process(python_snippet("import textual.app")),
    }
    runs: dict[str, list[Sample]] = {name: [] for name in named}
    for _ in range(repeats):
        for name, run in named.items():
            subprocess.run(["sync"], check=False)
            runs[name].append(run())
    return {
        name: Sample(statistics.median(s.seconds for s in samples), max(s.peak_rss_mb for s in samples))
        for name, samples in runs.items()
    }


STATS = """
import sys
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.core.stats import compute_stats
info = read_checkpoint(sys.argv[1]).tensors["big"]
compute_stats(info)
"""

NUMPY_BASELINE = """
import sys, numpy as np
from ckpt_tui.formats import read_checkpoint, byte_range
info = read_checkpoint(sys.argv[1]).tensors["big"]
start, _ = byte_range(info.storage)
a = np.memmap(sys.argv[1], dtype=np.float32, mode="r", offset=start, shape=(info.numel,))
a.min(); a.max(); a.mean(); a.std(); np.isnan(a).sum()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tensors", type=int, default=100_000, help="tensors in the many-tensor file")
    parser.add_argument("--only", choices=("app-big", "app-many", "stats"), action="append", help="run only these")
    args = parser.parse_args()
    only = set(args.only or ("app-big", "app-many", "stats"))
    with tempfile.TemporaryDirectory() as tmp:
        if "app-big" in only:
            big = Path(tmp) / "training.pt"
            make_training_checkpoint(big, 2.0)
            app_report("2 GB training checkpoint", big)
        if "app-many" in only:
            many = Path(tmp) / "many.pt"
            make_many_tensors(many, args.tensors)
            app_report(f"{args.tensors:,} tensors", many)
        if "stats" in only:
            stats_report(Path(tmp) / "stats.pt")


def app_report(name: str, path: Path) -> None:
    results = app_rows(path)
    first = "ckpt-tui open: launch to first painted tree"
    report(f"app, {name}", results, first)
    goal(f"first painted tree, {name}:", results[first].seconds, 1.5)


def stats_report(stats: Path) -> None:
    subprocess.run(
        [PY, "-c", f"import torch; torch.save({{'big': torch.randn(100_000_000)}}, {str(stats)!r})"], check=True
    )
    results = compare(
        {
            "ckpt-tui stats (min/max/mean/std/NaN/Inf/zeros/histogram)": [PY, "-c", STATS, str(stats)],
            "numpy memmap min/max/mean/std/NaN (baseline)": [PY, "-c", NUMPY_BASELINE, str(stats)],
        }
    )
    report(
        "statistics of a 100M-element float32 tensor (400 MB)",
        results,
        "numpy memmap min/max/mean/std/NaN (baseline)",
    )


if __name__ == "__main__":
    main()
