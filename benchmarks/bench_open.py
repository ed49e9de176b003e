"""The app: launch to first painted tree (headless, whole process) for a 2 GB training checkpoint and 100k
tensors; statistics of a 100M-element tensor versus a plain numpy pass over a memmap, time and peak RSS.

Run: `make bench` or `.venv/bin/python benchmarks/bench_open.py`. Targets: first tree < 1.5 s (issue 3), also for
100,000 tensors (issue 16); stats no slower than the numpy baseline, <= 300 MB peak RSS.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _bench import PY, compare, goal, make_many_tensors, make_training_checkpoint, python_snippet, report

FIRST_TREE = """
import asyncio, sys
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.tui.app import CkptApp
from ckpt_tui.tui.widgets.tensor_tree import TensorTree

async def main():
    app = CkptApp(read_checkpoint(sys.argv[1]))
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.screen.query(TensorTree) or not app.screen.query_one(TensorTree).root.children:
            await pilot.pause(0.01)
        await pilot.pause()  # one paint

asyncio.run(main())
"""

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
    with tempfile.TemporaryDirectory() as tmp:
        big, many, stats = Path(tmp) / "training.pt", Path(tmp) / "many.pt", Path(tmp) / "stats.pt"
        make_training_checkpoint(big, 2.0)
        make_many_tensors(many, 100_000)
        for name, path in (("2 GB training checkpoint", big), ("100,000 tensors", many)):
            results = compare(
                {
                    "launch to first painted tree": [PY, "-c", FIRST_TREE, str(path)],
                    "python -c 'import textual.app' (floor)": python_snippet("import textual.app"),
                }
            )
            report(f"app, {name}", results, "launch to first painted tree")
            goal(f"first painted tree, {name}:", results["launch to first painted tree"].seconds, 1.5)
        import subprocess

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
