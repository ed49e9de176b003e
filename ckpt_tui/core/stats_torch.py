"""The same statistics as core/stats.py, computed by torch on the chosen device (`--device cuda:N`).

Each chunk is reduced on the device and folded into the same accumulator as the numpy path; a second pass builds
the histogram, so device memory stays at one float64 chunk whatever the tensor's size.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import Any

from ckpt_tui.core.stats import CHUNK_ELEMENTS, PREVIEW, Accumulator, finish, histogram_range
from ckpt_tui.core.tensors import load_tensor
from ckpt_tui.dtypes import QUANTIZED
from ckpt_tui.errors import Cancelled, UnsupportedFormatError
from ckpt_tui.model import TensorInfo
from ckpt_tui.reports import Histogram, Progress, TensorStats


def compute_stats_torch(
    info: TensorInfo, device: str, bins: int, progress: Progress | None, cancel: threading.Event | None
) -> TensorStats:
    import torch

    tensor = load_tensor(info, device)
    if tensor.is_meta:
        raise UnsupportedFormatError(f"tensor '{info.key}' is on the meta device: it has no values to summarise")
    values = (tensor.dequantize() if info.dtype in QUANTIZED else tensor).reshape(-1)
    acc = Accumulator()
    for done, chunk in _chunks(info, values, cancel):
        finite = chunk[torch.isfinite(chunk)]
        n = finite.numel()
        mean = float(finite.mean()) if n else 0.0
        m2 = float(((finite - mean) ** 2).sum()) if n else 0.0
        low, high = (float(finite.min()), float(finite.max())) if n else (math.inf, -math.inf)
        nan, inf = int(torch.isnan(chunk).sum()), int(torch.isinf(chunk).sum())
        acc.merge(n, mean, m2, low, high, nan, inf, int((chunk == 0).sum()))
        if progress:
            progress(done, values.numel())
    histogram = _histogram(info, values, acc, bins, cancel) if acc.count else None
    return finish(info, acc, histogram, _preview(tensor))


def _chunks(info: TensorInfo, values: Any, cancel: threading.Event | None) -> Iterator[tuple[int, Any]]:
    for start in range(0, values.numel(), CHUNK_ELEMENTS):
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"statistics of '{info.key}' cancelled")
        chunk = values[start : start + CHUNK_ELEMENTS]
        yield min(start + CHUNK_ELEMENTS, values.numel()), _as_double(chunk)


def _as_double(chunk: Any) -> Any:
    """Real float64 values of a chunk: |z| of complex numbers (taken in double), 0/1 for booleans."""
    import torch

    if chunk.is_complex():
        return chunk.to(torch.complex128).abs()
    return chunk.to(torch.uint8).double() if chunk.dtype == torch.bool else chunk.double()


def _histogram(info: TensorInfo, values: Any, acc: Accumulator, bins: int, cancel: threading.Event | None) -> Histogram:
    import torch

    low, high = histogram_range(float(acc.low), float(acc.high))
    counts = torch.zeros(bins, dtype=torch.float64, device=values.device)
    for _, chunk in _chunks(info, values, cancel):
        counts += torch.histc(chunk[torch.isfinite(chunk)], bins=bins, min=low, max=high)
    edges = torch.linspace(low, high, bins + 1, dtype=torch.float64)
    return Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts.cpu()))


def _preview(tensor: Any) -> tuple[tuple[Any, ...], ...]:
    if tensor.numel() == 0:
        return ()
    corner = tensor.reshape(1) if tensor.dim() == 0 else tensor
    while corner.dim() > 2:
        corner = corner[0]
    corner = corner[:PREVIEW, :PREVIEW] if corner.dim() == 2 else corner[None, :PREVIEW]
    if corner.is_quantized:
        corner = corner.dequantize()
    return tuple(tuple(v.item() for v in row.cpu()) for row in corner)
