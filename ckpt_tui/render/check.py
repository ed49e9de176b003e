"""LoadReports as text, JSON and JUnit XML (one test case per check, one suite per checkpoint/model pair)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from ckpt_tui.render import JSON_SCHEMA_VERSION, printable
from ckpt_tui.render.junit import Case, Suite, junit_document
from ckpt_tui.reports import LoadReport


def check_renderable(report: LoadReport) -> RenderableType:
    head = Text()
    head.append("PASS " if report.ok else "FAIL ", style="bold green" if report.ok else "bold red")
    head.append(printable(f"{report.checkpoint} {report.scope} -> {report.model} on {report.device}"))
    head.append(f"  ({report.compared} keys compared, {'strict' if report.strict else 'not strict'})")
    lines = Text()
    for item in report.checks():
        mark, style = ("✓", "green") if item.passed else ("✗", "red")
        lines.append(f"  {mark} {item.name}", style=style)
        if item.detail:
            lines.append(printable(f": {item.detail}"), style="" if item.passed else "red")
        lines.append("\n")
    parts: list[RenderableType] = [head, lines]
    if report.hint:
        parts.append(Text(f"hint: {report.hint}", style="yellow"))
    if report.uninitialised:
        parts.append(
            Text(
                printable(f"non-persistent buffers left uninitialised on meta: {', '.join(report.uninitialised)}"),
                style="dim",
            )
        )
    return Group(*parts)


def check_json(report: LoadReport) -> dict[str, Any]:
    f = report.forward
    return {
        "checkpoint": report.checkpoint,
        "scope": report.scope,
        "model": report.model,
        "device": report.device,
        "strict": report.strict,
        "ok": report.ok,
        "compared": report.compared,
        "missing": list(report.missing),
        "unexpected": list(report.unexpected),
        "shape_mismatches": [vars_of(m) for m in report.shape_mismatches],
        "dtype_mismatches": [vars_of(m) for m in report.dtype_mismatches],
        "tie_conflicts": [list(g) for g in report.tie_conflicts],
        "uninitialised": list(report.uninitialised),
        "loaded": report.loaded,
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
        "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in report.checks()],
    }


def vars_of(m: Any) -> dict[str, str]:
    return {"key": m.key, "checkpoint": m.checkpoint, "model": m.model}


def checks_json(reports: list[LoadReport], errors: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "ok": all(r.ok for r in reports) and not errors,
        "checks": [check_json(r) for r in reports],
        "errors": [{"check": name, "error": error} for name, error in errors],
    }


def junit_xml(reports: list[LoadReport], errors: list[tuple[str, str]]) -> bytes:
    suites = [
        Suite(
            f"{r.checkpoint} -> {r.model} [{r.device}]",
            tuple(Case(i.name, None if i.passed else i.detail) for i in r.checks()),
        )
        for r in reports
    ]
    suites += [Suite(name, (Case("check", error=error),)) for name, error in errors]
    return junit_document("ckpt-tui check", suites)
