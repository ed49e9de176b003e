"""A histogram drawn for the width it gets: bins merged (never wrapped), zero marked, a log-count option, and
quantiles read off the histogram.

The quantiles are approximate: the chunked statistics keep a 32-bin histogram, not the values, so a quantile is
interpolated linearly inside the bin that holds it and is good to about one bin width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text

from ckpt_tui.render.values import format_scalar
from ckpt_tui.reports import Histogram

BARS = " ▁▂▃▄▅▆▇█"
QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)


def histogram_renderable(histogram: Histogram, width: int = 48, height: int = 6, log: bool = False) -> Text:
    """`height` rows of bars in exactly `columns` cells (<= width), an axis with zero marked, the range beneath."""
    columns = max(1, width)
    counts = resample(list(histogram.counts), columns)
    scaled = [math.log1p(c) for c in counts] if log else [float(c) for c in counts]
    peak = max(scaled) or 1.0
    levels = [c / peak * height * 8 for c in scaled]
    text = Text()
    for row in range(height - 1, -1, -1):
        line = "".join(BARS[max(1, min(8, math.ceil(level - row * 8)))] if level > row * 8 else " " for level in levels)
        text.append(line + "\n", style="cyan")
    low, high = histogram.edges[0], histogram.edges[-1]
    zero = _zero_column(low, high, columns)
    axis = ["─"] * columns
    if zero is not None:
        axis[zero] = "┴"
    text.append("".join(axis) + "\n", style="dim")
    text.append(_range_line(low, high, columns, zero))
    return text


def resample(counts: list[int], width: int) -> list[int]:
    """`counts` stretched (repeated) or squeezed (summed) onto exactly `width` columns."""
    n = len(counts)
    if n == 0:
        return [0] * width
    out = [0] * width
    if n <= width:
        for column in range(width):
            out[column] = counts[column * n // width]
        return out
    for i, c in enumerate(counts):
        out[i * width // n] += c
    return out


def _zero_column(low: float, high: float, columns: int) -> int | None:
    if not (low < 0 < high):
        return None
    return min(columns - 1, int((0 - low) / (high - low) * columns))


def _range_line(low: float, high: float, columns: int, zero: int | None) -> str:
    left, right = format_scalar(low, 10), format_scalar(high, 10)
    line = [" "] * max(columns, len(left) + len(right) + 1)
    line[: len(left)] = left
    line[len(line) - len(right) :] = right
    if zero is not None and len(left) < zero < len(line) - len(right) - 1:
        line[zero] = "0"
    return "".join(line)


def quantiles(
    histogram: Histogram, qs: Sequence[float] = QUANTILES, low: float | None = None, high: float | None = None
) -> list[tuple[float, float]]:
    """(q, value) pairs interpolated inside the histogram's bins and clamped to [low, high] (the exact min and
    max, when known); empty for an empty histogram."""
    total = sum(histogram.counts)
    if total == 0:
        return []
    out, cumulative, i = [], 0, 0
    for q in qs:
        target = q * total
        while i < len(histogram.counts) - 1 and cumulative + histogram.counts[i] < target:
            cumulative += histogram.counts[i]
            i += 1
        inside = (target - cumulative) / histogram.counts[i] if histogram.counts[i] else 0.0
        start, end = histogram.edges[i], histogram.edges[i + 1]
        value = start + (end - start) * min(1.0, max(0.0, inside))
        value = value if low is None else max(low, value)
        out.append((q, value if high is None else min(high, value)))
    return out


def quantiles_text(histogram: Histogram, width: int, low: float | None = None, high: float | None = None) -> Text:
    """`p1 … p99 ≈` on as many lines as `width` needs; says that they come from the histogram."""
    text = Text()
    line = 0
    for q, value in quantiles(histogram, QUANTILES, low, high):
        item = f"p{round(q * 100)} {format_scalar(value, 10)}"
        if line and line + len(item) + 2 > width:
            text.append("\n")
            line = 0
        elif line:
            text.append("  ")
            line += 2
        text.append(item)
        line += len(item)
    text.append(f"\n≈ from the {len(histogram.counts)}-bin histogram", style="dim")
    return text
