"""Optimizer state by parameter name: param groups with their hyper-parameters, per-parameter state, totals."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ckpt_tui.model import Entry, Kind
from ckpt_tui.render import human_bytes, printable
from ckpt_tui.render.text import describe, short_repr
from ckpt_tui.reports import Naming, OptimizerReport

NAMING_STYLE = {Naming.PARAM_NAMES: "green", Naming.INFERRED: "yellow", Naming.REFUSED: "red", Naming.NONE: "dim"}


def optimizer_renderable(report: OptimizerReport) -> RenderableType:
    head = Text()
    head.append(f"optimizer at {printable(report.located.label)}", style="bold")
    ratio = f" ({report.optimizer_bytes / report.model_bytes:.1f}× the model)" if report.model_bytes else ""
    head.append(f"   {human_bytes(report.optimizer_bytes)} of state{ratio}\n")
    head.append(f"names: {report.naming} — {report.naming_note}", style=NAMING_STYLE.get(report.naming, ""))
    return Group(head, _groups_table(report), _params_table(report))


def _groups_table(report: OptimizerReport) -> Table:
    """Hyper-parameters as rows, groups as columns: optimizers have many hyper-parameters and few groups."""
    table = Table(title="param groups", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("", style="bold", no_wrap=True)
    for group in report.groups:
        table.add_column(f"group {group.index}", no_wrap=True)
    table.add_row("params", *(str(len(g.params)) for g in report.groups))
    for name in dict.fromkeys(k for g in report.groups for k, _ in g.hyper):
        table.add_row(Text(printable(name)), *(_value(dict(g.hyper).get(name)) for g in report.groups))
    return table


def _params_table(report: OptimizerReport) -> Table:
    table = Table(title="per-parameter state", title_justify="left", show_edge=False, pad_edge=False)
    longest = max((len(p.name or "?") for p in report.params), default=9)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("parameter", min_width=min(48, longest), no_wrap=True)
    table.add_column("group", justify="right", no_wrap=True)
    table.add_column("state", ratio=1)
    table.add_column("shape", no_wrap=True)
    table.add_column("bytes", justify="right", no_wrap=True)
    for p in report.params:
        name = (
            Text(printable(p.name), style="yellow" if report.naming == Naming.INFERRED else "") if p.name else Text("?")
        )
        shapes = [list(e.tensor.shape) for _, e in p.state if e.kind is Kind.TENSOR and e.tensor.numel > 1]  # type: ignore[union-attr]
        state = Text(printable(", ".join(k for k, _ in p.state)))
        table.add_row(
            str(p.param_id), name, str(p.group), state, str(shapes[0]) if shapes else "", human_bytes(p.nbytes)
        )
    return table


def _value(entry: Entry | None) -> Text:
    if entry is None:
        return Text("")
    if entry.kind is Kind.VALUE:
        return Text(printable(short_repr(entry.value, 24)))
    if entry.kind is Kind.SEQUENCE and all(e.kind is Kind.VALUE for _, e in entry.children):
        return Text(printable("(" + ", ".join(short_repr(e.value, 12) for _, e in entry.children) + ")"))
    return Text(printable(describe(entry)))
