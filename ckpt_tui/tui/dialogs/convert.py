"""ConvertDialog: choose format, key rules, dtype and output; convert in a worker; show the report."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, Select, Static

from ckpt_tui.converters.convert import convert, default_output
from ckpt_tui.converters.options import ConvertOptions
from ckpt_tui.core.keys import make_rules
from ckpt_tui.model import Checkpoint
from ckpt_tui.render import printable
from ckpt_tui.render.convert import convert_renderable
from ckpt_tui.reports import ConvertReport, OutputFormat
from ckpt_tui.tui.messages import Progressed, WorkFailed
from ckpt_tui.tui.work import start_work


@dataclass
class ConvertFinished(Message):
    report: ConvertReport


class ConvertDialog(ModalScreen[None]):
    """Convert the open checkpoint; the work runs in a thread, the dialog shows progress and the report."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="Close (cancels a running conversion)", id="close_convert")
    ]

    def __init__(self, ckpt: Checkpoint) -> None:
        super().__init__()
        self.ckpt = ckpt
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(id="convert-box"):
            yield Static(Text(printable(f"Convert {self.ckpt.path}"), style="bold"))
            with Horizontal(classes="convert-row"):
                yield Select(
                    [("safetensors", "safetensors"), (".pth", "pth")],
                    value="safetensors",
                    allow_blank=False,
                    id="convert-to",
                )
                yield Select(
                    [("keep dtypes", ""), ("bf16", "bf16"), ("fp16", "fp16"), ("fp32", "fp32")],
                    value="",
                    allow_blank=False,
                    id="convert-dtype",
                )
            yield Checkbox("strip wrapper prefixes (module., _orig_mod., FSDP)", id="convert-strip")
            yield Label("output")
            yield Input(default_output(self.ckpt.path, "safetensors"), id="convert-output")
            yield Checkbox("replace an existing output", id="convert-force")
            yield ProgressBar(show_eta=False, id="convert-progress")
            with VerticalScroll(id="convert-result-view"):
                yield Static(id="convert-result")
            with Horizontal(classes="convert-row"):
                yield Button("Convert", variant="primary", id="convert-run")
                yield Button("Close", id="convert-close")

    @on(Select.Changed, "#convert-to")
    def _format_changed(self, event: Select.Changed) -> None:
        self.query_one("#convert-output", Input).value = default_output(self.ckpt.path, str(event.value))

    @on(Button.Pressed, "#convert-run")
    def _run(self) -> None:
        dtype = self.query_one("#convert-dtype", Select).value
        options = ConvertOptions(
            output=self.query_one("#convert-output", Input).value.strip() or None,
            to=OutputFormat(str(self.query_one("#convert-to", Select).value)),
            rules=make_rules(strip_wrappers=self.query_one("#convert-strip", Checkbox).value),
            dtype=str(dtype) or None,
            force=self.query_one("#convert-force", Checkbox).value,
        )
        self.query_one("#convert-run", Button).disabled = True
        self.query_one("#convert-result", Static).update(Text("converting…", style="dim"))
        self._cancel = cancel = threading.Event()
        ckpt = self.ckpt

        def work() -> None:
            def progress(done: int, total: int) -> None:
                self.post_message(Progressed("convert", done, total))

            self.post_message(ConvertFinished(convert(ckpt, options, progress, cancel)))

        start_work(self, work, name="Conversion", group="convert")

    def on_progressed(self, message: Progressed) -> None:
        self.query_one(ProgressBar).update(total=message.total, progress=message.done)

    def on_convert_finished(self, message: ConvertFinished) -> None:
        self.query_one("#convert-run", Button).disabled = False
        self.query_one("#convert-result", Static).update(convert_renderable(message.report))

    def on_work_failed(self, message: WorkFailed) -> None:
        self.query_one("#convert-run", Button).disabled = False
        self.query_one("#convert-result", Static).update(Text(printable(f"conversion failed: {message.error}"), "red"))

    @on(Button.Pressed, "#convert-close")
    def action_close(self) -> None:
        self._cancel.set()
        self.dismiss()
