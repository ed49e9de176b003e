"""ReportDialog: a scrollable report (a check result) over the current screen."""

from __future__ import annotations

from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ckpt_tui.render import printable


class ReportDialog(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "dismiss", "Close", tooltip="Close the report", id="close_report")
    ]

    def __init__(self, title: str, body: RenderableType) -> None:
        super().__init__()
        self._title, self._body = title, body

    def compose(self) -> ComposeResult:
        with Vertical(id="report-box"):
            yield Static(Text(printable(self._title), style="bold"))
            with VerticalScroll():
                yield Static(self._body, id="report-body")
