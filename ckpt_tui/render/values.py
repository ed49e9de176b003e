"""Numbers formatted for the width they get: a grid of values never cuts inside a number.

The grid shows fewer columns, fewer digits or scientific notation before it would crop, labels rows and columns
with their indices, and says which slice of the tensor it shows (`[0, :8, :8] of [64, 3, 8, 8]`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

MIN_PRECISION = 2
MAX_PRECISION = 5


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """One format for every cell of a grid, so that columns line up and compare at a glance."""

    kind: str  # "int" | "fixed" | "sci" | "bool" | "complex"
    precision: int

    def __call__(self, value: Any) -> str:
        if isinstance(value, bool) or self.kind == "bool":
            return str(bool(value))
        if self.kind == "int" and isinstance(value, int):
            return str(value)
        if isinstance(value, complex) or self.kind == "complex":
            z = complex(value)
            return f"{z.real:.{self.precision}g}{z.imag:+.{self.precision}g}j"
        x = float(value)
        if not math.isfinite(x):
            return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
        if self.kind == "sci":
            return f"{x:.{max(0, self.precision - 1)}e}"
        return f"{x:.{self.precision}f}"


def choose_format(values: Sequence[Any], significant: int = 4) -> NumberFormat:
    """Fixed point when every magnitude sits in [1e-3, 1e5), else scientific; ints and bools as they are."""
    if values and all(isinstance(v, bool) for v in values):
        return NumberFormat("bool", 0)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return NumberFormat("int", 0)
    if any(isinstance(v, complex) for v in values):
        return NumberFormat("complex", significant)
    finite = [abs(float(v)) for v in values if math.isfinite(float(v)) and v != 0]
    if not finite:
        return NumberFormat("fixed", 1)
    low, high = min(finite), max(finite)
    if low < 1e-3 or high >= 1e5:
        return NumberFormat("sci", significant)
    decimals = max(0, significant - 1 - math.floor(math.log10(high))) if high >= 1 else significant
    return NumberFormat("fixed", min(decimals, 6))


def format_scalar(value: Any, width: int = 12) -> str:
    """One number in at most `width` cells, never cut: the most significant digits (up to 6) that fit."""
    if value is None:
        return "-"
    if not isinstance(value, float | complex):
        return str(value)
    if isinstance(value, complex):
        return NumberFormat("complex", 4)(value)
    text = f"{value:.{MIN_PRECISION}g}"
    for precision in range(6, MIN_PRECISION - 1, -1):
        candidate = f"{value:.{precision}g}"
        if len(candidate) <= width:
            return candidate
    return text


def slice_label(shape: tuple[int, ...], rows: int, columns: int) -> str:
    """Which part of a tensor of `shape` a grid of rows x columns shows, as a subscript."""
    if not shape:
        return "the scalar"
    lead = ["0"] * max(0, len(shape) - 2)
    if len(shape) == 1:
        tail = [_span(columns, shape[0])]
    else:
        tail = [_span(rows, shape[-2]), _span(columns, shape[-1])]
    return f"[{', '.join(lead + tail)}] of {list(shape)}"


def _span(n: int, size: int) -> str:
    return ":" if n >= size else f":{n}"


def values_grid(preview: Sequence[Sequence[Any]], shape: tuple[int, ...], width: int) -> tuple[Text, Table]:
    """A caption saying which slice, and the grid: as many columns as fit `width`, every number whole."""
    columns_available = max((len(r) for r in preview), default=0)
    flat = [v for row in preview for v in row]
    index_width = len(str(max(0, len(preview) - 1)))
    fmt, cells, shown = _fit(flat, preview, columns_available, width - index_width - 1)
    caption = Text(f"values {slice_label(shape, len(preview), shown)}", style="bold")
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right", style="dim", no_wrap=True)
    for _ in range(shown):
        table.add_column(justify="right", no_wrap=True)
    if len(shape) >= 1:
        table.add_row("", *(Text(str(c), style="dim") for c in range(shown)))
    for i, row in enumerate(cells):
        table.add_row(str(i) if len(shape) >= 2 else "", *row[:shown])
    del fmt
    return caption, table


def _fit(
    flat: list[Any], preview: Sequence[Sequence[Any]], available: int, width: int
) -> tuple[NumberFormat, list[list[str]], int]:
    """The most digits that still show the wanted columns; then fewer columns at the fewest digits."""
    wanted = min(available, 4)
    for precision in range(4, MIN_PRECISION - 1, -1):
        fmt = choose_format(flat, precision)
        cells = [[fmt(v) for v in row] for row in preview]
        cell = max((len(c) for row in cells for c in row), default=1)
        fits = max(1, (width + 1) // (cell + 1))
        if fits >= wanted or precision == MIN_PRECISION:
            return fmt, cells, min(available, fits)
    raise AssertionError("unreachable")
