"""Mutation fuzzing of the readers, shared by the short test and the long run (tests/fuzz_readers.py)."""

from __future__ import annotations

import random
from pathlib import Path

from ckpt_tui.core.stats import compute_stats
from ckpt_tui.core.summary import summarize
from ckpt_tui.errors import CkptError
from ckpt_tui.formats import read_checkpoint

SAMPLES = Path(__file__).resolve().parent.parent / "sample_checkpoints"
CORPUS = sorted([*SAMPLES.glob("*.pth"), *SAMPLES.glob("*.safetensors")])


def mutate(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """One or more byte flips, truncations, splices from another sample, zeroed or duplicated ranges."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(5)
        at = rng.randrange(len(out)) if out else 0
        if kind == 0 and out:
            for _ in range(rng.randint(1, 8)):
                out[rng.randrange(len(out))] = rng.randrange(256)
        elif kind == 1:
            del out[at:]
        elif kind == 2:
            donor = rng.choice(others)
            start = rng.randrange(len(donor))
            out[at:at] = donor[start : start + rng.randint(1, 512)]
        elif kind == 3:
            out[at : at + rng.randint(1, 64)] = bytes(min(64, len(out) - at))
        else:
            out[at:at] = out[at : at + rng.randint(1, 256)]
    return bytes(out)


def exercise(path: Path) -> str:
    """Everything a user can trigger on a file: read, summarise, stats of its first tensors. Only CkptError may
    escape; returns 'ok' or 'error'."""
    try:
        ckpt = read_checkpoint(path)
        summarize(ckpt)
        for info in list(ckpt.tensors.values())[:4]:
            try:
                compute_stats(info)
            except CkptError:
                pass
        return "ok"
    except CkptError:
        return "error"
