"""What the numpy and the torch statistics share: the chunk size, the running sums (Welford), the report.

Both `core.stats` (numpy, the default) and `core.stats_torch` (a device) fold chunks into one `Accumulator`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ckpt_tui.dtypes import COMPLEX
from ckpt_tui.model import TensorInfo
from ckpt_tui.reports import Histogram, TensorStats

if TYPE_CHECKING:
    import numpy as np

CHUNK_ELEMENTS = 1 << 20
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


def histogram_range(low: float, high: float) -> tuple[float, float]:
    """A non-empty range: one value gets a unit-wide bin (wider where float64 cannot add 1 to it)."""
    return (low, high) if high > low else (low, low + max(1.0, abs(low) * 1e-9))


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
