"""DiffHeader: the verdict and counts, the non-tensor values that changed (epoch 3 → 4), and the wrapper hint."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from ckpt_tui.render import printable
from ckpt_tui.render.diff import tolerance_text
from ckpt_tui.reports import DiffReport, ValueChange
from ckpt_tui.tui.widgets.header import cut_left


class DiffHeader(Widget):
    DEFAULT_CSS = "DiffHeader { height: auto; max-height: 4; padding: 0 1; background: $panel; }"

    def __init__(self, a: str, b: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.paths = (a, b)
        self.report: DiffReport | None = None
        self.stripped = False
        self.error: str | None = None

    def computing(self, stripped: bool) -> None:
        self.report, self.stripped, self.error = None, stripped, None
        self.refresh(layout=True)

    def show(self, report: DiffReport, stripped: bool) -> None:
        self.report, self.stripped = report, stripped
        self.refresh(layout=True)

    def failed(self, error: str) -> None:
        self.error = error
        self.refresh(layout=True)

    def render(self) -> Text:
        width = max(20, self.size.width - 2) if self.size.width else 78
        if self.error is not None:
            return Text(printable(f"diff failed: {self.error}"), style="red")
        if self.report is None:
            half = max(8, width // 2 - 4)
            return Text(f"A {cut_left(printable(self.paths[0]), half)}  B {cut_left(printable(self.paths[1]), half)}")
        return _summary(self.report, self.stripped, width)


def _summary(report: DiffReport, stripped: bool, width: int) -> Text:
    text = Text()
    verdict = "identical" if report.identical else "different"
    text.append(verdict, style="bold green" if report.identical else "bold red")
    counts = (
        f"  {len(report.changed)} changed · {len(report.shape_changes)} shape · {len(report.only_a)} only A · "
        f"{len(report.only_b)} only B · {len(report.values)} values · {tolerance_text(report)}"
    )
    nonfinite, tied = len(report.nonfinite), len(report.tied_a) + len(report.tied_b)
    counts = (f"  {nonfinite} NaN/Inf changes ·" if nonfinite else "") + counts + (f" · {tied} tied" if tied else "")
    text.append(counts[: max(0, width - len(verdict))])
    if report.values:
        text.append("\n")
        text.append(_values_line(list(report.values), width))
    if report.hint and not stripped:
        text.append("\n")
        text.append(cut_right(f"hint: {printable(report.hint)}  (w: strip wrappers)", width), style="yellow")
    elif stripped:
        text.append("\nwrapper prefixes stripped on both sides (w: compare keys as saved)", style="dim")
    return text


def _values_line(values: list[ValueChange], width: int) -> str:
    items = [value_change_text(v) for v in values]
    line = "values: "
    for i, item in enumerate(items):
        sep = "" if i == 0 else " · "
        rest = len(items) - i - 1
        if i > 0 and len(line + sep + item + (f" (+{rest} more)" if rest else "")) > width:
            return line + f" (+{len(items) - i} more)"
        line += sep + item
    return cut_right(line, width)


def value_change_text(v: ValueChange) -> str:
    """`epoch 3 → 4`: the type said once when both sides share it, left out of the line."""
    a, b = _bare(v.a), _bare(v.b)
    if v.a is None:
        return printable(f"{v.path}: only in B ({b})")
    if v.b is None:
        return printable(f"{v.path}: only in A ({a})")
    return printable(f"{v.path} {a} → {b}")


def value_text(described: str) -> str:
    return _bare(described)


def _bare(described: str | None) -> str:
    """'3 (int)' -> '3': the diff describes values with their type in parentheses."""
    if described is None:
        return ""
    head, sep, tail = described.rpartition(" (")
    return head if sep and tail.endswith(")") and " " not in tail else described


def cut_right(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"
