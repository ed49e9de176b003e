"""`ckpt-tui inspect --json` (whole process) vs torch.load, on >=2 GB training checkpoints, 100k and 1M tensors.

Run: `make bench` or `.venv/bin/python benchmarks/bench_inspect.py [--gb 2] [--tensors 100000] [--million 0]`.
Targets: inspect --json < 0.25 s and < 50 MB peak RSS on big files (issue 2); on 100k tensors <= 1.0 s and
<= 0.1x torch.load(mmap=True, weights_only=True), measured side by side; 1M tensors: time and memory grow
linearly (issue 16). torch.load is not run on 1M tensors (minutes); the 1M rows compare with the 100k ones.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _bench import PY, compare, goal, make_many_tensors, make_training_checkpoint, python_snippet, report, size_gb

INSPECT = "ckpt-tui inspect --json"
MMAP = "torch.load(mmap=True, weights_only=True)"


def commands(path: Path) -> dict[str, list[str]]:
    p = repr(str(path))
    return {
        INSPECT: [PY, "-m", "ckpt_tui", "inspect", "--json", str(path)],
        "torch.load(weights_only=True)": python_snippet(f"import torch; torch.load({p}, weights_only=True)"),
        MMAP: python_snippet(f"import torch; torch.load({p}, mmap=True, weights_only=True)"),
        "python -c 'import torch' (floor)": python_snippet("import torch"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, nargs="*", default=[2.0, 6.0])
    parser.add_argument("--tensors", type=int, default=100_000)
    parser.add_argument("--million", type=int, default=1_000_000, help="tensors of the linearity run (0: skip it)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for gb in args.gb:
            path = Path(tmp) / f"training_{gb:g}gb.pt"
            make_training_checkpoint(path, gb)
            results = compare(commands(path), args.repeats)
            report(f"training checkpoint, {size_gb(path):.2f} GB", results, "torch.load(weights_only=True)")
            path.unlink()
        path = Path(tmp) / "many.pt"
        make_many_tensors(path, args.tensors)
        results = compare(commands(path), args.repeats)
        report(f"{args.tensors:,} tensors, {size_gb(path):.2f} GB", results, MMAP)
        many = results[INSPECT]
        goal(f"inspect --json, {args.tensors:,} tensors:", many.seconds, 1.0)
        goal(f"inspect --json / {MMAP}:", many.seconds / results[MMAP].seconds, 0.1, "x")
        path.unlink()
        if args.million:
            path = Path(tmp) / "million.pt"
            make_many_tensors(path, args.million)
            million = compare({INSPECT: commands(path)[INSPECT]}, args.repeats)[INSPECT]
            scale = args.million / args.tensors
            print(f"\n{args.million:,} tensors, {size_gb(path):.2f} GB (torch.load not run: minutes)")
            print(f"  {'':44} {'time':>8} {'peak RSS':>10} {'vs ' + format(args.tensors, ',') + ' tensors':>18}")
            ratio = million.seconds / many.seconds
            print(f"  {INSPECT:44} {million.seconds:7.3f}s {million.peak_rss_mb:8.0f}MB {ratio:8.1f}x time")
            print(f"  {'':44} {'':8} {'':10} {million.peak_rss_mb / many.peak_rss_mb:8.1f}x memory")
            goal(
                f"time per tensor, {args.million:,} vs {args.tensors:,} (linear: 1.0x):",
                million.seconds / many.seconds / scale,
                1.2,
                "x",
            )
            goal(
                f"peak RSS per tensor, {args.million:,} vs {args.tensors:,} (linear: 1.0x):",
                million.peak_rss_mb / many.peak_rss_mb / scale,
                1.2,
                "x",
            )


if __name__ == "__main__":
    main()
