"""A ConvertReport: what was written, renamed, aliased and carried — and, above all, what was not carried."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from ckpt_tui.render import JSON_SCHEMA_VERSION, human_bytes, printable
from ckpt_tui.reports import ConvertReport

SHOWN = 20


def convert_renderable(report: ConvertReport) -> RenderableType:
    text = Text()
    text.append("wrote ", style="bold")
    text.append(printable(", ".join(report.outputs)) + "\n")
    cast = f", cast to {report.cast}" if report.cast else ""
    text.append(f"{report.tensors_written:,} tensors, {human_bytes(report.bytes_written)} ({report.to}{cast}) from ")
    text.append(printable(f"{report.source} {report.scope}") + "\n")
    text.append("verified: every tensor read back bit for bit\n" if report.verified else "not verified (--no-verify)\n")
    parts: list[RenderableType] = [text]
    if report.unsafe_globals:
        warning = Text("NOT SAFE: ", style="bold red")
        warning.append(
            printable(f"the output names {', '.join(report.unsafe_globals)} (carried by --carry-unsafe-globals); ")
            + "torch.load(weights_only=False) on it can run code: it is no safer than the input\n",
            style="red",
        )
        parts.append(warning)
    if report.renamed:
        parts.append(
            _listing(f"{len(report.renamed)} keys renamed", [f"{a} -> {b}" for a, b in report.renamed.items()])
        )
    if report.aliases:
        lines = [f"{alias} = {kept}" for alias, kept in report.aliases.items()]
        parts.append(_listing(f"{len(report.aliases)} aliases stored once (recorded in __metadata__)", lines))
    if report.metadata:
        parts.append(
            _listing(
                f"{len(report.metadata)} non-tensor entries carried in __metadata__ as JSON", list(report.metadata)
            )
        )
    if report.notices:
        count = len(report.notices)
        parts.append(_listing(f"{count} notice{'s' if count != 1 else ''}", list(report.notices), style="yellow"))
    if report.not_carried:
        parts.append(_listing(f"{len(report.not_carried)} entries NOT carried", _grouped(report), style="yellow"))
    return Group(*parts)


def _grouped(report: ConvertReport) -> list[str]:
    """Not-carried entries by top-level key and reason: '18 tensors under optimizer_state_dict: ...'."""
    groups: dict[tuple[str, str], list[str]] = {}
    for path, why in report.not_carried:
        groups.setdefault((path.split(".")[0], why), []).append(path)
    return [
        paths[0] + f": {why}" if len(paths) == 1 else f"{len(paths)} entries under {top}: {why}"
        for (top, why), paths in groups.items()
    ]


def _listing(title: str, lines: list[str], style: str = "") -> Text:
    text = Text(title + ":\n", style=style or "bold")
    for line in lines[:SHOWN]:
        text.append(f"  {printable(line)}\n")
    if len(lines) > SHOWN:
        text.append(f"  … {len(lines) - SHOWN} more (see --json)\n")
    return text


def convert_json(report: ConvertReport) -> dict[str, Any]:
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "source": report.source,
        "scope": report.scope,
        "outputs": list(report.outputs),
        "format": str(report.to),
        "tensors_written": report.tensors_written,
        "bytes_written": report.bytes_written,
        "cast": report.cast,
        "verified": report.verified,
        "renamed": report.renamed,
        "aliases": report.aliases,
        "metadata": list(report.metadata),
        "not_carried": [{"path": p, "reason": r} for p, r in report.not_carried],
        "notices": list(report.notices),
        "unsafe_globals": list(report.unsafe_globals),
    }
