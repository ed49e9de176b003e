"""Shared benchmark plumbing: build big checkpoints in a temp dir, time whole processes, print ratios.

Absolute times on this kind of machine swing up to 2x between runs, so every comparison alternates A and B in one
run and reports medians and ratios; peak RSS comes from wait4() of each child process.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PY = sys.executable
# an installed ckpt-tui has its bytecode compiled; a shell with PYTHONDONTWRITEBYTECODE=1 would make every timed
# run compile the project from source (~0.15 s of a 2 s run)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class Sample:
    seconds: float
    peak_rss_mb: float


def run_process(argv: Sequence[str]) -> Sample:
    """Wall time and peak RSS of one whole process (what a user waits for)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(f"{argv} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return Sample(elapsed, usage.ru_maxrss / 1024)


def compare(named: dict[str, Sequence[str]], repeats: int = 3, cleanup: Sequence[Path] = ()) -> dict[str, Sample]:
    """Run each command `repeats` times, alternating; the median time and the max peak RSS of each.

    A `sync` (not timed) precedes every run: otherwise a command that fsyncs (ckpt-tui convert) pays for the dirty
    pages the previous command (cp, save_file) left behind, since an ext4 journal commit writes them out too.
    The `cleanup` paths are removed (not timed) before every run: outputs of many GB need not pile up on the disk.
    """
    runs: dict[str, list[Sample]] = {name: [] for name in named}
    for _ in range(repeats):
        for name, argv in named.items():
            for path in cleanup:
                path.unlink(missing_ok=True)
            subprocess.run(["sync"], check=False)
            runs[name].append(run_process(argv))
    return {
        name: Sample(statistics.median(s.seconds for s in samples), max(s.peak_rss_mb for s in samples))
        for name, samples in runs.items()
    }


def report(title: str, results: dict[str, Sample], baseline: str) -> None:
    base = results[baseline].seconds
    print(f"\n{title}")
    print(f"  {'':44} {'time':>8} {'peak RSS':>10} {'time ratio':>11}")
    for name, s in results.items():
        print(f"  {name:44} {s.seconds:7.3f}s {s.peak_rss_mb:8.0f}MB {s.seconds / base:10.2f}x")


def goal(label: str, value: float, limit: float, unit: str = "s") -> None:
    """One line that says whether a target of issue 16 is met: `value` must be at most `limit`."""
    verdict = "met" if value <= limit else "NOT MET"
    print(f"  goal: {label} {value:.3f}{unit} <= {limit:g}{unit}: {verdict}")


def python_snippet(code: str) -> list[str]:
    return [PY, "-c", code]


def make_training_checkpoint(path: Path, gigabytes: float) -> None:
    """A model state dict + Adam state (2x the model) + metadata, about `gigabytes` GB in all."""
    code = f"""
import torch
n_layers = 24
per_tensor = int({gigabytes} * 1e9 / 3 / 4 / n_layers / 2)
side = int(per_tensor ** 0.5)
model = {{}}
for i in range(n_layers):
    model[f"layers.{{i}}.attn.weight"] = torch.randn(side, side)
    model[f"layers.{{i}}.mlp.weight"] = torch.randn(side, side)
    model[f"layers.{{i}}.norm.bias"] = torch.zeros(side)
state = {{i: {{"step": torch.tensor(10.0), "exp_avg": torch.randn_like(t), "exp_avg_sq": torch.rand_like(t)}}
         for i, t in enumerate(model.values())}}
groups = [{{"lr": 1e-4, "betas": (0.9, 0.999), "weight_decay": 0.0, "params": list(range(len(model)))}}]
torch.save({{"epoch": 3, "model": model, "optimizer": {{"state": state, "param_groups": groups}}}}, {str(path)!r})
"""
    subprocess.run([PY, "-c", code], check=True)


def make_many_tensors(path: Path, count: int) -> None:
    code = f"""
import torch
torch.save({{f"blocks.{{i // 100}}.layer.{{i % 100}}.weight": torch.full((4, 4), float(i)) for i in range({count})}},
           {str(path)!r})
"""
    subprocess.run([PY, "-c", code], check=True)


def size_gb(path: Path) -> float:
    return path.stat().st_size / 1e9
