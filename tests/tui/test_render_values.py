"""Numbers drawn for the width they get: never cut inside a number, histograms that never wrap."""

from __future__ import annotations

import re

from rich.console import Console

from ckpt_tui.core.stats import Histogram
from ckpt_tui.render.histogram import histogram_renderable, quantiles, resample
from ckpt_tui.render.values import format_scalar, slice_label, values_grid

NUMBER = re.compile(r"^-?(\d+(\.\d+)?(e[-+]\d+)?|nan|inf|-inf|True|False)$")


def rendered(renderable: object, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text().splitlines()


def test_small_values_keep_their_exponent_at_every_width() -> None:
    preview = tuple(tuple(-8.3212e-05 * (1 + i + j) for j in range(8)) for i in range(8))
    for width in (20, 30, 44, 80, 120):
        caption, grid = values_grid(preview, (64, 3, 8, 8), width)
        lines = rendered(grid, width)
        assert all(len(line.rstrip()) <= width for line in lines)
        cells = [c for line in lines[1:] for c in line.split()[1:]]
        assert cells and all(NUMBER.match(c) and "e-0" in c for c in cells), (width, cells)
        assert "…" not in "".join(lines)
        shown = len(lines[0].split())
        assert caption.plain == f"values {slice_label((64, 3, 8, 8), 8, shown)}"
    assert rendered(values_grid(preview, (64, 3, 8, 8), 120)[0], 120)[0] == "values [0, 0, :, :] of [64, 3, 8, 8]"


def test_grid_labels_rows_and_columns_and_the_slice() -> None:
    preview = tuple(tuple(float(i * 10 + j) for j in range(8)) for i in range(8))
    caption, grid = values_grid(preview, (16, 32), 40)
    lines = rendered(grid, 40)
    header = lines[0].split()
    assert header == [str(i) for i in range(len(header))]
    assert [line.split()[0] for line in lines[1:]] == [str(i) for i in range(8)]
    assert caption.plain == f"values [:8, :{len(header)}] of [16, 32]"
    assert slice_label((5,), 1, 5) == "[:] of [5]" and slice_label((), 1, 1) == "the scalar"


def test_scalars_fit_their_width_without_cutting() -> None:
    for value in (-8.3212e-05, 123456789.123, 1e300, -0.0, 3.5, float("nan")):
        for width in (8, 10, 12):
            text = format_scalar(value, width)
            assert NUMBER.match(text), text
            assert len(text) <= max(width, 8)


def test_histogram_fits_any_width_marks_zero_and_takes_log_counts() -> None:
    histogram = Histogram(tuple(float(e) for e in range(-16, 17)), tuple([1000] + [1] * 31))
    for width in (8, 20, 31, 32, 33, 90):
        for log in (False, True):
            lines = histogram_renderable(histogram, width, log=log).plain.splitlines()
            assert len(lines) == 8 and all(len(line) <= width for line in lines), (width, lines)
    axis = histogram_renderable(histogram, 64).plain.splitlines()[-2]
    assert axis.index("┴") == 32  # zero sits in the middle of [-16, 16]
    linear = histogram_renderable(histogram, 32).plain.splitlines()
    logged = histogram_renderable(histogram, 32, log=True).plain.splitlines()
    assert linear[5][5] == "▁" and logged[5][5] in "▃▄▅▆▇█"  # a bin of 1 beside one of 1000: taller on a log scale
    assert resample([1, 2, 3, 4], 2) == [3, 7] and resample([1, 2], 4) == [1, 1, 2, 2]


def test_quantiles_come_from_the_histogram_clamped_to_the_exact_range() -> None:
    histogram = Histogram((0.0, 1.0, 2.0, 3.0, 4.0), (25, 25, 25, 25))
    found = dict(quantiles(histogram))
    assert found[0.5] == 2.0 and found[0.25] == 1.0 and abs(found[0.99] - 3.96) < 1e-9
    single = Histogram((3.5, 4.5), (10,))
    assert {v for _, v in quantiles(single, low=3.5, high=3.5)} == {3.5}
