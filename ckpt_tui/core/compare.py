"""Compare two tensors of one shape, chunk by chunk: memory stays at a few chunks whatever their size.

First a byte comparison (stops at the first differing chunk): identical tensors cost one memcmp pass. Otherwise
one numeric pass in float64 (complex128 for complex) accumulates the mismatch count under the tolerance, max and
mean |a-b|, max relative error, relative L2 error ‖a-b‖/‖a‖ and cosine similarity. Integers and booleans are
compared exactly in their own types; NaNs in the same places are equal; infinities are equal to themselves.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ckpt_tui.core.decode import decode_chunk
from ckpt_tui.core.stats import CHUNK_ELEMENTS, histogram_range
from ckpt_tui.core.tensors import drop_pages, map_storage, read_array
from ckpt_tui.formats import has_byte_range
from ckpt_tui.model import TensorInfo
from ckpt_tui.reports import Histogram, PairMetrics

if TYPE_CHECKING:
    import numpy as np


IDENTICAL = dict(mismatched=0, max_abs=0.0, mean_abs=0.0, max_rel=0.0, rel_l2=0.0, cosine=1.0, bit_identical=True)


def compare_pair(a: TensorInfo, b: TensorInfo, rtol: float = 0.0, atol: float = 0.0) -> PairMetrics:
    identical = mapped_bytes_equal(a, b)
    raw_a, raw_b = read_array(a), read_array(b)
    if identical is None:
        identical = a.dtype == b.dtype and all(_same_bytes(x, y) for x, y in _raw_chunks(raw_a, raw_b))
    if identical:
        return PairMetrics(a.numel, **IDENTICAL)  # type: ignore[arg-type]
    acc = _Sums()
    for x, y in _raw_chunks(raw_a, raw_b):
        acc.add(a, b, x, y, rtol, atol)
    return acc.metrics(a.numel)


def mapped_bytes_equal(a: TensorInfo, b: TensorInfo) -> bool | None:
    """For two contiguous tensors of one dtype in files: memcmp of the mapped bytes, no copies (None: not such a
    pair, compare otherwise)."""
    if a.dtype != b.dtype or not (a.is_contiguous and b.is_contiguous):
        return None
    if not (has_byte_range(a.storage) and has_byte_range(b.storage)) or a.device == "meta" or b.device == "meta":
        return None
    view_a = map_storage(a)[a.byte_offset : a.byte_offset + a.nbytes]
    view_b = map_storage(b)[b.byte_offset : b.byte_offset + b.nbytes]
    step = CHUNK_ELEMENTS * 8
    for start in range(0, a.nbytes, step):
        if not bytes_equal(view_a[start : start + step], view_b[start : start + step]):
            return False
        drop_pages(view_a)
        drop_pages(view_b)
    return True


def bytes_equal(x: Any, y: Any) -> bool:
    """Two buffers byte for byte, compared 8 bytes at a time by numpy (memoryview == unpacks every element)."""
    import numpy as np

    a, b = np.frombuffer(x, dtype=np.uint8), np.frombuffer(y, dtype=np.uint8)
    if a.size != b.size:
        return False
    whole = a.size // 8 * 8
    return bool(
        np.array_equal(a[:whole].view(np.uint64), b[:whole].view(np.uint64)) and np.array_equal(a[whole:], b[whole:])
    )


def difference_histogram(a: TensorInfo, b: TensorInfo, bins: int = 32) -> Histogram | None:
    """Histogram of a - b over finite differences (two passes: range, then counts)."""
    import numpy as np

    raw_a, raw_b = read_array(a), read_array(b)
    low, high = math.inf, -math.inf
    for x, y in _raw_chunks(raw_a, raw_b):
        d = _finite(_values(a, x) - _values(b, y))
        if d.size:
            low, high = min(low, float(d.min())), max(high, float(d.max()))
    if low > high:
        return None
    low, high = histogram_range(low, high)
    scale = 1.0 if math.isfinite(high - low) else 0.5  # a range wider than float64: bin halved values
    counts = np.zeros(bins, dtype=np.int64)
    for x, y in _raw_chunks(raw_a, raw_b):
        d = _finite(_values(a, x) - _values(b, y)) * scale
        counts += np.histogram(d, bins=bins, range=(low * scale, high * scale))[0]
    edges = np.linspace(low * scale, high * scale, bins + 1) / scale
    return Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))


class _Sums:
    def __init__(self) -> None:
        self.mismatched, self.max_abs, self.sum_abs, self.max_rel = 0, 0.0, 0.0, 0.0
        self.dd, self.aa, self.bb, self.ab, self.counted = 0.0, 0.0, 0.0, 0.0, 0
        self.nonfinite = [0, 0, 0, 0]  # NaN introduced, removed; Inf introduced, removed

    def add(self, a: TensorInfo, b: TensorInfo, raw_x: Any, raw_y: Any, rtol: float, atol: float) -> None:
        import numpy as np

        x, y = _values(a, raw_x), _values(b, raw_y)
        with np.errstate(invalid="ignore", over="ignore"):
            if x.dtype.kind in "iub" and y.dtype.kind in "iub":  # exact: int64 beyond 2**53 is not a float64
                equal = x == y
                exact = np.abs(x.astype(np.int64) - y.astype(np.int64))
                close = equal | (exact <= atol + rtol * np.abs(y.astype(np.int64)))
                d, x, y = exact.astype(np.float64), x.astype(np.float64), y.astype(np.float64)
            else:
                equal = (x == y) | (np.isnan(x) & np.isnan(y))
                d = np.where(equal, 0.0, np.abs(x - y))
                close = equal | (d <= atol + rtol * np.abs(y))
        self.mismatched += int(np.count_nonzero(~close))
        if x.dtype.kind in "fc":
            self._add_nonfinite(x, y)
        self._add_errors(d, np.abs(y))
        both = np.isfinite(x) & np.isfinite(y)
        fx, fy = x[both], y[both]
        self.aa += float(np.vdot(fx, fx).real)
        self.bb += float(np.vdot(fy, fy).real)
        self.ab += float(np.vdot(fy, fx).real)

    def _add_nonfinite(self, x: np.ndarray, y: np.ndarray) -> None:
        import numpy as np

        nan_x, nan_y, inf_x, inf_y = np.isnan(x), np.isnan(y), np.isinf(x), np.isinf(y)
        for i, count in enumerate((nan_y & ~nan_x, nan_x & ~nan_y, inf_y & ~inf_x, inf_x & ~inf_y)):
            self.nonfinite[i] += int(np.count_nonzero(count))

    def _add_errors(self, d: np.ndarray, magnitude: np.ndarray) -> None:
        import numpy as np

        finite = np.isfinite(d)
        fd = d[finite]
        if fd.size:
            self.max_abs = max(self.max_abs, float(fd.max()))
            self.sum_abs += float(fd.sum())
            self.dd += float(np.dot(fd, fd))
            self.counted += fd.size
            mag = magnitude[finite]
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(fd == 0, 0.0, fd / mag)
            self.max_rel = max(self.max_rel, float(np.nanmax(rel)) if rel.size else 0.0)

    def metrics(self, numel: int) -> PairMetrics:
        rel_l2 = math.sqrt(self.dd) / math.sqrt(self.aa) if self.aa else (0.0 if self.dd == 0 else math.inf)
        cosine = self.ab / math.sqrt(self.aa * self.bb) if self.aa and self.bb else None
        mean_abs = self.sum_abs / self.counted if self.counted else 0.0
        return PairMetrics(
            numel, self.mismatched, self.max_abs, mean_abs, self.max_rel, rel_l2, cosine, False, *self.nonfinite
        )


def _raw_chunks(raw_a: Any, raw_b: Any) -> Iterator[tuple[Any, Any]]:
    """Matching 1-D chunks of raw elements from two arrays of one shape, any strides."""
    import numpy as np

    fa = raw_a.reshape(1) if raw_a.ndim == 0 else raw_a
    fb = raw_b.reshape(1) if raw_b.ndim == 0 else raw_b
    row = max(1, fa[0].size) if fa.shape[0] else 1
    step = max(1, CHUNK_ELEMENTS // row)
    for start in range(0, fa.shape[0], step):
        chunk_a = np.ascontiguousarray(fa[start : start + step]).reshape(-1)
        chunk_b = np.ascontiguousarray(fb[start : start + step]).reshape(-1)
        yield chunk_a, chunk_b
        drop_pages(fa)  # used: the mapped pages can go, so RSS stays near a few chunks
        drop_pages(fb)


def _same_bytes(x: Any, y: Any) -> bool:
    """Bitwise equality of two contiguous chunks."""
    return bytes_equal(x.view("u1"), y.view("u1"))


def _values(info: TensorInfo, raw: Any) -> np.ndarray:
    import numpy as np

    values = decode_chunk(info, raw)
    if values.dtype.kind == "c":
        return values.astype(np.complex128)
    if values.dtype.kind in "iub":
        return values
    return values.astype(np.float64)


def _finite(d: Any) -> Any:
    import numpy as np

    d = d.real if d.dtype.kind == "c" else d
    return d[np.isfinite(d)]
