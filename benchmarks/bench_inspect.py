"""`ckpt-tui inspect --json` (whole process) vs torch.load, on a >=2 GB training checkpoint and 100k tensors.

Run: `make bench` or `.venv/bin/python benchmarks/bench_inspect.py [--gb 2] [--tensors 100000]`.
Targets (issue 2): inspect --json < 0.25 s and < 50 MB peak RSS on big files; < 1.5 s on 100k tensors.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _bench import PY, compare, make_many_tensors, make_training_checkpoint, python_snippet, report, size_gb


def commands(path: Path) -> dict[str, list[str]]:
    p = repr(str(path))
    return {
        "ckpt-tui inspect --json": [PY, "-m", "ckpt_tui", "inspect", "--json", str(path)],
        "torch.load(weights_only=True)": python_snippet(f"import torch; torch.load({p}, weights_only=True)"),
        "torch.load(mmap=True, weights_only=True)": python_snippet(
            f"import torch; torch.load({p}, mmap=True, weights_only=True)"
        ),
        "python -c 'import torch' (floor)": python_snippet("import torch"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, nargs="+", default=[2.0, 6.0])
    parser.add_argument("--tensors", type=int, default=100_000)
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
        report(f"{args.tensors:,} tensors, {size_gb(path):.2f} GB", results, "torch.load(weights_only=True)")


if __name__ == "__main__":
    main()
