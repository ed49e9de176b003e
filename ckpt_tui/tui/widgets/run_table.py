"""RunTable: one row per checkpoint of a run; sortable by any column; marks for picking two; drift and NaN flags."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widgets import DataTable

from ckpt_tui.render import human_bytes, printable
from ckpt_tui.render.runs import resume_text
from ckpt_tui.reports import Drift, RunMember, RunReport

SHOWN_METRICS = 4
ORDER = "order"


class RunTable(DataTable[Text]):
    """The members of a RunReport; row keys are checkpoint paths."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_mark", "Mark", tooltip="Mark or unmark a checkpoint (mark two, then d)", id="mark"),
        Binding("s", "next_sort", "Sort", tooltip="Sort by the next column (training order first)", id="sort"),
    ]

    sort_by: reactive[str] = reactive(ORDER)
    """The column the rows are sorted by (ORDER: training order)."""
    reverse: reactive[bool] = reactive(False)
    """Sort descending."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.report: RunReport | None = None
        self.drift: dict[str, Drift] = {}
        self.marked: list[str] = []
        self._columns: tuple[str, ...] = ()

    @property
    def columns_shown(self) -> tuple[str, ...]:
        metrics = self.report.metric_names[:SHOWN_METRICS] if self.report else []
        return ("✓", "", "checkpoint", "step", "epoch", *metrics, "drift", "NaN/Inf", "size", "resume")

    @property
    def current_path(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def show(self, report: RunReport) -> None:
        self.report = report
        self.marked = [p for p in self.marked if report.member(p) is not None]
        self.refill()

    def set_drift(self, drift: Drift) -> None:
        self.drift[drift.b] = drift
        self.refill()

    def action_toggle_mark(self) -> None:
        path = self.current_path
        if path is None:
            return
        if path in self.marked:
            self.marked.remove(path)
        else:
            self.marked = [*self.marked, path][-2:]
        self.refill()

    def action_next_sort(self) -> None:
        sortable = [c for c in self.columns_shown if c not in ("✓", "", "resume")]
        current = sortable.index(self.sort_by) if self.sort_by in sortable else -1
        self.sort_by = ORDER if current + 1 >= len(sortable) else sortable[current + 1]

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        label = str(event.column_key.value)
        if label == self.sort_by:
            self.reverse = not self.reverse
        else:
            self.sort_by, self.reverse = label, False

    def watch_sort_by(self) -> None:
        self.refill()

    def watch_reverse(self) -> None:
        self.refill()

    def refill(self) -> None:
        if self.report is None or not self.is_mounted:
            return
        keep = self.current_path
        columns = self.columns_shown
        if columns != self._columns:
            self.clear(columns=True)
            for c in columns:
                self.add_column(c, key=c)
            self._columns = columns
        else:
            self.clear()
        for member in self._sorted(list(self.report.members)):
            self.add_row(*self._cells(member, columns), key=member.path)
        if keep is not None and keep in {m.path for m in self.report.members}:
            self.move_cursor(row=self.get_row_index(keep))

    def _sorted(self, members: list[RunMember]) -> list[RunMember]:
        if self.sort_by == ORDER:
            return members[::-1] if self.reverse else members
        key = self._sort_key(self.sort_by)
        present = [m for m in members if key(m) is not None]
        present.sort(key=lambda m: key(m), reverse=self.reverse)  # type: ignore[arg-type, return-value]
        return present + [m for m in members if key(m) is None]

    def _sort_key(self, column: str) -> Callable[[RunMember], object]:
        simple: dict[str, Callable[[RunMember], object]] = {
            "checkpoint": lambda m: m.name,
            "step": lambda m: m.step.value if m.step else None,
            "epoch": lambda m: m.epoch.value if m.epoch else None,
            "size": lambda m: m.size,
            "drift": lambda m: self._drift_value(m),
            "NaN/Inf": lambda m: self._nonfinite(m),
        }
        return simple.get(column, lambda m: _metric(m, column))

    def _cells(self, m: RunMember, columns: tuple[str, ...]) -> list[Text]:
        variables = self.app.theme_variables
        flags = ("★" if m.best else "") + ("⟳" if m.latest else "")
        name = m.name + ("/" if m.is_dir else "") + (f" -> {m.symlink}" if m.symlink else "")
        name += "".join(f" <- {link}" for link in m.links)
        cells = {
            "✓": Text("✓" if m.path in self.marked else "", style=variables.get("accent", "")),
            "": Text(flags, style=variables.get("warning", "")),
            "checkpoint": Text(printable(name), style="bold" if m.best else ""),
            "step": Text(_number(m.step.value if m.step else None)),
            "epoch": Text(_number(m.epoch.value if m.epoch else None)),
            "drift": Text(_number(self._drift_value(m))),
            "NaN/Inf": self._nonfinite_cell(m),
            "size": Text(human_bytes(m.size)),
            "resume": Text(resume_text(m.resume)),
        }
        return [cells.get(c) or Text(_number(_metric(m, c))) for c in columns]

    def _drift_value(self, m: RunMember) -> float | None:
        drift = self.drift.get(m.path)
        return drift.rel_l2 if drift is not None else None

    def _nonfinite(self, m: RunMember) -> int | None:
        drift = self.drift.get(m.path)
        return drift.nonfinite_b if drift is not None else m.nonfinite

    def _nonfinite_cell(self, m: RunMember) -> Text:
        drift, count = self.drift.get(m.path), self._nonfinite(m)
        if count is None:
            return Text("")
        if count == 0:
            return Text("0")
        loud = "bold reverse " + self.app.theme_variables.get("error", "red")
        new = drift is not None and drift.introduced_nonfinite
        return Text(
            f"{count:,}{' NEW!' if new else ''}", style=loud if new else self.app.theme_variables.get("error", "")
        )


def _metric(m: RunMember, name: str) -> float | int | None:
    value = m.metrics.get(name)
    return value.value if value is not None else None


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)
