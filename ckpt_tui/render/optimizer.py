"""Optimizer state by parameter name: param groups with their hyper-parameters, per-parameter state, totals.

Drawn for a width: the per-parameter table drops its least useful columns first (id, group, bytes, shape) and
never squeezes one to nothing; a parameter name folds rather than being cut.
"""

from __future__ import annotations

import math
from typing import Literal

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ckpt_tui.model import Entry, Kind
from ckpt_tui.render import human_bytes, printable
from ckpt_tui.render.text import describe, short_repr
from ckpt_tui.render.values import format_scalar
from ckpt_tui.reports import Naming, OptimizerReport, ParamGroup, ParamState

NAMING_STYLE = {Naming.PARAM_NAMES: "green", Naming.INFERRED: "yellow", Naming.REFUSED: "red", Naming.NONE: "dim"}
OPTIONAL = ("id", "group", "bytes", "shape")  # dropped in this order when the width is short


def optimizer_renderable(
    report: OptimizerReport, width: int | None = None, steps: dict[int, float] | None = None
) -> RenderableType:
    head = Text()
    head.append(f"optimizer at {printable(report.located.label)}", style="bold")
    ratio = f" ({report.optimizer_bytes / report.model_bytes:.1f}× the model)" if report.model_bytes else ""
    head.append(f"   {human_bytes(report.optimizer_bytes)} of state{ratio}\n")
    head.append(f"names: {report.naming} — {printable(report.naming_note)}", style=NAMING_STYLE.get(report.naming, ""))
    return Group(head, _groups_table(report, steps or {}, width), _params_table(report, width))


def _groups_table(report: OptimizerReport, steps: dict[int, float], width: int | None = None) -> Table:
    """Hyper-parameters as rows, groups as columns: optimizers have many hyper-parameters and few groups.
    Numbers get the digits their column has room for; other values fold rather than being cut."""
    names = ["params", "step", "effective lr", *(k for g in report.groups for k, _ in g.hyper)]
    groups, total = max(1, len(report.groups)), width or 120
    label = min(max(map(len, names)), max(14, total // 3))  # long hyper-parameter names fold, numbers do not
    room = max(7, (total - label - 3 * groups) // groups)
    table = Table(title="param groups", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("", style="bold", overflow="fold", max_width=label)
    for group in report.groups:
        table.add_column(f"group {group.index}", overflow="fold", min_width=min(room, 12))
    table.add_row("params", *(str(len(g.params)) for g in report.groups))
    if steps:
        table.add_row("step", *(format_scalar(steps.get(g.index), room) for g in report.groups))
        effective = [effective_lr(g, steps.get(g.index)) for g in report.groups]
        if any(e is not None for e in effective):
            table.add_row("effective lr", *(format_scalar(e, room) for e in effective))
    for name in dict.fromkeys(k for g in report.groups for k, _ in g.hyper):
        table.add_row(Text(printable(name)), *(_value(dict(g.hyper).get(name), room) for g in report.groups))
    return table


def effective_lr(group: ParamGroup, step: float | None) -> float | None:
    """The step size Adam-family optimizers take at `step`: lr·√(1−β₂ᵗ)/(1−β₁ᵗ) (bias correction); else lr."""
    hyper = dict(group.hyper)
    lr, betas = _number(hyper.get("lr")), hyper.get("betas")
    if lr is None:
        return None
    pair = [_number(e) for _, e in betas.children] if betas is not None and betas.kind is Kind.SEQUENCE else []
    if step is None or len(pair) != 2 or None in pair or step < 1:
        return lr
    b1, b2 = pair
    return float(lr * math.sqrt(1 - b2**step) / (1 - b1**step))  # type: ignore[operator]


def _number(entry: Entry | None) -> float | None:
    if entry is not None and entry.kind is Kind.VALUE and isinstance(entry.value, int | float):
        return float(entry.value)
    return None


def _params_table(report: OptimizerReport, width: int | None) -> Table:
    rows = [_row(report, p) for p in report.params]
    longest = {c: max((len(r[c].plain) for r in rows), default=1) for c in ("id", "group", "state", "shape", "bytes")}
    columns = ["id", "parameter", "group", "state", "shape", "bytes"]
    name = 9
    if width is not None:
        name = min(max(24, width // 2), max((len(r["parameter"].plain) for r in rows), default=9))
        for column in OPTIONAL:
            if name + sum(max(len(c), longest.get(c, 0)) + 3 for c in columns if c != "parameter") <= width:
                break
            columns.remove(column)
    table = Table(title="per-parameter state", title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        if column == "parameter":
            table.add_column(column, ratio=1, overflow="fold", min_width=name)
        else:
            right: Literal["right", "left"] = "right" if column in ("id", "group", "bytes") else "left"
            table.add_column(column, justify=right, no_wrap=True, min_width=max(len(column), longest[column]))
    for r in rows:
        table.add_row(*(r[c] for c in columns))
    return table


def _row(report: OptimizerReport, p: ParamState) -> dict[str, Text]:
    label = Text(printable(p.name), style="yellow" if report.naming == Naming.INFERRED else "") if p.name else Text("?")
    shapes = [list(e.tensor.shape) for _, e in p.state if e.kind is Kind.TENSOR and e.tensor.numel > 1]
    return {
        "id": Text(printable(p.param_id)),
        "parameter": label,
        "group": Text(str(p.group)),
        "state": Text(printable(", ".join(k for k, _ in p.state))),
        "shape": Text(str(shapes[0]) if shapes else ""),
        "bytes": Text(human_bytes(p.nbytes)),
    }


def _value(entry: Entry | None, room: int = 24) -> Text:
    if entry is None:
        return Text("")
    if entry.kind is Kind.VALUE:
        if isinstance(entry.value, float):
            return Text(format_scalar(entry.value, room))
        return Text(printable(short_repr(entry.value, 24)), overflow="fold")
    if entry.kind is Kind.SEQUENCE and all(e.kind is Kind.VALUE for _, e in entry.children):
        items = [
            format_scalar(e.value, room) if isinstance(e.value, float) else short_repr(e.value, 12)
            for _, e in entry.children
        ]
        return Text(printable("(" + ", ".join(items) + ")"), overflow="fold")
    return Text(printable(describe(entry)), overflow="fold")
