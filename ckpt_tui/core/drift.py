"""Drift between neighbouring checkpoints of a run: relative L2 change of the model weights, per module too.

‖b − a‖ / ‖a‖ over every floating tensor of the model state dict present in both with one shape, streamed one
tensor pair at a time and chunk by chunk (compare.py's chunking, so memory stays at a few chunks); NaN/Inf in
each side are counted, so that a checkpoint that introduces them is flagged. `a` may be None (the first
checkpoint): only its NaN/Inf are counted.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

from ckpt_tui.core.compare import _raw_chunks, _values
from ckpt_tui.core.layout import state_dict_at
from ckpt_tui.core.tensors import read_array
from ckpt_tui.dtypes import COMPLEX, FLOATING
from ckpt_tui.errors import Cancelled
from ckpt_tui.model import Checkpoint, TensorInfo
from ckpt_tui.reports import Drift


@dataclass
class _Sums:
    dd: float = 0.0
    aa: float = 0.0

    @property
    def relative(self) -> float:
        return math.sqrt(self.dd) / math.sqrt(self.aa) if self.aa else (0.0 if self.dd == 0 else math.inf)


def drift_between(a: Checkpoint | None, b: Checkpoint, cancel: threading.Event | None = None) -> Drift:
    tensors_b = _floating(b)
    tensors_a = _floating(a) if a is not None else {}
    total, modules = _Sums(), dict[str, _Sums]()
    nonfinite_a = nonfinite_b = compared = 0
    for key, info_b in tensors_b.items():
        if cancel is not None and cancel.is_set():
            raise Cancelled("drift cancelled")
        info_a = tensors_a.get(key)
        if info_a is None or info_a.shape != info_b.shape:
            nonfinite_b += _nonfinite(info_b)
            continue
        dd, aa, bad_a, bad_b = _pair(info_a, info_b)
        module = modules.setdefault(key.rsplit(".", 1)[0] if "." in key else key, _Sums())
        module.dd, module.aa = module.dd + dd, module.aa + aa
        total.dd, total.aa = total.dd + dd, total.aa + aa
        nonfinite_a, nonfinite_b, compared = nonfinite_a + bad_a, nonfinite_b + bad_b, compared + 1
    for key, info_a in tensors_a.items():
        if key not in tensors_b or tensors_b[key].shape != info_a.shape:
            nonfinite_a += _nonfinite(info_a)
    return Drift(
        a.path if a is not None else None,
        b.path,
        total.relative if compared else None,
        {m: s.relative for m, s in modules.items()},
        nonfinite_a,
        nonfinite_b,
        compared,
    )


def _floating(ckpt: Checkpoint) -> dict[str, TensorInfo]:
    _, tensors = state_dict_at(ckpt)
    return {k: t for k, t in tensors.items() if t.dtype in FLOATING and t.dtype not in COMPLEX and t.device != "meta"}


def _pair(a: TensorInfo, b: TensorInfo) -> tuple[float, float, int, int]:
    """Σ(b−a)² and Σa² over the elements finite on both sides, and the non-finite counts of each side."""
    import numpy as np

    dd = aa = 0.0
    bad_a = bad_b = 0
    for x_raw, y_raw in _raw_chunks(read_array(a), read_array(b)):
        x, y = _values(a, x_raw), _values(b, y_raw)
        fx, fy = np.isfinite(x), np.isfinite(y)
        bad_a, bad_b = bad_a + int(x.size - np.count_nonzero(fx)), bad_b + int(y.size - np.count_nonzero(fy))
        both = fx & fy
        d = y[both] - x[both]
        dd += float(np.dot(d, d))
        aa += float(np.dot(x[both], x[both]))
    return dd, aa, bad_a, bad_b


def _nonfinite(info: TensorInfo) -> int:
    import numpy as np

    raw = read_array(info)
    bad = 0
    for x_raw, _ in _raw_chunks(raw, raw):
        values: Any = _values(info, x_raw)
        bad += int(values.size - np.count_nonzero(np.isfinite(values)))
    return bad
