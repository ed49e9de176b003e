"""The checkpoint summary: text for `inspect`, its JSON document, and the notices list (also the TUI's tab)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ckpt_tui.model import Checkpoint, Notice, Severity
from ckpt_tui.render import JSON_SCHEMA_VERSION, human_bytes, human_count, json_key, key_label, printable
from ckpt_tui.render.hints import notice_text
from ckpt_tui.render.text import describe
from ckpt_tui.reports import Summary

if TYPE_CHECKING:  # rich is imported where text is rendered: `inspect --json` does without it (25 ms)
    from rich.console import RenderableType
    from rich.table import Table


def summary_renderable(summary: Summary) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    head = Text()
    head.append(printable(summary.path), style="bold")
    head.append(f"  {summary.format} · {human_bytes(summary.file_size)} · {summary.framework}")
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold cyan")
    facts.add_column()
    facts.add_row(
        "tensors", f"{summary.tensor_count:,} ({summary.element_count:,} elements, {human_bytes(summary.tensor_bytes)})"
    )
    if summary.state_dict is not None:
        facts.add_row(
            "model",
            Text(
                f"state dict at {printable(summary.state_dict.label)}: "
                f"{summary.state_dict_params:,} parameters {human_count(summary.state_dict_params)}".rstrip()
            ),
        )
    for title, found in (("optimizer", summary.optimizers), ("scheduler", summary.schedulers)):
        if found:
            facts.add_row(title, Text(", ".join(printable(o.label) for o in found)))
    if summary.bytes_by_dtype:
        facts.add_row("dtypes", " · ".join(f"{d} {human_bytes(n)}" for d, n in summary.bytes_by_dtype.items()))
    parts: list[RenderableType] = [head, facts, _top_level_table(summary)]
    if summary.notices:
        parts.append(notices_renderable(summary.notices, summary.path))
    return Group(*parts)


def _top_level_table(summary: Summary) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="top-level keys", title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="green", no_wrap=True)
    table.add_column()
    memo: dict[int, int] = {}
    for item in summary.top_level[:50]:
        table.add_row(Text(key_label(item.key)), Text(printable(describe(item.entry, memo))))
    if summary.top_level_total > 50:
        table.add_row("…", f"{summary.top_level_total - 50} more")
    return table


def notices_renderable(notices: tuple[Notice, ...] | list[Notice], path: str = "") -> RenderableType:
    """`path`: the checkpoint's, for the commands that act on a notice (none without it)."""
    from rich.console import Group
    from rich.text import Text

    lines = Text()
    for n in notices:
        style = "yellow" if n.severity is Severity.WARNING else "dim"
        lines.append("! " if n.severity is Severity.WARNING else "· ", style=style)
        lines.append(printable(notice_text(n, path)) + "\n")
    return Group(Text("notices", style="bold"), lines)


def summary_json(summary: Summary, ckpt: Checkpoint) -> dict[str, Any]:
    memo: dict[int, int] = {}
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "path": summary.path,
        "format": summary.format,
        "framework": summary.framework,
        "file_size": summary.file_size,
        "tensor_count": summary.tensor_count,
        "element_count": summary.element_count,
        "tensor_bytes": summary.tensor_bytes,
        "bytes_by_dtype": summary.bytes_by_dtype,
        "top_level": [{"key": json_key(i.key), "description": describe(i.entry, memo)} for i in summary.top_level],
        "top_level_total": summary.top_level_total,
        "state_dict": None
        if summary.state_dict is None
        else {"path": [json_key(k) for k in summary.state_dict.path], "parameters": summary.state_dict_params},
        "optimizers": [[json_key(k) for k in o.path] for o in summary.optimizers],
        "schedulers": [[json_key(k) for k in s.path] for s in summary.schedulers],
        "notices": [
            {
                "code": n.code,
                "severity": n.severity.value,
                "message": notice_text(n, summary.path),
                "subject": n.subject,
            }
            for n in summary.notices
        ],
        "tensors": [
            {
                "key": key,
                "dtype": t.dtype,
                "shape": list(t.shape),
                "stride": list(t.stride),
                "nbytes": t.nbytes,
                "device": t.device,
                "storage": t.storage.key,
                "parameter": t.is_parameter,
            }
            for key, t in ckpt.tensors.items()
        ],
    }
