"""ErrorDialog: one error, said plainly; the app stays usable behind it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ckpt_tui.render import printable


class ErrorDialog(ModalScreen[None]):
    """Shows an error message until dismissed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "dismiss", "Close", tooltip="Close this message", id="close_error")
    ]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self._title, self._message = title, message

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box"):
            yield Static(Text(printable(self._title), style="bold"), id="error-title")
            yield Static(Text(printable(self._message)), id="error-message")
            yield Button("OK", variant="error", id="error-ok")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss()
