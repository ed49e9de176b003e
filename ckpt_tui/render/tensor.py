"""One tensor: its facts, its statistics, a histogram and a value preview (TUI detail pane, `inspect --stats`)."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ckpt_tui.model import TensorInfo
from ckpt_tui.render import human_bytes, printable
from ckpt_tui.render.histogram import histogram_renderable, quantiles_text
from ckpt_tui.render.values import format_scalar, values_grid
from ckpt_tui.reports import TensorStats


def facts_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    return table


def tensor_info_renderable(info: TensorInfo, shared_with: list[str]) -> RenderableType:
    """The facts, compact enough to leave the statistics on an 80x24 first screen."""
    table = facts_table()
    table.add_row("key", Text(printable(info.key), overflow="fold"))
    parameter = " parameter" if info.is_parameter else ""
    table.add_row("shape", f"{list(info.shape)} {info.dtype}{parameter}  ({info.numel:,} elements)")
    layout = "" if info.is_contiguous else "  non-contiguous view"
    table.add_row("bytes", f"{human_bytes(info.nbytes)} ({info.nbytes:,} B) · stride {list(info.stride)}{layout}")
    storage = info.storage
    where = f"member {storage.member}" if storage.member else f"offset {storage.offset:,}"
    facts = f"{storage.key or '-'}: {storage.numel:,} × {storage.dtype}, {where}, saved on {info.device}"
    table.add_row("storage", Text(printable(facts), overflow="fold"))
    if info.storage_offset:
        table.add_row("offset", f"{info.storage_offset:,} elements into its storage")
    if info.quantization:
        q = info.quantization
        table.add_row("quantized", f"{q.scheme} scale={q.scale} zero_point={q.zero_point}")
    if shared_with:
        shown = ", ".join(shared_with[:6]) + (f" (+{len(shared_with) - 6} more)" if len(shared_with) > 6 else "")
        table.add_row("shares", Text(printable(shown)))
    return table


def stats_renderable(
    stats: TensorStats,
    width: int = 48,
    log: bool = False,
    shape: tuple[int, ...] | None = None,
    histogram_height: int = 6,
) -> RenderableType:
    """Statistics, the histogram with quantiles, and the values grid, all drawn for `width` cells."""
    table = facts_table()
    of = " of |z|" if stats.of_magnitude else ""
    for name, value in (("min", stats.min), ("max", stats.max), ("mean", stats.mean), ("std", stats.std)):
        table.add_row(f"{name}{of}", format_scalar(value, max(8, width - 12)))
    table.add_row(
        "NaN/Inf/0",
        f"{stats.nan_count:,} / {stats.inf_count:,} / {stats.zero_count:,} zeros ({stats.zero_fraction:.1%})",
    )
    parts: list[RenderableType] = [table]
    if stats.histogram:
        title = "histogram" + (" (log counts)" if log else "")
        parts += [Text(title, style="bold"), histogram_renderable(stats.histogram, width, histogram_height, log)]
        parts.append(quantiles_text(stats.histogram, width, *_bounds(stats)))
    if stats.preview:
        caption, grid = values_grid(stats.preview, _preview_shape(stats) if shape is None else shape, width)
        parts += [caption, grid]
    return Group(*parts)


def _bounds(stats: TensorStats) -> tuple[float | None, float | None]:
    exact = isinstance(stats.min, int | float) and isinstance(stats.max, int | float)
    return (float(stats.min), float(stats.max)) if exact else (None, None)  # type: ignore[arg-type]


def _preview_shape(stats: TensorStats) -> tuple[int, ...]:
    rows = stats.preview
    return (len(rows[0]),) if len(rows) == 1 else (len(rows), len(rows[0]))


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
