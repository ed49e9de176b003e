"""LoadReports as text, JSON and JUnit XML (one test case per check, one suite per checkpoint/model pair)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from ckpt_tui.render import JSON_SCHEMA_VERSION, printable
from ckpt_tui.render.junit import Case, Suite, junit_document
from ckpt_tui.reports import CheckItem, ItemStatus, LoadReport


def check_renderable(report: LoadReport) -> RenderableType:
    head = Text()
    head.append("PASS " if report.ok else "FAIL ", style="bold green" if report.ok else "bold red")
    head.append(printable(f"{report.checkpoint} {report.scope_label} -> {report.model} on {report.device}"))
    head.append(f"  ({report.compared} keys compared, {'strict' if report.strict else 'not strict'})")
    lines = Text()
    for item in report.checks():
        mark, style = MARKS[item.status]
        lines.append(f"  {mark} {item.name}", style=style)
        if item.status is ItemStatus.TOLERATED:
            lines.append(" (tolerated)", style=style)
        if item.detail:
            lines.append(printable(f": {item.detail}"), style="red" if item.status is ItemStatus.FAILED else "")
        lines.append("\n")
    parts: list[RenderableType] = [head, lines]
    if report.hint:
        parts.append(Text(printable(f"hint: {report.hint}"), style="yellow"))
    if report.tied:
        shown = ", ".join(f"{a} = {b}" for a, b in report.tied[:10])
        parts.append(Text(printable(f"tied parameters stored once: {shown}"), style="dim"))
    if report.non_persistent:
        shown = ", ".join(report.non_persistent[:10])
        parts.append(
            Text(printable(f"keys of non-persistent buffers (not loaded, as transformers does): {shown}"), style="dim")
        )
    if report.uninitialised:
        parts.append(
            Text(
                printable(f"non-persistent buffers left uninitialised on meta: {', '.join(report.uninitialised)}"),
                style="dim",
            )
        )
    return Group(*parts)


MARKS = {
    ItemStatus.PASSED: ("✓", "green"),
    ItemStatus.FAILED: ("✗", "red"),
    ItemStatus.TOLERATED: ("!", "yellow"),
    ItemStatus.SKIPPED: ("-", "dim"),
}


def check_json(report: LoadReport, name: str | None = None) -> dict[str, Any]:
    f = report.forward
    return {
        "name": name,
        "checkpoint": report.checkpoint,
        "scope": list(report.scope),
        "model": report.model,
        "device": report.device,
        "strict": report.strict,
        "ok": report.ok,
        "compared": report.compared,
        "expected": report.expected,
        "matched": report.matched,
        "needed": report.needed,
        "missing": list(report.missing),
        "unexpected": list(report.unexpected),
        "tied": [{"key": a, "from": b} for a, b in report.tied],
        "non_persistent": list(report.non_persistent),
        "shape_mismatches": [vars_of(m) for m in report.shape_mismatches],
        "dtype_mismatches": [vars_of(m) for m in report.dtype_mismatches],
        "tie_conflicts": [list(g) for g in report.tie_conflicts],
        "uninitialised": list(report.uninitialised),
        "nonfinite": [{"key": n.key, "nan": n.nan, "inf": n.inf} for n in report.nonfinite],
        "allow_nonfinite": report.allow_nonfinite,
        "loaded": report.loaded,
        "loaded_count": report.loaded_count,
        "load_error": report.load_error,
        "hint": report.hint,
        "forward": None
        if f is None
        else {
            "input_shape": list(f.input_shape),
            "output_shapes": [list(s) for s in f.output_shapes],
            "nan": f.nan,
            "inf": f.inf,
            "error": f.error,
        },
        "checks": [
            {"name": c.name, "passed": c.passed, "status": c.status.value, "detail": c.detail} for c in report.checks()
        ],
    }


def vars_of(m: Any) -> dict[str, str]:
    return {"key": m.key, "checkpoint": m.checkpoint, "model": m.model}


Named = list[tuple[str, LoadReport]]  # (the check's name, its report)


def checks_json(reports: Named, errors: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "ok": all(r.ok for _, r in reports) and not errors,
        "checks": [check_json(r, name) for name, r in reports],
        "errors": [{"check": name, "error": error} for name, error in errors],
    }


def junit_xml(reports: Named, errors: list[tuple[str, str]]) -> bytes:
    """One suite per check, named by its name; a check that could not run is a suite with one `<error>` case."""
    suites = [Suite(name, tuple(_case(i) for i in r.checks())) for name, r in reports]
    suites += [Suite(name, (Case("check", error=error),)) for name, error in errors]
    return junit_document("ckpt-tui check", suites)


def _case(item: CheckItem) -> Case:
    if item.status is ItemStatus.FAILED:
        return Case(item.name, item.detail)
    if item.status is ItemStatus.SKIPPED:
        return Case(item.name, skipped=item.detail)
    tolerated = "tolerated: " if item.status is ItemStatus.TOLERATED else ""
    return Case(item.name, output=tolerated + item.detail if item.detail else None)
