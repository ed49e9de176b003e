"""RunPlots: a sparkline per metric over the run, in training order, with its first, last, min and max."""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from ckpt_tui.render import printable
from ckpt_tui.reports import Drift, RunReport

MAX_PLOTS = 6


class RunPlots(Vertical):
    """One row per metric (and drift once computed): name, sparkline, and its range."""

    DEFAULT_CSS = """
    RunPlots { height: auto; max-height: 8; padding: 0 1; }
    RunPlots Horizontal { height: 1; }
    RunPlots .plot-name { width: 16; }
    RunPlots Sparkline { width: 1fr; height: 1; }
    RunPlots .plot-range { width: 44; padding-left: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.series: dict[str, list[float]] = {}

    def compose(self) -> ComposeResult:
        yield from ()

    def show(self, report: RunReport, drift: dict[str, Drift]) -> None:
        series = {name: _values(report, name) for name in report.metric_names[:MAX_PLOTS]}
        drifts = [drift[m.path].rel_l2 for m in report.members if m.path in drift]
        series["drift"] = [d for d in drifts if d is not None and math.isfinite(d)]
        series = {k: v for k, v in series.items() if v}
        if series == self.series:
            return
        self.series = series
        self.remove_children()
        self.mount_all(_row(name, values) for name, values in series.items())


def _values(report: RunReport, name: str) -> list[float]:
    out = []
    for m in report.members:
        value = m.metrics.get(name)
        if value is not None and math.isfinite(float(value.value)):
            out.append(float(value.value))
    return out


def _row(name: str, values: list[float]) -> Horizontal:
    summary = f"{values[0]:.4g} → {values[-1]:.4g}  min {min(values):.4g}  max {max(values):.4g}"
    return Horizontal(
        Label(Text(printable(name)), classes="plot-name"),
        Sparkline(values, summary_function=max),
        Label(summary, classes="plot-range"),
    )
