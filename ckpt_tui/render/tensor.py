"""One tensor: its facts, its statistics, a histogram and a value preview (TUI detail pane, `inspect --stats`)."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ckpt_tui.model import TensorInfo
from ckpt_tui.render import human_bytes, printable
from ckpt_tui.reports import Histogram, TensorStats

BARS = " ▁▂▃▄▅▆▇█"


def facts_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    return table


def tensor_info_renderable(info: TensorInfo, shared_with: list[str]) -> RenderableType:
    table = facts_table()
    table.add_row("key", Text(printable(info.key)))
    table.add_row("shape", f"{list(info.shape)}  ({info.numel:,} elements)")
    table.add_row("dtype", info.dtype + ("  (parameter)" if info.is_parameter else ""))
    table.add_row("stride", f"{list(info.stride)}" + ("" if info.is_contiguous else "  (non-contiguous view)"))
    table.add_row("bytes", f"{human_bytes(info.nbytes)}  ({info.nbytes:,} B)")
    table.add_row("saved on", info.device)
    storage = info.storage
    where = f"member {storage.member}" if storage.member else f"offset {storage.offset:,}"
    table.add_row("storage", Text(printable(f"{storage.key or '-'}: {storage.numel:,} × {storage.dtype}, {where}")))
    if info.storage_offset:
        table.add_row("offset", f"{info.storage_offset:,} elements into its storage")
    if info.quantization:
        q = info.quantization
        table.add_row("quantized", f"{q.scheme} scale={q.scale} zero_point={q.zero_point}")
    if shared_with:
        shown = ", ".join(shared_with[:6]) + (f" (+{len(shared_with) - 6} more)" if len(shared_with) > 6 else "")
        table.add_row("shares", Text(printable(shown)))
    return table


def stats_renderable(stats: TensorStats, width: int = 48) -> RenderableType:
    table = facts_table()
    of = " of |z|" if stats.of_magnitude else ""
    for name, value in (("min", stats.min), ("max", stats.max), ("mean", stats.mean), ("std", stats.std)):
        table.add_row(f"{name}{of}", format_number(value))
    table.add_row("NaN / Inf", f"{stats.nan_count:,} / {stats.inf_count:,}")
    table.add_row("zeros", f"{stats.zero_count:,} ({stats.zero_fraction:.1%})")
    parts: list[RenderableType] = [table]
    if stats.histogram:
        parts += [Text("histogram", style="bold"), histogram_renderable(stats.histogram, width)]
    if stats.preview:
        parts += [Text("values", style="bold"), preview_renderable(stats.preview)]
    return Group(*parts)


def histogram_renderable(histogram: Histogram, width: int = 48, height: int = 6) -> Text:
    """A vertical bar chart of `height` rows, bins resampled to `width` columns, with the range beneath."""
    counts = _resample(list(histogram.counts), max(8, width))
    peak = max(counts) or 1
    levels = [c / peak * height * 8 for c in counts]
    text = Text()
    for row in range(height - 1, -1, -1):
        line = "".join(BARS[max(0, min(8, math.ceil(level - row * 8)))] if level > row * 8 else " " for level in levels)
        text.append(line + "\n", style="cyan")
    low, high = format_number(histogram.edges[0]), format_number(histogram.edges[-1])
    text.append(low + " " * max(1, len(counts) - len(low) - len(high)) + high)
    return text


def _resample(counts: list[int], width: int) -> list[int]:
    if len(counts) >= width:
        return counts
    repeat = width // len(counts)
    return [c for c in counts for _ in range(repeat)]


def preview_renderable(rows: tuple[tuple[Any, ...], ...]) -> Table:
    table = Table.grid(padding=(0, 1))
    for _ in rows[0]:
        table.add_column(justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*(format_number(v) for v in row))
    return table


def format_number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, complex):
        return f"{value.real:.4g}{value.imag:+.4g}j"
    return f"{value:.6g}"


def stats_json(stats: TensorStats) -> dict[str, Any]:
    def number(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return {
        "min": number(stats.min),
        "max": number(stats.max),
        "mean": number(stats.mean),
        "std": number(stats.std),
        "finite": stats.finite,
        "nan": stats.nan_count,
        "inf": stats.inf_count,
        "zeros": stats.zero_count,
        "of_magnitude": stats.of_magnitude,
        "histogram": None
        if stats.histogram is None
        else {"edges": list(stats.histogram.edges), "counts": list(stats.histogram.counts)},
    }
