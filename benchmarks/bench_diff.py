"""`ckpt-tui diff` of two 2 GB checkpoints differing in a few tensors, versus the naive way (torch.load both,
torch.allclose + max-abs per pair), whole processes, time and peak RSS, in one run.

Run: `.venv/bin/python benchmarks/bench_diff.py`. Target (issue 4): <= 0.3x the naive time; peak RSS <= 2x the
largest tensor + 300 MB.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from _bench import PY, compare, make_training_checkpoint, python_snippet, report

NAIVE = """
import sys, torch
def flat(o, p="", out=None):
    out = {} if out is None else out
    if isinstance(o, torch.Tensor):
        out[p] = o
    elif isinstance(o, dict):
        for k, v in o.items():
            flat(v, f"{p}.{k}", out)
    return out
a, b = flat(torch.load(sys.argv[1], weights_only=True)), flat(torch.load(sys.argv[2], weights_only=True))
changed = [k for k in a if not torch.allclose(a[k], b[k]) or (a[k] - b[k]).abs().max() > 0]
"""

CHANGE_THREE = """
import sys, torch
c = torch.load(sys.argv[1], weights_only=True)
for key in list(c["model"])[:3]:
    c["model"][key].add_(1e-3)
torch.save(c, sys.argv[2])
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a.pt", Path(tmp) / "b.pt"
        make_training_checkpoint(a, 2.0)
        subprocess.run([PY, "-c", CHANGE_THREE, str(a), str(b)], check=True)
        inspected = subprocess.run([PY, "-m", "ckpt_tui", "inspect", "--json", str(a)], capture_output=True, text=True)
        biggest = max(t["nbytes"] for t in json.loads(inspected.stdout)["tensors"]) / 2**20
        results = compare(
            {
                "ckpt-tui diff --no-tui": [PY, "-m", "ckpt_tui", "diff", "--no-tui", str(a), str(b)],
                "naive: torch.load both + allclose/max-abs": [PY, "-c", NAIVE, str(a), str(b)],
                "python -c 'import torch' (floor)": python_snippet("import torch"),
            }
        )
        title = f"diff of two {a.stat().st_size / 1e9:.2f} GB checkpoints (3 tensors changed; largest {biggest:.0f} MB)"
        report(title, results, "naive: torch.load both + allclose/max-abs")


if __name__ == "__main__":
    main()
