"""A synthetic >= 20 GB sharded safetensors checkpoint: time and peak RSS to open it (`inspect --json`), and
`convert` throughput and peak RSS beside `cat` of the same bytes, in one run. Built in a temp dir, removed after.

Run: `.venv/bin/python benchmarks/bench_sharded.py [--gb 20]`. Targets (issue 8): open < 1 s, RSS independent of
the total size; (issue 16) verified convert <= 1.3x `cat ... && sync`, peak RSS <= 100 MB. Needs about twice the
set's size on the disk (the set and one output at a time).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from _bench import PY, compare, report

MAKE = """
import sys, json, numpy as np
from pathlib import Path
from safetensors.numpy import save_file
out, shards, per_shard = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
rng = np.random.default_rng(0)
weight_map, total = {}, 0
for s in range(shards):
    name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
    tensors, size = {}, 0
    for i in range(8):
        n = int(per_shard * 1e9 / 8 / 2)
        t = rng.standard_normal(n, dtype=np.float32).astype(np.float16) if i == 0 else np.ones(n, np.float16) * i
        key = f"layers.{s}.block.{i}.weight"
        tensors[key] = t; weight_map[key] = name; size += t.nbytes
    save_file(tensors, str(out / name)); total += size
index = {"metadata": {"total_size": total}, "weight_map": weight_map}
json.dump(index, open(out / "model.safetensors.index.json", "w"))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=20.0)
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / "out"
        src.mkdir()
        out.mkdir()
        subprocess.run([PY, "-c", MAKE, str(src), str(args.shards), str(args.gb / args.shards)], check=True)
        index = src / "model.safetensors.index.json"
        total = json.loads(index.read_text())["metadata"]["total_size"]
        results = compare(
            {
                "ckpt-tui inspect --json (open the set)": [PY, "-m", "ckpt_tui", "inspect", "--json", str(index)],
                "python -c pass (floor)": [PY, "-c", "pass"],
            }
        )
        report(
            f"open a {total / 1e9:.1f} GB sharded safetensors set ({args.shards} shards)",
            results,
            "ckpt-tui inspect --json (open the set)",
        )
        shards = sorted(str(p) for p in src.glob("*.safetensors"))
        one = out / "one.safetensors"
        convert = [PY, "-m", "ckpt_tui", "convert", "--force", str(index), "-o", str(one)]
        results = compare(
            {
                "ckpt-tui convert (one file, --no-verify)": [*convert, "--no-verify"],
                "ckpt-tui convert (one file, verified)": convert,
                "cat shards > one file": ["sh", "-c", f"cat {' '.join(shards)} > {one}"],
                "cat ... && sync": ["sh", "-c", f"cat {' '.join(shards)} > {one} && sync"],
            },
            repeats=args.repeats,
            cleanup=[one],
        )
        report(f"convert the {total / 1e9:.1f} GB set to one safetensors file", results, "cat ... && sync")
        for name, r in results.items():
            print(f"  {name}: {total / 1e9 / r.seconds:.2f} GB/s")


if __name__ == "__main__":
    main()
