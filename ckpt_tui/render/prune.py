"""Prune plans and results as text and as JSON (schema `ckpt-tui.prune/1`, see README)."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from ckpt_tui.render import human_bytes, printable
from ckpt_tui.reports import PRUNE_SCHEMA, PrunePlan, PruneResult


def prune_json(plan: PrunePlan, result: PruneResult | None) -> dict[str, Any]:
    return {
        "schema": PRUNE_SCHEMA,
        "directory": plan.directory,
        "delete": [{"path": p.path, "size": p.size, "reason": p.reason} for p in plan.delete],
        "keep": [{"path": k.path, "reasons": list(k.reasons)} for k in plan.keep],
        "freed": plan.freed if result is None else result.freed,
        "applied": result is not None,
        "deleted": list(result.deleted) if result else [],
        "failed": [{"path": p, "error": e} for p, e in result.failed] if result else [],
    }


def prune_renderable(plan: PrunePlan, result: PruneResult | None) -> RenderableType:
    lines = Text()
    done = set(result.deleted) if result else set()
    failed = dict(result.failed) if result else {}
    for p in plan.delete:
        verb = "deleted " if p.path in done else "KEPT    " if p.path in failed else "delete  "
        lines.append(verb, style="red" if p.path in done or result is None else "yellow")
        lines.append(printable(f"{os.path.basename(p.path)}  {human_bytes(p.size)}  ({failed.get(p.path, p.reason)})"))
        lines.append("\n")
    for k in plan.keep:
        lines.append("keep    ", style="green")
        lines.append(printable(f"{os.path.basename(k.path)}  ({'; '.join(k.reasons)})"))
        lines.append("\n")
    if result is None:
        tail = f"would free {human_bytes(plan.freed)}; nothing deleted (add --yes to delete)"
    else:
        tail = f"freed {human_bytes(result.freed)}; {len(result.deleted)} deleted, {len(result.failed)} not deleted"
    lines.rstrip()
    return Group(lines, Text(tail, style="bold"))
