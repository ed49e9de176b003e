"""DiffTable: one row per key, the answer first (error metrics), then status and the two sides.

Rows: the model's weights first, then the other tensors (optimizer state…), keys present on one side, and the
non-tensor values that changed. Columns fit the width: the two sides' dtype/shape go first when room is short,
then the status; the key column and the metrics stay.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widgets import DataTable

from ckpt_tui.render import printable
from ckpt_tui.render.values import format_scalar
from ckpt_tui.reports import DiffReport, TensorDiff, ValueChange

METRICS = ("max |a−b|", "rel L2", "cosine", "outside tol")
WIDTHS = {"max |a−b|": 10, "rel L2": 10, "cosine": 10, "outside tol": 11, "status": 9, "A": 18, "B": 18}
DROP_ORDER = ("B", "A", "status")
MIN_KEY = 16


def row_key(kind: str, key: str) -> str:
    """Row keys say what a row is: t(ensor pair), a/b (only on that side), v(alue)."""
    return f"{kind}\0{key}"


def split_row_key(value: str) -> tuple[str, str]:
    kind, _, key = value.partition("\0")
    return kind, key


class DiffTable(DataTable[Text]):
    """The keys of a DiffReport."""

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
        self.model_prefix = ""
        self._columns: tuple[str, ...] = ()

    def show(self, report: DiffReport, model_prefix: str = "") -> None:
        """`model_prefix`: keys under it (the model's state dict) are listed first."""
        self.report, self.model_prefix = report, model_prefix
        self._refill()

    def watch_changed_only(self) -> None:
        self._refill()

    def watch_by_error(self) -> None:
        self._refill()

    def on_resize(self, event: events.Resize) -> None:
        if fit_columns(event.size.width) != self._columns:
            self._refill()

    def action_toggle_changed(self) -> None:
        self.changed_only = not self.changed_only

    def action_toggle_sort(self) -> None:
        self.by_error = not self.by_error

    def _refill(self) -> None:
        if self.report is None or not self.is_mounted:
            return
        cursor = self.cursor_row
        self.clear(columns=True)
        self._columns = fit_columns(self.size.width)
        key_width = max(MIN_KEY, self.size.width - sum(WIDTHS[c] + 2 for c in self._columns[1:]) - 3)
        self.add_column("tensor", width=key_width)
        for column in self._columns[1:]:
            self.add_column(column, width=WIDTHS[column])
        for kind, key, cells in self._rows(self.report, key_width):
            self.add_row(*(cells[c] for c in self._columns), key=row_key(kind, key))
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1))

    def _rows(self, report: DiffReport, key_width: int) -> list[tuple[str, str, dict[str, Text]]]:
        pairs = [t for t in report.tensors if not (self.changed_only and t.status == "equal" and not t.dtype_changed)]
        pairs.sort(key=lambda t: not t.key.startswith(self.model_prefix))
        if self.by_error:
            pairs.sort(key=lambda t: -(t.metrics.rel_l2 if t.metrics and t.metrics.rel_l2 is not None else -1.0))
        rows = [("t", t.key, self._cells(t, key_width)) for t in pairs]
        for kind, side, keys in (("a", "only in A", report.only_a), ("b", "only in B", report.only_b)):
            rows += [(kind, k, self._one_side(k, side, key_width)) for k in keys]
        rows += [("v", v.path, self._value(v, key_width)) for v in report.values]
        return rows

    def _cells(self, t: TensorDiff, key_width: int) -> dict[str, Text]:
        m = t.metrics
        status = "dtype" if t.dtype_changed and t.status != "shape" else t.status
        cells = self._bare(t.key, status, key_width)
        if m is not None:
            for column, value in zip(METRICS[:3], (m.max_abs, m.rel_l2, m.cosine), strict=True):
                cells[column] = Text(format_scalar(value, WIDTHS[column]), justify="right")
            cells["outside tol"] = Text(_share(m.mismatched, m.numel), justify="right")
        cells["A"] = Text(f"{t.a.dtype} {list(t.a.shape)}", overflow="ellipsis", no_wrap=True)
        cells["B"] = Text(f"{t.b.dtype} {list(t.b.shape)}", overflow="ellipsis", no_wrap=True)
        return cells

    def _bare(self, key: str, status: str, key_width: int) -> dict[str, Text]:
        cells = {c: Text("") for c in (*METRICS, "A", "B")}
        cells["tensor"] = Text(_fit(printable(key), key_width))
        cells["status"] = self._status(status)
        return cells

    def _one_side(self, key: str, side: str, key_width: int) -> dict[str, Text]:
        """Where the metrics would be, the side it is on: the status column is the first to go when narrow."""
        cells = self._bare(key, side, key_width)
        cells[METRICS[0]] = self._status(side)
        return cells

    def _value(self, v: ValueChange, key_width: int) -> dict[str, Text]:
        cells = self._bare(v.path, "value", key_width)
        cells["tensor"] = Text(_cut_end(printable(f"{v.path}  {_short(v.a)} → {_short(v.b)}"), key_width))
        cells["A"] = Text(printable(v.a if v.a is not None else "—"), overflow="ellipsis", no_wrap=True)
        cells["B"] = Text(printable(v.b if v.b is not None else "—"), overflow="ellipsis", no_wrap=True)
        return cells

    def _status(self, status: str) -> Text:
        variables = self.app.theme_variables
        colour = {
            "equal": "success",
            "changed": "warning",
            "nonfinite": "error",
            "shape": "error",
            "dtype": "warning",
        }.get(status, "accent")
        return Text(status, style=variables.get(colour, ""))


def fit_columns(width: int) -> tuple[str, ...]:
    columns = ["tensor", *METRICS, "status", "A", "B"]
    for column in DROP_ORDER:
        if MIN_KEY + sum(WIDTHS[c] + 2 for c in columns[1:]) + 3 <= width:
            break
        columns.remove(column)
    return tuple(columns)


def _share(mismatched: int, numel: int) -> str:
    """'12 / 4.1K' style, in the column's room: how many elements are outside the tolerance, of how many."""
    from ckpt_tui.render import human_count

    return f"{human_count(mismatched) or mismatched}/{human_count(numel) or numel}"


def _short(described: str | None) -> str:
    from ckpt_tui.tui.widgets.diff_header import value_text

    return value_text(described) if described is not None else "—"


def _cut_end(text: str, width: int) -> str:
    """A value row keeps its start: the path, then as much of the change as fits."""
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def _fit(text: str, width: int) -> str:
    """A long key keeps its end (the part that tells tensors apart): `…layers.3.attn.weight`."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1 :]
