"""PathPrompt: ask for one line of text (a checkpoint path, a model class) and return it, or None."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class PathPrompt(ModalScreen[str | None]):
    """A title, an input and a hint; Enter returns the text, Escape returns None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", tooltip="Close", id="cancel")]

    def __init__(self, title: str, placeholder: str, hint: str = "", value: str = "") -> None:
        super().__init__()
        self._title, self._placeholder, self._hint, self._value = title, placeholder, hint, value

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Static(Text(self._title, style="bold"))
            yield Input(value=self._value, placeholder=self._placeholder, id="prompt-input")
            yield Static(Text(self._hint, style="dim"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
