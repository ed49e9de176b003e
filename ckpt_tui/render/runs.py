"""RunReports as a table for people and as versioned JSON (schema `ckpt-tui.runs/1`, see README)."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ckpt_tui.render import human_bytes, printable
from ckpt_tui.reports import RESUME_PARTS, RUNS_SCHEMA, Pick, RunMember, RunReport, Sourced

SHOWN_METRICS = 4  # metric columns in the table; JSON has them all


def runs_json(report: RunReport) -> dict[str, Any]:
    return {
        "schema": RUNS_SCHEMA,
        "directory": report.directory,
        "checkpoints": [member_json(m) for m in report.members],
        "best": _pick_json(report.best),
        "latest": _pick_json(report.latest),
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
    }


def member_json(m: RunMember) -> dict[str, Any]:
    return {
        "path": m.path,
        "name": m.name,
        "format": m.format,
        "size": m.size,
        "mtime": iso_time(m.mtime),
        "epoch": m.epoch.value if m.epoch else None,
        "step": m.step.value if m.step else None,
        "metrics": {k: _number(v.value) for k, v in m.metrics.items()},
        "best": m.best,
        "latest": m.latest,
        "declared_best": m.declared_best,
        "resume": {part: m.resume.get(part, False) for part in RESUME_PARTS},
        "verdict": m.verdict,
        "symlink": m.symlink,
        "links": list(m.links),
        "nonfinite": m.nonfinite,
        "sources": {
            "epoch": m.epoch.where if m.epoch else None,
            "step": m.step.where if m.step else None,
            "metrics": {k: v.where for k, v in m.metrics.items()},
        },
    }


def _pick_json(pick: Pick | None) -> dict[str, Any] | None:
    if pick is None:
        return None
    return {"path": pick.path, "rule": pick.rule, "metric": pick.metric, "mode": pick.mode, "value": pick.value}


def _number(value: float | int) -> float | int | str:
    """JSON has no NaN/Infinity: those are written as strings ("nan", "inf", "-inf")."""
    return value if not isinstance(value, float) or math.isfinite(value) else str(value)


def iso_time(mtime: float) -> str:
    return datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds")


def runs_renderable(report: RunReport) -> RenderableType:
    metrics = report.metric_names[:SHOWN_METRICS]
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("", "checkpoint", "format", "size", "modified", "epoch", "step", *metrics, "resume", "audit"):
        table.add_column(printable(column), justify="right" if column in ("size", "epoch", "step") else "left")
    for m in report.members:
        table.add_row(*row_cells(m, metrics))
    parts: list[RenderableType] = [Text(printable(f"run {report.directory}: {len(report.members)} checkpoints"))]
    parts += [table, _picks(report)]
    if report.skipped:
        parts.append(Text(f"skipped {len(report.skipped)}: " + ", ".join(_skipped(report)), style="dim"))
    return Group(*parts)


def row_cells(m: RunMember, metrics: list[str]) -> list[Text]:
    marks = ("★" if m.best else "") + ("⟳" if m.latest else "")
    name = m.name + ("/" if m.is_dir else "") + (f" -> {m.symlink}" if m.symlink else "")
    name += "".join(f" <- {link}" for link in m.links)
    return [
        Text(marks, style="bold yellow"),
        Text(printable(name), style="bold" if m.best else ""),
        Text(printable(m.format)),
        Text(human_bytes(m.size)),
        Text(iso_time(m.mtime).replace("+00:00", "")),
        Text(_value(m.epoch)),
        Text(_value(m.step)),
        *(Text(_value(m.metrics.get(k))) for k in metrics),
        Text(resume_text(m.resume)),
        Text(m.verdict or "", style=VERDICT_STYLES.get(m.verdict or "", "")),
    ]


VERDICT_STYLES = {"resumable": "green", "weights-only": "yellow"}


def resume_text(resume: dict[str, bool]) -> str:
    """'model optim sched rng scaler' with the missing parts as '-'."""
    short = {"model": "model", "optimizer": "optim", "scheduler": "sched", "rng": "rng", "scaler": "scaler"}
    return " ".join(short[p] if resume.get(p) else "-" for p in RESUME_PARTS)


def _value(value: Sourced | None) -> str:
    if value is None:
        return ""
    v = value.value
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _picks(report: RunReport) -> Text:
    text = Text()
    if report.best is not None:
        b = report.best
        by = f" ({b.mode} {b.metric} = {b.value:.4g})" if b.metric and b.value is not None else ""
        text.append("★ best   ", style="bold yellow")
        text.append(printable(f"{os.path.basename(b.path)}{by}, by {b.rule}"))
        text.append("\n")
    if report.latest is not None:
        text.append("⟳ latest ", style="bold yellow")
        text.append(printable(f"{os.path.basename(report.latest.path)}, by {report.latest.rule}"))
    return text


def _skipped(report: RunReport) -> list[str]:
    return [printable(f"{os.path.basename(s.path)} ({s.reason})") for s in report.skipped]
