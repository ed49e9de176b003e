"""AuditReports as text (verdict first, findings by severity, each with its fix), JSON and JUnit XML."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from ckpt_tui.render import JSON_SCHEMA_VERSION, printable
from ckpt_tui.render.junit import Case, Suite, junit_document
from ckpt_tui.reports import SEVERITY_ORDER, AuditReport, Finding, FindingSeverity, Verdict

VERDICT_STYLE = {Verdict.RESUMABLE: "bold green", Verdict.WEIGHTS_ONLY: "bold yellow", Verdict.INCOMPLETE: "bold red"}
SEVERITY_STYLE = {FindingSeverity.ERROR: "red", FindingSeverity.WARNING: "yellow", FindingSeverity.INFO: "cyan"}
MARK = {FindingSeverity.ERROR: "✗", FindingSeverity.WARNING: "!", FindingSeverity.INFO: "i"}
HEADING = {FindingSeverity.ERROR: "errors", FindingSeverity.WARNING: "warnings", FindingSeverity.INFO: "info"}


def verdict_line(report: AuditReport) -> Text:
    text = Text()
    text.append(report.verdict.upper(), style=VERDICT_STYLE[report.verdict])
    text.append(printable(f"  {report.path}  ({report.framework}, {report.format})"))
    return text


def progress_line(report: AuditReport) -> Text:
    """'epoch 1 · step 6 · lr 0.0025 · loss 3.01 · best 2.9' (what is known)."""
    items = [
        f"epoch {report.epoch:g}" if report.epoch is not None else "",
        f"step {report.step}" * (report.step is not None),
    ]
    items.append(f"lr {report.lr:.4g}" if report.lr is not None else "")
    items += [f"{m.name} {m.value:.4g}" for m in report.metrics[:4]]
    return Text(printable(" · ".join(i for i in items if i)) or "no epoch, step or metrics recorded", style="")


def counts_text(report: AuditReport) -> Text:
    text = Text()
    for i, severity in enumerate(SEVERITY_ORDER):
        n = report.count(severity)
        text.append(" · " if i else "")
        text.append(f"{n} {HEADING[severity] if n != 1 else severity}", style=SEVERITY_STYLE[severity] if n else "dim")
    return text


def finding_text(finding: Finding, detail: bool = True) -> Text:
    style = SEVERITY_STYLE[finding.severity]
    text = Text()
    text.append(f"  {MARK[finding.severity]} {finding.code}", style=f"bold {style}")
    if finding.subject:
        text.append(printable(f" [{finding.subject}]"), style=style)
    text.append(printable(f": {finding.evidence}"))
    if detail:
        text.append("\n      why: ", style="dim")
        text.append(printable(finding.why), style="dim")
        text.append("\n      fix: ", style="dim")
        text.append(printable(finding.fix), style="bold")
    return text


def audit_renderable(report: AuditReport) -> RenderableType:
    parts: list[RenderableType] = [verdict_line(report), progress_line(report), counts_text(report)]
    for severity in SEVERITY_ORDER:
        group = [f for f in report.findings if f.severity is severity]
        if group:
            parts.append(Text(HEADING[severity], style=f"bold {SEVERITY_STYLE[severity]}"))
            parts += [finding_text(f) for f in group]
    parts.append(parts_text(report))
    parts += [Text(printable(f"note: {n}"), style="dim") for n in report.notes]
    if not report.stats_checked:
        parts.append(Text("values not read: --stats checks every tensor for NaN/Inf", style="dim"))
    return Group(*parts)


def parts_text(report: AuditReport) -> Text:
    text = Text("parts: ", style="bold")
    for i, part in enumerate(report.parts):
        text.append(" · " if i else "")
        text.append(f"{part.part} {'✓' if part.found else '–'}", style="green" if part.found else "dim")
    return text


def audit_json(report: AuditReport, strict: bool = False) -> dict[str, Any]:
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "path": report.path,
        "format": report.format,
        "framework": report.framework,
        "verdict": report.verdict.value,
        "ok": report.ok(strict),
        "strict": strict,
        "counts": {s.value: report.count(s) for s in SEVERITY_ORDER},
        "epoch": report.epoch,
        "step": report.step,
        "lr": report.lr,
        "metrics": [{"name": m.name, "value": m.value, "where": m.where} for m in report.metrics],
        "parts": [{"part": p.part.value, "found": p.found, "where": p.where, "value": p.value} for p in report.parts],
        "findings": [
            {
                "code": f.code.value,
                "severity": f.severity.value,
                "subject": f.subject,
                "evidence": f.evidence,
                "why": f.why,
                "fix": f.fix,
            }
            for f in report.findings
        ],
        "stats_checked": report.stats_checked,
        "notes": list(report.notes),
    }


def audit_junit(report: AuditReport, strict: bool = False) -> bytes:
    """One suite per checkpoint: the verdict, then one case per finding (errors fail; warnings fail under strict)."""
    verdict = None if report.resumable else f"{report.verdict}: {report.count(FindingSeverity.ERROR)} errors"
    cases = [Case("verdict", verdict)]
    for f in report.findings:
        fails = f.severity is FindingSeverity.ERROR or (strict and f.severity is FindingSeverity.WARNING)
        name = f"{f.code}[{f.subject}]" if f.subject else str(f.code)
        cases.append(Case(name, f"{f.evidence}; fix: {f.fix}" if fails else None))
    return junit_document("ckpt-tui audit", [Suite(report.path, tuple(cases))])
