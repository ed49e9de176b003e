"""CheckpointHeader: what the checkpoint is, in the room there is; its warnings on a line of their own.

Priority at 80 columns: the warnings line is never dropped; on the facts line the counts stay, then the size,
framework and format, and the path takes what is left, cut from the left (`…/run3/last.ckpt`).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ckpt_tui.model import Notice, Severity
from ckpt_tui.render import human_bytes, human_count, printable
from ckpt_tui.reports import Summary

MIN_PATH = 12


class CheckpointHeader(Widget):
    """One line of facts, and one line of warnings when there are any."""

    DEFAULT_CSS = """
    CheckpointHeader { height: auto; padding: 0 1; background: $panel; color: $text; }
    """
    COMPONENT_CLASSES = {"checkpoint-header--warning", "checkpoint-header--path"}

    notices: reactive[tuple[Notice, ...]] = reactive((), layout=True)
    """Every notice so far (the reader's, and those found while computing statistics)."""

    def __init__(self, summary: Summary, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.summary = summary
        self.set_reactive(CheckpointHeader.notices, tuple(summary.notices))

    def render(self) -> Text:
        width = max(20, self.size.width - 2) if self.size.width else 78
        text = facts_line(self.summary, width)
        warnings = [n for n in self.notices if n.severity is Severity.WARNING]
        if warnings:
            text.append("\n")
            text.append(warnings_line(warnings, width), self.get_component_rich_style("checkpoint-header--warning"))
        return text


def facts_line(s: Summary, width: int) -> Text:
    params = s.state_dict_params or s.element_count
    facts = [
        f"{s.tensor_count:,} tensor{'' if s.tensor_count == 1 else 's'} · {human_count(params) or params} params",
        human_bytes(s.file_size),
        printable(s.framework),
        printable(s.format),
    ]
    while len(facts) > 1 and len(" · ".join(facts)) + MIN_PATH + 2 > width:
        facts.pop()
    tail = " · ".join(reversed(facts))
    room = width - len(tail) - 2
    text = Text()
    text.append(cut_left(printable(s.path), max(1, room)), style="bold")
    text.append("  " + tail)
    return text


def warnings_line(warnings: Sequence[Notice], width: int) -> str:
    count = f"⚠ {len(warnings)} warning notice{'s' if len(warnings) != 1 else ''}: "  # "notice": not the audit's
    more = "  (n: notices)"
    first = printable(warnings[0].message)
    room = max(8, width - len(count) - len(more))
    return count + (first if len(first) <= room else first[: room - 1] + "…") + more


def cut_left(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[len(text) - width + 1 :]
