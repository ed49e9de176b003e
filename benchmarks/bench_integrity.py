"""What the open-time integrity check costs on 100k tensors: the one-pass central directory parse, the storage
check against it, and the whole open, in-process, alternating with the same steps done by `zipfile` for scale.

Run: `.venv/bin/python benchmarks/bench_integrity.py [--tensors 100000] [--repeats 5]`.
Target (issue 11): the check costs ~0.1-0.2 s at 100k members, inside the < 1 s budget for opening.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _bench import make_many_tensors  # noqa: E402

from ckpt_tui.formats import read_checkpoint  # noqa: E402
from ckpt_tui.formats._zipdir import read_directory  # noqa: E402
from ckpt_tui.formats.torch_zip import check_storages  # noqa: E402


def timed(fn: object) -> float:
    """CPU seconds of this process: steadier than wall time on a shared, loaded machine."""
    start = time.process_time()
    fn()  # type: ignore[operator]
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tensors", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "many.pt"
        make_many_tensors(path, args.tensors)
        size = os.path.getsize(path)
        ckpt = read_checkpoint(path)
        with open(path, "rb") as f:
            directory = read_directory(str(path), f, size)
        refs = {}  # storages not reached through a tensor: none in this file
        steps = {
            "directory parse (struct, one pass)": lambda: read_directory(str(path), open(path, "rb"), size),
            "storage check against it": lambda: check_storages(str(path), ckpt, directory, refs),
            "zipfile.ZipFile (for scale)": lambda: zipfile.ZipFile(path),
            "whole open (read_checkpoint)": lambda: read_checkpoint(path),
        }
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(args.repeats):
            for name, step in steps.items():
                times[name].append(timed(step))
        print(f"{args.tensors:,} tensors, {size / 1e6:.0f} MB, median CPU seconds of {args.repeats}:")
        for name, values in times.items():
            print(f"  {name:<40} {statistics.median(values):.3f} s")


if __name__ == "__main__":
    main()
