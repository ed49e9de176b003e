"""DiffTable: one row per key, coloured by status; filter to changes, sort by error."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widgets import DataTable

from ckpt_tui.render import printable
from ckpt_tui.render.tensor import format_number
from ckpt_tui.reports import DiffReport, TensorDiff

COLUMNS = ("tensor", "status", "A", "B", "max |a-b|", "rel L2", "cosine")


class DiffTable(DataTable[Text]):
    """The keys of a DiffReport; row keys are tensor keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "toggle_changed", "Changes only", tooltip="Show only keys that differ", id="changes_only"),
        Binding("e", "toggle_sort", "Sort by error", tooltip="Sort by relative error, or by file order", id="sort"),
    ]

    changed_only: reactive[bool] = reactive(False)
    """Hide keys that are equal."""
    by_error: reactive[bool] = reactive(False)
    """Largest relative error first instead of file order."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.report: DiffReport | None = None

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)

    def show(self, report: DiffReport) -> None:
        self.report = report
        self._refill()

    def watch_changed_only(self) -> None:
        self._refill()

    def watch_by_error(self) -> None:
        self._refill()

    def action_toggle_changed(self) -> None:
        self.changed_only = not self.changed_only

    def action_toggle_sort(self) -> None:
        self.by_error = not self.by_error

    def _refill(self) -> None:
        if self.report is None or not self.is_mounted:
            return
        self.clear()
        rows = [
            t for t in self.report.tensors if not (self.changed_only and t.status == "equal" and not t.dtype_changed)
        ]
        if self.by_error:
            rows.sort(key=lambda t: -(t.metrics.rel_l2 if t.metrics else float("inf")))
        for t in rows:
            self.add_row(*self._cells(t), key=t.key)
        for side, keys in (("only in A", self.report.only_a), ("only in B", self.report.only_b)):
            for key in keys:
                self.add_row(Text(printable(key)), self._status(side), Text(""), Text(""), Text(""), Text(""), Text(""))

    def _cells(self, t: TensorDiff) -> list[Text]:
        m = t.metrics
        status = "dtype" if t.dtype_changed and t.status != "shape" else t.status
        return [
            Text(printable(t.key)),
            self._status(status),
            Text(f"{t.a.dtype} {list(t.a.shape)}"),
            Text(f"{t.b.dtype} {list(t.b.shape)}"),
            Text(format_number(m.max_abs) if m else ""),
            Text(format_number(m.rel_l2) if m else ""),
            Text(format_number(m.cosine) if m else ""),
        ]

    def _status(self, status: str) -> Text:
        variables = self.app.theme_variables
        colour = {"equal": "success", "changed": "warning", "shape": "error", "dtype": "warning"}.get(status, "accent")
        return Text(status, style=variables.get(colour, ""))
