"""SummaryPanel: the first thing seen on opening a checkpoint — where training stands and whether it can resume.

Three or four lines at any width: the audit verdict with epoch, step, lr and metrics; the findings counted by
severity, in colour; the top two errors or warnings. The audit reads no tensor data; small checkpoints are
audited while the screen mounts (so the first frame is whole), big ones in a thread worker. Click for the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import work
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from ckpt_tui.core.audit import audit
from ckpt_tui.errors import CkptError
from ckpt_tui.model import Checkpoint
from ckpt_tui.render import printable
from ckpt_tui.render.audit import HEADING, MARK, progress_line
from ckpt_tui.reports import SEVERITY_ORDER, AuditReport, FindingSeverity, Verdict

AUDIT_INLINE = 5000  # tensors: below this the audit runs while mounting (milliseconds), above it in a worker
TOP_FINDINGS = 2
VERDICT_CLASS = {
    Verdict.RESUMABLE: "summary-panel--resumable",
    Verdict.WEIGHTS_ONLY: "summary-panel--weights-only",
    Verdict.INCOMPLETE: "summary-panel--incomplete",
}
SEVERITY_CLASS = {
    FindingSeverity.ERROR: "summary-panel--error",
    FindingSeverity.WARNING: "summary-panel--warning",
    FindingSeverity.INFO: "summary-panel--info",
}


class SummaryPanel(Widget):
    """Verdict, progress and metrics, findings counted by severity, the top findings; click for the full audit."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *VERDICT_CLASS.values(),
        *SEVERITY_CLASS.values(),
        "summary-panel--dim",
    }
    DEFAULT_CSS = """
    SummaryPanel { height: auto; max-height: 4; padding: 0 1; background: $boost; color: $text; }
    SummaryPanel > .summary-panel--resumable { color: $success; text-style: bold; }
    SummaryPanel > .summary-panel--weights-only { color: $warning; text-style: bold; }
    SummaryPanel > .summary-panel--incomplete { color: $error; text-style: bold; }
    SummaryPanel > .summary-panel--error { color: $error; }
    SummaryPanel > .summary-panel--warning { color: $warning; }
    SummaryPanel > .summary-panel--info { color: $text-muted; }
    SummaryPanel > .summary-panel--dim { color: $text-muted; }
    """

    report: reactive[AuditReport | None] = reactive(None, layout=True)
    """The audit of the checkpoint; None while it runs."""

    @dataclass
    class Audited(Message):
        """The audit finished (posted from the worker)."""

        report: AuditReport | None
        error: str = ""

    def __init__(self, ckpt: Checkpoint, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.ckpt = ckpt
        self.error = ""
        if len(ckpt.tensors) <= AUDIT_INLINE:
            report, self.error = _audit(ckpt)
            self.set_reactive(SummaryPanel.report, report)

    def on_mount(self) -> None:
        if self.report is None and not self.error:  # after the first paint: the worker would slow it, GIL-bound
            self.call_after_refresh(self._run_audit)

    @work(thread=True, exclusive=True, group="audit")
    def _run_audit(self) -> None:
        self.post_message(self.Audited(*_audit(self.ckpt)))

    def on_summary_panel_audited(self, message: Audited) -> None:
        self.error = message.error
        self.report = message.report
        self.refresh(layout=True)

    def on_click(self, event: Click) -> None:
        if self.report is None:
            return
        from ckpt_tui.render.audit import audit_renderable
        from ckpt_tui.tui.dialogs.report import ReportDialog

        self.app.push_screen(ReportDialog(f"Audit: {self.report.verdict}", audit_renderable(self.report)))

    def render(self) -> Text:
        width = max(20, self.size.width - 2) if self.size.width else 78
        if self.report is None:
            return Text(printable(f"audit failed: {self.error}") if self.error else "auditing…", self._style("dim"))
        return self._lines(self.report, width)

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"summary-panel--{name}")

    def _lines(self, report: AuditReport, width: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(report.verdict.upper(), self.get_component_rich_style(VERDICT_CLASS[report.verdict]))
        text.append("  ")
        text.append(_cut(progress_line(report).plain, width - len(report.verdict) - 2))
        text.append("\n")
        for i, severity in enumerate(SEVERITY_ORDER):
            n = report.count(severity)
            style = self.get_component_rich_style(SEVERITY_CLASS[severity]) if n else self._style("dim")
            text.append(" · " if i else "")
            text.append(f"{MARK[severity]} {n} {HEADING[severity] if n != 1 else severity}", style)
        text.append("   (click for the audit)", self._style("dim"))
        for finding in [f for f in report.findings if f.severity is not FindingSeverity.INFO][:TOP_FINDINGS]:
            text.append("\n")
            text.append(f"{MARK[finding.severity]} {finding.code}: ", self.get_component_rich_style(
                SEVERITY_CLASS[finding.severity]))  # fmt: skip
            text.append(_cut(printable(finding.evidence), width - len(finding.code) - 4))
        return text


def _audit(ckpt: Checkpoint) -> tuple[AuditReport | None, str]:
    try:
        return audit(ckpt), ""
    except CkptError as e:
        return None, str(e)


def _cut(text: str, width: int) -> str:
    width = max(1, width)
    return text if len(text) <= width else text[: width - 1] + "…"
