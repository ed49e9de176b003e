"""`ckpt-tui convert --all` of 2 GB and 6 GB training checkpoints to safetensors, versus `cp` of the same file and
the common way (torch.load + safetensors.torch.save_file), whole processes, time and peak RSS, in one run.

Run: `.venv/bin/python benchmarks/bench_convert.py`. Target (issue 16): verified convert <= 1.3x `cp && sync`
(convert fsyncs its output; plain `cp` leaves it in the page cache), <= 100 MB peak RSS.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from _bench import PY, compare, make_training_checkpoint, report

COMMON = """
import sys, torch
from safetensors.torch import save_file
c = torch.load(sys.argv[1], weights_only=True)
flat = {}
def walk(o, p=""):
    if isinstance(o, torch.Tensor): flat[p] = o.contiguous()
    elif isinstance(o, dict):
        for k, v in o.items(): walk(v, f"{p}.{k}" if p else str(k))
    elif isinstance(o, (list, tuple)):
        for i, v in enumerate(o): walk(v, f"{p}.{i}" if p else str(i))
walk(c)
save_file(flat, sys.argv[2])
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, nargs="+", default=[2.0, 6.0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for gb in args.gb:
            src, out = Path(tmp) / f"training_{gb:g}.pt", Path(tmp) / "out.safetensors"
            make_training_checkpoint(src, gb)
            convert = [PY, "-m", "ckpt_tui", "convert", "--all", "--force", str(src), "-o", str(out)]
            results = compare(
                {
                    "ckpt-tui convert --all": convert,
                    "ckpt-tui convert --all --no-verify": [*convert, "--no-verify"],
                    "cp": ["cp", str(src), str(out)],
                    "cp && sync (convert fsyncs its output)": ["sh", "-c", f"cp {src} {out} && sync"],
                    "torch.load + save_file": [PY, "-c", COMMON, str(src), str(out)],
                },
                args.repeats,
            )
            report(
                f"convert a {src.stat().st_size / 1e9:.2f} GB training checkpoint (largest tensor "
                f"{_largest_mb(src):.0f} MB)",
                results,
                "cp && sync (convert fsyncs its output)",
            )
            os.remove(src)


def _largest_mb(path: Path) -> float:
    import json
    import subprocess

    doc = json.loads(
        subprocess.run([PY, "-m", "ckpt_tui", "inspect", "--json", str(path)], capture_output=True, text=True).stdout
    )
    return max(t["nbytes"] for t in doc["tensors"]) / 2**20


if __name__ == "__main__":
    main()
