"""Per-tensor statistics, correct for every dtype and bounded in memory: one chunk of elements at a time.

numpy on the CPU by default (stable on a busy machine, see PERF_NOTES.md); torch on the device when one is chosen.
Floating stats (min, max, mean, std) are over finite values; NaN and ±Inf are counted apart. Complex tensors are
summarised by magnitude. bf16 is the upper half of a float32 and fp8/fp4 decode through small tables.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ckpt_tui.core.decode import decode_chunk
from ckpt_tui.core.tensors import drop_pages, read_array
from ckpt_tui.dtypes import COMPLEX, FLOATING
from ckpt_tui.errors import Cancelled
from ckpt_tui.model import TensorInfo
from ckpt_tui.reports import Histogram, Progress, TensorStats

if TYPE_CHECKING:
    import numpy as np

CHUNK_ELEMENTS = 1 << 20
HISTOGRAM_BINS = 32
PREVIEW = 8


@dataclass
class Accumulator:
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: Any = math.inf  # ints stay ints, so int64 extremes are exact
    high: Any = -math.inf
    nan: int = 0
    inf: int = 0
    zeros: int = 0

    def add(self, x: np.ndarray) -> None:
        """Fold one decoded numpy chunk in."""
        import numpy as np

        zeros = x.size - int(np.count_nonzero(x))
        nan = inf = 0
        total = float(np.sum(x, dtype=np.float64))
        if not math.isfinite(total):  # the rare slow path: NaN/Inf present (or a float64 overflow)
            nan, inf = int(np.count_nonzero(np.isnan(x))), int(np.count_nonzero(np.isinf(x)))
            x = x[np.isfinite(x)]
            total = float(np.sum(x, dtype=np.float64))
        if x.size == 0:
            self.merge(0, 0.0, 0.0, math.inf, -math.inf, nan, inf, zeros)
            return
        mean = total / x.size
        deviations = x.astype(np.float64) - mean
        m2 = float(np.dot(deviations, deviations))
        self.merge(x.size, mean, m2, x.min().item(), x.max().item(), nan, inf, zeros)

    def merge(self, n: int, mean: float, m2: float, low: Any, high: Any, nan: int, inf: int, zeros: int) -> None:
        """Fold in a chunk's summary (Chan et al.: combine means and sums of squared deviations)."""
        self.nan, self.inf, self.zeros = self.nan + nan, self.inf + inf, self.zeros + zeros
        if n == 0:
            return
        self.low, self.high = min(self.low, low), max(self.high, high)
        delta, combined = mean - self.mean, self.count + n
        self.mean += delta * n / combined
        self.m2 += m2 + delta * delta * self.count * n / combined
        self.count = combined


