"""`inspect --stats`: one row of statistics per tensor."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ckpt_tui.render import printable
from ckpt_tui.render.tensor import format_number
from ckpt_tui.reports import TensorStats


def stats_table(stats: dict[str, TensorStats]) -> Table:
    table = Table(title="statistics (over finite values; complex: of |z|)", title_justify="left", show_edge=False)
    table.add_column("tensor", no_wrap=True)
    for column in ("min", "max", "mean", "std", "NaN", "Inf", "zeros"):
        table.add_column(column, justify="right", no_wrap=True)
    for key, s in stats.items():
        flagged = s.nan_count or s.inf_count
        table.add_row(
            Text(printable(key), style="red" if flagged else ""),
            format_number(s.min),
            format_number(s.max),
            format_number(s.mean),
            format_number(s.std),
            f"{s.nan_count:,}",
            f"{s.inf_count:,}",
            f"{s.zero_fraction:.1%}",
        )
    return table