def compute_stats(
    info: TensorInfo,
    device: str = "cpu",
    bins: int = HISTOGRAM_BINS,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> TensorStats:
    """Statistics of one tensor, read chunk by chunk; `progress(done, total)` is called per chunk."""
    if device != "cpu":
        from ckpt_tui.core.stats_torch import compute_stats_torch

        return compute_stats_torch(info, device, bins, progress, cancel)
    array = read_array(info)
    acc = Accumulator()
    for done, chunk in _chunks(info, array, cancel):
        acc.add(chunk)
        if progress:
            progress(done, info.numel)
    histogram = _histogram(info, array, acc, bins, cancel) if acc.count else None
    return finish(info, acc, histogram, _preview(info, array))


def non_finite_counts(info: TensorInfo, device: str = "cpu", cancel: threading.Event | None = None) -> tuple[int, int]:
    """(NaN, Inf) counts of one tensor: one chunked pass, no histogram and no preview (check, the audit's --stats).
    On the CPU an all-finite chunk costs one float64 sum; only a chunk whose sum is not finite is counted."""
    import numpy as np

    if device != "cpu":
        stats = compute_stats(info, device, cancel=cancel)
        return stats.nan_count, stats.inf_count
    if info.dtype not in FLOATING | COMPLEX or info.numel == 0 or info.device == "meta":
        return 0, 0
    nan = inf = 0
    for _, chunk in _chunks(info, read_array(info), cancel):
        if not math.isfinite(float(np.sum(chunk, dtype=np.float64))):
            nan += int(np.count_nonzero(np.isnan(chunk)))
            inf += int(np.count_nonzero(np.isinf(chunk)))
    return nan, inf


def _chunks(info: TensorInfo, array: Any, cancel: threading.Event | None) -> Iterator[tuple[int, np.ndarray]]:
    """Decoded 1-D chunks of about CHUNK_ELEMENTS, in order, for any strides (rows of the first axis)."""
    import numpy as np

    flat = array.reshape(1) if array.ndim == 0 else array
    row = max(1, flat[0].size) if flat.shape[0] else 1
    step = max(1, CHUNK_ELEMENTS // row)
    done = 0
    for start in range(0, flat.shape[0], step):
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"statistics of '{info.key}' cancelled")
        raw = np.ascontiguousarray(flat[start : start + step]).reshape(-1)
        done += raw.size
        yield done, _values(info, raw)
        drop_pages(flat)  # the chunk has been used: its mapped pages can go (after, or they fault straight back)


def _values(info: TensorInfo, raw: np.ndarray) -> np.ndarray:
    import numpy as np

    values = decode_chunk(info, raw)
    if values.dtype.kind == "c":
        return np.abs(values.astype(np.complex128))
    if values.dtype.kind == "b":
        return values.view(np.uint8)
    return values


def _histogram(info: TensorInfo, array: Any, acc: Accumulator, bins: int, cancel: threading.Event | None) -> Histogram:
    import numpy as np

    low, high = histogram_range(float(acc.low), float(acc.high))
    scale = 1.0 if math.isfinite(high - low) else 0.5  # a range wider than float64 (±1e308): bin halved values
    counts = np.zeros(bins, dtype=np.int64)
    for _, chunk in _chunks(info, array, cancel):
        finite = chunk[np.isfinite(chunk)] if chunk.dtype.kind == "f" and acc.nan + acc.inf else chunk
        values = finite.astype(np.float64) * scale  # float32 bin arithmetic overflows near ±3e38
        counts += np.histogram(values, bins=bins, range=(low * scale, high * scale))[0]
    edges = np.linspace(low * scale, high * scale, bins + 1) / scale
    return Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))


def histogram_range(low: float, high: float) -> tuple[float, float]:
    """A non-empty range: one value gets a unit-wide bin (wider where float64 cannot add 1 to it)."""
    return (low, high) if high > low else (low, low + max(1.0, abs(low) * 1e-9))


def _preview(info: TensorInfo, array: Any) -> tuple[tuple[Any, ...], ...]:
    """A corner of the tensor: the first PREVIEW x PREVIEW elements of its last two dims (the first row for 1-D)."""
    import numpy as np

    if info.numel == 0:
        return ()
    corner = array.reshape(1) if array.ndim == 0 else array
    while corner.ndim > 2:
        corner = corner[0]
    corner = corner[:PREVIEW, :PREVIEW] if corner.ndim == 2 else corner[None, :PREVIEW]
    rows = [decode_chunk(info, np.ascontiguousarray(r).reshape(-1)) for r in corner]
    return tuple(tuple(v.item() for v in row) for row in rows)


def finish(info: TensorInfo, acc: Accumulator, histogram: Histogram | None, preview: Any) -> TensorStats:
    has = acc.count > 0
    std = math.sqrt(acc.m2 / acc.count) if has else None
    return TensorStats(
        info.key,
        info.dtype,
        info.numel,
        acc.count,
        acc.low if has else None,
        acc.high if has else None,
        acc.mean if has else None,
        std,
        acc.nan,
        acc.inf,
        acc.zeros,
        histogram,
        preview,
        info.dtype in COMPLEX,
    )
